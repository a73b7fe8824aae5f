"""The corpus end to end: a planted corpus of over 1,000 attempts made by the scripted model
through `crucible generate`, its stats, every export format checked by its trainer's rules,
the gates removing exactly what was planted, splits, the HTML report in headless Chromium,
and the store under concurrent writers, a kill mid-write, a full disk and a read-only file."""

import json
import os
import re
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
import tomllib

import pytest

import corpus_plan
import training_formats

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.normpath(os.path.join(HERE, "..", ".."))
CRUCIBLE = os.path.join(ROOT, ".build", "debug", "crucible")
sys.path.insert(0, os.path.join(ROOT, "Clients", "python"))
import crucible_client  # noqa: E402

PLAN = {"first": 230, "retry": 150, "twice": 60, "never": 40, "deletes": 25, "silences": 25, "copy": 20, "near": 20}


def crucible(*args, cwd, check=True, timeout=600):
    process = subprocess.run([CRUCIBLE, *args], capture_output=True, text=True, cwd=cwd, timeout=timeout)
    if check:
        assert process.returncode == 0, "crucible %s exited %d:\n%s" % (" ".join(args), process.returncode, process.stderr[-3000:])
    return process


def attempt_count(path):
    with sqlite3.connect(path) as db:
        return db.execute("SELECT COUNT(*) FROM attempts").fetchone()[0]


@pytest.fixture(scope="module")
def planted(tmp_path_factory):
    """The planted corpus, made once: 570 sessions, 1,010 attempts."""
    folder = tmp_path_factory.mktemp("planted")
    expected, plants = corpus_plan.write(folder, PLAN)
    process = crucible("generate", "--tasks", "tasks.jsonl", "--scripted", "replies.jsonl", "--corpus", "corpus.sqlite",
                       "--concurrency", "4", "--json", cwd=folder, check=False)
    assert process.returncode == 1, process.stderr[-2000:]  # the `never` sessions fail, by plan
    summary = json.loads(process.stdout)["summary"]
    assert summary["corpus"]["stored"] == expected["attempts"] and summary["corpus"]["spilled"] == 0
    return folder, expected, plants


@pytest.fixture(scope="module")
def exported(planted, tmp_path_factory):
    """Every format exported once from the planted corpus: (folder, the --json result)."""
    folder = planted[0]
    out = tmp_path_factory.mktemp("export")
    result = json.loads(crucible("corpus", "export", "--corpus", "corpus.sqlite", "--format", "all", "--out", str(out),
                                 "--json", cwd=folder).stdout)
    return out, result


def lines(path):
    return [json.loads(line) for line in path.open()]


def test_the_planted_corpus_has_over_a_thousand_attempts_and_stats_match_exactly(planted):
    folder, expected, _ = planted
    assert expected["attempts"] >= 1000
    stats = json.loads(crucible("corpus", "stats", "--corpus", "corpus.sqlite", "--json", cwd=folder).stdout)
    overall = stats["overall"]
    for key in ("sessions", "attempts", "passed_first_attempt", "passed_within_budget", "failed_sessions"):
        assert overall[key] == expected[key], key
    assert overall["mean_attempts"] == round(expected["attempts"] / expected["sessions"], 3)
    assert {r["rule"]: r["count"] for r in overall["top_failed_rules"]} == expected["rules"]
    assert overall["examples"] == {"positives": expected["positives"], "pairs": expected["pairs"],
                                   "negatives": expected["negatives"]}
    assert set(stats["kinds"]) == {"view"} and stats["kinds"]["view"]["attempts"] == expected["attempts"]
    assert overall["sources"] == {"generate": expected["sessions"]}
    # Budget 4 (3 retries): the never-passing sessions took all four attempts.
    assert overall["attempts_histogram"]["4"] == PLAN["never"]
    with sqlite3.connect(folder / "corpus.sqlite") as db:
        assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        rows = db.execute("SELECT rule, COUNT(*) FROM diagnostics WHERE severity = 'error' GROUP BY rule").fetchall()
        assert dict(rows) == expected["rules"]  # structured rows, one per finding


