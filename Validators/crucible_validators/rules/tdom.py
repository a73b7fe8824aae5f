"""The `tdom` ruleset: what tdom (t-strings/tdom) raises at render time, caught statically.

Markup inside a t-string is scanned with every interpolation standing in as a placeholder,
so tags, attributes and component tags are checked without running anything. Facts and
messages follow tdom's own errors (t-strings/tdom's processor and parser). Where tdom >= 0.1.15
is importable (Python 3.14 with tdom in the environment), tdom's parser itself judges each
piece of markup's literal text instead of the static scanner (markup.py), for TDOM002, the
tag-shape part of TDOM003 and TDOM010; each of their findings says which one judged.
Markup is a t-string holding a tag that can reach tdom's rendering (`_templates`).
"""

import ast
import functools
import posixpath
import re

from .. import markup, python_names
from ..engine import Finding, rule
from ..signatures import dotted_name, is_injected, last_name, of_definition, own_returns

_VOID = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "param", "source", "track", "wbr"}
_SLOT, _SLOT_RE, _component, _show = markup.SLOT, markup.SLOT_RE, markup.component, markup.show


def _markup(node):
    """The t-string's text with each interpolation replaced by a placeholder, and the expressions."""
    return markup.text_of(markup.atoms_of(node, lambda n: n is node))


@functools.lru_cache(maxsize=512)
def _scanned(text):
    """markup.scan(text) as a tuple: the rules below scan the same markup up to eight times
    per t-string, and read what it yields without changing it."""
    return tuple(markup.scan(text))


def _scan(text):
    """(kind, name, attribute names, raw) of markup.scan, as other rulesets read it."""
    for kind, name, attributes, raw, _ in _scanned(text):
        yield kind, name, [a for a, _ in attributes] if attributes is not None else None, raw


def _templates(context):
    """The t-strings holding a tag that can reach tdom's rendering (see `_not_rendered`), in
    the order of `context.nodes`. Found once per file (five rules ask, and the search tests
    every node of the tree)."""
    if "tdom_templates" in context.memo:
        return context.memo["tdom_templates"]
    found = []
    if context.parsed.template_positions:  # else the parser saw no t-string at all: nothing to walk
        not_rendered = None
        joined_str = ast.JoinedStr
        for node in context.nodes:
            if isinstance(node, joined_str) and context.is_template(node) and any(
                    isinstance(v, ast.Constant) and "<" in str(v.value) for v in node.values):
                if not_rendered is None:
                    not_rendered = _not_rendered(context)
                if id(node) not in not_rendered:
                    found.append(node)
    context.memo["tdom_templates"] = found
    return found


# tdom's own modules whose functions read a Template's parts without parsing its markup:
# positions (parser_utils, template_utils), placeholders, reprs (source) and plain formatting
# (format); read in tdom 0.1.20's source. Everything else in tdom (html, svg, the parser, the
# processor, Scope) treats a Template as markup.
_READ_AS_PARTS = {"parser_utils", "template_utils", "placeholders", "source", "format"}


def _not_rendered(context):
    """ids of the t-strings this file gives only to code that never parses them as markup: a
    call of one of tdom's modules above, directly or through a parameter of a function defined
    in this file that goes to nothing else (tdom's tests: make_ppt(t"<{0}", config)). Any other
    t-string counts as markup: it can reach html() in ways one file does not show."""
    if "tdom_not_rendered" not in context.memo:
        found = set()
        for call in context.calls:
            for argument in call.args + [k.value for k in call.keywords]:
                if context.is_template(argument) and _reads_parts(context, call, argument):
                    found.add(id(argument))
        context.memo["tdom_not_rendered"] = found
    return context.memo["tdom_not_rendered"]


