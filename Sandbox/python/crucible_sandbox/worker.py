"""The loop every Crucible worker runs after it is confined.

Imported once in the zygote, before any fork, so workers start with it (and the
modules in PRELOAD) already in memory. A worker reads jobs from its channel (fd 3),
runs each in a namespace of its own, streams captured stdout/stderr, and answers
with one result frame. A one-shot worker exits after its job; a session worker
keeps its namespace for the next cell.

Frames and jobs: see wire.py, the worker's side of the protocol. Nothing here is trusted by the host: user
code runs in this same interpreter and can rewrite any of it.
"""

import _thread
import ast
import builtins
import inspect
import io
import json
import linecache
import os
import select
import sys
import time
import traceback

from . import output_files, tools, wire_json

output_files.install()

# Modules workers may use, imported in the zygote: faster first use, and extension
# modules are mapped before seccomp forbids new executable mappings of anything else.
# ctypes among them: where libffi makes callbacks from static trampolines (libffi 3.5, in
# the 3.14 image) it maps their table from a memfd when _ctypes loads, and workers may not
# create a memfd (writable memory that could be mapped executable); without the table,
# libffi falls back to a writable+executable mapping, which seccomp kills.
PRELOAD = (
    "abc array base64 binascii bisect calendar cmath collections collections.abc "
    "contextlib copy csv ctypes dataclasses datetime decimal difflib enum fractions functools "
    "hashlib heapq html inspect itertools math operator pprint random re signal statistics string "
    "textwrap time typing unicodedata uuid zlib urllib.parse"
).split()
for _name in PRELOAD:
    try:
        __import__(_name)
    except ImportError:  # pragma: no cover - depends on the distribution's stdlib
        pass
# The codec every worker's streams use, looked up once here: otherwise each worker imports
# encodings.utf_8 from disk (stat, open, unmarshal, two classes made) on its first print.
import codecs  # noqa: E402

codecs.lookup("utf-8")

# The wire protocol's names, bound here as globals of this module (the hot paths read them).
from .wire import DROPPED as _DROP, FRAME as _HEADER, JOB as _JOB, RESULT as _RESULT, STDERR as _STDERR
from .wire import OUTPUT_DROPPED as _DROPPED, STDOUT as _STDOUT, TOKEN as _TOKEN, WARM as _WARM
from .wire import DEFAULT_FILES_LIMIT, decode_job, encode_job
_CHUNK = 64 * 1024
# Past a stream's budget: how much dropped output, or how long, between two reports of it.
_DROP_REPORT_BYTES = 1 << 20
_DROP_REPORT_S = 0.05


# Results are acyclic: values pass _json_compatible, which bounds their depth, first.
_encode_result = wire_json.encoder(allow_nan=True, separators=(",", ":"))
# Values keep json.dumps' default separators: their text is what users see.
_encode_value_json = wire_json.encoder(allow_nan=False, separators=(", ", ": "))


# Where the channel reads into. os.read(fd, n) allocates an n-byte bytes object per call and
# shrinks it; at 1 MiB that is an mmap, a page fault and an munmap on every frame (BENCHMARKS.md,
# "Design measurements": read buffer). Made here, in the zygote, its pages are shared until a
# worker writes them: a small frame copies one.
_READ_BUFFER = bytearray(256 * 1024)

# Threads get 2 MiB stacks instead of RLIMIT_STACK's 8 MiB: RLIMIT_AS counts each stack whole,
# so with 8 MiB a worker of a few hundred MiB would run out of address space long before the
# policy's thread bound. 2 MiB holds Python's default recursion limit of C-heavy frames.
_thread.stack_size(2 << 20)


