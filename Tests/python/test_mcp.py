"""`crucible mcp` end to end, through the official Python MCP client (`mcp` from PyPI,
installed by scripts/setup into .crucible/tools). Each test starts a real `crucible mcp`
process; the second MCP server is a real one too (fixtures/directory_server.py, written with
the same SDK's MCPServer)."""

import asyncio
import contextlib
import json
import os
import sqlite3
import subprocess
import sys

import jsonschema
import pytest
from mcp import Client, MCPError, StdioServerParameters

from waiting import wait_until_asleep

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.normpath(os.path.join(HERE, "..", ".."))
CRUCIBLE = os.path.join(ROOT, ".build", "debug", "crucible")
DIRECTORY_SERVER = f"{sys.executable} {os.path.join(HERE, 'fixtures', 'directory_server.py')}"

BAD_VIEW = "from tdom import html, Element\n\ndef card_view(name: str) -> Element:\n    return html(f\"<p>{name}</p>\")\n"
GOOD_VIEW = ("from tdom import html, Element\nfrom app.views import view\n\n@view\n"
             "def card_view(name: str) -> Element:\n    return html(t\"<p>{name}</p>\")\n")


@contextlib.asynccontextmanager
async def crucible_mcp(*args, cwd):
    # The whole environment (the corpus path the test run chose), and the SDK for the second server.
    env = dict(os.environ, PYTHONPATH=os.path.join(ROOT, ".crucible", "tools"))
    params = StdioServerParameters(command=CRUCIBLE, args=["mcp", *args], cwd=str(cwd), env=env)
    async with Client(params) as client:
        yield client


def run(coroutine):
    return asyncio.run(asyncio.wait_for(coroutine, timeout=240))


def conforms(result, tool):
    """The structured result fits the tool's outputSchema (the client checks too; this says where)."""
    jsonschema.validate(result.structured_content, tool.output_schema)
    # MCP asks for the same JSON in a text block, for clients that read only text.
    assert json.loads(result.content[-1].text) == result.structured_content
    return result.structured_content


def test_lists_its_tools_with_input_and_output_schemas_and_the_python_api(repo):
    async def scenario():
        async with crucible_mcp("--workspace", str(repo), cwd=repo) as client:
            tools = {tool.name: tool for tool in (await client.list_tools()).tools}
            # No model: no generate_artifact; the test run records a corpus, so feedback is offered.
            assert set(tools) == {"run_python", "close_session", "validate_code", "describe_tools", "feedback"}
            for tool in tools.values():
                jsonschema.Draft202012Validator.check_schema(tool.input_schema)
                jsonschema.Draft202012Validator.check_schema(tool.output_schema)
                assert tool.input_schema["type"] == "object" and tool.output_schema["type"] == "object"
            # The model reads the typed API of the tools it may call in run_python's description.
            description = tools["run_python"].description
            assert "def git_log(" in description and "class GitLogResult(" in description and "ToolError" in description
            # ... and which Python, which packages, and that files under /output come back.
            assert description.startswith("Run Python 3.11 code") and "Only the standard library can be imported." in description
            assert "under /output come back" in description
            assert "view" in tools["validate_code"].input_schema["properties"]["kind"]["enum"]
            described = conforms(await client.call_tool("describe_tools", {}), tools["describe_tools"])
            assert "def git_log(" in described["python_api"] and described["python_api"] in described["prompt"]
            assert {"read_file", "git_status", "git_log", "ruff_check", "pytest_run"} <= {t["name"] for t in described["tools"]}

    run(scenario())