def _reads_parts(context, call, argument, depth=0):
    """Whether `call` uses `argument` only as a Template's parts, never as markup."""
    name = dotted_name(call.func)
    if not name:
        return False
    module = _tdom_module(context, name)
    if module is not None:
        return module in _READ_AS_PARTS
    function = context.definitions.get(name)
    if depth >= 3 or not isinstance(function, (ast.FunctionDef, ast.AsyncFunctionDef)):
        return False
    parameter = _parameter_for(function, call, argument)
    if parameter is None:
        return False
    # Every use of the parameter must be an argument of a call that reads only parts.
    given_to = {}
    for node in ast.walk(function):
        if isinstance(node, ast.Call):
            for value in node.args + [k.value for k in node.keywords]:
                given_to[id(value)] = node
    uses = [n for n in ast.walk(function) if isinstance(n, ast.Name) and n.id == parameter]
    return bool(uses) and all(
        isinstance(use.ctx, ast.Load) and id(use) in given_to
        and _reads_parts(context, given_to[id(use)], use, depth + 1) for use in uses)


def _parameter_for(function, call, argument):
    """The name of `function`'s parameter that `argument` of `call` binds, or None."""
    arguments = function.args
    positional = [a.arg for a in arguments.posonlyargs + arguments.args]
    index = next((i for i, a in enumerate(call.args) if a is argument), None)
    if index is not None:
        if any(isinstance(a, ast.Starred) for a in call.args[:index + 1]):
            return None
        return positional[index] if index < len(positional) else None
    keyword = next(k.arg for k in call.keywords if k.value is argument)
    named = positional[len(arguments.posonlyargs):] + [a.arg for a in arguments.kwonlyargs]
    return keyword if keyword in named else None


def _tdom_module(context, name):
    """The tdom submodule (`format`, `parser_utils`, "" for tdom itself) that the called
    `name` comes from through this file's imports, or None when it is not from tdom. A
    relative import counts as tdom's inside a package folder named tdom (tdom's own tests)."""
    if "tdom_imports" not in context.memo:
        context.memo["tdom_imports"] = python_names.module_facts(context.tree, context.nodes)["imports"]
    head, _, rest = name.partition(".")
    imported = context.memo["tdom_imports"].get(head)
    if imported is None:
        return None
    level, module, member = imported
    if level:
        folders = posixpath.dirname(posixpath.normpath(context.path.replace("\\", "/"))).split("/")
        if len(folders) < level or folders[-level] != "tdom":
            return None
        module = "tdom" + ("." + module if module else "")
    parts = [p for p in (module + "." + (member or "") + "." + rest).split(".") if p]
    if parts[0] != "tdom":
        return None
    # tdom.format.format_template -> "format"; tdom.html -> "" (a name of tdom's own package)
    return parts[1] if len(parts) > 2 else ""


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
    """(whole, pieces): `whole` is [(node, atoms)] for each piece of markup tdom sees whole: a
    t-string on its own, or a `+` chain of t-strings and other values (fragments joined,
    t"<ul>" + items + t"</ul>", before they reach html()) as one, reported at the chain.
    `pieces` is [(node, atoms)] for t-strings joined to others only at run time: their
    nesting is not judged, each tag still is."""
    if "tdom_units" in context.memo:
        return context.memo["tdom_units"]
    if not context.parsed.template_positions:  # no t-string: no markup (most files)
        context.memo["tdom_units"] = ([], [])
        return context.memo["tdom_units"]
    additions = [n for n in context.nodes if isinstance(n, ast.BinOp) and isinstance(n.op, ast.Add)]
    inner = {id(side) for n in additions for side in (n.left, n.right) if isinstance(side, ast.BinOp)}
    joined, units, names_joined, in_chains = set(), [], set(), set()
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
        units.append((chain, [atom for leaf in leaves for atom in markup.atoms_of(leaf, context.is_template)]))
        in_chains.update(id(leaf) for leaf in templates)
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
    whole, pieces = [], []
    for node in _templates(context):
        if id(node) not in joined:
            whole.append((node, markup.atoms_of(node, context.is_template)))
        elif id(node) not in in_chains:  # a chain's t-strings are judged with their chain
            pieces.append((node, markup.atoms_of(node, context.is_template)))
    context.memo["tdom_units"] = (whole + units, pieces)
    return context.memo["tdom_units"]


