"""`crucible serve` under hostile or careless clients: floods, absurd numbers, too many
sessions, malformed lines, and sandboxed code that forges its own frames. Every request
gets an answer, and the server keeps serving.

Raw lines go through `RawServe`, a bare JSON-RPC line client, so the tests see exactly
what the server writes (ids as sent, errors with id null)."""

import json
import os
import random
import sqlite3
import subprocess
import sys
import threading
import time

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, "..", "..", "Clients", "python"))

from crucible_client import Crucible, CrucibleError
from line_client import LineClient
from waiting import wait_until_asleep


class RawServe(LineClient):
    """A `crucible serve` process spoken to one line at a time."""

    def __init__(self, *args, prefix=None):
        super().__init__("serve", *args, prefix=prefix)

    def close(self):
        super().close()
        return self.process.returncode


def test_a_flood_of_slow_executions_is_answered_in_full():
    # More requests than the sandbox runs at once, each with a non-default timeout (so each
    # forks its own worker): all must come back, none lost to a stuck pool.
    server = RawServe("--no-corpus")
    count = 600
    for index in range(count):
        server.request(index, "execute", {"code": "import time\ntime.sleep(0.2)\n%d" % index, "timeout": 60})
    answers = {}
    while len(answers) < count:
        message = server.read(timeout=120)
        answers[message["id"]] = message
    assert sorted(answers) == list(range(count))
    assert all(answers[i]["result"]["value"] == i for i in range(count)), [a for a in answers.values() if "error" in a][:2]
    assert server.close() == 0


def test_a_client_that_writes_everything_before_reading_gets_every_answer():
    # Requests and answers both bigger than a pipe holds, all requests written before any
    # answer is read: the server must keep reading while its answers wait to be sent (a reader
    # that waited for a thread blocked sending would leave this client blocked writing).
    server = RawServe("--no-corpus")
    count = 40
    padding = "#" + "p" * 20_000 + "\n"
    written = threading.Event()

    def write_everything():
        for index in range(count):
            server.request(index, "execute", {"code": padding + "'%d' * 100_000" % index})
        written.set()

    threading.Thread(target=write_everything, daemon=True).start()
    if not written.wait(60):
        server.process.kill()
        raise AssertionError("the server stopped reading its input while answers waited to be sent")
    answers = {}
    while len(answers) < count:
        message = server.read(timeout=120)
        answers[message["id"]] = message
    assert all(answers[i]["result"]["value"] == str(i) * 100_000 for i in range(count))
    assert server.close() == 0


def test_beyond_the_queue_requests_are_told_busy_not_dropped():
    server = RawServe("--no-corpus", "--max-running", "2", "--max-queued", "3")
    count = 20
    for index in range(count):
        server.request(index, "execute", {"code": "import time\ntime.sleep(1)", "timeout": 30})
    answers = {}
    while len(answers) < count:
        message = server.read(timeout=60)
        answers[message["id"]] = message
    busy = [a for a in answers.values() if "error" in a]
    ran = [a for a in answers.values() if "result" in a]
    assert busy and all(a["error"]["code"] == -32003 for a in busy), busy[:1]
    assert "retry" in busy[0]["error"]["message"]
    assert len(ran) >= 5 and all(a["result"]["outcome"] == "ok" for a in ran)
    # Once the burst is over, the server takes work again.
    assert server.call("after", "execute", {"code": "'served'"})["result"]["value"] == "served"
    assert server.close() == 0


@pytest.mark.parametrize(
    "method, params, named",
    [
        ("open_session", {"persistent": True, "idle_timeout": 1e18}, "idle_timeout"),
        ("open_session", {"persistent": True, "idle_timeout": -1}, "idle_timeout"),
        ("open_session", {"limits": {"tool_timeout": 1e300}}, "limits.tool_timeout"),
        ("open_session", {"limits": {"calls_per_execution": 10**30}}, "limits.calls_per_execution"),
        ("open_session", {"limits": {"result_bytes": 0}}, "limits.result_bytes"),
        ("open_session", {"persistent": True, "memory_mb": 2**62}, "memory_mb"),
        ("execute", {"code": "1", "timeout": 1e300}, "timeout"),
        ("execute", {"code": "1", "timeout": "soon"}, "timeout"),
        ("execute", {"code": "1", "memory_mb": 1.5}, "memory_mb"),
    ],
)
def test_absurd_numbers_are_refused_by_name(method, params, named):
    server = RawServe("--no-corpus")
    reply = server.call(1, method, params)
    assert reply["error"]["code"] == -32602, reply
    assert reply["error"]["message"].startswith("Invalid params: %s must be " % named), reply
    assert server.call(2, "execute", {"code": "6 * 7"})["result"]["value"] == 42
    assert server.close() == 0


