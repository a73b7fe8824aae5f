"""Checks that two crucible binaries export the same thing: plants the benchmark's corpus
(Tests/python/corpus_plan.py shapes with tool traces, x SCALE), imports it once, exports
every format with each binary into its own folder, and compares the folders file by file:
bytes equal, except manifest.json's `created_at` (the time of the export). Exit 1 on any
difference, naming the files. Run it when changing the exporter or the code facts for speed:

    python3 Benchmarks/diagnostics/export_identical.py OLD_CRUCIBLE NEW_CRUCIBLE [SCALE]

(OLD_CRUCIBLE: e.g. main's release build; each binary uses the Validators beside it.)
"""
import json
import os
import shutil
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "..", "Tests", "python"))
import corpus_plan  # noqa: E402

old, new = os.path.abspath(sys.argv[1]), os.path.abspath(sys.argv[2])
scale = int(sys.argv[3]) if len(sys.argv) > 3 else 5
counts = {"first": 230, "retry": 150, "twice": 60, "never": 40, "deletes": 25, "silences": 25, "copy": 20, "near": 20}
counts = {shape: n * scale for shape, n in counts.items()}


def comparable(path):
    with open(path, "rb") as handle:
        data = handle.read()
    if os.path.basename(path) == "manifest.json":
        manifest = json.loads(data)
        manifest.pop("created_at", None)
        return json.dumps(manifest, sort_keys=True).encode()
    return data


def files(root):
    return sorted(os.path.relpath(os.path.join(folder, name), root)
                  for folder, _, names in os.walk(root) for name in names)


folder = tempfile.mkdtemp(prefix="crucible-export-identical-")
try:
    source = os.path.join(folder, "attempts.jsonl")
    with open(source, "w") as handle:
        lines = [json.dumps(corpus_plan.with_trace(record, number)) + "\n"
                 for number, record in enumerate(corpus_plan.records(counts))]
        handle.writelines(lines)
    subprocess.run([new, "corpus", "import", "--corpus", "corpus.sqlite", source], cwd=folder, check=True,
                   stdout=subprocess.DEVNULL)
    for name, binary in (("old", old), ("new", new)):
        subprocess.run([binary, "corpus", "export", "--corpus", "corpus.sqlite", "--format", "all", "--out", name],
                       cwd=folder, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    a, b = os.path.join(folder, "old"), os.path.join(folder, "new")
    listed_a, listed_b = files(a), files(b)
    problems = ["only in the old export: %s" % p for p in sorted(set(listed_a) - set(listed_b))]
    problems += ["only in the new export: %s" % p for p in sorted(set(listed_b) - set(listed_a))]
    same = 0
    for path in sorted(set(listed_a) & set(listed_b)):
        if comparable(os.path.join(a, path)) == comparable(os.path.join(b, path)):
            same += 1
        else:
            problems.append("differs: %s" % path)
    for line in problems:
        print(line)
    print("%d files identical, %d differences (%d attempts)" % (same, len(problems), len(lines)))
    sys.exit(1 if problems else 0)
finally:
    shutil.rmtree(folder, ignore_errors=True)
