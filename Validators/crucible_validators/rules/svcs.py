"""The `svcs` ruleset: service registrations and requests (hynek/svcs), checked across every
file analyzed together.

Each file contributes facts (collected by `collect`): registrations through
`Registry.register_factory`/`register_value` and the framework helpers (Flask, AIOHTTP and
Pyramid take the app or config first; Starlette and FastAPI register on the lifespan's
registry), requests through a container's `get`/`aget`/`get_abstract`, the framework `get`
and `aget` helpers and svcs-di's `Inject[T]`, the classes and factories defined, and PEP 695
aliases. The project rules then compare them.

Types are compared as Python would see them: each name is traced through its file's
definitions and imports (relative, `from x import Y`, `import x` then `x.Y`, re-exports in
`__init__.py`) to the analyzed file that defines it (`python_names.Resolver`), so two example
folders each with their own `Greeting` have two types. A name that cannot be traced (it comes
from a library, a star import, or a module outside the analyzed files) is compared by its
last dotted part, as `db.Database` and `Database` were before. Types registered outside the
analyzed files are declared in `[tool.crucible] external_services`.
"""

import ast

from ..engine import Finding, collector, rule
from ..python_names import Resolver, full_name, import_aliases, module_facts, span
from ..signatures import dotted_name, last_name, of_class, of_function

_REGISTER = {"register_factory": "factory", "register_value": "value",
             "overwrite_factory": "factory", "overwrite_value": "value",
             # svcs: a container's own registrations (for one request, one test)
             "register_local_factory": "factory", "register_local_value": "value",
             # svcs-di: HopscotchRegistry.register_implementation(service_type, implementation, ...):
             # a class whose constructor svcs-di injects, one per resource or location, so none of
             # the factory rules apply and several per type are the point.
             "register_implementation": "implementation"}
# The keyword of the registered target, where it is not the kind's name.
_TARGET_KEYWORD = {"register_implementation": "implementation"}
# Helpers that take the app (Flask, AIOHTTP) or config (Pyramid) before the service type.
_APP_FIRST = ("svcs.flask.", "svcs.aiohttp.", "svcs.pyramid.")
# Module-level request helpers: how many arguments come before the types.
_REQUEST_HELPERS = {
    "svcs.flask.get": 0, "svcs.flask.get_abstract": 0,
    "svcs.starlette.aget": 1, "svcs.starlette.aget_abstract": 1,
    "svcs.aiohttp.aget": 1, "svcs.aiohttp.aget_abstract": 1,
    "svcs.pyramid.get": 1, "svcs.pyramid.get_abstract": 1,
}
_CONTAINER_METHODS = {"get", "aget", "get_abstract", "aget_abstract"}
_CONTAINER_TYPES = {"Container", "DepContainer", "HopscotchContainer"}
_WRAPPERS = {"Generator", "Iterator", "AsyncGenerator", "AsyncIterator", "Awaitable", "Coroutine"}
_BUILTIN_RESULTS = {"str", "int", "float", "bool", "bytes", "dict", "list", "tuple", "set", "None"}


def _gate(text, config):
    return ("svcs" in text or "Inject[" in text or "register_factory" in text or "register_value" in text
            or "injectable" in text)


def _looks_like_type(node):
    """A Name/Attribute (or subscripted generic) whose last part is capitalized: `Database`, `db.Pool`."""
    if isinstance(node, ast.Subscript):
        node = node.value
    name = last_name(node) if isinstance(node, (ast.Name, ast.Attribute)) else ""
    return bool(name) and name[0].isupper()


def _key(node):
    """The type a registration or request names, as its last dotted part (generics by their base)."""
    if isinstance(node, ast.Subscript):
        node = node.value
    return last_name(node)


def _is_container_annotation(annotation):
    if annotation is None:
        return False
    if isinstance(annotation, ast.Subscript) and last_name(annotation.value) == "Inject":
        annotation = annotation.slice
    return last_name(annotation) in _CONTAINER_TYPES


def _containers_in(function):
    """Names of a function's parameters that hold a container."""
    if function is None or isinstance(function, ast.Lambda):
        return set()
    arguments = function.args
    return {a.arg for a in arguments.posonlyargs + arguments.args + arguments.kwonlyargs
            if a.arg == "svcs_container" or _is_container_annotation(a.annotation)}


