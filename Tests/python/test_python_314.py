"""Sandboxed code on Python 3.14 (`--python 3.14`, `[tool.crucible] python`): the image's
interpreter, its packages, the same confinement, and validators that parse 3.14 natively.

The image and its zygote come from the user's cache, as for any user: `scripts/test`
installs them first (`crucible python install 3.14`); run alone, the first test installs them.
"""

import json
import os
import sqlite3
import subprocess
import sys

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.normpath(os.path.join(HERE, "..", ".."))
CRUCIBLE = os.path.join(ROOT, ".build", "debug", "crucible")
sys.path.insert(0, os.path.join(ROOT, "Clients", "python"))

import crucible_client  # noqa: E402
from network import reachable  # noqa: E402


pytestmark = [
    pytest.mark.skipif(os.geteuid() != 0, reason="an interpreter image is built and entered as root"),
    pytest.mark.skipif(not reachable("deb.debian.org", 80), reason="deb.debian.org is not reachable: no image can be built"),
]
needs_index = pytest.mark.skipif(not reachable("pypi.org", 443), reason="pypi.org is not reachable: pip cannot install packages")


def crucible(*args, code=None, cwd=None, timeout=900):
    return subprocess.run([CRUCIBLE, *args], input=code, capture_output=True, text=True, cwd=cwd, timeout=timeout)


def run(code, *args, cwd=None):
    result = crucible("run", "-", "--json", *args, code=code, cwd=cwd)
    assert result.stdout, result.stderr[-3000:]
    return result, json.loads(result.stdout)


@pytest.fixture(scope="module", autouse=True)
def installed():
    result = crucible("python", "install", "3.14", "--json")
    assert result.returncode == 0, result.stderr[-3000:]
    return json.loads(result.stdout)


def test_code_runs_on_3_14_and_evaluates_a_t_string():
    code = "import sys\nname = '<b>x</b>'\ntemplate = t'<p>{name}</p>'\n[list(sys.version_info[:2]), type(template).__name__, template.values]"
    result, payload = run(code, "--python", "3.14")
    assert result.returncode == 0, payload
    assert payload["value"] == [[3, 14], "Template", ["<b>x</b>"]]
    # Control: the system's Python cannot even compile it.
    result, payload = run(code)
    assert result.returncode == 1 and payload["error"]["type"] == "SyntaxError"


def test_pep_695_generics_and_threads_run_on_3_14():
    code = (
        "from concurrent.futures import ThreadPoolExecutor\n"
        "type Pair[T] = tuple[T, T]\n"
        "def first[T](items: list[T]) -> T:\n    return items[0]\n"
        "class Box[T]:\n    def __init__(self, item: T):\n        self.item = item\n"
        "with ThreadPoolExecutor(4) as pool:\n    squares = list(pool.map(lambda n: n * n, range(6)))\n"
        "[first([7, 8]), Box('b').item, Pair.__value__.__name__, squares]"
    )
    result, payload = run(code, "--python", "3.14")
    assert result.returncode == 0, payload
    assert payload["value"] == [7, "b", "tuple", [0, 1, 4, 9, 16, 25]]


ATTACKS = {
    "fork": ("import os\nos.fork()", "PermissionError"),
    "socket": ("import socket\nsocket.socket()", "PermissionError"),
    "read a host file": ("open('/etc/hostname').read()", None),  # the image's own, or nothing of the host's
    "write": ("open('/tmp/crucible-escape', 'w').write('x')", "PermissionError"),
}


@pytest.mark.parametrize("name", sorted(ATTACKS))
def test_the_same_confinement_holds_on_3_14(name):
    code, error = ATTACKS[name]
    result, payload = run(code, "--python", "3.14")
    assert result.returncode == 1, payload
    if error:
        assert payload["error"]["type"] == error, payload
    else:  # /etc of the host is not in the image, and Landlock refuses what is
        assert payload["error"]["type"] in ("PermissionError", "FileNotFoundError"), payload
    assert not os.path.exists("/tmp/crucible-escape")


def test_ptrace_kills_the_worker_on_3_14_as_on_the_system_python():
    code = "import ctypes\nctypes.CDLL(None).syscall(101, 0, 0, 0, 0)"
    for args in (["--python", "3.14"], []):
        result, payload = run(code, *args)
        assert payload["outcome"] == "killed_by_seccomp" and payload["syscall"] == "ptrace", (args, payload)


