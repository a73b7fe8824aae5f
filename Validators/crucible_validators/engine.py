"""Runs rulesets over sources and returns diagnostics as plain dicts.

A rule is a function `check(context)` yielding `Finding`s, registered with its metadata
(stable ID, severity, one-line message, fix hint, doc with a failing and a passing example)
by `rule(...)`. Rulesets are modules under `rules/` (or a user's own module, loaded by
path). Inline suppressions: `# crucible: ignore[ID, ...]` on the offending line; a
suppression that suppresses nothing is itself reported (CRU001).
"""

import ast
import fnmatch
import gc
import importlib
import re

from . import signatures
from . import source as parsing
from . import fastwalk

RULES = {}  # id -> Rule
RULESETS = {}  # name -> [rule ids]

_SUPPRESSION = re.compile(r"#\s*crucible:\s*ignore\[([A-Z0-9_, ]+)\]")


class Rule:
    def __init__(self, rule_id, ruleset, severity, message, hint, doc, bad, good, check, gate=None, project=False):
        self.gate = gate  # gate(text, config) -> False when the rule cannot fire on this text
        self.project = project  # checks facts collected from all files, not one file's tree
        self.id, self.ruleset, self.severity = rule_id, ruleset, severity
        self.message, self.hint, self.doc, self.bad, self.good, self.check = message, hint, doc, bad, good, check

    def describe(self):
        return {"id": self.id, "ruleset": self.ruleset, "severity": self.severity, "message": self.message,
                "hint": self.hint, "doc": self.doc, "failing_example": self.bad, "passing_example": self.good}


def rule(rule_id, ruleset, *, severity="error", message, hint, doc, bad, good, gate=None, project=False):
    """Registers the decorated check under a stable ID. `gate(text, config)` is a cheap text
    test that must be true for the rule to fire at all: most files skip the tree walk.

    A `project` rule sees every file analyzed together: its check gets a `Project` (the facts
    its ruleset's collector gathered from each file) and yields (path, Finding) pairs."""

    def register(check):
        RULES[rule_id] = Rule(rule_id, ruleset, severity, message, hint, doc, bad, good, check, gate, project)
        RULESETS.setdefault(ruleset, []).append(rule_id)
        return check

    return register


COLLECTORS = {}  # ruleset -> (collect(context) -> JSON-able facts, gate, otherwise)


def collector(ruleset, gate=None, otherwise=None):
    """Registers what a ruleset's project rules need from one file. Facts must be plain JSON
    (they cross from the batch that parsed the file to the job that sees all files).
    `otherwise(context)`, if given, collects from the files the gate closes on: what a file
    that cannot fire the rules still tells them (the names it defines and imports, so that
    names used elsewhere can be traced to it)."""

    def register(collect):
        COLLECTORS[ruleset] = (collect, gate, otherwise)
        return collect

    return register


class Project:
    """All files' facts for project rules: `facts[path][ruleset]`."""

    def __init__(self, facts, config):
        self.facts, self.config = facts, config
        self.memo = {}  # what a ruleset's project rules share (e.g. names traced across files)

    def of(self, ruleset):
        """[(path, facts)] of the files that have facts for this ruleset, in path order."""
        return [(path, found[ruleset]) for path, found in sorted(self.facts.items()) if ruleset in found]


class Finding:
    """Where a rule fired; message and hint default to the rule's own."""

    def __init__(self, node=None, *, line=None, col=None, end_line=None, end_col=None, message=None, hint=None):
        if node is not None:
            line, col = node.lineno, node.col_offset
            end_line, end_col = getattr(node, "end_lineno", None) or line, getattr(node, "end_col_offset", None)
        self.line, self.col = line, col or 0
        self.end_line = end_line or line
        self.end_col = end_col if end_col is not None else self.col + 1
        self.message, self.hint = message, hint

    @classmethod
    def on_name(cls, definition, **details):
        """A finding on `def name` / `class name`: the definition's own line, not its
        decorators or body."""
        keyword = {ast.ClassDef: "class ", ast.AsyncFunctionDef: "async def "}.get(type(definition), "def ")
        return cls(line=definition.lineno, col=definition.col_offset, end_line=definition.lineno,
                   end_col=definition.col_offset + len(keyword) + len(definition.name), **details)


