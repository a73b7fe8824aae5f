"""End-to-end tests of `crucible serve` through the stdlib Python client in Clients/python.

Run by scripts/test after `swift build`; each test starts a real `crucible serve` process.
"""

import os
import subprocess
import sys
import threading
import time

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "..", "Clients", "python"))

from crucible_client import Crucible, CrucibleError, tool


@pytest.fixture
def crucible(repo):
    client = Crucible(args=["--workspace", str(repo)], stderr=subprocess.DEVNULL)
    yield client
    assert client.close() == 0


USER_SCHEMA = {
    "type": "object",
    "properties": {"id": {"type": "integer"}, "name": {"type": "string"}},
    "required": ["id", "name"],
}


@tool(
    input_schema={"type": "object", "properties": {"user_id": {"type": "integer"}}, "required": ["user_id"]},
    output_schema=USER_SCHEMA,
)
def get_user(user_id):
    """Look up a user."""
    return {"id": user_id, "name": "user%d" % user_id}


def test_initialize_and_execute(crucible):
    assert crucible.server["server"] == "crucible"
    result = crucible.execute("print('hi')\nsum(range(10))")
    assert result["outcome"] == "ok"
    assert result["stdout"] == "hi\n"
    assert result["value"] == 45


def test_client_tool_round_trip_with_trace(crucible):
    with crucible.open_session(tools=[get_user]) as session:
        result = session.execute("a = get_user(1); b = get_user(2); c = get_user(3)\na['name'] + b['name'] + c.name")
    assert result["outcome"] == "ok", result
    assert result["value"] == "user1user2user3"
    calls = result["trace"]["tool_calls"]
    assert [(c["tool"], c["arguments"], c["outcome"]) for c in calls] == [
        ("get_user", {"user_id": 1}, "ok"),
        ("get_user", {"user_id": 2}, "ok"),
        ("get_user", {"user_id": 3}, "ok"),
    ]
    assert [(r["call"], r["path"]) for r in result["trace"]["field_reads"]] == [(0, "name"), (1, "name"), (2, "name")]


def test_client_tool_failures_reach_the_code_as_typed_errors(crucible):
    @tool(output_schema=USER_SCHEMA)
    def garbage():
        return {"id": "not a number"}

    @tool
    def broken():
        raise RuntimeError("backend down")

    @tool
    def hangs():
        threading.Event().wait(5)
        return {}

    with crucible.open_session(tools=[garbage, broken, hangs], limits={"tool_timeout": 0.3}) as session:
        result = session.execute(
            "out = []\n"
            "for f in (garbage, broken, hangs):\n"
            "    try:\n"
            "        f()\n"
            "    except ToolError as e:\n"
            "        out.append((type(e).__name__, str(e)))\n"
            "out"
        )
    assert result["outcome"] == "ok", result
    (contract, contract_message), (failed, failed_message), (timeout, _) = result["value"]
    assert contract == "ToolContractError"
    assert contract_message.startswith("garbage() returned a result that breaks its contract at $")
    assert failed == "ToolError"
    assert failed_message == "broken() failed: RuntimeError: backend down"
    assert timeout == "ToolTimeoutError"
    outcomes = [c["outcome"] for c in result["trace"]["tool_calls"]]
    assert outcomes == ["contract_error", "tool_error", "timeout"]


def test_concurrent_requests_run_concurrently(crucible):
    # Each execution waits inside a client tool until the other has arrived too: if the server
    # ran requests one at a time, the barrier would break and the tool would raise.
    barrier = threading.Barrier(2, timeout=20)

    @tool
    def rendezvous():
        barrier.wait()
        return {"met": True}

    session = crucible.open_session(tools=[rendezvous])
    results = [None, None]

    def run(index):
        results[index] = session.execute("rendezvous()['met']", timeout=30)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert [r["value"] for r in results] == [True, True], results


def test_printing_cannot_corrupt_the_protocol(crucible):
    code = (
        "import os, sys\n"
        "print('{\"jsonrpc\": \"2.0\", \"id\": 1, \"result\": \"forged\"}')\n"
        "sys.stdout.write('no newline')\n"
        "print('x' * 100000)\n"
        "try:\n"
        "    os.write(1, b'straight to fd 1\\n')\n"
        "except OSError as e:\n"
        "    print('fd 1:', e.errno)\n"
        "'done'"
    )
    result = crucible.execute(code)
    assert result["value"] == "done"
    assert result["stdout"].startswith('{"jsonrpc": "2.0", "id": 1, "result": "forged"}\nno newline')
    assert "fd 1: 9" in result["stdout"]  # EBADF: the worker has no fd 1
    assert crucible.execute("2 + 2")["value"] == 4
    assert crucible.unsolicited == []  # no stray line reached the client


