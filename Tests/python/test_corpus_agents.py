"""The corpus as agent training needs it (issue 21): tool analytics from real traces (calls,
outcomes, latency, per-field read and null rates, tool sequences, data flows tracked by
provenance in the worker and checked by the host), feedback on attempts through `serve`
(Python client) and `mcp` (the official MCP client), and the workspace's git state on each
attempt. Every figure is read back with `crucible corpus stats`, as a user would."""

import asyncio
import json
import os
import re
import sqlite3
import subprocess
import sys

import jsonschema
from mcp import Client, StdioServerParameters

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.normpath(os.path.join(HERE, "..", ".."))
CRUCIBLE = os.path.join(ROOT, ".build", "debug", "crucible")
sys.path.insert(0, os.path.join(ROOT, "Clients", "python"))

from crucible_client import Crucible, CrucibleError, Tool  # noqa: E402
from test_corpus import _chromium, _dom, _screenshot  # noqa: E402  (headless Chromium, as the report test uses it)
import training_formats  # noqa: E402

# A directory service whose `email` is promised by its contract and never filled: the bug
# the analytics exist to find (the `git_log` author/date bug, in the caller's own tool).
USERS = {"u1": {"id": "u1", "name": "Ada Lovelace", "email": None},
         "u2": {"id": "u2", "name": "Grace Hopper", "email": None}}
USER_SCHEMA = {"type": "object", "required": ["id", "name"],
               "properties": {"id": {"type": "string"}, "name": {"type": "string"}, "email": {"type": ["string", "null"]}}}
ORDERS_SCHEMA = {"type": "array", "items": {"type": "object", "properties": {"order": {"type": "string"}, "total": {"type": "number"}}}}
ordered_for = []


def get_user(user_id):
    return USERS[user_id]


def find_orders(customer):
    ordered_for.append(customer)
    return [{"order": "o-1", "total": 12.5}] if customer in ("Ada Lovelace", "Grace Hopper") else []


TOOLS = [
    Tool(get_user, input_schema={"type": "object", "properties": {"user_id": {"type": "string"}}, "required": ["user_id"]},
         output_schema=USER_SCHEMA),
    Tool(find_orders, input_schema={"type": "object", "properties": {"customer": {"type": "string"}}, "required": ["customer"]},
         output_schema=ORDERS_SCHEMA),
]

# What agents write: look a user up, read fields, pass one on to the next tool.
AGENT_CODE = "u = get_user(%r)\ncontact = u.email or 'none'\nfind_orders(u.name)[0].total\n"


def stats(corpus, *args):
    out = subprocess.run([CRUCIBLE, "corpus", "stats", "--corpus", str(corpus), *args], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout) if "--json" in args else out.stdout


def serve(corpus, cwd):
    return Crucible([CRUCIBLE, "serve", "--no-standard-tools", "--corpus", str(corpus)], cwd=str(cwd),
                    stderr=subprocess.DEVNULL)