def test_pyproject_python_chooses_the_interpreter(tmp_path):
    (tmp_path / "pyproject.toml").write_text('[project]\nname = "app"\n\n[tool.crucible]\npython = "3.14"\n')
    result, payload = run("import sys\nsys.version_info[:2]", cwd=tmp_path)
    assert result.returncode == 0 and payload["value"] == [3, 14], payload
    # The flag wins over the project.
    result, payload = run("import sys\nsys.version_info[:2]", "--python", "3.11", cwd=tmp_path)
    assert payload["value"] == [3, 11], payload


def test_an_unknown_version_fails_before_anything_runs():
    result = crucible("run", "-", "--python", "3.99", code="print('ran')")
    assert result.returncode == 2  # a usage error, like a bad flag
    assert "no recipe for Python 3.99" in result.stderr and "3.14" in result.stderr
    assert "ran" not in result.stdout


@needs_index
def test_tdom_renders_an_escaped_value_on_3_14_and_the_corpus_records_its_environment(tmp_path):
    code = (
        "from tdom import html\n"
        "name = '<script>alert(1)</script>'\n"
        "def Greeting(*, who: str):\n    return t\"<p class='greeting'>Hello {who}</p>\"\n"
        "str(html(t'<div><{Greeting} who={name} /></div>'))"
    )
    result, payload = run(code, "--python", "3.14", "--with", "tdom==0.1.20", "--preload", "tdom")
    assert result.returncode == 0, result.stderr[-2000:]
    assert payload["value"] == '<div><p class="greeting">Hello &lt;script&gt;alert(1)&lt;/script&gt;</p></div>'
    # Byte-compiled by the image's own 3.14 and found at the environment's final place.
    result, payload = run("import os, tdom\nspec = tdom.__spec__\n"
                          "['.building' in spec.origin, spec.cached.endswith('.cpython-314.pyc'), os.path.exists(spec.cached)]",
                          "--python", "3.14", "--with", "tdom==0.1.20")
    assert payload["value"] == [False, True, True], payload
    # serve on 3.14: the prompt names the packages, and each attempt records interpreter and versions.
    corpus = tmp_path / "corpus.sqlite"
    with crucible_client.Crucible(args=["--python", "3.14", "--with", "tdom==0.1.20", "--corpus", str(corpus)],
                                  stderr=subprocess.DEVNULL, cwd=tmp_path) as client:
        prompt = client.describe_tools()["prompt"]
        assert prompt.startswith("Write Python 3.14 code") and "tdom 0.1.20" in prompt  # it said 3.11 on 3.14
        reply = client.execute("import sys, tdom\nsys.version_info[:2]")
        assert reply["outcome"] == "ok" and reply["value"] == [3, 14], reply
    with sqlite3.connect(corpus) as db:
        record = json.loads(db.execute("SELECT record FROM attempts").fetchone()[0])
    assert record["environment"]["python"].startswith("3.14.") and record["environment"]["packages"]["tdom"] == "0.1.20"


@needs_index
def test_a_package_without_a_wheel_for_3_14_is_a_clear_error_before_anything_runs():
    result = crucible("run", "-", "--python", "3.14", "--with", "crucible-no-such-package-xyz", code="print('ran')")
    assert result.returncode == 1
    assert "for Python 3.14" in result.stderr and "Nothing ran" in result.stderr
    assert "ran" not in result.stdout


FIXTURES = os.path.join(ROOT, "Tests", "fixtures", "validators")


@pytest.mark.parametrize("ruleset", sorted(os.listdir(FIXTURES)))
def test_validators_parse_natively_on_3_14_and_find_exactly_what_they_find_on_3_11(ruleset):
    def findings(*args):
        result = crucible("validate", "--format", "json", *args, os.path.join(FIXTURES, ruleset))
        assert result.returncode == 1, result.stderr
        return sorted((os.path.basename(d["path"]), d["line"], d["rule"]) for d in json.loads(result.stdout))

    assert findings("--python", "3.14") == findings()


NEWER_SYNTAX = (
    "from tdom import html\n\n"
    "type Children = list[str]\n\n"
    "def card[T](d: dict[str, T]):\n"
    "    return html(t\"<p class={d[\"cls\"]}>{d[\"text\"]}</p>\")\n"
)


