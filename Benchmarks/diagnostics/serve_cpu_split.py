"""Where the CPU of fresh executions through `crucible serve` goes: the client, the host, the
zygote and its workers, per execution, with 4 client threads on 2 cores (the throughput
benchmark's load), from /proc CPU times before and after.

    python3 Benchmarks/diagnostics/serve_cpu_split.py .build/release/crucible [SECONDS] [serve options]
"""

import os
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "..", "Clients", "python"))
from crucible_client import Crucible  # noqa: E402

binary = sys.argv[1]
seconds = float(sys.argv[2]) if len(sys.argv) > 2 else 8
extra = sys.argv[3:]
os.environ["CRUCIBLE_CORPUS"] = os.path.join(tempfile.mkdtemp(), "corpus.sqlite")


def ticks(pid):
    fields = open("/proc/%d/stat" % pid).read().rsplit(")", 1)[1].split()
    return [int(fields[i]) for i in (11, 12, 13, 14)]  # utime stime cutime cstime


def children(pid):
    found = []
    for task in os.listdir("/proc/%d/task" % pid):
        found += [int(child) for child in open("/proc/%d/task/%s/children" % (pid, task)).read().split()]
    return found


def namespace_pid(pid):
    """The pid in the process's own PID namespace (the last of /proc's NSpid)."""
    for line in open("/proc/%d/status" % pid):
        if line.startswith("NSpid:"):
            return int(line.split()[-1])
    return None


with Crucible([binary, "serve", "--no-standard-tools", "--pool-size", "8", *extra], stderr=open(os.devnull, "w")) as crucible:
    for _ in range(50):
        crucible.execute("x = 1 + 2")
    # The long-lived processes: host, zygotes (workers come and go; the zygote reaps them).
    # Zygotes are the host's children; their own children (idle workers) may exit at any time.
    host = crucible._process.pid
    # Where the zygote has a PID namespace, the host's child only waits and the zygote (pid 1 of
    # the namespace, which reaps the workers) is its child: take both, and no idle worker.
    zygotes = [p for p in children(host) if open("/proc/%d/comm" % p).read().strip() == "crucible-zygote"]
    zygotes += [child for p in zygotes for child in children(p) if namespace_pid(child) == 1]
    processes = [host] + zygotes
    names = {p: "host" if p == crucible._process.pid else "zygote" for p in processes}
    before = {p: ticks(p) for p in processes}
    client_before = os.times()
    done, stop, lock = [0], time.perf_counter() + seconds, threading.Lock()

    def client():
        while time.perf_counter() < stop:
            assert crucible.execute("x = 1 + 2")["outcome"] == "ok"
            with lock:
                done[0] += 1

    threads = [threading.Thread(target=client) for _ in range(4)]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - started
    client_after = os.times()
    after = {p: ticks(p) for p in processes if os.path.exists("/proc/%d" % p)}

n, hz = done[0], os.sysconf("SC_CLK_TCK")
print("%.0f executions/s (%d in %.1f s)" % (n / elapsed, n, elapsed))
print("client: %.2f ms per execution" % ((client_after.user + client_after.system - client_before.user - client_before.system) / n * 1e3))
for pid in processes:
    if pid in after:
        d = [(a - b) / hz / n * 1e3 for a, b in zip(after[pid], before[pid])]
        print("pid %d (%s): own %.2f ms, reaped children (workers) %.2f ms per execution"
              % (pid, names[pid], d[0] + d[1], d[2] + d[3]))