class Channel:
    """Length-prefixed frames over the worker's end of the socket."""

    def __init__(self, fd, blocking=None):
        self.fd = fd
        # Threads print and call tools at once: a frame goes out whole under this lock, or
        # two threads' bytes would interleave into frames the host rejects.
        self.sending = _thread.allocate_lock()
        self.pending = bytearray()
        self.buffer = memoryview(_READ_BUFFER)
        # Read, not assumed: receive() relies on it to know when a read() can block.
        self.blocking = os.get_blocking(fd) if blocking is None else blocking

    def _set_blocking(self, blocking):
        if self.blocking != blocking:
            os.set_blocking(self.fd, blocking)
            self.blocking = blocking

    def send(self, kind, payload):
        data = _HEADER.pack(len(payload) + 1, kind) + payload
        with self.sending:
            self._write(data)

    def _write(self, data):
        try:
            written = os.write(self.fd, data)
        except BlockingIOError:
            written = 0
        if written == len(data):
            return  # the usual case: the socket took the whole frame
        view = memoryview(data)[written:]
        while view:
            try:
                view = view[os.write(self.fd, view):]
            except BlockingIOError:
                select.select((), (self.fd,), ())

    def receive(self, spin_ns=0):
        """The next (kind, payload), or None when the host closed the channel.

        With spin_ns, polls without sleeping that long first: waking from select() costs
        ~25 µs here, and a tool's answer usually arrives sooner than that. Each poll yields
        the core first: when the host's thread shares it, that lets the host answer before
        the read, instead of a read that fails and then a yield (a tool call's round trip with
        both on one core went from 18.5 to 16.2 µs). Without spin_ns,
        one blocking read: a fresh worker's job wakes it straight into read() with the
        bytes, not into select() and then read()."""
        spinning = bool(spin_ns)
        spin_until = time.perf_counter_ns() + spin_ns if spinning else 0
        self._set_blocking(not spinning)
        while True:
            if len(self.pending) >= 5:
                length, kind = _HEADER.unpack_from(self.pending)
                if len(self.pending) >= 4 + length:
                    payload = bytes(self.pending[5 : 4 + length])
                    del self.pending[: 4 + length]
                    return kind, payload
            if spinning:
                os.sched_yield()
            try:
                count = os.readv(self.fd, (self.buffer,))
            except BlockingIOError:
                if time.perf_counter_ns() > spin_until:
                    spinning = False
                    self._set_blocking(True)
                continue
            if not count:
                return None
            if not self.pending and count >= 5:
                length, kind = _HEADER.unpack_from(self.buffer)
                if count == 4 + length:  # the usual case: exactly one whole frame, no copy through pending
                    return kind, bytes(self.buffer[5:count])
            self.pending += self.buffer[:count]


class CapturedStream(io.RawIOBase):
    """A raw stream that forwards what user code prints to the host, up to a budget.

    Beyond the budget it sends only how many bytes it dropped, so the host can say so
    even if the code never finishes: the first drop at once, later ones gathered until
    `_DROP_REPORT_BYTES` or `_DROP_REPORT_S` have passed (a frame per printed line cost a
    loop that prints past the cap as much as printing it all), and the rest when the cell
    ends (`report_dropped`)."""

    def __init__(self, channel, kind, budget):
        self.channel, self.kind, self.budget = channel, kind, budget
        self.open = True
        self.unreported = 0
        self.reported_at = None

    def writable(self):
        return True

    def write(self, data):
        size = len(data)
        if not self.open:
            return size  # a thread that outlived its cell: its output is not the next cell's
        keep = min(size, self.budget)
        for start in range(0, keep, _CHUNK):
            self.channel.send(self.kind, bytes(data[start : min(keep, start + _CHUNK)]))
        self.budget -= keep
        if size > keep:
            self.unreported += size - keep
            now = time.monotonic()
            if (self.reported_at is None or self.unreported >= _DROP_REPORT_BYTES
                    or now - self.reported_at >= _DROP_REPORT_S):
                self.report_dropped(now)
        return size

    def report_dropped(self, now=None):
        if self.unreported:
            self.channel.send(_DROPPED, _DROP.pack(self.kind, self.unreported))
            self.unreported = 0
            self.reported_at = time.monotonic() if now is None else now


def _text_stream(raw):
    return io.TextIOWrapper(
        io.BufferedWriter(raw, 8192), encoding="utf-8", errors="backslashreplace", line_buffering=True
    )


def _json_compatible(value, depth=0):
    """True when json.dumps(value) would be lossless (no coerced keys, no NaN)."""
    if depth > 100:
        return False
    if value is None or isinstance(value, (bool, str)):
        return True
    if isinstance(value, int):
        return type(value) is int or isinstance(value, bool)
    if isinstance(value, float):
        return type(value) is float and value == value and value not in (float("inf"), float("-inf"))
    if type(value) in (list, tuple):
        return all(_json_compatible(item, depth + 1) for item in value)
    if type(value) is dict:
        return all(type(k) is str and _json_compatible(v, depth + 1) for k, v in value.items())
    return False


