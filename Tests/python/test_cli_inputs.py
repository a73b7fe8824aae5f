"""The command line and project settings as users type them: `crucible run` with the same
tools as serve and mcp, absurd numbers refused by name, unknown rulesets refused everywhere."""

import asyncio
import json
import os
import subprocess
import sys

import pytest
from mcp import Client, StdioServerParameters

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.normpath(os.path.join(HERE, "..", ".."))
CRUCIBLE = os.path.join(ROOT, ".build", "debug", "crucible")
sys.path.insert(0, os.path.join(ROOT, "Clients", "python"))

from crucible_client import Crucible, CrucibleError


def crucible(*args, code=None, cwd=None):
    return subprocess.run([CRUCIBLE, *args], input=code, capture_output=True, text=True, cwd=cwd, timeout=120)


def test_run_has_the_standard_tools_of_its_workspace(repo, tmp_path):
    ran = crucible("run", "-", "--json", code="[c.author for c in git_log().commits]", cwd=repo)
    assert ran.returncode == 0, ran.stderr
    assert json.loads(ran.stdout)["value"] == ["Grace", "Ada"]
    elsewhere = crucible("run", "-", "--workspace", str(repo), code="read_file('app.py').content.splitlines()[0]",
                         cwd=tmp_path)
    assert elsewhere.returncode == 0 and elsewhere.stdout.strip() == '"def add(a, b):"'  # the value, as JSON
    bare = crucible("run", "-", "--no-standard-tools", code="git_log()", cwd=repo)
    assert bare.returncode == 1 and "NameError" in bare.stderr
    # Writing takes the loud flag; without it write_file is not even offered.
    refused = crucible("run", "-", code="write_file('new.txt', 'x')", cwd=repo)
    assert refused.returncode == 1 and "NameError" in refused.stderr and not (repo / "new.txt").exists()
    written = crucible("run", "-", "--allow-writes", code="write_file('new.txt', 'x').bytes_written", cwd=repo)
    assert written.returncode == 0 and written.stdout.strip() == "1" and (repo / "new.txt").read_text() == "x"


@pytest.mark.parametrize("args, named", [
    (["run", "-", "--timeout", "1e300"], "--timeout must be between 0.01 and 3600 seconds"),
    (["run", "-", "--timeout", "nan"], "--timeout must be between"),
    (["run", "-", "--memory", "99999999999"], "--memory must be an integer between 16 and 65536 MiB"),
    (["run", "-", "--output-limit=-1"], "--output-limit must be"),
    (["run", "-", "--tool-timeout", "1e400"], "--tool-timeout must be"),
    (["run", "-", "--max-tool-calls", "0"], "--max-tool-calls must be"),
    (["serve", "--max-sessions=-3"], "--max-sessions must be"),
    (["serve", "--max-queued", "1e9"], "--max-queued"),
    (["mcp", "--timeout", "1e300"], "--timeout must be"),
    (["mcp", "--tools-from-timeout", "0"], "--tools-from-timeout must be"),
    (["mcp", "--output-limit", "99999999999"], "--output-limit must be"),
    (["generate", "--kind", "view", "--task", "x", "--scripted", "x.json", "--max-retries", "100000"], "--max-retries must be"),
    (["generate", "--kind", "view", "--task", "x", "--scripted", "x.json", "--http-attempts", "1000"], "--http-attempts must be"),
])
def test_absurd_numbers_on_the_command_line_are_usage_errors(args, named, tmp_path):
    result = crucible(*args, code="1", cwd=tmp_path)
    assert result.returncode == 2, (result.returncode, result.stderr)
    assert named in result.stderr
    assert "Swift runtime failure" not in result.stderr


@pytest.mark.parametrize("args, named", [
    (["--python", "3.99"], "no recipe for Python 3.99"),
    (["--python", "garbage"], '"garbage" is not a Python version such as 3.14'),
    (["--with", ""], "--with needs a requirement"),
    (["--preload", "crucible_no_such_module"], "cannot preload crucible_no_such_module: ModuleNotFoundError"),
])
def test_an_interpreter_package_or_preload_that_cannot_be_is_a_usage_error(args, named, tmp_path):
    result = crucible("run", "-", *args, code="print('ran')", cwd=tmp_path)
    assert result.returncode == 2, (result.returncode, result.stderr)
    assert named in result.stderr and result.stdout == ""


@pytest.mark.parametrize("setting, named", [
    ("python = 3.14", "[tool.crucible] python must be a string"),  # a TOML number: it ran on 3.11, silently
    ('packages = "attrs"', "[tool.crucible] packages must be a list of strings"),
    ("preload = [1]", "[tool.crucible] preload must be a list of strings"),
])
def test_a_python_setting_of_the_wrong_type_is_refused_not_ignored(setting, named, tmp_path):
    (tmp_path / "pyproject.toml").write_text("[tool.crucible]\n%s\n" % setting)
    result = crucible("run", "-", "--workspace", str(tmp_path), code="print('ran')", cwd=tmp_path)
    assert result.returncode == 2 and named in result.stderr, (result.returncode, result.stderr)