# Which rule reports each error of tdom's parser (the start of its message); any other goes to TDOM010.
_PARSER_RULES = (("Mismatched closing tag", "TDOM002"), ("Unexpected closing tag", "TDOM002"),
                 ("Invalid HTML structure", "TDOM002"), ("Component closing tag found", "TDOM002"),
                 ("Parser expects more data", "TDOM002"),
                 ("Component element tags must have", "TDOM003"), ("Component end tags must have", "TDOM003"))
_STATIC = "static check: "


def _parser(context):
    """tdom's own parser when it can judge this file's markup: (version, {id(unit node): verdict}),
    verdict None (accepted) or (rule, message, (line, col) or None); units it could not judge
    are absent. None when tdom >= 0.1.15 is not importable here, or the file is written for tdom
    <= 0.1.14 (by `tdom_version` or its imports)."""
    if "tdom_parser" not in context.memo:
        found, verdicts = markup.tdom_parser(), {}
        if found is not None and _era(context) == "nodes":
            found = None  # the file is written for tdom <= 0.1.14, whose parser is another one
        if found is not None:
            for node, atoms in _markup_units(context)[0]:
                try:
                    verdict = markup.judge_with_tdom(atoms)
                except Exception:  # tdom's parser broke on it: this unit gets the static checks
                    continue
                if verdict is not None:
                    message, where = verdict
                    rule_id = next((r for start, r in _PARSER_RULES if message.startswith(start)), "TDOM010")
                    verdict = (rule_id, "tdom %s's parser: %s" % (found[1], message), where)
                verdicts[id(node)] = verdict
        context.memo["tdom_parser"] = (found[1], verdicts) if found is not None else None
    return context.memo["tdom_parser"]


def _judged(context, rule_id, node):
    """(judged, findings): whether tdom's parser judged this unit, and its finding for `rule_id`."""
    parser = _parser(context)
    if parser is None or id(node) not in parser[1]:
        return False, []
    verdict = parser[1][id(node)]
    if verdict is None or verdict[0] != rule_id:
        return True, []
    _, message, where = verdict
    return True, [_at(node, where, message)]


def _at(node, where, message, **details):
    """A finding at a place in the markup ((line, col) from markup.locate), else at the node."""
    if where is None:
        return Finding(node, message=message, **details)
    line, col = where
    return Finding(line=line, col=col, end_line=line, end_col=col + 1, message=message, **details)


def _static_at(node, atoms, offset, message):
    return _at(node, markup.locate(atoms, offset) if offset is not None else None, _STATIC + message)


def _nesting(text):
    """The first nesting error tdom's parser raises, as (message, offset or None): mismatched,
    unexpected or missing end tags, and a component end tag closing a plain element."""
    stack = []  # (name, component slot or None)
    for kind, name, _, raw, start in _scanned(text):
        if kind == "start" and name.lower() not in _VOID:
            stack.append((name, _component(name)))
        elif kind == "end":
            slot = _component(name)
            if not stack:
                return "unexpected closing tag </%s> with no open tag" % _show(name), start
            opened, opened_slot = stack.pop()
            if opened_slot is None and slot is not None:
                return "component closing tag </%s> for element <%s>" % (_show(name), opened), start
            if opened_slot is not None and slot is None:
                return "mismatched closing tag </%s> for component <%s>" % (name, _show(opened)), start
            if opened_slot is None and opened.lower() != name.lower():
                return "mismatched closing tag </%s> for element <%s>" % (name, opened), start
    if stack:
        return "unclosed tags remain: %s" % ", ".join("<%s>" % _show(n) for n, _ in stack), None
    return None


