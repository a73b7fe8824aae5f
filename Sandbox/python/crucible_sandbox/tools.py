"""Typed tool functions inside the sandbox.

The host sends each job the contracts of the tools it may call (MCP-shaped: name,
description, inputSchema, outputSchema). From them this module builds, per job, plain
Python functions with real signatures and docstrings, result classes with attribute and
item access, and typed exceptions. `render_api` prints the same functions and classes as
Python stubs: the prompt text a model reads is generated from the very objects it calls.

A call sends a "C" frame to the host and blocks for the "A" answer. The host checks the
arguments and the result against the contract; nothing here is trusted by the host.
Reads of result fields are recorded (which call, which field path) and reported with
the job's result, so the trace shows how results were used. So is provenance: a value
read from one call's result and passed, as that very object, into a later call's
arguments is a data flow (which call and field it came from, which call and argument it
went to). Identity, not equality: a value the code builds (an f-string around it, a sum)
is the code's own, and a literal that happens to equal a result is not a flow. The host
checks each flow against the result and the arguments it saw before keeping it.
"""

import _thread
import inspect
import json
import sys
import types

from . import wire_json
from .wire import MAX_READS as _MAX_READS, TOOL_ANSWER as _ANSWER, TOOL_CALL as _CALL

# Arguments come from user code: they may hold a cycle, which must be a ToolArgumentError.
_encode = wire_json.encoder(allow_nan=False, separators=(",", ":"), check_circular=True)


class ToolError(Exception):
    """A tool call failed; `tool` names the tool."""

    def __init__(self, message, tool=None):
        super().__init__(message)
        self.tool = tool


class ToolArgumentError(ToolError, TypeError):
    """The arguments do not match the tool's inputSchema (`path` says where)."""

    def __init__(self, message, tool=None, path=None):
        super().__init__(message, tool)
        self.path = path


class ToolContractError(ToolError):
    """The tool's result broke its outputSchema (`path` says where); no partial result is given."""

    def __init__(self, message, tool=None, path=None):
        super().__init__(message, tool)
        self.path = path


class ToolTimeoutError(ToolError, TimeoutError):
    """The tool did not answer within the per-call timeout."""


class ToolLimitError(ToolError):
    """Too many calls in this execution, or a result over the size limit."""


ERRORS = {cls.__name__: cls for cls in (ToolError, ToolArgumentError, ToolContractError, ToolTimeoutError, ToolLimitError)}


class _State:
    channel = None
    # One call at a time: a call is a send and the wait for its answer, and the answer
    # carries no call number, so threads take turns (the host answers calls in order anyway).
    calling = _thread.allocate_lock()
    reads = []
    seen = set()
    calls = 0
    # id(value) -> (value, call, path) for values handed out of results (kept alive here, so
    # an id is never reused while it is a key); flows found since the cell began.
    origins = {}
    flows = []


# Values whose identity means something: CPython shares small ints, one-character and empty
# strings, True/False/None between unrelated uses, so those cannot carry provenance.
_MAX_ORIGINS = 20_000
_MAX_FLOWS = 1_000


def _remember(value, call, path):
    kind = type(value)
    if kind is str:
        if len(value) < 2:
            return
    elif kind is int:
        if -5 <= value <= 256:
            return
    elif kind is not float:
        return
    if len(_State.origins) < _MAX_ORIGINS:
        _State.origins[id(value)] = (value, call, path)


def _flows_into(arguments, to_call):
    """The flows into a call about to be made: argument values that are result values themselves."""
    origins, flows = _State.origins, _State.flows
    if not origins:
        return
    stack = [(arguments, "")]
    visited = 0
    while stack and visited < 10_000 and len(flows) < _MAX_FLOWS:
        value, path = stack.pop()
        visited += 1
        if type(value) is dict:
            stack.extend((item, key if not path else path + "." + key) for key, item in value.items() if type(key) is str)
        elif type(value) in (list, tuple):
            stack.extend((item, path + "[]") for item in value)
        else:
            origin = origins.get(id(value))
            if origin is not None and origin[0] is value:
                flows.append([origin[1], origin[2], to_call, path])