def test_valid_3_14_code_is_never_a_syntax_error(tmp_path):
    path = tmp_path / "views.py"
    path.write_text(NEWER_SYNTAX)
    native = crucible("validate", "--python", "3.14", "--format", "json", str(path))
    assert native.returncode == 0, native.stdout
    # On 3.11 the t-string that reuses its quotes cannot be read: one PY314 finding that says
    # how to get a real answer, not a SYNTAX error.
    older = crucible("validate", "--format", "json", str(path))
    found = json.loads(older.stdout)
    assert [(d["rule"], d["line"]) for d in found] == [("PY314", 6)]
    assert "crucible python install 3.14" in found[0]["hint"]
    # A real syntax error stays one, on both.
    path.write_text("def broken(:\n    pass\n")
    for args in (["--python", "3.14"], []):
        result = crucible("validate", "--format", "json", *args, str(path))
        assert [d["rule"] for d in json.loads(result.stdout)] == ["SYNTAX"]


def test_a_t_string_joined_to_a_plain_string_is_tstr001_on_3_14_and_the_rest_is_still_checked(tmp_path):
    path = tmp_path / "views.py"
    path.write_text(
        "from tdom import html\n\n"
        "def a(x):\n    return html(t\"<p>{x}</p>\" \"<hr/>\")\n\n"
        "def b(name):\n    return html(f\"<p>{name}</p>\")\n"
    )
    for args in (["--python", "3.14"], []):
        result = crucible("validate", "--format", "json", *args, str(path))
        rules = sorted((d["rule"], d["line"]) for d in json.loads(result.stdout))
        assert ("TSTR001", 4) in rules and any(line == 7 for _, line in rules), (args, rules)


def test_doctor_checks_every_installed_interpreter():
    result = crucible("doctor", "--json")
    assert result.returncode == 0, result.stdout[-2000:]
    report = json.loads(result.stdout)
    by_version = {entry["python"]: entry for entry in report["interpreters"]}
    assert by_version["3.14"]["works"] and by_version["3.14"]["ptrace"] == "killed_by_seccomp"
    assert by_version["3.14"]["report"]["python"].startswith("3.14.")
    assert any(not entry["interpreter"].startswith("image") for entry in report["interpreters"])


def test_a_serve_session_can_run_on_3_14_beside_the_servers_own_python(tmp_path):
    with crucible_client.Crucible(stderr=subprocess.DEVNULL, cwd=tmp_path) as client:
        session = client.open_session(python="3.14", persistent=True)
        assert session.info["python"].startswith("3.14.")
        assert client.execute("import sys\nx = sys.version_info[:2]\nx", session=session)["value"] == [3, 14]
        assert client.execute("x", session=session)["value"] == [3, 14]  # persistent on 3.14
        fresh = client.open_session(python="3.14")
        assert client.execute("type(t'a').__name__", session=fresh)["value"] == "Template"
        # The session's prompt names its interpreter, not the server's.
        assert session.describe_tools()["prompt"].startswith("Write Python 3.14 code")
        assert client.describe_tools()["prompt"].startswith("Write Python 3.11 code")
        # The server's own interpreter is unchanged for everything else.
        assert client.execute("import sys\nsys.version_info[:2]")["value"] == [3, 11]
        with pytest.raises(crucible_client.CrucibleError) as unknown:
            client.open_session(python="3.99")
        assert unknown.value.code == -32602 and "no recipe for Python 3.99" in str(unknown.value)


COMPONENT_TASK = "Write a Card component with a title and the default badge."
# Passes every static rule (the badge is looked up at runtime), but tdom refuses to call the
# badge without its required `label`.
BROKEN_COMPONENT = '''```python
from string.templatelib import Template


def Badge(*, label: str) -> Template:
    return t"<span class='badge'>{label}</span>"


BADGES = {"default": Badge}


def Card(*, title: str) -> Template:
    badge = BADGES["default"]
    return t"<div><h2>{title}</h2><{badge} /></div>"
```'''
FIXED_COMPONENT = BROKEN_COMPONENT.replace("<{badge} />", "<{badge} label='new' />")


def write_script(path, task, replies):
    path.write_text(json.dumps({"task": task, "replies": replies}) + "\n")


