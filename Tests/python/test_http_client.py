"""The HTTP clients (CrucibleHTTP, AsyncCrucibleHTTP) against a real `crucible http` on
loopback (test_http.py's Server): results, sessions, the token, error bodies and statuses,
429 with Retry-After, and the connections they keep (read from the kernel's socket table)."""

import asyncio
import os
import sys
import threading
import time

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "..", "Clients", "python"))

from crucible_client import AsyncCrucibleHTTP, CrucibleError, CrucibleHTTP  # noqa: E402
from network import reachable  # noqa: E402
from test_http import Server  # noqa: E402

TOKEN = "s3cret-token"
BODY_CAP = 1 << 20


def client_ports(url):
    """Local ports of this machine's established TCP connections to the server's port."""
    port = int(url.rsplit(":", 1)[1])
    ports = set()
    with open("/proc/net/tcp") as table:
        for line in list(table)[1:]:
            fields = line.split()
            local, remote, state = fields[1], fields[2], fields[3]
            if state == "01" and int(remote.split(":")[1], 16) == port:
                ports.add(int(local.split(":")[1], 16))
    return ports


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    folder = tmp_path_factory.mktemp("http")
    running = Server("--corpus", str(folder / "corpus.sqlite"), "--workspace", str(folder), "--max-body-mb", "1",
                     token=TOKEN)
    yield running
    assert running.stop() == 0


def test_sync_client_executes_validates_and_keeps_its_connection(server):
    others = client_ports(server.url)  # other clients' connections, still open
    with CrucibleHTTP(server.url, token=TOKEN) as crucible:
        assert crucible.health()["status"] == "ok"
        seen = client_ports(server.url) - others
        result = crucible.execute("print('hi')\nx * 2", inputs={"x": 21}, timeout=5)
        assert result.outcome == "ok" and result.value == 42 and result.stdout == "hi\n"
        assert result["value"] == 42  # typed results are still the dicts serve returns
        failed = crucible.execute("1 / 0")
        assert failed.outcome == "exception" and failed.error["type"] == "ZeroDivisionError"
        checked = crucible.validate("x = 1\n", rulesets=["view"])
        assert checked.passed is True and checked.diagnostics == []
        with pytest.raises(CrucibleError) as unknown:
            crucible.validate("x = 1\n", rulesets=["nosuch"])
        assert (unknown.value.status, unknown.value.code) == (400, "invalid_params") and "view" in unknown.value.message
        for _ in range(5):
            assert crucible.execute("1").value == 1
            seen |= client_ports(server.url) - others
        # Nine requests after /health, one connection: kept alive, no handshake per execute.
        assert len(seen) == 1, seen
        assert 'crucible_executions_total{outcome="ok"}' in crucible.metrics()


@pytest.mark.skipif(not reachable("pypi.org", 443), reason="pypi.org is not reachable: pip cannot install packages")
def test_python_and_packages_reach_the_server(server):
    crucible = CrucibleHTTP(server.url, token=TOKEN)
    version = crucible.health()["python"]
    code = "import sys, attrs\n[list(sys.version_info[:2]), attrs.__version__]"
    result = crucible.execute(code, python=version, packages=("attrs==25.1.0",))
    assert result.value == [[int(p) for p in version.split(".")[:2]], "25.1.0"]
    with crucible.open_session(python=version, packages=["attrs==25.1.0"], memory_mb=256) as session:
        assert session.execute("import attrs\nattrs.__version__").value == "25.1.0"


def test_token_from_the_environment_and_a_wrong_one(server, monkeypatch):
    monkeypatch.setenv("CRUCIBLE_HTTP_TOKEN", TOKEN)
    assert CrucibleHTTP(server.url).execute("2 + 2").value == 4
    with pytest.raises(CrucibleError) as refused:
        CrucibleHTTP(server.url, token="wrong").execute("2 + 2")
    assert (refused.value.status, refused.value.code) == (401, "unauthorized")
    assert "token" in refused.value.message


def test_persistent_session_then_closed(server):
    crucible = CrucibleHTTP(server.url, token=TOKEN)
    with crucible.open_session() as session:
        assert session.info["persistent"] is True
        session.execute("total = 40")
        assert session.execute("total + 2").value == 42
    with pytest.raises(CrucibleError) as gone:
        session.execute("total")
    assert (gone.value.status, gone.value.code) == (404, "not_found")


def busy_server(tmp_path):
    """One worker and no queue: a second request while one runs is answered 429."""
    return Server("--corpus", str(tmp_path / "corpus.sqlite"), "--workspace", str(tmp_path), "--max-running", "1",
                  "--max-queued", "0", token=TOKEN)


def test_errors_carry_status_code_and_retry_after(server, tmp_path):
    crucible = CrucibleHTTP(server.url, token=TOKEN)
    with pytest.raises(CrucibleError) as bad:
        crucible.execute("1", timeout=-1)
    assert (bad.value.status, bad.value.code) == (400, "invalid_params") and "timeout" in bad.value.message
    with pytest.raises(CrucibleError) as big:
        crucible.execute("x = '%s'" % ("a" * BODY_CAP))
    assert (big.value.status, big.value.code) == (413, "too_large")
    with pytest.raises(CrucibleError) as nowhere:
        CrucibleHTTP("http://127.0.0.1:9", token=TOKEN).execute("1")
    assert nowhere.value.code == "connection" and "cannot reach" in nowhere.value.message
    small = busy_server(tmp_path)
    refused = []

    def call(code):
        try:
            CrucibleHTTP(small.url, token=TOKEN).execute(code)
        except CrucibleError as error:
            refused.append(error)

    try:
        # A slow execution holds the only worker; the requests around it find no room.
        slow = threading.Thread(target=call, args=("import time\ntime.sleep(3)",))
        slow.start()
        for _ in range(100):
            call("1")
            if refused:
                break
        slow.join()
        assert refused, "no request was refused while the only worker was busy"
        busy = refused[0]
        assert (busy.status, busy.code, busy.busy) == (429, "busy", True)
        assert busy.retry_after is not None and busy.retry_after > 0
    finally:
        assert small.stop() == 0