def test_every_format_exports_gated_and_loads_by_its_trainers_rules(planted, exported):
    _, expected, plants = planted
    out, result = exported
    gates = {g["gate"]: g for g in result["gates"]["gates"]}
    for gate, removed in expected["gates"].items():
        assert gates[gate]["removed"] == removed, gate
    assert gates["fake-fix"]["reasons"] == {"deletes the offending code": 2 * PLAN["deletes"],
                                            "adds a suppression": 2 * PLAN["silences"]}
    for gate in ("length", "revalidation", "caps"):
        assert gates[gate]["total"] == 0, gate
    formats = {e["format"] for e in result["exports"]}
    assert formats == set(training_formats.CHECKS) | {"hf"}  # hf: test_hf_folder_loads_with_datasets_offline
    for name, check in training_formats.CHECKS.items():
        check(out / name)
        manifest = json.loads((out / name / "manifest.json").read_text())
        assert manifest["gates"] == result["gates"] and manifest["python"].startswith("3.")

    # Planted fake fixes are in no export; of each planted copy and its original, one remains.
    meta = [json.loads(line) for line in (out / "trl-sft" / "metadata.jsonl").open()]
    tasks = {m["task_id"] for m in meta}
    for planted_id in plants["deletes"] + plants["silences"]:
        assert planted_id not in tasks
    positive_tasks = {m["task_id"] for m in meta if m["role"] == "positive"}
    for copy_id, source_id in plants["copy"] + plants["near"]:
        assert (copy_id in positive_tasks) != (source_id in positive_tasks), (copy_id, source_id)
    # Every surviving pair's failure is a real failure of the same session, followed by its fix.
    dpo = [json.loads(line) for split in ("train", "valid", "test") for line in (out / "trl-dpo" / (split + ".jsonl")).open()]
    kept_pairs = result["gates"]["kept"]["pair"]
    assert len(dpo) == kept_pairs == expected["pairs"] - sum(expected["gates"][g]["pair"] for g in expected["gates"])
    assert all('html(f"' in r["rejected"][0]["content"] or "@view" not in r["rejected"][0]["content"]
               or "*, " not in r["rejected"][0]["content"] for r in dpo)
    # Failed attempts are in the OpenAI file with weight 0, never trained.
    sft = [json.loads(line) for line in (out / "openai-sft" / "train.jsonl").open()]
    weighted = [m for r in sft for m in r["messages"] if m.get("weight") == 0]
    assert weighted and all(m["role"] == "assistant" for m in weighted)
    # First-attempt passes are marked.
    firsts = [m for m in meta if m["first_attempt"]]
    assert firsts and all(m["role"] == "positive" and m["task_id"].split("-")[0] in ("first", "copy", "near") for m in firsts)


def test_tool_calling_exports_hold_each_kept_pass_with_its_failed_calls_and_their_feedback(exported):
    out, result = exported
    kept = result["gates"]["kept"]
    rows = {name: [r for split in ("train", "valid", "test") for r in lines(out / name / (split + ".jsonl"))]
            for name in ("openai-tools", "trl-tools", "mlx-tools", "trl-dpo")}
    # One conversation per kept pass, in every dialect; the failed calls are exactly the kept pairs.
    assert len(rows["openai-tools"]) == len(rows["trl-tools"]) == len(rows["mlx-tools"]) == kept["positive"]
    failed = [m for r in rows["openai-tools"] for m in r["messages"] if m.get("weight") == 0]
    assert len(failed) == kept["pair"] == len(rows["trl-dpo"])
    results = [json.loads(m["content"]) for r in rows["openai-tools"] for m in r["messages"] if m["role"] == "tool"]
    assert len(results) == len(failed)
    # A view is gated statically: its result says it was not run, and why, and the feedback names the rule.
    assert all(r["passed"] is False and r["status"] == "not_run" and "automated feedback" in r["feedback"] for r in results)
    assert all(re.search(r"VIEW00\d", r["feedback"]) for r in results)
    # The code a failed call carried is the code of the pair's rejected side.
    rejected = {r["rejected"][0]["content"].split("\n", 1)[1].rsplit("\n```", 1)[0] for r in rows["trl-dpo"]}
    called = {json.loads(m["tool_calls"][0]["function"]["arguments"])["code"].strip("\n") for m in failed}
    assert called == {code.strip("\n") for code in rejected}
    # Each session's records stay in one split in the tool formats too.
    meta = lines(out / "trl-tools" / "metadata.jsonl")
    split_of = {}
    for m in meta:
        assert split_of.setdefault(m["session_id"], m["split"]) == m["split"], m
        assert split_of.setdefault("c%d" % m["cluster"], m["split"]) == m["split"], m


