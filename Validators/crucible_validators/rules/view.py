"""The `view` ruleset: the delegating agent's own view convention.

    @view
    def user_profile_view(user_id: int, *, user_service: UserService) -> Element:
        user = user_service.get(user_id)
        return html(t"<div class='user-profile'><h2>{user.username}</h2></div>")

Configuration (`[tool.crucible]`): `view_decorator` (default "view": matched by its last
dotted part, so `@views.view` and `@view(...)` count), `view_suffix` (default "_view").
"""

import ast
import re

from ..engine import Finding, rule
from ..signatures import own_returns


def _decorator_name(node):
    target = node.func if isinstance(node, ast.Call) else node
    if isinstance(target, ast.Attribute):
        return target.attr
    if isinstance(target, ast.Name):
        return target.id
    return None


def _is_decorated(function, context):
    wanted = (context.config.get("view_decorator") or "view").split(".")[-1]
    return any(_decorator_name(d) == wanted for d in function.decorator_list)


# Decorators that make a function something other than a view, whatever its name: a pytest
# fixture named `simple_view` builds a view for a test (storyville's tests/conftest.py).
_NOT_VIEWS = {"fixture", "property", "cached_property"}


def _named_as_view(function, context):
    """Named with the view suffix, in a module that renders with tdom, and not made something
    else by a decorator."""
    return function.name.endswith(_suffix(context)) and _renders_with_tdom(context) and not any(
        _decorator_name(d) in _NOT_VIEWS for d in function.decorator_list)


def _renders_with_tdom(context):
    """The module imports tdom, calls html() or holds a t-string. A name alone does not make
    a view: aiohttp and Django handlers are `*_view` functions returning JSON or responses
    (svcs's own docs), and this convention is for tdom views."""
    if "renders_with_tdom" not in context.memo:
        imports_tdom = any(
            (isinstance(n, ast.ImportFrom) and (n.module or "").split(".")[0] == "tdom")
            or (isinstance(n, ast.Import) and any(a.name.split(".")[0] == "tdom" for a in n.names))
            for n in context.nodes if isinstance(n, (ast.Import, ast.ImportFrom)))
        context.memo["renders_with_tdom"] = (imports_tdom or bool(context.parsed.template_positions)
                                             or any(_is_html_call(n) for n in context.nodes if isinstance(n, ast.Call)))
    return context.memo["renders_with_tdom"]


def _is_view(function, context):
    """Decorated as a view, or named as one (then VIEW001 also reports the missing decorator)."""
    return _is_decorated(function, context) or _named_as_view(function, context)


def _suffix(context):
    return context.config.get("view_suffix") or "_view"


_gate_patterns = {}


def _pattern(kind, value):
    key = (kind, value)
    if key not in _gate_patterns:
        name = re.escape(value)
        _gate_patterns[key] = re.compile(
            r"def\s+\w*%s\b" % name if kind == "suffix" else r"@\s*(?:[\w.]*\.)?%s\b" % name)
    return _gate_patterns[key]


def _mentions_suffix(text, config):
    """Gate: some function is named with the view suffix."""
    suffix = config.get("view_suffix") or "_view"
    return suffix in text and _pattern("suffix", suffix).search(text) is not None


def _mentions_decorator(text, config):
    """Gate: the view decorator appears."""
    name = (config.get("view_decorator") or "view").split(".")[-1]
    return name in text and _pattern("decorator", name).search(text) is not None


def _mentions_view(text, config):
    """Gate for rules on every view: decorated, or named as one."""
    return _mentions_decorator(text, config) or _mentions_suffix(text, config)


def _mentions_html(text, config):
    """Gate: something is called html."""
    return "html(" in text


def _is_html_call(node):
    return isinstance(node, ast.Call) and (
        (isinstance(node.func, ast.Name) and node.func.id == "html")
        or (isinstance(node.func, ast.Attribute) and node.func.attr == "html"))


@rule("VIEW001", "view", message="view function is missing the @view decorator",
      hint="decorate it: put `@view` on the line above `def`",
      doc="A function named like a view (ending in the view suffix) in a module that renders with tdom (imports "
          "it, calls html() or holds a t-string) must be registered with @view. A function a decorator makes "
          "something else (a pytest fixture, a property), or a `*_view` handler of another framework in a module "
          "without tdom, is not taken for a view.",
      bad="def profile_view() -> Element:\n    return html(t'<p/>')",
      good="@view\ndef profile_view() -> Element:\n    return html(t'<p/>')",
      gate=_mentions_suffix)
def missing_decorator(context):
    for function in context.functions:
        if _named_as_view(function, context) and not _is_decorated(function, context):
            yield Finding.on_name(function)


@rule("VIEW002", "view", message="a view must be annotated to return Element",
      hint="add the return annotation `-> Element`",
      doc="Views return tdom Elements; the annotation documents it and lets the type checker hold it.",
      bad="@view\ndef profile_view():\n    return html(t'<p/>')",
      good="@view\ndef profile_view() -> Element:\n    return html(t'<p/>')",
      gate=_mentions_view)
