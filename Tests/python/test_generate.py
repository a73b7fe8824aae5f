"""`crucible generate` end to end: the retry loop with the scripted model and with the
OpenAI-compatible client against a real HTTP server on loopback (started here), speaking
the chat-completions wire protocol, streaming and not, with the failures real servers have."""

import json
import os
import select
import socket
import subprocess
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from waiting import wait_until

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.normpath(os.path.join(HERE, "..", ".."))
CRUCIBLE = os.path.join(ROOT, ".build", "debug", "crucible")

BAD_VIEW = "```python\ndef profile_view(name: str) -> Element:\n    return html(f'<p>{name}</p>')\n```"
GOOD_VIEW = "```python\n@view\ndef profile_view(name: str) -> Element:\n    return html(t'<p>{name}</p>')\n```"


def generate(*args, cwd):
    return subprocess.run([CRUCIBLE, "generate", *args], capture_output=True, text=True, cwd=cwd, timeout=300)


def records(path):
    with open(path) as handle:
        return [json.loads(line) for line in handle]


def write_script(path, scripts):
    with open(path, "w") as handle:
        for task, replies in scripts:
            handle.write(json.dumps({"task": task, "replies": replies}) + "\n")


class ModelServer:
    """An OpenAI-compatible chat-completions server on 127.0.0.1. Each request takes the next
    behavior from `plan` (the last one repeats) and is recorded with its body."""

    def __init__(self, plan):
        self.plan, self.requests = list(plan), []
        owner = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def do_POST(self):
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                owner.requests.append({"path": self.path, "body": body, "auth": self.headers.get("Authorization")})
                behavior = owner.plan.pop(0) if len(owner.plan) > 1 else owner.plan[0]
                behavior(self, body)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = "http://127.0.0.1:%d/v1" % self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


def send(handler, status, payload, content_type="application/json", headers=()):
    data = payload.encode() if isinstance(payload, str) else json.dumps(payload).encode()
    handler.send_response(status)
    handler.send_header("Content-Type", content_type)
    handler.send_header("Content-Length", str(len(data)))
    for name, value in headers:
        handler.send_header(name, value)
    handler.end_headers()
    handler.wfile.write(data)


def completion(content, usage=True, reasoning_field=None):
    def behave(handler, body):
        message = {"role": "assistant", "content": content}
        if reasoning_field:
            message[reasoning_field] = "thinking about views"
        payload = {"id": "x", "model": body["model"], "choices": [{"index": 0, "message": message, "finish_reason": "stop"}]}
        if usage:
            payload["usage"] = {"prompt_tokens": 11, "completion_tokens": 7, "total_tokens": 18}
        else:
            payload["usage"] = None
        send(handler, 200, payload)
    return behave