def test_rl_rows_are_one_per_task_with_what_a_reward_function_needs(exported):
    out, _ = exported
    rows = [r for split in ("train", "valid", "test") for r in lines(out / "rl" / (split + ".jsonl"))]
    tasks = {m["task_id"] for name in ("kto", "trl-dpo") for m in lines(out / name / "metadata.jsonl")}
    assert sorted(r["task_id"] for r in rows) == sorted(tasks)  # every task with a kept example, once
    with open(os.path.join(ROOT, "Corpus", "kinds", "view.toml"), "rb") as handle:
        view = tomllib.load(handle)["rulesets"]
    for row in rows:
        assert row["kind"] == "view" and row["rulesets"] == view and row["runtime"] == "static"
        assert row["check_python"] == "3.14" and "def " in row["check"] and "def view" in row["check_prelude"]
        assert row["prompt"][0]["role"] == "system" and "@view" in row["prompt"][0]["content"]
    assert [m["role"] for m in lines(out / "rl" / "metadata.jsonl")] == ["task"] * len(rows)


HF_LOAD = """
import json, sys
import datasets
from huggingface_hub import DatasetCard
folder = sys.argv[1]
out = {}
for config in ("default", "rl"):
    loaded = datasets.load_dataset(folder, config)
    out[config] = {split: loaded[split].to_list() for split in loaded}
    train = loaded["train"]
    out[config + "_features_match_parquet"] = train.features == datasets.Features.from_arrow_schema(train.data.schema)
card = DatasetCard.load(folder + "/README.md").data  # the Hub's own reader of the front matter
out["card_license"] = card.license
out["card_configs"] = [c["config_name"] for c in card.configs]
print(json.dumps(out))
"""


def test_hf_folder_loads_with_datasets_offline(exported, tmp_path):
    out, result = exported
    folder = out / "hf"
    assert (folder / "data" / "train-00000-of-00001.parquet").exists()
    environment = dict(os.environ, HF_DATASETS_OFFLINE="1", HF_HUB_OFFLINE="1", HF_HOME=str(tmp_path / "hf-home"))
    process = subprocess.run([sys.executable, "-c", HF_LOAD, str(folder)], capture_output=True, text=True, env=environment, timeout=600, check=False)
    if "No module named 'datasets'" in process.stderr:
        pytest.fail("the datasets package is missing: scripts/setup installs it into .crucible/tools")
    assert process.returncode == 0, process.stderr[-3000:]
    loaded = json.loads(process.stdout)
    # The same rows as the JSON Lines formats, split the same way (Parquet gives absent fields as None).
    def without_nones(value):
        if isinstance(value, dict):
            return {k: without_nones(v) for k, v in value.items() if v is not None}
        if isinstance(value, list):
            return [without_nones(v) for v in value]
        return value
    for config, name in (("default", "trl-tools"), ("rl", "rl")):
        assert set(loaded[config]) == {"train", "validation", "test"}
        for split, jsonl in (("train", "train"), ("validation", "valid"), ("test", "test")):
            expected = lines(out / name / (jsonl + ".jsonl"))
            got = loaded[config][split]
            if config == "rl":  # its columns may be null: compare as they are
                assert got == expected, (config, split)
            else:
                assert [without_nones(r) for r in got] == expected, (config, split)
        assert loaded[config + "_features_match_parquet"]
    # The card: YAML front matter with configs, features, split sizes, license; the gate report in prose.
    card = (folder / "README.md").read_text()
    front = card.split("---\n")[1]
    assert "license: other" in front and loaded["card_license"] == "other" and loaded["card_configs"] == ["default", "rl"]
    assert "config_name: rl" in front and "path: data/rl/validation-00000-of-00001.parquet" in front
    counts = json.loads((folder / "manifest.json").read_text())["configs"]
    assert counts["default"]["train"] == len(loaded["default"]["train"]) and "num_examples: %d" % counts["default"]["train"] in front
    for gate in result["gates"]["gates"]:
        assert "| %s | %d | %d | %d |" % (gate["gate"], gate["removed"]["positive"], gate["removed"]["pair"], gate["removed"]["negative"]) in card


