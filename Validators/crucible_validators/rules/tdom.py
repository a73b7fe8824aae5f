"""The `tdom` ruleset: what tdom (t-strings/tdom) raises at render time, caught statically.

Markup inside a t-string is scanned with every interpolation standing in as a placeholder,
so tags, attributes and component tags are checked without running anything. Facts and
messages follow tdom's own errors (t-strings/tdom's processor and parser).
"""

import ast
import re

from ..engine import Finding, rule
from ..signatures import dotted_name, last_name, of_definition, own_returns

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


def _markup_units(context):
    """(node, markup) for each piece of markup tdom sees whole: a t-string on its own, or a `+`
    chain of t-strings and other values (fragments joined, t"<ul>" + items + t"</ul>", before
    they reach html()) as one, reported at the chain."""
    if "tdom_units" in context.memo:
        return context.memo["tdom_units"]
    additions = [n for n in context.nodes if isinstance(n, ast.BinOp) and isinstance(n.op, ast.Add)]
    inner = {id(side) for n in additions for side in (n.left, n.right) if isinstance(side, ast.BinOp)}
    joined, units, names_joined = set(), [], set()
    for chain in additions:
        if id(chain) in inner:
            continue
        leaves, pending = [], [chain]
        while pending:  # left to right
            node = pending.pop()
            if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add):
                pending.extend((node.right, node.left))
            else:
                leaves.append(node)
        names_joined.update(leaf.id for leaf in leaves if isinstance(leaf, ast.Name))
        templates = [leaf for leaf in leaves if context.is_template(leaf)]
        if not templates or (len(templates) < 2 and not any(isinstance(leaf, ast.Name) for leaf in leaves)):
            continue
        joined.update(id(leaf) for leaf in templates)
        if any(isinstance(leaf, ast.Name) for leaf in leaves):
            continue  # a variable holds more fragments: whole only at run time
        units.append((chain, "".join(_markup(leaf)[0] if context.is_template(leaf) else _SLOT + "0" + _SLOT for leaf in leaves)))
    # Fragments built up in a variable (body = t"<ul>"; body += t"<li>...</li>"; body += t"</ul>")
    # are only whole at run time: each piece is left unchecked rather than reported half-built.
    for node in context.nodes:
        if isinstance(node, ast.AugAssign) and isinstance(node.op, ast.Add) and isinstance(node.target, ast.Name):
            names_joined.add(node.target.id)
            joined.add(id(node.value))
    for node in context.nodes:
        if isinstance(node, ast.Assign):
            for target in node.targets:
                if isinstance(target, ast.Name) and target.id in names_joined:
                    joined.add(id(node.value))
                elif isinstance(target, ast.Tuple) and isinstance(node.value, ast.Tuple):
                    # prefix, suffix = t'<div data-range="', t'"></div>'
                    for name, value in zip(target.elts, node.value.elts):
                        if isinstance(name, ast.Name) and name.id in names_joined:
                            joined.add(id(value))
        # Pieces collected to be joined later (parts = [t"<select>"]; parts.append(t"</select>")):
        # elements of list and tuple displays, and what is appended, extended or inserted.
        elif isinstance(node, (ast.List, ast.Tuple)):
            joined.update(id(element) for element in node.elts)
        elif (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
              and node.func.attr in ("append", "extend", "insert")):
            joined.update(id(argument) for argument in node.args)
    units = [(node, _markup(node)[0]) for node in _templates(context) if id(node) not in joined] + units
    context.memo["tdom_units"] = units
    return units


@rule("TDOM002", "tdom", message="the markup in this t-string is not well formed",
      hint="close every element in the order it was opened (void elements like <br> need no end tag)",
      doc="tdom raises 'Mismatched closing tag', 'Unexpected closing tag' or 'unclosed tags remain' at render time."
          " Fragments joined with + (t'<ul>' + rows + t'</ul>') are checked as one piece; pieces built up in a"
          " variable (body += t'<li>...</li>') or collected in a list or tuple to be joined later are whole"
          " only at run time and are left unchecked.",
      bad="html(t'<div><p>{text}</div>')", good="html(t'<div><p>{text}</p></div>')", gate=_has_templates)
def well_formed(context):
    for node, text in _markup_units(context):
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


@rule("TDOM005", "tdom", message="a Template or an iterable inside <script>, <style>, <title>, <textarea> or a comment",
      hint="render it to a str first (str(html(...)), ', '.join(...)), or move it out of the raw-text element",
      doc="tdom writes a str or a number in raw-text elements and comments (escaped in <title> and <textarea>,"
          " as it is in <script> and <style>), but refuses a Template or an iterable there: 'Recursive includes"
          " are not supported within title'. Checked where the file shows the value is one: a t-string, a"
          " list, tuple, set or comprehension, a name assigned only such values, or a call to a function of"
          " this file that returns a t-string or is annotated -> Template.",
      bad="html(t'<title>{t\"<b>{name}</b>\"}</title>')", good="html(t'<title>{name}</title>')", gate=_has_templates)