def _assigned_containers(tree, types=_CONTAINER_TYPES):
    """Names bound to `svcs.Container(...)` anywhere: `c = svcs.Container(r)`, `with Container(r) as c`
    (or to a call of another of `types`)."""
    names = set()
    for node in ast.walk(tree):
        value, targets = None, []
        if isinstance(node, ast.Assign):
            value, targets = node.value, node.targets
        elif isinstance(node, ast.AnnAssign) and node.value is not None:
            value, targets = node.value, [node.target]
        elif isinstance(node, ast.withitem) and node.optional_vars is not None:
            value, targets = node.context_expr, [node.optional_vars]
        if isinstance(value, ast.Call) and last_name(value.func) in types:
            names.update(t.id for t in targets if isinstance(t, ast.Name))
    return names


def _unwrap_return(annotation):
    """The service a factory produces: `Generator[Conn, None, None]` and friends yield their first argument."""
    if isinstance(annotation, ast.Subscript) and last_name(annotation.value) in _WRAPPERS:
        inner = annotation.slice
        if isinstance(inner, ast.Tuple) and inner.elts:
            inner = inner.elts[0]
        return _unwrap_return(inner)
    if isinstance(annotation, ast.Constant) and annotation.value is None:
        return "None"
    return _key(annotation) if annotation is not None else None


def _unsupplied(signature):
    """Required parameters svcs cannot fill: it passes the container, and only to a first
    parameter named `svcs_container` or annotated `svcs.Container`."""
    required = [arg for arg, has_default in signature.positional_only + signature.positional if not has_default]
    required += [arg for arg, has_default in signature.keyword_only if not has_default]
    first = (signature.positional_only + signature.positional)[:1]
    takes_container = bool(first) and (first[0][0].arg == "svcs_container"
                                       or _is_container_annotation(first[0][0].annotation))
    return [arg.arg for arg in required if not (takes_container and arg is first[0][0])]


@collector("svcs", gate=_gate, otherwise=lambda context: _module_facts(context, uses=False))
def collect(context):
    tree = context.tree
    aliases = import_aliases(tree)
    module_containers = _assigned_containers(tree)
    # svcs-di's ServiceLocator: `locator = locator.register(Greeting, Impl)` registers an
    # implementation (a new locator each time), which a registry then serves.
    locators = _assigned_containers(tree, {"ServiceLocator"}) if "ServiceLocator" in aliases or any(
        "ServiceLocator" in alias for alias in aliases.values()) else set()
    facts = _module_facts(context, uses=True)
    facts.update({"registrations": [], "requests": [], "injectables": []})
    annotated = _annotation_nodes(context)
    for node, where in _walk(context):
        if isinstance(node, ast.Call):
            _registration(node, where, aliases, facts, locators)
            _request(node, where, aliases, module_containers, facts)
        elif isinstance(node, ast.Subscript) and last_name(node.value) == "Inject" and id(node) in annotated:
            inner = node.slice
            if _looks_like_type(inner) and not _is_container_annotation(inner) and not where.generic(inner):
                facts["requests"].append({"key": _key(inner), "text": _text(inner), "span": span(node),
                                          "how": "Inject[]", "scope": where.scope, "optional": where.optional})
        elif isinstance(node, (ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)):
            _injectable(node, where, facts)
    facts["registrations"].sort(key=lambda entry: entry["span"])
    facts["requests"].sort(key=lambda entry: entry["span"])
    _note_target_definitions(context, facts["registrations"])
    return facts


def _note_target_definitions(context, registrations):
    """Where each registration's target (a class or function of this file) was last defined
    before it: a replacement defined after an earlier registration of the same type is an
    override written on purpose (svcs-di's "site configuration" example), not a slip."""
    defined = {}
    for node in context.nodes:
        if isinstance(node, (ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)):
            defined.setdefault(node.name, []).append(node.lineno)
    for entry in registrations:
        lines = [line for line in defined.get((entry.get("target") or "").split(".")[-1], ()) if line < entry["span"][0]]
        entry["target_defined_line"] = max(lines) if lines else None


# Calls through which a container builds what it is given (so its Inject[] fields are asked
# for): svcs-di's auto/inject/injectable/scan, a registration, a lookup.
_RESOLVING_CALLS = {"auto", "inject", "ainject", "injectable", "scan", "register_factory", "register_value",
                    "register_implementation", "register", "get", "aget", "register_local_factory"}


