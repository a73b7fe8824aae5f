"""Parsing Python 3.14 t-strings (PEP 750), natively on 3.14 and with 3.11's own parser.

On Python 3.14 (`crucible validate --python 3.14`) files are parsed by `ast` itself, and each
`TemplateStr` becomes the `JoinedStr` the rules already read (interpolations as
`FormattedValue`s, positions kept), its position recorded as a t-string. Valid 3.14 code
never yields SYNTAX there. The rest of this docstring is the 3.11 path.

Why this approach: the validators must run inside the embedded 3.11 interpreter, whose `ast`
rejects `t"..."`. libcst parses t-strings but is ~8x slower than `ast` and misses `tr`
prefixes and `t"a" t"b"`; tree-sitter accepts invalid forms. Instead:

1. A cheap scan for a t-prefix candidate; files without one (nearly all) go straight to
   `ast.parse`.
2. Otherwise `tokenize` finds every t-string exactly: on 3.11 `t"x"` is a NAME (`t`, `tr`,
   `rt` in any case) immediately followed by a STRING. The prefix's `t` becomes `f`: same
   length, so every line and column stays where it was, and the t-string parses as an
   f-string (same grammar: nested interpolations, format specs, conversions, `=`).
3. The positions of those strings mark which `JoinedStr` nodes are really t-strings.
   Implicit concatenation of t-strings (`t"a" t"b"`) is valid; a t-string next to a plain
   or f-string (`t"a" "b"`) is an error in 3.14 and is reported as one.

PEP 695 `type X = ...` statements (3.12+) fail on 3.11 too; the same pass turns each into an
assignment to `type_X` (same length) and records the alias.

Known gap: 3.11's f-string grammar predates PEP 701, so a t-string that reuses its own quote
inside an interpolation (`t"{d["k"]}"`, valid in 3.14) is reported as a syntax error.
"""

import ast
import bisect
import io
import re
import sys
import tokenize

# Python's own parser knows t-strings (PEP 750) and PEP 695/696 from 3.14 on.
NATIVE = sys.version_info >= (3, 14)

# A t-prefix where an expression can start (not inside a word, not right after a quote). Every
# t-string of a file starts at a match: the 3.14 path looks for t-strings only in the
# statements on those lines.
_CANDIDATE = re.compile(r"(?:^|(?<=[\s(\[{,=:;+*/%@!<>|&^~-]))(?:[tT][rR]?|[rR][tT])['\"]", re.MULTILINE)
# A PEP 695 `type X = ...` / `type X[T] = ...` statement (3.12+), which 3.11 cannot parse either.
_TYPE_STATEMENT = re.compile(r"^[ \t]*type[ \t]+[A-Za-z_]\w*[ \t]*[\[=]", re.MULTILINE)
# PEP 695/696 type parameters: `def f[T](...)`, `class Box[T: int = int]:`.
_TYPE_PARAMETERS = re.compile(r"\b(?:def|class)[ \t]+[A-Za-z_]\w*[ \t]*\[")
_T_PREFIXES = {"t", "T", "tr", "tR", "Tr", "TR", "rt", "rT", "Rt", "RT"}


class Parsed:
    """A parsed file: the tree, which JoinedStr nodes are t-strings, and parse problems."""

    def __init__(self, tree, template_positions, problems, lines, type_aliases=None, type_parameters=None):
        self.tree = tree
        self.type_aliases = type_aliases or {}  # PEP 695 `type X = ...`: name -> line
        # PEP 695 type parameters the 3.11 path blanked out: (line, name of the def or class) ->
        # their names. On 3.14 the nodes carry them (`type_params`); see `type_parameters()`.
        self.blanked_type_parameters = type_parameters or {}
        self.template_positions = template_positions
        self.problems = problems  # [(rule, message, line, col, end_line, end_col, hint)]
        self.lines = lines

    def is_template(self, node):
        return isinstance(node, ast.JoinedStr) and (node.lineno, node.col_offset) in self.template_positions

    def type_parameters(self, definition):
        """Names of a def's or class's PEP 695 type parameters (`def f[T, *Ts, **P]`)."""
        native = getattr(definition, "type_params", None)
        if native:
            return [parameter.name for parameter in native]
        return self.blanked_type_parameters.get((definition.lineno, definition.name), [])


