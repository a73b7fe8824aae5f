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

from . import source as parsing

RULES = {}  # id -> Rule
RULESETS = {}  # name -> [rule ids]

_SUPPRESSION = re.compile(r"#\s*crucible:\s*ignore\[([A-Z0-9_, ]+)\]")


class Rule:
    def __init__(self, rule_id, ruleset, severity, message, hint, doc, bad, good, check, gate=None):
        self.gate = gate  # gate(text, config) -> False when the rule cannot fire on this text
        self.id, self.ruleset, self.severity = rule_id, ruleset, severity
        self.message, self.hint, self.doc, self.bad, self.good, self.check = message, hint, doc, bad, good, check

    def describe(self):
        return {"id": self.id, "ruleset": self.ruleset, "severity": self.severity, "message": self.message,
                "hint": self.hint, "doc": self.doc, "failing_example": self.bad, "passing_example": self.good}


def rule(rule_id, ruleset, *, severity="error", message, hint, doc, bad, good, gate=None):
    """Registers the decorated check under a stable ID. `gate(text, config)` is a cheap text
    test that must be true for the rule to fire at all: most files skip the tree walk."""

    def register(check):
        RULES[rule_id] = Rule(rule_id, ruleset, severity, message, hint, doc, bad, good, check, gate)
        RULESETS.setdefault(ruleset, []).append(rule_id)
        return check

    return register


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


class Context:
    """What a rule sees: the parsed file, its path and the configuration."""

    def __init__(self, parsed, path, config):
        self.parsed, self.tree, self.path, self.config = parsed, parsed.tree, path, config
        self._nodes = self._functions = self._calls = None

    def is_template(self, node):
        return self.parsed.is_template(node)

    @property
    def rulesets(self):
        return self.config.get("rulesets") or list(BUILTIN_RULESETS)

    @property
    def nodes(self):
        """Every node of the tree, walked once and shared by all rules."""
        if self._nodes is None:
            self._nodes = list(ast.walk(self.tree))
        return self._nodes

    @property
    def functions(self):
        if self._functions is None:
            self._functions = [n for n in self.nodes if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef))]
        return self._functions

    @property
    def calls(self):
        if self._calls is None:
            self._calls = [n for n in self.nodes if isinstance(n, ast.Call)]
        return self._calls


BUILTIN_RULESETS = ("view", "tdom")

# Findings the engine itself makes (always on unless ignored; SYNTAX cannot be ignored).
RULES["TSTR001"] = Rule(
    "TSTR001", "core", "error", "a t-string is concatenated with a string that is not a t-string",
    "make every part a t-string (t\"a\" t\"b\") or join them into one t-string",
    "Python 3.14 rejects implicit concatenation of a t-string with a str or f-string.",
    "html(t'<p>{x}</p>' '<hr/>')", "html(t'<p>{x}</p>' t'<hr/>')", None)
RULES["CRU001"] = Rule(
    "CRU001", "core", "warning", "unused suppression", "remove the suppression",
    "A `# crucible: ignore[ID]` comment on a line where ID does not fire hides nothing and rots.",
    "x = 1  # crucible: ignore[VIEW006]", "x = 1", None)


def load_rulesets(names=BUILTIN_RULESETS, extra_modules=()):
    for name in names:
        importlib.import_module("crucible_validators.rules." + name.replace("-", "_"))
    for module in extra_modules:
        importlib.import_module(module)


def validate(text, path, config=None):
    """Diagnostics for one source text (sorted by position)."""
    config = config or {}
    selected = _selected_rules(config)
    parsed = parsing.parse(text, path)
    diagnostics = []
    for problem in parsed.problems:
        rule_id, message, line, col, end_line, end_col, hint = problem
        diagnostics.append(_diagnostic(rule_id, "error", message, hint, path, line, col, end_line, end_col))
    if parsed.tree is not None:
        context = Context(parsed, path, config)
        for rule_id in selected:
            current = RULES[rule_id]
            if current.gate is not None and not current.gate(text, config):
                continue
            for finding in current.check(context) or ():
                diagnostics.append(_diagnostic(
                    rule_id, current.severity, finding.message or current.message, finding.hint or current.hint,
                    path, finding.line, finding.col, finding.end_line, finding.end_col))
    if "crucible:" in text:  # cheap test first: splitting every file into lines is not free
        diagnostics = _apply_suppressions(diagnostics, text.splitlines(), path)
    diagnostics = [d for d in diagnostics if d["rule"] == "SYNTAX" or _wanted(d["rule"], config, path)]
    diagnostics.sort(key=lambda d: (d["line"], d["column"], d["rule"]))
    return diagnostics


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


def _apply_suppressions(diagnostics, lines, path):
    wanted = {}
    for number, text in enumerate(lines, 1):
        match = _SUPPRESSION.search(text)
        if match:
            wanted[number] = {part.strip() for part in match.group(1).split(",") if part.strip()}
    if not wanted:
        return diagnostics
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
            if (number, rule_id) not in used:
                column = lines[number - 1].find("#") + 1
                kept.append(_diagnostic("CRU001", "warning", "unused suppression of %s" % rule_id,
                                        "remove the suppression; nothing on this line triggers %s" % rule_id,
                                        path, number, column - 1, number, len(lines[number - 1])))
    return kept


def validate_many(files, config=None):
    """[(path, text)] -> diagnostics for all of them (one job's batch)."""
    load_rulesets(BUILTIN_RULESETS)
    load_user_modules((config or {}).get("user_modules") or [])
    out = []
    # Syntax trees hold no reference cycles, so refcounting frees them; the cycle collector
    # would only rescan them (about 20% of the time on the stdlib).
    collecting = gc.isenabled()
    gc.disable()
    try:
        for path, text in files:
            out.extend(validate(text, path, config))
    finally:
        if collecting:
            gc.enable()
    return out


def describe_rules(user_modules=()):
    load_rulesets()
    load_user_modules(user_modules)
    return [RULES[i].describe() for i in sorted(RULES)]
