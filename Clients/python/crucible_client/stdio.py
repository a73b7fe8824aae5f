"""The synchronous client for `crucible serve` (JSON-RPC 2.0, one JSON object per line), stdlib only.

    from crucible_client import Crucible, tool

    @tool(input_schema={"type": "object", "properties": {"user_id": {"type": "integer"}},
                        "required": ["user_id"]})
    def get_user(user_id):
        "Look up a user."
        return {"id": user_id, "name": "Ada"}

    with Crucible() as crucible:
        print(crucible.execute("1 + 1")["value"])            # 2
        with crucible.open_session(tools=[get_user]) as session:
            print(session.execute("get_user(7).name")["value"])  # Ada

Calls from the sandboxed code to a tool declared here arrive as `call_tool` requests and
run in a thread of this process; what the function returns (JSON data) goes back to the
code, after the server checks it against the tool's output schema. An exception becomes a
ToolError in the sandbox with the exception's message.
"""

import io
import itertools
import json
import os
import queue
import shutil
import subprocess
import threading

from .results import (CrucibleError, ExecutionResult, FeedbackResult, ValidationResult, execute_params,
                      feedback_params, validate_params)

__all__ = ["Crucible", "CrucibleError", "Session", "Tool", "tool", "serve_command"]

# Put in a waiting thread's inbox: the turn to read the server's output is now that thread's.
_TURN = object()


class Tool:
    """A tool the client provides: an MCP-shaped contract and the function that performs it."""

    def __init__(self, function, name=None, description=None, input_schema=None, output_schema=None):
        self.function = function
        self.name = name or function.__name__
        self.description = description if description is not None else (function.__doc__ or "").strip()
        self.input_schema = input_schema or {"type": "object"}
        self.output_schema = output_schema

    def definition(self):
        definition = {"name": self.name, "description": self.description, "inputSchema": self.input_schema}
        if self.output_schema is not None:
            definition["outputSchema"] = self.output_schema
        return definition

    def __call__(self, *args, **kwargs):
        return self.function(*args, **kwargs)


def tool(function=None, *, name=None, description=None, input_schema=None, output_schema=None):
    """Decorator: turns a function into a `Tool` (usable as `@tool` or `@tool(...)`)."""

    def wrap(fn):
        return Tool(fn, name, description, input_schema, output_schema)

    return wrap(function) if function is not None else wrap


def crucible_binary():
    """The crucible executable: $CRUCIBLE_BIN, else the repository's debug build when this
    package is used from a checkout (the tests), else `crucible` on PATH."""
    given = os.environ.get("CRUCIBLE_BIN")
    if given:
        if not os.access(given, os.X_OK):
            raise FileNotFoundError("CRUCIBLE_BIN=%s is not an executable file" % given)
        return given
    here = os.path.dirname(os.path.abspath(__file__))
    built = os.path.normpath(os.path.join(here, "..", "..", "..", ".build", "debug", "crucible"))
    if os.path.exists(built):
        return built
    found = shutil.which("crucible")
    if found:
        return found
    raise FileNotFoundError("crucible not found: set CRUCIBLE_BIN, put crucible on PATH, or pass command=[...]")


def serve_command(*, python=None, packages=(), corpus=None):
    """argv for `crucible serve` with an interpreter (`python="3.14"`), packages the code may
    import (`packages=["attrs==25.1.0"]`, pip requirement strings) and a corpus file."""
    argv = [crucible_binary(), "serve"]
    if python is not None:
        argv += ["--python", python]
    for requirement in packages or ():
        argv += ["--with", requirement]
    if corpus is not None:
        argv += ["--corpus", str(corpus)]
    return argv


class _StderrTail:
    """Passes a server's stderr on to this process's own (file descriptor 2, where it went
    before) and keeps its last bytes, so the error for a server that ended can say why (a
    package that will not install, a bad flag): otherwise the reason is only on a terminal.

    Give `write_end` to the child as its stderr, then call `started()`. A thread copies: it
    always drains the pipe, so the server never blocks on a full one."""

    KEPT_BYTES = 4000

    def __init__(self):
        self._read_end, self.write_end = os.pipe()
        self._kept = bytearray()
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._copy, name="crucible-stderr", daemon=True)

    def started(self):
        os.close(self.write_end)  # the child has its copy; ours would keep the end of output from coming
        self._thread.start()

    def abandon(self):
        """The child did not start: nothing will read or write."""
        os.close(self.write_end)
        os.close(self._read_end)

    def said(self, wait=2):
        """The end of what the server wrote, once it finished writing (or after `wait` seconds:
        a process it started may still hold the pipe)."""
        self._thread.join(wait)
        with self._lock:
            kept = bytes(self._kept)
        text = kept.decode("utf-8", "replace")
        if len(kept) >= self.KEPT_BYTES and "\n" in text:
            text = text.split("\n", 1)[1]  # from the first whole line
        return text.strip()

    def _copy(self):
        passing = True
        with open(self._read_end, "rb", buffering=0) as stream:
            while True:
                chunk = stream.read(1 << 16)
                if not chunk:
                    return
                with self._lock:
                    self._kept += chunk
                    del self._kept[:-self.KEPT_BYTES]
                while passing and chunk:
                    try:
                        chunk = chunk[os.write(2, chunk):]
                    except OSError:  # our stderr is closed: keep draining and keeping
                        passing = False


