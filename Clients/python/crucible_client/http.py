"""Clients for the API `crucible http` serves: sync and asyncio, stdlib only.

    crucible = CrucibleHTTP("http://127.0.0.1:8080")          # token: token= or $CRUCIBLE_HTTP_TOKEN
    print(crucible.execute("1 + 1").value)                    # 2
    with crucible.open_session() as session:                  # persistent by default over HTTP
        session.execute("x = 41")
        print(session.execute("x + 1").value)                 # 42

    async with AsyncCrucibleHTTP(url) as crucible:
        async with crucible.open_session() as session:        # or: session = await crucible.open_session()
            print((await session.execute("6 * 7")).value)     # 42

The sync client uses http.client rather than urllib: urllib opens a new connection for every
request, and a TCP handshake per execute would be most of a small cell's cost. Connections
are kept alive, one per thread, so the client may be shared by threads. The async client
speaks HTTP/1.1 over asyncio streams with a pool of kept-alive connections (at most
`max_connections` requests in flight; more wait for a free connection).
"""

import asyncio
import http.client
import json
import os
import threading
import urllib.parse

from ._opening import opening
from .results import (CrucibleError, ExecutionResult, FeedbackResult, ValidationResult, execute_params,
                      feedback_params, validate_params)

__all__ = ["CrucibleHTTP", "AsyncCrucibleHTTP", "HTTPSession", "AsyncHTTPSession"]

TOKEN_VARIABLE = "CRUCIBLE_HTTP_TOKEN"


class _Base:
    def __init__(self, url, token, timeout):
        parsed = urllib.parse.urlsplit(url)
        if parsed.scheme != "http" or not parsed.hostname:
            raise ValueError("url must be http://HOST:PORT (crucible http serves plain HTTP; put TLS in front of it)")
        self.url = url.rstrip("/")
        self._host, self._port = parsed.hostname, parsed.port or 80
        self._prefix = parsed.path.rstrip("/")
        self.token = token if token is not None else os.environ.get(TOKEN_VARIABLE)
        # How long to wait for an answer beyond the execution's own limit.
        self.timeout = timeout

    def _headers(self, body, auth=True):
        headers = {"Content-Type": "application/json", "Accept": "application/json"}
        if body is not None:
            headers["Content-Length"] = str(len(body))
        if auth and self.token:
            headers["Authorization"] = "Bearer " + self.token
        return headers

    @staticmethod
    def _error(status, headers, body):
        """The API's {"error": {code, message}} as a CrucibleError (a non-JSON body still says the status)."""
        try:
            error = json.loads(body)["error"]
            code, message = error["code"], error["message"]
        except (ValueError, KeyError, TypeError):
            code, message = "http_%d" % status, "HTTP %d: %s" % (status, body[:200].decode("utf-8", "replace"))
        retry = headers.get("retry-after")
        try:
            retry = float(retry) if retry is not None else None
        except ValueError:
            retry = None
        return CrucibleError(code, message, status=status, retry_after=retry)

    @staticmethod
    def _execute_body(code, inputs, timeout, memory_mb, python, packages, corpus):
        return execute_params(code, inputs=inputs, timeout=timeout, memory_mb=memory_mb, corpus=corpus,
                              python=python, packages=list(packages) if packages is not None else None)

    @staticmethod
    def _session_body(persistent, python, packages, timeout, memory_mb, idle_timeout, label, limits):
        body = {"persistent": persistent}
        for key, value in (("python", python), ("packages", packages), ("timeout", timeout), ("memory_mb", memory_mb),
                           ("idle_timeout", idle_timeout), ("label", label), ("limits", limits)):
            if value is not None:
                body[key] = list(value) if key == "packages" else value
        return body

    @staticmethod
    def _run_code_body(request, fields):
        # SandboxFusion's own client builds a RunCodeRequest from keywords; a dict (what verl
        # posts) works too, and keywords given with one override its fields.
        body = dict(request or {})
        body.update(fields)
        return body


