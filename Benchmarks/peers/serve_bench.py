"""The agent's view: a Python program driving `crucible serve` through Clients/python, beside
pydantic-monty in the same process, on the same workloads. Adds a "serve" section to the
benchmark's JSON (argv[2]) and prints a table.

    python serve_bench.py CRUCIBLE_BINARY RESULTS_JSON [RUNS]
"""
import json
import os
import tempfile
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "Clients", "python"))

import pydantic_monty
from crucible_client import Crucible
from client_tool_workload import THREE, get_user, get_user_fn

# Recording stays on (the default being measured), in a corpus of its own, not the repository's.
os.environ["CRUCIBLE_CORPUS"] = os.path.join(tempfile.mkdtemp(prefix="crucible-bench-corpus-"), "corpus.sqlite")

binary, results_path = sys.argv[1], sys.argv[2]
runs = int(sys.argv[3]) if len(sys.argv) > 3 else 300


def measure(function):
    times = []
    for _ in range(runs):
        start = time.perf_counter_ns()
        function()
        times.append((time.perf_counter_ns() - start) / 1000)
    times.sort()
    return {"n": runs, "median_us": times[len(times) // 2], "p99_us": times[min(len(times) - 1, int(len(times) * 0.99))]}


pool = pydantic_monty.Monty(min_processes=2, max_processes=2).__enter__()


def monty(code):
    def run():
        with pool.checkout() as session:
            session.feed_run(code, external_lookup={"get_user": get_user_fn})
    return run


cells = {}
with Crucible([binary, "serve", "--no-standard-tools"], stderr=open(os.devnull, "w")) as crucible:
    session = crucible.open_session(tools=[get_user])
    cell = crucible.open_session(tools=[get_user], persistent=True)
    for _ in range(50):
        crucible.execute("x = 1 + 2")
        cell.execute(THREE)
    for _ in range(3):  # interleaved rounds, as in the Swift benchmark
        for name, function in [
            ("serve execute, fresh worker|x = 1 + 2", lambda: crucible.execute("x = 1 + 2")),
            ("serve execute, persistent session|x = 1 + 2", lambda: cell.execute("x = 1 + 2")),
            ("serve execute, fresh worker, client tool|3 host calls", lambda: session.execute(THREE)),
            ("serve execute, persistent session, client tool|3 host calls", lambda: cell.execute(THREE)),
            ("monty fresh checkout (same process)|x = 1 + 2", monty("x = 1 + 2")),
            ("monty fresh checkout (same process)|3 host calls", monty(THREE)),
        ]:
            result = measure(function)
            previous = cells.get(name)
            cells[name] = result if previous is None else {
                "n": previous["n"] + result["n"],
                "median_us": (previous["median_us"] + result["median_us"]) / 2,  # mean of round medians
                "p99_us": max(previous["p99_us"], result["p99_us"]),
            }
    assert cell.execute(THREE)["value"] == "user1user2user3"

print("| cell (Python agent) | workload | n | median µs | p99 µs |")
print("|---|---|---:|---:|---:|")
for name, values in cells.items():
    label, workload = name.split("|")
    print("| %s | `%s` | %d | %.1f | %.1f |" % (label, workload, values["n"], values["median_us"], values["p99_us"]))
ratio = cells["serve execute, persistent session, client tool|3 host calls"]["median_us"] / cells[
    "monty fresh checkout (same process)|3 host calls"]["median_us"]
print("\nserve persistent session vs monty fresh (3 host calls): %.3f" % ratio)

with open(results_path) as handle:
    document = json.load(handle)
document["serve"] = {"cells": cells, "ratio_session_vs_monty_fresh_3_calls": ratio,
                     "note": "medians are the mean of three interleaved rounds' medians"}
with open(results_path, "w") as handle:
    json.dump(document, handle, indent=2, sort_keys=True)
