"""`crucible validate` end to end: fixture corpus with exact expected findings, t-string
parsing, output formats (SARIF checked against the official 2.1.0 schema), exit codes."""

import json
import os
import re
import subprocess

import jsonschema
import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.normpath(os.path.join(HERE, "..", ".."))
CRUCIBLE = os.path.join(ROOT, ".build", "debug", "crucible")
FIXTURES = os.path.join(ROOT, "Tests", "fixtures", "validators")
EXPECT = re.compile(r"#\s*expect:\s*([A-Z0-9_, ]+)$")


def validate(*args, cwd=ROOT):
    return subprocess.run([CRUCIBLE, "validate", *args], capture_output=True, text=True, cwd=cwd, timeout=120)


def expected_findings(folder):
    """Sorted (file, line, rule), once per expected finding (two on one line count twice)."""
    expected = []
    for name in sorted(os.listdir(folder)):
        path = os.path.join(folder, name)
        with open(path) as handle:
            for number, line in enumerate(handle, 1):
                match = EXPECT.search(line.rstrip("\n"))
                if match:
                    for rule in match.group(1).split(","):
                        expected.append((name, number, rule.strip()))
    return sorted(expected)


@pytest.mark.parametrize("ruleset", sorted(os.listdir(FIXTURES)))
def test_fixture_corpus_gives_exactly_the_annotated_findings(ruleset):
    folder = os.path.join(FIXTURES, ruleset)
    process = validate("--format", "json", folder)
    assert process.returncode == 1, process.stderr
    found = json.loads(process.stdout)
    actual = sorted((os.path.basename(d["path"]), d["line"], d["rule"]) for d in found)
    # Exact sets: a missed finding and a false alarm both fail.
    assert actual == expected_findings(folder)
    for diagnostic in found:
        assert diagnostic["message"] and diagnostic["hint"]
        assert diagnostic["end_line"] >= diagnostic["line"]


def test_correct_code_has_no_findings():
    process = validate(os.path.join(FIXTURES, "view", "good_views.py"))
    assert process.returncode == 0, process.stdout
    assert process.stdout.strip() == "All checks passed (1 files)."


@pytest.mark.parametrize("code", [
    't"a"', 'T"a"', 'tr"a\\d"', 'Tr"a"', 'tR"a"', 'TR"a"', 'rt"a"', 'Rt"a"', 'rT"a"', 'RT"a"',
    "t'''multi\nline {x}'''", 't"{x!r:>{width}}"', 't"{x=}"', 't"{ {1: 2}[1] }"', 't"a" t"b{x}"',
    't"{t"inner"}"'.replace('t"inner"', "t'inner'"),
])
def test_valid_t_strings_parse(tmp_path, code):
    source = tmp_path / "t.py"
    source.write_text("x = 1\nwidth = 3\nvalue = html(%s)\n" % code)
    process = validate("--format", "json", str(source))
    assert json.loads(process.stdout) == [], (code, process.stdout)


PEP_695_VIEW = """from tdom import Element, html
from app.views import view

type Pair[K, V = str] = dict[K, V]


class Box[T: (int, str) = int]:
    def __init__(self, item: T) -> None:
        self.item = item


def first[T, *Ts, **P](items: list[T]) -> T:
    return items[0]


@view
def profile_view[T](name: T) -> Element:
    return html(%s)
"""


@pytest.mark.parametrize("body, rules", [('t"<p>{name}</p>"', []), ('f"<p>{name}</p>"', ["VIEW006"])])
def test_pep_695_and_696_code_is_analysed_like_any_other(tmp_path, body, rules):
    # Type parameters on def, class and type (with bounds, defaults, *Ts and **P): every rule
    # runs, and a real finding inside a generic view is reported at its own line, not SYNTAX.
    source = tmp_path / "generic.py"
    source.write_text(PEP_695_VIEW % body)
    found = json.loads(validate("--format", "json", str(source)).stdout)
    assert [(d["rule"], d["line"]) for d in found] == [(rule, 18) for rule in rules], found


@pytest.mark.parametrize("code", ['t"a" "b"', '"a" t"b"', 't"a" f"b"', 't"a"\\\n    "b"'])
def test_t_string_mixed_with_other_strings_is_an_error(tmp_path, code):
    source = tmp_path / "t.py"
    source.write_text("value = (%s)\n" % code)
    process = validate("--format", "json", str(source))
    assert [d["rule"] for d in json.loads(process.stdout)] == ["TSTR001"], code


def test_an_f_string_named_like_a_t_prefix_is_not_a_t_string(tmp_path):
    source = tmp_path / "t.py"
    source.write_text("t = 'x'\nvalue = html(f'{t}')\nother = t + 'y'\n")
    process = validate("--format", "json", str(source))
    assert [d["rule"] for d in json.loads(process.stdout)] == ["VIEW006"]


