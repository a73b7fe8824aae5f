"""Copy-on-write faults and CPU per fresh execution, as the zygote's reaped children report them.

Starts `crucible serve` (a pool of 2, no corpus, no standard tools), runs `x = 1 + 2` as
fresh executions one after another, and reads the zygote's /proc/PID/stat before and after:
`cminflt` (minor faults of the reaped workers) and `cutime`/`cstime` (their CPU), per
execution. Faults are the steadier figure on a shared machine: CPU times move with the load,
the count of pages a worker writes does not.

    python3 Benchmarks/diagnostics/worker_faults.py .build/release/crucible [N] [serve options, e.g. --python 3.14]
"""

import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "..", "Clients", "python"))
from crucible_client import Crucible  # noqa: E402

binary = sys.argv[1]
runs = int(sys.argv[2]) if len(sys.argv) > 2 else 300
extra = sys.argv[3:]


def stat(pid):
    fields = open("/proc/%d/stat" % pid).read().rsplit(")", 1)[1].split()
    # After the command name: minflt, cminflt, utime, stime, cutime, cstime.
    return [int(fields[i]) for i in (7, 8, 11, 12, 13, 14)]


def children(pid):
    found = []
    for task in os.listdir("/proc/%d/task" % pid):
        found += [int(c) for c in open("/proc/%d/task/%s/children" % (pid, task)).read().split()]
    return found


with Crucible([binary, "serve", "--no-standard-tools", "--pool-size", "2", "--no-corpus", *extra],
              stderr=open(os.devnull, "w")) as crucible:
    for _ in range(30):
        crucible.execute("x = 1 + 2")
    # host -> zygote (waits in its PID namespace) -> the zygote that forks the workers.
    outer = [p for p in children(crucible._process.pid) if open("/proc/%d/comm" % p).read().strip() == "crucible-zygote"][0]
    zygote = (children(outer) or [outer])[0]
    before = stat(zygote)
    for _ in range(runs):
        assert crucible.execute("x = 1 + 2")["outcome"] == "ok"
    after = stat(zygote)

hz = os.sysconf("SC_CLK_TCK")
delta = [a - b for a, b in zip(after, before)]
print("per fresh execution: worker faults %.0f, zygote faults %.1f, worker CPU user/system %.2f/%.2f ms, zygote CPU %.2f ms"
      % (delta[1] / runs, delta[0] / runs, delta[4] / hz / runs * 1e3, delta[5] / hz / runs * 1e3,
         (delta[2] + delta[3]) / hz / runs * 1e3))