@needs_index
def test_a_component_that_passes_the_static_rules_but_fails_in_tdom_is_fed_back_on_3_14(tmp_path):
    write_script(tmp_path / "replies.jsonl", COMPONENT_TASK, [BROKEN_COMPONENT, FIXED_COMPONENT])
    process = crucible("generate", "--kind", "component", "--task", COMPONENT_TASK, "--scripted", "replies.jsonl",
                       "--python", "3.14", "--with", "tdom==0.1.20", "--records", "out.jsonl", cwd=tmp_path)
    assert process.returncode == 0, process.stdout + process.stderr
    first, second = [json.loads(line) for line in (tmp_path / "out.jsonl").read_text().splitlines()]
    assert first["diagnostics"] == []  # a static pass...
    assert (first["passed"], second["passed"]) == (False, True)  # ...that failed at runtime is not recorded as one
    assert first["runtime"]["status"] == "checked" and first["runtime"]["check"]["outcome"] == "exception"
    feedback = second["messages"][-1]["content"]
    assert "Missing required parameters for component: label" in feedback  # tdom's own words
    assert second["runtime"]["check"]["value"] == {"rendered": ["Badge", "Card"], "skipped": []}


def test_on_the_system_python_the_component_stays_static_and_says_why(tmp_path):
    write_script(tmp_path / "replies.jsonl", COMPONENT_TASK, [BROKEN_COMPONENT])
    process = crucible("generate", "--kind", "component", "--task", COMPONENT_TASK, "--scripted", "replies.jsonl",
                       "--records", "out.jsonl", cwd=tmp_path)
    assert process.returncode == 0, process.stdout + process.stderr
    (only,) = [json.loads(line) for line in (tmp_path / "out.jsonl").read_text().splitlines()]
    assert only["passed"] and only["runtime"]["status"] == "skipped"
    assert only["runtime"]["check"]["outcome"] == "not_run" and "--python 3.14" in only["runtime"]["check"]["reason"]


@needs_index
def test_the_runtime_check_imports_the_workspace_read_only(tmp_path):
    workspace = tmp_path / "project"
    (workspace / "app").mkdir(parents=True)
    (workspace / "app" / "__init__.py").write_text("")
    (workspace / "app" / "labels.py").write_text("DEFAULT_LABEL = 'new'\n")
    os.chmod(tmp_path, 0o755)  # workers run as nobody: the workspace must be reachable
    component = FIXED_COMPONENT.replace("label='new'", "label={DEFAULT_LABEL}").replace(
        "from string.templatelib import Template\n", "from string.templatelib import Template\n\nfrom app.labels import DEFAULT_LABEL\n")
    write_script(tmp_path / "replies.jsonl", COMPONENT_TASK, [component])
    process = crucible("generate", "--kind", "component", "--task", COMPONENT_TASK, "--scripted", "replies.jsonl",
                       "--python", "3.14", "--with", "tdom==0.1.20", "--workspace", str(workspace),
                       "--records", "out.jsonl", cwd=tmp_path)
    assert process.returncode == 0, process.stdout + process.stderr
    (only,) = [json.loads(line) for line in (tmp_path / "out.jsonl").read_text().splitlines()]
    assert only["passed"] and only["runtime"]["check"]["outcome"] == "ok", only["runtime"]
    assert sorted(os.listdir(workspace / "app")) == ["__init__.py", "labels.py"]  # nothing written (no __pycache__)


def test_mcp_runs_code_on_3_14_through_the_official_client(tmp_path):
    import asyncio

    from mcp import Client, StdioServerParameters

    async def scenario():
        params = StdioServerParameters(command=CRUCIBLE, args=["mcp", "--python", "3.14"], cwd=str(tmp_path))
        async with Client(params) as client:
            result = await client.call_tool("run_python", {"code": "import sys\nname = '<b>'\n[list(sys.version_info[:2]), t'{name}'.values]"})
            assert not result.is_error, result.content[0].text
            assert result.structured_content["value"] == [[3, 14], ["<b>"]]
            validated = await client.call_tool("validate_code", {"code": "from tdom import html\ndef v(d):\n    return html(t\"<p>{d[\"k\"]}</p>\")\n", "rulesets": ["tdom"]})
            assert validated.structured_content["passed"], validated.structured_content  # parsed natively: no PY314

    asyncio.run(asyncio.wait_for(scenario(), timeout=300))
