"""The stdio client's threads take turns reading the server's output (leader/follower): a lone
caller reads its own reply, and whoever reads hands the others theirs. Nothing may wait on a
thread that is busy elsewhere: a client tool that blocks holds up no reply, and every thread
of many gets its own reply."""

import os
import subprocess
import sys
import threading

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.normpath(os.path.join(HERE, "..", ".."))
CRUCIBLE = os.path.join(ROOT, ".build", "debug", "crucible")
sys.path.insert(0, os.path.join(ROOT, "Clients", "python"))

from crucible_client import Crucible, CrucibleError, tool  # noqa: E402


def serve():
    return Crucible([CRUCIBLE, "serve", "--no-standard-tools", "--no-corpus"], stderr=subprocess.DEVNULL)


def test_a_blocked_tool_holds_up_no_other_reply_while_its_caller_reads():
    released = threading.Event()

    @tool
    def wait_for_release():
        released.wait(60)
        return "released"

    with serve() as crucible, crucible.open_session(tools=[wait_for_release]) as session:
        outcome = {}
        blocked = threading.Thread(target=lambda: outcome.update(session.execute("wait_for_release()", timeout=120)))
        blocked.start()
        # The blocked execute's thread is the one reading (no other request waits): the tool runs
        # elsewhere, and this thread's replies still come while the tool blocks.
        for index in range(20):
            assert crucible.execute("%d * 2" % index)["value"] == index * 2
        assert blocked.is_alive()
        released.set()
        blocked.join(60)
        assert outcome["value"] == "released"


def test_many_threads_each_get_their_own_reply():
    with serve() as crucible:
        results, failures = {}, []

        def run(index):
            try:
                for round_ in range(10):
                    value = crucible.execute("%d + %d" % (index, round_))["value"]
                    results[(index, round_)] = value
            except Exception as error:  # noqa: BLE001  (reported below)
                failures.append(error)

        threads = [threading.Thread(target=run, args=(index,)) for index in range(8)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(120)
        assert failures == []
        assert results == {(index, round_): index + round_ for index in range(8) for round_ in range(10)}


def test_a_server_that_dies_fails_the_waiting_request_and_every_later_one():
    crucible = serve()
    try:
        crucible.execute("1")
        crucible._process.kill()
        for _ in range(2):
            try:
                crucible.execute("2")
            except CrucibleError as error:
                assert "closed" in str(error) or "ended" in str(error), error
            else:
                raise AssertionError("a request to a dead server was answered")
    finally:
        crucible.close()
