"""The HTTP clients (CrucibleHTTP, AsyncCrucibleHTTP) against a server that speaks the API
`crucible http` serves (routes, bearer token, error bodies, 429 with Retry-After) and runs
every request on a real `crucible serve` behind it. The fake stands in until `crucible http`
is merged; then these tests move to the real server (the client code does not change)."""

import asyncio
import json
import os
import subprocess
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "..", "Clients", "python"))

from crucible_client import AsyncCrucibleHTTP, Crucible, CrucibleError, CrucibleHTTP  # noqa: E402

TOKEN = "s3cret-token"
BODY_CAP = 1 << 20
# serve's JSON-RPC error codes -> the API's (status, code)
ERRORS = {-32602: (400, "invalid_params"), -32001: (404, "not_found"), -32003: (429, "busy"), -32002: (503, "sandbox_failure")}


class FakeCrucibleHTTP(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, crucible):
        super().__init__(("127.0.0.1", 0), Handler)
        self.crucible = crucible
        self.requests = []  # (method, path, body) as received
        self.connections = 0
        self.busy_next = 0  # answer the next N requests 429

    @property
    def url(self):
        return "http://127.0.0.1:%d" % self.server_address[1]


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as the real server

    def setup(self):
        super().setup()
        self.server.connections += 1

    def log_message(self, *args):
        pass

    def answer(self, status, body, content_type="application/json", headers=()):
        data = body if isinstance(body, bytes) else json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        for name, value in headers:
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(data)

    def error(self, status, code, message, headers=()):
        self.answer(status, {"error": {"code": code, "message": message}}, headers=headers)

    def do_GET(self):
        self.route("GET")

    def do_POST(self):
        self.route("POST")

    def do_DELETE(self):
        self.route("DELETE")

    def route(self, method):
        length = int(self.headers.get("Content-Length") or 0)
        if length > BODY_CAP:
            self.rfile.read(length)
            return self.error(413, "too_large", "the body is over %d bytes" % BODY_CAP)
        raw = self.rfile.read(length)
        body = json.loads(raw) if raw else None
        self.server.requests.append((method, self.path, body))
        if (method, self.path) == ("GET", "/health"):
            return self.answer(200, {"status": "ok", "python": self.server.crucible.server["python"], "server": "crucible"})
        if self.headers.get("Authorization") != "Bearer " + TOKEN:
            return self.error(401, "unauthorized", "a valid bearer token is required")
        if self.server.busy_next:
            self.server.busy_next -= 1
            return self.error(429, "busy", "the queue is full", headers=[("Retry-After", "2")])
        crucible = self.server.crucible
        parts = self.path.strip("/").split("/")
        try:
            if (method, self.path) == ("GET", "/metrics"):
                return self.answer(200, b'crucible_executions_total{outcome="ok"} 1\n', "text/plain; version=0.0.4")
            if not isinstance(body, dict) and method == "POST":
                return self.error(400, "invalid_params", "the body must be a JSON object")
            if (method, self.path) == ("POST", "/v1/execute"):
                # The fake's serve has the packages it started with; the test checks what was asked.
                options = {k: body[k] for k in ("inputs", "timeout", "memory_mb", "corpus", "python") if k in body}
                return self.answer(200, crucible.execute(body.get("code"), **options))
            if (method, self.path) == ("POST", "/v1/validate"):
                options = {k: body[k] for k in ("kind", "rulesets", "path", "corpus") if k in body}
                return self.answer(200, crucible.validate(body.get("code"), **options))
            if (method, self.path) == ("POST", "/v1/feedback"):
                options = {k: body[k] for k in ("edited_code", "note") if k in body}
                return self.answer(200, crucible.feedback(body.get("attempt"), body.get("verdict"), **options))
            if (method, self.path) == ("POST", "/v1/sessions"):
                persistent = body.get("persistent", True)
                session = crucible.open_session(persistent=persistent, python=body.get("python"))
                return self.answer(200, {"session": session.id, "persistent": persistent})
            if method == "POST" and len(parts) == 4 and parts[:2] == ["v1", "sessions"] and parts[3] == "execute":
                options = {k: body[k] for k in ("inputs", "timeout", "corpus") if k in body}
                return self.answer(200, crucible.execute(body.get("code"), session=parts[2], **options))
            if method == "DELETE" and len(parts) == 3 and parts[:2] == ["v1", "sessions"]:
                crucible.request("close_session", {"session": parts[2]})
                return self.answer(200, {"closed": True})
        except CrucibleError as error:
            status, code = ERRORS.get(error.code, (500, "internal"))
            return self.error(status, code, error.message)
        return self.error(404, "not_found", "no route %s %s" % (method, self.path))


@pytest.fixture(scope="module")
def server():
    with Crucible(stderr=subprocess.DEVNULL) as crucible:
        fake = FakeCrucibleHTTP(crucible)
        thread = threading.Thread(target=fake.serve_forever, daemon=True)
        thread.start()
        yield fake
        fake.shutdown()
        fake.server_close()


