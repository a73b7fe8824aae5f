"""The t-string rewrite without tokenize (`source._rewrite_quickly`) gives what the tokenize
rewrite (`source._rewrite`) gives, wherever it answers at all, and leaves to tokenize the
cases it cannot be sure of (a t-string next to another string, `type` statements, stray
quotes). Checked over the standard library with its f-strings turned into t-strings and
t-prefixes put before its plain strings, the planted corpus, and edge cases; and `parse()`
returns the same with the quick rewrite as without it."""

import ast
import functools
import glob
import io
import os
import random
import sys
import tokenize

from test_validate import ROOT

sys.path.insert(0, os.path.join(ROOT, "Validators"))

import corpus_plan  # noqa: E402
from crucible_validators import source as parsing  # noqa: E402

EDGE_CASES = [
    'x = t"a{b}c"\n',
    'x = t"a" t"b"\n',
    'x = t"a" "b"\n',
    'x = "a" t"b"\n',
    'x = ("a"  # a comment, with "quotes"\n     t"b")\n',
    'x = (t"a"\n     # between\n     t"b")\n',
    'x = t"a"  # t"not a string"\ny = t\'{q}\'\n',
    'x = t"a" \\\n    "b"\n',
    'x = 1t"x"\n',
    'x = print"x"\n',
    'x = t"""multi\nline {x} "quoted" \\"""\n"""\n',
    "x = rt'\\d{x}' + Rt'y' + tR'z' + TR'w' + T'v'\n",
    "x = tb'x'\n",
    "x = bt'x'\n",
    "x = obj.t'a'\n",
    "x = t'{t\"n\"}' + t'{ {1: t\"m\"}[1] }'\n",
    "x = f'{t\"x\"}'\n",
    "x = 'it is t\"s' + t'y'\n",
    "# t'x' in a comment\ny = t'z'\n",
    "type X = int\ny = t'a'\n",
    "x = 1; type X = int\ny = t'a'\n",
    "def f[T](x: T) -> T:\n    return t'{x}'\n",
    "class Box[T]:\n    y = t'a'\n",
    "s = 'a\\\nb' + t'x'\n",
    "s = t'a\\\n{b}'\n",
    "x = t'a'\r\ny = t'b'\r\n",
    "x = t'a'\x0cy = 1\n",
    "x = t'unterminated\n",
    "x = t'{x!r:>{w}}' t\"\"\n",
    "x = t'{d[\"k\"]}'\n",
    "x = ''' t'inside' '''\ny = t''\n",
    "def view():\n    '''doc with t\"x\"'''\n    return html(t'<p>{x}</p>')\n",
    "x = t'a' if y else t'b'\n",
    "x = [t'a', t'b',\n     t'c']\n",
    "x = t'é{ü}' + t'\\N{BULLET}'\n",
    "x = u'a' t'b'\n",
    "x = t''''''\n",
    "x = t'a'\\\n",
]


def mutations(text):
    """The text, then its f-strings as t-strings (same length), then a third of its plain
    strings with a t-prefix put before them: real code with t-strings in every position."""
    yield text
    try:
        tokens = list(tokenize.generate_tokens(io.StringIO(text).readline))
    except (tokenize.TokenError, SyntaxError):
        return
    starts = [0]
    for line in text.split("\n"):
        starts.append(starts[-1] + len(line) + 1)
    formatted, plain = [], []
    for token in tokens:
        if token.type != tokenize.STRING:
            continue
        offset = starts[token.start[0] - 1] + token.start[1]
        prefix = token.string[:len(token.string) - len(token.string.lstrip("rRbBuUfF"))]
        if "f" in prefix.lower():
            formatted.append((offset, prefix))
        elif not prefix:
            plain.append(offset)
    if formatted:
        characters = list(text)
        for offset, prefix in formatted:
            for index, char in enumerate(prefix):
                if char in "fF":
                    characters[offset + index] = "t" if char == "f" else "T"
        yield "".join(characters)
    if plain:
        rng = random.Random(len(text))
        out, last = [], 0
        for offset in sorted(rng.sample(plain, max(1, len(plain) // 3))):
            out += [text[last:offset], rng.choice(["t", "T", "tr", "Rt"])]
            last = offset
        yield "".join(out) + text[last:]


@functools.lru_cache(maxsize=None)
def texts():
    found = list(EDGE_CASES)
    counts = {"first": 20, "retry": 15, "twice": 6, "never": 4, "deletes": 3, "silences": 3, "copy": 2, "near": 2}
    found += list(dict.fromkeys(record["code"] for record in corpus_plan.records(counts)))
    for path in sorted(glob.glob(os.path.dirname(os.__file__) + "/*.py"))[:160]:
        with open(path, encoding="utf-8", errors="replace") as handle:
            found.extend(mutations(handle.read()))
    return tuple(found)


def tokenize_rewrite(text):
    try:
        return parsing._rewrite(text)
    except (tokenize.TokenError, SyntaxError) as error:
        return error


def test_the_quick_rewrite_gives_what_the_tokenize_rewrite_gives():
    answered = left = 0
    for text in texts():
        quick = parsing._rewrite_quickly(text)
        if quick is None:
            left += 1
            continue
        answered += 1
        expected = tokenize_rewrite(text)
        if isinstance(expected, Exception):
            # tokenize gives up: parse() then takes its slow path, and so it does after the
            # quick rewrite, whose source cannot parse either.
            try:
                ast.parse(quick[0])
            except SyntaxError:
                continue
            raise AssertionError("tokenize failed (%s), the quick rewrite parses: %r" % (expected, text[:300]))
        assert tuple(quick) == tuple(expected), text[:300]
    assert answered > 300 and left > 30, (answered, left)


def test_the_quick_rewrite_leaves_what_it_cannot_be_sure_of_to_tokenize():
    for text in ['x = t"a" t"b"\n', 'x = t"a" "b"\n', 'x = ("a"  # c\n     t"b")\n', 'x = t"a" \\\n    "b"\n',
                 "type X = int\ny = t'a'\n", "x = 1; type X = int\ny = t'a'\n", "class Box[T]:\n    y = t'a'\n",
                 "x = 1t'x'\n", "x = t'unterminated\n", "x = t'a'\r\ny = t'b'\r\n", "s = 'a\\\nb' + t'x'\n"]:
        assert parsing._rewrite_quickly(text) is None, text


def test_parse_gives_the_same_with_and_without_the_quick_rewrite(monkeypatch):
    def parsed(text):
        result = parsing.parse(text, "<t>")
        tree = ast.dump(result.tree, include_attributes=True) if result.tree is not None else None
        return (tree, sorted(result.template_positions), result.problems, result.type_aliases,
                result.blanked_type_parameters)

    sample = [text for text in texts() if parsing._has_candidate(text)]
    quick = [parsed(text) for text in sample]
    monkeypatch.setattr(parsing, "_rewrite_quickly", lambda text: None)
    assert [parsed(text) for text in sample] == quick
    assert len(sample) > 200
