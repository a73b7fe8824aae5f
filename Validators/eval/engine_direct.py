"""Runs the validators of one Validators/ folder directly in this interpreter, outside the
sandbox, and prints the findings as `crucible validate --format json` does. Used to run an
older copy of the validators (PRECISION.md's "before" column: `git archive HEAD Validators`)
and to profile the engine; `crucible validate` stays the reference for everything else.

Run it with Python 3.14 (native t-string and PEP 695 parsing), e.g. the interpreter of
crucible's 3.14 image:

    python3.14 engine_direct.py VALIDATORS_DIR ROOT [ROOT ...] [--profile OUT.prof]

Files are `*.py` under each ROOT, skipping the folders crucible validate skips (hidden ones,
venv, __pycache__, node_modules), paths relative to the current folder.
All files go through one `validate_many` batch, then `finish` (the project phase), which gives
the same findings as crucible's parallel batches: project facts are kept per file.
"""
import json
import os
import sys
import time

SKIP = {"venv", "__pycache__", "node_modules"}  # and every hidden folder, as ValidateCommand.swift


def python_files(roots):
    for root in roots:
        if os.path.isfile(root):
            yield root
            continue
        for folder, subfolders, names in os.walk(root):
            subfolders[:] = sorted(s for s in subfolders if not s.startswith(".") and s not in SKIP)
            for name in sorted(names):
                if name.endswith(".py"):
                    yield os.path.relpath(os.path.join(folder, name))


def main(argv):
    profile = None
    if "--profile" in argv:
        at = argv.index("--profile")
        profile = argv[at + 1]
        del argv[at:at + 2]
    validators, roots = argv[0], argv[1:]
    sys.path.insert(0, os.path.abspath(validators))
    from crucible_validators import engine

    files = []
    for path in python_files(roots):
        with open(path, encoding="utf-8", errors="replace") as handle:
            files.append((path, handle.read()))
    timings = {}

    def run():
        start = time.perf_counter()
        batch = engine.validate_many(files)
        timings["files"] = time.perf_counter() - start
        start = time.perf_counter()
        project = engine.finish(batch["facts"])
        timings["project"] = time.perf_counter() - start
        start = time.perf_counter()
        text = json.dumps(batch["diagnostics"] + project)
        timings["json"] = time.perf_counter() - start
        return text

    if profile:
        import cProfile
        profiler = cProfile.Profile()
        text = profiler.runcall(run)
        profiler.dump_stats(profile)
    else:
        text = run()
    print(text)
    print("engine_direct: %d files; per-file rules %.2f s, project phase %.2f s, JSON %.3f s (wall); "
          "%.2f s CPU in all" % (len(files), timings["files"], timings["project"], timings["json"],
                                 time.process_time()), file=sys.stderr)


if __name__ == "__main__":
    main(sys.argv[1:])