def _safe(function, fallback):
    try:
        return function()
    except BaseException:  # user objects can raise anything from __repr__ or __str__
        return fallback


def _encode_value(value, limit):
    kind = _safe(lambda: type(value).__name__, "?")
    # Tool results (and lists, tuples and dicts of them) come back as their data, not a repr.
    value = _safe(lambda: tools.plain_data(value), value)
    if _safe(lambda: _json_compatible(value), False):
        text = _safe(lambda: _encode_value_json(value), None)
        if text is not None and len(text) <= limit:
            return {"json": text, "type": kind}
    text = _safe(lambda: repr(value), "<unprintable %s>" % kind)
    if len(text) > limit:
        return {"repr": text[:limit], "type": kind, "truncated": len(text) - limit}
    return {"repr": text, "type": kind}


def _describe_exception(error, user_files):
    kind = type(error)
    frames = [
        frame for frame in _safe(lambda: traceback.extract_tb(error.__traceback__), []) if frame.filename in user_files
    ]
    described = {
        "type": _safe(lambda: kind.__name__, "?"),
        "module": _safe(lambda: kind.__module__, "?"),
        "message": _safe(lambda: str(error), "<unprintable message>"),
        "frames": [
            {"file": f.filename, "line": f.lineno, "function": f.name, "text": f.line or ""} for f in frames
        ],
    }
    lines = []
    if frames:
        lines.append("Traceback (most recent call last):\n")
        lines.extend(_safe(lambda: traceback.format_list(frames), []))
    lines.extend(_safe(lambda: traceback.format_exception_only(kind, error), ["%s\n" % described["type"]]))
    described["traceback"] = "".join(lines)
    if isinstance(error, SyntaxError):
        described["kind"] = "syntax"
        described["message"] = _safe(lambda: str(error.msg), described["message"])
        for key, attribute in (("line", "lineno"), ("column", "offset"), ("end_line", "end_lineno"), ("end_column", "end_offset")):
            value = getattr(error, attribute, None)
            if isinstance(value, int):
                described[key] = value
        described["text"] = _safe(lambda: (error.text or "").rstrip("\n"), "")
    elif isinstance(error, MemoryError):
        described["kind"] = "memory"
    else:
        described["kind"] = "exception"
        if frames:
            described["line"] = frames[-1].lineno
    return described


class Streams:
    """A job's sys.stdout and sys.stderr, made before the job arrives (off the clock)."""

    def __init__(self, channel):
        self.out = CapturedStream(channel, _STDOUT, 1 << 20)
        self.err = CapturedStream(channel, _STDERR, 1 << 20)
        self.stdout = _text_stream(self.out)
        self.stderr = _text_stream(self.err)

    def install(self, job):
        self.out.budget = job.get("stdout_limit", 1 << 20)
        self.err.budget = job.get("stderr_limit", 1 << 20)
        sys.stdout, sys.stderr = self.stdout, self.stderr

    def uninstall(self):
        for stream in (self.stdout, self.stderr):
            _safe(stream.flush, None)
        for raw in (self.out, self.err):
            _safe(raw.report_dropped, None)
        sys.stdout = sys.stderr = _closed_stream
        self.out.open = self.err.open = False