def test_infinite_numbers_spelled_1e400_are_refused():
    server = RawServe("--no-corpus")
    server.send('{"jsonrpc":"2.0","id":1,"method":"open_session","params":{"persistent":true,"idle_timeout":1e400}}')
    reply = server.read()
    assert reply["error"]["code"] == -32602 and "idle_timeout" in reply["error"]["message"]
    assert server.close() == 0


def test_sessions_are_capped_by_the_descriptor_limit_and_the_server_keeps_serving():
    # With 300 open files allowed, persistent sessions (two descriptors each) would run the
    # server out of descriptors long before 100; the cap refuses them first.
    server = RawServe("--no-corpus", prefix="ulimit -n 300")
    opened, refused = [], []
    for index in range(100):
        reply = server.call(index, "open_session", {"persistent": True})
        (refused if "error" in reply else opened).append(reply)
    assert opened and refused
    assert all(r["error"]["code"] == -32004 for r in refused)
    assert "close one with close_session" in refused[0]["error"]["message"]
    assert server.call("alive", "execute", {"code": "'alive'"})["result"]["value"] == "alive"
    # Closing one makes room for one.
    session = opened[0]["result"]["session"]
    assert server.call("close", "close_session", {"session": session})["result"] == {"closed": True}
    assert "result" in server.call("again", "open_session", {"persistent": True})
    assert server.close() == 0


def test_max_sessions_flag():
    server = RawServe("--no-corpus", "--max-sessions", "2")
    assert "result" in server.call(1, "open_session", {})
    assert "result" in server.call(2, "open_session", {"persistent": True})
    assert server.call(3, "open_session", {})["error"]["code"] == -32004
    assert server.close() == 0


def test_sessions_without_a_worker_end_when_idle_so_forgotten_ones_do_not_fill_the_server():
    server = RawServe("--no-corpus", "--max-sessions", "2")
    forgotten = [server.call(i, "open_session", {"persistent": False, "idle_timeout": 0.2})["result"]["session"]
                 for i in (1, 2)]
    assert server.call(3, "open_session", {})["error"]["code"] == -32004  # the cap holds while they are in use
    time.sleep(0.5)
    # Past its idle time, naming one says it closed and why; at the cap, they make room.
    closed = server.call(4, "execute", {"code": "1", "session": forgotten[0]})["error"]
    assert closed["code"] == -32001 and "idle for longer than" in closed["message"], closed
    assert [("result" in server.call(i, "open_session", {"persistent": False})) for i in (5, 6)] == [True, True]
    assert server.close() == 0


def test_a_session_cell_refuses_python_and_packages_instead_of_ignoring_them():
    server = RawServe("--no-corpus")
    for persistent in (True, False):
        session = server.call("open-%s" % persistent, "open_session", {"persistent": persistent})["result"]["session"]
        error = server.call("cell", "execute", {"code": "1", "session": session, "python": "3.14"})["error"]
        assert error["code"] == -32602 and "belong to the session" in error["message"], error
    assert server.close() == 0


