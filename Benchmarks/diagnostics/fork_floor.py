"""The floor under any one-process-per-execution design on this machine today: a bare fork
server, as the prototype in ../shared/facts/python314.md measured it (fork, run the code in
the child, _exit, wait4), with no confinement, no channel and no host.

Each stream is a python3 process with the worker's stdlib modules imported, `gc.freeze()`d,
that forks N children one after another; S streams run side by side (2: one per core).
Prints executions/s over all streams and CPU per execution (parent plus children). Compare
with Crucible's figure in the same window: the gap is what confinement, the channel, the
warm-up and the host cost; the floor is what the machine allows.

    python3 Benchmarks/diagnostics/fork_floor.py [N per stream] [streams] [python]
"""

import subprocess
import sys

STREAM = r"""
import ast, builtins, inspect, io, json, linecache, os, select, sys, time, traceback, codecs
import gc, resource
gc.collect(); gc.freeze()
n = int(sys.argv[1])
code = compile("x = 1 + 2", "<cell>", "exec")
for _ in range(50):  # warm the parent's caches once, as the zygote's prime does
    exec(code, {"__builtins__": builtins})
start = time.perf_counter()
for _ in range(n):
    pid = os.fork()
    if pid == 0:
        exec(code, {"__builtins__": builtins})
        os._exit(0)
    os.waitpid(pid, 0)
elapsed = time.perf_counter() - start
own = resource.getrusage(resource.RUSAGE_SELF)
kids = resource.getrusage(resource.RUSAGE_CHILDREN)
print(json.dumps({"n": n, "seconds": elapsed, "cpu": own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime,
                  "child_faults": kids.ru_minflt / n}))
"""


def main():
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 2000
    streams = int(sys.argv[2]) if len(sys.argv) > 2 else 2
    python = sys.argv[3] if len(sys.argv) > 3 else "/usr/bin/python3.11"

    procs = [subprocess.Popen([python, "-I", "-c", STREAM, str(n)], stdout=subprocess.PIPE, text=True)
             for _ in range(streams)]
    results = [__import__("json").loads(p.communicate()[0]) for p in procs]
    wall = max(r["seconds"] for r in results)
    total = sum(r["n"] for r in results)
    cpu = sum(r["cpu"] for r in results)
    print("fork floor, %d stream(s) of %d: %.0f executions/s, %.2f ms CPU per execution, %.0f faults per child"
          % (streams, n, total / wall, cpu / total * 1e3, sum(r["child_faults"] for r in results) / streams))



if __name__ == "__main__":
    main()