def run_job(job, namespace, channel, user_files, streams=None):
    """Runs one job; returns the result dictionary sent to the host."""
    source = job["code"]
    filename = job.get("filename", "<code>")
    user_files.add(filename)
    linecache.cache[filename] = (len(source), None, source.splitlines(True), filename)
    namespace.update(job.get("inputs") or {})
    if job.get("tools"):
        tools.install(job["tools"], namespace, channel, job.get("cell", 1) == 1)
    elif job.get("cell", 1) > 1:
        tools.begin_cell(channel)

    streams = streams or Streams(channel)
    streams.install(job)
    output_files.begin_cell(job.get("files_limit", DEFAULT_FILES_LIMIT), job.get("files_in"), job.get("relative_to_output"))
    if "stdin" in job:
        sys.stdin = io.StringIO(job["stdin"])
    result = {"status": "ok"}
    try:
        body, last = compile_cell(source, filename)
        _run(body, namespace)
        if last is not None:
            value = _run(last, namespace)
            if value is not None:
                result["value"] = _encode_value(value, job.get("value_limit", 1 << 20))
    except BaseException as error:  # SystemExit and KeyboardInterrupt are user errors too
        result = {"status": "error", "error": _describe_exception(error, user_files)}
    # Threads the cell started may still run: from here on their prints vanish and their
    # tool calls raise, so nothing they do reaches the host after this cell's result.
    tools.end_cell()
    streams.uninstall()
    reads = tools.take_reads()
    if reads:
        result["reads"] = reads
    flows = tools.take_flows()
    if flows:
        result["flows"] = flows
    files = output_files.take()
    if files:
        result["files"] = files
    return result



_CO_COROUTINE = inspect.CO_COROUTINE


def _run(code, namespace):
    """Runs compiled cell code; a cell with top-level `await` compiled to a coroutine, which
    runs to the end on the worker's event loop (one per worker, so a session's tasks live on)."""
    if not code.co_flags & _CO_COROUTINE:
        return eval(code, namespace)
    if _Loop.loop is None:
        import asyncio  # not preloaded: few cells await, and the zygote stays small

        _Loop.loop = asyncio.new_event_loop()
    return _Loop.loop.run_until_complete(eval(code, namespace))


class _Loop:
    loop = None


def _compile_cell_through_ast(source, filename):
    """(module code, trailing expression's code or None): a cell's value is its last
    statement when that is an expression. The zygote's `_crucible_cells` does the same on
    CPython's C AST, without building the `ast` module's objects (half the compile time in
    a fresh worker); this is the fallback where libpython lacks its parser entry points."""
    tree = ast.parse(source, filename)
    last = tree.body.pop().value if tree.body and isinstance(tree.body[-1], ast.Expr) else None
    # The rest first: a compile-time error is reported at the first line that has one.
    body = compile(tree, filename, "exec", flags=ast.PyCF_ALLOW_TOP_LEVEL_AWAIT)
    return body, None if last is None else compile(ast.Expression(last), filename, "eval", flags=ast.PyCF_ALLOW_TOP_LEVEL_AWAIT)


try:
    from _crucible_cells import compile_cell
except ImportError:  # a zygote linked against the shared libpython, or plain python3 in tests
    compile_cell = _compile_cell_through_ast


class _ClosedStream(io.TextIOBase):
    """What sys.stdout is between cells: writes vanish instead of reaching fd 1."""

    def write(self, text):
        return len(text)


_closed_stream = _ClosedStream()


class _NullChannel:
    def send(self, kind, payload):
        pass


_SESSION_SPIN_NS = 300_000
# The warm-up job, in the form the host sends (see decode_job).
_WARM_UP = encode_job("import json\nprint(json.dumps({'warm': [1, 2.5]}))\n{'a': (1, 'b')}", filename="<warm-up>")


def _result_payload(result):
    try:
        return _encode_result(result).encode("utf-8", "backslashreplace")
    except BaseException as error:  # user code may have left something unencodable
        return ('{"status":"error","error":{"type":"RuntimeError","kind":"exception","message":%s,'
                '"traceback":"","frames":[]}}' % json.dumps("result could not be encoded: %r" % (error,))).encode()


# How long a new worker waits for a job before it warms up. A worker the host forked because
# a request was already waiting for one (the pool ran dry: the machine is saturated) gets its
# job within this time; warming up would only spend CPU that the next execution needs (about
# 130 more copy-on-write faults per worker: BENCHMARKS.md, "Design measurements": warm-up
# grace). A worker forked to refill an idle pool gets none and warms up, so a lone request
# still finds a warm worker.
_WARM_UP_GRACE_S = 0.002


def _job_waiting(fd, timeout=0.0):
    return bool(select.select((fd,), (), (), timeout)[0])


