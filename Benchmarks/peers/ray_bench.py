"""`crucible_client.ray.execute_many` on a local 2-node Ray cluster (ray.cluster_utils.Cluster: a
head and one worker node, each a raylet of its own, as Tests/python/test_ray.py starts them)
beside the same executions through ONE local pool: one `crucible serve` driven by the stdio
client from as many threads as Ray keeps in flight (per_node x nodes), and, as a control, one
serve with --pool-size 8 (the two nodes' serves keep 2 x 4 workers waiting). Fresh executions,
two workloads: `x = 1 + i` (the overhead case) and a CPU-bound loop. Rounds rotate which path
goes first. Both nodes are processes on this machine, sharing its cores with the single pool:
the ratio is Ray's overhead, not scale-out. Release build, no corpus, no standard tools (the
same serve arguments every way). Besides wall-clock figures, the CPU time per execution of all
the processes a path uses (from /proc: this driver, Ray's processes, the serves with their
zygotes and workers), which a busy machine disturbs far less than executions/s.

    PYTHONPATH=.crucible/tools python3 Benchmarks/peers/ray_bench.py CRUCIBLE [RESULTS_JSON] [ROUNDS] [N]

Adds a "ray" section to RESULTS_JSON (created if missing) and prints the tables.
Latency per execution is from handing it to Ray (or to the client, for the pool) to the
driver having its result: at this concurrency, mostly waiting its turn.
"""
import json
import os
import statistics
import subprocess
import sys
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
CLIENT = os.path.normpath(os.path.join(HERE, "..", "..", "Clients", "python"))
sys.path.insert(0, CLIENT)