def test_sarif_validates_against_the_official_schema():
    process = validate("--format", "sarif", os.path.join(FIXTURES, "view"))
    document = json.loads(process.stdout)
    with open(os.path.join(ROOT, "Tests", "fixtures", "sarif-schema-2.1.0.json")) as handle:
        schema = json.load(handle)
    jsonschema.Draft4Validator(schema).validate(document)
    results = document["runs"][0]["results"]
    assert len(results) == len(expected_findings(os.path.join(FIXTURES, "view")))
    rule_ids = {rule["id"] for rule in document["runs"][0]["tool"]["driver"]["rules"]}
    assert {result["ruleId"] for result in results} - {"SYNTAX"} <= rule_ids


def test_github_annotations_and_select_ignore():
    bad = os.path.join(FIXTURES, "view", "bad_views.py")
    process = validate("--format", "github", "--select", "VIEW006", bad)
    lines = process.stdout.splitlines()
    assert len(lines) == 4 and all(line.startswith("::error file=") and "title=VIEW006::" in line for line in lines)
    ignored = validate("--format", "json", "--ignore", "VIEW", bad)
    assert {d["rule"] for d in json.loads(ignored.stdout)} == {"TSTR001", "CRU001"}
    syntax = validate("--format", "json", "--select", "VIEW006", os.path.join(FIXTURES, "view", "syntax_error.py"))
    assert [d["rule"] for d in json.loads(syntax.stdout)] == ["SYNTAX"]  # never filtered away


def test_pyproject_configuration(tmp_path):
    (tmp_path / "pyproject.toml").write_text("[tool.crucible]\nview_decorator = 'pages.page'\nview_suffix = '_page'\n")
    (tmp_path / "app.py").write_text(
        "@pages.page\ndef home_page() -> Element:\n    return html(t'<p/>')\n\n"
        "def about_page() -> Element:\n    return html(t'<p/>')\n")
    process = validate("--format", "json", "app.py", cwd=tmp_path)
    assert [(d["line"], d["rule"]) for d in json.loads(process.stdout)] == [(5, "VIEW001")]


def test_exit_codes(tmp_path):
    clean = tmp_path / "clean.py"
    clean.write_text("x = 1\n")
    assert validate(str(clean)).returncode == 0
    assert validate(os.path.join(FIXTURES, "view", "bad_views.py")).returncode == 1
    missing = validate(str(tmp_path / "nope.py"))
    assert missing.returncode == 2 and "no such file or folder" in missing.stderr
    assert subprocess.run([CRUCIBLE, "validate"], capture_output=True).returncode == 2


def test_rules_are_documented():
    process = validate("--list-rules", "--format", "json")
    rules = json.loads(process.stdout)
    assert [r["id"] for r in rules] == [
        "CRU001", "DI001", "DI002", "MW001", "MW002", "MW003", "PY314",
        "SVCS001", "SVCS002", "SVCS003", "SVCS004", "SVCS005", "SVCS006",
        "TDOM001", "TDOM002", "TDOM003", "TDOM004", "TDOM005", "TDOM006", "TDOM007", "TDOM008", "TDOM009",
        "TDOM010", "TDOM011",
        "TSTR001", "VIEW001", "VIEW002", "VIEW003", "VIEW004", "VIEW005", "VIEW006"]
    assert {r["ruleset"] for r in rules} == {"core", "view", "tdom", "svcs", "svcs-di", "middleware"}
    for rule in rules:
        assert rule["message"] and rule["hint"] and rule["doc"] and rule["failing_example"] and rule["passing_example"]


def test_user_rule_module_and_per_file_ignores(tmp_path):
    (tmp_path / "house_rules.py").write_text(
        "from crucible_validators.engine import Finding, rule\n\n"
        "@rule('HOUSE001', 'house', message='no print() in library code', hint='use logging',\n"
        "      doc='Library code logs; it does not print.', bad='print(1)', good='log.info(1)')\n"
        "def no_print(context):\n"
        "    for call in context.calls:\n"
        "        if getattr(call.func, 'id', None) == 'print':\n"
        "            yield Finding(call)\n"
    )
    (tmp_path / "pyproject.toml").write_text(
        "[tool.crucible]\nrule_modules = ['house_rules.py']\n"
        "per_file_ignores = { 'scripts/*' = ['HOUSE'] }\n"
    )
    (tmp_path / "lib.py").write_text("print('x')\n")
    (tmp_path / "scripts").mkdir()
    (tmp_path / "scripts" / "run.py").write_text("print('ok here')\n")
    process = validate("--format", "json", "lib.py", "scripts", cwd=tmp_path)
    assert [(d["path"], d["line"], d["rule"]) for d in json.loads(process.stdout)] == [("lib.py", 1, "HOUSE001")]
    listed = json.loads(validate("--list-rules", "--format", "json", cwd=tmp_path).stdout)
    assert "HOUSE001" in [r["id"] for r in listed]


