# The default runtime check of the view and component kinds (Python 3.14 with tdom): renders
# what the artifact defines with the real tdom, so tdom's own errors (a component called
# without a required parameter, markup it rejects) fail the attempt instead of a static pass.
# Runs after the artifact, in the same worker session: its names are globals here.
#
# Rendered: every module-level Template, and every function of the artifact whose required
# parameters can be given sample values from their annotations (str, int, float, bool, lists,
# dicts, optionals). A function that needs anything else (a service, a request) is listed as
# skipped, not guessed at. The value is what was rendered and what was skipped.
import inspect as _inspect
import types as _types
import typing as _typing
from string.templatelib import Template as _Template

from tdom import html as _html

_SAMPLES = {str: "<b>sample</b>", int: 1, float: 1.5, bool: True, list: [], dict: {}, tuple: (), type(None): None}


def _sample(annotation):
    if annotation in _SAMPLES:
        return True, _SAMPLES[annotation]
    origin = _typing.get_origin(annotation)
    if origin in (list, dict, tuple):
        return True, origin()
    if origin in (_typing.Union, _types.UnionType):
        for option in _typing.get_args(annotation):
            known, value = _sample(option)
            if known:
                return True, value
    return False, None


def _arguments(function):
    try:
        signature = _inspect.signature(function)
        hints = _typing.get_type_hints(function)
    except Exception:  # unresolvable annotations: not this check's business
        return None
    positional, keywords = [], {}
    for parameter in signature.parameters.values():
        if parameter.kind in (parameter.VAR_POSITIONAL, parameter.VAR_KEYWORD) or parameter.default is not parameter.empty:
            continue
        known, value = _sample(hints.get(parameter.name, parameter.annotation))
        if not known:
            return None
        if parameter.kind == parameter.KEYWORD_ONLY:
            keywords[parameter.name] = value
        else:
            positional.append(value)
    return positional, keywords


def _render(value):
    return _html(value) if isinstance(value, _Template) else value


_rendered, _skipped = [], []
for _name, _value in list(globals().items()):
    if _name.startswith("_"):
        continue
    if isinstance(_value, _Template):
        str(_render(_value))
        _rendered.append(_name)
        continue
    _function = getattr(_value, "__wrapped__", _value)
    _code = getattr(_function, "__code__", None)
    if _code is None or _code.co_filename != "<cell 1>":
        continue  # not defined by the artifact
    _given = _arguments(_function)
    if _given is None:
        _skipped.append(_name)
        continue
    str(_render(_value(*_given[0], **_given[1])))
    _rendered.append(_name)
{"rendered": _rendered, "skipped": _skipped}
