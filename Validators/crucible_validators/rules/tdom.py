"""The `tdom` ruleset: what tdom (t-strings/tdom) raises at render time, caught statically.

Markup inside a t-string is scanned with every interpolation standing in as a placeholder,
so tags, attributes and component tags are checked without running anything. Facts and
messages follow tdom's own errors (domain.md).
"""

import ast
import re

from ..engine import Finding, rule

_VOID = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "param", "source", "track", "wbr"}
_RAW = {"script", "style", "title", "textarea"}  # no Template or iterable inside these
_SLOT = "\x00"  # one interpolation, followed by its index and another _SLOT


def _markup(node):
    """The t-string's text with each interpolation replaced by a placeholder, and the expressions."""
    parts, expressions = [], []
    for value in node.values:
        if isinstance(value, ast.Constant):
            parts.append(str(value.value))
        else:
            parts.append("%s%d%s" % (_SLOT, len(expressions), _SLOT))
            expressions.append(value.value if isinstance(value, ast.FormattedValue) else value)
    return "".join(parts), expressions


_TAG = re.compile(r"<(/?)([^\s/>]*)")
_ATTRIBUTE = re.compile(r"""\s*([^\s=/>]+)(?:\s*=\s*("[^"]*"|'[^']*'|[^\s>]+))?""")
_SLOT_RE = re.compile(_SLOT + r"(\d+)" + _SLOT)


def _scan(text):
    """Yields (kind, name, attributes, raw) for start, end and self-closing tags, comments and raw text."""
    index = 0
    while True:
        start = text.find("<", index)
        if start < 0:
            return
        if text.startswith("<!--", start):
            end = text.find("-->", start + 4)
            end = len(text) if end < 0 else end
            yield ("comment", None, None, text[start + 4:end])
            index = end + 3
            continue
        if text.startswith("<!", start):
            index = text.find(">", start) + 1 or len(text)
            continue
        match = _TAG.match(text, start)
        closing, name = match.group(1) == "/", match.group(2)
        if not name:
            index = start + 1
            continue
        position = match.end()
        attributes = []
        while True:
            attribute = _ATTRIBUTE.match(text, position)
            if not attribute or not attribute.group(1):
                break
            attributes.append(attribute.group(1))
            position = attribute.end()
        end = text.find(">", position)
        if end < 0:
            yield ("broken", name, attributes, text[start:])
            return
        self_closing = text[end - 1] == "/"
        kind = "end" if closing else ("self" if self_closing else "start")
        yield (kind, name, attributes, text[start:end + 1])
        index = end + 1
        if kind == "start" and name.lower() in _RAW:
            close = re.compile(r"</\s*%s\s*>" % re.escape(name), re.IGNORECASE).search(text, index)
            body_end = close.start() if close else len(text)
            yield ("raw", name.lower(), None, text[index:body_end])
            index = body_end


def _component(name):
    """The interpolation index when a tag name is a component, None for a plain tag, -1 when malformed."""
    slots = _SLOT_RE.findall(name)
    if not slots:
        return None
    return int(slots[0]) if len(slots) == 1 and _SLOT_RE.fullmatch(name) else -1


def _templates(context):
    if not context.parsed.template_positions:
        return  # the parser saw no t-string at all: nothing to walk
    for node in context.nodes:
        if context.is_template(node) and any(isinstance(v, ast.Constant) and "<" in str(v.value) for v in node.values):
            yield node


def _has_templates(text, config):
    return "<" in text and ("t'" in text or 't"' in text or "T'" in text or 'T"' in text)


@rule("TDOM001", "tdom", message="html() and svg() take a t-string or a Template",
      hint="pass a t-string: html(t\"<p>{value}</p>\")",
      doc="tdom processes Templates; a str reaches html()/svg() already formatted, so nothing in it is escaped.",
      bad="svg(f'<svg>{shape}</svg>')", good="svg(t'<svg>{shape}</svg>')",
      gate=lambda text, config: "html(" in text or "svg(" in text)