def _annotation_nodes(context):
    """Ids of every node inside a parameter or field annotation where `Inject[T]` asks svcs-di
    for a T. Not as a value (`extract_inner_type(Inject[Database])`: a type expression), and
    not in a class or function made inside a function that never hands it to a container (a
    test that builds a class only to introspect its fields: svcs-di's own tests). A class at
    module level may be resolved from any module, so its annotations always count."""
    roots = []
    for node in context.nodes:
        if isinstance(node, ast.AnnAssign):
            roots.append(node.annotation)
        elif isinstance(node, ast.arg) and node.annotation is not None:
            roots.append(node.annotation)
    annotated = {id(inner) for root in roots for inner in ast.walk(root)}
    for function in context.functions:
        local = [n for n in ast.walk(function) if n is not function
                 and isinstance(n, (ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef))]
        if not local:
            continue
        resolved = _resolved_names(function, context)
        for owner in local:
            if owner.name in resolved or any(last_name(d.func if isinstance(d, ast.Call) else d) == "injectable"
                                             for d in owner.decorator_list):
                continue
            annotated.difference_update(id(inner) for inner in ast.walk(owner))
    return annotated


def _resolved_names(function, context):
    """Names a function hands to a container (arguments of _RESOLVING_CALLS) or renders as
    components (inside a t-string's interpolations)."""
    names = set()
    for node in ast.walk(function):
        if isinstance(node, ast.Call) and last_name(node.func) in _RESOLVING_CALLS:
            for argument in list(node.args) + [k.value for k in node.keywords]:
                names.update(n.id for n in ast.walk(argument) if isinstance(n, ast.Name))
        elif isinstance(node, ast.JoinedStr) and context.is_template(node):
            names.update(n.id for n in ast.walk(node) if isinstance(n, ast.Name))
    return names


def _not_in_init(cls):
    """Dataclass fields declared `field(init=False)`: not constructor parameters."""
    return {statement.target.id for statement in cls.body
            if isinstance(statement, ast.AnnAssign) and isinstance(statement.target, ast.Name)
            and isinstance(statement.value, ast.Call) and last_name(statement.value.func) == "field"
            and any(k.arg == "init" and isinstance(k.value, ast.Constant) and k.value.value is False
                    for k in statement.value.keywords)}


def _injected(signature):
    """Parameters annotated Inject[T]: svcs-di's auto(factory) fills them, svcs alone does not."""
    return [arg.arg for arg, _ in signature.parameters
            if isinstance(arg.annotation, ast.Subscript) and last_name(arg.annotation.value) == "Inject"]


def _module_facts(context, uses):
    """Names this module defines and imports (`python_names.module_facts`) and what a
    registration elsewhere needs to judge a class or function defined here as a factory: what
    the project phase needs to trace a name to its definition. Every analyzed file gives these,
    not only those that mention svcs: a plain models.py defines the services. A file that
    registers or requests services (`uses`) adds what resolving its own names needs: imports
    inside functions and the classes and functions defined inside functions, by the function's
    qualified name (this walks the whole tree, so the other files skip it)."""
    tree = context.tree
    facts = module_facts(tree, context.nodes if uses else None)
    facts.update({"classes": {}, "factories": {}})
    for name in context.parsed.type_aliases:  # on 3.11 the source pass turned them into `type_X = ...`
        facts["defines"].pop("type_" + name, None)
        facts["defines"][name] = "alias"
    # Lowercase module-level values are not service types; leaving them out keeps the facts of
    # a large project small (they cross from every batch to the project phase).
    facts["defines"] = {name: kind for name, kind in facts["defines"].items()
                        if kind != "value" or name[:1].isupper()}
    # Module-level definitions only: `Database.connect` (a method) is not judged by name. Only
    # what is not the default is written: a class without bases, a class or function that
    # needs nothing svcs does not pass and declares no return type (see _Types.defined).
    for definition in tree.body:
        name = getattr(definition, "name", None)
        if isinstance(definition, ast.ClassDef):
            bases = [dotted_name(b.value if isinstance(b, ast.Subscript) else b) for b in definition.bases]
            if bases:
                facts["classes"][name] = {"bases": bases,
                                          "protocol": any(_key(b) in ("Protocol", "ABC") for b in definition.bases)}
            signature = of_class(definition)
            if signature is None:
                facts["factories"][name] = None  # a constructor from a base class we cannot see
                continue
            not_init = _not_in_init(definition)
            factory = {"unsupplied": [p for p in _unsupplied(signature) if p not in not_init],
                       "injected": _injected(signature), "returns": name}
        elif isinstance(definition, (ast.FunctionDef, ast.AsyncFunctionDef)):
            signature = of_function(definition)
            factory = {"unsupplied": _unsupplied(signature), "injected": _injected(signature),
                       "returns": _unwrap_return(definition.returns)}
        else:
            continue
        if factory["unsupplied"] or (factory["returns"] and factory["returns"] != name):
            facts["factories"][name] = factory
    if not uses:
        return facts
    scoped = {}
    stack = [(context.tree, "", "")]
    while stack:
        node, qualname, function = stack.pop()
        for child in ast.iter_child_nodes(node):
            if isinstance(child, (ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)):
                if function:
                    scoped.setdefault(function, []).append(child.name)
                inner = qualname + "." + child.name if qualname else child.name
                stack.append((child, inner, inner if not isinstance(child, ast.ClassDef) else function))
            else:
                stack.append((child, qualname, function))
    if scoped:
        facts["scoped"] = scoped
    return facts


