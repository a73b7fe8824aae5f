"""The `svcs` ruleset: service registrations and requests (hynek/svcs), checked across every
file analyzed together.

Each file contributes facts (collected by `collect`): registrations through
`Registry.register_factory`/`register_value` and the framework helpers (Flask, AIOHTTP and
Pyramid take the app or config first; Starlette and FastAPI register on the lifespan's
registry), requests through a container's `get`/`aget`/`get_abstract`, the framework `get`
and `aget` helpers and svcs-di's `Inject[T]`, the classes and factories defined, and PEP 695
aliases. The project rules then compare them. Types are compared by their last dotted name
(`db.Database` and `Database` are one type): the analysis sees syntax, not imports resolved
across packages. Types registered outside the analyzed files are declared in
`[tool.crucible] external_services`.
"""

import ast

from ..engine import Finding, collector, rule
from ..python_names import full_name, import_aliases, scoped_nodes, span
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
    return "svcs" in text or "Inject[" in text or "register_factory" in text or "register_value" in text


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


def _assigned_containers(tree):
    """Names bound to `svcs.Container(...)` anywhere: `c = svcs.Container(r)`, `with Container(r) as c`."""
    names = set()
    for node in ast.walk(tree):
        value, targets = None, []
        if isinstance(node, ast.Assign):
            value, targets = node.value, node.targets
        elif isinstance(node, ast.AnnAssign) and node.value is not None:
            value, targets = node.value, [node.target]
        elif isinstance(node, ast.withitem) and node.optional_vars is not None:
            value, targets = node.context_expr, [node.optional_vars]
        if isinstance(value, ast.Call) and last_name(value.func) in _CONTAINER_TYPES:
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


@collector("svcs", gate=_gate)
def collect(context):
    tree = context.tree
    aliases = import_aliases(tree)
    module_containers = _assigned_containers(tree)
    facts = {"registrations": [], "requests": [], "classes": {}, "factories": {}, "aliases": {}}
    for name, line in context.parsed.type_aliases.items():
        facts["aliases"][name] = line
    # Module-level definitions only: `Database.connect` (a method) is not judged by name.
    top_level = {n.name: n for n in tree.body if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef))}
    for name, definition in top_level.items():
        if isinstance(definition, ast.ClassDef):
            facts["classes"][name] = {
                "bases": [_key(b) for b in definition.bases],
                "protocol": any(_key(b) in ("Protocol", "ABC") for b in definition.bases)}
            signature = of_class(definition)
            if signature is not None:
                facts["factories"][name] = {"unsupplied": _unsupplied(signature), "returns": name,
                                            "line": definition.lineno}
        else:
            signature = of_function(definition)
            facts["factories"][name] = {"unsupplied": _unsupplied(signature),
                                        "returns": _unwrap_return(definition.returns), "line": definition.lineno}
    facts["injectables"] = _injectables(context)
    for node, scope in scoped_nodes(tree):
        if isinstance(node, ast.Call):
            _registration(node, scope, aliases, facts)
            _request(node, scope, aliases, module_containers, facts)
        elif isinstance(node, ast.Subscript) and last_name(node.value) == "Inject":
            inner = node.slice
            if _looks_like_type(inner) and not _is_container_annotation(inner):
                facts["requests"].append({"key": _key(inner), "text": dotted_name(inner) or _key(inner),
                                          "span": span(node), "how": "Inject[]"})
    facts["registrations"].sort(key=lambda entry: entry["span"])
    facts["requests"].sort(key=lambda entry: entry["span"])
    return facts


def _injectables(context):
    """Types svcs-di's `@injectable` + `scan()` registers: the class itself, or `for_=`."""
    keys = []
    for definition in context.definitions.values():
        for decorator in getattr(definition, "decorator_list", ()):
            target = decorator.func if isinstance(decorator, ast.Call) else decorator
            if last_name(target) != "injectable":
                continue
            for_ = next((k.value for k in getattr(decorator, "keywords", ()) if k.arg == "for_"), None)
            if for_ is not None:
                keys.append(_key(for_))
            elif isinstance(definition, ast.ClassDef):
                keys.append(definition.name)
    return keys


def _argument(call, index, keyword):
    for item in call.keywords:
        if item.arg == keyword:
            return item.value
    return call.args[index] if len(call.args) > index else None