def _templates_as_joined_str(tree, lines):
    """3.14's TemplateStr/Interpolation nodes replaced, in place, by the JoinedStr/FormattedValue
    nodes the rules read; returns the positions of the t-strings (what the 3.11 path records).
    `lines` (sorted) are the lines where a t-string can start (`_candidate_lines`): a statement
    spanning none of them holds none and is not walked (a statement's children lie within its
    lines, decorators excepted). Not ast.NodeTransformer: its walk of a whole tree costs about
    as much as parsing it, and most candidates are not t-strings (argparse's '-t')."""
    positions = set()
    template, interpolation, node_type, statement = ast.TemplateStr, ast.Interpolation, ast.AST, ast.stmt

    def joined(node):
        positions.add((node.lineno, node.col_offset))
        values = [ast.copy_location(ast.FormattedValue(value=value.value, conversion=value.conversion,
                                                       format_spec=value.format_spec), value)
                  if type(value) is interpolation else value for value in node.values]
        return ast.copy_location(ast.JoinedStr(values=values), node)

    def spans_a_line(node):
        first = node.lineno
        for decorator in getattr(node, "decorator_list", ()):
            first = min(first, decorator.lineno)
        at = bisect.bisect_left(lines, first)
        return at < len(lines) and lines[at] <= node.end_lineno

    pending = [tree]
    while pending:
        node = pending.pop()
        for field in node._fields:
            value = getattr(node, field, None)
            if type(value) is list:
                for index, item in enumerate(value):
                    if isinstance(item, node_type):
                        if type(item) is template:
                            item = value[index] = joined(item)
                        elif isinstance(item, statement) and not spans_a_line(item):
                            continue
                        pending.append(item)
            elif isinstance(value, node_type):
                if type(value) is template:
                    value = joined(value)
                    setattr(node, field, value)
                pending.append(value)
    return positions


def _parse_native(text, filename):
    tree = ast.parse(text, filename)
    # Both walks below are pure Python (over the whole tree, on the standard library they cost
    # five times ast.parse): each runs only where the text can hold what it looks for, the
    # t-string one only through the statements on the lines of a t-prefix candidate.
    positions = set()
    lines = _candidate_lines(text)
    if lines:
        positions = _templates_as_joined_str(tree, lines)
    aliases = {}
    if _has_type_statement(text):
        aliases = {node.name.id: node.lineno for node in ast.walk(tree)
                   if type(node).__name__ == "TypeAlias" and isinstance(node.name, ast.Name)}
    return Parsed(tree, positions, [], None, aliases)


def parse(text, filename="<code>"):
    lines = None  # split on demand only
    problems = []
    positions = set()
    if NATIVE:
        try:
            return _parse_native(text, filename)
        except SyntaxError as native_error:
            error = native_error
        # A t-string joined to a plain string is a syntax error to 3.14 too. Rewritten as
        # f-strings (same length), the file parses, the join is reported as TSTR001, and every
        # other rule still runs, as on the 3.11 path.
        if "cannot mix t-string literals" in str(error.msg):
            try:
                source, positions, problems = _rewrite_native(text)
                return Parsed(ast.parse(source, filename), positions, problems, lines)
            except (SyntaxError, tokenize.TokenError):
                pass
        return Parsed(None, set(), [_syntax_problem(error, native=True)], lines)
    # A t-string is always a syntax error to 3.11's parser, so a file that parses has none:
    # the tokenize pass runs only for files that fail and contain a t-prefix candidate.
    if _has_candidate(text):
        # Such a file nearly always holds a t-string, which the parse below would spend a whole
        # parse failing on: rewrite first. Whenever the rewrite changed something (a t-string, a
        # `type` statement, type parameters: each a syntax error to 3.11), the parse below fails
        # and the rewritten source is what gets parsed, so this is the same result. Anything
        # else (nothing rewritten, the rewrite or its parse failing) takes the path below.
        try:
            source, positions, problems, aliases, parameters = _rewrite_quickly(text) or _rewrite(text)
            if source != text:
                return Parsed(ast.parse(source, filename), positions, problems, lines, aliases, parameters)
        except (tokenize.TokenError, SyntaxError):
            pass
        positions, problems = set(), []
    try:
        return Parsed(ast.parse(text, filename), positions, problems, lines)
    except SyntaxError as first_error:
        error = first_error
    if _has_candidate(text) or _has_type_statement(text) or _TYPE_PARAMETERS.search(text):
        try:
            source, positions, problems, aliases, parameters = _rewrite(text)
            return Parsed(ast.parse(source, filename), positions, problems, lines, aliases, parameters)
        except (tokenize.TokenError, IndentationError) as rewrite_error:
            error = rewrite_error if isinstance(rewrite_error, SyntaxError) else error
        except SyntaxError as rewritten_error:
            error = rewritten_error
    # The rewritten t-strings are f-strings to this parser: an error it reports inside one may
    # be valid 3.14 (PEP 701 quotes); any other error is a syntax error in every Python.
    newer = _has_candidate(text) and str(getattr(error, "msg", "")).startswith("f-string")
    problems.append(_syntax_problem(error, native=False, newer_syntax=newer))
    return Parsed(None, positions, problems, lines)