def test_async_client_runs_requests_concurrently_in_order(server):
    others = client_ports(server.url)

    async def main():
        async with AsyncCrucibleHTTP(server.url, token=TOKEN, max_connections=4) as crucible:
            assert (await crucible.health())["server"] == "crucible"
            results = await asyncio.gather(*(crucible.execute("%d * 3" % i) for i in range(12)))
            assert [r.value for r in results] == [i * 3 for i in range(12)]
            session = await crucible.open_session()
            await session.execute("seen = [1]")
            assert (await session.execute("seen + [2]")).value == [1, 2]
            await session.close()
            # Twelve requests at once over at most four connections, kept open for reuse.
            ports = client_ports(server.url) - others
            assert 1 <= len(ports) <= 4 and len(crucible._idle) == len(ports)
            again = await asyncio.gather(*(crucible.execute("%d" % i) for i in range(4)))
            assert [r.value for r in again] == [0, 1, 2, 3] and client_ports(server.url) - others <= ports

    asyncio.run(main())


def test_async_sessions_open_with_async_with_or_await(server):
    async def main():
        async with AsyncCrucibleHTTP(server.url, token=TOKEN) as crucible:
            # No `await` before open_session: the session opens on entry and closes on exit.
            async with crucible.open_session(label="tried") as session:
                await session.execute("kept = 40")
                assert (await session.execute("kept + 2")).value == 42
            with pytest.raises(CrucibleError) as gone:
                await session.execute("kept")
            assert (gone.value.status, gone.value.code) == (404, "not_found")
            # Awaited, as before; and still a coroutine to asyncio, so a task can open one.
            awaited = await crucible.open_session()
            tasked = await asyncio.create_task(crucible.open_session())
            assert awaited.id != tasked.id
            for session in (awaited, tasked):
                assert (await session.close()) == {"closed": True}

    asyncio.run(main())


def test_run_code_takes_a_request_dict_or_keywords(server):
    crucible = CrucibleHTTP(server.url, token=TOKEN)
    reverse = "print(input()[::-1])"
    for answer in (crucible.run_code({"code": reverse, "stdin": "abc", "language": "python"}),
                   crucible.run_code(code=reverse, stdin="abc"),
                   crucible.run_code({"code": reverse, "stdin": "xyz"}, stdin="abc")):  # keywords win
        assert answer["status"] == "Success" and answer["run_result"]["stdout"] == "cba\n", answer

    async def main():
        async with AsyncCrucibleHTTP(server.url, token=TOKEN) as crucible:
            return await crucible.run_code(code=reverse, stdin="abc"), await crucible.run_code({"code": reverse, "stdin": "abc"})

    for answer in asyncio.run(main()):
        assert answer["status"] == "Success" and answer["run_result"]["stdout"] == "cba\n", answer


def test_sessions_take_idle_timeout_label_and_limits(server):
    crucible = CrucibleHTTP(server.url, token=TOKEN)
    sent = []
    request = crucible.request

    def recording(method, path, body=None, **options):
        sent.append(body)
        return request(method, path, body, **options)

    crucible.request = recording
    idle = crucible.open_session(idle_timeout=0.2, label="reward-42", limits={"tool_timeout": 5})
    assert sent[-1] == {"persistent": True, "idle_timeout": 0.2, "label": "reward-42", "limits": {"tool_timeout": 5}}
    lasting = crucible.open_session()
    idle.execute("x = 1")
    lasting.execute("x = 1")
    # The server checks the idle time when a cell arrives, so past 0.2 s the first is closed
    # whenever its timer runs; the second keeps the default (300 s) and its variable.
    time.sleep(0.5)
    with pytest.raises(CrucibleError) as closed:
        idle.execute("x")
    assert (closed.value.status, closed.value.code) == (404, "not_found")
    assert lasting.execute("x").value == 1
    lasting.close()
    # Both reach the server, which checks them against its ranges.
    with pytest.raises(CrucibleError) as short:
        crucible.open_session(idle_timeout=0.001)
    assert short.value.status == 400 and "idle_timeout" in short.value.message
    with pytest.raises(CrucibleError) as none:
        crucible.open_session(limits={"calls_per_execution": 0})
    assert none.value.status == 400 and "calls_per_execution" in none.value.message

    async def main():
        async with AsyncCrucibleHTTP(server.url, token=TOKEN) as crucible:
            with pytest.raises(CrucibleError) as short:
                await crucible.open_session(idle_timeout=0.001, label="async")
            assert short.value.status == 400 and "idle_timeout" in short.value.message
            async with crucible.open_session(idle_timeout=60, label="async") as session:
                assert (await session.execute("1 + 1")).value == 2

    asyncio.run(main())
