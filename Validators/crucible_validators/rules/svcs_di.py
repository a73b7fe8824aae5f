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


def _injected_init_vars(definition):
    """A dataclass's `x: InitVar[Inject[T]]` fields: constructor parameters (passed to
    __post_init__) that svcs-di fills from the container like any Inject[] field."""
    if not isinstance(definition, ast.ClassDef):
        return []
    return [statement.target.id for statement in definition.body
            if isinstance(statement, ast.AnnAssign) and isinstance(statement.target, ast.Name)
            and isinstance(statement.annotation, ast.Subscript) and last_name(statement.annotation.value) == "InitVar"
            and isinstance(statement.annotation.slice, ast.Subscript)
            and last_name(statement.annotation.slice.value) == "Inject"]


@rule("DI002", "svcs-di", message="a component with Inject[] parameters is rendered without a container",
      hint="pass the request's container: html(t\"...\", container=container) (context= in svcs-di before "
           "March 2026)",
      doc="Inject[] fields (and InitVar[Inject[T]] ones) are filled from the container the render call is "
          "given; without one, tdom calls the component with those parameters missing and raises TypeError. "
          "The component is the def or class its name refers to where html() is called: a class defined in the "
          "enclosing function before the module's one, and of a name defined twice in one scope the definition "
          "that binds it last (at module level, the last before the call; for a call inside a function, the "
          "module's last).",
      bad="@dataclass\nclass Greeting:\n    users: Inject[Users]\n    def __call__(self): ...\n"
          "html(t'<{Greeting} />')",
      good="html(t'<{Greeting} />', container=container)",
      gate=lambda text, config: "Inject[" in text and "<{" in text)
def rendered_without_container(context):
    for call, scopes in _calls_in_scopes(context.tree):
        if last_name(call.func) != "html" or not call.args or not context.is_template(call.args[0]):
            continue
        if any(k.arg in ("container", "context") or k.arg is None for k in call.keywords):
            continue
        text, expressions = tdom._markup(call.args[0])
        for kind, name, _, _ in tdom._scan(text):
            slot = tdom._component(name) if kind in ("start", "self") else None
            if slot is None or slot < 0 or not isinstance(expressions[slot], ast.Name):
                continue
            definition = _visible_definition(expressions[slot].id, call, scopes)
            signature = of_definition(definition) if definition is not None else None
            injected = _injected(signature) if signature is not None else []
            injected += [name for name in _injected_init_vars(definition) if name not in injected]
            if injected:
                yield Finding(call, message="%s needs %s from a container, but this html() call passes none"
                              % (expressions[slot].id, ", ".join(injected)))


def _calls_in_scopes(tree):
    """Yields (call, [module, enclosing functions...]) for every call, outermost scope first."""
    stack = [(tree, (tree,))]
    while stack:
        node, scopes = stack.pop()
        if isinstance(node, ast.Call):
            yield node, scopes
        inner = scopes + (node,) if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)) else scopes
        stack.extend((child, inner) for child in ast.iter_child_nodes(node))


def _scope_definitions(scope, name):
    """`def`/`class name` statements that bind `name` in this scope (not in nested ones), in order."""
    found, stack = [], list(scope.body) if isinstance(scope.body, list) else []
    while stack:
        node = stack.pop()
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            if node.name == name:
                found.append(node)
            continue  # its body is another scope
        if isinstance(node, ast.Lambda):
            continue
        stack.extend(ast.iter_child_nodes(node))
    return sorted(found, key=lambda d: d.lineno)


def _visible_definition(name, use, scopes):
    """The `def`/`class` a name refers to where it is used, as Python looks it up: the innermost
    enclosing function that defines it, then the module. Defined twice in one scope (a fallback
    redefined, one per branch of an `if`), the one that binds it last before the use counts;
    a module-level name used inside a function is read when the function runs, after the
    whole module has run, so its last definition counts."""
    innermost = scopes[-1]
    for scope in reversed(scopes):
        found = _scope_definitions(scope, name)
        if not found:
            continue
        if scope is innermost:
            before = [d for d in found if d.lineno <= use.lineno]
            return before[-1] if before else found[-1]
        return found[-1]
    return None