def _position(error):
    line = error.lineno or 1
    col = (error.offset or 1) - 1
    end_line = getattr(error, "end_lineno", None) or line
    end_col = (getattr(error, "end_offset", None) or (col + 2)) - 1
    return line, col, end_line, max(end_col, col + 1)


def _syntax_problem(error, native, newer_syntax=False):
    line, col, end_line, end_col = _position(error)
    here = "Python %d.%d" % sys.version_info[:2]
    if native:
        return ("SYNTAX", "syntax error: %s" % error.msg, line, col, end_line, end_col, "fix the syntax")
    if newer_syntax:
        # A file with t-strings that this parser could not read even rewritten: it may well be
        # valid 3.14 (a t-string reusing its own quotes inside {...}, PEP 701). Not claimed as
        # a syntax error; the way to a real answer is named instead.
        return ("PY314", "%s cannot parse this file, which uses Python 3.14 syntax (%s)" % (here, error.msg),
                line, col, end_line, end_col,
                "validate it on Python 3.14: `crucible validate --python 3.14` (`crucible python install 3.14` installs it)")
    return ("SYNTAX", "syntax error: %s" % error.msg, line, col, end_line, end_col,
            "fix the syntax (%s parsed this file; if it is valid in a newer Python, validate with --python 3.14)" % here)


_NESTED = re.compile(r"(?<![\w.])(?:[tT][rR]?|[rR][tT])(?=['\"])")


def _nested_prefixes(token):
    """t-strings nested inside this string's {...} interpolations: the (row, col) of each `t` of
    their prefixes (to rewrite), and of each one's start (its node's position)."""
    found, starts = [], []
    depth = 0
    row, col = token.start
    text = token.string
    index = 0
    while index < len(text):
        char = text[index]
        if char == "\n":
            row, col = row + 1, 0
            index += 1
            continue
        if char in "{}" and text[index:index + 2] in ("{{", "}}") and depth == 0:
            index += 2
            col += 2
            continue
        if char == "{":
            depth += 1
        elif char == "}" and depth:
            depth -= 1
        elif depth:
            match = _NESTED.match(text, index)
            if match and (index == 0 or not (text[index - 1].isalnum() or text[index - 1] in "_.")):
                starts.append((row, col))
                for offset, prefix_char in enumerate(match.group(0)):
                    if prefix_char in "tT":
                        found.append((row, col + offset))
        index += 1
        col += 1
    return found, starts


def _tstr001(group, problems):
    """A TSTR001 problem when one implicit concatenation mixes t-strings and other strings."""
    if len(group) > 1 and any(t for t, _, _ in group) and not all(t for t, _, _ in group):
        (_, start, _), (_, _, end) = group[0], group[-1]
        problems.append(("TSTR001", "a t-string is concatenated with a string that is not a t-string",
                         start[0], start[1], end[0], end[1],
                         "make every part a t-string (t\"a\" t\"b\") or join them into one t-string"))
    group.clear()


