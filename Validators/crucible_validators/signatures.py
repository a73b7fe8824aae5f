"""What a callable defined in the analyzed source accepts, read from its syntax tree.

tdom calls components with keyword arguments only; svcs calls factories with nothing or the
container. Both questions need the same facts about a `def` or a `class` (its dataclass
fields or its `__init__`), without running anything.
"""

import ast


class Signature:
    """Parameters of a callable as the caller sees them (`self` already dropped)."""

    def __init__(self, node, positional_only=(), positional=(), keyword_only=(), var_positional=None,
                 var_keyword=None, returns=None):
        self.node = node
        self.positional_only = list(positional_only)  # [(arg node, has default)]
        self.positional = list(positional)
        self.keyword_only = list(keyword_only)
        self.var_positional = var_positional  # the *args node, or None
        self.var_keyword = var_keyword
        self.returns = returns  # the return annotation node, or None

    @property
    def parameters(self):
        return self.positional_only + self.positional + self.keyword_only

    @property
    def required_positional_only(self):
        return [arg for arg, has_default in self.positional_only if not has_default]

    @property
    def required_named(self):
        return [arg for arg, has_default in self.positional + self.keyword_only if not has_default]

    def names(self):
        return {arg.arg for arg, _ in self.parameters}


def of_function(function, drop_first=False):
    arguments = function.args
    ordered = arguments.posonlyargs + arguments.args
    # Defaults align with the end of the positional parameters.
    first_default = len(ordered) - len(arguments.defaults)
    flagged = [(arg, index >= first_default) for index, arg in enumerate(ordered)]
    if drop_first and flagged:
        flagged = flagged[1:]
    positional_only_count = max(0, len(arguments.posonlyargs) - (1 if drop_first else 0))
    keyword_only = [(arg, default is not None) for arg, default in zip(arguments.kwonlyargs, arguments.kw_defaults, strict=True)]
    return Signature(function, flagged[:positional_only_count], flagged[positional_only_count:], keyword_only,
                     arguments.vararg, arguments.kwarg, getattr(function, "returns", None))  # lambdas have none


def of_class(cls):
    """The constructor's signature: an explicit `__init__`, else dataclass fields, else none."""
    for statement in cls.body:
        if isinstance(statement, (ast.FunctionDef, ast.AsyncFunctionDef)) and statement.name == "__init__":
            return of_function(statement, drop_first=True)
    if is_dataclass(cls):
        if _dataclass_option(cls, "init") is False:
            return None  # no generated __init__: the constructor comes from elsewhere
        positional, keyword_only = [], []
        all_keyword_only = _dataclass_option(cls, "kw_only") is True
        for statement in cls.body:
            if not isinstance(statement, ast.AnnAssign) or not isinstance(statement.target, ast.Name):
                continue
            annotation = annotation_of(statement.annotation)
            if _is_subscript_of(annotation, "ClassVar") or last_name(annotation) == "ClassVar":
                continue  # a class attribute, not a field
            if last_name(annotation) == "KW_ONLY":
                all_keyword_only = True  # `_: KW_ONLY`: the fields after it are keyword-only
                continue
            options = _field_options(statement.value)
            if options.get("init") is False:
                continue  # field(init=False): set in __post_init__, not a parameter
            # An InitVar[T] is a parameter (handed to __post_init__), required like a field.
            has_default = statement.value is not None and (
                options is _NOT_A_FIELD_CALL or "default" in options or "default_factory" in options)
            argument = ast.arg(arg=statement.target.id, annotation=statement.annotation)
            ast.copy_location(argument, statement)
            keyword = all_keyword_only or options.get("kw_only") is True
            (keyword_only if keyword else positional).append((argument, has_default))
        return Signature(cls, (), positional, keyword_only)
    if cls.bases or cls.keywords:
        return None  # the constructor may come from a base class we cannot see
    return Signature(cls)


def of_definition(node):
    if isinstance(node, ast.ClassDef):
        return of_class(node)
    return of_function(node)


def is_dataclass(cls):
    return any(dotted_name(d.func if isinstance(d, ast.Call) else d).split(".")[-1] == "dataclass"
               for d in cls.decorator_list)


def _dataclass_option(cls, name):
    """The constant given to `@dataclass(name=...)`, or None."""
    for decorator in cls.decorator_list:
        if isinstance(decorator, ast.Call):
            for keyword in decorator.keywords:
                if keyword.arg == name and isinstance(keyword.value, ast.Constant):
                    return keyword.value.value
    return None


_NOT_A_FIELD_CALL = {}  # a plain default value (x: int = 3), not field(...)


def _field_options(value):
    """{keyword: constant value or True} of a `field(...)` call; _NOT_A_FIELD_CALL otherwise."""
    if isinstance(value, ast.Call) and last_name(value.func) == "field":
        return {k.arg: (k.value.value if isinstance(k.value, ast.Constant) else True)
                for k in value.keywords if k.arg}
    return _NOT_A_FIELD_CALL


def annotation_of(node):
    """The annotation as a tree: a string annotation ('Inject[Users]') parsed, else unchanged."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        try:
            return ast.parse(node.value.strip(), mode="eval").body
        except SyntaxError:
            return node
    return node


def is_injected(annotation):
    """`Inject[T]` (svcs-di: the container supplies it), also inside `InitVar[...]` or
    `Annotated[...]`, and written as a string."""
    annotation = annotation_of(annotation)
    while isinstance(annotation, ast.Subscript) and last_name(annotation.value) in ("InitVar", "Annotated"):
        inner = annotation.slice
        annotation = annotation_of(inner.elts[0] if isinstance(inner, ast.Tuple) and inner.elts else inner)
    return isinstance(annotation, ast.Subscript) and last_name(annotation.value) == "Inject"


def _is_subscript_of(node, name):
    return isinstance(node, ast.Subscript) and dotted_name(node.value).split(".")[-1] == name


def dotted_name(node):
    """`a.b.C` for Name/Attribute chains (and string annotations), '' for anything else."""
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        base = dotted_name(node.value)
        return base + "." + node.attr if base else ""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value.strip()
    return ""


def last_name(node):
    return dotted_name(node).split(".")[-1]


def definitions(tree):
    """Module-level and nested `def`/`class` by name; a name defined twice is left out (ambiguous)."""
    found, repeated = {}, set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            if node.name in found:
                repeated.add(node.name)
            found[node.name] = node
    for name in repeated:
        del found[name]
    return found


# The fields that hold statements: of compound statements, except handlers and match cases.
# No expression holds a statement, so these are all a search for statements has to follow.
_BLOCKS = {"body", "orelse", "finalbody", "handlers", "cases"}
_BLOCK_FIELDS = {}  # node class -> its _BLOCKS fields, in _fields order


def own_returns(function):
    """Return statements of this function, not of functions nested in it; in the order a
    depth-first walk of every node (`fastwalk.children`, last child first) finds them, which
    is the order of this walk through statements only."""
    found, stack = [], list(function.body)
    while stack:
        node = stack.pop()
        kind = type(node)
        if kind is ast.Return:
            found.append(node)
            continue
        if kind in (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef):
            continue
        fields = _BLOCK_FIELDS.get(kind)
        if fields is None:
            fields = _BLOCK_FIELDS[kind] = tuple(name for name in kind._fields if name in _BLOCKS)
        for name in fields:
            stack.extend(getattr(node, name, None) or ())
    return found