def _unfinished(text):
    """A tag never closed with '>' at the end of the markup: (message, offset) or None."""
    for kind, _, _, raw, start in _scanned(text):
        if kind == "broken":
            return "a tag is not closed with '>': %s" % _show(raw), start
    return None


@rule("TDOM002", "tdom", message="the markup in this t-string is not well formed",
      hint="close every element in the order it was opened (void elements like <br> need no end tag), and "
           "close a component's tag with its own </{Component}>",
      doc="tdom raises 'Mismatched closing tag', 'Unexpected closing tag', 'Invalid HTML structure: unclosed tags"
          " remain' and 'Component closing tag found for element <div>' (a </{C}> closing a plain element)."
          " Judged by tdom's parser itself where the validators run with tdom importable (`crucible validate"
          " --python 3.14 --with tdom`; the message then starts 'tdom X's parser:'), else by a static check"
          " ('static check:'). A tag left without '>' at the end is always reported: tdom up to 0.1.19 raises"
          " 'Parser expects more data', 0.1.20 drops the tag silently. Fragments joined with + (t'<ul>' + rows +"
          " t'</ul>') are checked as one piece; pieces built up in a variable (body += t'<li>...</li>') or"
          " collected in a list or tuple to be joined later are whole only at run time and are left unchecked."
          " A t-string the file gives only to tdom's position, placeholder, repr or formatting utilities"
          " (tdom.parser_utils, template_utils, placeholders, source, format), directly or through a parameter"
          " of a function it defines, never reaches rendering and is not judged (nor by the other markup rules).",
      bad="html(t'<div><p>{text}</div>')", good="html(t'<div><p>{text}</p></div>')", gate=_has_templates)
def well_formed(context):
    for node, atoms in _markup_units(context)[0]:
        judged, findings = _judged(context, "TDOM002", node)
        text = markup.text_of(atoms)[0]
        if judged:
            yield from findings
            # tdom 0.1.20 accepts a tag left without '>' and drops it: reported when nothing else was.
            unfinished = _unfinished(text) if _parser(context)[1][id(node)] is None else None
            if unfinished:
                yield _static_at(node, atoms, unfinished[1], unfinished[0])
            continue
        error = _nesting(text)  # the scan stops at a tag left without '>'
        if error is None or error[1] is None:
            error = _unfinished(text) or error
        if error:
            yield _static_at(node, atoms, error[1], error[0])


@rule("TDOM003", "tdom", message="a component tag must be exactly one interpolation, and its end tag must match",
      hint="write <{Card}>...</{Card}> with the same callable in both tags, and nothing else in the tag name",
      doc="tdom: 'Component element tags must have exactly one interpolation.' (judged by tdom's parser when it"
          " is importable, as for TDOM002, else by a static check) and 'Component callable in start tag must"
          " match component callable in end tag.' (raised when rendering: always this static check, comparing"
          " the two expressions).",
      bad="html(t'<{Card}>x</{Panel}>')", good="html(t'<{Card}>x</{Card}>')", gate=_has_templates)
def component_tags(context):
    whole, pieces = _markup_units(context)
    for node, atoms in whole + pieces:
        judged, findings = _judged(context, "TDOM003", node)
        yield from findings
        text, expressions = markup.text_of(atoms)
        stack = []
        for kind, name, _, raw, start in _scanned(text):
            if kind not in ("start", "end", "self"):
                continue
            slot = _component(name)
            if slot == -1:
                if not judged:
                    yield _static_at(node, atoms, start, "component tag %s must be exactly one interpolation"
                                     % _show(raw))
                continue
            if kind == "start":
                stack.append(slot)
            elif kind == "end" and stack:
                opened = stack.pop()
                if opened is not None and slot is not None and (
                        ast.dump(expressions[opened]) != ast.dump(expressions[slot])):
                    yield _static_at(node, atoms, start, "component end tag {%s} does not match its start tag {%s}"
                                     % (ast.unparse(expressions[slot]), ast.unparse(expressions[opened])))