def _rewrite_native(text):
    """On 3.14: every t-prefix turned into an f-prefix (same length), the positions of the
    t-strings, and a TSTR001 problem for each concatenation that mixes them with other strings."""
    edits, positions, problems, group = [], set(), [], []
    depth = 0
    unit_start, unit_template = None, False
    for token in tokenize.generate_tokens(io.StringIO(text).readline):
        kind = token.type
        if kind in (tokenize.FSTRING_START, tokenize.TSTRING_START):
            template = kind == tokenize.TSTRING_START
            if template:
                edits.extend((token.start[0], token.start[1] + offset, "f")
                             for offset, char in enumerate(token.string) if char in "tT")
                if depth:
                    positions.add(token.start)
            if not depth:
                unit_start, unit_template = token.start, template
            depth += 1
        elif kind in (tokenize.FSTRING_END, tokenize.TSTRING_END):
            depth -= 1
            if not depth:
                if unit_template and not group:
                    positions.add(unit_start)
                group.append((unit_template, unit_start, token.end))
        elif depth:
            continue
        elif kind == tokenize.STRING:
            group.append((False, token.start, token.end))
        elif kind not in (tokenize.NL, tokenize.COMMENT) and group:
            _tstr001(group, problems)
    _tstr001(group, problems)
    rows = text.splitlines(keepends=True)
    for row, col, char in edits:
        line = rows[row - 1]
        rows[row - 1] = line[:col] + char + line[col + 1:]
    return "".join(rows), positions, problems


# Every text _CANDIDATE matches holds one of these: a t-prefix's last letter before its quote.
_NEEDLES = ("t'", 't"', "T'", 'T"') + tuple(t + r + q for t in "tT" for r in "rR" for q in "'\"")


def _candidate_starts(text):
    """The offsets where _CANDIDATE matches. The regex, searched over a whole file, tries its
    look-behind at every character (1.4 s of CPU over the standard library); str.find of the
    needles is a fast scan, and the regex then judges only where one was found."""
    for needle in _NEEDLES:
        at = text.find(needle)
        while at != -1:
            quote = at + len(needle) - 1
            for start in (quote - 2, quote - 1):
                if start >= 0 and _CANDIDATE.match(text, start):
                    yield start
            at = text.find(needle, at + 1)


def _has_candidate(text):
    return next(_candidate_starts(text), None) is not None


def _candidate_lines(text):
    """The sorted line numbers (1-based) where a t-string can start."""
    lines, line, counted = set(), 1, 0
    for start in sorted(_candidate_starts(text)):
        line += text.count("\n", counted, start)
        counted = start
        lines.add(line)
    return sorted(lines)


def _has_type_statement(text):
    """Whether _TYPE_STATEMENT matches: the regex is tried only at the starts of the lines where
    `type` and a blank follow nothing but blanks (a search tries its `^` at every character)."""
    for needle in ("type ", "type\t"):
        at = text.find(needle)
        while at != -1:
            line = text.rfind("\n", 0, at) + 1
            if not text[line:at].strip(" \t") and _TYPE_STATEMENT.match(text, line):
                return True
            at = text.find(needle, at + 5)
    return False


def _rewrite(text):
    """The source with t-prefixes turned into f-prefixes and `type X = ...` statements into
    assignments to `type_X` (same length, so positions hold), t-string start positions,
    problems, the type aliases found, and the type parameters blanked out."""
    rows = text.splitlines(keepends=True)
    tokens = list(tokenize.generate_tokens(io.StringIO(text).readline))
    edits = []  # (row, col, replacement character)
    aliases = {}
    parameters = {}  # (line, def/class name) -> type parameter names
    positions = set()
    problems = []
    group = []  # the STRING tokens of one implicit concatenation: (is_template, start, end)

    def close_group():
        _tstr001(group, problems)

    index = 0
    while index < len(tokens):
        token = tokens[index]
        following = tokens[index + 1] if index + 1 < len(tokens) else None
        if (token.type == tokenize.NAME and token.string in _T_PREFIXES and following is not None
                and following.type == tokenize.STRING and following.start == token.end
                and following.string[:1] in "'\""):
            for offset, char in enumerate(token.string):
                if char in "tT":
                    edits.append((token.start[0], token.start[1] + offset, "f"))
            nested, nested_starts = _nested_prefixes(following)
            edits.extend((row, col, "f") for row, col in nested)
            positions.update(nested_starts)  # nested t-strings are t-strings too, as 3.14 reports them
            if not group:
                positions.add((token.start[0], token.start[1]))
            group.append((True, token.start, following.end))
            index += 2
            continue
        if _is_type_statement(tokens, index):
            name = tokens[index + 1]
            aliases[name.string] = name.start[0]
            edits.extend((token.end[0], col, "_") for col in range(token.end[1], name.start[1]))
        if _opens_type_parameters(tokens, index):
            # 3.11 has no type parameter lists: blank `[...]` out (same length, so positions
            # hold); the parameters' names stay free names in the annotations, which no rule
            # resolves. Only a list on one line: blanking a multi-line one would end the
            # implicit line joining its brackets made.
            close = _matching_bracket(tokens, index + 2)
            if close is not None and tokens[close].end[0] == tokens[index + 2].start[0]:
                row = tokens[index + 2].start[0]
                edits.extend((row, col, " ") for col in range(tokens[index + 2].start[1], tokens[close].end[1]))
                if token.string != "type":
                    parameters[(token.start[0], tokens[index + 1].string)] = _parameter_names(tokens, index + 2, close)
        if token.type == tokenize.STRING:
            group.append((False, token.start, token.end))
        elif token.type not in (tokenize.NL, tokenize.COMMENT) and group:
            close_group()
        index += 1
    close_group()
    rows = list(rows)
    for row, col, char in edits:
        line = rows[row - 1]
        rows[row - 1] = line[:col] + char + line[col + 1:]
    return "".join(rows), positions, problems, aliases, parameters