def streamed(content, usage=True, drop_after=None):
    def behave(handler, body):
        pieces = [content[i:i + 9] for i in range(0, len(content), 9)]
        events = [{"choices": [{"index": 0, "delta": {"role": "assistant", "content": ""}}], "model": body["model"]}]
        events += [{"choices": [{"index": 0, "delta": {"content": p}}]} for p in pieces]
        events.append({"choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]})
        if usage:
            events.append({"choices": [], "usage": {"prompt_tokens": 20, "completion_tokens": 9, "total_tokens": 29}})
        lines = ["data: %s\n\n" % json.dumps(e) for e in events] + ["data: [DONE]\n\n"]
        if drop_after is not None:
            lines = lines[:drop_after]
        data = "".join(lines).encode()
        handler.send_response(200)
        handler.send_header("Content-Type", "text/event-stream")
        if drop_after is None:
            handler.send_header("Content-Length", str(len(data)))
        else:
            handler.send_header("Content-Length", str(len(data) + 500))  # promises more, then hangs up
        handler.end_headers()
        handler.wfile.write(data)
        handler.wfile.flush()
        if drop_after is not None:
            handler.connection.shutdown(socket.SHUT_RDWR)
    return behave


def held_stream(content, release):
    """Streams the first pieces of `content`, then holds the rest until `release` is set (or a
    minute passes), then ends the reply by closing the connection."""
    def behave(handler, body):
        pieces = [content[i:i + 9] for i in range(0, len(content), 9)]
        handler.send_response(200)
        handler.send_header("Content-Type", "text/event-stream")
        handler.send_header("Connection", "close")
        handler.end_headers()
        handler.close_connection = True
        for index, piece in enumerate(pieces):
            if index == 2:
                release.wait(60)
            handler.wfile.write(b"data: %s\n\n" % json.dumps({"choices": [{"index": 0, "delta": {"content": piece}}]}).encode())
            handler.wfile.flush()
        handler.wfile.write(b'data: {"choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]}\n\ndata: [DONE]\n\n')
        handler.wfile.flush()
    return behave


def status(code, headers=()):
    def behave(handler, body):
        send(handler, code, {"error": {"message": "status %d" % code}}, headers=headers)
    return behave


def malformed(handler, body):
    send(handler, 200, "{this is not json")


@pytest.fixture
def world_readable_tmp():
    import pathlib
    import shutil
    import tempfile
    folder = tempfile.mkdtemp(prefix="crucible-generate-")
    os.chmod(folder, 0o755)
    yield pathlib.Path(folder)
    shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture
def server_factory():
    servers = []

    def make(plan):
        server = ModelServer(plan)
        servers.append(server)
        return server

    yield make
    for server in servers:
        server.close()


def test_scripted_view_is_fixed_on_the_second_attempt_and_every_field_is_recorded(tmp_path):
    write_script(tmp_path / "replies.jsonl", [("Write a profile view.", [BAD_VIEW, GOOD_VIEW])])
    process = generate("--kind", "view", "--task", "Write a profile view.", "--scripted", "replies.jsonl",
                       "--records", "out.jsonl", "--temperature", "0.2", cwd=tmp_path)
    assert process.returncode == 0, process.stderr
    assert "passed within budget: 1" in process.stdout
    first, second = records(tmp_path / "out.jsonl")
    assert [first["passed"], second["passed"]] == [False, True]
    assert {d["rule"] for d in first["diagnostics"]} == {"VIEW001", "VIEW006"}
    assert first["runtime"]["status"] == "not_run"
    assert second["runtime"]["status"] == "skipped" and second["runtime"]["reason"]
    # The view kind's runtime check needs 3.14; on the system's Python it is recorded as not run.
    assert second["runtime"]["check"]["outcome"] == "not_run" and "--python 3.14" in second["runtime"]["check"]["reason"]
    assert "3.11" in second["runtime"]["reason"]
    # The second request carried the first reply and the feedback built from the findings.
    roles = [m["role"] for m in second["messages"]]
    assert roles == ["system", "user", "assistant", "user"]
    feedback = second["messages"][-1]["content"]
    assert "VIEW006" in feedback and "line 2" in feedback and "html(f'<p>{name}</p>')" in feedback
    assert "attempt 1 of 4; 3 left" in feedback
    for record in (first, second):
        for field in ("session_id", "task_id", "task", "kind", "attempt", "model", "parameters", "messages",
                      "reply", "code", "extraction", "diagnostics", "runtime", "latency_ms", "overhead_ms",
                      "usage", "started_at"):
            assert field in record, field
        assert record["parameters"] == {"temperature": 0.2}
        assert record["session_id"] == first["session_id"]


def test_script_runs_with_the_tools_and_must_meet_the_expectation(tmp_path):
    (tmp_path / "numbers.txt").write_text("3\n4\n5\n")
    task = {"id": "sum", "task": "Sum the numbers in numbers.txt.", "expect": {"value": 12}}
    (tmp_path / "tasks.jsonl").write_text(json.dumps(task) + "\n")
    wrong = "```python\nlines = read_file('numbers.txt').content.split()\nlen(lines)\n```"
    crash = "```python\nint(read_file('numbers.txt').text)\n```"
    right = "```python\nsum(int(n) for n in read_file('numbers.txt').content.split())\n```"
    write_script(tmp_path / "replies.jsonl", [(task["task"], [wrong, crash, right])])
    process = generate("--kind", "script", "--tasks", "tasks.jsonl", "--scripted", "replies.jsonl",
                       "--records", "out.jsonl", "--json", cwd=tmp_path)
    assert process.returncode == 0, process.stderr
    attempts = records(tmp_path / "out.jsonl")
    assert [a["passed"] for a in attempts] == [False, False, True]
    assert "expects 12" in attempts[0]["runtime"]["expectation"]
    assert attempts[1]["runtime"]["outcome"] == "exception"
    assert "AttributeError" in attempts[2]["messages"][-1]["content"]  # the traceback reached the model
    assert attempts[2]["runtime"]["value"] == 12
    assert attempts[2]["runtime"]["trace"]["tool_calls"][0]["tool"] == "read_file"
    assert "def read_file(" in attempts[0]["messages"][0]["content"]  # the tool API is in the prompt
    summary = json.loads(process.stdout)["summary"]
    assert summary["passed_within_budget"] == 1 and summary["attempts"] == 3


def test_a_check_runs_after_the_artifact_and_its_failure_is_fed_back(tmp_path):
    # The artifact runs cleanly both times; only the check (--check) tells the bug apart.
    task = {"id": "slug", "task": "Write slugify(text): lower case, words joined by '-'."}
    (tmp_path / "tasks.jsonl").write_text(json.dumps(task) + "\n")
    buggy = "```python\ndef slugify(text):\n    return text.lower().replace(' ', '_')\n```"
    fixed = "```python\ndef slugify(text):\n    return '-'.join(text.lower().split())\n```"
    write_script(tmp_path / "replies.jsonl", [(task["task"], [buggy, fixed])])
    (tmp_path / "check_slug.py").write_text(
        "assert slugify('Hello World') == 'hello-world', slugify('Hello World')\nassert slugify('  A  b ') == 'a-b'\n")
    process = generate("--kind", "script", "--tasks", "tasks.jsonl", "--scripted", "replies.jsonl", "--check",
                       "check_slug.py", "--no-standard-tools", "--records", "out.jsonl", "--json", cwd=tmp_path)
    assert process.returncode == 0, process.stderr
    first, second = records(tmp_path / "out.jsonl")
    assert (first["passed"], second["passed"]) == (False, True)
    assert first["runtime"]["outcome"] == "ok"  # the artifact itself ran fine
    assert first["runtime"]["check"]["outcome"] == "exception"
    feedback = second["messages"][-1]["content"]
    assert "check_slug.py failed" in feedback and "AssertionError: hello_world" in feedback
    assert "<cell 2>" in feedback and "line 1" in feedback  # the check's failing line
    assert second["runtime"]["check"] == {"name": "check_slug.py", "outcome": "ok", "stdout": "", "value": None, "error": None}


def test_a_generated_test_runs_confined_against_the_workspace(world_readable_tmp):
    # The confined worker is an unmapped user in its own user namespace: the workspace must be
    # readable by "other" (pytest's own tmp_path is 0700).
    tmp_path = world_readable_tmp
    (tmp_path / "calc.py").write_text("def add(a, b):\n    return a + b\n")
    failing = "```python\nfrom calc import add\n\ndef test_add():\n    assert add(2, 2) == 5\n```"
    passing = "```python\nfrom calc import add\n\ndef test_add():\n    assert add(2, 2) == 4\n```"
    write_script(tmp_path / "replies.jsonl", [("Test calc.add.", [failing, passing])])
    process = generate("--kind", "test", "--task", "Test calc.add.", "--scripted", "replies.jsonl",
                       "--records", "out.jsonl", cwd=tmp_path)
    assert process.returncode == 0, process.stdout + process.stderr
    first, second = records(tmp_path / "out.jsonl")
    assert first["runtime"]["tests"]["failed"] == 1
    assert "assert 4 == 5" in first["feedback"]  # pytest's failure reached the model
    assert second["runtime"]["tests"]["passed"] == 1
    assert sorted(os.listdir(tmp_path)) == ["calc.py", "out.jsonl", "replies.jsonl"]  # nothing written into the workspace


def test_a_batch_of_twenty_reports_exact_summary_figures(tmp_path):
    tasks, scripts = [], []
    for index in range(20):
        text = "View number %d." % index
        tasks.append({"id": "t%02d" % index, "task": text})
        if index < 8:
            replies = [GOOD_VIEW]  # pass at once
        elif index < 14:
            replies = [BAD_VIEW, GOOD_VIEW]  # pass on the second attempt
        elif index < 17:
            replies = [BAD_VIEW, BAD_VIEW, GOOD_VIEW]  # pass on the third, the last one allowed
        else:
            replies = [BAD_VIEW]  # never
        scripts.append((text, replies))
    (tmp_path / "tasks.jsonl").write_text("".join(json.dumps(t) + "\n" for t in tasks))
    write_script(tmp_path / "replies.jsonl", scripts)
    process = generate("--kind", "view", "--tasks", "tasks.jsonl", "--scripted", "replies.jsonl", "--max-retries", "2",
                       "--concurrency", "3", "--records", "out.jsonl", "--json", cwd=tmp_path)
    assert process.returncode == 1, process.stderr  # three tasks still fail
    summary = json.loads(process.stdout)["summary"]
    attempts = 8 * 1 + 6 * 2 + 3 * 3 + 3 * 3
    assert summary["passed_first_attempt"] == 8
    assert summary["passed_within_budget"] == 17
    assert summary["failed"] == 3
    assert summary["attempts"] == attempts and summary["records_written"] == attempts
    assert summary["mean_attempts"] == round(attempts / 20, 2)
    # Every failing attempt has VIEW001 and VIEW006: 6 + 3*2 + 3*3 = 21 each.
    assert summary["top_failed_rules"] == [{"rule": "VIEW001", "count": 21}, {"rule": "VIEW006", "count": 21}]
    assert len(records(tmp_path / "out.jsonl")) == attempts
    assert "generate: 20/20" in process.stderr  # progress, one line per task when not on a terminal


def test_openai_client_non_streaming_with_reasoning_and_usage(tmp_path, server_factory):
    server = server_factory([completion(BAD_VIEW, reasoning_field="reasoning_content"),
                             completion(GOOD_VIEW, usage=False, reasoning_field="reasoning")])
    env = dict(os.environ, OPENAI_API_KEY="sk-test")
    process = subprocess.run(
        [CRUCIBLE, "generate", "--kind", "view", "--task", "A view.", "--model", server.url + "/qwen-coder",
         "--records", "out.jsonl", "--max-tokens", "300"],
        capture_output=True, text=True, cwd=tmp_path, timeout=120, env=env)
    assert process.returncode == 0, process.stderr
    first, second = records(tmp_path / "out.jsonl")
    assert first["usage"] == {"prompt_tokens": 11, "completion_tokens": 7, "total_tokens": 18}
    assert second["usage"] is None  # the server sent usage: null
    assert first["reply"]["reasoning"] == "thinking about views" == second["reply"]["reasoning"]
    request = server.requests[0]
    assert request["path"] == "/v1/chat/completions" and request["auth"] == "Bearer sk-test"
    assert request["body"]["model"] == "qwen-coder" and request["body"]["stream"] is False
    assert request["body"]["max_tokens"] == 300 and "temperature" not in request["body"]
    assert first["parameters"] == {"max_tokens": 300}
    assert len(server.requests[1]["body"]["messages"]) == 4


def test_openai_client_streaming_and_a_dropped_stream_is_retried(tmp_path, server_factory):
    server = server_factory([streamed(BAD_VIEW, drop_after=3), streamed(BAD_VIEW), streamed(GOOD_VIEW, usage=False)])
    process = generate("--kind", "view", "--task", "A view.", "--model", server.url + "/m", "--stream",
                       "--records", "out.jsonl", cwd=tmp_path)
    assert process.returncode == 0, process.stderr
    first, second = records(tmp_path / "out.jsonl")
    assert first["http_attempts"] == 2  # the dropped stream was asked again
    assert first["code"].startswith("def profile_view")
    assert first["usage"]["total_tokens"] == 29 and second["usage"] is None
    assert server.requests[0]["body"]["stream"] is True
    assert server.requests[0]["body"]["stream_options"] == {"include_usage": True}


def test_streamed_text_reaches_the_terminal_as_it_arrives(tmp_path, server_factory):
    release = threading.Event()
    server = server_factory([held_stream(GOOD_VIEW, release)])
    process = subprocess.Popen([CRUCIBLE, "generate", "--kind", "view", "--task", "A view.", "--model", server.url + "/m",
                                "--stream"], cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    first_pieces = GOOD_VIEW[:18].encode()
    shown = b""
    try:
        # The server holds the rest of the reply until released: the first pieces can only be
        # on the terminal now if crucible showed them as they arrived.
        deadline = time.monotonic() + 60
        while first_pieces not in shown and time.monotonic() < deadline:
            ready, _, _ = select.select([process.stderr], [], [], max(0.0, deadline - time.monotonic()))
            chunk = os.read(process.stderr.fileno(), 65536) if ready else b""
            if not chunk:
                break
            shown += chunk
        assert first_pieces in shown, shown
        assert GOOD_VIEW.encode() not in shown  # the rest was still held back
    finally:
        release.set()
    stdout, stderr = process.communicate(timeout=300)
    assert process.returncode == 0, stderr
    assert GOOD_VIEW in (shown + stderr).decode()  # then the whole reply, once
    assert "passed" in stdout.decode()


def test_server_errors_are_retried_with_backoff_then_reported(tmp_path, server_factory):
    server = server_factory([status(500), status(429, headers=[("Retry-After", "0")]), completion(GOOD_VIEW)])
    process = generate("--kind", "view", "--task", "A view.", "--model", server.url + "/m", "--records", "out.jsonl",
                       cwd=tmp_path)
    assert process.returncode == 0, process.stderr
    assert records(tmp_path / "out.jsonl")[0]["http_attempts"] == 3

    broken = server_factory([malformed])
    process = generate("--kind", "view", "--task", "A view.", "--model", broken.url + "/m", "--records", "bad.jsonl",
                       cwd=tmp_path)
    assert process.returncode == 4
    assert "not JSON" in process.stdout and "{this is not json" in process.stdout
    assert len(broken.requests) == 1  # a malformed reply is not retried
    (record,) = records(tmp_path / "bad.jsonl")
    assert record["model_error"]["kind"] == "malformed" and record["passed"] is False


def test_a_dead_server_gives_a_clear_error_and_exit_4(tmp_path):
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    process = generate("--kind", "view", "--task", "A view.", "--model", "http://127.0.0.1:%d/v1/m" % port,
                       "--http-attempts", "2", "--records", "out.jsonl", cwd=tmp_path)
    assert process.returncode == 4
    assert "cannot reach http://127.0.0.1:%d/v1/chat/completions" % port in process.stdout
    assert "gave up after 2 HTTP attempts" in process.stdout
    assert records(tmp_path / "out.jsonl")[0]["model_error"]["kind"] == "exhausted"


def test_usage_errors_exit_2(tmp_path):
    assert generate("--kind", "view", "--scripted", "x.jsonl", cwd=tmp_path).returncode == 2  # no task
    process = generate("--kind", "poem", "--task", "x", "--scripted", "x.jsonl", cwd=tmp_path)
    assert process.returncode == 2 and "cannot read the scripted model's file" in process.stderr
    write_script(tmp_path / "r.jsonl", [("*", ["x"])])
    process = generate("--kind", "poem", "--task", "x", "--scripted", "r.jsonl", cwd=tmp_path)
    assert process.returncode == 2 and "unknown kind \"poem\"" in process.stderr and "view" in process.stderr
    help_text = " ".join(subprocess.run([CRUCIBLE, "generate", "--help"], capture_output=True, text=True).stdout.split())
    assert "Retries after the first attempt: 3 means at most 4 model calls" in help_text


def test_a_project_kind_and_several_fenced_blocks(tmp_path):
    (tmp_path / "pyproject.toml").write_text(
        "[tool.crucible.kinds.snippet]\n"
        "description = 'A snippet that prints'\nruntime = 'sandbox'\nrulesets = []\n"
        "prompt = 'Write a snippet.'\n")
    reply = ("First a draft:\n```python\nprint('draft'\n```\nand the final version:\n"
             "```python\nprint('final')\n```\nExample output:\n```\nfinal\n```")
    write_script(tmp_path / "r.jsonl", [("Print final.", [reply])])
    (tmp_path / "tasks.jsonl").write_text(json.dumps(
        {"id": "p", "task": "Print final.", "kind": "snippet", "expect": {"stdout_contains": "final"}}) + "\n")
    process = generate("--tasks", "tasks.jsonl", "--scripted", "r.jsonl", "--records", "out.jsonl", cwd=tmp_path)
    assert process.returncode == 0, process.stdout + process.stderr
    (record,) = records(tmp_path / "out.jsonl")
    assert record["kind"] == "snippet" and record["messages"][0]["content"].startswith("Write a snippet.")
    assert record["code"] == "print('final')\n"  # the last python block, not the draft or the output
    assert record["extraction"].startswith("3 fenced blocks; used the last python block")


def test_ctrl_c_stops_cleanly_and_keeps_whole_records(tmp_path, server_factory):
    import signal

    interrupted = threading.Event()

    def slow(handler, body):
        # The reply waits until crucible has taken the Ctrl-C in (a minute at most), so the
        # interrupt always lands while this attempt is in flight.
        interrupted.wait(60)
        completion(BAD_VIEW)(handler, body)

    server = server_factory([slow])
    (tmp_path / "tasks.jsonl").write_text("".join(json.dumps({"task": "View %d" % i}) + "\n" for i in range(10)))
    process = subprocess.Popen(
        [CRUCIBLE, "generate", "--kind", "view", "--tasks", "tasks.jsonl", "--model", server.url + "/m",
         "--records", "out.jsonl", "--json"], cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    shown = []

    def interrupt_taken():
        if select.select([process.stderr], [], [], 0.1)[0]:
            chunk = os.read(process.stderr.fileno(), 65536)
            assert chunk, "crucible exited before it said it was interrupted: %r" % b"".join(shown)
            shown.append(chunk)
        return b"interrupted; finishing the attempts in flight" in b"".join(shown)

    try:
        wait_until(lambda: server.requests, timeout=60, what="the first request to the model")
        process.send_signal(signal.SIGINT)
        wait_until(interrupt_taken, timeout=60, what="crucible saying it took the Ctrl-C in")
    except BaseException:
        process.kill()
        raise
    finally:
        interrupted.set()
    stdout, stderr = process.communicate(timeout=120)
    stderr = b"".join(shown).decode() + stderr
    assert process.returncode == 130, stderr
    assert "interrupted; finishing the attempts in flight" in stderr
    summary = json.loads(stdout)["summary"]
    assert 1 <= summary["finished"] < 10  # stopped early, with what was in flight finished
    kept = records(tmp_path / "out.jsonl")  # every line parses: no half-written record
    assert len(kept) == summary["records_written"] == summary["attempts"]