def _registration(call, scope, aliases, facts):
    method = last_name(call.func)
    if method not in _REGISTER:
        return
    name = full_name(call.func, aliases)
    app_first = name.startswith(_APP_FIRST)
    key_node = _argument(call, 1 if app_first else 0, "svc_type")
    target = _argument(call, 2 if app_first else 1, _TARGET_KEYWORD.get(method, _REGISTER[method]))
    if _REGISTER[method] == "implementation" and target is None:
        return
    if key_node is None or not _looks_like_type(key_node):
        return
    receiver = dotted_name(call.args[0]) if app_first and call.args else (
        dotted_name(call.func.value) if isinstance(call.func, ast.Attribute) else "")
    entry = {"key": _key(key_node), "text": dotted_name(key_node) or _key(key_node), "kind": _REGISTER[method],
             "overwrite": method.startswith("overwrite"), "method": method, "span": span(call), "key_span": span(key_node),
             "receiver": receiver, "scope": getattr(scope, "name", "<module>") if scope else "<module>",
             "target": None, "target_text": ast.unparse(target) if target is not None else None,
             "target_span": span(target) if target is not None else None, "target_kind": None,
             "lambda_unsupplied": None}
    if isinstance(target, ast.Name):
        entry["target"], entry["target_kind"] = target.id, "name"
    elif isinstance(target, ast.Call) and last_name(target.func) == "auto" and target.args:
        entry["target"], entry["target_kind"] = _key(target.args[0]), "auto"
    elif isinstance(target, ast.Lambda):
        entry["target_kind"] = "lambda"
        entry["lambda_unsupplied"] = _unsupplied(of_function(target))
    facts["registrations"].append(entry)


def _request(call, scope, aliases, module_containers, facts):
    func = call.func
    name = full_name(func, aliases)
    skip = _REQUEST_HELPERS.get(name)
    how = name
    if skip is None:
        if not (isinstance(func, ast.Attribute) and func.attr in _CONTAINER_METHODS
                and isinstance(func.value, ast.Name)):
            return
        receiver = func.value.id
        if receiver not in module_containers and receiver not in _containers_in(scope) and receiver != "svcs_container":
            return
        skip, how = 0, "%s.%s" % (receiver, func.attr)
    for argument in call.args[skip:]:
        if _looks_like_type(argument):
            facts["requests"].append({"key": _key(argument), "text": dotted_name(argument) or _key(argument),
                                      "span": span(argument), "how": how})


def _finding(where, **details):
    line, col, end_line, end_col = where
    return Finding(line=line, col=col, end_line=end_line, end_col=end_col, **details)


def _registered(project):
    keys = set(project.config.get("external_services") or ())
    keys = {k.split(".")[-1] for k in keys}
    for _, facts in project.of("svcs"):
        keys.update(r["key"] for r in facts["registrations"])
        keys.update(facts["injectables"])
    return keys


@rule("SVCS001", "svcs", message="a service is requested but never registered",
      hint="register it (registry.register_factory(T, factory) or register_value(T, value)), or list it "
           "in [tool.crucible] external_services when it is registered outside these files",
      doc="svcs raises ServiceNotFoundError at request time for a type nobody registered. Every type asked "
          "for with get/aget/get_abstract, a framework helper or Inject[T] must be registered in one of the "
          "files analyzed together.",
      bad="def view(svcs_container):\n    db = svcs_container.get(Database)",
      good="registry.register_factory(Database, connect)\n\ndef view(svcs_container):\n"
           "    db = svcs_container.get(Database)",
      project=True)
def unregistered(project):
    registered = _registered(project)
    for path, facts in project.of("svcs"):
        for request in facts["requests"]:
            if request["key"] not in registered:
                yield path, _finding(request["span"], message="%s is requested (%s) but never registered"
                                     % (request["text"], request["how"]))


def _subclass_of(name, base, classes, seen=None):
    if name == base:
        return True
    seen = seen or set()
    if name in seen or name not in classes:
        return False
    seen.add(name)
    return any(_subclass_of(b, base, classes, seen) for b in classes[name]["bases"])


def _all(project, field):
    merged = {}
    for _, facts in project.of("svcs"):
        for name, value in facts[field].items():
            merged.setdefault(name, value)
    return merged


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
    classes, factories = _all(project, "classes"), _all(project, "factories")
    for path, facts in project.of("svcs"):
        for entry in facts["registrations"]:
            if entry["kind"] != "factory" or not entry["target"]:
                continue
            key = entry["key"]
            produced = entry["target"] if entry["target_kind"] == "auto" else (
                factories.get(entry["target"], {}).get("returns"))
            if not produced or produced == key:
                continue
            if key in classes and classes[key]["protocol"]:
                continue
            if produced in _BUILTIN_RESULTS or (produced in classes and key in classes
                                                and not _subclass_of(produced, key, classes)):
                yield path, _finding(entry["target_span"], message="%s is registered for %s but produces %s"
                                     % (entry["target_text"], entry["text"], produced))