# Handlers that make a missing service an expected case, not a crash: svcs raises
# ServiceNotFoundError (an Exception subclass) for an unregistered type.
_CATCHES_NOT_FOUND = {"ServiceNotFoundError", "Exception", "BaseException"}


class _Where:
    """Where a node sits: the qualified name of its enclosing function ("" at module level),
    that function node, the PEP 695 type parameters and TypeVars in scope, and whether a
    `try` around it handles ServiceNotFoundError."""

    def __init__(self, scope, function, generics, optional, branches=()):
        self.scope, self.function, self.generics, self.optional = scope, function, generics, optional
        self.branches = branches  # ((line, col, 0 body | 1 else) of each enclosing `if`)

    def replace(self, **changes):
        fields = dict(scope=self.scope, function=self.function, generics=self.generics, optional=self.optional,
                      branches=self.branches)
        fields.update(changes)
        return _Where(**fields)

    def generic(self, node):
        """A type parameter (`T` in `def f[T]`, `class C[T]`, `T = TypeVar("T")`), not a type:
        no container is asked for it by that name."""
        if isinstance(node, ast.Subscript):
            node = node.value
        return isinstance(node, ast.Name) and node.id in self.generics


def _type_variables(tree):
    """Module-level `T = TypeVar("T")` (also ParamSpec, TypeVarTuple): pre-PEP 695 type parameters."""
    names = set()
    for statement in tree.body:
        if (isinstance(statement, ast.Assign) and isinstance(statement.value, ast.Call)
                and last_name(statement.value.func) in ("TypeVar", "ParamSpec", "TypeVarTuple")):
            names.update(t.id for t in statement.targets if isinstance(t, ast.Name))
    return names


def _walk(context):
    """Yields (node, _Where) for every node of the file, each once."""
    start = _Where("", None, frozenset(_type_variables(context.tree)), False)
    stack = [(context.tree, start, "")]
    while stack:
        node, where, qualname = stack.pop()
        yield node, where
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            qualname = qualname + "." + node.name if qualname else node.name
            generics = where.generics | set(context.parsed.type_parameters(node))
            if isinstance(node, ast.ClassDef):
                inner = where.replace(generics=generics)
            else:
                inner = where.replace(scope=qualname, function=node, generics=generics)
            # Decorators, bases and defaults are evaluated in the enclosing scope.
            outside = node.decorator_list + getattr(node, "bases", []) + getattr(node, "keywords", [])
            for child in ast.iter_child_nodes(node):
                stack.append((child, where if child in outside else inner, qualname))
            continue
        if isinstance(node, ast.Lambda):
            inner = where.replace(function=node)
            stack.extend((child, inner, qualname) for child in ast.iter_child_nodes(node))
            continue
        if isinstance(node, ast.Try) or type(node).__name__ == "TryStar":
            guarded = any(_catches_not_found(handler.type) for handler in node.handlers)
            body = where.replace(optional=where.optional or guarded)
            for child in node.body:
                stack.append((child, body, qualname))
            for child in node.handlers + node.orelse + node.finalbody:
                stack.append((child, where, qualname))
            continue
        if isinstance(node, ast.If):
            here = (node.lineno, node.col_offset)
            stack.append((node.test, where, qualname))
            for side, block in ((0, node.body), (1, node.orelse)):
                inner = where.replace(branches=where.branches + (here + (side,),))
                stack.extend((child, inner, qualname) for child in block)
            continue
        stack.extend((child, where, qualname) for child in ast.iter_child_nodes(node))


def _catches_not_found(handled):
    if handled is None:
        return True  # a bare `except:`
    names = handled.elts if isinstance(handled, ast.Tuple) else [handled]
    return any(last_name(name) in _CATCHES_NOT_FOUND for name in names)


def _text(node):
    """The dotted name a type is written as (`db.Database`; generics by their base)."""
    if isinstance(node, ast.Subscript):
        node = node.value
    return dotted_name(node) or _key(node)


