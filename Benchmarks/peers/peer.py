"""Peer side of the benchmark: runs a cell N times and prints the per-run times (µs) as JSON.

Commands on stdin, one per line: `monty WORKLOAD N` (pydantic-monty fresh checkout from a
warm pool), `monty-session WORKLOAD N` (one checked-out Monty session fed N times),
`cpython WORKLOAD N` (exec in this process: the same Debian CPython that Crucible embeds).
Workloads are hex-encoded source text. `get_user(i)` is offered to Monty as an external
function (a host-side call), the counterpart of Crucible's host-side tool.
"""
import json
import sys
import time

import pydantic_monty

pool = pydantic_monty.Monty(min_processes=2, max_processes=2).__enter__()
with pool.checkout() as warm:
    warm.feed_run("1")


def get_user(user_id):
    return {"id": user_id, "name": "user%d" % user_id}


external = {"get_user": get_user}
session_checkout = pool.checkout()
long_session = session_checkout.__enter__()
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
                session.feed_run(code, external_lookup=external)
            times.append((clock() - start) / 1000)
        elif kind == "monty-session":
            start = clock()
            long_session.feed_run(code, external_lookup=external)
            times.append((clock() - start) / 1000)
        else:
            compiled_source = code
            start = clock()
            exec(compile(compiled_source, "<bench>", "exec"), {"__name__": "__main__", "get_user": get_user})
            times.append((clock() - start) / 1000)
    print(json.dumps(times), flush=True)