binary = os.path.abspath(sys.argv[1])
results_path = sys.argv[2] if len(sys.argv) > 2 else None
rounds = int(sys.argv[3]) if len(sys.argv) > 3 else 3
N = int(sys.argv[4]) if len(sys.argv) > 4 else 2000
N_CPU = max(1, N // 8)
PER_NODE = 8  # execute_many's default
NODES = 2
SERVE_ARGS = ["--no-standard-tools", "--no-corpus"]
SQUARES = sum(k * k for k in range(100000))
WORKLOADS = {
    "x = 1 + i": (N, lambda i: "x = 1 + %d\nx" % i, lambda i: 1 + i),
    "CPU loop (sum of 100,000 squares)": (N_CPU, lambda i: "sum(k * k for k in range(100000)) + %d" % i,
                                          lambda i: SQUARES + i),
}

# The nodes' workers inherit this environment: crucible_client from the checkout, ray from
# .crucible/tools, the release crucible. As in the test, raylets get time for their agents on
# a busy 2-core machine; no usage-stats network call.
import ray
from ray.cluster_utils import Cluster

ray_home = os.path.dirname(os.path.dirname(os.path.abspath(ray.__file__)))
os.environ["PYTHONPATH"] = os.pathsep.join([CLIENT, ray_home, os.environ.get("PYTHONPATH", "")])
os.environ["CRUCIBLE_BIN"] = binary
os.environ["RAY_agent_register_timeout_ms"] = "180000"
os.environ["RAY_USAGE_STATS_ENABLED"] = "0"

from crucible_client import Crucible
from crucible_client.ray import CruciblePool

# As in the test: Ray's minimum object store (it would otherwise reserve 30% of memory per node).
NODE = {"num_cpus": 1, "object_store_memory": 80 * 1024 * 1024}
CLOCK_TICK = os.sysconf("SC_CLK_TCK")


def cpu_seconds():
    """CPU time (user + system, reaped children included) of this process and everything under
    it, by group: "driver" (this process), "crucible_pool" (the single serve, its zygote and
    workers), "crucible_ray" (the nodes' serves and theirs), "ray" (GCS, raylets, Ray's workers and
    agents). Processes are grouped by the subtree they are in."""
    procs = {}
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open("/proc/%s/stat" % name) as handle:
                stat = handle.read()
        except OSError:
            continue
        rest = stat[stat.rindex(")") + 2:].split()
        ticks = sum(int(v) for v in rest[11:15])  # utime, stime, cutime, cstime
        procs[int(name)] = (int(rest[1]), stat[stat.index("(") + 1:stat.rindex(")")], ticks)
    children = {}
    for pid, (ppid, _, _) in procs.items():
        children.setdefault(ppid, []).append(pid)
    me = os.getpid()
    totals = {"driver": 0, "crucible_pool": 0, "crucible_ray": 0, "ray": 0}
    stack = [(me, "driver")]
    while stack:
        pid, group = stack.pop()
        totals[group] += procs.get(pid, (0, "", 0))[2]
        for child in children.get(pid, ()):
            comm = procs[child][1]
            if group in ("driver", "ray"):
                grouped = ("crucible_pool" if group == "driver" else "crucible_ray") if comm.startswith("crucible") \
                    else "ray"
            else:
                grouped = group
            stack.append((child, grouped))
    return {group: ticks / CLOCK_TICK for group, ticks in totals.items()}


def cpu_per_execution(before, after, n, path):
    """CPU ms per execution of the processes the path uses (the other path's sit idle)."""
    groups = ("driver", "ray", "crucible_ray") if path == "ray" else ("driver", "crucible_pool")
    split = {g: (after[g] - before[g]) * 1e3 / n for g in groups}
    return sum(split.values()), split


def pct(values, p):
    values = sorted(values)
    return values[min(len(values) - 1, int(p * len(values)))]


def check(results, expected):
    bad = [i for i, r in enumerate(results) if not r.ok or r.value != expected(i)]
    assert not bad, "wrong results at %s: %r" % (bad[:5], results[bad[0]])


def via_ray(pool, codes, expected):
    """execute_many over the pool; per-execution latency from the moment the pool hands an
    execution to an actor (its _fill) to the driver's on_result."""
    sent, latency = [None] * len(codes), [None] * len(codes)
    fill = CruciblePool._fill

    def timed_fill(self, codes_, queue, in_flight, load, tries, options):
        before = len(in_flight)
        fill(self, codes_, queue, in_flight, load, tries, options)
        added = len(in_flight) - before
        if added:
            now = time.perf_counter()
            for index, _node in list(in_flight.values())[-added:]:  # dicts keep insertion order
                sent[index] = now

    def on_result(index, result):
        latency[index] = (time.perf_counter() - sent[index]) * 1e3

    pool._fill = timed_fill.__get__(pool)
    try:
        cpu = cpu_seconds()
        started = time.perf_counter()
        results = pool.execute_many(codes, timeout=30, on_result=on_result)
        elapsed = time.perf_counter() - started
        cpu_ms, cpu_split = cpu_per_execution(cpu, cpu_seconds(), len(codes), "ray")
    finally:
        del pool._fill
    check(results, expected)
    split = {}
    for r in results:
        split[r.node_id] = split.get(r.node_id, 0) + 1
    return {"per_s": len(codes) / elapsed, "p50_ms": statistics.median(latency), "p99_ms": pct(latency, 0.99),
            "cpu_ms": cpu_ms, "cpu_split_ms": cpu_split, "split": split, "retried": len(pool.retried)}


def via_pool(crucible, codes, expected, clients):
    """The same codes through one serve, `clients` threads each taking the next code."""
    results, latency, lock = [None] * len(codes), [None] * len(codes), threading.Lock()
    next_index = iter(range(len(codes)))

    def client():
        while True:
            with lock:
                index = next(next_index, None)
            if index is None:
                return
            s = time.perf_counter()
            results[index] = crucible.execute(codes[index], timeout=30)
            latency[index] = (time.perf_counter() - s) * 1e3

    threads = [threading.Thread(target=client) for _ in range(clients)]
    cpu = cpu_seconds()
    started = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.perf_counter() - started
    after = cpu_seconds()
    cpu_ms, cpu_split = cpu_per_execution(cpu, after, len(codes), "pool")
    check(results, expected)
    # The idle cluster meanwhile (GCS, raylets, agents): Ray's background cost, % of one core.
    return {"per_s": len(codes) / elapsed, "p50_ms": statistics.median(latency), "p99_ms": pct(latency, 0.99),
            "cpu_ms": cpu_ms, "cpu_split_ms": cpu_split, "ray_idle_core_pct": (after["ray"] - cpu["ray"]) * 100 / elapsed}


section = {"date": time.strftime("%Y-%m-%dT%H:%MZ", time.gmtime()), "cores": os.cpu_count(), "nodes": NODES,
           "per_node": PER_NODE, "in_flight": PER_NODE * NODES, "rounds": rounds, "ray": ray.__version__,
           "serve_args": SERVE_ARGS}
clock = time.perf_counter()
cluster = Cluster(initialize_head=True, head_node_args=dict(NODE, include_dashboard=False))
for _ in range(NODES - 1):
    cluster.add_node(**NODE)
ray.init(address=cluster.address, include_dashboard=False, log_to_driver=False)
cluster.wait_for_nodes()
section["cluster_start_s"] = time.perf_counter() - clock
head = cluster.head_node.node_id
IN_FLIGHT = PER_NODE * NODES
PATHS = {  # name -> label; "pool" is the one local pool the issue compares with
    "ray": "Ray execute_many, %d nodes x %d in flight" % (NODES, PER_NODE),
    "pool": "one serve, %d threads" % IN_FLIGHT,
    # A control: the two nodes' serves keep 2 x 4 workers forked and waiting.
    "pool8": "one serve --pool-size %d, %d threads" % (4 * NODES, IN_FLIGHT),
}
pool, serves = None, {}
try:
    clock = time.perf_counter()
    pool = CruciblePool(per_node=PER_NODE, serve_args=SERVE_ARGS)
    section["pool_start_s"] = time.perf_counter() - clock
    assert len(pool.actors) == NODES, "a Crucible actor on each of the %d nodes, got %d" % (NODES, len(pool.actors))
    serves["pool"] = Crucible([binary, "serve"] + SERVE_ARGS, stderr=subprocess.DEVNULL)
    serves["pool8"] = Crucible([binary, "serve", "--pool-size", str(4 * NODES)] + SERVE_ARGS, stderr=subprocess.DEVNULL)
    # Warm-up: the serves' pools and zygotes, Ray's actor threads and the driver's connections.
    warm = ["x = 1 + %d\nx" % i for i in range(200)]
    via_ray(pool, warm, lambda i: 1 + i)
    for crucible in serves.values():
        via_pool(crucible, warm, lambda i: 1 + i, IN_FLIGHT)
    print("bench ray: cluster of %d nodes up in %.1f s, Crucible actors in %.1f s" % (
        NODES, section["cluster_start_s"], section["pool_start_s"]), file=sys.stderr)

    runs = {name: {path: [] for path in PATHS} for name in WORKLOADS}
    for r in range(rounds):
        for name, (n, make, expected) in WORKLOADS.items():
            codes = [make(i + r * n) for i in range(n)]

            def shifted(i, expected=expected, offset=r * n):
                return expected(i + offset)

            order = list(PATHS)[r % len(PATHS):] + list(PATHS)[:r % len(PATHS)]  # each path first once in 3 rounds
            for path in order:
                if path == "ray":
                    figures = via_ray(pool, codes, shifted)
                    figures["split"] = {("head" if node == head else "worker"): count
                                        for node, count in figures["split"].items()}
                else:
                    figures = via_pool(serves[path], codes, shifted, IN_FLIGHT)
                runs[name][path].append(figures)
                print("bench ray: round %d %-34s %-5s %5.0f/s p50 %6.1f ms p99 %6.1f ms CPU %5.2f ms/execution %s %s" % (
                    r + 1, name, path, figures["per_s"], figures["p50_ms"], figures["p99_ms"], figures["cpu_ms"],
                    " ".join("%s %.2f" % kv for kv in figures["cpu_split_ms"].items()),
                    figures.get("split", "idle Ray %.1f%% of a core" % figures.get("ray_idle_core_pct", 0))),
                    file=sys.stderr)
finally:
    if pool is not None:
        pool.close()
    for crucible in serves.values():
        crucible.close()
    ray.shutdown()
    cluster.shutdown()

section["workloads"] = {}
print("| workload | n | path | executions/s: median (min-max) | p50 ms | p99 ms | CPU ms/execution | head/worker |")
print("|---|---:|---|---:|---:|---:|---:|---|")
for name, paths in runs.items():
    entry = {"n": WORKLOADS[name][0], "runs": paths}
    for path, label in PATHS.items():
        rates = [f["per_s"] for f in paths[path]]
        entry[path + "_per_s"] = statistics.median(rates)
        entry[path + "_cpu_ms"] = statistics.median(f["cpu_ms"] for f in paths[path])
        split = "/".join("%d" % sum(f["split"].get(k, 0) for f in paths[path]) for k in ("head", "worker")) \
            if path == "ray" else ""
        print("| %s | %d | %s | %.0f (%.0f-%.0f) | %.1f | %.1f | %.2f | %s |" % (
            name, entry["n"], label, statistics.median(rates), min(rates), max(rates),
            statistics.median(f["p50_ms"] for f in paths[path]), statistics.median(f["p99_ms"] for f in paths[path]),
            entry[path + "_cpu_ms"], split))
    for other in ("pool", "pool8"):
        ratios = [a["per_s"] / b["per_s"] for a, b in zip(paths["ray"], paths[other])]
        entry["ratio_ray_to_" + other] = statistics.median(ratios)
        entry["ratios_ray_to_" + other] = ratios
    section["workloads"][name] = entry
print()
for name, entry in section["workloads"].items():
    for other in ("pool", "pool8"):
        print("%s: Ray/%s throughput %.2fx (rounds %s)" % (
            name, other, entry["ratio_ray_to_" + other], ", ".join("%.2f" % x for x in entry["ratios_ray_to_" + other])))
idle = [f["ray_idle_core_pct"] for paths in runs.values() for path in ("pool", "pool8") for f in paths[path]]
section["ray_idle_core_pct"] = statistics.median(idle)
print("cluster start %.1f s, Crucible actors %.1f s; the idle cluster used %.1f%% of a core (median; %.1f-%.1f)" % (
    section["cluster_start_s"], section["pool_start_s"], statistics.median(idle), min(idle), max(idle)))

if results_path:
    results = {}
    if os.path.exists(results_path):
        with open(results_path) as handle:
            results = json.load(handle)
    results["ray"] = section
    with open(results_path, "w") as handle:
        json.dump(results, handle, indent=2)
