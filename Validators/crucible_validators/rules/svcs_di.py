"""The `svcs-di` ruleset: svcs-di's `@injectable` and `Inject[T]` (as in pauleveritt/svcs-di).

`Inject[T]` marks a parameter or dataclass field the injector fills from the container;
`@injectable` + `scan()` registers a class (or, with `for_=`, a function) as a service.
"""

import ast

from ..engine import Finding, rule
from ..signatures import last_name, of_definition
from . import tdom


def _decorator(definition, name):
    for decorator in definition.decorator_list:
        target = decorator.func if isinstance(decorator, ast.Call) else decorator
        if last_name(target) == name:
            return decorator
    return None


@rule("DI001", "svcs-di", message="@injectable on a function needs for_= to say which type it provides",
      hint="write @injectable(for_=TheServiceType) above the function",
      doc="scan() registers an @injectable class under itself; a function has no type of its own, so svcs-di "
          "raises ValueError at scan time unless for_= names the service type.",
      bad="@injectable\ndef make_greeting() -> Greeting: ...",
      good="@injectable(for_=Greeting)\ndef make_greeting() -> Greeting: ...",
      gate=lambda text, config: "injectable" in text)
def injectable_function(context):
    for function in context.functions:
        decorator = _decorator(function, "injectable")
        if decorator is None:
            continue
        keywords = decorator.keywords if isinstance(decorator, ast.Call) else []
        if not any(k.arg == "for_" for k in keywords):
            yield Finding(decorator, message="@injectable on function %s has no for_=" % function.name)


def _injected(signature):
    return [arg.arg for arg, _ in signature.parameters if isinstance(arg.annotation, ast.Subscript)
            and last_name(arg.annotation.value) == "Inject"]


@rule("DI002", "svcs-di", message="a component with Inject[] parameters is rendered without a container",
      hint="pass the request's container: html(t\"...\", container=container) (context= in svcs-di before "
           "March 2026)",
      doc="Inject[] fields are filled from the container the render call is given; without one, tdom calls "
          "the component with those parameters missing and raises TypeError.",
      bad="@dataclass\nclass Greeting:\n    users: Inject[Users]\n    def __call__(self): ...\n"
          "html(t'<{Greeting} />')",
      good="html(t'<{Greeting} />', container=container)",
      gate=lambda text, config: "Inject[" in text and "<{" in text)
def rendered_without_container(context):
    for call in context.calls:
        if last_name(call.func) != "html" or not call.args or not context.is_template(call.args[0]):
            continue
        if any(k.arg in ("container", "context") or k.arg is None for k in call.keywords):
            continue
        text, expressions = tdom._markup(call.args[0])
        for kind, name, _, _ in tdom._scan(text):
            slot = tdom._component(name) if kind in ("start", "self") else None
            if slot is None or slot < 0 or not isinstance(expressions[slot], ast.Name):
                continue
            definition = context.definitions.get(expressions[slot].id)
            signature = of_definition(definition) if definition is not None else None
            injected = _injected(signature) if signature is not None else []
            if injected:
                yield Finding(call, message="%s needs %s from a container, but this html() call passes none"
                              % (expressions[slot].id, ", ".join(injected)))