def test_sync_client_executes_validates_and_keeps_its_connection(server):
    with CrucibleHTTP(server.url, token=TOKEN) as crucible:
        assert crucible.health()["status"] == "ok"
        before = server.connections
        result = crucible.execute("print('hi')\nx * 2", inputs={"x": 21}, timeout=5)
        assert result.outcome == "ok" and result.value == 42 and result.stdout == "hi\n"
        assert result["value"] == 42  # typed results are still the dicts serve returns
        failed = crucible.execute("1 / 0")
        assert failed.outcome == "exception" and failed.error["type"] == "ZeroDivisionError"
        checked = crucible.validate("x = 1\n", rulesets=["view"])
        assert checked.passed is True and checked.diagnostics == []
        with pytest.raises(CrucibleError) as unknown:
            crucible.validate("x = 1\n", rulesets=["nosuch"])
        assert (unknown.value.status, unknown.value.code) == (400, "invalid_params") and "view" in unknown.value.message
        for _ in range(5):
            assert crucible.execute("1").value == 1
        # Ten requests after /health, one connection: kept alive, no handshake per execute.
        assert server.connections == before
        assert crucible.metrics().startswith("crucible_executions_total")
    method, path, body = server.requests[-10]
    assert (method, path, body) == ("POST", "/v1/execute", {"code": "print('hi')\nx * 2", "inputs": {"x": 21}, "timeout": 5})


def test_python_and_packages_are_sent_as_the_api_names_them(server):
    crucible = CrucibleHTTP(server.url, token=TOKEN)
    version = server.crucible.server["python"]
    result = crucible.execute("import sys\nsys.version_info[:2]", python=version, packages=("attrs==25.1.0",))
    assert result.value == [int(p) for p in version.split(".")[:2]]
    assert server.requests[-1][2] == {"code": "import sys\nsys.version_info[:2]", "python": version,
                                      "packages": ["attrs==25.1.0"]}
    session = crucible.open_session(python=version, packages=["attrs==25.1.0"], memory_mb=256)
    assert server.requests[-1][2] == {"persistent": True, "python": version, "packages": ["attrs==25.1.0"], "memory_mb": 256}
    session.close()


def test_token_from_the_environment_and_a_wrong_one(server, monkeypatch):
    monkeypatch.setenv("CRUCIBLE_HTTP_TOKEN", TOKEN)
    assert CrucibleHTTP(server.url).execute("2 + 2").value == 4
    with pytest.raises(CrucibleError) as refused:
        CrucibleHTTP(server.url, token="wrong").execute("2 + 2")
    assert (refused.value.status, refused.value.code) == (401, "unauthorized")
    assert "token" in refused.value.message


def test_persistent_session_then_closed(server):
    crucible = CrucibleHTTP(server.url, token=TOKEN)
    with crucible.open_session() as session:
        assert session.info["persistent"] is True
        session.execute("total = 40")
        assert session.execute("total + 2").value == 42
    with pytest.raises(CrucibleError) as gone:
        session.execute("total")
    assert (gone.value.status, gone.value.code) == (404, "not_found")


def test_errors_carry_status_code_and_retry_after(server):
    crucible = CrucibleHTTP(server.url, token=TOKEN)
    server.busy_next = 1
    with pytest.raises(CrucibleError) as busy:
        crucible.execute("1")
    assert (busy.value.status, busy.value.code, busy.value.retry_after, busy.value.busy) == (429, "busy", 2.0, True)
    with pytest.raises(CrucibleError) as bad:
        crucible.execute("1", timeout=-1)
    assert (bad.value.status, bad.value.code) == (400, "invalid_params") and "timeout" in bad.value.message
    with pytest.raises(CrucibleError) as big:
        crucible.execute("x = '%s'" % ("a" * BODY_CAP))
    assert (big.value.status, big.value.code) == (413, "too_large")
    with pytest.raises(CrucibleError) as nowhere:
        CrucibleHTTP("http://127.0.0.1:9", token=TOKEN).execute("1")
    assert nowhere.value.code == "connection" and "cannot reach" in nowhere.value.message


def test_async_client_runs_requests_concurrently_in_order(server):
    async def main():
        async with AsyncCrucibleHTTP(server.url, token=TOKEN, max_connections=4) as crucible:
            assert (await crucible.health())["server"] == "crucible"
            results = await asyncio.gather(*(crucible.execute("%d * 3" % i) for i in range(12)))
            assert [r.value for r in results] == [i * 3 for i in range(12)]
            session = await crucible.open_session()
            await session.execute("seen = [1]")
            assert (await session.execute("seen + [2]")).value == [1, 2]
            await session.close()
            server.busy_next = 1
            with pytest.raises(CrucibleError) as busy:
                await crucible.execute("1")
            assert (busy.value.status, busy.value.retry_after) == (429, 2.0)
            return len(crucible._idle)

    before = server.connections
    idle = asyncio.run(main())
    # Twelve requests at once over at most four connections, reused afterwards.
    assert 1 <= server.connections - before <= 4 and idle == server.connections - before
