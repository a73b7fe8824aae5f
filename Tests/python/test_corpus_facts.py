"""The corpus export's code facts computed fast give what the plain computation gives: the
normal form written in one pass is ast.dump's text of the tree with docstrings dropped and
t-strings marked, the fast walk is ast.walk, and rewriting t-strings before the first parse
changes no parse. Checked over the standard library's own files, the planted corpus and
edge cases (docstring-only bodies, nested t-strings, tests, type statements)."""

import ast
import glob
import hashlib
import os
import sys
import tokenize

from test_validate import ROOT

sys.path.insert(0, os.path.join(ROOT, "Validators"))

import corpus_plan  # noqa: E402
from crucible_validators import corpus_facts, fastwalk, signatures  # noqa: E402
from crucible_validators import source as parsing  # noqa: E402

EDGE_CASES = [
    '"""only a docstring"""\n',
    'def f():\n    "only a docstring"\n',
    'class A:\n    "doc"\n    x = 1\n',
    'async def test_b():\n    """doc"""\n    assert y\n',
    'def test_a():\n    assert x\n    def test_inner():\n        "d"\n',
    'x = t"a{b}c" t"d"\ny = t"{t\'q\'}"\nz = f"{w}"\n',
    'b = t"{x!r:>{w}}"\nprint(t"")\n',
    'v = t"a" "b"\n',
    'type X = int\n',
    'def f[T](x: T) -> T:\n    return x\n',
    'class Box[T]:\n    pass\n',
    '# a comment with t"x" in it\nx = "it is t\'s"\n',
    'global a, b\n',
    'match p:\n    case Point(x=1, y=_):\n        pass\n    case "t":\n        pass\n',
    'lambda: (yield)\n',
    'def broken(:\n',
    'x = t"{d["k"]}"\n',
]


def texts():
    found = list(EDGE_CASES)
    counts = {"first": 20, "retry": 15, "twice": 6, "never": 4, "deletes": 3, "silences": 3, "copy": 2, "near": 2}
    found += list(dict.fromkeys(record["code"] for record in corpus_plan.records(counts)))
    for path in sorted(glob.glob(os.path.dirname(os.__file__) + "/*.py"))[:400]:
        with open(path, encoding="utf-8", errors="replace") as handle:
            found.append(handle.read())
    return found


def reference_facts(text):
    """The facts as first written: mutate the tree during ast.walk, then ast.dump it."""
    parsed = parsing.parse(text, "<t>")
    tree = parsed.tree
    if tree is None:
        return None

    def drop_docstring(node):
        body = node.body
        if body and type(body[0]) is ast.Expr and type(body[0].value) is ast.Constant \
                and isinstance(body[0].value.value, str):
            node.body = body[1:] or [ast.Pass()]

    asserts = tests = definitions = 0
    for node in ast.walk(tree):
        kind = type(node)
        if kind is ast.Assert:
            asserts += 1
        elif kind in (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef):
            definitions += 1
            if kind is not ast.ClassDef and node.name.startswith("test"):
                tests += 1
            drop_docstring(node)
        elif kind is ast.Module:
            drop_docstring(node)
        elif kind is ast.JoinedStr and parsed.is_template(node):
            node.values.insert(0, ast.Constant("\0template"))
    normalized = "ast:" + hashlib.sha1(ast.dump(tree, annotate_fields=False).encode()).hexdigest()[:24]
    return [normalized, True, asserts, tests, definitions]


def test_the_one_pass_normal_form_is_ast_dump_of_the_edited_tree():
    compared = 0
    for text in texts():
        expected = reference_facts(text)
        if expected is None:
            continue
        got = corpus_facts.facts(text, "<t>")
        assert [got[0], got[1], got[2], got[3], got[6]] == expected, text[:300]
        compared += 1
    assert compared > 200


def test_the_fast_walk_is_ast_walk():
    for text in texts():
        tree = parsing.parse(text, "<t>").tree
        if tree is None:
            continue
        assert fastwalk.walk(tree) == list(ast.walk(tree))
        for node in ast.walk(tree):
            assert fastwalk.children(node) == list(ast.iter_child_nodes(node))


def test_a_rewritten_source_never_parsed_as_it_was():
    """parse() rewrites a file with a t-prefix candidate before parsing it; that is the same
    as parsing first only if every file the rewrite changes fails to parse unrewritten."""
    changed = 0
    for text in texts():
        if not parsing._has_candidate(text):
            continue
        try:
            rewritten = parsing._rewrite(text)[0]
        except (tokenize.TokenError, SyntaxError):
            continue  # parse() takes its usual path for these
        if rewritten != text:
            changed += 1
            try:
                ast.parse(text)
            except SyntaxError:
                continue
            raise AssertionError("rewritten, yet it parses as it is: %r" % text[:300])
    assert changed > 50


def test_own_returns_through_statements_only_is_the_full_walks():
    """signatures.own_returns follows only the fields that hold statements; the walk through
    every node (last child first) found the same returns in the same order."""

    def walked(function):
        found, stack = [], list(function.body)
        while stack:
            node = stack.pop()
            if isinstance(node, ast.Return):
                found.append(node)
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda, ast.ClassDef)):
                continue
            stack.extend(fastwalk.children(node))
        return found

    functions = 0
    for text in texts():
        tree = parsing.parse(text, "<t>").tree
        if tree is None:
            continue
        for node in ast.walk(tree):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                assert signatures.own_returns(node) == walked(node), text[:300]
                functions += 1
    assert functions > 1000