def test_run_python_calls_the_standard_tools_in_a_real_git_repository(repo):
    code = (
        "log = git_log()\n"
        "status = git_status()\n"
        "source = read_file('app.py')\n"
        "print('commits:', len(log.commits))\n"
        "{'subjects': [c.subject for c in log.commits], 'first_author': log.commits[-1].author,\n"
        " 'email': log.commits[0].email, 'changed': [f.file for f in status.files],\n"
        " 'imports_os': 'import os' in source.content}\n"
    )

    (repo / "notes.txt").write_text("uncommitted\n")

    async def scenario():
        async with crucible_mcp("--workspace", str(repo), cwd=repo) as client:
            tools = {tool.name: tool for tool in (await client.list_tools()).tools}
            result = await client.call_tool("run_python", {"code": code, "trace": True})
            assert not result.is_error, result.content[0].text
            out = conforms(result, tools["run_python"])
            assert out["ok"] and out["outcome"] == "ok" and "error" not in out and out["tool_calls"] == 3
            assert out["value"] == {"subjects": ["Second", "First"], "first_author": "Ada",
                                    "email": "grace@example.com", "changed": ["notes.txt"], "imports_os": True}
            assert out["stdout"] == "commits: 2\n"
            calls = out["trace"]["tool_calls"]
            assert [c["tool"] for c in calls] == ["git_log", "git_status", "read_file"]
            assert all(c["outcome"] == "ok" and c["result_bytes"] > 0 for c in calls)
            reads = {(r["tool"], r["path"]) for r in out["trace"]["field_reads"]}
            assert ("git_log", "commits") in reads and ("read_file", "content") in reads
            assert any(tool == "git_log" and path.endswith("subject") for tool, path in reads)

    run(scenario())


def test_model_errors_are_tool_results_and_protocol_errors_are_protocol_errors(repo):
    async def scenario():
        async with crucible_mcp("--workspace", str(repo), cwd=repo) as client:
            await client.list_tools()
            # An exception in the code: a tool result with isError, feedback naming the line and the tool to call again.
            # Plain text only (pydantic-ai would turn structured content into escaped JSON for the model).
            failed = await client.call_tool("run_python", {"code": "x = 1\ny = x / 0\n"})
            assert failed.is_error and failed.structured_content is None and len(failed.content) == 1
            feedback = failed.content[0].text
            assert 'line 2' in feedback and "ZeroDivisionError" in feedback and "call run_python again" in feedback
            assert "y = x / 0" in feedback
            # A syntax error says where.
            syntax = await client.call_tool("run_python", {"code": "def f(:\n    pass\n"})
            assert syntax.is_error and "line 1" in syntax.content[0].text and "SyntaxError" in syntax.content[0].text
            # Arguments that break the input schema: the model's to fix, so a tool result too.
            missing = await client.call_tool("run_python", {"cod": "1"})
            assert missing.is_error and "arguments" in missing.content[0].text and "code" in missing.content[0].text
            unknown_kind = await client.call_tool("validate_code", {"code": "x = 1\n", "kind": "viewz"})
            assert unknown_kind.is_error and "viewz" in unknown_kind.content[0].text
            # An unknown tool is a protocol error (JSON-RPC invalid params), not a tool result.
            with pytest.raises(MCPError) as raised:
                await client.call_tool("no_such_tool", {})
            assert raised.value.code == -32602 and "no_such_tool" in raised.value.message
            # And the server is still fine.
            ok = await client.call_tool("run_python", {"code": "6 * 7"})
            assert not ok.is_error and ok.structured_content["value"] == 42

    run(scenario())


def test_calls_run_concurrently(repo):
    """A slow call does not hold up a quick one sent after it (each request is its own task,
    and sandbox work runs off the protocol's threads)."""
    finished = []

    async def call(client, name, code):
        result = await client.call_tool("run_python", {"code": code})
        finished.append(name)
        return result

    async def scenario():
        async with crucible_mcp("--workspace", str(repo), cwd=repo) as client:
            await client.list_tools()
            slow = asyncio.create_task(call(client, "slow", "import time\ntime.sleep(2)\n'slow'"))
            # The quick calls go out once the slow one is running in its worker.
            await asyncio.to_thread(wait_until_asleep, 1, otherwise=0.2)
            quick = [asyncio.create_task(call(client, "quick%d" % i, "git_status().clean")) for i in range(3)]
            results = await asyncio.gather(slow, *quick)
            assert [r.structured_content["value"] for r in results] == ["slow", False, False, False]
            assert finished[-1] == "slow", finished

    (repo / "untracked.txt").write_text("x\n")
    run(scenario())