# What `_rewrite_quickly` scans for: comments and string literals, each ended where tokenize
# ends it (triple-quoted ones across lines and escapes; one-quoted ones on their line, so a
# backslash-continued one is left to tokenize), and any other quote (a string nothing closes).
_LEXEMES = re.compile(r"""
    \#[^\n]*
  | '''[^'\\]*(?:(?:\\.|'(?!''))[^'\\]*)*'''
  | \"\"\"[^"\\]*(?:(?:\\.|"(?!""))[^"\\]*)*\"\"\"
  | '[^\n'\\]*(?:\\[^\n][^\n'\\]*)*'
  | "[^\n"\\]*(?:\\[^\n][^\n"\\]*)*"
  | ['"]
""", re.VERBOSE | re.DOTALL)
# Where only tokenize can tell: a line break other than \n (the rows the edits are applied to
# are splitlines' rows, tokenize's are \n's), a possible `type` statement or type parameter
# list (the other edits `_rewrite` makes).
_LINE_BREAKS = re.compile("[\r\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029]")
_TYPE_SYNTAX = re.compile(r"\btype[ \t\f]+\w|\b(?:def|class)[\s\\]+\w+[\s\\]*\[")
# Between two tokens: nothing that tokenize makes a token of, other than NL (or the NEWLINE
# and INDENT/DEDENT that only blanks make, which the check below treats the same, to be safe).
_BLANK = re.compile(r"[ \t\f\n\\]*")
# tokenize's string prefixes on 3.11 (a string token that starts with one of them).
_STRING_PREFIXES = {"r", "u", "f", "b", "br", "rb", "fr", "rf"}


def _rewrite_quickly(text):
    """`_rewrite(text)` without tokenize's pure-Python pass over every token (two thirds of the
    cost of parsing a file with a t-string on 3.11, and every view the corpus records has one),
    or None where this cannot be sure of giving the same: then `_rewrite` judges.

    On 3.11 tokenize splits `t"x"` into the NAME `t` and the STRING `"x"`; a regex finds the
    same strings (and comments, which can hold quotes) tokenize finds, and a t-string is a
    string whose word right before the quote is a t-prefix. Only the common case is taken:
    no `type` statement or type parameters (None), every t-string alone in its implicit
    concatenation (one next to another string, blanks and comments between, gives None: that
    is where `_rewrite` reports TSTR001 or records only the first), and no word before a quote
    that is neither a prefix nor a t-prefix (`print"x"`, `1t"x"`: None). test_template_rewrite.py
    checks it against `_rewrite` over the standard library with its f-strings made t-strings."""
    if _LINE_BREAKS.search(text) or (("type" in text or "[" in text) and _TYPE_SYNTAX.search(text)):
        return None
    edits, positions = [], set()
    row, counted = 1, 0  # the line of offset `counted`
    end = 0  # where the previous comment or string ended
    string_open = template_open = False  # the last token (blanks and comments aside) is a string, a t-string
    for lexeme in _LEXEMES.finditer(text):
        quote = lexeme.start()
        string = lexeme.group()
        if string[0] == "#":
            if _BLANK.match(text, end, quote).end() != quote:
                string_open = template_open = False
            end = lexeme.end()
            continue
        if len(string) == 1:
            return None  # a quote no string closes: tokenize's error tokens
        word = quote
        while word > end and (text[word - 1].isalnum() or text[word - 1] == "_"):
            word -= 1
        prefix = text[word:quote]
        template = prefix in _T_PREFIXES
        if not template and prefix and prefix.lower() not in _STRING_PREFIXES:
            return None
        if _BLANK.match(text, end, word).end() != word:
            string_open = template_open = False
        if string_open and (template or template_open):
            return None  # implicitly concatenated with a t-string
        string_open, template_open, end = True, template, lexeme.end()
        if template:
            row += text.count("\n", counted, word)
            counted = word
            col = word - (text.rfind("\n", 0, word) + 1)
            edits.extend((row, col + offset, "f") for offset, char in enumerate(prefix) if char in "tT")
            positions.add((row, col))
            if _NESTED.search(string):
                nested, nested_starts = _nested_prefixes(_Token(
                    (row + text.count("\n", word, quote), quote - (text.rfind("\n", 0, quote) + 1)), string))
                edits.extend((nested_row, nested_col, "f") for nested_row, nested_col in nested)
                positions.update(nested_starts)
    return _edited(text, edits), positions, [], {}, {}


