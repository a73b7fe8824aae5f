"""Resolving names: in one module, what `svcs.flask.get`, `get` or `sf.get` refer to, given the
module's imports; across the analyzed files, which file defines the class a name refers to
(`module_facts` per file, `Resolver` over all of them)."""

import ast
import posixpath

from .signatures import dotted_name


def import_aliases(tree):
    """{local name: full dotted name} from the module's import statements."""
    aliases = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.asname:
                    aliases[alias.asname] = alias.name
                else:
                    head = alias.name.split(".")[0]
                    aliases.setdefault(head, head)
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            for alias in node.names:
                aliases[alias.asname or alias.name] = node.module + "." + alias.name
    return aliases


def full_name(node, aliases):
    """The dotted name of a Name/Attribute chain with its first part expanded through imports."""
    name = dotted_name(node)
    if not name:
        return ""
    head, _, rest = name.partition(".")
    expanded = aliases.get(head, head)
    return expanded + ("." + rest if rest else "")


def span(node):
    """[line, col, end_line, end_col] of a node (0-based columns), plain JSON."""
    return [node.lineno, node.col_offset, getattr(node, "end_lineno", None) or node.lineno,
            getattr(node, "end_col_offset", None) or node.col_offset + 1]


# Across modules: which definition a name in one file refers to, given every analyzed file's
# imports and top-level definitions. Used by project rules that compare types between files
# (svcs registrations and requests): two example folders each with their own `Greeting` are
# two types, and `from .models import Greeting` is the `Greeting` models.py defines.


def module_facts(tree, nodes=None):
    """What other files need to resolve names through this module, as plain JSON:
    `defines` {top-level name: "class" | "function" | "alias" | "value"} and `imports`
    {local name: [level, module, imported name or None]} (`import a.b` binds `a` to module `a`;
    `import a.b as ab` binds `ab` to `a.b`). Statements under a top-level `if`/`try` count
    (TYPE_CHECKING imports, optional dependencies). Given `nodes` (every node of the tree),
    imports inside functions count too where the module itself does not bind the name: the
    file's own uses of a name need them; other files see only its top level, and walking
    every file's whole tree for them would cost more than parsing it."""
    defines, imports, nested = {}, {}, {}
    for statement in _top_level(tree.body):
        _bind(statement, defines, imports)
    for node in nodes or ():
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            _bind(node, {}, nested)
    for name, target in nested.items():
        if name not in imports and name not in defines:
            imports[name] = target
    return {"defines": defines, "imports": imports}


def _top_level(body):
    for statement in body:
        yield statement
        if isinstance(statement, ast.If):
            yield from _top_level(statement.body)
            yield from _top_level(statement.orelse)
        elif isinstance(statement, ast.Try) or type(statement).__name__ == "TryStar":
            for block in [statement.body, statement.orelse, statement.finalbody] + [h.body for h in statement.handlers]:
                yield from _top_level(block)


def _bind(statement, defines, imports):
    if isinstance(statement, ast.ClassDef):
        defines[statement.name] = "class"
    elif isinstance(statement, (ast.FunctionDef, ast.AsyncFunctionDef)):
        defines[statement.name] = "function"
    elif type(statement).__name__ == "TypeAlias" and isinstance(statement.name, ast.Name):
        defines[statement.name.id] = "alias"
    elif isinstance(statement, (ast.Assign, ast.AnnAssign)):
        for target in statement.targets if isinstance(statement, ast.Assign) else [statement.target]:
            if isinstance(target, ast.Name):
                defines[target.id] = "value"
    elif isinstance(statement, ast.Import):
        for alias in statement.names:
            if alias.asname:
                imports[alias.asname] = [0, alias.name, None]
            else:
                head = alias.name.split(".")[0]
                imports[head] = [0, head, None]
    elif isinstance(statement, ast.ImportFrom):
        for alias in statement.names:
            if alias.name != "*":
                imports[alias.asname or alias.name] = [statement.level, statement.module or "", alias.name]


class Symbol:
    """What a name refers to. `resolved`: traced to a definition in an analyzed file, whose
    `path` and dotted `name` inside it (`Outer.Inner`, `main.Local` for a class defined in
    function main) identify it; else only the name's last part (`bare`) is known."""

    def __init__(self, bare, path=None, name=None):
        self.bare, self.path, self.name = bare, path, name

    @property
    def resolved(self):
        return self.path is not None

    @property
    def key(self):
        return (self.path, self.name) if self.path is not None else (None, self.bare)

    def __repr__(self):
        return "Symbol(%s)" % ("%s::%s" % (self.path, self.name) if self.resolved else "?" + self.bare)