def test_a_session_is_a_handle_the_server_makes_and_keeps_state_until_restarted(repo):
    async def scenario():
        async with crucible_mcp("--workspace", str(repo), cwd=repo) as client:
            await client.list_tools()
            first = await client.call_tool("run_python", {"code": "import math\ntotal = 40", "session": "new"})
            assert not first.is_error
            handle = first.structured_content["session"]
            assert handle.startswith("s-") and len(handle) == 34
            second = await client.call_tool("run_python", {"code": "total += 2\ntotal", "session": handle})
            assert second.structured_content["value"] == 42 and second.structured_content["session"] == handle
            # Another agent run that guesses a name gets no one's variables.
            guessed = await client.call_tool("run_python", {"code": "total", "session": "main"})
            assert guessed.is_error and "no open session" in guessed.content[0].text
            other = await client.call_tool("run_python", {"code": "total", "session": "new"})
            assert other.is_error and "NameError" in other.content[0].text
            fresh = await client.call_tool("run_python", {"code": "total"})
            assert fresh.is_error and "NameError" in fresh.content[0].text
            restarted = await client.call_tool("run_python", {"code": "total", "session": handle, "restart": True})
            assert restarted.is_error and "NameError" in restarted.content[0].text
            closed = await client.call_tool("close_session", {"session": handle})
            assert closed.structured_content == {"closed": True, "session": handle}
            after = await client.call_tool("run_python", {"code": "1", "session": handle})
            assert after.is_error and "no open session" in after.content[0].text

    run(scenario())


def test_a_bad_view_then_its_fix_are_one_error_to_fix_pair_in_the_corpus(tmp_path):
    corpus = tmp_path / "corpus.sqlite"

    async def scenario():
        async with crucible_mcp("--corpus", str(corpus), cwd=tmp_path) as client:
            tools = {tool.name: tool for tool in (await client.list_tools()).tools}
            bad = await client.call_tool("validate_code", {"code": BAD_VIEW, "kind": "view"})
            assert bad.is_error and bad.structured_content is None  # feedback as plain text
            text = bad.content[0].text
            assert "VIEW001" in text and "VIEW006" in text and "line 4" in text and 'html(f"<p>{name}</p>")' in text and "fix:" in text
            assert "call validate_code again" in text
            good = await client.call_tool("validate_code", {"code": GOOD_VIEW, "kind": "view"})
            assert not good.is_error
            assert conforms(good, tools["validate_code"])["passed"]
            # Another artifact in between and after does not join the view's chain.
            await client.call_tool("run_python", {"code": "1 +"})
            await client.call_tool("run_python", {"code": "1 + 1"})

    run(scenario())
    with sqlite3.connect(corpus) as db:
        sessions = db.execute("SELECT id, source, kind, attempts, outcome FROM sessions ORDER BY rowid").fetchall()
        attempts = db.execute("SELECT session_id, attempt, passed FROM attempts ORDER BY id").fetchall()
    assert [(s[1], s[2], s[3], s[4]) for s in sessions] == [("mcp", "view", 2, "passed"), ("mcp", "", 2, "passed")]
    assert [a[1:] for a in attempts] == [(1, 0), (2, 1), (1, 0), (2, 1)]
    out = tmp_path / "dpo"
    subprocess.run([CRUCIBLE, "corpus", "export", "--corpus", str(corpus), "--format", "trl-dpo", "--out", str(out)],
                   check=True, capture_output=True, cwd=tmp_path, timeout=300)
    pairs = [json.loads(line) for split in ("train", "valid", "test") for line in (out / (split + ".jsonl")).open()]
    views = [p for p in pairs if "card_view" in p["chosen"][0]["content"]]
    assert len(views) == 1
    assert 'html(f"' in views[0]["rejected"][0]["content"] and 'html(t"' in views[0]["chosen"][0]["content"]


