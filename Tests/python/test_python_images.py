"""`crucible python install/list`: interpreter images built from Debian packages with
mmdebstrap, cached outside the checkout, each with a zygote compiled for its Python.
(Running code on them: test_python_314.py.)"""

import json
import os
import shutil
import subprocess

import pytest

from network import reachable

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.normpath(os.path.join(HERE, "..", ".."))
CRUCIBLE = os.path.join(ROOT, ".build", "debug", "crucible")
MIRROR = "deb.debian.org"


def crucible(*args, cache, env=None, timeout=900):
    environment = dict(os.environ, XDG_CACHE_HOME=str(cache), **(env or {}))
    return subprocess.run([CRUCIBLE, *args], capture_output=True, text=True, env=environment, timeout=timeout)


needs_root = pytest.mark.skipif(os.geteuid() != 0, reason="building a Debian root with mmdebstrap needs root")


def test_an_unknown_version_is_a_usage_error_that_lists_the_known_ones(tmp_path):
    result = crucible("python", "install", "3.99", cache=tmp_path)
    assert result.returncode == 2
    assert "no recipe for Python 3.99" in result.stderr and "3.14" in result.stderr


def test_nothing_installed_is_listed_as_such(tmp_path):
    result = crucible("python", "list", "--json", cache=tmp_path)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == {"store": str(tmp_path / "crucible" / "python"), "images": []}


@needs_root
@pytest.mark.skipif(not reachable(MIRROR, 80), reason=f"{MIRROR} is not reachable: mmdebstrap cannot even install")
def test_an_unreachable_mirror_names_the_failed_step_and_leaves_nothing_behind(tmp_path):
    result = crucible("python", "install", "3.14", cache=tmp_path, env={"CRUCIBLE_DEBIAN_MIRROR": "http://127.0.0.1:9/debian"})
    assert result.returncode == 1
    assert "building the image (mmdebstrap) failed" in result.stderr
    assert "127.0.0.1:9" in result.stderr and "CRUCIBLE_DEBIAN_MIRROR" in result.stderr
    assert "python: " in result.stderr  # progress went to stderr as it happened
    store = tmp_path / "crucible" / "python"
    # No half-built image and no leftover folder; only the lock file that install takes turns on
    # stays (removing it could let a third process lock a new file while a second holds the old).
    assert not store.exists() or os.listdir(store) == [".install-3.14.lock"]


@needs_root
@pytest.mark.skipif(not reachable(MIRROR, 80), reason=f"{MIRROR} is not reachable")
def test_install_builds_a_real_3_14_image_once_and_records_what_it_holds(tmp_path):
    # Two first uses at once (an agent starting several sandboxes) take turns: one builds,
    # the other finds its image and zygote, and neither moves the other's work aside.
    environment = dict(os.environ, XDG_CACHE_HOME=str(tmp_path))
    both = [subprocess.Popen([CRUCIBLE, "python", "install", "3.14", "--json"], stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True, env=environment) for _ in range(2)]
    outputs = [process.communicate(timeout=900) for process in both]
    assert [process.returncode for process in both] == [0, 0], [err[-2000:] for _, err in outputs]
    assert sum("already installed" in err for _, err in outputs) == 1
    assert sum("image built in" in err for _, err in outputs) == 1
    assert json.loads(outputs[0][0]) == json.loads(outputs[1][0])
    image = json.loads(outputs[0][0])
    assert sorted(os.listdir(tmp_path / "crucible" / "python")) == [".install-3.14.lock", "3.14", "zygotes"]
    assert image["version"] == "3.14" and image["python_version"].startswith("3.14.")
    assert image["root"] == str(tmp_path / "crucible" / "python" / "3.14")
    assert image["packages"]["python3.14"].startswith(image["python_version"])
    assert "libc6" in image["packages"]
    listed = json.loads(crucible("python", "list", "--json", cache=tmp_path).stdout)["images"]
    assert [(entry["version"], entry["current"], entry["runs_sandboxed_code"]) for entry in listed] == [("3.14", True, True)]
    # Its zygote was compiled for it, into the same store.
    assert image["zygote"].startswith(str(tmp_path / "crucible" / "python" / "zygotes" / "3.14-"))
    assert os.access(image["zygote"], os.X_OK)
    # The image's interpreter is real 3.14: it evaluates a t-string (PEP 750), inside its own root.
    probe = subprocess.run(
        [shutil.which("chroot") or "/usr/sbin/chroot", image["root"], "/usr/bin/python3.14", "-c",
         "name = '<b>x</b>'; t = t'<p>{name}</p>'; print(type(t).__name__, t.strings, t.values)"],
        capture_output=True, text=True, timeout=60)
    assert probe.stdout.strip() == "Template ('<p>', '</p>') ('<b>x</b>',)", probe.stderr
    again = crucible("python", "install", "3.14", "--json", cache=tmp_path)
    assert again.returncode == 0 and "already installed" in again.stderr
    assert json.loads(again.stdout) == image
