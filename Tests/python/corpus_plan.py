"""A planted corpus: tasks and scripted model replies whose outcome is known in advance, so
the corpus tests (and the export benchmark) can check stats and gate removals exactly.

Every program is a tdom view with random module-level statements and a random body (words
drawn from a vocabulary), so unrelated programs share little beyond boilerplate (Jaccard of
5-gram shingles well under 0.7), while planted copies share almost everything.

Session shapes (failures are one-line mutations of the task's passing program):
  first    passes at the first attempt
  retry    fails VIEW006 (f-string), then passes                        -> 1 pair
  twice    fails VIEW001 (no @view), fails VIEW006, then passes         -> 2 pairs, near-duplicates of each other
  never    fails VIEW001, VIEW006, VIEW004, VIEW001+VIEW006 (budget 4)  -> no pass
  deletes  fails VIEW006, then "passes" by deleting the view            -> a fake fix
  silences fails VIEW006, then "passes" with `# crucible: ignore`       -> a fake fix
  copy     passes at once with another task's program plus a docstring and a comment (exact duplicate)
  near     passes at once with another task's program, one name changed (near duplicate)
"""

import json
import random

WORDS = """amber basil cedar delta ember falcon garnet harbor indigo juniper kestrel lumen maple
nectar onyx pepper quartz raven sable tundra umber velvet willow xenon yarrow zephyr anchor
beacon canyon dune estuary fjord glacier hollow island jetty knoll lagoon mesa nook oasis
prairie quarry ridge summit thicket upland valley wharf acorn bramble clover daisy fern
gorse heather iris jasmine kelp lichen moss nettle orchid poppy quince reed sorrel thistle
violet wheat yew zinnia arc bolt cog dial easel flask gear hinge ink jar key lever magnet
nozzle oar piston quill rivet spool tack valve wick yoke zipper""".split()

SHAPES = ("first", "retry", "twice", "never", "deletes", "silences", "copy", "near")


def _name(rng, parts=2):
    return "_".join(rng.sample(WORDS, parts))


def program(rng):
    """A passing view; returns (lines, facts) where facts name the mutable parts."""
    service = rng.choice(WORDS)
    service_class = service.capitalize() + "Service"
    item = _name(rng)
    lines = ["from tdom import html, Element", "from app.views import view", ""]
    for _ in range(3):
        lines.append("%s = %s.%s(%d)" % (_name(rng), rng.choice(WORDS), _name(rng), rng.randint(1, 999)))
    lines += ["", "", "@view",
              "def %s_view(%s_id: int, *, %s_service: %s) -> Element:" % (_name(rng), item, service, service_class),
              "    %s = %s_service.get(%s_id)" % (item, service, item)]
    for _ in range(4):
        lines.append("    %s = %s.%s(%s, %d)" % (_name(rng), item, _name(rng), rng.choice(WORDS), rng.randint(1, 99)))
    first, second = rng.sample(WORDS, 2)
    lines.append('    return html(t"<section class=\'%s\'><h2>{%s.%s}</h2><p>{%s.%s}</p></section>")'
                 % (rng.choice(WORDS), item, first, item, second))
    return lines


def _return_index(lines):
    return next(i for i, line in enumerate(lines) if line.lstrip().startswith("return html("))


def mutate(lines, how):
    out = list(lines)
    if how in ("fstring", "both"):
        index = _return_index(out)
        out[index] = out[index].replace('html(t"', 'html(f"')
    if how in ("decorator", "both"):
        out.remove("@view")
    if how == "positional":
        index = next(i for i, line in enumerate(out) if line.startswith("def "))
        out[index] = out[index].replace("*, ", "")
    return out


def reply(lines, note="Here it is."):
    return "%s\n\n```python\n%s\n```\n" % (note, "\n".join(lines))


