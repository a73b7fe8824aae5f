"""The retry loop's own overhead per attempt: everything `crucible generate` does besides
waiting for the model (extracting the code, validating, running it in the sandbox with the
tools, rendering feedback, writing the record). A scripted model answers instantly, so the
records' `overhead_ms` is the loop alone. Two kinds: `view` (static checks only) and
`script` (validated, then run in the sandbox, reading a file through the tools). Adds a
"generate" section to the benchmark's JSON.

    python generate_bench.py CRUCIBLE RESULTS_JSON [TASKS]
"""
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile

# Recording stays on (the default being measured), in a corpus of its own, not the repository's.
os.environ["CRUCIBLE_CORPUS"] = os.path.join(tempfile.mkdtemp(prefix="crucible-bench-corpus-"), "corpus.sqlite")

crucible, results_path = sys.argv[1], sys.argv[2]
count = int(sys.argv[3]) if len(sys.argv) > 3 else 40
BAD_VIEW = "```python\ndef profile_view(name: str) -> Element:\n    return html(f'<p>{name}</p>')\n```"
GOOD_VIEW = "```python\n@view\ndef profile_view(name: str) -> Element:\n    return html(t'<p>{name}</p>')\n```"
CRASH = "```python\nint(read_file('numbers.txt').text)\n```"
SCRIPT = "```python\nsum(int(n) for n in read_file('numbers.txt').content.split())\n```"


def percentile(values, q):
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]


folder = tempfile.mkdtemp(prefix="crucible-generate-bench-")
os.chmod(folder, 0o755)
try:
    with open(os.path.join(folder, "numbers.txt"), "w") as handle:
        handle.write("3\n4\n5\n")
    section = {"tasks_per_kind": count, "kinds": {}}
    for kind, replies in (("view", [BAD_VIEW, GOOD_VIEW]), ("script", [CRASH, SCRIPT])):
        with open(os.path.join(folder, "replies.jsonl"), "w") as handle:
            handle.write(json.dumps({"task": "*", "replies": replies}) + "\n")
        with open(os.path.join(folder, "tasks.jsonl"), "w") as handle:
            for index in range(count):
                handle.write(json.dumps({"id": "t%d" % index, "task": "task %d" % index}) + "\n")
        records = os.path.join(folder, "records-%s.jsonl" % kind)
        process = subprocess.run(
            [crucible, "generate", "--kind", kind, "--tasks", "tasks.jsonl", "--scripted", "replies.jsonl",
             "--records", records, "--json"], cwd=folder, capture_output=True, text=True, timeout=600)
        if process.returncode not in (0, 1):
            sys.exit("generate failed: %s" % process.stderr[-2000:])
        with open(records) as handle:
            overheads = [json.loads(line)["overhead_ms"] for line in handle]
        # Replies are served per task in order ("*" is shared), so attempts alternate bad/good.
        section["kinds"][kind] = {
            "attempts": len(overheads), "p50_ms": round(percentile(overheads, 0.5), 3),
            "p90_ms": round(percentile(overheads, 0.9), 3), "p99_ms": round(percentile(overheads, 0.99), 3),
            "mean_ms": round(statistics.fmean(overheads), 3)}
        print("generate %s: %d attempts, overhead p50 %.2f ms, p90 %.2f ms" % (
            kind, len(overheads), section["kinds"][kind]["p50_ms"], section["kinds"][kind]["p90_ms"]), file=sys.stderr)
finally:
    shutil.rmtree(folder, ignore_errors=True)

with open(results_path) as handle:
    results = json.load(handle)
results["generate"] = section
with open(results_path, "w") as handle:
    json.dump(results, handle, indent=2)
