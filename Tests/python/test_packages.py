"""Third-party packages for sandboxed code: `--with REQ`, `[tool.crucible] packages` and
`preload`, installed on the host by pip into a cached folder the workers can only read."""

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

ATTRS = "attrs==25.1.0"


pytestmark = pytest.mark.skipif(not reachable("pypi.org", 443), reason="pypi.org is not reachable: pip cannot install packages")


@pytest.fixture(scope="module")
def cache(tmp_path_factory):
    return tmp_path_factory.mktemp("cache")


def run(code, *args, cache, cwd=None):
    return subprocess.run([CRUCIBLE, "run", "-", "--json", *args], input=code, capture_output=True, text=True,
                          env=dict(os.environ, XDG_CACHE_HOME=str(cache)), cwd=cwd, timeout=600)


USES_ATTRS = "import attrs\n@attrs.define\nclass Point:\n    x: int\n[attrs.__version__, Point(3).x]"


def test_with_installs_a_package_once_and_the_code_imports_it(cache):
    first = run(USES_ATTRS, "--with", ATTRS, cache=cache)
    assert first.returncode == 0, first.stderr
    assert json.loads(first.stdout)["value"] == ["25.1.0", 3]
    assert "installing attrs==25.1.0" in first.stderr and "attrs 25.1.0" in first.stderr
    again = run(USES_ATTRS, "--with", ATTRS, cache=cache)
    assert json.loads(again.stdout)["value"] == ["25.1.0", 3]
    assert "installing" not in again.stderr  # the cached environment


def test_without_with_the_package_is_not_importable(cache):
    result = run("import attrs", cache=cache)  # control: the sandbox has only the standard library
    assert result.returncode == 1
    assert json.loads(result.stdout)["error"]["type"] == "ModuleNotFoundError"


def test_the_environment_is_read_only_to_sandboxed_code(cache):
    result = run("import attrs, os\nopen(os.path.join(os.path.dirname(attrs.__file__), 'planted.py'), 'w')",
                 "--with", ATTRS, cache=cache)
    assert json.loads(result.stdout)["error"]["type"] == "PermissionError"
    site = next((cache / "crucible" / "environments").glob("*/site"))
    assert not (site / "attrs" / "planted.py").exists()


def test_preload_imports_a_module_in_the_zygote_before_any_code(cache):
    probe = "import sys\n'attrs' in sys.modules"
    assert json.loads(run(probe, "--with", ATTRS, "--preload", "attrs", cache=cache).stdout)["value"] is True
    assert json.loads(run(probe, "--with", ATTRS, cache=cache).stdout)["value"] is False


def test_a_package_that_cannot_be_installed_stops_before_anything_runs(cache):
    result = run("print('ran')", "--with", "crucible-no-such-package-4821", cache=cache)
    assert result.returncode == 1 and result.stdout == ""
    assert "No matching distribution found for crucible-no-such-package-4821" in result.stderr
    assert "Nothing ran" in result.stderr


def test_pyproject_packages_and_serve_tell_the_model_and_record_the_versions(cache, tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(cache))  # the serve process below: this test's cache, not the user's
    (tmp_path / "pyproject.toml").write_text('[tool.crucible]\npackages = ["%s"]\n' % ATTRS)
    assert json.loads(run(USES_ATTRS, "--workspace", str(tmp_path), cache=cache).stdout)["value"] == ["25.1.0", 3]
    corpus = tmp_path / "corpus.sqlite"
    with crucible_client.Crucible(args=["--workspace", str(tmp_path), "--corpus", str(corpus)],
                                  stderr=subprocess.DEVNULL, cwd=tmp_path) as client:
        assert "Besides the standard library you can import: attrs 25.1.0." in client.describe_tools()["prompt"]
        assert client.execute(USES_ATTRS)["value"] == ["25.1.0", 3]
    with sqlite3.connect(corpus) as db:
        record = json.loads(db.execute("SELECT record FROM attempts").fetchone()[0])
    assert record["environment"]["packages"] == {"attrs": "25.1.0"}
    assert record["environment"]["python"].startswith("3.")


def _zygotes_of(pid):
    """The zygotes a server started (its children named crucible-zygote): one per sandbox."""
    found = 0
    for task in os.listdir("/proc/%d/task" % pid):
        for child in open("/proc/%d/task/%s/children" % (pid, task)).read().split():
            try:
                found += "crucible-zygote" in open("/proc/%s/cmdline" % child, "rb").read().decode(errors="replace")
            except OSError:
                pass
    return found


def test_spellings_of_one_requirement_share_one_sandbox(cache, tmp_path, monkeypatch):
    # A server starts a sandbox per package set a request names and keeps it: spellings that
    # pip reads as the same requirement must not start one each (a trial started 8 that way).
    monkeypatch.setenv("XDG_CACHE_HOME", str(cache))
    with crucible_client.Crucible(stderr=subprocess.DEVNULL, cwd=tmp_path) as client:
        before = _zygotes_of(client._process.pid)
        for spelling in (ATTRS, "Attrs == 25.1.0", "ATTRS==25.1.0", "attrs ==25.1.0"):
            answer = client.request("execute", {"code": "import attrs\nattrs.__version__", "packages": [spelling]})
            assert answer["value"] == "25.1.0", answer
        assert _zygotes_of(client._process.pid) == before + 1
