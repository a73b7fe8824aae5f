"""End-to-end tests of `crucible http`: a real server on loopback, driven by the official
SandboxFusion client (`sandbox-fusion` 0.3.7, what verl's reward uses) and by plain urllib
for the native API. Run by scripts/test after `swift build`."""

import base64
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
ROOT = os.path.abspath(os.path.join(HERE, "..", ".."))
CRUCIBLE = os.path.join(ROOT, ".build", "debug", "crucible")

from network import reachable  # noqa: E402
from waiting import wait_until  # noqa: E402

TOKEN = "test-token-" + "7f3a9c"


class Server:
    """A `crucible http` process on a port the kernel picked."""

    def __init__(self, *args, token=TOKEN, env=None, auth=True, expect_host="127.0.0.1"):
        """`auth=False`: neither --token nor --no-auth (the environment's token)."""
        flags = (["--token", token] if token else ["--no-auth"]) if auth else []
        self.process = subprocess.Popen(
            [CRUCIBLE, "http", "--port", "0", *flags, *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
            text=True, env=env)
        line = self.process.stdout.readline()
        assert line.startswith("crucible http: listening on http://%s:" % expect_host), (line, self.process.stderr.read())
        self.url = line.split(" on ", 1)[1].strip().replace("0.0.0.0", "127.0.0.1")
        self.token = token
        self.stderr = ""

    def request(self, method, path, body=None, token="default", raw=None, headers=None):
        """(status, headers, decoded JSON or text)."""
        token = self.token if token == "default" else token
        data = raw if raw is not None else (None if body is None else json.dumps(body).encode())
        request = urllib.request.Request(self.url + path, data=data, method=method)
        request.add_header("Content-Type", "application/json")
        if token:
            request.add_header("Authorization", "Bearer " + token)
        for name, value in (headers or {}).items():
            request.add_header(name, value)
        try:
            with urllib.request.urlopen(request, timeout=60) as response:
                status, answer, text = response.status, response.headers, response.read().decode()
        except urllib.error.HTTPError as error:
            status, answer, text = error.code, error.headers, error.read().decode()
        if text and answer.get("Content-Type", "").startswith("application/json"):
            return status, answer, json.loads(text)
        return status, answer, text

    def post(self, path, body, **kw):
        return self.request("POST", path, body, **kw)

    def stop(self):
        """SIGTERM, and the exit status."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        try:
            return self.process.wait(timeout=30)
        finally:
            self.stderr = self.process.stderr.read()
            self.process.stdout.close()
            self.process.stderr.close()


@pytest.fixture
def server(tmp_path):
    running = Server("--corpus", str(tmp_path / "corpus.sqlite"), "--workspace", str(tmp_path))
    yield running
    assert running.stop() == 0


# --- SandboxFusion's API through its official client -------------------------------------

def fusion(server, **fields):
    from sandbox_fusion import RunCodeRequest, run_code

    fields.setdefault("language", "python")
    # max_attempts=1: the client retries failures with backoff, which would hide a first failure.
    return run_code(RunCodeRequest(**fields), endpoint=server.url + "/sandbox-fusion/" + server.token, max_attempts=1)


def test_sandbox_fusion_client_success_failure_and_timeout(server):
    ok = fusion(server, code="print(sum(range(10)))")
    assert ok.status.value == "Success" and ok.compile_result is None
    assert ok.run_result.status.value == "Finished" and ok.run_result.return_code == 0
    assert ok.run_result.stdout == "45\n" and ok.run_result.execution_time > 0

    failed = fusion(server, code="print('before')\nraise ValueError('bad input')")
    assert failed.status.value == "Failed"
    assert failed.run_result.status.value == "Finished" and failed.run_result.return_code == 1
    assert failed.run_result.stdout == "before\n"
    assert "Traceback (most recent call last)" in failed.run_result.stderr
    assert "ValueError: bad input" in failed.run_result.stderr

    exits = fusion(server, code="import sys\nsys.exit(3)")
    assert exits.status.value == "Failed" and exits.run_result.return_code == 3
    assert fusion(server, code="import sys\nsys.exit(0)").status.value == "Success"

    slow = fusion(server, code="while True:\n    pass", run_timeout=1)
    assert slow.status.value == "Failed" and slow.run_result.status.value == "TimeLimitExceeded"
    assert 1 <= slow.run_result.execution_time < 5


def test_sandbox_fusion_exit_statuses_are_what_python_exits_with(server):
    def ends(code):
        answer = fusion(server, code=code)
        return answer.status.value, answer.run_result.return_code, answer.run_result.stderr

    # None and False are success, True is 1, an int is its status: none of them prints anything.
    assert ends("import sys\nsys.exit()") == ("Success", 0, "")
    assert ends("import sys\nsys.exit(None)") == ("Success", 0, "")
    assert ends("import sys\nsys.exit(False)") == ("Success", 0, "")
    assert ends("import sys\nsys.exit(True)") == ("Failed", 1, "")
    assert ends("import sys\nsys.exit(7)") == ("Failed", 7, "")
    assert ends("import sys\nsys.exit(-1)") == ("Failed", 255, "")  # as the OS reports it
    # Anything else is printed to stderr, and the status is 1.
    assert ends("import sys\nsys.exit('no input given')") == ("Failed", 1, "no input given\n")
    # The code's own exit, past Python's cleanup.
    assert ends("import os\nos._exit(4)") == ("Failed", 4, "")


def test_sandbox_fusion_says_when_it_raised_a_limit_or_cut_output(server):
    def message(**fields):
        status, _, answer = server.post("/run_code", dict(fields, language="python"))
        assert status == 200 and answer["status"] == "Success", answer
        return answer["message"]

    assert message(code="print(1)") == ""
    for timeout in (-5, 0, 1e-9):
        assert "run_timeout %s s raised to the minimum, 0.01 s" % float(timeout) in message(code="1", run_timeout=timeout)
    assert "memory_limit_MB 1.5 raised to the minimum, 16 MB" in message(code="1", memory_limit_MB=1.5)
    assert message(code="1", memory_limit_MB=-1) == ""  # SandboxFusion's "the default"
    cut = message(code="import sys\nprint('x' * (2 << 20))\nsys.stderr.write('e' * (2 << 20))")
    assert "stdout truncated: " in cut and "stderr truncated: " in cut, cut


def test_sandbox_fusion_stdin_and_files_in_and_out(server):
    code = (
        "import sys\n"
        "n = int(sys.stdin.readline())\n"
        "rows = open('data/input.csv').read().split()\n"
        "with open('result.txt', 'w') as out:\n"
        "    out.write(str(n * len(rows)))\n"
        "print(rows[0])\n")
    answer = fusion(server, code=code, stdin="7\n",
                    files={"data/input.csv": base64.b64encode(b"a\nb\nc\n").decode()},
                    fetch_files=["result.txt", "data/input.csv", "missing.txt"])
    assert answer.status.value == "Success", answer
    assert answer.run_result.stdout == "a\n"
    assert base64.b64decode(answer.files["result.txt"]) == b"21"
    assert base64.b64decode(answer.files["data/input.csv"]) == b"a\nb\nc\n"  # the copy it was given
    assert "missing.txt" not in answer.files


def test_sandbox_fusion_other_languages_are_a_clear_sandbox_error(server):
    # The client raises on SandboxError, with the server's message.
    with pytest.raises(Exception, match='language "cpp" is not supported: this sandbox runs Python only'):
        fusion(server, language="cpp", code="int main() { return 0; }")


def test_sandbox_fusion_limits_over_the_server_maxima_are_lowered_and_said(tmp_path):
    server = Server("--no-corpus", "--max-timeout", "2", "--max-memory", "512")
    try:
        status, _, answer = server.post("/run_code", {"code": "import time\ntime.sleep(4)", "language": "python",
                                                      "run_timeout": 100, "memory_limit_MB": 100000})
        assert status == 200
        assert answer["run_result"]["status"] == "TimeLimitExceeded"
        assert answer["run_result"]["execution_time"] < 3.5
        assert "run_timeout 100.0 s lowered to this server's maximum, 2.0 s" in answer["message"]
        assert "memory_limit_MB 100000.0 lowered to this server's maximum, 512 MB" in answer["message"]
        # The native API refuses instead, naming the maximum.
        status, _, refused = server.post("/v1/execute", {"code": "1", "timeout": 100})
        assert status == 400 and refused["error"]["code"] == "invalid_params"
        assert "maximum, 2.0 s (--max-timeout)" in refused["error"]["message"]
    finally:
        assert server.stop() == 0


# --- the native API ------------------------------------------------------------------------

def test_execute_validate_sessions_and_feedback(server):
    status, _, result = server.post("/v1/execute", {"code": "x = 1 + 2\nprint(x)\nx * 2", "inputs": {"n": 5}})
    assert status == 200
    assert result["outcome"] == "ok" and result["value"] == 6 and result["stdout"] == "3\n"
    attempt = result["attempt"]

    status, _, failed = server.post("/v1/execute", {"code": "1 / 0", "corpus": False})
    assert status == 200 and failed["outcome"] == "exception" and "attempt" not in failed
    assert failed["error"]["type"] == "ZeroDivisionError"

    status, _, checked = server.post("/v1/validate", {"code": "def f(:\n    pass\n", "rulesets": ["view"]})
    assert status == 200 and set(checked) >= {"passed", "diagnostics", "feedback", "attempt"}

    status, _, opened = server.post("/v1/sessions", {})
    assert status == 200 and opened["persistent"] is True
    session = opened["session"]
    assert len(session) > 30  # not guessable by another client of the server
    assert server.post("/v1/sessions/%s/execute" % session, {"code": "x = 41"})[2]["outcome"] == "ok"
    assert server.post("/v1/sessions/%s/execute" % session, {"code": "x + 1"})[2]["value"] == 42
    assert server.request("DELETE", "/v1/sessions/" + session)[2] == {"closed": True}
    status, _, gone = server.post("/v1/sessions/%s/execute" % session, {"code": "x"})
    assert status == 404 and gone["error"]["code"] == "not_found"

    status, _, verdict = server.post("/v1/feedback", {"attempt": attempt, "verdict": "accepted"})
    assert status == 200 and verdict == {"attempt": attempt, "verdict": "accepted"}
    status, _, unknown = server.post("/v1/feedback", {"attempt": "no-such-attempt", "verdict": "accepted"})
    assert status == 400 and unknown["error"]["code"] == "invalid_params"


def test_sessions_left_open_make_room_once_idle():
    server = Server("--no-corpus", "--max-sessions", "1")
    try:
        first = server.post("/v1/sessions", {"idle_timeout": 0.2})
        assert first[0] == 200
        status, headers, full = server.post("/v1/sessions", {})
        assert status == 429 and "Too many sessions" in full["error"]["message"] and headers["Retry-After"] == "1"
        # The client never closes the first; once idle it closed itself, and says what an HTTP
        # client can do about it.
        status, _, gone = wait_until(
            lambda: (answer := server.post("/v1/sessions/%s/execute" % first[2]["session"], {"code": "1"}))[0] != 200
            and answer, what="the idle session closed", interval=0.5)  # each try is a use: slower than 0.2 s
        assert status == 404 and "idle for longer than 0.2 seconds" in gone["error"]["message"], gone
        assert "open a new session with POST /v1/sessions" in gone["error"]["message"]
        assert "restart()" not in gone["error"]["message"]
        # Its place is free.
        wait_until(lambda: server.post("/v1/sessions", {})[0] == 200, what="a session opened after the idle one closed")
    finally:
        assert server.stop() == 0


def test_malformed_requests_are_400_naming_the_problem(server):
    status, _, answer = server.post("/v1/execute", None, raw=b'{"code": ')
    assert status == 400 and "not JSON" in answer["error"]["message"]
    status, _, answer = server.post("/v1/execute", [1, 2])
    assert status == 400 and "JSON object" in answer["error"]["message"]
    status, _, answer = server.post("/v1/execute", {"code": 3})
    assert status == 400 and '"code" must be a string' in answer["error"]["message"]
    status, _, answer = server.post("/v1/execute", {"code": "1", "memory_mb": 1})
    assert status == 400 and "memory_mb" in answer["error"]["message"]
    status, _, answer = server.post("/v1/sessions", {"tools": [{"name": "t"}]})
    assert status == 400 and "cannot call a client back" in answer["error"]["message"]
    status, _, answer = server.post("/v1/nothing", {})
    assert status == 404 and answer["error"]["code"] == "not_found"
    # A known path asked with another method names the methods it takes.
    status, headers, answer = server.request("GET", "/v1/execute")
    assert status == 405 and headers["Allow"] == "POST" and answer["error"]["code"] == "method_not_allowed"
    status, headers, _ = server.request("GET", "/v1/sessions/some-id")
    assert status == 405 and headers["Allow"] == "DELETE"
    # The server is still there.
    assert server.post("/v1/execute", {"code": "2 + 2"})[2]["value"] == 4


def test_the_token_is_what_blocks(server):
    body = {"code": "'ran'"}
    for token in (None, "wrong-token", TOKEN + "x", TOKEN[:-1]):
        status, _, answer = server.post("/v1/execute", body, token=token)
        assert status == 401 and answer["error"]["code"] == "unauthorized", token
    status, _, answer = server.post("/sandbox-fusion/wrong/run_code", {"code": "1", "language": "python"}, token=None)
    assert status == 401
    # Control: the very same requests with the token run.
    assert server.post("/v1/execute", body)[2]["value"] == "ran"
    status, _, answer = server.post("/sandbox-fusion/%s/run_code" % TOKEN, {"code": "1", "language": "python"}, token=None)
    assert status == 200 and answer["status"] == "Success"
    # /health needs none.
    status, _, health = server.request("GET", "/health", token=None)
    assert status == 200 and health["status"] == "ok" and health["server"] == "crucible"
    assert health["python"].startswith("3.")
    # As a load balancer checks it.
    status, headers, text = server.request("HEAD", "/health", token=None)
    assert status == 200 and text == ""
    # A wrong method on a known path without the token is 401, like an unknown path.
    assert server.request("GET", "/v1/execute", token=None)[0] == 401
    assert server.request("GET", "/sandbox-fusion/wrong/run_code", token=None)[0] == 401


def test_no_token_no_start_unless_no_auth(tmp_path):
    env = {k: v for k, v in os.environ.items() if k != "CRUCIBLE_HTTP_TOKEN"}
    refused = subprocess.run([CRUCIBLE, "http", "--port", "0"], capture_output=True, text=True, env=env, timeout=60)
    assert refused.returncode == 2 and "no token" in refused.stderr

    open_server = Server("--no-corpus", token=None, env=env)
    try:
        assert open_server.post("/v1/execute", {"code": "1"}, token=None)[0] == 200
    finally:
        assert open_server.stop() == 0

    exposed = Server("--no-corpus", "--host", "0.0.0.0", token=None, env=env, expect_host="0.0.0.0")
    assert exposed.stop() == 0
    assert "warning: --no-auth on 0.0.0.0" in exposed.stderr

    # The environment's token, without --token.
    from_env = Server("--no-corpus", token=None, env=dict(env, CRUCIBLE_HTTP_TOKEN="from-env"), auth=False)
    try:
        assert from_env.post("/v1/execute", {"code": "5"}, token=None)[0] == 401
        assert from_env.post("/v1/execute", {"code": "5"}, token="from-env")[2]["value"] == 5
    finally:
        assert from_env.stop() == 0


def test_a_body_over_the_cap_is_413_and_the_server_goes_on():
    server = Server("--no-corpus", "--max-body-mb", "1")
    try:
        big = {"code": "len(s)", "inputs": {"s": "x" * (2 << 20)}}
        status, _, answer = server.post("/v1/execute", big)
        assert status == 413 and answer["error"]["code"] == "too_large"
        under = {"code": "len(s)", "inputs": {"s": "x" * (900 << 10)}}
        assert server.post("/v1/execute", under)[2]["value"] == 900 << 10
    finally:
        assert server.stop() == 0


def test_a_flood_beyond_the_queue_is_429_with_retry_after_and_counted():
    server = Server("--no-corpus", "--max-running", "1", "--max-queued", "1", "--pool-size", "1")
    try:
        answers = []

        def one():
            answers.append(server.post("/v1/execute", {"code": "import time\ntime.sleep(1)\n'done'"}))

        threads = [threading.Thread(target=one) for _ in range(8)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(60)
        statuses = sorted(status for status, _, _ in answers)
        assert statuses.count(200) >= 2 and statuses.count(429) >= 1, statuses
        for status, headers, body in answers:
            if status == 429:
                assert headers["Retry-After"] == "1" and body["error"]["code"] == "busy"
                assert body["error"]["message"].lower().count("busy") == 1, body  # not "busy: busy"
            else:
                assert body["value"] == "done"
        metrics = server.request("GET", "/metrics")[2]
        assert 'crucible_rejected_requests_total{reason="busy"} %d' % statuses.count(429) in metrics
    finally:
        assert server.stop() == 0


def connect(server):
    host, port = server.url.split("//", 1)[1].rsplit(":", 1)
    return socket.create_connection((host.strip("[]"), int(port)), timeout=30)


def stalled_body(server, sent=b"{"):
    """A connection that sent an authorized request's headers and `sent` of its 100-byte body."""
    connection = connect(server)
    connection.sendall(b"POST /v1/execute HTTP/1.1\r\nHost: crucible\r\nAuthorization: Bearer " + TOKEN.encode()
                       + b"\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n" + sent)
    return connection


def until_closed(connection):
    """What the server sent before it closed the connection; socket.timeout if it never does."""
    received = b""
    while True:
        try:
            chunk = connection.recv(65536)
        except ConnectionResetError:
            return received
        if not chunk:
            return received
        received += chunk


def test_stalled_bodies_do_not_take_the_places_of_real_requests():
    # One running and none queued: 65 requests in progress at most (64 for quick ones).
    server = Server("--no-corpus", "--max-running", "1", "--max-queued", "0")
    stalled = [stalled_body(server) for _ in range(100)]
    try:
        # Time for the server to read their headers: without it this could pass without the
        # fix (when it counted them, every request here was 429), never fail with it.
        time.sleep(0.5)
        for _ in range(5):
            status, _, answer = server.post("/v1/execute", {"code": "1 + 1"})
            assert status == 200 and answer["value"] == 2, (status, answer)
    finally:
        for connection in stalled:
            connection.close()
        assert server.stop() == 0


def test_connections_that_stall_are_closed_and_a_slow_body_is_408():
    server = Server("--no-corpus", "--read-timeout", "1")
    try:
        # Headers never finished (slowloris): closed without an answer.
        half_headers = connect(server)
        half_headers.sendall(b"POST /v1/execute HTTP/1.1\r\nHost: crucible\r\nX-Slow: ")
        assert until_closed(half_headers) == b""
        # A body that stops: closed, or answered 408 first.
        stopped = until_closed(stalled_body(server))
        assert stopped == b"" or stopped.startswith(b"HTTP/1.1 408"), stopped
        # A body sent a byte at a time, each byte keeping the connection busy: 408 all the same.
        dribbling = stalled_body(server, sent=b"")
        done = threading.Event()

        def dribble():
            while not done.is_set():
                try:
                    dribbling.send(b" ")
                except OSError:
                    return
                time.sleep(0.05)

        sender = threading.Thread(target=dribble)
        sender.start()
        try:
            answer = until_closed(dribbling)
        finally:
            done.set()
            sender.join()
        assert answer.startswith(b"HTTP/1.1 408"), answer
        assert b'"code":"timeout"' in answer and b"--read-timeout" in answer
        # The server goes on, and nothing stalled holds up its exit.
        assert server.post("/v1/execute", {"code": "3"})[2]["value"] == 3
        left_open = stalled_body(server)
    finally:
        assert server.stop() == 0
    left_open.close()


def crucible_http(*args, env=None):
    """`crucible http ARGS` run to its end (refusals); (exit status, stderr)."""
    finished = subprocess.run([CRUCIBLE, "http", *args], capture_output=True, text=True, env=env, timeout=60)
    return finished.returncode, finished.stderr


def test_tokens_that_cannot_work_are_refused():
    for token, what in (("a/b", '"/"'), ("my token", "a space"), ("tab\there", "a control character"),
                        ("line\nbreak", "a control character"), ("q?x", '"?"'), ("caf\u00e9", "a character outside ASCII")):
        status, stderr = crucible_http("--port", "0", "--token", token)
        assert status == 2 and "--token holds %s" % what in stderr, (token, stderr)
        assert "/sandbox-fusion/TOKEN/run_code" in stderr
    env = dict(os.environ, CRUCIBLE_HTTP_TOKEN="with space")
    status, stderr = crucible_http("--port", "0", env=env)
    assert status == 2 and "CRUCIBLE_HTTP_TOKEN holds a space" in stderr, stderr
    status, stderr = crucible_http("--port", "0", "--token", "fine-token", "--no-auth")
    assert status == 2 and "--no-auth and --token" in stderr, stderr


def test_numbers_out_of_range_are_refused_naming_the_range():
    status, stderr = crucible_http("--port", "0", "--token", TOKEN, "--max-sessions", "0")
    assert status == 2 and "--max-sessions must be an integer between 1 and 100000, got 0" in stderr, stderr
    status, stderr = crucible_http("--port", "0", "--token", TOKEN, "--read-timeout", "0")
    assert status == 2 and "--read-timeout must be between 0.1 and 3600 seconds, got 0" in stderr, stderr


def test_a_taken_port_is_a_one_line_error_and_exit_2():
    taken = socket.socket()
    taken.bind(("127.0.0.1", 0))
    taken.listen()
    port = taken.getsockname()[1]
    try:
        status, stderr = crucible_http("--no-corpus", "--port", str(port), "--token", TOKEN)
    finally:
        taken.close()
    assert status == 2, stderr
    assert "crucible http: cannot listen on 127.0.0.1:%d: address already in use\n" % port in stderr, stderr


def test_loopback_is_decided_on_the_address():
    env = {k: v for k, v in os.environ.items() if k != "CRUCIBLE_HTTP_TOKEN"}
    other_loopback = Server("--no-corpus", "--host", "127.0.0.2", token=None, env=env, expect_host="127.0.0.2")
    assert other_loopback.stop() == 0
    assert "warning" not in other_loopback.stderr, other_loopback.stderr


def ipv6_loopback():
    try:
        with socket.socket(socket.AF_INET6) as probe:
            probe.bind(("::1", 0))
        return True
    except OSError:
        return False


@pytest.mark.skipif(not ipv6_loopback(), reason="this machine has no IPv6 loopback")
def test_an_ipv6_host_in_brackets_as_the_server_prints_it():
    env = {k: v for k, v in os.environ.items() if k != "CRUCIBLE_HTTP_TOKEN"}
    server = Server("--no-corpus", "--host", "[::1]", token=None, env=env, expect_host=r"[::1]")
    try:
        assert server.post("/v1/execute", {"code": "6 * 7"}, token=None)[2]["value"] == 42
    finally:
        assert server.stop() == 0
    assert "warning" not in server.stderr, server.stderr


def test_metrics_are_prometheus_text(server):
    server.post("/v1/execute", {"code": "1"})
    server.post("/v1/execute", {"code": "1 / 0"})
    server.post("/v1/execute", {"code": "1"}, token="wrong")
    status, headers, text = server.request("GET", "/metrics")
    assert status == 200 and headers["Content-Type"].startswith("text/plain")
    assert server.request("GET", "/metrics", token=None)[0] == 401
    try:
        from prometheus_client.parser import text_string_to_metric_families
    except ImportError:  # the line format, where prometheus_client is not installed
        for line in text.splitlines():
            assert line.startswith("# ") or len(line.rsplit(" ", 1)) == 2, line
        return
    families = {family.name: family for family in text_string_to_metric_families(text)}
    samples = {(s.name, tuple(sorted(s.labels.items()))): s.value for f in families.values() for s in f.samples}
    assert families["crucible_executions"].type == "counter"
    assert samples[("crucible_executions_total", (("outcome", "ok"),))] == 1
    assert samples[("crucible_executions_total", (("outcome", "exception"),))] == 1
    assert families["crucible_execution_seconds"].type == "histogram"
    assert samples[("crucible_execution_seconds_count", ())] == 2
    assert samples[("crucible_rejected_requests_total", (("reason", "unauthorized"),))] >= 1
    assert ("crucible_pool_workers", (("state", "idle"),)) in samples
    assert samples[("crucible_queue_depth", ())] == 0


def test_sigterm_lets_the_request_in_progress_finish_and_exits_0():
    server = Server("--no-corpus")
    answers = []
    thread = threading.Thread(target=lambda: answers.append(
        server.post("/v1/execute", {"code": "import time\ntime.sleep(2)\n'finished'"})))
    thread.start()
    wait_until(lambda: "crucible_pool_workers{state=\"running\"} 1" in server.request("GET", "/metrics")[2],
               what="the execution running")
    server.process.send_signal(signal.SIGTERM)
    thread.join(30)
    assert answers and answers[0][0] == 200 and answers[0][2]["value"] == "finished"
    assert server.stop() == 0


@pytest.mark.skipif(not reachable("pypi.org", 443), reason="pypi.org is not reachable: pip cannot install packages")
def test_per_request_packages_get_a_sandbox_of_their_own(tmp_path):
    env = dict(os.environ, XDG_CACHE_HOME=str(tmp_path / "cache"))
    server = Server("--no-corpus", env=env)
    try:
        code = {"code": "import attrs\nattrs.__version__", "packages": ["attrs==25.1.0"]}
        status, _, answer = server.post("/v1/execute", code)
        assert status == 200 and answer["value"] == "25.1.0", answer
        status, _, plain = server.post("/v1/execute", {"code": "import attrs"})
        assert plain["outcome"] == "exception" and plain["error"]["type"] == "ModuleNotFoundError"
        status, _, bad = server.post("/v1/execute", {"code": "1", "packages": ["no-such-package-crucible==9.9.9"]})
        assert status == 400 and "no-such-package-crucible" in bad["error"]["message"]
    finally:
        assert server.stop() == 0
