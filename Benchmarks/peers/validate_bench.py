"""`crucible validate` (all rulesets) beside `ruff check --no-cache` (default rules) on the
same corpus: the stdlib sources of the machine's python3 (site-packages excluded), copied to
a scratch folder so both tools see exactly the same files. Where crucible has a Python 3.14
image (`crucible python list`), `crucible validate --python 3.14` (native t-string/PEP 695
parsing) runs on the same files too; one untimed run first builds its zygote if the sources
changed. Runs interleaved; adds a "validate" section to the benchmark's JSON.

    python validate_bench.py CRUCIBLE RUFF RESULTS_JSON [RUNS]
"""
import json
import os
import shutil
import statistics
import subprocess
import sys
import sysconfig
import tempfile
import time

crucible, ruff, results_path = os.path.abspath(sys.argv[1]), os.path.abspath(sys.argv[2]), sys.argv[3]
runs = int(sys.argv[4]) if len(sys.argv) > 4 else 5
stdlib = sysconfig.get_paths()["stdlib"]
corpus = tempfile.mkdtemp(prefix="crucible-validate-corpus-")
count = 0
size = 0
for folder, subfolders, names in os.walk(stdlib):
    subfolders[:] = [s for s in subfolders if s not in ("site-packages", "__pycache__")]
    for name in names:
        if name.endswith(".py"):
            source = os.path.join(folder, name)
            target = os.path.join(corpus, os.path.relpath(source, stdlib))
            os.makedirs(os.path.dirname(target), exist_ok=True)
            shutil.copyfile(source, target)
            count += 1
            size += os.path.getsize(source)
# ruff must not pick up configuration from above the corpus; crucible reads ./pyproject.toml only.
open(os.path.join(corpus, "ruff.toml"), "w").write("")

commands = {
    "crucible validate (all rulesets)": [crucible, "validate", "--format", "json", "."],
    "ruff check --no-cache (default rules)": [ruff, "check", "--no-cache", "--exit-zero", "--output-format", "concise", "."],
}
CRUCIBLE_314 = "crucible validate --python 3.14 (all rulesets)"
listing = subprocess.run([crucible, "python", "list"], capture_output=True, text=True).stdout
if any(line.startswith("3.14") for line in listing.splitlines()):
    commands[CRUCIBLE_314] = [crucible, "validate", "--python", "3.14", "--format", "json", "."]
    # Untimed: the first 3.14 run after a source change compiles that image's zygote (about a minute).
    subprocess.run(commands[CRUCIBLE_314], cwd=corpus, capture_output=True)
else:
    print("validate_bench: no Python 3.14 image, so no 3.14 figure (crucible python install 3.14)", file=sys.stderr)
times = {name: [] for name in commands}
findings = {}
for _ in range(runs):
    for name, argv in commands.items():
        start = time.perf_counter()
        process = subprocess.run(argv, cwd=corpus, capture_output=True, text=True)
        times[name].append(time.perf_counter() - start)
        if process.returncode not in (0, 1):
            sys.exit("%s failed (%d): %s" % (name, process.returncode, process.stderr[-2000:]))
        if name.startswith("crucible"):
            findings[name] = len(json.loads(process.stdout))
shutil.rmtree(corpus)

medians = {name: statistics.median(values) for name, values in times.items()}
ratio = medians["crucible validate (all rulesets)"] / medians["ruff check --no-cache (default rules)"]
print("\n| validate corpus: %d stdlib files, %.1f MB | median s | min s |" % (count, size / 1e6))
print("|---|---:|---:|")
for name in commands:
    print("| %s | %.2f | %.2f |" % (name, medians[name], min(times[name])))
print("crucible / ruff wall time: %.2fx (bar: at most 4x)" % ratio)
ruff_median = medians["ruff check --no-cache (default rules)"]
if CRUCIBLE_314 in medians:
    # Throughput as a fraction of ruff's on the same files (issue 20 asks for at least 0.5).
    print("crucible --python 3.14 / ruff wall time: %.2fx; throughput %.2f of ruff's (goal: at least 0.5)"
          % (medians[CRUCIBLE_314] / ruff_median, ruff_median / medians[CRUCIBLE_314]))

with open(results_path) as handle:
    document = json.load(handle)
document["validate"] = {"files": count, "bytes": size, "runs": runs, "median_seconds": medians,
                        "min_seconds": {n: min(v) for n, v in times.items()}, "ratio_crucible_over_ruff": ratio,
                        "crucible_findings": findings.get("crucible validate (all rulesets)")}
if CRUCIBLE_314 in medians:
    document["validate"].update({
        "ratio_314_crucible_over_ruff": medians[CRUCIBLE_314] / ruff_median,
        "throughput_314_fraction_of_ruff": ruff_median / medians[CRUCIBLE_314],
        "crucible_314_findings": findings.get(CRUCIBLE_314)})
with open(results_path, "w") as handle:
    json.dump(document, handle, indent=2, sort_keys=True)