def _injectable(definition, where, facts):
    """Types svcs-di's `@injectable` + `scan()` registers: the class itself, or `for_=`. scan()
    may run in another module (and takes packages), so every decorated definition in the
    analyzed files counts as registered."""
    for decorator in definition.decorator_list:
        target = decorator.func if isinstance(decorator, ast.Call) else decorator
        if last_name(target) != "injectable":
            continue
        for_ = next((k.value for k in getattr(decorator, "keywords", ()) if k.arg == "for_"), None)
        if isinstance(for_, ast.Constant) and for_.value is None:
            for_ = None  # `for_=None` is svcs-di's default: the class itself
        if for_ is not None and _looks_like_type(for_):
            facts["injectables"].append({"key": _key(for_), "text": _text(for_), "scope": where.scope})
        elif for_ is None and isinstance(definition, ast.ClassDef):
            facts["injectables"].append({"key": definition.name, "text": definition.name, "scope": where.scope})


def _argument(call, index, keyword):
    for item in call.keywords:
        if item.arg == keyword:
            return item.value
    return call.args[index] if len(call.args) > index else None


def _registration(call, where, aliases, facts, locators=()):
    method = last_name(call.func)
    if method in _CONTAINER_TYPES:
        _container_registrations(call, where, facts)
    if method == "register" and isinstance(call.func, ast.Attribute) and dotted_name(call.func.value) in locators:
        method = "register_implementation"
    if method not in _REGISTER:
        return
    name = full_name(call.func, aliases)
    app_first = name.startswith(_APP_FIRST)
    key_node = _argument(call, 1 if app_first else 0, "svc_type")
    target = _argument(call, 2 if app_first else 1, _TARGET_KEYWORD.get(method, _REGISTER[method]))
    if _REGISTER[method] == "implementation" and target is None:
        return
    if key_node is None or not _looks_like_type(key_node) or where.generic(key_node):
        return
    receiver = dotted_name(call.args[0]) if app_first and call.args else (
        dotted_name(call.func.value) if isinstance(call.func, ast.Attribute) else "")
    entry = {"key": _key(key_node), "text": _text(key_node), "kind": _REGISTER[method],
             "overwrite": method.startswith("overwrite"), "method": method, "span": span(call), "key_span": span(key_node),
             "receiver": receiver, "scope": where.scope, "branch": [list(b) for b in where.branches],
             "target": None, "target_text": ast.unparse(target) if target is not None else None,
             "target_span": span(target) if target is not None else None, "target_kind": None,
             "lambda_unsupplied": None}
    if isinstance(target, (ast.Name, ast.Attribute)) and dotted_name(target):
        entry["target"], entry["target_kind"] = dotted_name(target), "name"
    elif isinstance(target, ast.Call) and last_name(target.func) == "auto" and target.args:
        entry["target"], entry["target_kind"] = _text(target.args[0]), "auto"
    elif isinstance(target, ast.Lambda):
        entry["target_kind"] = "lambda"
        entry["lambda_unsupplied"] = _unsupplied(of_function(target))
    facts["registrations"].append(entry)


# svcs-di's HopscotchContainer(registry, location=..., resource=...) registers, as the
# container's own values, the location under svcs_di.injectors.locator.Location and the
# resource under svcs_di.auto.Resource and under its own class.
_CONTAINER_VALUES = {"location": ("svcs_di.injectors.locator", "Location"), "resource": ("svcs_di.auto", "Resource")}


def _container_registrations(call, where, facts):
    for keyword in call.keywords:
        if keyword.arg not in _CONTAINER_VALUES or (
                isinstance(keyword.value, ast.Constant) and keyword.value.value is None):
            continue
        module, name = _CONTAINER_VALUES[keyword.arg]
        found = [(name, [0, module, name])]
        if keyword.arg == "resource" and isinstance(keyword.value, ast.Call) and _looks_like_type(keyword.value.func):
            found.append((_text(keyword.value.func), None))
        for text, imported in found:
            facts["registrations"].append({
                "key": text.split(".")[-1], "text": text, "kind": "value", "overwrite": False,
                "method": "%s(%s=)" % (last_name(call.func), keyword.arg), "span": span(keyword.value),
                "key_span": span(keyword.value), "receiver": "", "scope": where.scope, "branch": None,
                "target": None, "target_text": ast.unparse(keyword.value), "target_span": span(keyword.value),
                "target_kind": "container", "lambda_unsupplied": None, "import": imported})