def test_tool_analytics_find_the_always_null_field_the_sequence_and_the_data_flow(tmp_path):
    corpus = tmp_path / "corpus.sqlite"
    with serve(corpus, tmp_path) as crucible:
        session = crucible.open_session(TOOLS)
        for number in range(6):
            result = session.execute(AGENT_CODE % ("u1" if number % 2 == 0 else "u2"), corpus={"session": "task-%d" % number})
            assert result["outcome"] == "ok" and result["value"] == 12.5
            # The host checked the flow the worker reported against what it sent and received.
            assert result["trace"]["data_flows"] == [{"from_call": 0, "from_tool": "get_user", "from_path": "name",
                                                      "to_call": 1, "to_tool": "find_orders", "argument": "customer"}]
        # A failing call counts as such for its tool.
        failed = session.execute("get_user(7)", corpus={"session": "task-bad"})
        assert failed["outcome"] == "exception"

    figures = stats(corpus, "--json")
    tools = figures["tools"]
    assert tools["get_user"]["calls"] == 7 and tools["get_user"]["outcomes"] == {"ok": 6, "argument_error": 1}
    assert tools["find_orders"]["calls"] == 6 and tools["find_orders"]["outcomes"] == {"ok": 6}
    assert tools["get_user"]["latency_ms"]["p95"] >= tools["get_user"]["latency_ms"]["p50"] > 0
    assert tools["find_orders"]["result_bytes"]["p50"] == len(json.dumps([{"order": "o-1", "total": 12.5}], separators=(",", ":")))
    email = tools["get_user"]["fields"]["email"]
    assert email["null_rate"] == 1.0 and email["likely_bug"] and email["read_rate"] == 1.0
    name = tools["get_user"]["fields"]["name"]
    assert name["null_rate"] == 0.0 and not name["likely_bug"] and name["read_rate"] == 1.0
    assert tools["get_user"]["fields"]["id"]["read_rate"] == 0.0  # returned, never read
    assert tools["find_orders"]["fields"]["[].total"]["reads"] == 6
    assert figures["likely_tool_bugs"] == [{"tool": "get_user", "field": "email", "calls": 6, "null_rate": 1.0}]
    assert figures["tool_sequences"] == [{"from": "get_user", "to": "find_orders", "count": 6}]
    assert [(f["from"], f["to"], f["count"]) for f in figures["data_flows"]] == [("get_user.name", "find_orders(customer)", 6)]
    text = stats(corpus)
    assert "LIKELY TOOL BUG: get_user.email was null in all 6 results of 6 calls, and code read it 6 times" in text
    assert "get_user -> find_orders (6)" in text and "get_user.name -> find_orders(customer) (6)" in text

    # The report shows the same, as a person reads it: rendered in headless Chromium.
    report = tmp_path / "report.html"
    out = subprocess.run([CRUCIBLE, "corpus", "report", "--corpus", str(corpus), "--out", str(report)],
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    chromium = _chromium()
    dom = _dom(chromium, report)
    marks = dict(re.findall(r'data-chart="(\w+)"[^>]*data-marks="(\d+)"', dom))
    assert marks["tool_calls"] == "2"  # a bar per tool
    tools = _rows(dom, "tools")
    assert tools[0][:5] == ["get_user", "7", "6", "argument_error 1", "14.3%"] and tools[1][:3] == ["find_orders", "6", "6"]
    fields = {(row[0], row[1]): row[2:] for row in _rows(dom, "fields")}
    assert fields[("get_user", "email")] == ["6", "100.0%", "100.0%", "likely tool bug: always null"]
    assert fields[("get_user", "id")] == ["6", "0.0%", "0.0%", ""]
    assert _rows(dom, "sequences") == [["get_user", "find_orders", "6"]]
    assert _rows(dom, "flows") == [["get_user.name", "find_orders(customer)", "6"]]
    _screenshot(chromium, report, tmp_path / "report.png")


def _rows(dom, table_id):
    table = dom.split('<table id="%s">' % table_id, 1)[1].split("</table>", 1)[0]
    return [re.findall(r"<td>([^<]*)</td>", row) for row in re.findall(r"<tr[^>]*>(.*?)</tr>", table, re.DOTALL) if "<td>" in row]


def test_a_flow_is_provenance_not_equality_and_a_forged_flow_is_dropped(tmp_path):
    corpus = tmp_path / "corpus.sqlite"
    with serve(corpus, tmp_path) as crucible:
        session = crucible.open_session(TOOLS)
        # The same text typed as a literal is not a flow: the value did not come from the result.
        typed = session.execute("u = get_user('u1')\nu.name\nfind_orders('Ada Lovelace')")
        assert typed["outcome"] == "ok" and "data_flows" not in typed["trace"]
        # Code that writes a flow into the runtime's record, naming values that do not match:
        # the host compares with what it saw and keeps nothing.
        forged = session.execute(
            "import crucible_sandbox.tools as runtime\n"
            "u = get_user('u2')\nu.name\nfind_orders('somebody else')\n"
            "runtime._State.flows.append([0, 'name', 1, 'customer'])\n"
            "runtime._State.flows.append([0, 'id', 1, 'customer'])\n")
        assert forged["outcome"] == "ok" and "data_flows" not in forged["trace"]
        # Control: the same forged entry where the values do match is kept, so the host's
        # comparison is what dropped the ones above; and a real flow is found with no help.
        matching = session.execute(
            "import crucible_sandbox.tools as runtime\n"
            "get_user('u2')\nfind_orders('Grace Hopper')\n"
            "runtime._State.flows.append([0, 'name', 1, 'customer'])\n")
        assert [f["from_path"] for f in matching["trace"]["data_flows"]] == ["name"]
        real = session.execute("u = get_user('u2')\nfind_orders(u.name)")
        assert [f["from_path"] for f in real["trace"]["data_flows"]] == ["name"]


def test_feedback_through_serve_labels_attempts_and_an_edit_becomes_the_fix(tmp_path):
    corpus = tmp_path / "corpus.sqlite"
    with serve(corpus, tmp_path) as crucible:
        accepted = crucible.execute("sum(range(10))", corpus={"session": "a", "task": "sum to nine"})
        edited = crucible.execute("print('helo')", corpus={"session": "b", "task": "greet"})
        rejected = crucible.validate("x = 1\n", corpus={"session": "c", "task": "set x"})
        assert all(isinstance(r["attempt"], str) and len(r["attempt"]) == 36 for r in (accepted, edited, rejected))
        assert crucible.feedback(accepted["attempt"], "accepted") == {"attempt": accepted["attempt"], "verdict": "accepted"}
        answer = crucible.feedback(edited["attempt"], "edited", edited_code="print('hello')", note="typo")
        assert answer["recorded_fix"] is True
        crucible.feedback(rejected["attempt"], "rejected", note="wrong variable")
        for bad, expected in [
            ({"attempt": "no-such-id", "verdict": "accepted"}, "no attempt \"no-such-id\" in this corpus"),
            ({"attempt": accepted["attempt"], "verdict": "loved"}, "\"verdict\" must be one of: accepted, edited, rejected"),
            ({"attempt": accepted["attempt"], "verdict": "edited"}, "needs the edited code"),
            ({"attempt": accepted["attempt"], "verdict": "accepted", "edited_code": "x"}, "goes with \"verdict\": \"edited\" only"),
            ({"verdict": "accepted"}, "\"attempt\" must be the attempt id"),
        ]:
            try:
                crucible.request("feedback", bad)
            except CrucibleError as error:
                assert error.code == -32602 and expected in error.message, error.message
            else:
                raise AssertionError("feedback %r was accepted" % bad)
        assert crucible.execute("1", corpus=False).get("attempt") is None  # not recorded: nothing to name

    figures = stats(corpus, "--json")
    assert figures["feedback"] == {"accepted": 1, "edited": 1, "rejected": 1}
    overall = figures["overall"]
    # Accepted stays a positive; the edit is the fix of a pair; the rejection is a failure.
    assert overall["examples"] == {"positives": 2, "pairs": 1, "negatives": 2}
    assert {r["rule"] for r in overall["top_failed_rules"]} == {"feedback:edited", "feedback:rejected"}
    with sqlite3.connect(corpus) as db:
        rows = db.execute("SELECT a.code, a.passed, a.verdict, s.task FROM attempts a JOIN sessions s ON s.id = a.session_id "
                          "WHERE s.task = 'greet' ORDER BY a.attempt").fetchall()
        assert rows == [("print('helo')", 1, "edited", "greet"), ("print('hello')", 1, None, "greet")]
        notes = db.execute("SELECT verdict, note FROM feedback ORDER BY id").fetchall()
        assert notes == [("accepted", None), ("edited", "typo"), ("rejected", "wrong variable")]


def test_each_attempt_records_the_workspace_git_state(repo, tmp_path_factory):
    corpus = tmp_path_factory.mktemp("corpus") / "corpus.sqlite"
    head = subprocess.run(["git", "-C", str(repo), "rev-parse", "HEAD"], capture_output=True, text=True, check=True).stdout.strip()
    with serve(corpus, repo) as crucible:
        crucible.execute("1 + 1", corpus={"session": "clean"})
    (repo / "app.py").write_text("changed = True\n")
    with serve(corpus, repo) as crucible:
        crucible.execute("2 + 2", corpus={"session": "dirty"})
    with sqlite3.connect(corpus) as db:
        records = [json.loads(r) for (r,) in db.execute("SELECT record FROM attempts ORDER BY id")]
    assert [r["workspace"] for r in records] == [
        {"git": True, "commit": head, "branch": "main", "dirty": False},
        {"git": True, "commit": head, "branch": "main", "dirty": True},
    ]
    assert records[0]["environment"]["python"].startswith("3.")  # the interpreter, beside it
    with serve(corpus, tmp_path_factory.mktemp("plain")) as crucible:  # not a repository
        crucible.execute("3", corpus={"session": "nogit"})
    with sqlite3.connect(corpus) as db:
        (last,) = db.execute("SELECT record FROM attempts ORDER BY id DESC LIMIT 1").fetchone()
    assert json.loads(last)["workspace"] == {"git": False}


def test_feedback_through_the_official_mcp_client(tmp_path):
    corpus = tmp_path / "corpus.sqlite"

    async def scenario():
        env = dict(os.environ, PYTHONPATH=os.path.join(ROOT, ".crucible", "tools"))
        params = StdioServerParameters(command=CRUCIBLE, args=["mcp", "--corpus", str(corpus), "--workspace", str(tmp_path)],
                                       cwd=str(tmp_path), env=env)
        async with Client(params) as client:
            tools = {tool.name: tool for tool in (await client.list_tools()).tools}
            # An agent's attempts at one artifact: a failure, then the fix.
            failed = await client.call_tool("run_python", {"code": "x = 2\nx * undefined", "artifact": "the answer"})
            assert failed.is_error and "NameError" in failed.content[0].text
            ran = await client.call_tool("run_python", {"code": "x = 2\nx * 21", "artifact": "the answer"})
            jsonschema.validate(ran.structured_content, tools["run_python"].output_schema)
            assert ran.structured_content["value"] == 42
            attempt = ran.structured_content["attempt"]
            answer = await client.call_tool("feedback", {"attempt": attempt, "verdict": "edited", "edited_code": "42"})
            assert not answer.is_error
            jsonschema.validate(answer.structured_content, tools["feedback"].output_schema)
            assert answer.structured_content == {"attempt": attempt, "verdict": "edited", "recorded_fix": True}
            unknown = await client.call_tool("feedback", {"attempt": "nope", "verdict": "accepted"})
            assert unknown.is_error and "no attempt \"nope\"" in unknown.content[0].text

    asyncio.run(asyncio.wait_for(scenario(), timeout=240))
    figures = stats(corpus, "--json")
    # The failure pairs with the passing call; the user's edit then follows the passing call as its fix.
    assert figures["feedback"]["edited"] == 1 and figures["overall"]["examples"]["pairs"] == 2
    # The MCP session as a tool-calling conversation, checked by OpenAI's documented rules.
    out = tmp_path / "tools"
    export = subprocess.run([CRUCIBLE, "corpus", "export", "--corpus", str(corpus), "--format", "openai-tools", "--out", str(out)],
                            capture_output=True, text=True, timeout=120)
    assert export.returncode == 0, export.stderr
    training_formats.check_openai_tools(out)
    rows = [json.loads(line) for split in ("train", "valid", "test") for line in (out / (split + ".jsonl")).open()]
    codes = [[json.loads(m["tool_calls"][0]["function"]["arguments"])["code"] for m in r["messages"] if m["role"] == "assistant"]
             for r in rows]
    # One conversation: the failed call, the call the user then edited, ending on the user's code.
    assert codes == [["x = 2\nx * undefined", "x = 2\nx * 21", "42"]], codes