def _record(call, path):
    key = (call, path)
    if key in _State.seen or len(_State.reads) >= _MAX_READS:
        return
    _State.seen.add(key)
    _State.reads.append([call, path])


class ToolResult:
    """A tool's result: fields by attribute (`r.name`) or item (`r["name"]`); reads are traced."""

    __slots__ = ("_data", "_call", "_path", "_schema")
    _fields = ()

    def __init__(self, data, call, path, schema):
        object.__setattr__(self, "_data", data)
        object.__setattr__(self, "_call", call)
        object.__setattr__(self, "_path", path)
        object.__setattr__(self, "_schema", schema)

    def _field(self, name):
        data = self._data
        if name not in data:
            declared = self._fields or tuple(data)
            if name in declared:
                return None  # declared but optional and absent
            raise AttributeError(
                "%s has no field %r; its fields are: %s" % (type(self).__name__, name, ", ".join(declared) or "none")
            )
        path = name if not self._path else self._path + "." + name
        _record(self._call, path)
        value = data[name]
        if not isinstance(value, (dict, list)):
            _remember(value, self._call, path)
            return value  # the common case: a scalar, nothing to wrap
        properties = (self._schema or {}).get("properties") or {}
        return _wrap(value, properties.get(name), self._call, path, type(self).__name__ + _camel(name))

    def __getattr__(self, name):
        if name.startswith("__"):
            raise AttributeError(name)
        return self._field(name)

    def __getitem__(self, name):
        try:
            return self._field(name)
        except AttributeError as error:
            raise KeyError(str(error)) from None

    def __setattr__(self, name, value):
        raise AttributeError("tool results are read-only")

    def __contains__(self, name):
        return name in self._data

    def get(self, name, default=None):
        return self._field(name) if name in self._data else default

    def keys(self):
        return list(self._data)

    def to_dict(self):
        """The result as plain JSON data (counts as reading every field)."""
        _record(self._call, self._path + ".*" if self._path else "*")
        return json.loads(json.dumps(self._data))

    def __eq__(self, other):
        if isinstance(other, ToolResult):
            return self._data == other._data
        return self._data == other

    def __hash__(self):
        # Results are read-only, so they can be dict keys and set members, as asyncio.gather
        # needs of what it is given; equal data, equal hash.
        return hash(json.dumps(self._data, sort_keys=True))

    def __repr__(self):
        _record(self._call, self._path + ".*" if self._path else "*")
        inner = ", ".join("%s=%r" % (key, self._field(key)) for key in self._data)
        return "%s(%s)" % (type(self).__name__, inner)

    def __await__(self):
        """`await tool(...)` works too (code written for async tool APIs, `asyncio.gather`):
        the call already ran when the function returned, so awaiting gives the result itself."""
        return self
        yield  # a generator: awaiting it finishes at once with the result


class ResultList(list):
    """A tool's list result; like the objects in it, it can be awaited."""

    def __await__(self):
        return self
        yield


_classes = {}


def _class_for(schema, fallback_name):
    title = (schema or {}).get("title") or fallback_name
    properties = (schema or {}).get("properties") or {}
    key = (title, tuple(properties))
    cls = _classes.get(key)
    if cls is None:
        name = "".join(ch for ch in title if ch.isalnum() or ch == "_") or "ToolResult"
        cls = type(name, (ToolResult,), {"__slots__": (), "_fields": tuple(properties), "__doc__": (schema or {}).get("description")})
        _classes[key] = cls
    return cls