def test_a_user_rule_module_runs_confined(tmp_path):
    # A rule module is code from the repository: it runs in the sandbox like model code.
    (tmp_path / "evil_rules.py").write_text("open('/tmp/crucible-evil-rule-marker', 'w').write('x')\n")
    (tmp_path / "pyproject.toml").write_text("[tool.crucible]\nrule_modules = ['evil_rules.py']\n")
    (tmp_path / "a.py").write_text("x = 1\n")
    process = validate("a.py", cwd=tmp_path)
    assert process.returncode == 2
    assert "PermissionError" in process.stderr
    assert not os.path.exists("/tmp/crucible-evil-rule-marker")


def findings(process):
    assert process.returncode in (0, 1), process.stderr
    return [(os.path.basename(d["path"]), d["line"], d["rule"]) for d in json.loads(process.stdout)]


def test_services_registered_elsewhere_are_declared_external(tmp_path):
    (tmp_path / "views.py").write_text(
        "import svcs\n\ndef page(svcs_container: svcs.Container):\n"
        "    return svcs_container.get(Database), svcs_container.get(Mailer)\n")
    assert findings(validate("--format", "json", "views.py", cwd=tmp_path)) == [
        ("views.py", 4, "SVCS001"), ("views.py", 4, "SVCS001")]
    (tmp_path / "pyproject.toml").write_text("[tool.crucible]\nexternal_services = ['app.db.Database']\n")
    assert findings(validate("--format", "json", "views.py", cwd=tmp_path)) == [("views.py", 4, "SVCS001")]


def test_registration_in_another_file_and_another_batch_counts(tmp_path):
    # Enough files that they are split over several parallel batches: the facts still meet.
    for index in range(40):
        (tmp_path / ("filler_%02d.py" % index)).write_text("x = %d\n" % index)
    (tmp_path / "a_views.py").write_text(
        "def page(svcs_container):\n    return svcs_container.get(Database)\n")
    (tmp_path / "z_services.py").write_text(
        "import svcs\n\nclass Database: ...\n\nregistry = svcs.Registry()\n"
        "registry.register_factory(Database, Database)\n")
    assert findings(validate("--format", "json", ".", cwd=tmp_path)) == []
    (tmp_path / "z_services.py").unlink()
    assert findings(validate("--format", "json", ".", cwd=tmp_path)) == [("a_views.py", 2, "SVCS001")]


def test_a_project_rule_can_be_suppressed_and_an_unused_suppression_is_reported(tmp_path):
    (tmp_path / "views.py").write_text(
        "def page(svcs_container):\n"
        "    a = svcs_container.get(Database)  # crucible: ignore[SVCS001]\n"
        "    b = 1  # crucible: ignore[SVCS001]\n")
    assert findings(validate("--format", "json", "views.py", cwd=tmp_path)) == [("views.py", 3, "CRU001")]


def test_async_middleware_is_fine_where_the_async_chain_runs(tmp_path):
    (tmp_path / "mw.py").write_text(
        "from tdom_svcs import middleware\n\n@middleware\nclass Load:\n    priority: int = 0\n\n"
        "    async def __call__(self, target, props, context):\n        return props\n")
    assert findings(validate("--format", "json", "mw.py", cwd=tmp_path)) == [("mw.py", 7, "MW003")]
    (tmp_path / "app.py").write_text(
        "from tdom_svcs import execute_middleware_async\n\n"
        "async def render(target, container):\n    return await execute_middleware_async(target, {}, container)\n")
    assert findings(validate("--format", "json", ".", cwd=tmp_path)) == []


def test_tdom_era_from_configuration(tmp_path):
    (tmp_path / "page.py").write_text(
        "from tdom import Element, html\n\n"
        "def Card(*, title: str) -> Element:\n    return html(t'<h2>{title}</h2>')\n\n"
        "def page() -> Element:\n    return html(t'<{Card} title=\"x\" />')\n")
    # By its imports the file is of the Node era (<= 0.1.14), where this is correct.
    assert findings(validate("--format", "json", "--ruleset", "tdom", "page.py", cwd=tmp_path)) == []
    (tmp_path / "pyproject.toml").write_text("[tool.crucible]\ntdom_version = '0.1.20'\n")
    assert findings(validate("--format", "json", "--ruleset", "tdom", "page.py", cwd=tmp_path)) == [
        ("page.py", 1, "TDOM009"), ("page.py", 3, "TDOM008"), ("page.py", 4, "TDOM008")]