class Resolver:
    """Resolves names used in one analyzed file to the file that defines them.

    Files are found by path, the way Python's import system would find them from where the
    importing file is: a relative import from its package's folder; an absolute one from the
    importing file's folder (a script run there) or any folder above it (the project root on
    sys.path), the nearest first. What this cannot trace stays unresolved and is compared by
    its last name, as before: a name from a module outside the analyzed files (a library, or
    a project validated from a folder that cuts its package path), a star import, a name
    bound by an assignment the analysis does not follow."""

    def __init__(self, modules):
        # modules: {path: {"defines": ..., "imports": ..., "scoped": {scope: [names]}}}
        self.modules = {posixpath.normpath(path): facts for path, facts in modules.items()}
        self.folders = {""}  # "": the folder relative paths are relative to
        for path in self.modules:
            folder = posixpath.dirname(path)
            while folder and folder not in self.folders:
                self.folders.add(folder)
                folder = posixpath.dirname(folder) if folder not in ("/", ".") else ""

    @staticmethod
    def normal(path):
        return posixpath.normpath(path)

    def resolve_import(self, path, level, module, name):
        """The Symbol `from module import name` (with `level` dots) gives in file `path`."""
        path = posixpath.normpath(path)
        if path not in self.modules:
            return Symbol(name)
        return self._through(path, level, module, name, name, set())

    def resolve(self, path, text, scope=""):
        """The Symbol for dotted `text` (`Database`, `db.Database`) used in file `path` inside
        function `scope` (dotted qualname of the enclosing functions, "" at module level)."""
        bare = text.split(".")[-1]
        path = posixpath.normpath(path)
        facts = self.modules.get(path)
        if facts is None or not text:
            return Symbol(bare)
        head, _, rest = text.partition(".")
        # A class or function defined in an enclosing function shadows the module's names.
        scoped = facts.get("scoped") or {}
        parts = scope.split(".") if scope else []
        for depth in range(len(parts), 0, -1):
            inner = ".".join(parts[:depth])
            if head in scoped.get(inner, ()):
                return Symbol(bare, path, inner + "." + text)
        return self._in_module(path, text, bare, set())

    def _in_module(self, path, text, bare, seen):
        """`text` looked up at the top level of the module in file `path`."""
        if (path, text) in seen:
            return Symbol(bare)  # an import cycle
        seen.add((path, text))
        facts = self.modules[path]
        head, _, rest = text.partition(".")
        if head in facts["defines"]:
            return Symbol(bare, path, text)
        if head in facts["imports"]:
            level, module, name = facts["imports"][head]
            dotted = (name + ("." + rest if rest else "")) if name else rest
            return self._through(path, level, module, dotted, bare, seen)
        if posixpath.basename(path) == "__init__.py":
            return self._submodule(posixpath.dirname(path), text, bare, seen)
        return Symbol(bare)

    def _through(self, path, level, module, dotted, bare, seen):
        """`dotted` inside module `module` (imported with `level` dots) from file `path`."""
        folders = []
        if level:
            folder = posixpath.dirname(path)
            for _ in range(level - 1):
                folder = posixpath.dirname(folder)
            folders = [folder]
        else:
            folder = posixpath.dirname(path)
            while True:
                folders.append(folder)
                parent = posixpath.dirname(folder)
                if parent == folder or not folder or folder == ".":
                    break
                folder = parent
            if folders[-1] not in ("", ".", "/"):
                folders.append("")  # relative paths: the folder they are relative to
        relative = module.replace(".", "/")
        for folder in folders:
            base = posixpath.normpath(posixpath.join(folder, relative)) if relative else posixpath.normpath(folder or ".")
            base = "" if base == "." else base
            found = self._module_or_package(base)
            if found is None:
                continue
            kind, where = found
            if not dotted:
                return Symbol(bare)  # the module itself, not a class in it
            if kind == "file":
                return self._in_module(where, dotted, bare, seen)
            return self._submodule(where, dotted, bare, seen)
        # `import a.b` binds `a`: `a.b.C` is C in module a.b, which the loop above looked for
        # only as attribute `b.C` of package `a` when `a` has an __init__.py; a namespace
        # package is a folder, handled by _submodule.
        return Symbol(bare)

    def _module_or_package(self, base):
        """("file", path) for module `base`.py or package `base`/__init__.py, ("folder", base)
        for a namespace package, None when no analyzed file is there."""
        if base + ".py" in self.modules:
            return "file", base + ".py"
        package = posixpath.join(base, "__init__.py")
        if package in self.modules:
            return "file", package
        if base in self.folders:
            return "folder", base
        return None

    def _submodule(self, folder, dotted, bare, seen):
        """`dotted` (`services.Users`) as a submodule of the package in `folder` and a name in it."""
        head, _, rest = dotted.partition(".")
        found = self._module_or_package(posixpath.join(folder, head))
        if found is None or not rest:
            return Symbol(bare)
        kind, where = found
        if kind == "file":
            return self._in_module(where, rest, bare, seen)
        return self._submodule(where, rest, bare, seen)

    def definition(self, symbol):
        """The kind ("class", "function", "alias", "value") of a resolved top-level definition."""
        if not symbol.resolved or "." in symbol.name:
            return None
        return self.modules[posixpath.normpath(symbol.path)]["defines"].get(symbol.name)