class CrucibleHTTP(_Base):
    """A `crucible http` server. Thread-safe (one kept-alive connection per thread)."""

    def __init__(self, url="http://127.0.0.1:8080", *, token=None, timeout=600):
        super().__init__(url, token, timeout)
        self._local = threading.local()

    def execute(self, code, *, inputs=None, timeout=None, memory_mb=None, python=None, packages=None, corpus=None):
        """Runs code in a fresh confined worker: an ExecutionResult. `python` ("3.14") and
        `packages` (["attrs==25.1.0"]) choose the interpreter and what the code may import."""
        body = self._execute_body(code, inputs, timeout, memory_mb, python, packages, corpus)
        return ExecutionResult(self.request("POST", "/v1/execute", body))

    def validate(self, code, *, kind=None, rulesets=None, path=None, corpus=None):
        return ValidationResult(self.request("POST", "/v1/validate", validate_params(code, kind=kind, rulesets=rulesets, path=path, corpus=corpus)))

    def feedback(self, attempt, verdict, *, edited_code=None, note=None):
        return FeedbackResult(self.request("POST", "/v1/feedback", feedback_params(attempt, verdict, edited_code=edited_code, note=note)))

    def open_session(self, *, persistent=True, python=None, packages=None, timeout=None, memory_mb=None,
                     idle_timeout=None, label=None, limits=None):
        """A session (persistent unless told otherwise). An idle persistent session closes after
        `idle_timeout` seconds (the server's default: 300); `limits` bounds the server's tool
        calls ({calls_per_execution, tool_timeout, result_bytes})."""
        body = self._session_body(persistent, python, packages, timeout, memory_mb, idle_timeout, label, limits)
        answer = self.request("POST", "/v1/sessions", body)
        return HTTPSession(self, answer["session"], answer)

    def health(self):
        return self.request("GET", "/health", auth=False)

    def metrics(self):
        """The Prometheus text of GET /metrics."""
        return self.request("GET", "/metrics", raw=True).decode("utf-8")

    def run_code(self, request=None, /, **fields):
        """SandboxFusion's POST /run_code: a RunCodeRequest as a dict or as keywords
        (`run_code(code="print(input())", stdin="hi")`); its RunCodeResponse dict."""
        return self.request("POST", "/run_code", self._run_code_body(request, fields))

    def request(self, method, path, body=None, *, auth=True, raw=False):
        """One request; the decoded JSON answer (bytes with raw=True), or CrucibleError."""
        data = None if body is None else json.dumps(body, ensure_ascii=False).encode("utf-8")
        # A kept-alive connection the server closed meanwhile fails on first use; one retry on a
        # fresh connection covers that. Only when nothing came back, so nothing runs twice.
        for attempt in (1, 2):
            reused = getattr(self._local, "connection", None) is not None
            connection = self._connection()
            try:
                connection.request(method, self._prefix + path, body=data, headers=self._headers(data, auth))
                response = connection.getresponse()
                answer = response.read()
                break
            except (http.client.RemoteDisconnected, BrokenPipeError, ConnectionResetError) as error:
                self._drop()
                if attempt == 2 or not reused:
                    raise CrucibleError("connection", "no answer from %s: %s" % (self.url, error)) from None
            except TimeoutError:
                self._drop()
                raise CrucibleError("timeout", "no answer from %s within %s s" % (self.url, self.timeout)) from None
            except OSError as error:
                self._drop()
                raise CrucibleError("connection", "cannot reach %s: %s" % (self.url, error)) from None
        if response.getheader("Connection", "").lower() == "close":
            self._drop()
        if response.status != 200:
            raise self._error(response.status, {k.lower(): v for k, v in response.getheaders()}, answer)
        return answer if raw else json.loads(answer)

    def close(self):
        self._drop()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def _connection(self):
        connection = getattr(self._local, "connection", None)
        if connection is None:
            connection = http.client.HTTPConnection(self._host, self._port, timeout=self.timeout)
            self._local.connection = connection
        return connection

    def _drop(self):
        connection = getattr(self._local, "connection", None)
        if connection is not None:
            connection.close()
            self._local.connection = None


class HTTPSession:
    """A session on a `crucible http` server (persistent: variables survive between executes)."""

    def __init__(self, client, session_id, info):
        self.client, self.id, self.info = client, session_id, info

    def execute(self, code, *, inputs=None, timeout=None, corpus=None):
        body = execute_params(code, inputs=inputs, timeout=timeout, corpus=corpus)
        return ExecutionResult(self.client.request("POST", "/v1/sessions/%s/execute" % urllib.parse.quote(self.id, safe=""), body))

    def close(self):
        return self.client.request("DELETE", "/v1/sessions/%s" % urllib.parse.quote(self.id, safe=""))

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