class _Token:
    """What `_nested_prefixes` reads of a tokenize token."""

    __slots__ = ("start", "string")

    def __init__(self, start, string):
        self.start, self.string = start, string


def _edited(text, edits):
    """The text with each (row, col, character) edit made (rows as splitlines counts them)."""
    if not edits:
        return text
    rows = text.splitlines(keepends=True)
    for row, col, char in edits:
        line = rows[row - 1]
        rows[row - 1] = line[:col] + char + line[col + 1:]
    return "".join(rows)


def _parameter_names(tokens, start, close):
    """The names a type parameter list `[T: int = int, *Ts, **P]` declares: each name that
    opens a parameter (after `[`, `,`, `*` or `**` at the list's own depth)."""
    names, depth, previous = [], 0, None
    for token in tokens[start:close]:
        if token.type == tokenize.OP and token.string in "([{":
            depth += 1
        elif token.type == tokenize.OP and token.string in ")]}":
            depth -= 1
        elif token.type == tokenize.NAME and depth == 1 and previous in ("[", ",", "*", "**"):
            names.append(token.string)
        previous = token.string
    return names


def _opens_type_parameters(tokens, index):
    """`def NAME [` or `class NAME [` or `type NAME [` (a type alias with parameters)."""
    token = tokens[index]
    if token.type != tokenize.NAME or token.string not in ("def", "class", "type") or index + 2 >= len(tokens):
        return False
    if token.string == "type" and not _is_type_statement(tokens, index):
        return False
    name, bracket = tokens[index + 1], tokens[index + 2]
    return name.type == tokenize.NAME and bracket.type == tokenize.OP and bracket.string == "["


def _matching_bracket(tokens, index):
    """The index of the `]` that closes the `[` at `index`, or None."""
    depth = 0
    for position in range(index, len(tokens)):
        token = tokens[position]
        if token.type == tokenize.OP and token.string in "([{":
            depth += 1
        elif token.type == tokenize.OP and token.string in ")]}":
            depth -= 1
            if depth == 0:
                return position
    return None


_STATEMENT_START = {tokenize.NEWLINE, tokenize.INDENT, tokenize.DEDENT, tokenize.ENCODING, tokenize.NL,
                    tokenize.COMMENT}


def _is_type_statement(tokens, index):
    """`type` starting a statement, then a name and `=` or `[` on the same line (a soft keyword:
    `type = 3` and `type(x)` stay what they are)."""
    token = tokens[index]
    if token.type != tokenize.NAME or token.string != "type" or index + 2 >= len(tokens):
        return False
    if index > 0 and tokens[index - 1].type not in _STATEMENT_START and tokens[index - 1].string != ";":
        return False
    name, after = tokens[index + 1], tokens[index + 2]
    return (name.type == tokenize.NAME and name.start[0] == token.start[0] and name.start[1] > token.end[1]
            and after.type == tokenize.OP and after.string in ("=", "["))