def _request(call, where, aliases, module_containers, facts):
    func = call.func
    name = full_name(func, aliases)
    skip = _REQUEST_HELPERS.get(name)
    how = name
    if skip is None:
        if not (isinstance(func, ast.Attribute) and func.attr in _CONTAINER_METHODS
                and isinstance(func.value, ast.Name)):
            return
        receiver = func.value.id
        if receiver not in module_containers and receiver not in _containers_in(where.function) and receiver != "svcs_container":
            return
        skip, how = 0, "%s.%s" % (receiver, func.attr)
    for argument in call.args[skip:]:
        if _looks_like_type(argument) and not where.generic(argument):
            facts["requests"].append({"key": _key(argument), "text": _text(argument), "span": span(argument),
                                      "how": how, "scope": where.scope, "optional": where.optional})


def _finding(where, **details):
    line, col, end_line, end_col = where
    return Finding(line=line, col=col, end_line=end_line, end_col=end_col, **details)


class _Types:
    """The project's names, traced across files: what each registration, request and factory
    refers to, and the facts of the definitions they reach."""

    def __init__(self, project):
        self.files = project.of("svcs")
        self.resolver = Resolver({path: facts for path, facts in self.files})
        self.by_path = {self.resolver.normal(path): facts for path, facts in self.files}
        self._bare = None  # {bare name: [defining paths]}, built on first use

    def symbol(self, path, entry):
        if entry.get("import"):
            level, module, name = entry["import"]
            return self.resolver.resolve_import(path, level, module, name)
        return self.resolver.resolve(path, entry["text"], entry.get("scope", ""))

    def defined(self, symbol, field, path, text):
        """(path, facts) of the class or factory `symbol` reaches, from `field` ("classes" or
        "factories") of the defining file, with the defaults the collector leaves out filled
        in. An untraced name falls back to the one definition of that name in the analyzed
        files, when there is exactly one."""
        if symbol.resolved:
            where, name = symbol.path, symbol.name
        else:
            if "." in text and text.split(".")[0] not in self.by_path[self.resolver.normal(path)].get("imports", {}):
                return None  # an attribute of something local (self.factory): not a definition by that name
            candidates = self._by_bare().get(symbol.bare, [])
            if len(candidates) != 1:
                return None
            where, name = candidates[0], symbol.bare
        facts = self.by_path[where]
        kind = facts.get("defines", {}).get(name)
        if field == "classes":
            return (where, facts["classes"].get(name, {"bases": [], "protocol": False})) if kind == "class" else None
        if kind not in ("class", "function"):
            return None
        found = facts["factories"].get(name, {"unsupplied": [], "injected": [], "returns": None})
        if found is None:
            return None
        if kind == "class":
            found = dict(found, returns=name)
        return where, found

    def _by_bare(self):
        """{name: [paths of the files that define it at their top level as a class or function]}"""
        if self._bare is None:
            self._bare = {}
            for path, facts in self.files:
                for name, kind in facts.get("defines", {}).items():
                    if kind in ("class", "function"):
                        self._bare.setdefault(name, []).append(self.resolver.normal(path))
        return self._bare

    def kind(self, symbol):
        return self.resolver.definition(symbol)


def _types(project):
    if "svcs" not in project.memo:
        project.memo["svcs"] = _Types(project)
    return project.memo["svcs"]


def _same(first, second):
    """One type, or (where either is untraced) the same last name."""
    if first.resolved and second.resolved:
        return first.key == second.key
    return first.bare == second.bare


@rule("SVCS001", "svcs", message="a service is requested but never registered",
      hint="register it (registry.register_factory(T, factory) or register_value(T, value)), or list it "
           "in [tool.crucible] external_services when it is registered outside these files",
      doc="svcs raises ServiceNotFoundError at request time for a type nobody registered. Every type asked "
          "for with get/aget/get_abstract, a framework helper or Inject[T] must be registered in one of the "
          "files analyzed together: by a registry or container (register_factory, register_value, their "
          "local and overwrite forms, svcs-di's register_implementation and HopscotchContainer's location= "
          "and resource=) or by svcs-di's @injectable, which scan() registers wherever it runs. Types are "
          "matched through imports, not by name alone: another module's class of the same name is another "
          "type. A request inside a try that handles ServiceNotFoundError is optional and not reported; a "
          "type parameter (def f[T], T = TypeVar('T')) is not a service type.",
      bad="def view(svcs_container):\n    db = svcs_container.get(Database)",
      good="registry.register_factory(Database, connect)\n\ndef view(svcs_container):\n"
           "    db = svcs_container.get(Database)",
      project=True)