# A worker's channel and its first job's streams, made here in the zygote: every confined
# worker's channel is descriptor 3 (kernel.c puts it there). Made in the worker, these objects
# cost about 110 copy-on-write faults on the first job's clock (BENCHMARKS.md, "Design
# measurements": premade channel); made here, their pages stay shared until written. They
# hold no data: the pending buffer is empty, the streams have written nothing. Whether fd 3
# blocks is read in the worker (here it is not the channel).
_WORKER_FD = 3
_premade_channel = Channel(_WORKER_FD, blocking=True)
_premade_streams = Streams(_premade_channel)


def serve(fd):
    """Answers jobs on the channel until a one-shot job is done or the host hangs up."""
    # A fresh fork shares every page with the zygote; the first job would pay a copy-on-write
    # fault for each page it touches. Take those faults now, while the worker waits in the
    # pool, on the same path a job takes (decode, run, encode the result). Not when a job is
    # already waiting or arrives within the grace (a worker forked on demand for non-default
    # limits, or handed out before its warm-up because the pool ran dry): a warm-up would only
    # delay it.
    if not _job_waiting(fd, _WARM_UP_GRACE_S):
        _safe(lambda: _result_payload(run_job(decode_job(_WARM_UP), {"__builtins__": builtins}, _NullChannel(), set())), None)
        if not _job_waiting(fd):
            _safe(tools.warm_up, None)
    if fd == _WORKER_FD:
        channel, streams = _premade_channel, _premade_streams
        channel.blocking = os.get_blocking(fd)
    else:  # a test driving serve() on a socket of its own
        channel = Channel(fd)
        streams = Streams(channel)
    sys.stdin = io.StringIO("")
    namespace = {"__name__": "__main__", "__builtins__": builtins}
    user_files = set()
    channel.send(_WARM, b"")
    spin_ns = 0
    while True:
        frame = channel.receive(spin_ns=spin_ns)
        if frame is None or frame[0] != _JOB:
            break
        job = decode_job(frame[1])
        result = _result_payload(run_job(job, namespace, channel, user_files, streams))
        channel.send(_RESULT, _TOKEN.pack(job["token"]) + result)
        if not job.get("keep_alive"):
            break
        # The next cell's streams, made now rather than on its clock.
        streams = Streams(channel)
        # A session's next cell often follows at once (a program driving it, an agent's code
        # mode): poll briefly (_SESSION_SPIN_NS) before sleeping, whose wake-up is slower.
        # The host does the same for tool calls.
        spin_ns = _SESSION_SPIN_NS
    os._exit(0)


def preload(names, temporary_directory=None):
    """Imports the modules the user asked the zygote to preload; returns None, or why one
    cannot be imported. The zygote calls it only after it gave up root and entered its
    namespaces: a package's import code is not trusted, and runs with no more than a worker's
    uid and network. `temporary_directory`: a private scratch folder for libraries that
    write a cache when imported (matplotlib), given as TMPDIR while they import."""
    saved = os.environ.get("TMPDIR")
    if temporary_directory:
        os.environ["TMPDIR"] = temporary_directory
    try:
        for name in names:
            try:
                __import__(name)
            except BaseException as error:  # an import can raise anything, SystemExit included
                return "%s: %s" % (name, "".join(traceback.format_exception_only(type(error), error)).strip())
        return None
    finally:
        if saved is None:
            os.environ.pop("TMPDIR", None)
        else:
            os.environ["TMPDIR"] = saved
        # tempfile caches the folder it picked; workers must not inherit the zygote's scratch.
        if "tempfile" in sys.modules:
            sys.modules["tempfile"].tempdir = None


def _prime():
    """Runs the warm-up once in the zygote itself, before any worker is forked. A worker's
    first run of this path fills caches (CPython's type-attribute cache, dict key caches,
    interned names, the cell compiler's state, lazily bound symbols) and each of those writes
    costs a copy-on-write fault in every worker; written once here, workers share the pages.
    The warm-up is this module's own constant code: the zygote still holds no user data."""
    saved = sys.stdin, sys.stdout, sys.stderr
    try:
        _safe(lambda: _result_payload(run_job(decode_job(_WARM_UP), {"__builtins__": builtins}, _NullChannel(), set())), None)
        _safe(tools.warm_up, None)
    finally:
        sys.stdin, sys.stdout, sys.stderr = saved
        linecache.cache.pop("<warm-up>", None)


_prime()