def plain_data(value, depth=0):
    """`value` with every tool result in it replaced by its data (counted as reading it all):
    what an execution's value is when the code returns results, or containers of them."""
    if depth > 100:
        return value
    if isinstance(value, ToolResult):
        _record(value._call, value._path + ".*" if value._path else "*")
        return value._data
    if type(value) in (list, tuple, ResultList):
        return [plain_data(item, depth + 1) for item in value]
    if type(value) is dict:
        return {key: plain_data(item, depth + 1) for key, item in value.items()}
    return value


def _wrap(value, schema, call, path, class_name, top=True):
    if isinstance(value, dict):
        return _class_for(schema, class_name)(value, call, path, schema)
    if isinstance(value, list) and top:
        items = (schema or {}).get("items") if isinstance(schema, dict) else None
        return ResultList(_wrap(item, items, call, path + "[]", class_name + "Item" if not class_name.endswith("Item") else class_name, False) for item in value)
    if isinstance(value, list):
        items = (schema or {}).get("items") if isinstance(schema, dict) else None
        return [_wrap(item, items, call, path + "[]", class_name + "Item" if not class_name.endswith("Item") else class_name, False) for item in value]
    _remember(value, call, path)  # a scalar in a list: its reads are the list's
    return value


def _camel(name):
    return "".join(part[:1].upper() + part[1:] for part in name.replace("-", "_").split("_"))


# ---- annotations rendered from JSON Schema --------------------------------------------------

_SCALARS = {"string": "str", "integer": "int", "number": "float", "boolean": "bool", "null": "None"}


def annotation(schema, class_name):
    """The Python annotation text for a schema (classes named as `_wrap` names them)."""
    if not isinstance(schema, dict):
        return "Any"
    if "enum" in schema and all(isinstance(v, (str, int)) for v in schema["enum"]):
        return "Literal[%s]" % ", ".join(repr(v) for v in schema["enum"])
    options = schema.get("anyOf") or schema.get("oneOf")
    if options:
        return " | ".join(dict.fromkeys(annotation(o, class_name) for o in options))
    kind = schema.get("type")
    if isinstance(kind, list):
        return " | ".join(annotation(dict(schema, type=k), class_name) for k in kind)
    if kind in _SCALARS:
        return _SCALARS[kind]
    if kind == "array":
        return "list[%s]" % annotation(schema.get("items"), class_name + "Item" if not class_name.endswith("Item") else class_name)
    if kind == "object" or "properties" in schema:
        if schema.get("properties") or schema.get("title"):
            return _class_for(schema, class_name).__name__
        return "dict[str, Any]"
    return "Any"


def _result_class_name(contract):
    return _camel(contract["name"]) + "Result"


def _signature(contract):
    schema = contract.get("inputSchema") or {}
    properties = schema.get("properties") or {}
    required = [name for name in schema.get("required") or [] if name in properties]
    optional = sorted(name for name in properties if name not in required)
    parameters = []
    for name in required + optional:
        prop = properties[name]
        text = annotation(prop, _camel(contract["name"]) + _camel(name))
        if name in required:
            parameters.append(inspect.Parameter(name, inspect.Parameter.POSITIONAL_OR_KEYWORD, annotation=text))
        else:
            default = prop.get("default") if isinstance(prop, dict) else None
            parameters.append(inspect.Parameter(name, inspect.Parameter.POSITIONAL_OR_KEYWORD, default=default, annotation=text))
    returns = annotation(contract.get("outputSchema"), _result_class_name(contract)) if contract.get("outputSchema") else "Any"
    return inspect.Signature(parameters, return_annotation=returns), required + optional


def _docstring(contract):
    lines = [contract.get("description") or contract["name"]]
    properties = (contract.get("inputSchema") or {}).get("properties") or {}
    described = [(n, p.get("description")) for n, p in properties.items() if isinstance(p, dict) and p.get("description")]
    if described:
        lines.append("")
        lines.append("Args:")
        lines.extend("    %s: %s" % pair for pair in described)
    lines.append("")
    lines.append("Raises ToolError (ToolArgumentError, ToolContractError, ToolTimeoutError, ToolLimitError) on failure.")
    return "\n".join(lines)