def unregistered(project):
    types = _types(project)
    external = {k.split(".")[-1] for k in project.config.get("external_services") or ()}
    traced, traced_where, untraced = set(), {}, set(external)
    for path, facts in types.files:
        for entry in facts.get("registrations", []) + facts.get("injectables", []):
            symbol = types.symbol(path, entry)
            if symbol.resolved:
                traced.add(symbol.key)
                traced_where.setdefault(symbol.bare, symbol)
            else:
                untraced.add(symbol.bare)
    for path, facts in types.files:
        for request in facts.get("requests", []):
            if request.get("optional"):
                continue
            symbol = types.symbol(path, request)
            if symbol.key in traced or symbol.bare in untraced or (not symbol.resolved and symbol.bare in traced_where):
                continue
            message = "%s is requested (%s) but never registered" % (request["text"], request["how"])
            other = traced_where.get(symbol.bare)
            if other is not None:
                message += " (the %s registered is another class, defined in %s)" % (symbol.bare, other.path)
            yield path, _finding(request["span"], message=message)


def _subclass_of(types, derived, base, seen=None):
    """Whether class `derived` (a Symbol) is `base` or inherits from it, through the bases as
    written in the file that defines each class."""
    if _same(derived, base):
        return True
    seen = seen or set()
    if derived.key in seen:
        return False
    seen.add(derived.key)
    found = types.defined(derived, "classes", derived.path or "", derived.bare)
    if found is None:
        return False
    where, facts = found
    return any(_subclass_of(types, types.resolver.resolve(where, b), base, seen) for b in facts["bases"] if b)


@rule("SVCS002", "svcs", message="the factory's return type does not match the registered service type",
      hint="register the factory under the type it returns, or make its return annotation the service type "
           "(or a subclass of it)",
      doc="A container hands out what the factory returns under the registered type; a factory annotated to "
          "return an unrelated type breaks every caller's type expectations. Checked when both types are "
          "classes defined in the analyzed files (protocols and ABCs are left alone) or the factory returns "
          "a builtin.",
      bad="def make_cache() -> Redis: ...\nregistry.register_factory(Database, make_cache)",
      good="def make_db() -> Database: ...\nregistry.register_factory(Database, make_db)",
      project=True)
def return_type(project):
    types = _types(project)
    for path, facts in types.files:
        for entry in facts.get("registrations", []):
            if entry["kind"] != "factory" or not entry["target"]:
                continue
            key = types.symbol(path, entry)
            if entry["target_kind"] == "auto":
                produced_text, produced = entry["target"], types.resolver.resolve(path, entry["target"], entry["scope"])
            else:
                target = types.resolver.resolve(path, entry["target"], entry["scope"])
                factory = types.defined(target, "factories", path, entry["target"])
                if factory is None or not factory[1]["returns"]:
                    continue
                produced_text = factory[1]["returns"]
                produced = types.resolver.resolve(factory[0], produced_text)
            if _same(produced, key):
                continue
            key_class = types.defined(key, "classes", path, entry["text"])
            if key_class is not None and key_class[1]["protocol"]:
                continue
            produced_class = types.defined(produced, "classes", path, produced_text)
            if produced_text in _BUILTIN_RESULTS or (
                    produced_class is not None and key_class is not None and not _subclass_of(types, produced, key)):
                yield path, _finding(entry["target_span"], message="%s is registered for %s but produces %s"
                                     % (entry["target_text"], entry["text"], produced_text))


@rule("SVCS003", "svcs", message="svcs cannot call this factory: it has parameters svcs does not supply",
      hint="svcs passes only the container, to a first parameter named `svcs_container` or annotated "
           "`svcs.Container`; get other services from it inside the factory, or give the parameters defaults",
      doc="svcs calls a factory with no arguments, or with the container when its first parameter is named "
          "svcs_container or annotated svcs.Container; any other required parameter is a TypeError at the "
          "first request. The factory is found through imports (another module's function or class of the "
          "same name is not it); auto(T) and callables defined outside the analyzed files are not judged.",
      bad="def connect(config: Config) -> Database: ...\nregistry.register_factory(Database, connect)",
      good="def connect(svcs_container: svcs.Container) -> Database:\n"
           "    config = svcs_container.get(Config)\n    ...\nregistry.register_factory(Database, connect)",
      project=True)
