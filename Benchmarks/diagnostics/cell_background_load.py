"""What other CPU work on the machine does to a persistent-session cell through `crucible serve`,
even at the lowest priority: N back-to-back cells `x = 1 + 2` with `corpus=False` (nothing of
Crucible's own runs beside them), alone and beside a process at SCHED_IDLE that spins all the
time or 30% of the time, alternating ROUNDS times. The corpus writer of a recorded cell is such
background work (BENCHMARKS.md, issue 22: why a recorded cell costs more than the writer's CPU).

    python3 Benchmarks/diagnostics/cell_background_load.py .build/release/crucible [N] [ROUNDS]
"""

import os
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "..", "Clients", "python"))
from crucible_client import Crucible  # noqa: E402

# A busy loop; with DUTY < 1 it sleeps between bursts of 200 µs so that it is busy DUTY of the time.
BURNER = """
import os, sys, time
os.sched_setscheduler(0, os.SCHED_IDLE, os.sched_param(0))
duty = float(sys.argv[1])
burst = 0.0002
while True:
    start = time.perf_counter()
    while time.perf_counter() - start < burst:
        pass
    if duty < 1:
        time.sleep(burst * (1 - duty) / duty)
"""


def cells(binary, count, duty):
    burner = None
    if duty:
        burner = subprocess.Popen([sys.executable, "-c", BURNER, str(duty)])
    folder = tempfile.mkdtemp(prefix="crucible-background-")
    try:
        env = dict(os.environ, CRUCIBLE_CORPUS=os.path.join(folder, "corpus.sqlite"))
        with Crucible([binary, "serve", "--no-standard-tools"], stderr=open(os.devnull, "w"), env=env) as crucible:
            session = crucible.open_session(persistent=True)
            for _ in range(300):
                session.execute("x = 1 + 2", corpus=False)
            times = []
            for _ in range(count):
                start = time.perf_counter_ns()
                session.execute("x = 1 + 2", corpus=False)
                times.append((time.perf_counter_ns() - start) / 1000)
    finally:
        if burner:
            burner.kill()
            burner.wait()
        subprocess.run(["rm", "-rf", folder])
    times.sort()
    return times[len(times) // 10], times[len(times) // 2], times[int(len(times) * 0.99)]


def main():
    binary = sys.argv[1]
    count = int(sys.argv[2]) if len(sys.argv) > 2 else 5000
    rounds = int(sys.argv[3]) if len(sys.argv) > 3 else 3
    print("| round | beside | p10 µs | p50 µs | p99 µs |\n|---:|---|---:|---:|---:|")
    for round in range(1, rounds + 1):
        for label, duty in (("nothing", 0), ("a SCHED_IDLE spinner", 1), ("a SCHED_IDLE spinner, 30% of the time", 0.3)):
            p10, p50, p99 = cells(binary, count, duty)
            print("| %d | %s | %.1f | %.1f | %.1f |" % (round, label, p10, p50, p99), flush=True)


if __name__ == "__main__":
    main()
