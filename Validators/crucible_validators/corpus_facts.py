"""What the corpus's quality gates need to know about each attempt's code, computed in one
pass where the validators already run (a confined worker with this interpreter):

- `normalized`: a hash of the syntax tree with docstrings dropped (`ast.dump`, no positions),
  so reformatting, comments and docstrings do not hide a duplicate. The dump changes between
  Python versions; the export's manifest names the version that made it.
- `asserts`, `tests`, `suppressions`, `definitions`: counted, to catch "fixes" that drop
  asserts or tests, silence a rule instead of fixing it, or delete the offending function.
- `errors`: the error rule IDs the current validators report for the code on its own (each
  source is its own project: one attempt's registrations never satisfy another's requests).
"""

import ast
import gc
import hashlib
import re

from . import engine
from . import source as parsing

# Comments that silence a checker instead of fixing the code.
SUPPRESSION = re.compile(
    r"#\s*(?:crucible:\s*ignore|noqa\b|type:\s*ignore|pyright:\s*ignore|ty:\s*ignore|ruff:\s*noqa|pragma:\s*no\s*cover)",
    re.IGNORECASE)


def facts(text, path, config=None, selected=None):
    """[normalized, parses, asserts, tests, suppressions, error rule IDs or None, definitions].
    `selected`: `engine._selected_rules(config)`, for a caller with many files of one config."""
    parsed = parsing.parse(text, path)
    errors = None
    if config is not None:
        project = {}
        found = engine.validate(text, path, config, project, parsed=parsed, selected=selected)
        if project:  # only files with project facts (svcs registrations, ...) can have project findings
            found += engine.finish(project, config)
        errors = sorted({d["rule"] for d in found if d["severity"] == "error"})
    tree = parsed.tree
    if tree is None:
        # Unparseable: whitespace-insensitive text is the best normal form there is.
        normalized = "text:" + hashlib.sha1(" ".join(text.split()).encode()).hexdigest()[:24]
        asserts = len(re.findall(r"^\s*assert\b", text, re.MULTILINE))
        tests = len(re.findall(r"^\s*(?:async\s+)?def\s+test", text, re.MULTILINE))
        definitions = len(re.findall(r"^\s*(?:async\s+def|def|class)\s", text, re.MULTILINE))
    else:
        normal = _NormalForm(parsed)
        normal.node(tree)
        asserts, tests, definitions = normal.asserts, normal.tests, normal.definitions
        normalized = "ast:" + hashlib.sha1("".join(normal.out).encode()).hexdigest()[:24]
    suppressions = len(SUPPRESSION.findall(text)) if "#" in text else 0
    return [normalized, tree is not None, asserts, tests, suppressions, errors, definitions]


# Per node class, what the normal form writes and counts for it, looked up once per class
# instead of once per node: the text that opens it (`Name(`), its fields and whether each is
# optional (class default None: what ast.dump leaves out when None), and its kind below.
_CLASSES = {}
_PLAIN, _ASSERT, _MODULE, _CLASS, _FUNCTION, _JOINED = range(6)
_KINDS = {ast.Assert: _ASSERT, ast.Module: _MODULE, ast.ClassDef: _CLASS, ast.FunctionDef: _FUNCTION,
          ast.AsyncFunctionDef: _FUNCTION, ast.JoinedStr: _JOINED}
_AST = ast.AST
_PASS = ast.dump(ast.Pass(), annotate_fields=False)
_TEMPLATE_MARK = ast.dump(ast.Constant("\0template"), annotate_fields=False)


def _described(cls):
    fields = tuple((name, getattr(cls, name, ...) is None) for name in cls._fields)
    described = _CLASSES[cls] = (cls.__name__ + "(", fields, _KINDS.get(cls, _PLAIN))
    return described


class _NormalForm:
    """One recursive pass over the tree that counts asserts, tests and definitions and writes
    the text of `ast.dump(tree, annotate_fields=False)` for the tree as the normal form sees
    it, without changing the tree: docstrings left out (a body of only a docstring becomes
    `[Pass()]`), and each t-string marked by a leading `Constant('\\x00template')` (3.11 parses
    a t-string as an f-string after source.py rewrites it; unmarked, an f-string "fix" of a
    t-string would look like no change at all).

    It writes what ast.dump writes, character for character (ast.dump's rules: fields in
    `_fields` order, an optional field that is None left out and every later field written as
    name=value, lists as [a, b], other values as repr), at a fraction of ast.dump's cost and
    with no second walk for the counts. test_corpus_facts.py checks it against ast.dump itself."""

    __slots__ = ("parsed", "out", "asserts", "tests", "definitions")

    def __init__(self, parsed):
        self.parsed = parsed
        self.out = []
        self.asserts = self.tests = self.definitions = 0

    def node(self, node):
        cls = type(node)
        opening, fields, kind = _CLASSES.get(cls) or _described(cls)
        out = self.out
        if not fields:  # Load(), Add(), ...: nothing inside, nothing to count
            out.append(opening + ")")
            return
        documented = template = False
        if kind:
            if kind == _ASSERT:
                self.asserts += 1
            elif kind == _JOINED:
                template = self.parsed.is_template(node)
            else:
                documented = True
                if kind != _MODULE:
                    self.definitions += 1
                    if kind == _FUNCTION and node.name.startswith("test"):
                        self.tests += 1
        out.append(opening)
        keywords, first = False, True
        for name, optional in fields:
            try:
                value = getattr(node, name)
            except AttributeError:
                keywords = True
                continue
            if value is None and optional:
                keywords = True
                continue
            if first:
                first = False
            else:
                out.append(", ")
            if keywords:
                out.append(name)
                out.append("=")
            if documented and name == "body" and value and type(value[0]) is ast.Expr \
                    and type(value[0].value) is ast.Constant and isinstance(value[0].value.value, str):
                if len(value) == 1:
                    out.append("[" + _PASS + "]")
                else:
                    self.items(value, 1)
            elif template and name == "values":
                out.append("[" + _TEMPLATE_MARK)
                if value:
                    out.append(", ")
                    self.items(value, 0, bracket=False)
                out.append("]")
            elif isinstance(value, _AST):
                self.node(value)
            elif isinstance(value, list):
                self.items(value, 0)
            else:
                out.append(repr(value))
        out.append(")")

    def items(self, values, start, bracket=True):
        out = self.out
        if bracket:
            out.append("[")
        for index in range(start, len(values)):
            if index > start:
                out.append(", ")
            value = values[index]
            if isinstance(value, _AST):
                self.node(value)
            elif isinstance(value, list):
                self.items(value, 0)
            else:
                out.append(repr(value))
        if bracket:
            out.append("]")


def facts_many(files, configs):
    """files: [[key, text, config index or None]] -> {key: facts}. `configs[i]` is the validator
    configuration (rulesets of the attempt's kind); None skips validation for that file."""
    engine.load_rulesets(engine.BUILTIN_RULESETS)
    collecting = gc.isenabled()
    gc.disable()  # syntax trees hold no cycles; see engine.validate_many
    try:
        selected = [engine._selected_rules(config) for config in configs]  # the same for every file
        return {key: facts(text, key, None, None) if index is None else facts(text, key, configs[index], selected[index])
                for key, text, index in files}
    finally:
        if collecting:
            gc.enable()
