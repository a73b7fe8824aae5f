"""`crucible http` beside `crucible serve`: p50/p99 of fresh executions of `x = 1 + 2`, one after
another (serve through the Python client; /v1/execute and SandboxFusion's /run_code with a
kept-alive http.client connection), then requests/s at 1, 16 and 64 concurrent clients (5 s
each). Release build, no corpus, no standard tools.

    python3 Benchmarks/peers/http_bench.py .build/release/crucible
"""
import http.client, json, os, statistics, subprocess, sys, threading, time
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "Clients", "python"))
from crucible_client import Crucible
binary = os.path.abspath(sys.argv[1])
def pct(v, p): v = sorted(v); return v[min(len(v) - 1, int(p * len(v)))]
N = 300
res = {}
with Crucible([binary, "serve", "--no-standard-tools", "--no-corpus"], stderr=subprocess.DEVNULL) as c:
    for _ in range(30): c.execute("x = 1 + 2")
    t = []
    for _ in range(N):
        s = time.perf_counter(); c.execute("x = 1 + 2"); t.append((time.perf_counter() - s) * 1e6)
    res["serve execute (stdio JSON-RPC)"] = t
p = subprocess.Popen([binary, "http", "--port", "18944", "--token", "t0k", "--no-standard-tools", "--no-corpus"], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
p.stdout.readline()
conn = http.client.HTTPConnection("127.0.0.1", 18944)
def post(path, body):
    conn.request("POST", path, json.dumps(body), {"Authorization": "Bearer t0k", "Content-Type": "application/json"})
    r = conn.getresponse(); return json.loads(r.read())
for _ in range(30): post("/v1/execute", {"code": "x = 1 + 2"})
for path, body in (("/v1/execute", {"code": "x = 1 + 2"}), ("/run_code", {"code": "x = 1 + 2", "language": "python"})):
    t = []
    for _ in range(N):
        s = time.perf_counter(); post(path, body); t.append((time.perf_counter() - s) * 1e6)
    res["http " + path] = t
p.terminate(); p.wait()
print('| path | n | p50 µs | p99 µs |')
print('|---|---:|---:|---:|')
for k, v in res.items():
    print("| %s | %d | %.0f | %.0f |" % (k, len(v), statistics.median(v), pct(v, 0.99)))

print()
print('| route | clients | requests/s | p50 ms | p99 ms | refused |')
print('|---|---:|---:|---:|---:|---:|')

p = subprocess.Popen([binary, "http", "--port", "18945", "--token", "t0k", "--no-standard-tools", "--no-corpus", "--max-queued", "256"], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
p.stdout.readline()
def run(clients, path, body, secs=5, show=True):
    lat, done, stop, lock, rejected = [], [0], time.perf_counter() + secs, threading.Lock(), [0]
    def client():
        conn = http.client.HTTPConnection("127.0.0.1", 18945)
        while time.perf_counter() < stop:
            s = time.perf_counter()
            conn.request("POST", path, json.dumps(body), {"Authorization": "Bearer t0k", "Content-Type": "application/json"})
            r = conn.getresponse(); r.read()
            with lock:
                if r.status == 200: done[0] += 1; lat.append((time.perf_counter() - s) * 1e3)
                else: rejected[0] += 1
    ts = [threading.Thread(target=client) for _ in range(clients)]
    st = time.perf_counter()
    for t in ts: t.start()
    for t in ts: t.join()
    el = time.perf_counter() - st
    lat.sort()
    if show:
        print("| %s | %d | %.0f | %.1f | %.1f | %d |" % (path, clients, done[0] / el, statistics.median(lat), lat[int(0.99 * (len(lat) - 1))], rejected[0]))
for _ in range(1):
    run(1, "/v1/execute", {"code": "x = 1 + 2"}, 2, show=False)  # warm-up
for path, body in (("/v1/execute", {"code": "x = 1 + 2"}), ("/run_code", {"code": "x = 1 + 2", "language": "python"})):
    for clients in (1, 16, 64):
        run(clients, path, body)
p.terminate(); p.wait()