def _ended_message(status, tail):
    """Why requests fail once serve's output ended, with what it said last when it was kept."""
    message = "the crucible serve process ended (exit status %s)" % status
    said = tail.said() if tail is not None else ""
    return message + "; it said: " + said if said else message


class Crucible:
    """A `crucible serve` process and the connection to it. Thread-safe: requests may be
    made from several threads at once and run concurrently on the server.

    `python` and `packages` choose the interpreter and the third-party packages for the whole
    server (`--python`, `--with`: over stdio they are fixed when the server starts; packages
    are installed on first use and cached). `execute(python=...)` picks another installed
    interpreter for one call.

    serve's log goes to this process's stderr, or to `stderr` (a file, subprocess.DEVNULL).
    Without `stderr`, the client also keeps its last lines: when serve ends, the CrucibleError
    says what it said last."""

    def __init__(self, command=None, *, args=(), cwd=None, stderr=None, env=None, python=None, packages=()):
        if command is not None and (python is not None or packages):
            raise ValueError("python= and packages= build the command; with command=[...] pass --python/--with in it")
        argv = list(command or serve_command(python=python, packages=packages)) + list(args)
        self._stderr_tail = _StderrTail() if stderr is None else None
        try:
            self._process = subprocess.Popen(
                argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                stderr=self._stderr_tail.write_end if self._stderr_tail else stderr, cwd=cwd, env=env, bufsize=0
            )
        except BaseException:
            if self._stderr_tail:
                self._stderr_tail.abandon()
            raise
        if self._stderr_tail:
            self._stderr_tail.started()
        self._python_sessions = {}  # version -> session id: how execute(python=...) reaches another interpreter
        self._write_lock = threading.Lock()
        self._state_lock = threading.Lock()
        self._pending = {}  # request id -> the inbox of the thread waiting for its reply
        # Tool calls go to threads kept for them: one started per call cost more than the call.
        self._tool_calls = queue.SimpleQueue()
        self._idle_tool_threads = 0
        self._ids = itertools.count(1)
        self._tools = {}  # session id -> {name: Tool}
        self._closed = None
        # Replies that answer no request of ours (JSON-RPC errors with id null), as they are read.
        self.unsolicited = []
        # The threads waiting for replies take turns reading (leader/follower): the one whose
        # turn it is reads, hands other threads their replies and passes the turn on when its own
        # came. A lone caller reads its reply itself, with no hand-over between two threads
        # (10-14 us per reply, BENCHMARKS.md). Buffered: the process's stdout is unbuffered
        # (bufsize=0, for stdin's sake), and lines read from a raw pipe come one read(2) per byte.
        self._stream = io.BufferedReader(self._process.stdout, 1 << 16)
        self._reading = False  # a thread holds the turn
        self.server = self.request("initialize", {})

    # -- public API ---------------------------------------------------------------------------

    def execute(self, code, *, inputs=None, session=None, timeout=None, memory_mb=None, corpus=None, python=None):
        """Runs code in a fresh confined worker (or a session); returns an ExecutionResult.
        `corpus` links attempts at one artifact in the server's corpus: {"session": ID,
        "task": ..., "kind": ...}; False records nothing. `python` ("3.14") runs it on
        another interpreter than the server's (through a session kept for that version)."""
        if python is not None:
            if session is not None:
                raise ValueError("a session's interpreter is chosen when it opens: pass python= to open_session")
            session = self._session_for_python(python)
        params = execute_params(code, inputs=inputs, timeout=timeout, memory_mb=memory_mb, corpus=corpus)
        if session is not None:
            params["session"] = session.id if isinstance(session, Session) else session
        return ExecutionResult(self.request("execute", params))

    def validate(self, code, *, kind=None, rulesets=None, path=None, corpus=None):
        """The validators on `code` (by artifact kind or ruleset names): a ValidationResult
        {passed, diagnostics, feedback}. `corpus` links it with other attempts, as for execute."""
        return ValidationResult(self.request("validate", validate_params(code, kind=kind, rulesets=rulesets, path=path, corpus=corpus)))

    def feedback(self, attempt, verdict, *, edited_code=None, note=None):
        """The user's verdict on an attempt: `attempt` is the id an execute or validate result
        carried (`result["attempt"]`); verdict "accepted", "edited" (with `edited_code`, kept as
        the fix) or "rejected"."""
        return FeedbackResult(self.request("feedback", feedback_params(attempt, verdict, edited_code=edited_code, note=note)))

    def open_session(self, tools=(), *, persistent=False, idle_timeout=None, label=None, limits=None, python=None):
        """Opens a session whose code may call `tools` (Tool objects) besides the server's own.
        With persistent=True, variables survive from one execute to the next. `python` ("3.14")
        runs the session's code on another interpreter than the server's."""
        tools = [t if isinstance(t, Tool) else Tool(t) for t in tools]
        params = {"tools": [t.definition() for t in tools], "persistent": persistent}
        if python is not None:
            params["python"] = python
        if idle_timeout is not None:
            params["idle_timeout"] = idle_timeout
        if label is not None:
            params["label"] = label
        if limits is not None:
            params["limits"] = limits
        # Register before the server can call: the first call may come with the first execute.
        pending_tools = {t.name: t for t in tools}
        answer = self.request("open_session", params)
        with self._state_lock:
            self._tools[answer["session"]] = pending_tools
        return Session(self, answer["session"], answer)

    def _session_for_python(self, version):
        # Serve picks the interpreter per session: one non-persistent session per version,
        # opened on first use, gives every later execute a fresh worker on that interpreter.
        with self._state_lock:
            found = self._python_sessions.get(version)
        if found is None:
            found = self.request("open_session", {"python": version})["session"]
            with self._state_lock:
                found = self._python_sessions.setdefault(version, found)
        return found

    def list_tools(self, session=None):
        return self.request("list_tools", self._session_params(session))["tools"]

    def describe_tools(self, session=None):
        """{'python_api': stubs, 'prompt': text for a model}."""
        return self.request("describe_tools", self._session_params(session))

    def request(self, method, params=None):
        """Sends one request and waits for its result; raises CrucibleError on an error."""
        request_id = next(self._ids)
        inbox = queue.SimpleQueue()  # where the reader puts the reply
        with self._state_lock:
            if self._closed:
                raise CrucibleError(-32000, self._closed)
            self._pending[request_id] = inbox
        try:
            self._send({"jsonrpc": "2.0", "id": request_id, "method": method, "params": params or {}})
        except CrucibleError:
            with self._state_lock:
                self._pending.pop(request_id, None)
            raise
        try:
            reply = self._wait(inbox)
        except BaseException:  # interrupted: no reply will be awaited, and no turn may be left here
            self._abandon(request_id, inbox)
            raise
        if "error" in reply:
            error = reply["error"]
            raise CrucibleError(error.get("code"), error.get("message"), error.get("data"))
        return reply.get("result")

    def send_raw(self, line):
        """Writes one raw line (tests use it to send malformed messages)."""
        with self._write_lock:
            self._process.stdin.write(line if isinstance(line, bytes) else line.encode())
            self._process.stdin.flush()

    def close(self):
        """Closes stdin (the server ends its sessions and exits) and waits for the process."""
        try:
            self._process.stdin.close()
        except OSError:
            pass
        code = self._process.wait(timeout=30)
        if self._stderr_tail:
            self._stderr_tail.said()  # its last lines reach our stderr before close returns
        with self._state_lock:
            idle, self._idle_tool_threads = self._idle_tool_threads, 0
        for _ in range(idle):
            self._tool_calls.put(None)
        return code

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    # -- internals ---------------------------------------------------------------------------

    def _session_params(self, session):
        if session is None:
            return {}
        return {"session": session.id if isinstance(session, Session) else session}

    def _send(self, message):
        data = (json.dumps(message, ensure_ascii=False) + "\n").encode("utf-8")
        with self._write_lock:
            try:
                self._process.stdin.write(data)
                self._process.stdin.flush()
            except (ValueError, OSError) as error:  # closed by close(), or the server died
                raise CrucibleError(-32000, "the connection to crucible serve is closed (%s)" % error) from None

    def _wait(self, inbox):
        """The reply that lands in `inbox`: read by this thread when no other thread reads,
        else handed over by the one that does (or the turn to read is)."""
        while True:
            with self._state_lock:
                take = not self._reading and inbox.empty()
                if take:
                    self._reading = True
            if not take:
                item = inbox.get()
                if item is not _TURN:
                    return item
            try:
                reply = self._read_until(inbox)
            finally:
                self._pass_turn()
            if reply is not None:
                return reply

    def _read_until(self, inbox):
        """Holding the turn: reads until the reply for `inbox` comes, handing others theirs.
        Requests from the server (`call_tool`) go to tool threads, so a slow tool holds up no
        reading. At the end of the server's output every waiting request fails (None here:
        the failure is in the inbox)."""
        while True:
            line = self._stream.readline()
            if not line:
                self._server_ended()
                return None
            try:
                message = json.loads(line)
            except ValueError:
                self._fail("the server wrote a line that is not JSON: %r" % line[:200])
                return None
            if isinstance(message, dict) and "method" in message:
                self._hand_to_tool_thread(message)
                continue
            mine = None
            for reply in message if isinstance(message, list) else [message]:
                with self._state_lock:
                    target = self._pending.pop(reply.get("id"), None)
                if target is None:
                    self.unsolicited.append(reply)
                elif target is inbox:
                    mine = reply
                else:
                    target.put(reply)
            if mine is not None:
                return mine

    def _pass_turn(self):
        """Gives the turn to a thread still waiting for a reply, or frees it when none waits."""
        with self._state_lock:
            waiting = next(iter(self._pending.values()), None)
            if waiting is None:
                self._reading = False
            else:
                waiting.put(_TURN)  # under the lock: `_abandon` then sees it

    def _abandon(self, request_id, inbox):
        """A waiting thread leaves (an exception): its request is forgotten, and a turn
        handed to it goes on to another thread."""
        with self._state_lock:
            self._pending.pop(request_id, None)
        while not inbox.empty():
            if inbox.get() is _TURN:
                self._pass_turn()

    def _server_ended(self):
        # Its stdout closed: it is exiting, and its status says how (2: a usage error).
        try:
            status = self._process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            status = None
        self._fail(_ended_message(status, self._stderr_tail))

    def _hand_to_tool_thread(self, message):
        """A request from the server (`call_tool`) goes to an idle tool thread, or to a new one:
        each call has a thread, so one tool that hangs holds up no other call."""
        with self._state_lock:
            idle = self._idle_tool_threads > 0
            if idle:
                self._idle_tool_threads -= 1
        if idle:
            self._tool_calls.put(message)
        else:
            threading.Thread(target=self._run_tool_calls, args=(message,), name="crucible-tool", daemon=True).start()

    def _run_tool_calls(self, message):
        while message is not None:  # None: the client closed
            self._serve_request(message)
            with self._state_lock:
                self._idle_tool_threads += 1
            message = self._tool_calls.get()

    def _fail(self, reason):
        with self._state_lock:
            self._closed = reason
            pending, self._pending = self._pending, {}
        for inbox in pending.values():
            inbox.put({"error": {"code": -32000, "message": reason}})

    def _serve_request(self, message):
        request_id = message.get("id")
        params = message.get("params") or {}
        if message.get("method") != "call_tool":
            reply = {"jsonrpc": "2.0", "id": request_id, "error": {"code": -32601, "message": "Method not found"}}
        else:
            with self._state_lock:
                found = self._tools.get(params.get("session"), {}).get(params.get("name"))
            if found is None:
                reply = {"jsonrpc": "2.0", "id": request_id,
                         "error": {"code": -32602, "message": "no client tool %r in this session" % params.get("name")}}
            else:
                try:
                    result = found.function(**(params.get("arguments") or {}))
                    reply = {"jsonrpc": "2.0", "id": request_id, "result": result}
                except Exception as error:  # the tool's failure goes back to the sandboxed code
                    reply = {"jsonrpc": "2.0", "id": request_id,
                             "error": {"code": -32000, "message": "%s: %s" % (type(error).__name__, error)}}
        if request_id is None:
            return
        try:
            try:
                self._send(reply)
            except (TypeError, ValueError) as error:  # the tool returned something JSON cannot hold
                self._send({"jsonrpc": "2.0", "id": request_id,
                            "error": {"code": -32000, "message": "the tool's result is not JSON: %s" % error}})
        except CrucibleError:
            pass  # the connection closed while the tool ran: nobody is waiting for the answer


class Session:
    """An open session; `execute` runs code with the session's tools (and state, if persistent)."""

    def __init__(self, client, session_id, info):
        self.client, self.id, self.info = client, session_id, info

    def execute(self, code, **options):
        return self.client.execute(code, session=self, **options)

    def describe_tools(self):
        return self.client.describe_tools(self)

    def close(self):
        self.client.request("close_session", {"session": self.id})
        with self.client._state_lock:
            self.client._tools.pop(self.id, None)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