def factory_parameters(project):
    types = _types(project)
    for path, facts in types.files:
        for entry in facts.get("registrations", []):
            if entry["kind"] != "factory":
                continue
            injected = ()
            if entry["target_kind"] == "lambda":
                missing = entry["lambda_unsupplied"]
            elif entry["target_kind"] == "name":
                target = types.resolver.resolve(path, entry["target"], entry["scope"])
                factory = types.defined(target, "factories", path, entry["target"])
                if factory is None:
                    continue
                missing = factory[1]["unsupplied"]
                injected = set(factory[1].get("injected", ()))
            else:
                continue  # auto(T) resolves T's parameters itself
            if missing:
                hint = None
                if injected and set(missing) <= injected:
                    hint = ("svcs-di fills Inject[] parameters only through auto(): register_factory(%s, auto(%s))"
                            % (entry["text"], entry["target_text"]))
                yield path, _finding(entry["target_span"], hint=hint,
                                     message="%s requires %s, which svcs does not pass"
                                     % (entry["target_text"], ", ".join(repr(m) for m in missing)))


@rule("SVCS004", "svcs", message="register_value is given a class, not an instance",
      hint="pass an instance (register_value(Config, Config(...))) or register the class as a factory "
           "(register_factory(Config, Config))",
      doc="register_value hands out the object it was given; given a class, every request gets the class "
          "itself, not a service.",
      bad="registry.register_value(Settings, Settings)", good="registry.register_value(Settings, Settings())",
      project=True)
def value_is_class(project):
    types = _types(project)
    for path, facts in types.files:
        for entry in facts.get("registrations", []):
            if entry["kind"] != "value" or entry["target_kind"] != "name":
                continue
            target = types.resolver.resolve(path, entry["target"], entry["scope"])
            is_class = types.kind(target) == "class" if target.resolved else entry["target_text"] == entry["text"]
            if is_class:
                yield path, _finding(entry["target_span"], message="register_value(%s, %s) registers the class "
                                     "%s itself" % (entry["text"], entry["target_text"], entry["target_text"]))


@rule("SVCS005", "svcs", message="a PEP 695 type alias cannot be a service key",
      hint="use a distinct class or typing.NewType as the key (NewType('Name', Base))",
      doc="svcs does not support `type X = ...` aliases as keys: the alias object is not the type callers "
          "ask for. Reported where the key is traced through imports to a `type` statement in the analyzed "
          "files (another module's class of the same name is not an alias).",
      bad="type UserCache = dict[str, User]\nregistry.register_value(UserCache, {})",
      good="UserCache = NewType('UserCache', dict)\nregistry.register_value(UserCache, UserCache({}))",
      project=True)
def alias_keys(project):
    types = _types(project)
    if not any(kind == "alias" for _, facts in types.files for kind in facts.get("defines", {}).values()):
        return
    for path, facts in types.files:
        for entry in facts.get("registrations", []) + facts.get("requests", []):
            if entry.get("target_kind") == "container":
                continue  # svcs-di's own keys (its Resource marker is an alias, by design)
            if types.kind(types.symbol(path, entry)) == "alias":
                where = entry.get("key_span") or entry["span"]
                yield path, _finding(where, message="%s is a PEP 695 type alias" % entry["text"])


@rule("SVCS006", "svcs", message="the same service type is registered twice with different factories or values",
      hint="keep one registration; to replace one on purpose (tests), use the overwrite helpers or a "
           "separate registry",
      doc="A second registration silently replaces the first on the same registry; two different ones in "
          "one place are almost always a mistake. Not reported: registrations in the two branches of one `if`, "
          "and a replacement defined between the two registrations (an override written on purpose, as svcs "
          "documents: repeated registrations overwrite).",
      bad="registry.register_factory(Database, connect)\nregistry.register_factory(Database, connect_replica)",
      good="registry.register_factory(Database, connect)\nregistry.register_factory(Replica, connect_replica)",
      project=True)
def duplicates(project):
    for path, facts in project.of("svcs"):
        seen = {}
        for entry in facts.get("registrations", []):
            if entry["overwrite"] or entry["kind"] == "implementation" or entry["target_kind"] == "container":
                continue
            earlier = seen.setdefault((entry["receiver"], entry["scope"], entry["key"]), [])
            # Registrations in the two branches of one `if` never both run.
            first = next((e for e in earlier if not _exclusive(e["branch"], entry["branch"])), None)
            earlier.append(entry)
            # The replacement made between the two registrations: an override on purpose.
            replacement = entry.get("target_defined_line")
            if first is not None and replacement is not None and replacement > first["span"][0]:
                continue
            if first is not None and first["target_text"] != entry["target_text"]:
                yield path, _finding(entry["span"], message="%s is already registered on line %d with %s"
                                     % (entry["text"], first["span"][0], first["target_text"]))


def _exclusive(first, second):
    sides = {(line, col): side for line, col, side in first or ()}
    return any((line, col) in sides and sides[(line, col)] != side for line, col, side in second or ())