def _malformed(text):
    """What tdom's parser rejects in a tag or declaration, found statically: [(message, offset)]."""
    found = []
    for kind, name, attributes, raw, start in _scanned(text):
        if kind in ("start", "self", "broken"):
            for attribute, value in attributes:
                if _SLOT not in attribute:
                    continue
                if value is not None:
                    found.append(("attribute name %s holds an interpolation and has a value (tdom: 'Attribute names"
                                  " cannot contain interpolations if the value is also interpolated.')"
                                  % _show(attribute), start))
                elif not _SLOT_RE.fullmatch(attribute):
                    found.append(("attribute %s is not one spread interpolation (tdom: 'Spread attributes must have"
                                  " exactly one interpolation in the name.')" % _show(attribute), start))
        elif kind == "decl":
            if raw[:7].upper() == "DOCTYPE" and _SLOT in raw:
                found.append(("<!%s> holds an interpolation (tdom: 'Interpolations are not allowed in"
                              " declarations.')" % _show(raw), start))
            elif raw[:7].upper() == "DOCTYPE" and raw[:8].upper() != "DOCTYPE ":
                found.append(("<!%s> is not a DOCTYPE tdom reads: write <!DOCTYPE html> (tdom: 'Only well formed"
                              " DOCTYPE declarations are currently supported.')" % _show(raw), start))
        elif kind in ("pi", "marked") and _SLOT in raw:
            what = "<?...>" if kind == "pi" else "<![...]]>"
            found.append(("an interpolation inside %s, which tdom's parser drops (tdom: 'Some placeholders were"
                          " never resolved.')" % what, start))
    return found


@rule("TDOM010", "tdom", message="tdom's parser rejects this markup",
      hint="write an attribute name without interpolations (name={value}), a spread as one interpolation on its own"
           " ({attrs}, with a space between two), a plain <!DOCTYPE html>, and no interpolation in <!...>, <?...?>"
           " or <![CDATA[...]]>",
      doc="Raised by tdom's parser (tdom >= 0.1.15) before anything renders: an attribute name holding an"
          " interpolation with a value (<div {name}='x'>), a spread that is not exactly one interpolation"
          " (<div {a}{b}>, <div data-{x}>), an interpolation in a declaration (<!DOCTYPE html {x}>), a DOCTYPE"
          " written otherwise than '<!DOCTYPE ...>', an interpolation in a processing instruction or CDATA"
          " section. Judged by tdom's parser itself where the validators run with tdom importable (`crucible"
          " validate --python 3.14 --with tdom`; the message starts 'tdom X's parser:' and repeats its error),"
          " else by a static check of these cases (message starting 'static check:'). Other declarations"
          " (<!FOO>) are not reported: on Python 3.14 tdom 0.1.20 renders them as comments.",
      bad="html(t'<div {name}=\"x\"></div>')", good="html(t'<div {attrs}></div>')", gate=_has_templates)
def parser_rejects(context):
    whole, pieces = _markup_units(context)
    for node, atoms in whole + pieces:
        judged, findings = _judged(context, "TDOM010", node)
        if judged:
            yield from findings
            continue
        for message, offset in _malformed(markup.text_of(atoms)[0]):
            yield _static_at(node, atoms, offset, message)


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


def _content_slots(text):
    """Offsets of the placeholders that stand in element content (where tdom escapes a str),
    not in a tag, a comment, a declaration or the body of <script> or <style>."""
    hidden = []
    for kind, name, _, raw, start in _scanned(text):
        if kind == "raw" and name in ("title", "textarea"):
            continue  # escaped there too: tags in a str show as text
        size = {"comment": 7, "decl": 3, "pi": 3, "marked": 6}.get(kind, 0) + len(raw)
        hidden.append((start, start + size))
    for match in _SLOT_RE.finditer(text):
        if not any(start <= match.start() < end for start, end in hidden):
            yield match


