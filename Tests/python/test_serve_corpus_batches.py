"""`crucible serve` (and `mcp`) writes its corpus records in batches, off the reply path (issue 22 item 4):
a record waits a few ms for others to share its SQLite transaction. Nothing a client was
answered for may be lost or reordered by that: every record is in the corpus when the server
exits (end of input or SIGTERM), when a session is closed, and when feedback names an attempt
right after the call that made it. Read back with sqlite3, as any other reader would."""

import os
import signal
import sqlite3
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.normpath(os.path.join(HERE, "..", ".."))
CRUCIBLE = os.path.join(ROOT, ".build", "debug", "crucible")
sys.path.insert(0, os.path.join(ROOT, "Clients", "python"))

from crucible_client import Crucible  # noqa: E402
from line_client import LineClient  # noqa: E402

CELLS = 150


def serve(corpus, cwd):
    # A window far longer than any test: a record reaches the corpus only in a full batch (64)
    # or through the drains under test, never because its window happened to run out first.
    return Crucible([CRUCIBLE, "serve", "--no-standard-tools", "--corpus", str(corpus), "--corpus-batch-ms", "60000"],
                    cwd=str(cwd), stderr=subprocess.DEVNULL)


def recorded_code(corpus, session):
    """The code of each attempt of a corpus session, in attempt order."""
    with sqlite3.connect(str(corpus)) as db:
        rows = db.execute("SELECT code FROM attempts WHERE session_id = ? ORDER BY attempt", ("serve:" + session,)).fetchall()
    return [code for (code,) in rows]


def run_fresh(crucible, session):
    """CELLS executions in fresh workers, linked to one corpus session; their codes."""
    codes = ["x = %d" % i for i in range(CELLS)]
    for code in codes:
        assert crucible.execute(code, corpus={"session": session}).ok
    return codes


def run_cells(crucible, session):
    codes = ["x = %d" % i for i in range(CELLS)]
    with crucible.open_session(persistent=True) as cells:
        for code in codes:
            assert cells.execute(code, corpus={"session": session}).ok
    return codes


def test_every_record_is_in_the_corpus_in_order_when_serve_exits(tmp_path):
    corpus = tmp_path / "corpus.sqlite"
    crucible = serve(corpus, tmp_path)
    codes = run_fresh(crucible, "fresh")
    # The last replies came back a moment ago: their records are still waiting for their batch.
    assert crucible.close() == 0
    assert recorded_code(corpus, "fresh") == codes


def test_a_closed_sessions_records_are_in_the_corpus_while_serve_runs(tmp_path):
    corpus = tmp_path / "corpus.sqlite"
    with serve(corpus, tmp_path) as crucible:
        codes = run_cells(crucible, "cells")
        # Read by another connection while the server still runs.
        assert recorded_code(corpus, "cells") == codes


def test_sigterm_writes_every_record_before_serve_ends(tmp_path):
    corpus = tmp_path / "corpus.sqlite"
    crucible = serve(corpus, tmp_path)
    codes = run_fresh(crucible, "terminated")
    crucible._process.send_signal(signal.SIGTERM)
    # It still ends as SIGTERM ends a process.
    assert crucible._process.wait(timeout=30) == -signal.SIGTERM
    assert recorded_code(corpus, "terminated") == codes


def test_feedback_right_after_an_execute_finds_its_attempt(tmp_path):
    corpus = tmp_path / "corpus.sqlite"
    with serve(corpus, tmp_path) as crucible:
        for i in range(20):
            result = crucible.execute("y = %d" % i, corpus={"session": "judged"})
            assert crucible.feedback(result["attempt"], "accepted") == {"attempt": result["attempt"], "verdict": "accepted"}
    with sqlite3.connect(str(corpus)) as db:
        (judged,) = db.execute("SELECT COUNT(*) FROM attempts WHERE session_id = 'serve:judged' AND verdict = 'accepted'").fetchone()
    assert judged == 20


def test_a_batch_window_out_of_range_is_a_usage_error(tmp_path):
    out = subprocess.run([CRUCIBLE, "serve", "--corpus-batch-ms", "70000"], input="", capture_output=True, text=True,
                         cwd=str(tmp_path), timeout=60)
    assert out.returncode == 2
    assert "--corpus-batch-ms" in out.stderr and "60000" in out.stderr, out.stderr


def test_sigterm_writes_every_record_before_mcp_ends(tmp_path):
    corpus = tmp_path / "corpus.sqlite"
    server = LineClient("mcp", "--no-standard-tools", "--corpus", str(corpus), "--corpus-batch-ms", "60000")
    reply = server.call(0, "initialize", {
        "protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "raw", "version": "0"}})
    assert "result" in reply, reply
    server.send(b'{"jsonrpc":"2.0","method":"notifications/initialized"}')
    for index in range(20):
        answer = server.call(index + 1, "tools/call", {"name": "run_python", "arguments": {"code": "%d * 3" % index}})
        assert answer["result"]["structuredContent"]["value"] == index * 3, answer
    server.process.send_signal(signal.SIGTERM)
    assert server.process.wait(timeout=30) == -signal.SIGTERM
    with sqlite3.connect(str(corpus)) as db:
        codes = [code for (code,) in db.execute("SELECT code FROM attempts ORDER BY id")]
    assert codes == ["%d * 3" % index for index in range(20)]
