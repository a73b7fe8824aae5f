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


_DEFINITIONS = (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)


def _drop_docstring(node):
    body = node.body
    if body and type(body[0]) is ast.Expr and type(body[0].value) is ast.Constant \
            and isinstance(body[0].value.value, str):
        node.body = body[1:] or [ast.Pass()]


def facts(text, path, config=None):
    """[normalized, parses, asserts, tests, suppressions, error rule IDs or None, definitions]."""
    parsed = parsing.parse(text, path)
    errors = None
    if config is not None:
        # First, while the tree is as parsed: the normal form below edits it.
        project = {}
        found = engine.validate(text, path, config, project, parsed=parsed)
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
        # One walk: count, drop docstrings, and mark t-strings (3.11 parses a t-string as an
        # f-string after source.py rewrites it; unmarked, an f-string "fix" of a t-string
        # would look like no change at all).
        asserts = tests = definitions = 0
        for node in ast.walk(tree):
            kind = type(node)
            if kind is ast.Assert:
                asserts += 1
            elif kind in _DEFINITIONS:
                definitions += 1
                if kind is not ast.ClassDef and node.name.startswith("test"):
                    tests += 1
                _drop_docstring(node)
            elif kind is ast.Module:
                _drop_docstring(node)
            elif kind is ast.JoinedStr and parsed.is_template(node):
                node.values.insert(0, ast.Constant("\0template"))
        dump = ast.dump(tree, annotate_fields=False)
        normalized = "ast:" + hashlib.sha1(dump.encode()).hexdigest()[:24]
    suppressions = len(SUPPRESSION.findall(text)) if "#" in text else 0
    return [normalized, tree is not None, asserts, tests, suppressions, errors, definitions]


def facts_many(files, configs):
    """files: [[key, text, config index or None]] -> {key: facts}. `configs[i]` is the validator
    configuration (rulesets of the attempt's kind); None skips validation for that file."""
    engine.load_rulesets(engine.BUILTIN_RULESETS)
    collecting = gc.isenabled()
    gc.disable()  # syntax trees hold no cycles; see engine.validate_many
    try:
        return {key: facts(text, key, None if index is None else configs[index]) for key, text, index in files}
    finally:
        if collecting:
            gc.enable()
