"""The `middleware` ruleset: svcs-di / tdom-svcs middleware.

A middleware is a class decorated `@middleware` or passed to `register_middleware(registry,
Cls)`. It has `priority: int` and `__call__(self, target, props, context)` returning the props
(or None to stop the chain). `execute_middleware` runs the sync path and refuses async
middleware; only `execute_middleware_async` awaits an `async __call__`.
"""

import ast

from ..engine import Finding, collector, rule
from ..signatures import dotted_name, last_name, of_function


def _gate(text, config):
    return "middleware" in text


def _middleware_classes(context):
    if "middleware_classes" not in context.memo:
        registered = {dotted_name(call.args[1]).split(".")[-1] for call in context.calls
                      if last_name(call.func) == "register_middleware" and len(call.args) > 1}
        found = []
        # Every class statement, not `context.definitions` (which leaves out a name defined
        # twice): two tests may each define their own `Audit` middleware.
        for definition in context.nodes:
            if not isinstance(definition, ast.ClassDef):
                continue
            decorated = any(last_name(d.func if isinstance(d, ast.Call) else d) == "middleware"
                            for d in definition.decorator_list)
            if decorated or definition.name in registered:
                found.append(definition)
        found.sort(key=lambda d: d.lineno)
        context.memo["middleware_classes"] = found
    return context.memo["middleware_classes"]


def _call_method(cls):
    for statement in cls.body:
        if isinstance(statement, (ast.FunctionDef, ast.AsyncFunctionDef)) and statement.name == "__call__":
            return statement
    return None


@rule("MW001", "middleware", message="a middleware needs a `priority: int` attribute",
      hint="add `priority: int = 0` to the class body (lower runs first)",
      doc="The chain is ordered by each middleware's `priority`, an annotated int; without the annotation a "
          "dataclass has no such field and the protocol check fails.",
      bad="@middleware\n@dataclass\nclass Audit:\n    def __call__(self, target, props, context): ...",
      good="@middleware\n@dataclass\nclass Audit:\n    priority: int = 0\n"
           "    def __call__(self, target, props, context): ...",
      gate=_gate)
def priority(context):
    for cls in _middleware_classes(context):
        annotated = [s for s in cls.body if isinstance(s, ast.AnnAssign) and isinstance(s.target, ast.Name)
                     and s.target.id == "priority"]
        if annotated:
            if last_name(annotated[0].annotation) != "int":
                yield Finding(annotated[0].annotation, message="%s.priority is annotated %s, not int"
                              % (cls.name, ast.unparse(annotated[0].annotation)))
            continue
        plain = [s for s in cls.body if isinstance(s, ast.Assign)
                 and any(isinstance(t, ast.Name) and t.id == "priority" for t in s.targets)]
        if plain:
            yield Finding(plain[0], message="%s.priority has no `int` annotation" % cls.name,
                          hint="annotate it: priority: int = ...")
        else:
            yield Finding.on_name(cls, message="middleware %s has no priority" % cls.name)


@rule("MW002", "middleware", message="a middleware's __call__ must take (self, target, props, context)",
      hint="define def __call__(self, target, props, context) and return props (or None to stop the chain)",
      doc="The chain calls each middleware with the target, the props and the context, positionally.",
      bad="@middleware\nclass Audit:\n    priority: int = 0\n    def __call__(self, props): ...",
      good="@middleware\nclass Audit:\n    priority: int = 0\n    def __call__(self, target, props, context): ...",
      gate=_gate)
def call_signature(context):
    for cls in _middleware_classes(context):
        method = _call_method(cls)
        if method is None:
            yield Finding.on_name(cls, message="middleware %s has no __call__" % cls.name)
            continue
        signature = of_function(method, drop_first=True)
        positional = signature.positional_only + signature.positional
        required_keyword = [arg for arg, has_default in signature.keyword_only if not has_default]
        accepts_three = signature.var_positional is not None or len(positional) >= 3
        required = [arg for arg, has_default in positional if not has_default]
        if not accepts_three or len(required) > 3 or required_keyword:
            shown = ", ".join(["self"] + [arg.arg for arg, _ in positional])
            yield Finding(line=method.lineno, col=method.col_offset, end_line=method.lineno,
                          end_col=method.col_offset + len("def __call__"),
                          message="%s.__call__(%s) cannot be called with (target, props, context)" % (cls.name, shown))


@collector("middleware", gate=_gate)
def collect(context):
    asynchronous = []
    for cls in _middleware_classes(context):
        method = _call_method(cls)
        if isinstance(method, ast.AsyncFunctionDef):
            end = method.col_offset + len("async def __call__")
            asynchronous.append({"class": cls.name, "span": [method.lineno, method.col_offset, method.lineno, end]})
    uses_async = any(last_name(call.func) == "execute_middleware_async" for call in context.calls)
    return {"async_middleware": asynchronous, "async_path": uses_async}


@rule("MW003", "middleware", message="an async middleware where only the sync chain runs",
      hint="make __call__ a plain def, or run the chain with `await execute_middleware_async(...)`",
      doc="execute_middleware (the sync path, and what rendering uses) raises RuntimeError on async "
          "middleware; only execute_middleware_async awaits it. Flagged when none of the files analyzed "
          "together calls execute_middleware_async.",
      bad="@middleware\nclass Load:\n    priority: int = 0\n    async def __call__(self, target, props, context): ...",
      good="@middleware\nclass Load:\n    priority: int = 0\n    def __call__(self, target, props, context): ...",
      project=True)
def async_without_async_path(project):
    facts = project.of("middleware")
    if any(found["async_path"] for _, found in facts):
        return
    for path, found in facts:
        for entry in found["async_middleware"]:
            line, col, end_line, end_col = entry["span"]
            yield path, Finding(line=line, col=col, end_line=end_line, end_col=end_col,
                                message="%s has an async __call__ but nothing here runs "
                                "execute_middleware_async" % entry["class"])
