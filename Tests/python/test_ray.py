"""crucible_client.ray on a real local Ray cluster (ray.cluster_utils.Cluster: a head and two
worker nodes, each a raylet of its own on this machine): every node runs its own `crucible
serve`, results come back in input order with the node that ran them, a node killed mid-run
loses nothing and duplicates nothing, and the nodes' corpora merge into one with `crucible
corpus merge`."""

import glob
import json
import os
import sqlite3
import subprocess
import sys
import time

import pytest

ray = pytest.importorskip("ray", reason="ray is installed by scripts/setup into .crucible/tools")
from ray.cluster_utils import Cluster  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.normpath(os.path.join(HERE, "..", ".."))
CLIENT = os.path.join(ROOT, "Clients", "python")
CRUCIBLE = os.path.join(ROOT, ".build", "debug", "crucible")
sys.path.insert(0, CLIENT)

from crucible_client.ray import CruciblePool, execute_many  # noqa: E402

# Ray's minimum: every node would otherwise reserve 30% of memory for its object store.
NODE = {"num_cpus": 1, "object_store_memory": 80 * 1024 * 1024}


@pytest.fixture(scope="module")
def cluster():
    # The nodes' workers inherit this process's environment: they import crucible_client from
    # the checkout and find the crucible built here (a real cluster pip-installs the client
    # and puts crucible on PATH or in CRUCIBLE_BIN on every node).
    saved = {key: os.environ.get(key) for key in ("PYTHONPATH", "CRUCIBLE_BIN", "RAY_agent_register_timeout_ms")}
    # Each raylet waits for its node's agent (a Python process importing Ray's dashboard
    # modules) for 30 s; three of them starting at once on a busy 2-core machine took longer.
    os.environ["RAY_agent_register_timeout_ms"] = "180000"
    ray_home = os.path.dirname(os.path.dirname(os.path.abspath(ray.__file__)))  # e.g. .crucible/tools
    os.environ["PYTHONPATH"] = os.pathsep.join([CLIENT, ray_home, os.environ.get("PYTHONPATH", "")])
    os.environ["CRUCIBLE_BIN"] = CRUCIBLE
    started = time.monotonic()
    cluster = Cluster(initialize_head=True, head_node_args=dict(NODE, include_dashboard=False))
    workers = [cluster.add_node(**NODE) for _ in range(2)]
    ray.init(address=cluster.address, include_dashboard=False, log_to_driver=False)
    cluster.wait_for_nodes()
    print("cluster of 3 nodes up in %.1f s" % (time.monotonic() - started))
    yield cluster, workers
    ray.shutdown()
    cluster.shutdown()
    for key, value in saved.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value


def corpus_codes(path):
    with sqlite3.connect(path) as db:
        return [row[0] for row in db.execute("SELECT code FROM attempts ORDER BY id")]


def merge(sources, target):
    process = subprocess.run([CRUCIBLE, "corpus", "merge", *sources, "--into", str(target), "--json"],
                             capture_output=True, text=True, timeout=120)
    assert process.returncode == 0, process.stderr
    return json.loads(process.stdout)


def test_execute_many_spreads_over_every_node_in_input_order_and_corpora_merge(cluster, tmp_path):
    nodes = {node["NodeID"] for node in ray.nodes() if node["Alive"]}
    assert len(nodes) == 3
    codes = ["import time\ntime.sleep(0.05)\n%d * %d" % (i, i) for i in range(30)] + ["1 / 0"]
    started = time.monotonic()
    results = execute_many(codes, timeout=10, corpus_dir=str(tmp_path / "corpora"), per_node=4)
    print("31 executions over 3 nodes (with the actors' start) in %.1f s" % (time.monotonic() - started))
    assert [r.value for r in results[:30]] == [i * i for i in range(30)]
    assert all(r.outcome == "ok" and r["outcome"] == "ok" for r in results[:30])
    # A failing code is a result like any other, not an error of the whole batch.
    assert results[30].outcome == "exception" and results[30].error["type"] == "ZeroDivisionError"
    assert {r.node_id for r in results} == nodes, "every node ran some of the work"

    # Each node recorded into a corpus of its own, named by its node id...
    files = sorted(glob.glob(str(tmp_path / "corpora" / "*.sqlite")))
    assert {os.path.basename(f)[:-len(".sqlite")] for f in files} == nodes
    assert sorted(sum((corpus_codes(f) for f in files), [])) == sorted(codes)
    # ... and `crucible corpus merge` makes them one: every attempt once, again nothing added.
    merged = tmp_path / "merged.sqlite"
    first = merge(files, merged)
    assert sum(s["inserted"] for s in first["sources"]) == 31
    assert sorted(corpus_codes(merged)) == sorted(codes)
    again = merge(files, merged)
    assert [s["inserted"] for s in again["sources"]] == [0, 0, 0]
    assert sum(s["already_present"] for s in again["sources"]) == 31
    assert len(corpus_codes(merged)) == 31


def test_a_node_whose_crucible_cannot_start_is_said_at_once():
    with pytest.raises(RuntimeError) as failed:
        CruciblePool(serve_args=["--no-such-flag"])
    # Which node, what happened, and what serve said about it.
    message = str(failed.value)
    assert "crucible serve did not start on node" in message and "exit status 2" in message
    assert "--no-such-flag" in message


def test_a_node_killed_mid_run_loses_nothing_and_duplicates_nothing(cluster, tmp_path):
    cluster, workers = cluster
    victim = workers[0]
    codes = ["import time\ntime.sleep(0.4)\n%d + 1000" % i for i in range(24)]
    pool = CruciblePool(per_node=2, corpus_dir=str(tmp_path / "corpora"))
    seen, killed = [], []

    def on_result(index, result):
        seen.append((index, result.node_id))
        # The victim's first result: the pool has just handed it its next code (0.4 s of
        # sleep), so the node dies with work in flight.
        if result.node_id == victim.node_id and not killed:
            killed.append(time.monotonic())
            cluster.remove_node(victim)

    started = time.monotonic()
    try:
        results = pool.execute_many(codes, timeout=10, on_result=on_result)
    finally:
        pool.close()
    print("24 executions, one node killed mid-run, in %.1f s; retried: %s" % (time.monotonic() - started, pool.retried))
    assert killed, "the victim ran some code before it was killed"
    assert pool.retried, "the victim had work in flight when it died"
    # Every code has exactly one result, in input order, each from the code it belongs to.
    assert [r.value for r in results] == [i + 1000 for i in range(24)]
    assert sorted(index for index, _ in seen) == list(range(24))
    # What the victim had in flight ran again on a node that lived.
    for index in pool.retried:
        assert results[index].node_id != victim.node_id
    assert sum(r.node_id == victim.node_id for r in results) >= 1

    # Corpora: every code a surviving node ran is recorded (its serve wrote its corpus as the
    # pool closed it). The victim's serve was killed with its node, so its corpus holds what it
    # had written by then: maybe not its last results, maybe runs whose results never came
    # back (real attempts, each with its own id). Merging keeps each recorded attempt once.
    files = sorted(glob.glob(str(tmp_path / "corpora" / "*.sqlite")))
    merged = tmp_path / "merged.sqlite"
    merge(files, merged)
    recorded = corpus_codes(merged)
    survivors = [codes[i] for i, r in enumerate(results) if r.node_id != victim.node_id]
    assert set(survivors) <= set(recorded)
    assert len(recorded) <= len(codes) + len(pool.retried)
    assert [s["inserted"] for s in merge(files, merged)["sources"]] == [0] * len(files)
