"""What the worker's own Python path costs per fresh execution, without the host, the Swift
zygote or any confinement: a plain python3 process imports `crucible_sandbox.worker` (the
zygote's preloads and its prime run at import), freezes its objects as the zygote does, and
forks children one after another. Each child runs the real `worker.serve` on a socketpair
with one `x = 1 + 2` job already waiting (as under saturation: no warm-up), and exits.

Beside it, in the same run, the bare floor of `fork_floor.py` (fork, exec the code, _exit), and
`lean`: the same heap as `worker` (its module imported, preloads and all), but a child that only
reads the job's bytes, compiles and runs `x = 1 + 2` and writes a reply, with none of the
worker's channel objects, streams or result encoding (what a job loop in C could come down to).
The differences are the heap's and the worker path's shares; what Crucible costs beyond this is
the Swift zygote, confinement, the channel to the host and the host itself.

    python3 Benchmarks/diagnostics/worker_path_floor.py [N per stream] [streams] [python]
"""

import json
import os
import subprocess
import sys

RUNTIME = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "Sandbox", "python")

STREAM = r"""
import builtins, gc, json, os, resource, socket, sys, time
mode, n = sys.argv[1], int(sys.argv[2])
if mode in ("worker", "lean"):
    sys.path.insert(0, sys.argv[3])
    from crucible_sandbox import worker, wire
    job = wire.frame(wire.JOB, wire.encode_job("x = 1 + 2", token=7))
else:
    import ast, inspect, io, linecache, select, traceback, codecs
    code = compile("x = 1 + 2", "<cell>", "exec")
gc.collect(); gc.freeze()
start = time.perf_counter()
for _ in range(n):
    if mode == "bare":
        pid = os.fork()
        if pid == 0:
            exec(code, {"__builtins__": builtins})
            os._exit(0)
        os.waitpid(pid, 0)
        continue
    host, channel = socket.socketpair()
    host.sendall(job)
    pid = os.fork()
    if pid == 0:
        host.close()
        os.dup2(channel.fileno(), 3)  # where confinement puts every worker's channel
        if mode == "lean":
            os.read(3, 65536)
            exec(compile("x = 1 + 2", "<cell>", "exec"), {"__builtins__": builtins})
            os.write(3, b'{"status":"ok"}')
            os._exit(0)
        worker.serve(3)  # exits
    channel.close()
    reply = b""
    while True:  # until the worker exits and its end closes
        chunk = host.recv(65536)
        if not chunk:
            break
        reply += chunk
    assert b'"status":"ok"' in reply, reply
    host.close()
    os.waitpid(pid, 0)
elapsed = time.perf_counter() - start
own, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
print(json.dumps({"n": n, "seconds": elapsed, "faults": kids.ru_minflt / n,
                  "cpu": own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime}))
"""


def run(mode, n, streams, python):
    procs = [subprocess.Popen([python, "-I", "-S", "-c", STREAM, mode, str(n), RUNTIME], stdout=subprocess.PIPE, text=True)
             for _ in range(streams)]
    results = [json.loads(p.communicate()[0]) for p in procs]
    total = sum(r["n"] for r in results)
    print("%-6s %d stream(s) of %d: %5.0f executions/s, %.2f ms CPU per execution, %.0f faults per child" % (
        mode, streams, n, total / max(r["seconds"] for r in results),
        sum(r["cpu"] for r in results) / total * 1e3, sum(r["faults"] for r in results) / streams))


def main():
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 1000
    streams = int(sys.argv[2]) if len(sys.argv) > 2 else 2
    python = sys.argv[3] if len(sys.argv) > 3 else "/usr/bin/python3.11"
    for mode in ("bare", "lean", "worker", "bare", "lean", "worker"):  # alternated: the machine's load moves
        run(mode, n, streams, python)


if __name__ == "__main__":
    main()