def _assigned(context):
    """name -> [(value, annotated)] for every `x = v` and `x: T = v` in the file, built once."""
    if "tdom_assigned" not in context.memo:
        found = {}
        for node in context.nodes:
            if isinstance(node, ast.Assign):
                for target in node.targets:
                    if isinstance(target, ast.Name):
                        found.setdefault(target.id, []).append((node.value, False))
            elif isinstance(node, ast.AnnAssign) and node.value is not None and isinstance(node.target, ast.Name):
                found.setdefault(node.target.id, []).append((node.value, True))
        context.memo["tdom_assigned"] = found
    return context.memo["tdom_assigned"]


_TAG_IN_TEXT = re.compile(r"<(?:/?[A-Za-z][^<>]*|!--.*?--)>", re.DOTALL)


def _formatted_markup(expression, context, seen=()):
    """When the file shows `expression` is markup built by f-strings, the phrase that says so:
    "an f-string holding markup is", "f-strings holding markup are" (a comprehension or
    str.join() of them), "NAME, bound to an f-string holding markup, is"; else None."""
    if isinstance(expression, ast.JoinedStr) and not context.is_template(expression):
        text = "".join(str(v.value) if isinstance(v, ast.Constant) else "x" for v in expression.values)
        return "an f-string holding markup is" if _TAG_IN_TEXT.search(text) else None
    if isinstance(expression, (ast.ListComp, ast.GeneratorExp, ast.SetComp)):
        return "f-strings holding markup are" if _formatted_markup(expression.elt, context, seen) else None
    if (isinstance(expression, ast.Call) and isinstance(expression.func, ast.Attribute)
            and expression.func.attr == "join" and len(expression.args) == 1):
        return "f-strings holding markup, joined, are" if _formatted_markup(expression.args[0], context, seen) else None
    if isinstance(expression, ast.Name) and expression.id not in seen:
        assigned = [value for value, _ in _assigned(context).get(expression.id, [])]
        if assigned and all(_formatted_markup(v, context, seen + (expression.id,)) for v in assigned):
            return "%s, bound to f-string markup, is" % expression.id
    return None


@rule("TDOM011", "tdom", message="markup built by an f-string is interpolated into a t-string: tdom escapes it, "
      "so its tags show as text",
      hint="build the inner markup as a t-string too (t\"<b>{name}</b>\"); tdom renders a nested Template as markup "
           "and escapes only its interpolations",
      doc="An f-string is a plain str by the time tdom sees it; interpolated into element content (or <title>,"
          " <textarea>) tdom escapes it, so html(t'<div>{f\"<b>{name}</b>\"}</div>') renders"
          " '<div>&lt;b&gt;...&lt;/b&gt;</div>' (checked with tdom 0.1.20), and the f-string's own values were"
          " never escaped. Reported for an f-string whose text holds a tag, a comprehension or str.join() of"
          " them, or a name this file binds only to such values; not in attribute values, comments, <script> or"
          " <style>.",
      bad="html(t'<div>{f\"<b>{name}</b>\"}</div>')", good="html(t'<div>{t\"<b>{name}</b>\"}</div>')",
      gate=_has_templates)
def formatted_markup(context):
    for node in _templates(context):
        atoms = markup.atoms_of(node, context.is_template)
        text, expressions = markup.text_of(atoms)
        for match in _content_slots(text):
            expression = expressions[int(match.group(1))]
            what = _formatted_markup(expression, context)
            if what:
                yield Finding(expression, message="%s interpolated here: tdom escapes it, so the tags show as text"
                              % what)


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
        assigned = [value for value, annotated in _assigned(context).get(expression.id, []) if not annotated]
        kinds = {_markup_value(value, context, seen + (expression.id,)) for value in assigned}
        if assigned and None not in kinds:
            return kinds.pop() if len(kinds) == 1 else "a Template or an iterable"
    return None