def build(counts, seed=7):
    """counts: {shape: sessions}. Returns (tasks, scripts, expected, plants)."""
    rng = random.Random(seed)
    tasks, scripts, originals = [], [], []
    plants = {"copy": [], "near": [], "deletes": [], "silences": []}
    number = 0

    def add(shape, replies):
        nonlocal number
        number += 1
        task_id = "%s-%05d" % (shape, number)
        text = "Task %s: write the view number %d." % (task_id, number)
        tasks.append({"id": task_id, "task": text, "kind": "view"})
        scripts.append({"task": text, "replies": replies})
        return task_id

    # Originals first, so each copy comes after the program it copies.
    for shape in ("first", "retry", "twice", "never", "deletes", "silences"):
        for _ in range(counts.get(shape, 0)):
            lines = program(rng)
            if shape == "first":
                task_id = add(shape, [reply(lines)])
                originals.append((task_id, lines))
            elif shape == "retry":
                add(shape, [reply(mutate(lines, "fstring")), reply(lines, "Fixed.")])
            elif shape == "twice":
                add(shape, [reply(mutate(lines, "decorator")), reply(mutate(lines, "fstring")), reply(lines, "Fixed.")])
            elif shape == "never":
                add(shape, [reply(mutate(lines, m)) for m in ("decorator", "fstring", "positional", "both")])
            elif shape == "deletes":
                start = lines.index("@view")
                plants["deletes"].append(add(shape, [reply(mutate(lines, "fstring")),
                                                     reply(lines[:start - 2], "Removed the view.")]))
            elif shape == "silences":
                bad = mutate(lines, "fstring")
                silenced = list(bad)
                index = _return_index(silenced)
                silenced[index] += "  # crucible: ignore[VIEW006]"
                plants["silences"].append(add(shape, [reply(bad), reply(silenced, "Silenced.")]))
    for index in range(counts.get("copy", 0)):
        source_id, lines = originals[index % len(originals)]
        copied = list(lines)
        at = copied.index("@view") + 2  # after the def line: a docstring, and a comment elsewhere
        copied.insert(at, '    """Shows the item."""')
        copied.insert(3, "# generated")
        plants["copy"].append((add("copy", [reply(copied)]), source_id))
    for index in range(counts.get("near", 0)):
        source_id, lines = originals[-1 - index % len(originals)]
        changed = list(lines)
        index_return = _return_index(changed)
        changed[index_return] = changed[index_return].replace("<section class='", "<section class='x")
        plants["near"].append((add("near", [reply(changed)]), source_id))

    c = {shape: counts.get(shape, 0) for shape in SHAPES}
    attempts = (c["first"] + 2 * c["retry"] + 3 * c["twice"] + 4 * c["never"] + 2 * c["deletes"]
                + 2 * c["silences"] + c["copy"] + c["near"])
    sessions = sum(c.values())
    first = c["first"] + c["copy"] + c["near"]
    passed = first + c["retry"] + c["twice"] + c["deletes"] + c["silences"]
    expected = {
        "sessions": sessions, "attempts": attempts, "passed_first_attempt": first, "passed_within_budget": passed,
        "failed_sessions": c["never"],
        "rules": {"VIEW006": c["retry"] + c["twice"] + 2 * c["never"] + c["deletes"] + c["silences"],
                  "VIEW001": c["twice"] + 2 * c["never"], "VIEW004": c["never"]},
        "positives": passed,
        "pairs": c["retry"] + 2 * c["twice"] + c["deletes"] + c["silences"],
        "negatives": c["retry"] + 2 * c["twice"] + 4 * c["never"] + c["deletes"] + c["silences"],
        # What each gate must remove, by role.
        "gates": {
            "exact-duplicate": {"positive": c["copy"], "pair": 0, "negative": 0},
            "near-duplicate": {"positive": c["near"], "pair": c["twice"], "negative": c["twice"] + 3 * c["never"]},
            "fake-fix": {"positive": c["deletes"] + c["silences"], "pair": c["deletes"] + c["silences"], "negative": 0},
        },
    }
    return tasks, scripts, expected, plants


def write(folder, counts, seed=7):
    tasks, scripts, expected, plants = build(counts, seed)
    with open(folder / "tasks.jsonl", "w") as handle:
        for task in tasks:
            handle.write(json.dumps(task) + "\n")
    with open(folder / "replies.jsonl", "w") as handle:
        for script in scripts:
            handle.write(json.dumps(script) + "\n")
    return expected, plants


def _finding(rule, lines, needle):
    line = next((i for i, text in enumerate(lines, 1) if needle in text), 1)
    return {"rule": rule, "severity": "error", "message": rule, "hint": "", "path": "<attempt>", "line": line, "column": 0}


_FINDINGS = {
    "fstring": [("VIEW006", 'html(f"')],
    "decorator": [("VIEW001", "def ")],
    "positional": [("VIEW004", "def ")],
    "both": [("VIEW001", "def "), ("VIEW006", 'html(f"')],
}


