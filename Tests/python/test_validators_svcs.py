"""The svcs, svcs-di and middleware rules on code in the libraries' documented style, on
Python 3.11 (t-strings and PEP 695 rewritten by source.py) and 3.14 (parsed natively).

Tests/fixtures/svcs_project is a project of several example folders validated as one: each
folder has its own `Greeting`, `Database` and `Users`, so the project-wide rules must trace
names through imports instead of merging them by name. Expected findings are the lines that
end with `# expect: RULE` (as in Tests/fixtures/validators)."""

import json
import os
import subprocess

import pytest

from test_validate import CRUCIBLE, EXPECT, FIXTURES, ROOT

PROJECT = os.path.join(ROOT, "Tests", "fixtures", "svcs_project")
PYTHONS = [pytest.param([], id="3.11"), pytest.param(["--python", "3.14"], id="3.14")]


def validate(*args, cwd=ROOT):
    return subprocess.run([CRUCIBLE, "validate", "--format", "json", *args], capture_output=True, text=True,
                          cwd=cwd, timeout=300)


def findings(python, *paths, cwd=ROOT):
    process = validate(*python, *paths, cwd=cwd)
    if python and process.returncode not in (0, 1):
        pytest.skip("Python 3.14 is not available here: %s" % process.stderr.strip()[-300:])
    assert process.returncode in (0, 1), process.stderr
    found = json.loads(process.stdout)
    for diagnostic in found:
        assert diagnostic["message"] and diagnostic["hint"]
    return sorted((os.path.relpath(os.path.join(cwd, d["path"]), ROOT), d["line"], d["rule"]) for d in found)


def expected(folder):
    """(path from the repository root, line, rule) of every `# expect:` line under folder."""
    found = []
    for directory, _, names in os.walk(folder):
        for name in names:
            if not name.endswith(".py"):
                continue
            path = os.path.join(directory, name)
            with open(path) as handle:
                for number, line in enumerate(handle, 1):
                    match = EXPECT.search(line.rstrip("\n"))
                    if match:
                        found.extend((os.path.relpath(path, ROOT), number, rule.strip())
                                     for rule in match.group(1).split(","))
    return sorted(found)


@pytest.mark.parametrize("python", PYTHONS)
def test_classes_of_the_same_name_in_two_example_folders_are_two_types(python):
    # greeting_b asks for its own Greeting while only greeting_a's is registered (SVCS001),
    # registers its own Database whose `host` has no default (SVCS003, though greeting_a's has
    # one) and its own Users, a PEP 695 alias (SVCS005, though greeting_a's is a class); the
    # scanned folder registers through @injectable + scan(), HopscotchContainer(location=) and
    # a ServiceLocator, in another module than the requests.
    assert findings(python, "--select", "SVCS,DI,MW", os.path.relpath(PROJECT, ROOT)) == expected(PROJECT)


@pytest.mark.parametrize("python", PYTHONS)
def test_names_resolve_whatever_folder_the_project_is_validated_from(python):
    # Relative paths from the project's own folder, and absolute paths, name the same modules.
    want = expected(PROJECT)
    assert findings(python, "--select", "SVCS", ".", cwd=PROJECT) == want
    assert findings(python, "--select", "SVCS", PROJECT, cwd="/") == want


@pytest.mark.parametrize("python", PYTHONS)
@pytest.mark.parametrize("ruleset", ["svcs", "svcs_di", "middleware"])
def test_the_rule_fixtures_give_the_same_findings_on_3_11_and_3_14(python, ruleset):
    # PEP 695/696 generics (type parameters, defaults, `type` aliases) are analysed alike on
    # both: a type parameter is never a service type.
    folder = os.path.join(FIXTURES, ruleset)
    assert findings(python, os.path.relpath(folder, ROOT)) == expected(folder)


def test_a_type_parameter_is_not_a_service_type_but_a_class_of_that_name_elsewhere_is_unrelated(tmp_path):
    # `T` of `def f[T]` is a type parameter there; a real class T in another module is not
    # registered by the generic function's `register_factory(T, ...)`.
    (tmp_path / "generic.py").write_text(
        "import svcs\n\n\n"
        "def provide[T](registry: svcs.Registry, factory: type[T]) -> None:\n"
        "    registry.register_factory(T, factory)\n\n\n"
        "def fetch[T](container: svcs.Container) -> T:\n"
        "    return container.get(T)\n")
    (tmp_path / "views.py").write_text(
        "import svcs\n\n\nclass T:\n    pass\n\n\n"
        "def page(container: svcs.Container) -> T:\n"
        "    return container.get(T)\n")
    for python in ([], ["--python", "3.14"]):
        assert findings(python, ".", cwd=str(tmp_path)) == [
            (os.path.relpath(str(tmp_path / "views.py"), ROOT), 9, "SVCS001")]