def test_ids_and_lines_as_json_rpc_says():
    server = RawServe("--no-corpus")
    server.send('{"jsonrpc":"2.0","id":1.0,"method":"list_tools"}')
    assert server.read_line().startswith(b'{"id":1.0,')  # the id as sent, not rewritten to 1
    server.send('{"jsonrpc":"2.0","id":123456789012345678901234567890,"method":"list_tools"}')
    assert b'"id":123456789012345678901234567890,' in server.read_line()
    for bad in ('{"a":1}', "[1]", "true"):
        server.send('{"jsonrpc":"2.0","id":%s,"method":"list_tools"}' % bad)
        reply = server.read()
        assert reply["id"] is None and reply["error"]["code"] == -32600, reply
    server.send(b'{"jsonrpc":"2.0","id":9,"method":"execute","params":{"code":"\xff"}}')
    reply = server.read()
    assert reply["id"] is None and reply["error"]["code"] == -32700 and "UTF-8" in reply["error"]["message"]
    # Two requests with one id: both are answered.
    server.request("twice", "execute", {"code": "1"})
    server.request("twice", "execute", {"code": "2"})
    assert sorted(server.read()["result"]["value"] for _ in range(2)) == [1, 2]
    assert server.close() == 0


def test_a_line_over_64_mib_is_refused_as_it_passes_the_limit():
    server = RawServe("--no-corpus")
    chunk = b"x" * (1 << 20)
    server.process.stdin.write(b'{"jsonrpc":"2.0","id":1,"method":"execute","params":{"code":"')
    for _ in range(65):
        server.process.stdin.write(chunk)
    server.process.stdin.flush()
    # The refusal comes while the line is still unfinished: the server does not wait for its end.
    reply = server.read(timeout=60)
    assert reply["id"] is None and reply["error"]["code"] == -32600 and "64" in reply["error"]["message"]
    for _ in range(20):
        server.process.stdin.write(chunk)
    server.send(b'"}}')
    assert server.call(2, "execute", {"code": "'after'"})["result"]["value"] == "after"
    rss_kib = int(open("/proc/%d/status" % server.process.pid).read().split("VmRSS:")[1].split()[0])
    assert rss_kib < 400 * 1024, rss_kib  # the 85 MiB line was never held whole
    assert server.close() == 0


def test_integers_beyond_2_to_the_53_stay_exact():
    server = RawServe("--no-corpus")
    big = 2**70 + 1
    reply = server.call(1, "execute", {"code": "n * 2, type(n).__name__, 2**100", "inputs": {"n": big}})
    assert reply["result"]["value"] == [big * 2, "int", 2**100]
    near = 2**53 + 1
    assert server.call(2, "execute", {"code": "n", "inputs": {"n": near}})["result"]["value"] == near
    assert server.close() == 0


def test_a_session_cell_honors_its_timeout_and_refuses_another_memory_limit():
    with Crucible(args=["--no-corpus"], stderr=subprocess.DEVNULL) as client:
        session = client.open_session(persistent=True)
        result = session.execute("import time\ntime.sleep(30)", timeout=0.5)
        assert result["outcome"] == "timeout"
        session = client.open_session(persistent=True, limits=None)
        with pytest.raises(CrucibleError) as other_memory:
            session.execute("1", memory_mb=512)
        assert other_memory.value.code == -32602 and "memory_mb" in str(other_memory.value)


def test_close_session_stops_a_running_cell():
    with Crucible(args=["--no-corpus"], stderr=subprocess.DEVNULL) as client:
        session = client.open_session(persistent=True)
        assert session.execute("x = 1")["outcome"] == "ok"
        outcome = {}
        running = threading.Thread(
            target=lambda: outcome.update(session.execute("import time\ntime.sleep(60)", timeout=120)))
        running.start()
        # The cell is running once the worker shows up asleep; closing must not wait for it.
        wait_until_asleep(1, client._process.pid, otherwise=1.0)
        session.close()
        running.join(timeout=30)
        assert not running.is_alive(), "close_session did not stop the running cell"
        assert outcome["outcome"] == "cancelled", outcome
        with pytest.raises(CrucibleError) as closed:
            client.execute("x", session=session.id)
        assert closed.value.code == -32001