def test_hf_without_pyarrow_says_what_to_run(tmp_path):
    records = tmp_path / "r.jsonl"
    records.write_text("".join(json.dumps(record) + "\n" for record in _records(16)))
    crucible("corpus", "import", "--corpus", "c.sqlite", str(records), cwd=tmp_path)
    named = dict(os.environ, CRUCIBLE_PYARROW=str(tmp_path / "nowhere"))
    process = subprocess.run([CRUCIBLE, "corpus", "export", "--corpus", "c.sqlite", "--format", "hf", "--out", "hf"],
                             capture_output=True, text=True, cwd=tmp_path, env=named, timeout=600, check=False)
    assert process.returncode == 1 and "Traceback" not in process.stderr, process.stderr[-2000:]
    assert "holds no pyarrow" in process.stderr and "python3 -m pip install --target DIR pyarrow==" in process.stderr
    # No cached environment and no package index: pip's failure, and the same advice.
    offline = dict(os.environ, XDG_CACHE_HOME=str(tmp_path / "cache"), PIP_INDEX_URL="http://127.0.0.1:9/simple/",
                   PIP_RETRIES="0", PIP_TIMEOUT="2", PIP_FIND_LINKS="")
    offline.pop("CRUCIBLE_PYARROW", None)
    process = subprocess.run([CRUCIBLE, "corpus", "export", "--corpus", "c.sqlite", "--format", "hf", "--out", "hf"],
                             capture_output=True, text=True, cwd=tmp_path, env=offline, timeout=600, check=False)
    assert process.returncode == 1 and "Traceback" not in process.stderr, process.stderr[-2000:]
    assert "installing pyarrow==" in process.stderr and "CRUCIBLE_PYARROW=DIR" in process.stderr, process.stderr[-2000:]
    assert not (tmp_path / "hf" / "data").exists()


def test_splits_keep_sessions_and_clusters_together_and_follow_the_seed(planted, tmp_path):
    folder, _, _ = planted
    for name, seed in (("a", "3"), ("b", "3"), ("c", "4")):
        crucible("corpus", "export", "--corpus", "corpus.sqlite", "--format", "mlx-chat", "--out", str(tmp_path / name),
                 "--seed", seed, cwd=folder)
    for split in ("train", "valid", "test"):
        assert (tmp_path / "a" / (split + ".jsonl")).read_bytes() == (tmp_path / "b" / (split + ".jsonl")).read_bytes()
    assert (tmp_path / "a" / "test.jsonl").read_bytes() != (tmp_path / "c" / "test.jsonl").read_bytes()
    meta = [json.loads(line) for line in (tmp_path / "a" / "metadata.jsonl").open()]
    split_of_session, split_of_cluster = {}, {}
    for m in meta:
        assert split_of_session.setdefault(m["session_id"], m["split"]) == m["split"], m
        assert split_of_cluster.setdefault(m["cluster"], m["split"]) == m["split"], m
    counts = {s: sum(1 for m in meta if m["split"] == s) for s in ("train", "valid", "test")}
    assert counts["valid"] >= 4 and counts["test"] >= 4 and counts["train"] > counts["valid"]


def test_report_is_self_contained_and_draws_its_charts_in_headless_chromium(planted, tmp_path):
    folder, expected, _ = planted
    report = tmp_path / "report.html"
    crucible("corpus", "report", "--corpus", "corpus.sqlite", "--out", str(report), cwd=folder)
    page = report.read_text()
    assert not re.search(r"""(src|href)=["']?(https?:)?//""", page), "the page must not load anything from the network"
    chromium = _chromium()
    dom = _dom(chromium, report)
    assert 'data-charts-drawn="5"' in dom, dom[:2000]
    marks = dict(re.findall(r'data-chart="(\w+)"[^>]*data-marks="(\d+)"', dom))
    # 1 kind; 1-4 attempts; VIEW006, VIEW001, VIEW004; the planted attempts call no tools.
    assert marks == {"pass_rate": "1", "histogram": "4", "rules": "3", "over_time": "3", "tool_calls": "0"}, marks
    assert dom.count('class="mark"') == 11  # the bars and lines themselves are in the DOM
    # Every chart has both axis titles, with units, and tick labels on its value axis.
    titles = re.findall(r'class="axis-title"[^>]*>([^<]+)<', dom)
    assert titles == ["kind", "sessions passed (%)", "attempts per session", "sessions", "rule", "failing attempts",
                      "day (UTC)", "failing attempts per day", "tool", "calls"], titles
    charts = {name: chart for chart, name in re.findall(r'(<svg data-chart="(\w+)".*?</svg>)', dom, re.DOTALL)}
    assert set(charts) == {"pass_rate", "histogram", "rules", "over_time", "tool_calls"}
    assert ">no data<" in charts.pop("tool_calls")
    assert all(len(re.findall(r'class="tick"', chart)) >= 3 for chart in charts.values()), "every chart has tick labels"
    assert ">100%<" in charts["pass_rate"] and ">0%<" in charts["pass_rate"]
    assert re.search(r'class="value"[^>]*>%d<' % expected["rules"]["VIEW006"], charts["rules"])  # bars carry their value
    # The per-kind table: one overall row, then the kinds.
    assert [row[0] for row in _kind_rows(dom)] == ["overall", "view"]
    _screenshot(chromium, report, tmp_path / "report.png")


