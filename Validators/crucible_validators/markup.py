"""Markup inside t-strings, read without running the code around it.

A piece of markup (one t-string, or t-strings joined with `+`) is a list of atoms: `Text`
(static text, with the source position where it starts) and `Slot` (an interpolation's
expression). Two readers judge it:

- `scan`, a static tag scanner, where each interpolation stands in as a placeholder
  (`SLOT` + its index + `SLOT`);
- `judge_with_tdom`, tdom's own parser (`tdom.parser.TemplateParser`, tdom >= 0.1.15, Python
  3.14) when the validators run where tdom is importable (`crucible validate --python 3.14
  --with tdom`). It is given a `string.templatelib.Template` made of the static text and
  dummy interpolations: only the literal markup is parsed, never the user's expressions.
"""

import ast
import re

SLOT = "\x00"  # one interpolation, followed by its index and another SLOT
SLOT_RE = re.compile(SLOT + r"(\d+)" + SLOT)


class Text:
    def __init__(self, text, line, col):
        self.text, self.line, self.col = text, line, col


class Slot:
    def __init__(self, expression):
        self.expression = expression


def atoms_of(node, is_template):
    """Atoms of a t-string node (a JoinedStr recorded as a t-string), or one Slot for anything
    else (a value joined with `+`)."""
    if not is_template(node):
        return [Slot(node)]
    atoms, line, col = [], node.lineno, node.col_offset
    for value in node.values:
        if isinstance(value, ast.Constant):
            atoms.append(Text(str(value.value), line, col))
        else:
            expression = value.value if isinstance(value, ast.FormattedValue) else value
            atoms.append(Slot(expression))
            # The text after an interpolation starts after its closing brace.
            line = getattr(expression, "end_lineno", None) or line
            col = (getattr(expression, "end_col_offset", None) or col) + 1
    return atoms


def text_of(atoms):
    """(text with placeholders, [expressions]) for the static scanner."""
    parts, expressions = [], []
    for atom in atoms:
        if isinstance(atom, Text):
            parts.append(atom.text)
        else:
            parts.append("%s%d%s" % (SLOT, len(expressions), SLOT))
            expressions.append(atom.expression)
    return "".join(parts), expressions


def locate(atoms, offset, placeholder=lambda index: "%s%d%s" % (SLOT, index, SLOT)):
    """Source (line, col) of character `offset` of the text the atoms make, where the i-th
    interpolation is written `placeholder(i)`. Lines are exact; columns are close (escapes and
    string prefixes are not counted)."""
    position, index, last = 0, 0, None
    for atom in atoms:
        if isinstance(atom, Text):
            if offset < position + len(atom.text):
                before = atom.text[:offset - position]
                newlines = before.count("\n")
                col = len(before) - before.rfind("\n") - 1 if newlines else atom.col + len(before)
                return atom.line + newlines, col
            position += len(atom.text)
            last = atom
        else:
            size = len(placeholder(index))
            index += 1
            if offset < position + size:
                return atom.expression.lineno, atom.expression.col_offset
            position += size
    if last is not None:  # the end of the markup
        newlines = last.text.count("\n")
        return last.line + newlines, (len(last.text) - last.text.rfind("\n") - 1 if newlines else last.col + len(last.text))
    return None


# What Python's html.parser (which tdom's parser extends) takes for a tag: `<` or `</`
# followed by a letter. An interpolation's placeholder in tdom begins with a letter too.
_TAG = re.compile(r"<(/?)([A-Za-z\x00][^\s/>]*)")
_ATTRIBUTE = re.compile(r"""\s*([^\s=/>]+)(?:\s*=\s*("[^"]*"|'[^']*'|[^\s>]+))?""")
RAW = {"script", "style", "title", "textarea"}