def test_a_forged_frame_is_a_recorded_protocol_violation(tmp_path):
    corpus = tmp_path / "corpus.sqlite"
    with Crucible(args=["--corpus", str(corpus)], stderr=subprocess.DEVNULL) as client:
        result = client.execute(
            "import os, struct\nos.write(3, struct.pack('<IB', 10, ord('D')) + struct.pack('<BQ', ord('O'), 2**64 - 1))",
            corpus={"session": "forger", "task": "forge a frame"})
        assert result["outcome"] == "protocol_violation"
        assert "output dropped" in result["outcome_detail"]
        assert client.execute("'host alive'")["value"] == "host alive"
    rows = sqlite3.connect(corpus).execute(
        "SELECT a.passed, a.record FROM attempts a JOIN sessions s ON s.id = a.session_id WHERE s.id = 'serve:forger'"
    ).fetchall()
    assert len(rows) == 1
    passed, record = rows[0]
    assert passed == 0
    assert json.loads(record)["runtime"]["outcome"] == "protocol_violation"


def _mutations(rng):
    """JSON-RPC lines, valid and broken, for the fuzz test."""
    base = [
        {"jsonrpc": "2.0", "id": 1, "method": "execute", "params": {"code": "1 + 1"}},
        {"jsonrpc": "2.0", "id": 2, "method": "open_session", "params": {"persistent": True, "idle_timeout": 5}},
        {"jsonrpc": "2.0", "id": 3, "method": "list_tools", "params": {}},
        {"jsonrpc": "2.0", "id": 4, "method": "execute", "params": {"code": "x", "inputs": {"x": 1}, "timeout": 2}},
        {"jsonrpc": "2.0", "id": 5, "method": "validate", "params": {"code": "x = 1", "rulesets": ["view"]}},
    ]
    odd_values = [1e308, -1e308, 10**40, -(10**40), 0, -1, 0.0001, "", "x" * 1000, None, True, [], {}, [[[[[]]]]],
                  {"a": {"b": {"c": []}}}, "\u0000", "\ud7ff", 2**63, 2**64]
    while True:
        message = json.loads(json.dumps(rng.choice(base)))
        kind = rng.random()
        if kind < 0.3:
            # A field of the message or of its params replaced with an odd value.
            target = message["params"] if rng.random() < 0.7 else message
            key = rng.choice(list(target) + ["timeout", "memory_mb", "session", "inputs", "idle_timeout"])
            target[key] = rng.choice(odd_values)
            line = json.dumps(message).encode()
        elif kind < 0.4:
            line = json.dumps(message).encode().replace(b"1 + 1", b"1e400").replace(b": 5", b": 1e400")
        elif kind < 0.5:
            line = b"[" * rng.randint(1, 2000) + b"]" * rng.randint(0, 2000)
        elif kind < 0.6:
            raw = bytearray(json.dumps(message).encode())
            for _ in range(rng.randint(1, 4)):
                raw[rng.randrange(len(raw))] = rng.randrange(256)
            line = bytes(raw).replace(b"\n", b" ")
        elif kind < 0.7:
            line = json.dumps([json.loads(json.dumps(rng.choice(base))) for _ in range(rng.randint(0, 50))]).encode()
        elif kind < 0.8:
            message["id"] = rng.choice([{"x": 1}, [1], True, 1.5, -0.0, "dup", 10**30])
            line = json.dumps(message).encode()
        elif kind < 0.9:
            line = json.dumps(message).encode()[: rng.randint(1, 40)]
        else:
            line = json.dumps(message).encode()
        yield line


def test_fuzzed_lines_never_kill_the_server_and_every_reply_is_well_formed():
    server = RawServe("--no-corpus", "--max-sessions", "20")
    rng = random.Random(20261206)
    lines = _mutations(rng)
    for round_ in range(200):
        line = next(lines)
        server.send(line)
        # A sentinel after each line: its answer proves the server read past the fuzzed line.
        server.request("sentinel-%d" % round_, "list_tools", {})
        while True:
            message = server.read(timeout=60)
            if isinstance(message, dict) and message.get("id") == "sentinel-%d" % round_:
                break
            if isinstance(message, dict):
                assert ("result" in message) != ("error" in message), message
                if "error" in message:
                    assert isinstance(message["error"]["code"], int)
    assert server.process.poll() is None
    assert server.call("end", "execute", {"code": "'survived'"})["result"]["value"] == "survived"
    assert server.close() == 0
