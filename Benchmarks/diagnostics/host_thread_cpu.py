"""Where the host's CPU goes per persistent-session cell through `crucible serve`, thread by
thread: N back-to-back cells `x = 1 + 2`, recorded (the default) and with `corpus=False`,
alternating ROUNDS times, and each host thread's CPU from /proc/PID/task before and after.
The corpus writer is the thread named `crucible-corpus`; the request threads are Dispatch's
(`oot.default-qos` in /proc, the name truncated).

    python3 Benchmarks/diagnostics/host_thread_cpu.py .build/release/crucible [N] [ROUNDS]
"""

import os
import shutil
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "..", "Clients", "python"))
from crucible_client import Crucible  # noqa: E402

TICK = os.sysconf("SC_CLK_TCK")


def thread_cpu(pid):
    """{tid: (name, CPU seconds)} for every thread of `pid` alive now."""
    found = {}
    for tid in os.listdir("/proc/%d/task" % pid):
        try:
            with open("/proc/%d/task/%s/comm" % (pid, tid)) as handle:
                name = handle.read().strip()
            with open("/proc/%d/task/%s/stat" % (pid, tid)) as handle:
                fields = handle.read().rsplit(")", 1)[1].split()
        except OSError:  # the thread ended meanwhile
            continue
        found[tid] = (name, (int(fields[11]) + int(fields[12])) / TICK)
    return found


def run(binary, cells, recorded):
    folder = tempfile.mkdtemp(prefix="crucible-thread-cpu-")
    os.environ["CRUCIBLE_CORPUS"] = os.path.join(folder, "corpus.sqlite")
    corpus = None if recorded else False
    try:
        with Crucible([binary, "serve", "--no-standard-tools"], stderr=open(os.devnull, "w")) as crucible:
            session = crucible.open_session(persistent=True)
            for _ in range(300):  # warm: the worker, the writer thread, the reading threads
                session.execute("x = 1 + 2", corpus=corpus)
            time.sleep(0.5)
            pid = crucible._process.pid
            before, started = thread_cpu(pid), time.perf_counter()
            for _ in range(cells):
                session.execute("x = 1 + 2", corpus=corpus)
            elapsed = time.perf_counter() - started
            time.sleep(0.3)  # the writer's last batch
            after = thread_cpu(pid)
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    by_name = {}
    for tid, (name, cpu) in after.items():
        by_name[name] = by_name.get(name, 0.0) + cpu - before.get(tid, (name, 0.0))[1]
    shares = ", ".join("%s %.0f" % (name, cpu / cells * 1e6) for name, cpu in sorted(by_name.items()) if cpu > 0)
    print("%-10s %6.1f µs per cell (mean, back to back); host CPU per cell, µs: %s" % (
        "recorded" if recorded else "unrecorded", elapsed / cells * 1e6, shares or "-"))


def main():
    binary = sys.argv[1]
    cells = int(sys.argv[2]) if len(sys.argv) > 2 else 10000
    rounds = int(sys.argv[3]) if len(sys.argv) > 3 else 3
    for _ in range(rounds):  # alternated: the machine's load moves
        run(binary, cells, True)
        run(binary, cells, False)


if __name__ == "__main__":
    main()
