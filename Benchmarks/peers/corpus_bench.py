"""The corpus at scale: 101,000 planted attempts (Tests/python/corpus_plan.py, shapes x100)
imported into a fresh corpus, each with a trace of three tool calls (result fields, field
reads, a data flow: what `stats` and `report` analyse), then `stats` and `report` are timed
and the corpus is exported in every format with all gates. Times each
stage from the exporter's progress lines, and times the near-duplicate step beside a peer:
datasketch's MinHash + MinHashLSH (256 permutations, threshold 0.7) over the same distinct
programs with the same 5-token shingles. Adds a "corpus" section to the benchmark's JSON.

    PEER_PYTHON corpus_bench.py CRUCIBLE RESULTS_JSON [SCALE] [--corpus DIR] [--export-only]

--corpus DIR keeps the imported corpus in DIR (DIR/corpus.sqlite) and reuses it when it is
already there, so the export can be timed again without planting and importing 101,000
attempts each time; --export-only times the export alone (no stats, report or peer).
"""
import json
import os
import re
import resource
import shutil
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "..", "Tests", "python"))
import corpus_plan  # noqa: E402

arguments = sys.argv[1:]
export_only = "--export-only" in arguments
if export_only:
    arguments.remove("--export-only")
kept_folder = None
if "--corpus" in arguments:
    at = arguments.index("--corpus")
    kept_folder = os.path.abspath(arguments[at + 1])
    del arguments[at:at + 2]
crucible, results_path = os.path.abspath(arguments[0]), arguments[1]
scale = int(arguments[2]) if len(arguments) > 2 else 100
counts = {"first": 230, "retry": 150, "twice": 60, "never": 40, "deletes": 25, "silences": 25, "copy": 20, "near": 20}
counts = {shape: n * scale for shape, n in counts.items()}