class Context:
    """What a rule sees: the parsed file, its path and the configuration."""

    def __init__(self, parsed, path, config):
        self.parsed, self.tree, self.path, self.config = parsed, parsed.tree, path, config
        self._nodes = self._functions = self._calls = self._definitions = None
        self.memo = {}  # per-file results rules share (e.g. the component tags of tdom's rules)

    def is_template(self, node):
        return self.parsed.is_template(node)

    @property
    def rulesets(self):
        return self.config.get("rulesets") or list(BUILTIN_RULESETS)

    @property
    def nodes(self):
        """Every node of the tree, walked once and shared by all rules."""
        if self._nodes is None:
            self._nodes = fastwalk.walk(self.tree)
        return self._nodes

    @property
    def functions(self):
        if self._functions is None:
            self._functions = [n for n in self.nodes if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef))]
        return self._functions

    @property
    def definitions(self):
        """`def` and `class` statements by name (names defined twice left out)."""
        if self._definitions is None:
            self._definitions = signatures.definitions(self.tree)
        return self._definitions

    @property
    def calls(self):
        if self._calls is None:
            self._calls = [n for n in self.nodes if isinstance(n, ast.Call)]
        return self._calls


BUILTIN_RULESETS = ("view", "tdom", "svcs", "svcs-di", "middleware")

# Findings the engine itself makes (always on unless ignored; SYNTAX cannot be ignored).
RULES["TSTR001"] = Rule(
    "TSTR001", "core", "error", "a t-string is concatenated with a string that is not a t-string",
    "make every part a t-string (t\"a\" t\"b\") or join them into one t-string",
    "Python 3.14 rejects implicit concatenation of a t-string with a str or f-string.",
    "html(t'<p>{x}</p>' '<hr/>')", "html(t'<p>{x}</p>' t'<hr/>')", None)
RULES["PY314"] = Rule(
    "PY314", "core", "error", "this file needs Python 3.14 to be parsed",
    "validate it on Python 3.14: `crucible validate --python 3.14` (`crucible python install 3.14` installs it)",
    "Validators running on an older Python read t-strings by rewriting them as f-strings; a t-string that "
    "this cannot carry (one reusing its own quotes inside {...}, PEP 701) is not a syntax error in 3.14, "
    "so it is reported as unparsed here instead of as SYNTAX. On 3.14 the file is parsed natively.",
    "t\"<p>{d[\"k\"]}</p>\"  # on 3.11", "crucible validate --python 3.14 app/", None)
RULES["CRU001"] = Rule(
    "CRU001", "core", "warning", "unused suppression", "remove the suppression",
    "A `# crucible: ignore[ID]` comment on a line where ID does not fire hides nothing and rots.",
    "x = 1  # crucible: ignore[VIEW006]", "x = 1", None)


def load_rulesets(names=BUILTIN_RULESETS, extra_modules=()):
    for name in names:
        importlib.import_module("crucible_validators.rules." + name.replace("-", "_"))
    for module in extra_modules:
        importlib.import_module(module)


class RuleCrashed(Exception):
    """A rule raised: an internal error (exit 2), named with the rule and the file."""


