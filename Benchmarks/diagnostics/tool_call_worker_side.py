"""The worker's side of one tool call, with no second process: what the Python code costs.

Drives crucible_sandbox's real Channel and tool functions over a socketpair in one
process: the host's answer is written before each call, so nothing waits on a scheduler.
What remains is the worker's Python (arguments, JSON both ways, frames, the typed result)
plus its syscalls. `bare` is four socket syscalls alone, for scale.

    /usr/bin/python3.11 -I -S Benchmarks/diagnostics/tool_call_worker_side.py

Prints the best of 7 runs of 20,000 calls, in µs per call.
"""

import pathlib
import socket
import struct
import sys
import time

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[2] / "Sandbox" / "python"))
from crucible_sandbox import tools, worker  # noqa: E402

CALLS = 20_000
host, worker_end = socket.socketpair()
channel = worker.Channel(worker_end.fileno())
namespace = {}
tools.install(
    [
        {"name": "ping", "description": "", "inputSchema": {"type": "object"}},
        {
            "name": "get_user", "description": "",
            "inputSchema": {"type": "object", "properties": {"user_id": {"type": "integer"}}, "required": ["user_id"]},
            "outputSchema": {"type": "object", "properties": {"id": {"type": "integer"}, "name": {"type": "string"}},
                             "required": ["id", "name"]},
        },
    ],
    namespace, channel,
)
header = struct.Struct("<IB")


def answer(payload):
    return header.pack(len(payload) + 1, ord("A")) + payload


def per_call(function, reply, *arguments):
    started = time.perf_counter_ns()
    for _ in range(CALLS):
        host.send(reply)
        function(*arguments)
        host.recv(65536)
    return (time.perf_counter_ns() - started) / CALLS / 1000


def bare(reply):
    started = time.perf_counter_ns()
    for _ in range(CALLS):
        host.send(reply)
        worker_end.recv(65536)
        worker_end.send(reply)
        host.recv(65536)
    return (time.perf_counter_ns() - started) / CALLS / 1000


runs = {"ping()": [], "get_user(1)": [], "bare": []}
for _ in range(7):
    runs["ping()"].append(per_call(namespace["ping"], answer(b'{"ok":true,"result":{}}')))
    runs["get_user(1)"].append(per_call(namespace["get_user"], answer(b'{"ok":true,"result":{"id":1,"name":"u"}}'), 1))
    runs["bare"].append(bare(answer(b'{"ok":true,"result":{}}')))
print("  ".join("%s %.2f µs" % (name, min(values)) for name, values in runs.items()))