def records(counts, seed=7):
    """The same planted shapes as attempt records (the `crucible generate` record shape),
    made directly: for corpora too large to script through the retry loop (the export
    benchmark's 100,000 attempts). Yields dicts."""
    rng = random.Random(seed)
    system = "You write one view function for a tdom web app. Reply with the code in one ```python block."
    number = 0
    originals = []

    def session(shape, attempts):
        nonlocal number
        number += 1
        session_id = "%s-%06d" % (shape, number)
        task = "Task %s: write the view number %d." % (session_id, number)
        for index, (lines, mutation, passed) in enumerate(attempts, 1):
            findings = [_finding(rule, lines, needle) for rule, needle in _FINDINGS.get(mutation, [])]
            code = "\n".join(lines)
            yield {"session_id": session_id, "task_id": session_id, "task": task, "kind": "view", "attempt": index,
                   "max_attempts": 4, "model": "planted", "passed": passed, "code": code,
                   "reply": {"content": reply(lines)}, "diagnostics": findings,
                   "messages": [{"role": "system", "content": system}, {"role": "user", "content": task}],
                   "feedback": None if passed else "fix " + ",".join(f["rule"] for f in findings),
                   "started_at": "2026-11-%02dT10:00:00Z" % (1 + number % 20)}

    for shape in ("first", "retry", "twice", "never", "deletes", "silences"):
        for _ in range(counts.get(shape, 0)):
            lines = program(rng)
            if shape == "first":
                originals.append(lines)
                yield from session(shape, [(lines, None, True)])
            elif shape == "retry":
                yield from session(shape, [(mutate(lines, "fstring"), "fstring", False), (lines, None, True)])
            elif shape == "twice":
                yield from session(shape, [(mutate(lines, "decorator"), "decorator", False),
                                           (mutate(lines, "fstring"), "fstring", False), (lines, None, True)])
            elif shape == "never":
                yield from session(shape, [(mutate(lines, m), m, False) for m in ("decorator", "fstring", "positional", "both")])
            elif shape == "deletes":
                start = lines.index("@view")
                yield from session(shape, [(mutate(lines, "fstring"), "fstring", False), (lines[:start - 2], None, True)])
            elif shape == "silences":
                bad = mutate(lines, "fstring")
                silenced = list(bad)
                silenced[_return_index(silenced)] += "  # crucible: ignore[VIEW006]"
                yield from session(shape, [(bad, "fstring", False), (silenced, None, True)])
    for index in range(counts.get("copy", 0)):
        copied = list(originals[index % len(originals)])
        copied.insert(copied.index("@view") + 2, '    """Shows the item."""')
        copied.insert(3, "# generated")
        yield from session("copy", [(copied, None, True)])
    for index in range(counts.get("near", 0)):
        changed = list(originals[-1 - index % len(originals)])
        at = _return_index(changed)
        changed[at] = changed[at].replace("<section class='", "<section class='x")
        yield from session("near", [(changed, None, True)])


def with_trace(record, number):
    """Three tool calls as the host records them: git_log, read_file (its path flowed from the
    log), ruff_check; `author` null in every result (a planted tool bug for the analytics)."""
    calls = [
        {"index": 0, "tool": "git_log", "arguments": {"limit": 5}, "duration_ms": 2.0 + number % 7, "outcome": "ok",
         "result_bytes": 420, "result_fields": {"commits": [1, 0], "commits[].author": [5, 5], "commits[].subject": [5, 0],
                                                 "commits[].path": [5, 0]}},
        {"index": 1, "tool": "read_file", "arguments": {"path": "app/views.py"}, "duration_ms": 0.5 + number % 3,
         "outcome": "ok", "result_bytes": 900, "result_fields": {"content": [1, 0], "path": [1, 0]}},
        {"index": 2, "tool": "ruff_check", "arguments": {"paths": ["app"]}, "duration_ms": 30.0 + number % 11,
         "outcome": "ok" if number % 10 else "tool_error", "result_bytes": 80, "result_fields": {"findings": [1, 0]}},
    ]
    reads = [{"call": 0, "tool": "git_log", "path": "commits[].subject"}, {"call": 0, "tool": "git_log", "path": "commits[].author"},
             {"call": 1, "tool": "read_file", "path": "content"}]
    flows = [{"from_call": 0, "from_tool": "git_log", "from_path": "commits[].path", "to_call": 1, "to_tool": "read_file",
              "argument": "path"}]
    record["runtime"] = {"status": "ran", "outcome": "ok", "trace": {"tool_calls": calls, "field_reads": reads, "data_flows": flows}}
    return record