def _make_function(contract):
    name = contract["name"]
    signature, order = _signature(contract)
    output_schema = contract.get("outputSchema")
    result_name = _result_class_name(contract)
    defaults = {p.name: p.default for p in signature.parameters.values() if p.default is not inspect.Parameter.empty}

    def call(*args, **kwargs):
        if len(args) > len(order):
            raise ToolArgumentError("%s() takes %d arguments but %d were given" % (name, len(order), len(args)), name)
        arguments = dict(zip(order, args))
        for key, value in kwargs.items():
            if key not in order:
                raise ToolArgumentError("%s() got an unexpected argument %r" % (name, key), name)
            if key in arguments:
                raise ToolArgumentError("%s() got two values for %r" % (name, key), name)
            arguments[key] = value
        for key, value in defaults.items():
            if key not in arguments and value is not None:
                arguments[key] = value
        return _invoke(name, arguments, output_schema, result_name)

    call.__name__ = call.__qualname__ = name
    call.__doc__ = _docstring(contract)
    call.__signature__ = signature
    call.__module__ = "tools"
    return call


def _invoke(name, arguments, output_schema, result_name):
    try:
        payload = _encode({"name": name, "arguments": arguments})
    except (TypeError, ValueError) as error:
        raise ToolArgumentError("%s(): arguments must be JSON values (%s)" % (name, error), name) from None
    with _State.calling:
        channel = _State.channel
        if channel is None:
            raise ToolError("tools can only be called while a job runs (a thread that outlived its cell cannot)", name)
        _flows_into(arguments, _State.calls)
        channel.send(_CALL, payload.encode("utf-8", "surrogatepass"))
        frame = channel.receive(spin_ns=200_000)
        call = _State.calls  # numbered in the order the host saw the calls
        _State.calls += 1
    if frame is None or frame[0] != _ANSWER:
        raise ToolError("the host did not answer the call to %s" % name, name)
    answer = wire_json.decode(frame[1])
    if answer.get("ok"):
        return _wrap(answer.get("result"), output_schema, call, "", result_name)
    error = answer.get("error") or {}
    cls = ERRORS.get(error.get("type"), ToolError)
    message = error.get("message") or "the tool failed"
    if cls in (ToolArgumentError, ToolContractError):
        raise cls(message, name, error.get("path"))
    raise cls(message, name)


def install(contracts, namespace, channel, first_cell=True):
    """Builds the tool functions for one job and puts them (and the errors) in scope and in `tools`.

    Calls are numbered per worker, as the host numbers them: a session's later cells go on
    counting, so a read of an earlier cell's result still names the right call."""
    _State.channel = channel
    _State.reads = []
    _State.seen = set()
    _State.flows = []
    if first_cell:
        _State.calls = 0
        _State.origins = {}
    module = sys.modules.get("tools")
    if module is None or not getattr(module, "__crucible__", False):
        module = types.ModuleType("tools", "Typed tool functions provided by the Crucible host.")
        module.__crucible__ = True
        for error_name, cls in ERRORS.items():
            setattr(module, error_name, cls)
        module.ToolResult = ToolResult
        sys.modules["tools"] = module
    for contract in contracts:
        function = _make_function(contract)
        setattr(module, contract["name"], function)
        namespace[contract["name"]] = function
    for error_name, cls in ERRORS.items():
        namespace.setdefault(error_name, cls)


_WARM_UP_CONTRACT = {
    "name": "warm_up", "description": "",
    "inputSchema": {"type": "object", "properties": {"n": {"type": "integer"}}, "required": ["n"]},
    "outputSchema": {"type": "object", "properties": {"a": {"type": "array", "items": {"type": "object"}}}},
}