class AsyncCrucibleHTTP(_Base):
    """A `crucible http` server from asyncio: `async with AsyncCrucibleHTTP(url) as crucible:`."""

    def __init__(self, url="http://127.0.0.1:8080", *, token=None, timeout=600, max_connections=64):
        super().__init__(url, token, timeout)
        self._idle = []  # (reader, writer) pairs kept alive
        self._slots = asyncio.Semaphore(max_connections)

    async def execute(self, code, *, inputs=None, timeout=None, memory_mb=None, python=None, packages=None, corpus=None):
        body = self._execute_body(code, inputs, timeout, memory_mb, python, packages, corpus)
        return ExecutionResult(await self.request("POST", "/v1/execute", body))

    async def validate(self, code, *, kind=None, rulesets=None, path=None, corpus=None):
        return ValidationResult(await self.request("POST", "/v1/validate", validate_params(code, kind=kind, rulesets=rulesets, path=path, corpus=corpus)))

    async def feedback(self, attempt, verdict, *, edited_code=None, note=None):
        return FeedbackResult(await self.request("POST", "/v1/feedback", feedback_params(attempt, verdict, edited_code=edited_code, note=note)))

    @opening
    async def open_session(self, *, persistent=True, python=None, packages=None, timeout=None, memory_mb=None,
                           idle_timeout=None, label=None, limits=None):
        """As CrucibleHTTP.open_session. Await it, or enter it: `async with crucible.open_session() as session:`."""
        body = self._session_body(persistent, python, packages, timeout, memory_mb, idle_timeout, label, limits)
        answer = await self.request("POST", "/v1/sessions", body)
        return AsyncHTTPSession(self, answer["session"], answer)

    async def health(self):
        return await self.request("GET", "/health", auth=False)

    async def metrics(self):
        return (await self.request("GET", "/metrics", raw=True)).decode("utf-8")

    async def run_code(self, request=None, /, **fields):
        return await self.request("POST", "/run_code", self._run_code_body(request, fields))

    async def request(self, method, path, body=None, *, auth=True, raw=False):
        data = None if body is None else json.dumps(body, ensure_ascii=False).encode("utf-8")
        head = "%s %s HTTP/1.1\r\nHost: %s:%d\r\n" % (method, self._prefix + path, self._host, self._port)
        head += "".join("%s: %s\r\n" % item for item in self._headers(data if data is not None else b"", auth).items())
        message = head.encode("latin-1") + b"\r\n" + (data or b"")
        async with self._slots:
            for attempt in (1, 2):
                reused = bool(self._idle)
                reader, writer = self._idle.pop() if reused else await self._open()
                try:
                    writer.write(message)
                    await writer.drain()
                    status, headers, answer = await asyncio.wait_for(_read_response(reader), self.timeout)
                    break
                except (ConnectionError, asyncio.IncompleteReadError) as error:
                    writer.close()
                    # Only a kept-alive connection that died unused is retried (see CrucibleHTTP.request).
                    if attempt == 2 or not reused:
                        raise CrucibleError("connection", "no answer from %s: %s" % (self.url, error)) from None
                except asyncio.TimeoutError:
                    writer.close()
                    raise CrucibleError("timeout", "no answer from %s within %s s" % (self.url, self.timeout)) from None
                except BaseException:  # cancelled, or a malformed answer: the connection's state is unknown
                    writer.close()
                    raise
            if headers.get("connection", "").lower() == "close":
                writer.close()
            else:
                self._idle.append((reader, writer))
        if status != 200:
            raise self._error(status, headers, answer)
        return answer if raw else json.loads(answer)

    async def close(self):
        idle, self._idle = self._idle, []
        for _, writer in idle:
            writer.close()

    async def __aenter__(self):
        return self

    async def __aexit__(self, *exc):
        await self.close()

    async def _open(self):
        try:
            return await asyncio.open_connection(self._host, self._port, limit=1 << 20)
        except OSError as error:
            raise CrucibleError("connection", "cannot reach %s: %s" % (self.url, error)) from None


class AsyncHTTPSession:
    def __init__(self, client, session_id, info):
        self.client, self.id, self.info = client, session_id, info

    async def execute(self, code, *, inputs=None, timeout=None, corpus=None):
        body = execute_params(code, inputs=inputs, timeout=timeout, corpus=corpus)
        return ExecutionResult(await self.client.request("POST", "/v1/sessions/%s/execute" % urllib.parse.quote(self.id, safe=""), body))

    async def close(self):
        return await self.client.request("DELETE", "/v1/sessions/%s" % urllib.parse.quote(self.id, safe=""))

    async def __aenter__(self):
        return self

    async def __aexit__(self, *exc):
        await self.close()


async def _read_response(reader):
    """Status, lower-cased headers and body of one HTTP/1.1 response (Content-Length or chunked)."""
    status_line = await reader.readline()
    if not status_line:
        raise ConnectionResetError("the server closed the connection")
    parts = status_line.decode("latin-1").split(" ", 2)
    if len(parts) < 2 or not parts[0].startswith("HTTP/"):
        raise CrucibleError("protocol", "not an HTTP response: %r" % status_line[:100])
    status = int(parts[1])
    headers = {}
    while True:
        line = await reader.readline()
        if line in (b"\r\n", b"\n", b""):
            break
        name, _, value = line.decode("latin-1").partition(":")
        headers[name.strip().lower()] = value.strip()
    if headers.get("transfer-encoding", "").lower() == "chunked":
        body = bytearray()
        while True:
            size = int((await reader.readline()).split(b";")[0].strip(), 16)
            if size == 0:
                while (await reader.readline()) not in (b"\r\n", b"\n", b""):
                    pass  # trailers
                break
            body += await reader.readexactly(size)
            await reader.readexactly(2)
        return status, headers, bytes(body)
    if "content-length" in headers:
        return status, headers, await reader.readexactly(int(headers["content-length"]))
    # No length: the body runs to the end of the connection, which cannot be reused.
    headers["connection"] = "close"
    return status, headers, await reader.read()