def test_a_second_mcp_servers_tools_are_typed_python_functions_in_the_sandbox(tmp_path):
    code = (
        "ada = get_user(user_id=1)\n"
        "try:\n"
        "    get_user(user_id=99)\n"
        "    missing = None\n"
        "except ToolError as error:\n"
        "    missing = str(error)\n"
        "(type(ada).__name__, ada.name, ada.address.city, count_users(country='US'), count_users(), missing)\n"
    )

    async def scenario():
        async with crucible_mcp("--no-standard-tools", "--tools-from", DIRECTORY_SERVER, cwd=tmp_path) as client:
            tools = {tool.name: tool for tool in (await client.list_tools()).tools}
            description = tools["run_python"].description
            # `get-user` became `get_user`; its result model (a $ref into $defs) became typed classes.
            assert "def get_user(user_id: int)" in description
            # A function returning a plain int is served wrapped as {"result": ...}; the sandbox gets the int.
            assert "def count_users(country: str | None = None) -> int:" in description
            assert "address: " in description and "city: str" in description
            result = await client.call_tool("run_python", {"code": code, "trace": True})
            assert not result.is_error, result.content[0].text
            out = conforms(result, tools["run_python"])
            name, user, city, in_us, everyone, missing = out["value"]
            assert (user, city, in_us, everyone) == ("Ada", "London", 2, 3)
            assert name != "dict"  # a typed object with attribute access, not a plain dict
            assert "no user with id 99" in missing
            calls = out["trace"]["tool_calls"]
            assert [(c["tool"], c["arguments"], c["outcome"]) for c in calls] == [
                ("get_user", {"user_id": 1}, "ok"), ("get_user", {"user_id": 99}, "tool_error"),
                ("count_users", {"country": "US"}, "ok"), ("count_users", {}, "ok")]
            # Arguments are checked against the other server's inputSchema before they leave the sandbox.
            wrong = await client.call_tool("run_python", {"code": "get_user(user_id='one')"})
            assert wrong.is_error and "user_id" in wrong.content[0].text
            # It started with no signal blocked, so SIGTERM can stop it (a child spawned from one of
            # Swift's worker threads inherits a mask that blocks nearly everything). Ignored
            # signals are not checked: CPython ignores SIGPIPE itself.
            state = await client.call_tool("run_python", {"code": "s = signal_state()\n(s.blocked, s.ignored)"})
            assert not state.is_error, state.content[0].text
            blocked, ignored = (int(mask, 16) for mask in state.structured_content["value"])
            assert blocked == 0, (hex(blocked), hex(ignored))
            # The other server dies mid-session: its calls fail at once with why, and Crucible goes on.
            crashed = await client.call_tool("run_python", {"code": "crash_server()"})
            assert crashed.is_error and "exited with status 3" in crashed.content[0].text, crashed.content[0].text
            after = await client.call_tool("run_python", {"code": "get_user(user_id=1)"})
            assert after.is_error and "directory_server.py` exited with status 3" in after.content[0].text
            still = await client.call_tool("run_python", {"code": "sum(range(4))"})
            assert not still.is_error and still.structured_content["value"] == 6

    run(scenario())


def test_a_tools_from_server_that_cannot_start_is_a_usage_error(tmp_path):
    process = subprocess.run([CRUCIBLE, "mcp", "--tools-from", "/nonexistent/mcp-server --flag"],
                             input="", capture_output=True, text=True, cwd=tmp_path, timeout=120)
    assert process.returncode == 2, process.stderr
    assert "/nonexistent/mcp-server" in process.stderr and process.stdout == ""


def test_a_tools_from_server_that_never_answers_is_stopped_and_named(tmp_path):
    process = subprocess.run([CRUCIBLE, "mcp", "--tools-from", "sleep 613", "--tools-from-timeout", "2"],
                             input="", capture_output=True, text=True, cwd=tmp_path, timeout=120)
    assert process.returncode == 2, process.stderr
    assert "sleep 613" in process.stderr and "did not finish within 2 s" in process.stderr
    assert subprocess.run(["pgrep", "-f", "^sleep 613$"], capture_output=True).returncode == 1  # it was stopped