def warm_up():
    """Touches the tool machinery once in an idle worker (copy-on-write faults off the clock)."""
    install([_WARM_UP_CONTRACT], {}, None)
    # The same encoder and decoder a call uses (_invoke), so their pages are the ones warmed.
    _encode({"name": "warm_up", "arguments": {"n": 1}})
    answer = wire_json.decode(b'{"ok":true,"result":{"a":[{"b":1}]}}')
    result = _wrap(answer["result"], _WARM_UP_CONTRACT["outputSchema"], 0, "", "WarmUpResult")
    result.a[0].b
    sys.modules.pop("tools", None)
    _classes.clear()
    take_reads()


def begin_cell(channel):
    """A later session cell: the functions from cell 1 stay; only the per-cell state resets
    (values from earlier cells keep their provenance: a later cell may pass them on)."""
    _State.channel = channel
    _State.reads = []
    _State.seen = set()
    _State.flows = []


def end_cell():
    """The cell is over: calls still in flight on other threads finish first, later ones raise."""
    with _State.calling:
        _State.channel = None


def take_reads():
    reads, _State.reads, _State.seen = _State.reads, [], set()
    return reads


def take_flows():
    flows, _State.flows = _State.flows, []
    return flows


def render_api(contracts):
    """The tool API as Python stubs: the classes, then the functions, as they exist in the sandbox."""
    classes = {}

    def collect(schema, class_name):
        if not isinstance(schema, dict):
            return
        kind = schema.get("type")
        if (kind == "object" or "properties" in schema) and (schema.get("properties") or schema.get("title")):
            cls = _class_for(schema, class_name)
            if cls.__name__ not in classes:
                classes[cls.__name__] = (schema, class_name)
                for field, sub in (schema.get("properties") or {}).items():
                    collect(sub, cls.__name__ + _camel(field))
        if kind == "array" or "items" in schema:
            collect(schema.get("items"), class_name + "Item" if not class_name.endswith("Item") else class_name)
        for option in schema.get("anyOf") or schema.get("oneOf") or []:
            collect(option, class_name)

    for contract in contracts:
        if contract.get("outputSchema"):
            collect(contract["outputSchema"], _result_class_name(contract))
    out = [
        "# Tools you can call. They are already in scope (also: `from tools import ...`).",
        "# Results are read-only objects: use attributes (r.field) or items (r['field']).",
        "# Errors: ToolError and its subclasses ToolArgumentError, ToolContractError,",
        "# ToolTimeoutError, ToolLimitError.",
        "from typing import Any, Literal",
        "",
    ]
    for cls_name, (schema, class_name) in classes.items():
        out.append("class %s(ToolResult):" % cls_name)
        if schema.get("description"):
            out.append('    """%s"""' % schema["description"].replace('"""', "'''"))
        required = set(schema.get("required") or [])
        properties = schema.get("properties") or {}
        for field, sub in properties.items():
            text = annotation(sub, cls_name + _camel(field))
            if field not in required and "None" not in text:
                text += " | None"
            comment = "  # %s" % sub["description"] if isinstance(sub, dict) and sub.get("description") else ""
            out.append("    %s: %s%s" % (field, text, comment))
        if not properties:
            out.append("    ...")
        out.append("")
    for contract in contracts:
        signature, _ = _signature(contract)
        out.append("def %s%s:" % (contract["name"], _format_signature(signature)))
        doc = _docstring(contract).replace('"""', "'''")
        out.append('    """' + doc.replace("\n", "\n    ").replace("\n    \n", "\n\n") + '"""')
        out.append("")
    return "\n".join(out).rstrip() + "\n"


def _format_signature(signature):
    parts = []
    for p in signature.parameters.values():
        text = "%s: %s" % (p.name, p.annotation)
        if p.default is not inspect.Parameter.empty:
            text += " = %r" % (p.default,)
        parts.append(text)
    return "(%s) -> %s" % (", ".join(parts), signature.return_annotation)


def format_signature(function):
    """How `render_api` writes a function's signature (tests compare the two)."""
    return _format_signature(function.__signature__)