def scan(text):
    """Yields (kind, name, attributes, raw, start) in document order. kind: "start", "end",
    "self" (self-closing), "broken" (a tag never closed with '>'), "comment", "decl"
    (`<!...>`), "pi" (`<?...>`), "marked" (`<![...]]>`), "raw" (the body of a raw-text element).
    attributes: [(name, value or None)]; raw: the construct's text (a comment's or raw body's
    content); start: its offset in `text`."""
    index = 0
    while True:
        start = text.find("<", index)
        if start < 0:
            return
        if text.startswith("<!--", start):
            end = text.find("-->", start + 4)
            end = len(text) if end < 0 else end
            yield ("comment", None, None, text[start + 4:end], start)
            index = end + 3
            continue
        if text.startswith("<![", start):
            end = text.find("]]>", start)
            end = len(text) if end < 0 else end + 2
            yield ("marked", None, None, text[start + 3:end - 2], start)
            index = end + 1
            continue
        if text.startswith("<!", start) or text.startswith("<?", start):
            end = text.find(">", start)
            end = len(text) if end < 0 else end
            yield ("decl" if text[start + 1] == "!" else "pi", None, None, text[start + 2:end], start)
            index = end + 1
            continue
        match = _TAG.match(text, start)
        if not match:
            index = start + 1  # a `<` that starts no tag is text
            continue
        closing, name = match.group(1) == "/", match.group(2)
        position = match.end()
        attributes = []
        while True:
            attribute = _ATTRIBUTE.match(text, position)
            if not attribute or not attribute.group(1):
                break
            attributes.append((attribute.group(1), attribute.group(2)))
            position = attribute.end()
        end = text.find(">", position)
        if end < 0:
            yield ("broken", name, attributes, text[start:], start)
            return
        self_closing = text[end - 1] == "/"
        kind = "end" if closing else ("self" if self_closing else "start")
        yield (kind, name, attributes, text[start:end + 1], start)
        index = end + 1
        if kind == "start" and name.lower() in RAW:
            close = re.compile(r"</\s*%s\s*>" % re.escape(name), re.IGNORECASE).search(text, index)
            body_end = close.start() if close else len(text)
            yield ("raw", name.lower(), None, text[index:body_end], index)
            index = body_end


def component(name):
    """The interpolation index when a tag name is a component, None for a plain tag, -1 when
    it holds an interpolation and something else (tdom: 'exactly one interpolation')."""
    slots = SLOT_RE.findall(name)
    if not slots:
        return None
    return int(slots[0]) if len(slots) == 1 and SLOT_RE.fullmatch(name) else -1


def show(text):
    return SLOT_RE.sub("{...}", text)


# ---------------------------------------------------------------------------------------
# tdom's own parser

_PARSER = []  # [(TemplateParser, version)] once looked up; [None] when tdom is not importable


def tdom_parser():
    """(tdom's TemplateParser class, tdom's version) where tdom >= 0.1.15 is importable on
    Python 3.14, else None."""
    if not _PARSER:
        found = None
        try:
            from importlib import metadata
            from string.templatelib import Interpolation, Template  # noqa: F401 (3.14 only)

            from tdom.parser import TemplateParser
            if hasattr(TemplateParser, "feed_template"):
                found = (TemplateParser, metadata.version("tdom"))
        except Exception:  # not 3.14, tdom absent, or a tdom whose parser has another shape
            found = None
        _PARSER.append(found)
    return _PARSER[0]


def judge_with_tdom(atoms):
    """None when tdom's parser accepts the markup, else (tdom's message, (line, col) or None).
    Raises LookupError when the parser is not available, and lets an
    unexpected exception of the parser (not ValueError or NotImplementedError) propagate."""
    found = tdom_parser()
    if found is None:
        raise LookupError("tdom's parser is not importable here")
    parser_class, _ = found
    from string.templatelib import Interpolation, Template
    arguments = []
    for atom in atoms:
        if isinstance(atom, Text):
            arguments.append(atom.text)
        else:
            arguments.append(Interpolation(None, ast.unparse(atom.expression)))
    parser = parser_class()
    try:
        parser.feed_template(Template(*arguments))
        parser.close()
    except (ValueError, NotImplementedError) as error:
        return str(error), _where(parser, atoms, str(error))
    return None


def _where(parser, atoms, message):
    """Where tdom's parser stopped, in the source: html.parser's position (the start of the
    construct it was handling), mapped back through tdom's placeholders."""
    try:
        if "unclosed tags remain" in message:
            return None  # found at the end: reported at the start of the markup
        config = parser.source.placeholders.config
        if "never resolved" in message:  # the first interpolation the parser never saw
            missing = min(parser.source.placeholders.known)
            slots = [atom for atom in atoms if isinstance(atom, Slot)]
            return slots[missing].expression.lineno, slots[missing].expression.col_offset
        fed, index = [], 0
        for atom in atoms:
            if isinstance(atom, Text):
                fed.append(atom.text)
            else:
                fed.append(config.make_placeholder(index))
                index += 1
        lines = "".join(fed).split("\n")
        line, col = parser.getpos()
        offset = sum(len(text) + 1 for text in lines[:line - 1]) + col
        return locate(atoms, offset, config.make_placeholder)
    except Exception:  # tdom's internals changed: the finding goes to the start of the markup
        return None