def test_malformed_requests_get_errors_and_the_server_survives(crucible):
    with pytest.raises(CrucibleError) as unknown:
        crucible.request("no_such_method", {})
    assert unknown.value.code == -32601
    with pytest.raises(CrucibleError) as missing_code:
        crucible.request("execute", {})
    assert missing_code.value.code == -32602
    with pytest.raises(CrucibleError) as bad_session:
        crucible.request("execute", {"code": "1", "session": "nope"})
    assert bad_session.value.code == -32001
    with pytest.raises(CrucibleError) as bad_input:
        crucible.request("execute", {"code": "1", "inputs": {"not an identifier": 1}})
    assert bad_input.value.code == -32602
    with pytest.raises(CrucibleError) as bad_tools:
        crucible.request("open_session", {"tools": [{"name": "x y"}]})
    assert bad_tools.value.code == -32602
    # Raw garbage: a parse error and an invalid request are answered with id null.
    crucible.send_raw(b"this is not json\n")
    crucible.send_raw(b'{"id": "raw-1", "method": "execute"}\n')  # no "jsonrpc": "2.0"
    crucible.send_raw(b"\xff\xfe\n")
    assert crucible.execute("'still alive'")["value"] == "still alive"
    # Unparseable lines are answered with id null; the invalid request with its own id.
    deadline = time.monotonic() + 10
    while len(crucible.unsolicited) < 3 and time.monotonic() < deadline:
        time.sleep(0.01)
    answers = sorted((reply["id"] or "", reply["error"]["code"]) for reply in crucible.unsolicited)
    assert answers == [("", -32700), ("", -32700), ("raw-1", -32600)]


def test_persistent_session_keeps_state(crucible):
    session = crucible.open_session(persistent=True)
    assert session.execute("x = 41")["outcome"] == "ok"
    assert session.execute("x + 1")["value"] == 42
    session.close()
    with pytest.raises(CrucibleError) as closed:
        crucible.execute("x", session=session.id)
    assert closed.value.code == -32001


def test_standard_tools_in_a_real_repository(crucible, repo):
    result = crucible.execute("[(c.author, c.email, c.subject) for c in git_log().commits]")
    assert result["value"] == [["Grace", "grace@example.com", "Second"], ["Ada", "ada@example.com", "First"]]
    (repo / "ruff.toml").write_text('[lint]\nselect = ["E", "F"]\n')  # the workspace's own ruff config applies
    lint = crucible.execute("r = ruff_check(['app.py'])\n[(v.line, v.code) for v in r.violations]")
    assert lint["value"] == [[4, "E402"], [4, "F401"]]


def test_describe_tools_matches_the_runtime(crucible):
    session = crucible.open_session(tools=[get_user])
    described = session.describe_tools()
    assert "def get_user(user_id: int) -> GetUserResult:" in described["python_api"]
    assert "class GetUserResult(ToolResult):" in described["python_api"]
    assert described["prompt"].startswith("Write Python 3.11 code")
    names = [t["name"] for t in crucible.list_tools(session)]
    assert "get_user" in names and "git_log" in names
    signature = session.execute(
        "import crucible_sandbox.tools as t\nt.format_signature(get_user)"
    )["value"]
    assert "def get_user%s:" % signature in described["python_api"]


def test_command_tool_from_pyproject(repo):
    script = repo / "count.py"
    script.write_text("import json, sys\nprint(json.dumps({'words': len(open(sys.argv[1]).read().split())}))\n")
    (repo / "pyproject.toml").write_text(
        "[project]\nname = 'x'\n\n"
        "[[tool.crucible.tools]]\n"
        "name = 'word_count'\n"
        "description = 'Count the words in a file.'\n"
        "command = ['%s', 'count.py', '{path}']\n"
        "input_schema = { type = 'object', properties = { path = { type = 'string' } }, required = ['path'] }\n"
        "output_schema = { type = 'object', properties = { words = { type = 'integer' } }, required = ['words'] }\n"
        % sys.executable
    )
    with Crucible(args=["--workspace", str(repo)], stderr=subprocess.DEVNULL) as client:
        result = client.execute("word_count('app.py').words")
    assert result["outcome"] == "ok", result
    assert result["value"] == 9


def test_bad_configuration_is_reported(repo):
    (repo / "crucible.toml").write_text("[[tools]]\nname = 'x'\ncommand = 'not a list'\n")
    process = subprocess.run(
        [os.path.join(HERE, "..", "..", ".build", "debug", "crucible"), "tools", "--workspace", str(repo)],
        capture_output=True, text=True,
    )
    assert process.returncode == 64 or process.returncode == 2
    assert "crucible.toml: tools[0] (x): command must be a non-empty list of strings" in process.stderr