def return_annotation(context):
    for function in context.functions:
        if not _is_view(function, context):
            continue
        annotation = function.returns
        name = _decorator_name(annotation) if annotation is not None else None
        if name != "Element":
            yield Finding(annotation) if annotation is not None else Finding.on_name(function)


@rule("VIEW003", "view", message="a view must return html() of a t-string",
      hint="return html(t\"...\"): build the markup as a t-string so interpolations are escaped",
      doc="Every return of a view is `html(t\"...\")`; anything else skips tdom's escaping or its structure.",
      bad="@view\ndef profile_view(name: str) -> Element:\n    return name",
      good="@view\ndef profile_view(name: str) -> Element:\n    return html(t'<p>{name}</p>')",
      gate=_mentions_view)
def returns_template(context):
    for function in context.functions:
        if not _is_view(function, context):
            continue
        returns = own_returns(function)
        if not returns:
            yield Finding.on_name(function, message="a view must return html() of a t-string; this one never returns")
        for statement in returns:
            value = statement.value
            if (value is not None and _is_html_call(value) and value.args
                    and context.is_template(value.args[0])):
                continue
            if value is not None and _is_html_call(value):
                continue  # the argument itself is VIEW006's business
            yield Finding(statement)


@rule("VIEW004", "view", message="injected services must be keyword-only and annotated",
      hint="put services after `*` with their type: `def x_view(item_id: int, *, service: ItemService)`",
      doc="Services are injected by keyword; each needs its type annotation so the injector can resolve it. "
          "A positional parameter annotated with a type named *Service is taken for a misplaced service.",
      bad="@view\ndef item_view(item_id: int, service: ItemService) -> Element: ...",
      good="@view\ndef item_view(item_id: int, *, service: ItemService) -> Element: ...",
      gate=_mentions_view)
def injected_services(context):
    for function in context.functions:
        if not _is_view(function, context):
            continue
        arguments = function.args
        for argument in arguments.kwonlyargs:
            if argument.annotation is None:
                yield Finding(argument, message="keyword-only parameter %r of a view has no type annotation"
                              % argument.arg)
        for argument in arguments.posonlyargs + arguments.args:
            name = _decorator_name(argument.annotation) if argument.annotation is not None else None
            if name and name.endswith("Service"):
                yield Finding(argument, message="service %r must be keyword-only (after `*`)" % argument.arg)


@rule("VIEW005", "view", message="a view's name must end in the view suffix",
      hint="rename it so it ends in _view",
      doc="The suffix makes views findable and lets VIEW001 catch a missing decorator.",
      bad="@view\ndef profile() -> Element: ...",
      good="@view\ndef profile_view() -> Element: ...",
      gate=_mentions_decorator)
def name_suffix(context):
    for function in context.functions:
        if _is_decorated(function, context) and not function.name.endswith(_suffix(context)):
            yield Finding.on_name(function, hint="rename it to %s%s" % (function.name, _suffix(context)))


@rule("VIEW006", "view", message="html() must be given a t-string, not a formatted str (an XSS hole)",
      hint="write html(t\"...\"): only t-string interpolations are escaped",
      doc="f-strings, plain or concatenated strings, str.format and % build a str before html() sees it, "
          "so user data lands in the markup unescaped.",
      bad="html(f'<p>{name}</p>')",
      good="html(t'<p>{name}</p>')",
      gate=_mentions_html)
def html_argument(context):
    for node in context.calls:
        if not _is_html_call(node) or not node.args:
            continue
        argument = node.args[0]
        kind = None
        if isinstance(argument, ast.JoinedStr) and not context.is_template(argument):
            kind = "an f-string"
        elif isinstance(argument, ast.Constant) and isinstance(argument.value, str):
            kind = "a plain str"
        elif isinstance(argument, ast.BinOp) and isinstance(argument.op, ast.Add) and _stringish(argument, context):
            kind = "a concatenated str"
        elif isinstance(argument, ast.BinOp) and isinstance(argument.op, ast.Mod) and _stringish(argument.left, context):
            kind = "a %-formatted str"
        elif (isinstance(argument, ast.Call) and isinstance(argument.func, ast.Attribute)
              and argument.func.attr == "format" and _stringish(argument.func.value, context)):
            kind = "a str.format() result"
        if kind:
            yield Finding(argument, message="html() is given %s, not a t-string (an XSS hole)" % kind)


def _stringish(node, context):
    if isinstance(node, ast.Constant):
        return isinstance(node.value, str)
    if isinstance(node, ast.JoinedStr):
        return not context.is_template(node)
    if isinstance(node, ast.BinOp):
        return _stringish(node.left, context) or _stringish(node.right, context)
    return False
