"""The corpus at scale: 101,000 planted attempts (Tests/python/corpus_plan.py, shapes x100)
imported into a fresh corpus, each with a trace of three tool calls (result fields, field
reads, a data flow: what `stats` and `report` analyse), then `stats` and `report` are timed
and the corpus is exported in every format with all gates. Times each
stage from the exporter's progress lines, and times the near-duplicate step beside a peer:
datasketch's MinHash + MinHashLSH (256 permutations, threshold 0.7) over the same distinct
programs with the same 5-token shingles. Adds a "corpus" section to the benchmark's JSON.

    PEER_PYTHON corpus_bench.py CRUCIBLE RESULTS_JSON [SCALE]
"""
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "..", "Tests", "python"))
import corpus_plan  # noqa: E402

crucible, results_path = sys.argv[1], sys.argv[2]
scale = int(sys.argv[3]) if len(sys.argv) > 3 else 100
counts = {"first": 230, "retry": 150, "twice": 60, "never": 40, "deletes": 25, "silences": 25, "copy": 20, "near": 20}
counts = {shape: n * scale for shape, n in counts.items()}


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


folder = tempfile.mkdtemp(prefix="crucible-corpus-bench-")
try:
    source = os.path.join(folder, "attempts.jsonl")
    codes = {}
    attempts = 0
    with open(source, "w") as handle:
        for record in corpus_plan.records(counts):
            handle.write(json.dumps(with_trace(record, attempts)) + "\n")
            codes.setdefault(record["code"], None)
            attempts += 1
    size_mb = os.path.getsize(source) / 1e6
    print("corpus: %d attempts planted (%.0f MB of JSON Lines)" % (attempts, size_mb), file=sys.stderr)
    import_s, _, _ = timed_lines([crucible, "corpus", "import", "--corpus", "corpus.sqlite", source], folder)
    print("corpus: import %.1f s" % import_s, file=sys.stderr)
    stats_s, stats_out, _ = timed_lines([crucible, "corpus", "stats", "--corpus", "corpus.sqlite", "--json"], folder)
    assert json.loads(stats_out)["likely_tool_bugs"][0]["field"] == "commits[].author"
    report_s, _, _ = timed_lines([crucible, "corpus", "report", "--corpus", "corpus.sqlite", "--out", "report.html"], folder)
    print("corpus: stats %.2f s, report %.2f s" % (stats_s, report_s), file=sys.stderr)
    export_s, out, lines = timed_lines(
        [crucible, "corpus", "export", "--corpus", "corpus.sqlite", "--format", "all", "--out", "export", "--json"], folder)
    report = json.loads(out)
    marks = {}
    for at, line in lines:
        for name, pattern in (("facts", "computing code facts"), ("clustering", "clustering"), ("gates", "applying the gates"), ("write", "kept; writing")):
            if pattern in line:
                marks[name] = at
    stages = {
        "read_s": round(marks["facts"], 2),
        "facts_and_revalidation_s": round(marks["clustering"] - marks["facts"], 2),
        "near_duplicates_s": round(marks["gates"] - marks["clustering"], 2),
        "gates_s": round(marks["write"] - marks["gates"], 2),
        "splits_and_write_8_formats_s": round(export_s - marks["write"], 2),
    }
    distinct = re.search(r"clustering (\d+) distinct", "\n".join(l for _, l in lines))
    print("corpus: export (all 8 formats) %.1f s; stages %s" % (export_s, stages), file=sys.stderr)
    peer_s, peer_clusters = peer_near_duplicates(list(codes))
    print("corpus: datasketch MinHashLSH over %d distinct programs: %.1f s" % (len(codes), peer_s), file=sys.stderr)
    section = {
        "date": time.strftime("%Y-%m-%dT%H:%MZ", time.gmtime()), "attempts": attempts, "jsonl_mb": round(size_mb, 1), "import_s": round(import_s, 2),
        "stats_s": round(stats_s, 2), "report_s": round(report_s, 2), "tool_calls": attempts * 3,
        "export_all_formats_s": round(export_s, 2), "stages": stages,
        "distinct_programs": len(codes), "distinct_normal_forms": int(distinct.group(1)) if distinct else None,
        "gates": report["gates"], "records_written": {e["format"]: e["records"] for e in report["exports"]},
        "peer_near_duplicates": {"name": "datasketch MinHash+MinHashLSH (256 perms, 0.7)", "seconds": round(peer_s, 2),
                                 "clusters": peer_clusters, "programs": len(codes)},
    }
    with open(results_path) as handle:
        results = json.load(handle)
    results["corpus"] = section
    with open(results_path, "w") as handle:
        json.dump(results, handle, indent=2)
finally:
    shutil.rmtree(folder, ignore_errors=True)