def test_stdout_carries_only_protocol_whatever_the_code_prints(repo):
    """Speaks MCP by hand so every byte on stdout is seen: each line must be one JSON-RPC 2.0 message."""
    noisy = (
        "import os, sys\n"
        "print('plain print')\n"
        "sys.stdout.write('written\\n'); sys.stdout.flush()\n"
        "for fd in (1, 2):\n"
        "    try:\n"
        "        os.write(fd, b'raw fd %d\\n' % fd)\n"
        "    except OSError as error:  # a worker keeps no descriptor 1 or 2 of the server's\n"
        "        print('fd', fd, 'errno', error.errno, file=sys.stderr)\n"
        "print('to stderr', file=sys.stderr)\n"
        "try:\n"
        "    sys.__stdout__.write('dunder stdout\\n'); sys.__stdout__.flush()\n"
        "except OSError as error:\n"
        "    print('__stdout__ errno', error.errno, file=sys.stderr)\n"
        "for i in range(2000): print('x' * 100)\n"
        "'done'\n"
    )
    messages = [
        "not json at all",
        {"jsonrpc": "2.0", "id": 1, "method": "initialize",
         "params": {"protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "raw", "version": "0"}}},
        {"jsonrpc": "2.0", "method": "notifications/initialized"},
        {"jsonrpc": "2.0", "id": 2, "method": "tools/call", "params": {"name": "run_python", "arguments": {"code": noisy}}},
        {"jsonrpc": "2.0", "id": 3, "method": "tools/call",
         "params": {"name": "run_python", "arguments": {"code": "print('in a session')", "session": "new"}}},
        {"jsonrpc": "2.0", "id": 4, "method": "tools/call", "params": {"name": "validate_code", "arguments": {"code": "print(1)\n"}}},
    ]
    process = subprocess.Popen([CRUCIBLE, "mcp", "--workspace", str(repo)], stdin=subprocess.PIPE,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=repo)
    answers = {}
    for message in messages:
        process.stdin.write((message if isinstance(message, str) else json.dumps(message)) + "\n")
        process.stdin.flush()
        while isinstance(message, str) or "id" in message and message["id"] not in answers:
            line = process.stdout.readline()
            assert line, process.stderr.read()
            parsed = json.loads(line)  # a stray byte on stdout fails here
            assert parsed["jsonrpc"] == "2.0" and ("result" in parsed or "error" in parsed or "method" in parsed)
            if "id" in parsed:
                answers[parsed["id"]] = parsed
            if isinstance(message, str):
                break
    # JSON-RPC 2.0: a line that is not JSON gets a parse error whose id is null.
    assert answers[None]["error"]["code"] == -32700
    # A request sent just before the client closes its end is still answered.
    last = {"jsonrpc": "2.0", "id": 5, "method": "tools/call",
            "params": {"name": "run_python", "arguments": {"code": "import time\ntime.sleep(0.3)\n'last'"}}}
    rest, stderr = process.communicate(json.dumps(last) + "\n", timeout=60)  # then closes stdin: the server ends
    assert process.returncode == 0
    for line in rest.splitlines():
        parsed = json.loads(line)
        assert parsed["jsonrpc"] == "2.0"
        answers[parsed.get("id")] = parsed
    assert answers[5]["result"]["structuredContent"]["value"] == "last"
    noisy_out = answers[2]["result"]["structuredContent"]
    assert noisy_out["value"] == "done"
    assert noisy_out["stdout"].startswith("plain print\nwritten\nxxx")
    assert noisy_out["stdout_truncated_bytes"] == 0 and noisy_out["stdout"].count("x" * 100) == 2000
    assert "fd 1 errno 9" in noisy_out["stderr"] and "fd 2 errno 9" in noisy_out["stderr"]
    assert "to stderr" in noisy_out["stderr"] and "__stdout__ errno 9" in noisy_out["stderr"]
    assert answers[3]["result"]["structuredContent"]["stdout"] == "in a session\n"
    assert answers[4]["result"]["structuredContent"]["passed"] is True
    assert "plain print" not in stderr  # the sandbox's output is captured, not leaked to the server's stderr


def test_generate_artifact_runs_the_retry_loop_with_the_configured_model(tmp_path):
    replies = ["```python\n" + BAD_VIEW + "```", "```python\n" + GOOD_VIEW + "```"]
    (tmp_path / "replies.jsonl").write_text(json.dumps({"task": "A card view that shows a name.", "replies": replies}) + "\n")
    corpus = tmp_path / "corpus.sqlite"

    async def scenario():
        async with crucible_mcp("--scripted", "replies.jsonl", "--corpus", str(corpus), cwd=tmp_path) as client:
            tools = {tool.name: tool for tool in (await client.list_tools()).tools}
            assert "generate_artifact" in tools
            result = await client.call_tool("generate_artifact", {"task": "A card view that shows a name.", "kind": "view"})
            assert not result.is_error, result.content[0].text
            out = conforms(result, tools["generate_artifact"])
            assert out["passed"] and out["kind"] == "view" and "@view" in out["code"]
            assert [a["passed"] for a in out["attempts"]] == [False, True]
            assert "VIEW006" in out["attempts"][0]["feedback"]

    run(scenario())
    with sqlite3.connect(corpus) as db:
        assert db.execute("SELECT source, kind, attempts, outcome FROM sessions").fetchall() == [("mcp", "view", 2, "passed")]