def validate(text, path, config=None, facts=None, parsed=None, selected=None):
    """Diagnostics of the per-file rules for one source text (sorted by position). When `facts`
    (a dict) is given, the collectors of selected project rules add this file's facts to it.
    `parsed` (from source.parse, not modified since) saves a caller that parsed already a parse;
    `selected` (`_selected_rules(config)`) one that validates many files with one configuration
    the same selection for each."""
    config = config or {}
    if selected is None:
        selected = _selected_rules(config)
    parsed = parsed or parsing.parse(text, path)
    diagnostics = []
    for problem in parsed.problems:
        rule_id, message, line, col, end_line, end_col, hint = problem
        diagnostics.append(_diagnostic(rule_id, "error", message, hint, path, line, col, end_line, end_col))
    file_facts = {}
    if parsed.tree is not None:
        context = Context(parsed, path, config)
        gates = {}  # gate -> result: rules share gates, and each is a scan of the whole text

        def opens(gate):
            if gate is None:
                return True
            if gate not in gates:
                gates[gate] = gate(text, config)
            return gates[gate]

        collected = set()
        for rule_id in selected:
            current = RULES[rule_id]
            try:
                if current.project:
                    collect, gate, otherwise = COLLECTORS[current.ruleset]
                    if current.ruleset not in collected:
                        collected.add(current.ruleset)
                        if opens(gate):
                            file_facts[current.ruleset] = collect(context)
                        elif otherwise is not None:
                            file_facts[current.ruleset] = otherwise(context)
                    continue
                if not opens(current.gate):
                    continue
                for finding in current.check(context) or ():
                    diagnostics.append(_diagnostic(
                        rule_id, current.severity, finding.message or current.message,
                        finding.hint or current.hint, path, finding.line, finding.col, finding.end_line,
                        finding.end_col))
            except Exception as error:
                raise RuleCrashed("rule %s crashed on %s: %s: %s" % (
                    rule_id, path, type(error).__name__, error)) from error
    if "crucible:" in text:  # cheap test first: splitting every file into lines is not free
        lines = text.splitlines()
        wanted = _suppressions(lines)
        later = {n: {i for i in ids if i in RULES and RULES[i].project} for n, ids in wanted.items()}
        later = {n: sorted(ids) for n, ids in later.items() if ids}
        if later:  # project rules report later; their suppressions travel with the facts
            file_facts["suppressions"] = {"wanted": {str(n): ids for n, ids in later.items()},
                                          "lines": {str(n): lines[n - 1] for n in later}}
        diagnostics = _apply_suppressions(diagnostics, lines, path, wanted, skip=later)
    if facts is not None and file_facts:
        facts[path] = file_facts
    diagnostics = [d for d in diagnostics if d["rule"] in ("SYNTAX", "PY314") or _wanted(d["rule"], config, path)]
    diagnostics.sort(key=lambda d: (d["line"], d["column"], d["rule"]))
    return diagnostics


def finish(facts, config=None):
    """Diagnostics of the project rules over the facts of every file analyzed together."""
    config = config or {}
    load_rulesets(BUILTIN_RULESETS)
    load_user_modules(config.get("user_modules") or [])
    project = Project(facts, config)
    by_path = {}
    for rule_id in _selected_rules(config):
        current = RULES[rule_id]
        if not current.project:
            continue
        for path, finding in current.check(project) or ():
            by_path.setdefault(path, []).append(_diagnostic(
                rule_id, current.severity, finding.message or current.message, finding.hint or current.hint,
                path, finding.line, finding.col, finding.end_line, finding.end_col))
    out = []
    for path in sorted(set(by_path) | {p for p, f in facts.items() if "suppressions" in f}):
        diagnostics = by_path.get(path, [])
        suppressions = facts.get(path, {}).get("suppressions")
        if suppressions:
            wanted = {int(n): set(ids) for n, ids in suppressions["wanted"].items()}
            lines = {int(n): text for n, text in suppressions["lines"].items()}
            diagnostics = _apply_suppressions(diagnostics, lines, path, wanted)
        out.extend(d for d in diagnostics if _wanted(d["rule"], config, path))
    out.sort(key=lambda d: (d["path"], d["line"], d["column"], d["rule"]))
    return out


USER_RULESETS = []  # rulesets registered by the user's own rule modules, in load order


def _selected_rules(config):
    rulesets = config.get("rulesets") or list(BUILTIN_RULESETS) + USER_RULESETS
    return [i for name in rulesets for i in RULESETS.get(name, []) if _wanted(i, config)]


