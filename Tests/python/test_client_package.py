"""The Python client as a package: `pip install ./Clients/python` gives a working
crucible_client; the asyncio stdio client against a real `crucible serve`; typed results;
python=/packages= and CRUCIBLE_BIN."""

import asyncio
import os
import shutil
import subprocess
import sys
import textwrap

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.normpath(os.path.join(HERE, "..", ".."))
CLIENT = os.path.join(ROOT, "Clients", "python")
CRUCIBLE = os.path.join(ROOT, ".build", "debug", "crucible")
sys.path.insert(0, CLIENT)

from crucible_client import (AsyncCrucible, Crucible, CrucibleError, ExecutionResult, ValidationResult,  # noqa: E402
                             serve_command, tool)
from network import reachable  # noqa: E402


def test_pip_installs_a_package_that_runs_code_from_anywhere(tmp_path):
    target = tmp_path / "site"
    # From a copy: setuptools writes build/ and *.egg-info beside the sources it builds.
    source = shutil.copytree(CLIENT, tmp_path / "source", ignore=shutil.ignore_patterns("__pycache__", "build", "*.egg-info"))
    install = subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--disable-pip-version-check",
                              "--target", str(target), str(source)], capture_output=True, text=True, timeout=300)
    assert install.returncode == 0, install.stderr
    # A fresh interpreter that sees only the installed copy (not the checkout), run from an
    # empty folder, with crucible found through CRUCIBLE_BIN as a pip user would set it.
    program = textwrap.dedent("""
        import sys, crucible_client
        from crucible_client import Crucible, Tool, tool, CrucibleError, AsyncCrucible, CrucibleHTTP
        assert crucible_client.__file__.startswith(sys.argv[1]), crucible_client.__file__
        assert "ray" not in sys.modules  # Ray is imported by crucible_client.ray only
        with Crucible() as crucible:
            result = crucible.execute("sum(range(5))")
            print(result.outcome, result.value)
    """)
    env = {"PATH": os.environ["PATH"], "PYTHONPATH": str(target), "CRUCIBLE_BIN": CRUCIBLE,
           "CRUCIBLE_CORPUS": os.environ["CRUCIBLE_CORPUS"]}
    run = subprocess.run([sys.executable, "-c", program, str(target)], cwd=tmp_path, env=env,
                         capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr
    assert run.stdout.split() == ["ok", "10"]
    assert (target / "crucible_client" / "ray.py").exists()


def test_crucible_bin_and_python_packages_options(monkeypatch, tmp_path):
    monkeypatch.setenv("CRUCIBLE_BIN", CRUCIBLE)
    assert serve_command(python="3.14", packages=["attrs==25.1.0", "tdom==0.1.20"], corpus="c.sqlite") == [
        CRUCIBLE, "serve", "--python", "3.14", "--with", "attrs==25.1.0", "--with", "tdom==0.1.20", "--corpus", "c.sqlite"]
    monkeypatch.setenv("CRUCIBLE_BIN", str(tmp_path / "nothing-here"))
    with pytest.raises(FileNotFoundError, match="CRUCIBLE_BIN"):
        Crucible()
    with pytest.raises(ValueError, match="python="):
        Crucible(command=[CRUCIBLE, "serve"], python="3.14")


def test_typed_results_and_execute_on_a_named_interpreter():
    with Crucible(stderr=subprocess.DEVNULL) as crucible:
        result = crucible.execute("print('x')\n6 * 7")
        assert isinstance(result, ExecutionResult) and isinstance(result, dict)
        assert (result.outcome, result.value, result.stdout, result.ok) == ("ok", 42, "x\n", True)
        assert result.outcome == result["outcome"] and result.attempt == result["attempt"]
        checked = crucible.validate("x = 1\n", rulesets=["view"])
        assert isinstance(checked, ValidationResult) and checked.passed is True
        # python= runs the call on the interpreter it names (here the server's own version,
        # through a session kept for it); one not installed is a clear invalid-params error.
        version = crucible.server["python"]
        named = crucible.execute("import sys\n'%d.%d' % sys.version_info[:2]", python=version)
        assert version.startswith(named.value)
        with pytest.raises(CrucibleError) as missing:
            crucible.execute("1", python="2.7")
        assert missing.value.code == -32602 and "2.7" in missing.value.message


@tool(input_schema={"type": "object", "properties": {"n": {"type": "integer"}}, "required": ["n"]})
def double(n):
    """Doubles n (a plain function: the async client runs it in a thread)."""
    return n * 2


async def triple(n):
    """Triples n (a coroutine: awaited on the client's loop)."""
    await asyncio.sleep(0)
    return n * 3


def test_async_client_against_real_serve():
    async def main():
        async with await AsyncCrucible.start(stderr=subprocess.DEVNULL) as crucible:
            assert crucible.server["server"] == "crucible"
            results = await asyncio.gather(*(crucible.execute("%d ** 2" % i) for i in range(10)))
            assert [r.value for r in results] == [i * i for i in range(10)]
            from crucible_client import Tool
            tools = [double, Tool(triple, input_schema={"type": "object", "properties": {"n": {"type": "integer"}}})]
            async with await crucible.open_session(tools=tools, persistent=True) as session:
                await session.execute("a = double(n=5)")
                both = await session.execute("a + triple(n=4)")
                assert both.outcome == "ok" and both.value == 22, both
                assert [c["tool"] for c in both.trace["tool_calls"]] == ["triple"]
            with pytest.raises(CrucibleError) as closed:
                await crucible.execute("1", session=session.id)
            assert closed.value.code == -32001
            failed = await crucible.execute("raise ValueError('no')")
            assert failed.outcome == "exception" and failed.error["message"] == "no"
        return crucible

    crucible = asyncio.run(main())
    assert crucible._process.returncode == 0
    # A request on a closed client says so instead of hanging.
    with pytest.raises(CrucibleError, match="ended|closed"):
        asyncio.run(crucible.request("execute", {"code": "1"}))


def test_async_client_and_session_open_with_async_with():
    async def main():
        # No `await` before start or open_session: each opens on entry and closes on exit.
        async with AsyncCrucible.start(stderr=subprocess.DEVNULL) as crucible:
            async with crucible.open_session(tools=[double], persistent=True) as session:
                await session.execute("a = double(n=20)")
                assert (await session.execute("a + 2")).value == 42
            with pytest.raises(CrucibleError) as closed:
                await crucible.execute("1", session=session.id)
            assert closed.value.code == -32001
            # Still a coroutine to asyncio: a task can open a session.
            tasked = await asyncio.create_task(crucible.open_session(persistent=True))
            await tasked.execute("b = 1")
            assert (await tasked.execute("b")).value == 1
            await tasked.close()
        return crucible

    assert asyncio.run(main())._process.returncode == 0


def test_a_serve_that_ends_at_start_says_why_and_its_stderr_still_passes_through(capfd):
    with pytest.raises(CrucibleError) as ended:
        Crucible(args=["--no-such-flag"])
    assert "exit status 2" in ended.value.message and "Unknown option '--no-such-flag'" in ended.value.message
    assert "Unknown option '--no-such-flag'" in capfd.readouterr().err

    async def start():
        async with AsyncCrucible.start(args=["--no-such-flag"]):
            pass

    with pytest.raises(CrucibleError) as ended:
        asyncio.run(start())
    assert "exit status 2" in ended.value.message and "Unknown option '--no-such-flag'" in ended.value.message
    assert "Unknown option '--no-such-flag'" in capfd.readouterr().err


def test_a_stderr_the_caller_gave_gets_the_log_and_the_error_says_only_the_status(tmp_path):
    log_path = tmp_path / "serve.log"
    with open(log_path, "wb") as log:
        with pytest.raises(CrucibleError) as ended:
            Crucible(args=["--no-such-flag"], stderr=log)
    assert ended.value.message == "the crucible serve process ended (exit status 2)"
    assert "Unknown option '--no-such-flag'" in log_path.read_text()


@pytest.mark.skipif(not reachable("pypi.org", 443), reason="pypi.org is not reachable: pip cannot look packages up")
def test_a_package_that_will_not_install_is_named_in_the_error():
    with pytest.raises(CrucibleError) as ended:
        Crucible(packages=["nonexistent-zzzq==1"])
    assert "exit status 1" in ended.value.message
    assert "No matching distribution found for nonexistent-zzzq==1" in ended.value.message