def _component_uses(context):
    """[(template node, callable expression, attribute names, has spread, (line, col) of the tag)]
    for every component start or self-closing tag in the file's t-strings."""
    if "tdom_uses" not in context.memo:
        uses = []
        for node in _templates(context):
            atoms = markup.atoms_of(node, context.is_template)
            text, expressions = markup.text_of(atoms)
            for kind, name, attributes, _, start in _scanned(text):
                slot = _component(name) if kind in ("start", "self") else None
                if slot is None or slot < 0:
                    continue
                names = [a for a, _ in attributes]
                spread = any(_SLOT in attribute for attribute in names)
                named = [a.replace("-", "_").lower() for a in names if _SLOT not in a]
                uses.append((node, expressions[slot], named, spread, markup.locate(atoms, start)))
        context.memo["tdom_uses"] = uses
    return context.memo["tdom_uses"]


def _components(context):
    """Callables defined in this file and used as components here: name -> (definition, signature)."""
    found = {}
    for _, expression, _, _, _ in _component_uses(context):
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
          "requires is absent (kebab-case attributes become snake_case parameters). A dataclass component "
          "requires its fields without a default or default_factory; field(init=False), ClassVar and the KW_ONLY "
          "marker are not parameters. Not required from the tag: `children` (tdom passes it) and svcs-di's "
          "Inject[T], also as InitVar[Inject[T]] (the container supplies it). A tag with a spread ({attrs}) is "
          "not judged.",
      bad="def Card(*, title): ...\nhtml(t'<{Card} />')", good="def Card(*, title): ...\nhtml(t'<{Card} title=x />')",
      gate=_has_components)
def missing_parameters(context):
    components = _components(context)
    for node, expression, attributes, spread, where in _component_uses(context):
        if spread or not isinstance(expression, ast.Name) or expression.id not in components:
            continue
        _, signature = components[expression.id]
        missing = [arg.arg for arg in signature.required_named
                   if arg.arg not in attributes and arg.arg not in _SUPPLIED and not _is_injected(arg)]
        if missing:
            yield _at(node, where, message="component %s is missing required parameters: %s"
                          % (expression.id, ", ".join(missing)),
                          hint="add %s to the tag" % " ".join("%s={...}" % m.replace("_", "-") for m in missing))


def _is_injected(argument):
    return argument.annotation is not None and is_injected(argument.annotation)


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
          "template is escaped. For a class component, what its __call__ returns. Applies when `tdom_version` is "
          "0.1.15 or later, or the file imports names only that era has (svg, Scope, ScopedTemplate).",
      bad="def Card(*, title: str) -> str:\n    return html(t'<h2>{title}</h2>')",
      good="def Card(*, title: str) -> Template:\n    return t'<h2>{title}</h2>'",
      gate=_has_components)
def component_returns(context):
    if _era(context) != "templates":
        return
    for name, (definition, _) in sorted(_components(context).items()):
        function, what = definition, "component %s" % name
        if isinstance(definition, ast.ClassDef):
            # tdom makes the instance from the tag's attributes, then calls it: what __call__ returns counts.
            function = next((s for s in definition.body if isinstance(s, (ast.FunctionDef, ast.AsyncFunctionDef))
                             and s.name == "__call__"), None)
            what = "component %s's __call__" % name
            if function is None:
                continue
        if function.returns is not None and last_name(function.returns) in _NOT_A_TEMPLATE:
            yield Finding(function.returns, message="%s is annotated to return %s, not a Template"
                          % (what, dotted_name(function.returns)))
        for statement in own_returns(function):
            value = statement.value
            if isinstance(value, ast.Call) and last_name(value.func) in ("html", "svg"):
                yield Finding(statement, message="%s returns %s(...), a rendered str; return the t-string"
                              % (what, last_name(value.func)))


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