def _kind_rows(dom):
    table = dom.split("<h2>Per kind</h2>", 1)[1].split("</table>", 1)[0]
    return [re.findall(r"<td>([^<]*)</td>", row) for row in re.findall(r"<tr[^>]*>(.*?)</tr>", table, re.DOTALL) if "<td>" in row]


def _chromium():
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    assert chromium, "chromium is missing: scripts/setup installs Debian's chromium package"
    return chromium


def _dom(chromium, page):
    return subprocess.run(
        [chromium, "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--no-first-run",
         "--virtual-time-budget=5000", "--dump-dom", page.as_uri()],
        capture_output=True, text=True, timeout=120, check=False).stdout


def _screenshot(chromium, page, png):
    """The page as a person sees it (kept beside the test's files to look at when it fails)."""
    subprocess.run([chromium, "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--no-first-run",
                    "--hide-scrollbars", "--virtual-time-budget=5000", "--window-size=1100,1300", "--screenshot=%s" % png,
                    page.as_uri()], capture_output=True, text=True, timeout=120, check=False)
    data = png.read_bytes()
    assert data.startswith(b"\x89PNG\r\n\x1a\n") and len(data) > 20000, "no screenshot, or a blank one (%d bytes)" % len(data)


def test_report_names_attempts_without_a_kind_apart_from_the_overall_row(tmp_path):
    records = list(_records(8))  # kind "script"
    records += [{"session_id": "free-%d" % i, "attempt": 1, "task": "no kind given", "passed": i % 2 == 0, "code": "y = %d\n" % i}
                for i in range(3)]
    (tmp_path / "r.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records))
    crucible("corpus", "import", "--corpus", "c.sqlite", "r.jsonl", cwd=tmp_path)
    crucible("corpus", "report", "--corpus", "c.sqlite", "--out", "report.html", cwd=tmp_path)
    chromium = _chromium()
    dom = _dom(chromium, tmp_path / "report.html")
    rows = _kind_rows(dom)
    assert [row[:3] for row in rows] == [["overall", "5", "11"], ["(no kind)", "3", "3"], ["script", "2", "8"]], rows
    assert re.search(r'class="tick"[^>]*>\(no kind\)<', dom)  # the pass-rate chart names it the same way
    _screenshot(chromium, tmp_path / "report.html", tmp_path / "report.png")


def test_writers_in_several_processes_at_once_lose_nothing(tmp_path):
    processes = []
    for index in range(4):
        folder = tmp_path / str(index)
        folder.mkdir()
        corpus_plan.write(folder, {"first": 15, "retry": 10}, seed=100 + index)
        processes.append(subprocess.Popen(
            [CRUCIBLE, "generate", "--tasks", "tasks.jsonl", "--scripted", "replies.jsonl", "--corpus",
             str(tmp_path / "shared.sqlite"), "--concurrency", "2", "--json"],
            cwd=folder, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True))
    stored = 0
    for process in processes:
        out, err = process.communicate(timeout=600)
        assert process.returncode == 0, err[-2000:]
        summary = json.loads(out)["summary"]["corpus"]
        assert summary["spilled"] == 0 and summary["lost"] == 0, err[-2000:]
        stored += summary["stored"]
    assert stored == 4 * (15 + 2 * 10)
    assert attempt_count(tmp_path / "shared.sqlite") == stored
    with sqlite3.connect(tmp_path / "shared.sqlite") as db:
        assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"


def test_processes_creating_the_same_corpus_at_once_all_open_it(tmp_path):
    # Without the setup lock, two processes migrating a new file raced ("table sessions
    # already exists") in about one trial of four on 2 cores.
    records = tmp_path / "one.jsonl"
    records.write_text("".join(json.dumps(record) + "\n" for record in _records(4)))
    for trial in range(12):
        corpus = tmp_path / f"race{trial}" / "corpus.sqlite"
        processes = [subprocess.Popen([CRUCIBLE, "corpus", "import", str(records), "--corpus", str(corpus)],
                                      stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True) for _ in range(8)]
        for process in processes:
            _, err = process.communicate(timeout=300)
            assert process.returncode == 0, f"trial {trial}: {err[-1000:]}"
        assert attempt_count(corpus) == 4


def _records(count, sessions_of=4):
    for index in range(count):
        passed = index % sessions_of == sessions_of - 1
        yield {"session_id": "s%06d" % (index // sessions_of), "attempt": index % sessions_of + 1, "task_id": "t%d" % (index // sessions_of),
               "task": "task %d" % (index // sessions_of), "kind": "script", "passed": passed,
               "code": "x_%d = %d\n" % (index, index),
               "diagnostics": [] if passed else [{"rule": "SYNTAX", "severity": "error", "message": "m", "hint": "",
                                                   "path": "<a>", "line": 1, "column": 0}, {"rule": "CRU001", "severity": "warning",
                                                   "message": "w", "hint": "", "path": "<a>", "line": 1, "column": 0}]}


def test_a_writer_killed_mid_write_leaves_every_committed_attempt_whole(tmp_path):
    source = tmp_path / "many.jsonl"
    with open(source, "w") as handle:
        for record in _records(60000):
            handle.write(json.dumps(record) + "\n")
    corpus = tmp_path / "corpus.sqlite"
    process = subprocess.Popen([CRUCIBLE, "corpus", "import", "--corpus", str(corpus), str(source)],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    committed = 0
    for line in process.stderr:
        found = re.search(r"(\d+)/60000 committed", line)
        if found:
            committed = int(found.group(1))
            if committed >= 2000:
                process.send_signal(signal.SIGKILL)
                break
    process.wait(timeout=60)
    assert process.returncode == -signal.SIGKILL, "the import finished before it could be killed"
    with sqlite3.connect(corpus) as db:
        assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        stored = db.execute("SELECT COUNT(*) FROM attempts").fetchone()[0]
        assert stored >= committed and stored % 500 == 0 and stored < 60000  # whole transactions only
        # No attempt without its findings: 2 rows for each failing attempt, none for passes.
        orphans = db.execute("""SELECT COUNT(*) FROM attempts a WHERE a.passed = 0 AND
                                (SELECT COUNT(*) FROM diagnostics d WHERE d.attempt_id = a.id) != 2""").fetchone()[0]
        assert orphans == 0
        assert db.execute("SELECT COUNT(*) FROM diagnostics").fetchone()[0] == 2 * (stored - stored // 4)
    # Importing the file again completes it: what was stored is skipped, not duplicated.
    again = json.loads(crucible("corpus", "import", "--corpus", str(corpus), "--json", str(source), cwd=tmp_path).stdout)
    assert again["files"][0] == {"file": str(source), "imported": 60000 - stored, "already_present": stored}
    assert attempt_count(corpus) == 60000


def _generate_on_a_small_disk(tmp_path, plan, *, mount_options, before="", after=""):
    """`crucible generate` with its corpus on a tmpfs of our own (a user and mount namespace:
    no root needed), spill files going to tmp_path/spill. Returns (process, corpus summary)."""
    if not shutil.which("unshare"):
        pytest.fail("unshare (util-linux) is needed to mount a small tmpfs without root")
    corpus_plan.write(tmp_path, plan)
    disk, spill = tmp_path / "disk", tmp_path / "spill"
    disk.mkdir()
    spill.mkdir()
    script = ("mount -t tmpfs %s tmpfs {disk} && {before} TMPDIR={spill} {crucible} generate --tasks tasks.jsonl "
              "--scripted replies.jsonl --corpus {disk}/corpus.sqlite --json; {after} true" % mount_options)
    script = script.format(disk=disk, spill=spill, crucible=CRUCIBLE, before=before, after=after)
    process = subprocess.run(["unshare", "--user", "--map-root-user", "--mount", "sh", "-c", script],
                             capture_output=True, text=True, cwd=tmp_path, timeout=600)
    summary = json.loads(process.stdout)["summary"]["corpus"]
    assert summary["spill_path"].startswith(str(spill)), summary
    return process, summary


def test_a_full_disk_is_reported_and_no_attempt_is_lost(tmp_path):
    process, summary = _generate_on_a_small_disk(
        tmp_path, {"first": 10, "retry": 10}, mount_options="-o size=160k",
        after="cp %s/corpus.sqlite* %s/ 2>/dev/null;" % (tmp_path / "disk", tmp_path))
    assert "the disk is full" in process.stderr and "crucible corpus import" in process.stderr, process.stderr[-2000:]
    assert summary["stored"] + summary["spilled"] == 30 and summary["spilled"] > 0 and summary["lost"] == 0
    assert "the disk is full" in summary["problem"]
    # The spill file beside the corpus could not be written: none is left there, empty.
    assert not (tmp_path / "corpus.sqlite.unsaved.jsonl").exists()
    # The run went on: every task finished, and the spilled records complete the stored ones.
    crucible("corpus", "import", "--corpus", str(tmp_path / "corpus.sqlite"), summary["spill_path"], cwd=tmp_path)
    assert attempt_count(tmp_path / "corpus.sqlite") == 30


def test_a_read_only_corpus_is_reported_and_spilled(tmp_path):
    # Root ignores file modes, so the file is made read-only the way that binds root too: a read-only mount.
    disk = tmp_path / "disk"
    process, summary = _generate_on_a_small_disk(
        tmp_path, {"first": 3, "retry": 2}, mount_options="",
        before="%s corpus import --corpus %s/corpus.sqlite /dev/null >/dev/null && mount -o remount,ro %s &&"
               % (CRUCIBLE, disk, disk))
    assert "cannot be written" in process.stderr, process.stderr[-2000:]
    assert summary["stored"] == 0 and summary["spilled"] == 7 and summary["lost"] == 0
    assert len(open(summary["spill_path"]).readlines()) == 7


def test_an_agent_through_serve_gets_its_failure_and_fix_paired(tmp_path):
    corpus = tmp_path / "corpus.sqlite"
    bad = ("from tdom import html, Element\n\ndef card_view(name: str) -> Element:\n"
           "    return html(f\"<p>{name}</p>\")\n")
    good = ("from tdom import html, Element\nfrom app.views import view\n\n@view\n"
            "def card_view(name: str) -> Element:\n    return html(t\"<p>{name}</p>\")\n")
    link = {"session": "agent-task-42", "task": "A card view that shows a name.", "kind": "view"}
    with crucible_client.Crucible(args=["--corpus", str(corpus)], stderr=subprocess.DEVNULL) as client:
        first = client.validate(bad, kind="view", corpus=link)
        assert not first["passed"] and {"VIEW001", "VIEW006"} <= {d["rule"] for d in first["diagnostics"]}
        assert "VIEW006" in first["feedback"] and "automated feedback" in first["feedback"]
        assert client.validate(good, kind="view", corpus=link)["passed"]
        ran = client.execute("print('unlinked'); 6 * 7")
        assert ran["value"] == 42
        assert client.execute("1 +", corpus=False)["outcome"] == "syntax_error"
    with sqlite3.connect(corpus) as db:
        sessions = db.execute("SELECT id, source, kind, attempts, outcome FROM sessions ORDER BY rowid").fetchall()
    assert sessions[0] == ("serve:agent-task-42", "serve", "view", 2, "passed")
    assert len(sessions) == 2 and sessions[1][3] == 1  # the unlinked execute; the corpus=False one is not recorded
    out = tmp_path / "dpo"
    crucible("corpus", "export", "--corpus", str(corpus), "--format", "trl-dpo", "--out", str(out), cwd=tmp_path)
    pairs = [json.loads(line) for split in ("train", "valid", "test") for line in (out / (split + ".jsonl")).open()]
    assert len(pairs) == 1
    assert 'html(f"' in pairs[0]["rejected"][0]["content"] and 'html(t"' in pairs[0]["chosen"][0]["content"]
    assert pairs[0]["prompt"][-1]["content"] == link["task"]
    # The same session as a tool-calling conversation: the failed call, its feedback, the passing call.
    out = tmp_path / "tools"
    crucible("corpus", "export", "--corpus", str(corpus), "--format", "openai-tools", "--out", str(out), cwd=tmp_path)
    training_formats.check_openai_tools(out)
    rows = [json.loads(line) for split in ("train", "valid", "test") for line in (out / (split + ".jsonl")).open()]
    linked = [r for r in rows if r["messages"][1]["content"] == link["task"]]
    assert len(linked) == 1 and [m["role"] for m in linked[0]["messages"]] == ["system", "user", "assistant", "tool", "assistant"]
    calls = [json.loads(m["tool_calls"][0]["function"]["arguments"])["code"] for m in linked[0]["messages"] if m["role"] == "assistant"]
    assert calls == [bad, good]
    result = json.loads(linked[0]["messages"][3]["content"])
    assert result["passed"] is False and "VIEW006" in result["feedback"] and result["reason"] == "validation only"


def test_import_checks_every_line_first_and_is_idempotent(tmp_path):
    good = tmp_path / "good.jsonl"
    good.write_text("".join(json.dumps(r) + "\n" for r in _records(8)))
    bad = tmp_path / "bad.jsonl"
    bad.write_text(json.dumps(next(_records(1))) + "\n{\"session_id\": \"x\"}\n")
    process = crucible("corpus", "import", "--corpus", "c.sqlite", str(bad), cwd=tmp_path, check=False)
    assert process.returncode == 2 and "bad.jsonl:2" in process.stderr and "passed" in process.stderr
    assert not (tmp_path / "c.sqlite").exists() or attempt_count(tmp_path / "c.sqlite") == 0
    first = json.loads(crucible("corpus", "import", "--corpus", "c.sqlite", "--json", str(good), cwd=tmp_path).stdout)
    second = json.loads(crucible("corpus", "import", "--corpus", "c.sqlite", "--json", str(good), cwd=tmp_path).stdout)
    assert first["files"][0]["imported"] == 8 and second["files"][0] == {"file": str(good), "imported": 0, "already_present": 8}
    missing = crucible("corpus", "stats", "--corpus", "nowhere.sqlite", cwd=tmp_path, check=False)
    assert missing.returncode == 1 and "no corpus at nowhere.sqlite" in missing.stderr


def test_revalidation_drops_passes_that_fail_today_and_fake_fixes_that_drop_asserts(tmp_path):
    """Records imported as they were judged once: the gates judge them again."""
    view_ok = "from app.views import view\nfrom tdom import html, Element\n\n@view\ndef a_view() -> Element:\n    return html(t\"<p>a</p>\")\n"
    view_bad = view_ok.replace('html(t"', 'html(f"')
    test_before = "def test_total():\n    total = sum([1, 2])\n    assert total == 3\n    assert total > 0\n"
    test_after = "def test_total():\n    total = sum([1, 2])\n    assert total > 0\n"
    records = [
        # Claimed to pass, but today's validators fail it (VIEW006): revalidation removes the positive.
        {"session_id": "stale", "attempt": 1, "task": "stale view", "kind": "view", "passed": True,
         "code": "LIMITS = {'low': 1, 'high': 9, 'step': 2}\n" + view_bad.replace("a_view", "stale_limits_view").replace("<p>a</p>", "<ul>{LIMITS}</ul>")},
        # A test "fixed" by deleting an assert.
        {"session_id": "asserts", "attempt": 1, "task": "a test", "kind": "test", "passed": False, "code": test_before,
         "feedback": "pytest: 0 passed, 1 failed", "runtime": {"status": "ran"}},
        {"session_id": "asserts", "attempt": 2, "task": "a test", "kind": "test", "passed": True, "code": test_after},
        # A sound pair, kept.
        {"session_id": "sound", "attempt": 1, "task": "good view", "kind": "view", "passed": False, "code": view_bad.replace("a_view", "b_view"),
         "diagnostics": [{"rule": "VIEW006", "severity": "error", "message": "m", "hint": "", "path": "<a>", "line": 6, "column": 11}]},
        {"session_id": "sound", "attempt": 2, "task": "good view", "kind": "view", "passed": True, "code": view_ok.replace("a_view", "b_view")},
    ]
    source = tmp_path / "r.jsonl"
    source.write_text("".join(json.dumps(r) + "\n" for r in records))
    crucible("corpus", "import", "--corpus", "c.sqlite", str(source), cwd=tmp_path)
    result = json.loads(crucible("corpus", "export", "--corpus", "c.sqlite", "--format", "trl-dpo", "--out", "out",
                                 "--json", cwd=tmp_path).stdout)
    gates = {g["gate"]: g for g in result["gates"]["gates"]}
    assert gates["revalidation"]["removed"]["positive"] == 1
    assert gates["fake-fix"]["reasons"] == {"drops asserts": 2}  # the pair and the positive it left
    assert result["gates"]["kept"] == {"positive": 1, "pair": 1, "negative": 2}
    stats = json.loads(crucible("corpus", "stats", "--corpus", "c.sqlite", "--json", cwd=tmp_path).stdout)
    assert [g["total"] for g in stats["latest_export"]["gates"]] == [0, 0, 0, 2, 1, 0]