def timed_lines(argv, cwd):
    """Runs argv; returns (seconds, stdout, [(seconds since start, stderr line)])."""
    start = time.perf_counter()
    process = subprocess.Popen(argv, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    lines = []
    for line in process.stderr:
        lines.append((time.perf_counter() - start, line.rstrip()))
    out = process.stdout.read()
    process.wait()
    elapsed = time.perf_counter() - start
    if process.returncode != 0:
        sys.exit("%s failed (%d): %s" % (argv[1:3], process.returncode, "\n".join(l for _, l in lines[-20:])))
    return elapsed, out, lines


def peer_near_duplicates(texts):
    from datasketch import MinHash, MinHashLSH
    start = time.perf_counter()
    lsh = MinHashLSH(threshold=0.7, num_perm=256)
    parent = list(range(len(texts)))

    def root(i):
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    for index, text in enumerate(texts):
        tokens = [t for t in re.split(r"[^A-Za-z_0-9]+", text) if t]
        width = min(5, len(tokens))
        shingles = {" ".join(tokens[i:i + width]).encode() for i in range(len(tokens) - width + 1)}
        signature = MinHash(num_perm=256)
        signature.update_batch(list(shingles))
        for other in lsh.query(signature):
            a, b = root(index), root(other)
            parent[max(a, b)] = min(a, b)
        lsh.insert(index, signature)
    clusters = len({root(i) for i in range(len(texts))})
    return time.perf_counter() - start, clusters


folder = kept_folder or tempfile.mkdtemp(prefix="crucible-corpus-bench-")
os.makedirs(folder, exist_ok=True)
try:
    codes = {}
    attempts = 0
    for record in corpus_plan.records(counts):
        codes.setdefault(record["code"], None)
        attempts += 1
    source = os.path.join(folder, "attempts.jsonl")
    reused = kept_folder is not None and os.path.exists(os.path.join(folder, "corpus.sqlite"))
    if reused:
        size_mb, import_s = os.path.getsize(source) / 1e6, None
        print("corpus: reusing %s/corpus.sqlite" % folder, file=sys.stderr)
    else:
        with open(source, "w") as handle:
            for number, record in enumerate(corpus_plan.records(counts)):
                handle.write(json.dumps(corpus_plan.with_trace(record, number)) + "\n")
        size_mb = os.path.getsize(source) / 1e6
        print("corpus: %d attempts planted (%.0f MB of JSON Lines)" % (attempts, size_mb), file=sys.stderr)
        import_s, _, _ = timed_lines([crucible, "corpus", "import", "--corpus", "corpus.sqlite", source], folder)
        print("corpus: import %.1f s" % import_s, file=sys.stderr)
    stats_s = report_s = None
    if not export_only:
        stats_s, stats_out, _ = timed_lines([crucible, "corpus", "stats", "--corpus", "corpus.sqlite", "--json"], folder)
        assert json.loads(stats_out)["likely_tool_bugs"][0]["field"] == "commits[].author"
        report_s, _, _ = timed_lines([crucible, "corpus", "report", "--corpus", "corpus.sqlite", "--out", "report.html"], folder)
        print("corpus: stats %.2f s, report %.2f s" % (stats_s, report_s), file=sys.stderr)
    shutil.rmtree(os.path.join(folder, "export"), ignore_errors=True)
    cpu_before = resource.getrusage(resource.RUSAGE_CHILDREN)
    export_s, out, lines = timed_lines(
        [crucible, "corpus", "export", "--corpus", "corpus.sqlite", "--format", "all", "--out", "export", "--json"], folder)
    cpu_after = resource.getrusage(resource.RUSAGE_CHILDREN)
    # The host's CPU: crucible's own and its reaped children's (pyarrow for hf), not the
    # sandbox workers' (the zygote reaps those). `perf stat -e task-clock` counts all of it.
    export_host_cpu_s = (cpu_after.ru_utime - cpu_before.ru_utime) + (cpu_after.ru_stime - cpu_before.ru_stime)
    report = json.loads(out)
    marks = {}
    for at, line in lines:
        for name, pattern in (("facts", "computing code facts"), ("clustering", "clustering"), ("gates", "applying the gates"), ("write", "kept; writing")):
            if pattern in line:
                marks[name] = at
    formats = len(report["exports"])
    stages = {
        "read_s": round(marks["facts"], 2),
        "facts_and_revalidation_s": round(marks["clustering"] - marks["facts"], 2),
        "near_duplicates_s": round(marks["gates"] - marks["clustering"], 2),
        "gates_s": round(marks["write"] - marks["gates"], 2),
        "splits_and_write_%d_formats_s" % formats: round(export_s - marks["write"], 2),
    }
    written = {m.group(1): float(m.group(2)) for m in (re.search(r"wrote (\S+) in ([0-9.]+) s", l) for _, l in lines) if m}
    distinct = re.search(r"clustering (\d+) distinct", "\n".join(l for _, l in lines))
    print("corpus: export (all %d formats) %.1f s wall, host CPU %.1f s; stages %s; each format's write %s"
          % (formats, export_s, export_host_cpu_s, stages, written), file=sys.stderr)
    section = {
        "date": time.strftime("%Y-%m-%dT%H:%MZ", time.gmtime()), "attempts": attempts, "jsonl_mb": round(size_mb, 1),
        "import_s": import_s and round(import_s, 2), "stats_s": stats_s and round(stats_s, 2),
        "report_s": report_s and round(report_s, 2), "tool_calls": attempts * 3,
        "export_all_formats_s": round(export_s, 2), "export_host_cpu_s": round(export_host_cpu_s, 2), "formats": formats,
        "stages": stages, "format_write_s": written,
        "distinct_programs": len(codes), "distinct_normal_forms": int(distinct.group(1)) if distinct else None,
        "gates": report["gates"], "records_written": {e["format"]: e["records"] for e in report["exports"]},
    }
    if not export_only:
        peer_s, peer_clusters = peer_near_duplicates(list(codes))
        print("corpus: datasketch MinHashLSH over %d distinct programs: %.1f s" % (len(codes), peer_s), file=sys.stderr)
        section["peer_near_duplicates"] = {"name": "datasketch MinHash+MinHashLSH (256 perms, 0.7)", "seconds": round(peer_s, 2),
                                           "clusters": peer_clusters, "programs": len(codes)}
    results = {}
    if os.path.exists(results_path):
        with open(results_path) as handle:
            results = json.load(handle)
    results["corpus"] = section
    with open(results_path, "w") as handle:
        json.dump(results, handle, indent=2)
finally:
    if kept_folder is None:
        shutil.rmtree(folder, ignore_errors=True)