def needs_template(context):
    for node in context.calls:
        func = node.func
        name = func.id if isinstance(func, ast.Name) else func.attr if isinstance(func, ast.Attribute) else None
        if name not in ("html", "svg") or not node.args:
            continue
        if name == "html" and "view" in context.rulesets:
            continue  # VIEW006 reports html() already, with the XSS explanation
        argument = node.args[0]
        if isinstance(argument, ast.JoinedStr) and not context.is_template(argument):
            yield Finding(argument, message="%s() is given an f-string, not a t-string" % name)
        elif isinstance(argument, ast.Constant) and isinstance(argument.value, str):
            yield Finding(argument, message="%s() is given a plain str, not a t-string" % name)
        elif isinstance(argument, ast.BinOp) and isinstance(argument.op, (ast.Add, ast.Mod)) and any(
                isinstance(side, (ast.Constant, ast.JoinedStr)) and not context.is_template(side)
                for side in (argument.left, argument.right)):
            yield Finding(argument, message="%s() is given a formatted str, not a t-string" % name)


@rule("TDOM002", "tdom", message="the markup in this t-string is not well formed",
      hint="close every element in the order it was opened (void elements like <br> need no end tag)",
      doc="tdom raises 'Mismatched closing tag', 'Unexpected closing tag' or 'unclosed tags remain' at render time.",
      bad="html(t'<div><p>{text}</div>')", good="html(t'<div><p>{text}</p></div>')", gate=_has_templates)
def well_formed(context):
    for node in _templates(context):
        text, _ = _markup(node)
        stack = []
        for kind, name, _, raw in _scan(text):
            if kind == "broken":
                yield Finding(node, message="a tag is not closed with '>': %s" % _show(raw))
                break
            if kind == "start" and name.lower() not in _VOID:
                stack.append(name)
            elif kind == "end":
                if not stack:
                    yield Finding(node, message="unexpected closing tag </%s> with no open tag" % _show(name))
                    break
                elif stack[-1].lower() != name.lower() and _component(name) is None:
                    yield Finding(node, message="mismatched closing tag </%s> for element <%s>"
                                  % (_show(name), _show(stack[-1])))
                    stack = []  # tdom stops at the first error; so does this rule
                    break
                else:
                    stack.pop()
        if stack:
            yield Finding(node, message="unclosed tags remain: %s" % ", ".join("<%s>" % _show(n) for n in stack))


@rule("TDOM003", "tdom", message="a component tag must be exactly one interpolation, and its end tag must match",
      hint="write <{Card}>...</{Card}> with the same callable in both tags, and nothing else in the tag name",
      doc="tdom: 'Component element tags must have exactly one interpolation.' and 'Component callable in start "
          "tag must match component callable in end tag.'",
      bad="html(t'<{Card}>x</{Panel}>')", good="html(t'<{Card}>x</{Card}>')", gate=_has_templates)
def component_tags(context):
    for node in _templates(context):
        text, expressions = _markup(node)
        stack = []
        for kind, name, _, raw in _scan(text):
            if kind not in ("start", "end", "self"):
                continue
            slot = _component(name)
            if slot == -1:
                yield Finding(node, message="component tag %s must be exactly one interpolation" % _show(raw))
                continue
            if kind == "start":
                stack.append(slot)
            elif kind == "end" and stack:
                opened = stack.pop()
                if opened is not None and slot is not None and (
                        ast.dump(expressions[opened]) != ast.dump(expressions[slot])):
                    yield Finding(node, message="component end tag {%s} does not match its start tag {%s}" % (
                        ast.unparse(expressions[slot]), ast.unparse(expressions[opened])))


@rule("TDOM004", "tdom", message="`children` is passed by tdom itself; it cannot be an attribute",
      hint="put the children between the start and end tags instead",
      doc="tdom: 'The children attribute is reserved'; children go between the component's tags.",
      bad="html(t'<{Card} children={items} />')", good="html(t'<{Card}>{items}</{Card}>')", gate=_has_templates)
def children_attribute(context):
    for node in _templates(context):
        text, _ = _markup(node)
        for kind, name, attributes, _ in _scan(text):
            if kind in ("start", "self") and _component(name) is not None and "children" in attributes:
                yield Finding(node)


@rule("TDOM005", "tdom", message="no interpolation inside <script>, <style>, <title>, <textarea> or a comment",
      hint="compute the text outside the template, or drop the interpolation",
      doc="tdom cannot place a Template or an iterable in raw-text elements or comments.",
      bad="html(t'<style>{css}</style>')", good="html(t'<link rel=stylesheet href={css_url}>')", gate=_has_templates)
def raw_text(context):
    for node in _templates(context):
        text, _ = _markup(node)
        for kind, name, _, body in _scan(text):
            if kind in ("raw", "comment") and _SLOT in body:
                where = "a comment" if kind == "comment" else "<%s>" % name
                yield Finding(node, message="an interpolation inside %s" % where)


def _show(text):
    return _SLOT_RE.sub("{...}", text)
