"""The asyncio client for `crucible serve`: the same protocol and results as `Crucible`.

    async with AsyncCrucible.start() as crucible:            # or: crucible = await AsyncCrucible.start()
        results = await asyncio.gather(*(crucible.execute(code) for code in codes))
        async with crucible.open_session(persistent=True) as session:
            await session.execute("x = 41")

Requests run concurrently on the server, so `gather` of many executes keeps its workers
busy. Tools declared with `open_session(tools=...)` may be plain functions (run in a
thread, so a slow one does not stall the event loop) or coroutine functions (awaited).
"""

import asyncio
import inspect
import itertools
import json

from ._opening import opening
from .results import (CrucibleError, ExecutionResult, FeedbackResult, ValidationResult, execute_params,
                      feedback_params, validate_params)
from .stdio import Tool, _ended_message, _StderrTail, serve_command

__all__ = ["AsyncCrucible", "AsyncSession"]

# serve accepts lines up to 64 MiB; asyncio's default 64 KiB line limit would cut a large result.
_LINE_LIMIT = 64 << 20


class AsyncCrucible:
    """A `crucible serve` process driven from asyncio. Create it with `await AsyncCrucible.start(...)`
    or `async with AsyncCrucible.start(...) as crucible:`."""

    def __init__(self, process, stderr_tail=None):
        self._process = process
        self._stderr_tail = stderr_tail
        self._pending = {}
        self._ids = itertools.count(1)
        self._tools = {}  # session id -> {name: Tool}
        self._python_sessions = {}
        self._closed = None
        self._write_lock = asyncio.Lock()
        self._tasks = set()  # tool calls in flight, kept referenced until done
        self.server = None
        self._reader = asyncio.ensure_future(self._read())

    @classmethod
    @opening
    async def start(cls, command=None, *, args=(), cwd=None, stderr=None, env=None, python=None, packages=()):
        """Starts `crucible serve` (see `Crucible` for the options, stderr's included) and
        initializes the connection."""
        if command is not None and (python is not None or packages):
            raise ValueError("python= and packages= build the command; with command=[...] pass --python/--with in it")
        argv = list(command or serve_command(python=python, packages=packages)) + list(args)
        # A thread copies serve's stderr, as for Crucible: writing it on to ours from the event
        # loop could stall the loop on a full pipe.
        tail = _StderrTail() if stderr is None else None
        try:
            process = await asyncio.create_subprocess_exec(
                *argv, stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
                stderr=tail.write_end if tail else stderr, cwd=cwd, env=env, limit=_LINE_LIMIT)
        except BaseException:
            if tail:
                tail.abandon()
            raise
        if tail:
            tail.started()
        client = cls(process, tail)
        try:
            client.server = await client.request("initialize", {})
        except BaseException:
            await client.close()
            raise
        return client

    async def execute(self, code, *, inputs=None, session=None, timeout=None, memory_mb=None, corpus=None, python=None):
        if python is not None:
            if session is not None:
                raise ValueError("a session's interpreter is chosen when it opens: pass python= to open_session")
            session = await self._session_for_python(python)
        params = execute_params(code, inputs=inputs, timeout=timeout, memory_mb=memory_mb, corpus=corpus)
        if session is not None:
            params["session"] = session.id if isinstance(session, AsyncSession) else session
        return ExecutionResult(await self.request("execute", params))

    async def validate(self, code, *, kind=None, rulesets=None, path=None, corpus=None):
        return ValidationResult(await self.request("validate", validate_params(code, kind=kind, rulesets=rulesets, path=path, corpus=corpus)))

    async def feedback(self, attempt, verdict, *, edited_code=None, note=None):
        return FeedbackResult(await self.request("feedback", feedback_params(attempt, verdict, edited_code=edited_code, note=note)))

    @opening
    async def open_session(self, tools=(), *, persistent=False, idle_timeout=None, label=None, limits=None, python=None):
        """As Crucible.open_session. Await it, or enter it: `async with crucible.open_session() as session:`."""
        tools = [t if isinstance(t, Tool) else Tool(t) for t in tools]
        params = {"tools": [t.definition() for t in tools], "persistent": persistent}
        for key, value in (("python", python), ("idle_timeout", idle_timeout), ("label", label), ("limits", limits)):
            if value is not None:
                params[key] = value
        answer = await self.request("open_session", params)
        # No await between the answer and this line: the reader cannot deliver a call_tool first.
        self._tools[answer["session"]] = {t.name: t for t in tools}
        return AsyncSession(self, answer["session"], answer)

    async def list_tools(self, session=None):
        return (await self.request("list_tools", _session_params(session)))["tools"]

    async def describe_tools(self, session=None):
        return await self.request("describe_tools", _session_params(session))

    async def request(self, method, params=None):
        """Sends one request and awaits its result; raises CrucibleError on an error."""
        if self._closed:
            raise CrucibleError(-32000, self._closed)
        request_id = next(self._ids)
        future = asyncio.get_running_loop().create_future()
        self._pending[request_id] = future
        try:
            await self._send({"jsonrpc": "2.0", "id": request_id, "method": method, "params": params or {}})
            return await future
        finally:
            self._pending.pop(request_id, None)

    async def close(self):
        """Closes stdin (the server finishes, closes its sessions and exits) and waits for it."""
        if self._process.stdin and not self._process.stdin.is_closing():
            self._process.stdin.close()
        code = await asyncio.wait_for(self._process.wait(), 30)
        await self._reader
        if self._stderr_tail:
            await asyncio.to_thread(self._stderr_tail.said)  # its last lines reach our stderr first
        return code

    async def __aenter__(self):
        return self

    async def __aexit__(self, *exc):
        await self.close()

    # -- internals ---------------------------------------------------------------------------

    async def _session_for_python(self, version):
        if version not in self._python_sessions:
            session = (await self.request("open_session", {"python": version}))["session"]
            self._python_sessions.setdefault(version, session)
        return self._python_sessions[version]

    async def _send(self, message):
        data = (json.dumps(message, ensure_ascii=False) + "\n").encode("utf-8")
        async with self._write_lock:
            try:
                self._process.stdin.write(data)
                await self._process.stdin.drain()
            except (ConnectionError, RuntimeError, AttributeError) as error:
                raise CrucibleError(-32000, "the connection to crucible serve is closed (%s)" % error) from None

    async def _read(self):
        stream = self._process.stdout
        reason = None
        while reason is None:
            try:
                line = await stream.readline()
            except ValueError:  # a line over the limit
                reason = "the server wrote a line over %d bytes" % _LINE_LIMIT
                break
            if not line:
                break
            try:
                message = json.loads(line)
            except ValueError:
                reason = "the server wrote a line that is not JSON: %r" % line[:200]
                break
            if isinstance(message, dict) and "method" in message:
                task = asyncio.ensure_future(self._serve_request(message))
                self._tasks.add(task)
                task.add_done_callback(self._tasks.discard)
                continue
            for reply in message if isinstance(message, list) else [message]:
                future = self._pending.pop(reply.get("id"), None)
                if future is None or future.done():
                    continue
                if "error" in reply:
                    error = reply["error"]
                    future.set_exception(CrucibleError(error.get("code"), error.get("message"), error.get("data")))
                else:
                    future.set_result(reply.get("result"))
        if reason is None:
            try:  # its stdout closed: it is exiting, and its status says how (2: a usage error)
                status = await asyncio.wait_for(self._process.wait(), 5)
            except asyncio.TimeoutError:
                status = None
            reason = await asyncio.to_thread(_ended_message, status, self._stderr_tail)
        self._closed = reason
        for future in list(self._pending.values()):
            if not future.done():
                future.set_exception(CrucibleError(-32000, reason))
        self._pending.clear()

    async def _serve_request(self, message):
        request_id = message.get("id")
        params = message.get("params") or {}
        found = None
        if message.get("method") == "call_tool":
            found = self._tools.get(params.get("session"), {}).get(params.get("name"))
        if message.get("method") != "call_tool":
            reply = {"error": {"code": -32601, "message": "Method not found"}}
        elif found is None:
            reply = {"error": {"code": -32602, "message": "no client tool %r in this session" % params.get("name")}}
        else:
            arguments = params.get("arguments") or {}
            try:
                if inspect.iscoroutinefunction(found.function):
                    result = await found.function(**arguments)
                else:
                    result = await asyncio.to_thread(found.function, **arguments)
                json.dumps(result)  # a result JSON cannot hold is the tool's error, said here
                reply = {"result": result}
            except Exception as error:  # the tool's failure goes back to the sandboxed code
                reply = {"error": {"code": -32000, "message": "%s: %s" % (type(error).__name__, error)}}
        if request_id is None:
            return
        try:
            await self._send(dict(jsonrpc="2.0", id=request_id, **reply))
        except CrucibleError:
            pass  # the connection closed while the tool ran: nobody is waiting for the answer


class AsyncSession:
    """An open session of an AsyncCrucible."""

    def __init__(self, client, session_id, info):
        self.client, self.id, self.info = client, session_id, info

    async def execute(self, code, **options):
        return await self.client.execute(code, session=self, **options)

    async def describe_tools(self):
        return await self.client.describe_tools(self)

    async def close(self):
        await self.client.request("close_session", {"session": self.id})
        self.client._tools.pop(self.id, None)

    async def __aenter__(self):
        return self

    async def __aexit__(self, *exc):
        await self.close()


def _session_params(session):
    if session is None:
        return {}
    return {"session": session.id if isinstance(session, AsyncSession) else session}
