"""Peer side of the benchmark: runs a cell N times and prints the per-run times (µs) as JSON.

Commands on stdin, one per line: `monty WORKLOAD N` (pydantic-monty fresh checkout from a
warm pool), `cpython WORKLOAD N` (exec in this process: the same Debian CPython that
Crucible embeds). Workloads are hex-encoded source text.
"""
import json
import sys
import time

import pydantic_monty

pool = pydantic_monty.Monty(min_processes=2, max_processes=2).__enter__()
with pool.checkout() as warm:
    warm.feed_run("1")
print(json.dumps({"ready": True}), flush=True)
clock = time.perf_counter_ns
for line in sys.stdin:
    kind, hexcode, count = line.split()
    code = bytes.fromhex(hexcode).decode()
    times = []
    for _ in range(int(count)):
        if kind == "monty":
            start = clock()
            with pool.checkout() as session:
                session.feed_run(code)
            times.append((clock() - start) / 1000)
        else:
            compiled_source = code
            start = clock()
            exec(compile(compiled_source, "<bench>", "exec"), {"__name__": "__main__"})
            times.append((clock() - start) / 1000)
    print(json.dumps(times), flush=True)
