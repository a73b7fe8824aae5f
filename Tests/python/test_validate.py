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
        "CRU001", "TDOM001", "TDOM002", "TDOM003", "TDOM004", "TDOM005", "TSTR001",
        "VIEW001", "VIEW002", "VIEW003", "VIEW004", "VIEW005", "VIEW006"]
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