def _wanted(rule_id, config, path=None):
    """--select / --ignore by ID or prefix, and per-file ignores by glob."""
    select = config.get("select") or []
    if select and not any(rule_id.startswith(s) for s in select):
        return False
    ignored = list(config.get("ignore") or [])
    if path is not None:
        for pattern, ids in (config.get("per_file_ignores") or {}).items():
            if fnmatch.fnmatch(path, pattern) or fnmatch.fnmatch(path, "*/" + pattern):
                ignored.extend(ids)
    return not any(rule_id.startswith(s) for s in ignored)


def load_user_modules(modules):
    """The user's own rule modules, given as [(name, source)]: executed as modules that use
    `rule` and `Finding` from this engine. They run here, inside the sandbox, like model code."""
    import types
    for name, source in modules:
        before = set(RULESETS)
        module = types.ModuleType("crucible_user_rules.%s" % name)
        module.__file__ = name
        exec(compile(source, name, "exec"), module.__dict__)
        for ruleset in RULESETS:
            if ruleset not in before and ruleset not in USER_RULESETS:
                USER_RULESETS.append(ruleset)


def _diagnostic(rule_id, severity, message, hint, path, line, col, end_line, end_col):
    # Columns are 1-based in output, as in ruff and SARIF.
    return {"rule": rule_id, "severity": severity, "message": message, "hint": hint, "path": path,
            "line": line, "column": col + 1, "end_line": end_line, "end_column": end_col + 1}


def _suppressions(lines):
    """{line number: {rule IDs}} of `# crucible: ignore[...]` comments."""
    wanted = {}
    for number, text in enumerate(lines, 1):
        match = _SUPPRESSION.search(text)
        if match:
            wanted[number] = {part.strip() for part in match.group(1).split(",") if part.strip()}
    return wanted


def _apply_suppressions(diagnostics, lines, path, wanted, skip=None):
    """Drops suppressed diagnostics and reports unused suppressions (CRU001), except those in
    `skip` ({line: IDs}) which the project phase judges. `lines` maps numbers to text, by
    index (a list, 1-based numbers) or by key (a dict)."""
    if not wanted:
        return diagnostics
    skip = skip or {}

    def line_text(number):
        return lines[number] if isinstance(lines, dict) else lines[number - 1]
    used = set()
    kept = []
    for diagnostic in diagnostics:
        ids = wanted.get(diagnostic["line"], ())
        if diagnostic["rule"] in ids:
            used.add((diagnostic["line"], diagnostic["rule"]))
            continue
        kept.append(diagnostic)
    for number, ids in wanted.items():
        for rule_id in sorted(ids):
            if (number, rule_id) not in used and rule_id not in skip.get(number, ()):
                text = line_text(number)
                column = text.find("#") + 1
                kept.append(_diagnostic("CRU001", "warning", "unused suppression of %s" % rule_id,
                                        "remove the suppression; nothing on this line triggers %s" % rule_id,
                                        path, number, column - 1, number, len(text)))
    return kept


def validate_many(files, config=None):
    """[(path, text)] -> {"diagnostics": per-file rules' findings, "facts": {path: project facts}}
    for one job's batch; `finish` turns the facts of all batches into project findings."""
    load_rulesets(BUILTIN_RULESETS)
    load_user_modules((config or {}).get("user_modules") or [])
    out = []
    facts = {}
    # Syntax trees hold no reference cycles, so refcounting frees them; the cycle collector
    # would only rescan them (BENCHMARKS.md, "Design measurements": validator GC).
    collecting = gc.isenabled()
    gc.disable()
    try:
        selected = _selected_rules(config or {})
        for path, text in files:
            out.extend(validate(text, path, config, facts, selected=selected))
    finally:
        if collecting:
            gc.enable()
    return {"diagnostics": out, "facts": facts}


def describe_rules(user_modules=()):
    load_rulesets()
    load_user_modules(user_modules)
    return [RULES[i].describe() for i in sorted(RULES)]