def test_a_standard_library_module_can_be_preloaded_without_packages(tmp_path):
    result = crucible("run", "-", "--preload", "statistics", code="import sys\n'statistics' in sys.modules", cwd=tmp_path)
    assert result.returncode == 0 and result.stdout.strip() == "true", result.stderr


def test_an_absurd_timeout_in_pyproject_is_refused_by_name(repo):
    (repo / "pyproject.toml").write_text(
        "[[tool.crucible.tools]]\nname = 'slow'\ncommand = ['true']\ntimeout = 1e300\n")
    result = crucible("tools", "--workspace", str(repo))
    assert result.returncode == 2, result.stderr
    assert "tools[0].timeout must be between 0.01 and 3600 seconds" in result.stderr


def test_an_unknown_ruleset_is_a_usage_error_everywhere(repo):
    (repo / "view.py").write_text("x = 1\n")
    cli = crucible("validate", "--ruleset", "nosuch", "view.py", cwd=repo)
    assert cli.returncode == 2 and 'unknown ruleset "nosuch"' in cli.stderr and "view" in cli.stderr
    (repo / "pyproject.toml").write_text("[tool.crucible]\nrulesets = ['veiw']\n")
    configured = crucible("validate", "view.py", cwd=repo)
    assert configured.returncode == 2 and '"veiw"' in configured.stderr
    (repo / "pyproject.toml").unlink()

    with Crucible(args=["--no-corpus", "--workspace", str(repo)], stderr=subprocess.DEVNULL) as client:
        with pytest.raises(CrucibleError) as served:
            client.validate("x = 1\n", rulesets=["nosuch"])
        assert served.value.code == -32602 and "nosuch" in str(served.value) and "tdom" in str(served.value)
        assert client.validate("x = 1\n", rulesets=["view"])["passed"] is True

    async def over_mcp():
        params = StdioServerParameters(command=CRUCIBLE, args=["mcp", "--no-corpus"], cwd=str(repo))
        async with Client(params) as mcp:
            result = await mcp.call_tool("validate_code", {"code": "x = 1\n", "rulesets": ["nosuch"]})
            return result

    result = asyncio.run(asyncio.wait_for(over_mcp(), 120))
    # For MCP a bad argument is a tool error the model can fix (MCP 2025-11-25, SEP-1303).
    assert result.is_error and "nosuch" in result.content[0].text and "known:" in result.content[0].text


def test_mcp_output_limit_caps_what_run_python_returns(tmp_path):
    async def scenario():
        params = StdioServerParameters(command=CRUCIBLE, args=["mcp", "--no-corpus", "--output-limit", "100"], cwd=str(tmp_path))
        async with Client(params) as mcp:
            return await mcp.call_tool("run_python", {"code": "print('x' * 5000)"})

    result = asyncio.run(asyncio.wait_for(scenario(), 120))
    out = result.structured_content
    assert out["stdout"].startswith("x" * 100) and out["stdout_truncated_bytes"] == 4901


def test_a_successful_run_writes_nothing_on_stderr(tmp_path):
    # Logs go to stderr, so anything there is read as a problem: a dynamic-linker warning from
    # the zygote's start (LD_BIND_NOW with a development build's shared Swift runtime printed
    # two on every command) must not reach the user.
    ran = crucible("run", "-", "--no-standard-tools", code="print(6 * 7)", cwd=tmp_path)
    assert ran.returncode == 0 and ran.stdout == "42\n"
    assert ran.stderr == ""
    (tmp_path / "app.py").write_text("x = 1\n")
    checked = crucible("validate", "app.py", cwd=tmp_path)
    assert checked.returncode == 0, checked.stderr
    assert checked.stderr == ""


@pytest.mark.parametrize("code, feature", [
    ('name = "<b>"\nprint(t"hello {name}")\n', "t-strings"),
    ("type Pair[T] = tuple[T, T]\n", "a type statement"),
    ("def first[T](items: list[T]) -> T:\n    return items[0]\n", "type parameters"),
])
def test_run_on_the_system_python_says_when_code_needs_3_14(code, feature, tmp_path):
    ran = crucible("run", "-", "--no-standard-tools", code=code, cwd=tmp_path)
    assert ran.returncode == 1 and "syntax error" in ran.stderr
    assert "uses Python 3.14 syntax (%s): run it with --python 3.14" % feature in ran.stderr, ran.stderr


def test_an_ordinary_syntax_error_gets_no_3_14_hint(tmp_path):
    # The control: a syntax error in every Python, with a string that only looks like a prefix.
    ran = crucible("run", "-", "--no-standard-tools", code='print("at" "t"\nx = [\n', cwd=tmp_path)
    assert ran.returncode == 1 and "syntax error" in ran.stderr
    assert "--python 3.14" not in ran.stderr