def raw_text(context):
    for node in _templates(context):
        text, expressions = _markup(node)
        for kind, name, _, body in _scan(text):
            if kind not in ("raw", "comment") or _SLOT not in body:
                continue
            where = "a comment" if kind == "comment" else "<%s>" % name
            for index in _SLOT_RE.findall(body):
                what = _markup_value(expressions[int(index)], context)
                if what:
                    yield Finding(node, message="%s inside %s: tdom refuses it there" % (what, where))


_ITERABLES = (ast.List, ast.Tuple, ast.Set, ast.ListComp, ast.SetComp, ast.GeneratorExp, ast.Dict, ast.DictComp)


def _markup_value(expression, context, seen=()):
    """"a Template" or "an iterable" when the file shows that is what `expression` is, else None."""
    if isinstance(expression, ast.JoinedStr) and context.is_template(expression):
        return "a Template"
    if isinstance(expression, _ITERABLES):
        return "an iterable"
    if isinstance(expression, ast.Call) and isinstance(expression.func, ast.Name):
        definition = context.definitions.get(expression.func.id)
        if isinstance(definition, (ast.FunctionDef, ast.AsyncFunctionDef)):
            returns = definition.returns
            if isinstance(returns, (ast.Name, ast.Attribute)) and (getattr(returns, "id", None) or returns.attr) == "Template":
                return "a Template"
            values = [n.value for n in ast.walk(definition) if isinstance(n, ast.Return) and n.value is not None]
            if values and all(isinstance(v, ast.JoinedStr) and context.is_template(v) for v in values):
                return "a Template"
    if isinstance(expression, ast.Name) and expression.id not in seen:
        assigned = [n.value for n in context.nodes if isinstance(n, ast.Assign)
                    and any(isinstance(t, ast.Name) and t.id == expression.id for t in n.targets)]
        kinds = {_markup_value(value, context, seen + (expression.id,)) for value in assigned}
        if assigned and None not in kinds:
            return kinds.pop() if len(kinds) == 1 else "a Template or an iterable"
    return None


def _component_uses(context):
    """[(template node, callable expression, attribute names, has spread)] for every component
    start or self-closing tag in the file's t-strings."""
    if "tdom_uses" not in context.memo:
        uses = []
        for node in _templates(context):
            text, expressions = _markup(node)
            for kind, name, attributes, _ in _scan(text):
                slot = _component(name) if kind in ("start", "self") else None
                if slot is None or slot < 0:
                    continue
                spread = any(_SLOT in attribute for attribute in attributes)
                named = [a.replace("-", "_").lower() for a in attributes if _SLOT not in a]
                uses.append((node, expressions[slot], named, spread))
        context.memo["tdom_uses"] = uses
    return context.memo["tdom_uses"]


def _components(context):
    """Callables defined in this file and used as components here: name -> (definition, signature)."""
    found = {}
    for _, expression, _, _ in _component_uses(context):
        if isinstance(expression, ast.Name) and expression.id in context.definitions:
            definition = context.definitions[expression.id]
            signature = of_definition(definition)
            if signature is not None:
                found[expression.id] = (definition, signature)
    return found


def _has_components(text, config):
    return "</{" in text or "<{" in text


@rule("TDOM006", "tdom", message="a component callable cannot take required positional parameters or *args",
      hint="make the parameters keyword-friendly: give positional-only ones a default or drop the `/`, "
           "and replace *args with named parameters",
      doc="tdom passes attributes as keyword arguments only: 'Component callables cannot have required "
          "positional arguments.'",
      bad="def Card(title, /):\n    return t'<h2>{title}</h2>'\nhtml(t'<{Card} title=x />')",
      good="def Card(*, title):\n    return t'<h2>{title}</h2>'\nhtml(t'<{Card} title=x />')",
      gate=_has_components)
def positional_parameters(context):
    for name, (_, signature) in sorted(_components(context).items()):
        for argument in signature.required_positional_only:
            yield Finding(argument, message="component %s has a required positional-only parameter %r; "
                          "tdom passes attributes by keyword" % (name, argument.arg))
        if signature.var_positional is not None:
            yield Finding(signature.var_positional,
                          message="component %s takes *%s; tdom never passes positional arguments"
                          % (name, signature.var_positional.arg))


# Filled by tdom itself (children, and tdom-svcs' context) or by the injector (Inject[...]).
_SUPPLIED = {"children", "context"}


@rule("TDOM007", "tdom", message="a component tag leaves out a parameter the component requires",
      hint="add the attribute to the tag, or give the parameter a default",
      doc="tdom raises 'Missing required parameters for component: ...' when an attribute the component "
          "requires is absent (kebab-case attributes become snake_case parameters).",
      bad="def Card(*, title): ...\nhtml(t'<{Card} />')", good="def Card(*, title): ...\nhtml(t'<{Card} title=x />')",
      gate=_has_components)
