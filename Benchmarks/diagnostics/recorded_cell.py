"""A recorded session cell through `crucible serve` as the corpus grows: fills a corpus with
PREFILL recorded cells, then, for each round and each binary (alternating), copies that corpus
and times RUNS back-to-back session cells `x = 1 + 2` recorded into the copy (the default), with
the host's CPU per cell from /proc. Compares two builds where the corpus's size matters (what a
record costs the host's SQLite writer):

    python3 recorded_cell.py BINARY [BINARY ...] [--prefill 80000] [--runs 8000] [--rounds 3]

The session declares a client tool (get_user), as serve_latency.py's does.
"""
import argparse
import os
import shutil
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "..", "Clients", "python"))
sys.path.insert(0, os.path.join(HERE, "..", "peers"))
from crucible_client import Crucible  # noqa: E402
from client_tool_workload import get_user  # noqa: E402

parser = argparse.ArgumentParser()
parser.add_argument("binaries", nargs="+")
parser.add_argument("--prefill", type=int, default=80000)
parser.add_argument("--runs", type=int, default=8000)
parser.add_argument("--rounds", type=int, default=3)
options = parser.parse_args()
TICKS = os.sysconf("SC_CLK_TCK")
folder = tempfile.mkdtemp(prefix="crucible-recorded-cell-")


def cpu_seconds(pid):
    with open("/proc/%d/stat" % pid) as handle:
        fields = handle.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS


def cells(binary, corpus, runs, timed):
    env = dict(os.environ, CRUCIBLE_CORPUS=corpus)
    with Crucible([binary, "serve", "--no-standard-tools"], stderr=open(os.devnull, "w"), env=env) as crucible:
        session, times, done = None, [], 0
        host = crucible._process.pid
        for _ in range(200 if timed else 0):
            session = session or crucible.open_session(tools=[get_user], persistent=True)
            session.execute("x = 1 + 2", corpus=False)
        before = cpu_seconds(host)
        while done < runs:
            # A persistent session's worker has a CPU limit: a new one every 20,000 cells.
            if session is None or (done and done % 20000 == 0):
                session = crucible.open_session(tools=[get_user], persistent=True)
            start = time.perf_counter_ns()
            session.execute("x = 1 + 2")
            times.append((time.perf_counter_ns() - start) / 1000)
            done += 1
        host_cpu = (cpu_seconds(host) - before) / runs * 1e6
    times.sort()
    return times[len(times) // 2], times[len(times) // 10], times[int(len(times) * 0.99)], host_cpu


seed = os.path.join(folder, "seed.sqlite")
started = time.perf_counter()
cells(os.path.abspath(options.binaries[0]), seed, options.prefill, timed=False)
print("corpus filled with %d recorded cells in %.1f s (%.0f MB)" % (
    options.prefill, time.perf_counter() - started, os.path.getsize(seed) / 1e6), file=sys.stderr)
print("| round | binary | p50 µs | p10 µs | p99 µs | host CPU µs per cell |")
print("|---:|---|---:|---:|---:|---:|")
for round_number in range(1, options.rounds + 1):
    for binary in options.binaries:
        copy = os.path.join(folder, "copy.sqlite")
        for suffix in ("", "-wal", "-shm"):
            if os.path.exists(copy + suffix):
                os.unlink(copy + suffix)
        for suffix in ("", "-wal", "-shm"):
            if os.path.exists(seed + suffix):
                shutil.copyfile(seed + suffix, copy + suffix)
        p50, p10, p99, host_cpu = cells(os.path.abspath(binary), copy, options.runs, timed=True)
        print("| %d | %s | %.1f | %.1f | %.1f | %.0f |" % (round_number, binary, p50, p10, p99, host_cpu), flush=True)
shutil.rmtree(folder)
