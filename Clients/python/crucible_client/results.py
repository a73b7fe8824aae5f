"""Typed results and the error every client raises.

Results are dicts with typed attributes on top: `result.outcome` and `result["outcome"]` are
the same value. They stay dicts (not dataclasses) because code written against the first
client indexes them, passes them to json.dumps and compares them with dicts, and because
the server adds fields over time: a new field is there by item access before this module
knows its name.
"""

__all__ = ["CrucibleError", "ExecutionResult", "ValidationResult", "FeedbackResult", "Diagnostic"]


class CrucibleError(Exception):
    """An error from the server, or a dead connection.

    `code`: the JSON-RPC code over stdio (-32602 invalid params, -32001 unknown session,
    -32002 sandbox failure, -32003 busy, ...), or the API's error code string over HTTP
    ("invalid_params", "unauthorized", "not_found", "too_large", "busy", "sandbox_failure").
    Over HTTP `status` is the HTTP status and `retry_after` the seconds a 429 asked to wait."""

    def __init__(self, code, message, data=None, *, status=None, retry_after=None):
        super().__init__("%s (code %s)" % (message, code))
        self.code, self.message, self.data = code, message, data
        self.status, self.retry_after = status, retry_after

    def __reduce__(self):
        # Pickled by its fields: Ray sends an actor's exceptions to the driver this way, and
        # the default (the message as the only argument) does not fit __init__.
        return (type(self), (self.code, self.message, self.data), {"status": self.status, "retry_after": self.retry_after})

    @property
    def busy(self):
        """True when the server refused for lack of capacity: retrying later may work."""
        return self.code in (-32003, "busy")


class _Fields(dict):
    """A dict whose known keys are also attributes (None when the server left one out)."""

    __slots__ = ()

    def __repr__(self):
        return "%s(%s)" % (type(self).__name__, dict.__repr__(self))

    def __reduce__(self):  # pickles (Ray ships results between processes) as its class + items
        return (type(self), (dict(self),))


def _field(name, doc):
    return property(lambda self: self.get(name), doc=doc)


class ExecutionResult(_Fields):
    """What `execute` returns (docs/serve-protocol.md, "Execution result")."""

    __slots__ = ()
    outcome = _field("outcome", "ok, exception, syntax_error, timeout, cpu_limit, memory_limit, killed_by_seccomp, crashed, "
                                "protocol_violation, sandbox_failure or cancelled")
    outcome_detail = _field("outcome_detail", "more about the outcome, when there is more to say")
    value = _field("value", "the last expression's value, as JSON (None when it has none or is not JSON)")
    value_repr = _field("value_repr", "repr() of a value JSON cannot hold")
    value_type = _field("value_type", "the value's Python type name")
    stdout = _field("stdout", "what the code printed")
    stderr = _field("stderr", "what the code wrote to stderr")
    error = _field("error", "{type, message, traceback, line, ...} when the code raised")
    trace = _field("trace", "{tool_calls, field_reads}: the tool calls the code made")
    files = _field("files", "files the code wrote to /output")
    duration_ms = _field("duration_ms", "time the execution took in the sandbox")
    attempt = _field("attempt", "the corpus attempt id, for feedback (absent when not recorded)")
    node_id = _field("node_id", "the Ray node that ran it (crucible_client.ray only)")

    @property
    def ok(self):
        return self.get("outcome") == "ok"


class Diagnostic(_Fields):
    """One validator finding."""

    __slots__ = ()
    rule = _field("rule", "the rule's id, e.g. SVCS001")
    severity = _field("severity", "error, warning or info")
    message = _field("message", "what is wrong")
    hint = _field("hint", "how to fix it")
    line = _field("line", "1-based line")
    column = _field("column", "1-based column")


class ValidationResult(_Fields):
    """What `validate` returns: {passed, diagnostics, feedback, attempt?}."""

    __slots__ = ()
    passed = _field("passed", "True when no error-severity finding")
    feedback = _field("feedback", "the text for a model (None when passed)")
    attempt = _field("attempt", "the corpus attempt id, for feedback")

    @property
    def diagnostics(self):
        return [Diagnostic(d) for d in self.get("diagnostics") or []]


class FeedbackResult(_Fields):
    """What `feedback` returns: {attempt, verdict, recorded_fix?}."""

    __slots__ = ()
    attempt = _field("attempt", "the attempt the verdict landed on")
    verdict = _field("verdict", "accepted, edited or rejected")
    recorded_fix = _field("recorded_fix", "True when an edit was stored as the fix")


def execute_params(code, *, inputs=None, timeout=None, memory_mb=None, corpus=None, **more):
    """The request's params, leaving out what the caller did not set (the server's defaults apply)."""
    params = {"code": code}
    for key, value in (("inputs", inputs), ("timeout", timeout), ("memory_mb", memory_mb), ("corpus", corpus)):
        if value is not None:
            params[key] = value
    params.update({key: value for key, value in more.items() if value is not None})
    return params


def validate_params(code, *, kind=None, rulesets=None, path=None, corpus=None):
    return execute_params(code, kind=kind, rulesets=rulesets, path=path, corpus=corpus)


def feedback_params(attempt, verdict, *, edited_code=None, note=None):
    params = {"attempt": attempt, "verdict": verdict}
    if edited_code is not None:
        params["edited_code"] = edited_code
    if note is not None:
        params["note"] = note
    return params