def missing_parameters(context):
    components = _components(context)
    for node, expression, attributes, spread in _component_uses(context):
        if spread or not isinstance(expression, ast.Name) or expression.id not in components:
            continue
        _, signature = components[expression.id]
        missing = [arg.arg for arg in signature.required_named
                   if arg.arg not in attributes and arg.arg not in _SUPPLIED and not _is_injected(arg)]
        if missing:
            yield Finding(node, message="component %s is missing required parameters: %s"
                          % (expression.id, ", ".join(missing)),
                          hint="add %s to the tag" % " ".join("%s={...}" % m.replace("_", "-") for m in missing))


def _is_injected(argument):
    annotation = argument.annotation
    return isinstance(annotation, ast.Subscript) and last_name(annotation.value) == "Inject"


# tdom's two release lines: names each exports that the other does not.
_NODES_ERA = {"Node", "Element", "Fragment", "Text", "Comment", "DocumentType"}
_TEMPLATES_ERA = {"svg", "Scope", "ScopedTemplate"}


def _era(context):
    """'nodes' (tdom <= 0.1.14), 'templates' (>= 0.1.15) or None when neither configuration nor
    the file's imports say."""
    if "tdom_era" not in context.memo:
        configured = context.config.get("tdom_version")
        era = None
        if configured:
            era = "nodes" if _version(configured) <= (0, 1, 14) else "templates"
        else:
            imported = _tdom_imports(context)
            names = {alias.name for _, alias in imported}
            if names & _TEMPLATES_ERA and not names & _NODES_ERA:
                era = "templates"
            elif names & _NODES_ERA and not names & _TEMPLATES_ERA:
                era = "nodes"
        context.memo["tdom_era"] = era
    return context.memo["tdom_era"]


def _version(text):
    parts = []
    for part in str(text).split("."):
        digits = "".join(ch for ch in part if ch.isdigit())
        parts.append(int(digits or 0))
    return tuple(parts + [0] * (3 - len(parts)))


def _tdom_imports(context):
    return [(node, alias) for node in context.tree.body if isinstance(node, ast.ImportFrom)
            and (node.module or "").split(".")[0] == "tdom" for alias in node.names]


_NOT_A_TEMPLATE = {"str", "Node", "Element", "Fragment", "Markup"}


@rule("TDOM008", "tdom", message="from tdom 0.1.15 a component must return a Template, not rendered markup",
      hint="return the t-string itself (return t\"<p>...</p>\"); tdom renders it in place",
      doc="Since 0.1.15 html() returns str and a component must return a Template or a zero-argument callable "
          "returning one ('Component callable must return Template or Callable'); a rendered str nested in a "
          "template is escaped. Applies when `tdom_version` is 0.1.15 or later, or the file imports names only "
          "that era has (svg, Scope, ScopedTemplate).",
      bad="def Card(*, title: str) -> str:\n    return html(t'<h2>{title}</h2>')",
      good="def Card(*, title: str) -> Template:\n    return t'<h2>{title}</h2>'",
      gate=_has_components)
def component_returns(context):
    if _era(context) != "templates":
        return
    for name, (definition, _) in sorted(_components(context).items()):
        if isinstance(definition, ast.ClassDef):
            continue  # the instance is the callable; its __call__ is checked by what it returns below
        if definition.returns is not None and last_name(definition.returns) in _NOT_A_TEMPLATE:
            yield Finding(definition.returns, message="component %s is annotated to return %s, not a Template"
                          % (name, dotted_name(definition.returns)))
        for statement in own_returns(definition):
            value = statement.value
            if isinstance(value, ast.Call) and last_name(value.func) in ("html", "svg"):
                yield Finding(statement, message="component %s returns %s(...), a rendered str; return the "
                              "t-string" % (name, last_name(value.func)))


@rule("TDOM009", "tdom", message="this name is not exported by the configured tdom era",
      hint="use the names of your tdom version: up to 0.1.14 Node/Element/Fragment/Text; from 0.1.15 "
           "html() returns str and components return Templates (svg, Scope, ScopedTemplate)",
      doc="tdom 0.1.15 removed the Node classes and added svg, Scope and ScopedTemplate; importing a name "
          "from the other era fails with ImportError. Checked against `tdom_version` when configured, and "
          "for a file that imports names of both eras.",
      bad="# tdom_version = \"0.1.20\"\nfrom tdom import Element, html", good="from tdom import html, svg",
      gate=lambda text, config: "tdom" in text)
def era_imports(context):
    imported = _tdom_imports(context)
    configured = context.config.get("tdom_version")
    if configured:
        foreign = _TEMPLATES_ERA if _version(configured) <= (0, 1, 14) else _NODES_ERA
        for node, alias in imported:
            if alias.name in foreign:
                yield Finding(node, message="tdom %s does not export %s" % (configured, alias.name))
        return
    names = {alias.name for _, alias in imported}
    if names & _NODES_ERA and names & _TEMPLATES_ERA:
        for node, alias in imported:
            if alias.name in _TEMPLATES_ERA:
                yield Finding(node, message="%s (tdom >= 0.1.15) is imported beside %s (tdom <= 0.1.14); no "
                              "tdom version exports both" % (alias.name, ", ".join(sorted(names & _NODES_ERA))))


def _show(text):
    return _SLOT_RE.sub("{...}", text)
