"""A persistent-session cell `x = 1 + 2` through `crucible serve` in steady state, build against
build: for each round, each binary (the order reversed every other round) and each kind, a fresh
`crucible serve` with a fresh corpus runs RUNS back-to-back cells after 300 unmeasured ones,
recorded in the corpus (the default) or with `corpus=False`, in a session that declares a client
tool (as serve_latency.py's does). Unlike serve_latency.py, nothing else runs between the cells
of one kind: a corpus writer that defers its work cannot push it onto another kind's block.

    python3 Benchmarks/diagnostics/recorded_cell_steady.py BINARY [BINARY ...] [--runs 3000] [--rounds 4]
"""
import argparse
import os
import shutil
import statistics
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
parser.add_argument("--runs", type=int, default=3000)
parser.add_argument("--rounds", type=int, default=4)
options = parser.parse_args()


def quantile(values, q):
    ordered = sorted(values)
    return ordered[int(q * (len(ordered) - 1))]


def run(binary, recorded):
    folder = tempfile.mkdtemp(prefix="crucible-steady-")
    os.environ["CRUCIBLE_CORPUS"] = os.path.join(folder, "corpus.sqlite")
    corpus = None if recorded else False
    samples = []
    try:
        with Crucible([binary, "serve", "--no-standard-tools"], stderr=open(os.devnull, "w")) as crucible:
            session = crucible.open_session(tools=[get_user], persistent=True)
            for _ in range(300):
                session.execute("x = 1 + 2", corpus=corpus)
            for _ in range(options.runs):
                start = time.perf_counter_ns()
                session.execute("x = 1 + 2", corpus=corpus)
                samples.append((time.perf_counter_ns() - start) / 1000)
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    return quantile(samples, 0.5), quantile(samples, 0.99)


results = {}
for round_number in range(options.rounds):
    order = options.binaries if round_number % 2 == 0 else options.binaries[::-1]
    for binary in order:
        for recorded in (True, False):
            p50, p99 = run(binary, recorded)
            results.setdefault((binary, recorded), []).append((p50, p99))
            print("round %d %s %s: p50 %.1f µs, p99 %.0f µs" % (
                round_number + 1, binary, "recorded" if recorded else "corpus=False", p50, p99), flush=True)

print()
print("| build | cell | p50 µs per run | median p50 | p99 µs per run |")
print("|---|---|---|---:|---|")
for (binary, recorded), values in results.items():
    print("| %s | %s | %s | %.1f | %s |" % (
        binary, "recorded" if recorded else "`corpus=False`", " / ".join("%.0f" % p50 for p50, _ in values),
        statistics.median(p50 for p50, _ in values), " / ".join("%.0f" % p99 for _, p99 in values)))