@rule("SVCS003", "svcs", message="svcs cannot call this factory: it has parameters svcs does not supply",
      hint="svcs passes only the container, to a first parameter named `svcs_container` or annotated "
           "`svcs.Container`; get other services from it inside the factory, or give the parameters defaults",
      doc="svcs calls a factory with no arguments, or with the container when its first parameter is named "
          "svcs_container or annotated svcs.Container; any other required parameter is a TypeError at the "
          "first request.",
      bad="def connect(config: Config) -> Database: ...\nregistry.register_factory(Database, connect)",
      good="def connect(svcs_container: svcs.Container) -> Database:\n"
           "    config = svcs_container.get(Config)\n    ...\nregistry.register_factory(Database, connect)",
      project=True)
def factory_parameters(project):
    factories = _all(project, "factories")
    for path, facts in project.of("svcs"):
        for entry in facts["registrations"]:
            if entry["kind"] != "factory":
                continue
            if entry["target_kind"] == "lambda":
                missing = entry["lambda_unsupplied"]
            elif entry["target_kind"] == "name" and entry["target"] in factories:
                missing = factories[entry["target"]]["unsupplied"]
            else:
                continue  # auto(T) resolves T's parameters itself; unknown callables are not judged
            if missing:
                yield path, _finding(entry["target_span"], message="%s requires %s, which svcs does not pass"
                                     % (entry["target_text"], ", ".join(repr(m) for m in missing)))


@rule("SVCS004", "svcs", message="register_value is given a class, not an instance",
      hint="pass an instance (register_value(Config, Config(...))) or register the class as a factory "
           "(register_factory(Config, Config))",
      doc="register_value hands out the object it was given; given a class, every request gets the class "
          "itself, not a service.",
      bad="registry.register_value(Settings, Settings)", good="registry.register_value(Settings, Settings())",
      project=True)
def value_is_class(project):
    classes = _all(project, "classes")
    for path, facts in project.of("svcs"):
        for entry in facts["registrations"]:
            if entry["kind"] == "value" and entry["target_kind"] == "name" and (
                    entry["target"] in classes or entry["target_text"] == entry["text"]):
                yield path, _finding(entry["target_span"], message="register_value(%s, %s) registers the class "
                                     "%s itself" % (entry["text"], entry["target_text"], entry["target_text"]))


@rule("SVCS005", "svcs", message="a PEP 695 type alias cannot be a service key",
      hint="use a distinct class or typing.NewType as the key (NewType('Name', Base))",
      doc="svcs does not support `type X = ...` aliases as keys: the alias object is not the "
          "type callers ask for.",
      bad="type UserCache = dict[str, User]\nregistry.register_value(UserCache, {})",
      good="UserCache = NewType('UserCache', dict)\nregistry.register_value(UserCache, UserCache({}))",
      project=True)
def alias_keys(project):
    aliases = {}
    for _, facts in project.of("svcs"):
        aliases.update(facts["aliases"])
    if not aliases:
        return
    for path, facts in project.of("svcs"):
        for entry in facts["registrations"]:
            if entry["key"] in aliases:
                yield path, _finding(entry["key_span"], message="%s is a PEP 695 type alias" % entry["text"])
        for request in facts["requests"]:
            if request["key"] in aliases:
                yield path, _finding(request["span"], message="%s is a PEP 695 type alias" % request["text"])


@rule("SVCS006", "svcs", message="the same service type is registered twice with different factories or values",
      hint="keep one registration; to replace one on purpose (tests), use the overwrite helpers or a "
           "separate registry",
      doc="A second registration silently replaces the first on the same registry; two different ones in "
          "one place are almost always a mistake.",
      bad="registry.register_factory(Database, connect)\nregistry.register_factory(Database, connect_replica)",
      good="registry.register_factory(Database, connect)\nregistry.register_factory(Replica, connect_replica)",
      project=True)
def duplicates(project):
    for path, facts in project.of("svcs"):
        seen = {}
        for entry in facts["registrations"]:
            if entry["overwrite"] or entry["kind"] == "implementation":
                continue
            place = (entry["receiver"], entry["scope"], entry["key"])
            first = seen.setdefault(place, entry)
            if first is not entry and first["target_text"] != entry["target_text"]:
                yield path, _finding(entry["span"], message="%s is already registered on line %d with %s"
                                     % (entry["text"], first["span"][0], first["target_text"]))
