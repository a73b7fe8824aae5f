"""The tdom rules on code in tdom's and tdom-svcs' documented style: dataclass and class
components (TDOM007, TDOM008), markup tdom's parser rejects (TDOM002, TDOM003, TDOM010),
f-string markup interpolated into a t-string (TDOM011).

Two paths judge markup. The static check runs everywhere (Python 3.11 and 3.14). Where tdom
is importable on 3.14, tdom's own parser judges each t-string's literal markup instead: those
tests run `crucible validate --python 3.14 --with tdom==0.1.20` and expect the same findings as
the fixtures' `# expect:` comments, or the `# parser:` comment before one where tdom's parser
reports differently (it stops at the first error of a t-string)."""

import ast
import json
import os
import re
import subprocess
import sys
import tempfile

import pytest

from network import reachable
from test_validate import CRUCIBLE, EXPECT, FIXTURES, ROOT

VALIDATORS = os.path.join(ROOT, "Validators")
sys.path.insert(0, VALIDATORS)

from crucible_validators import engine, signatures  # noqa: E402

TDOM_FIXTURES = os.path.join(FIXTURES, "tdom")
PARSER = re.compile(r"#\s*parser:\s*([A-Z0-9_, ]+?)\s*#\s*expect:")
PYTHONS = [pytest.param([], id="3.11"), pytest.param(["--python", "3.14"], id="3.14")]


def validate(*args):
    return subprocess.run([CRUCIBLE, "validate", "--format", "json", *args], capture_output=True, text=True,
                          cwd=ROOT, timeout=300)


def static_findings(python, path, *args):
    process = validate(*python, *args, path)
    if python and process.returncode not in (0, 1):
        pytest.skip("Python 3.14 is not available here: %s" % process.stderr.strip()[-300:])
    assert process.returncode in (0, 1), process.stderr
    return json.loads(process.stdout)


def expectations(folder, parser=False):
    """Sorted (file, line, rule) of the `# expect:` comments; with parser=True a `# parser:`
    comment before one replaces it."""
    found = []
    for name in sorted(os.listdir(folder)):
        with open(os.path.join(folder, name)) as handle:
            for number, line in enumerate(handle, 1):
                line = line.rstrip("\n")
                match = (parser and PARSER.search(line)) or EXPECT.search(line)
                if match:
                    found.extend((name, number, rule.strip()) for rule in match.group(1).split(","))
    return sorted(found)


def with_tdom_parser(files):
    """Diagnostics of the tdom ruleset on {name: source}, as a user gets them:
    `crucible validate --python 3.14 --with tdom==0.1.20` (tdom importable in the validators'
    sandbox, so its parser judges the markup)."""
    if os.geteuid() != 0:
        pytest.skip("an interpreter image is built and entered as root")
    if not (reachable("pypi.org", 443) and reachable("deb.debian.org", 80)):
        pytest.skip("pypi.org or deb.debian.org is not reachable: no 3.14 image or no tdom here")
    with tempfile.TemporaryDirectory() as folder:
        for name, source in files.items():
            with open(os.path.join(folder, name), "w") as handle:
                handle.write(source)
        process = subprocess.run([CRUCIBLE, "validate", "--python", "3.14", "--with", "tdom==0.1.20", "--format", "json",
                                  "--ruleset", "tdom", *sorted(files)], capture_output=True, text=True, cwd=folder, timeout=900)
    assert process.returncode in (0, 1), process.stderr[-2000:]
    return json.loads(process.stdout)


def fixture_files():
    files = {}
    for name in sorted(os.listdir(TDOM_FIXTURES)):
        with open(os.path.join(TDOM_FIXTURES, name)) as handle:
            files[name] = handle.read()
    return files


# --- tdom's parser judges the markup (3.14, tdom importable) ---------------------------------

def test_tdom_parser_gives_the_fixture_findings():
    found = with_tdom_parser(fixture_files())
    actual = sorted((d["path"], d["line"], d["rule"]) for d in found)
    assert actual == expectations(TDOM_FIXTURES, parser=True)
    # The rules tdom's parser can judge say that it did; the render-time check of TDOM003 stays static.
    for diagnostic in found:
        if diagnostic["rule"] in ("TDOM002", "TDOM010") or "exactly one interpolation" in diagnostic["message"]:
            assert diagnostic["message"].startswith("tdom 0.1.20's parser: "), diagnostic


MULTI_LINE = '''from tdom import html


def inbox(body, Card):
    return html(t"""
        <main>
          <{Card} title="Inbox">
            {body}
          </{Card}>
          <aside>
            <p>{body}</p>
          </section>
        </main>
    """)


def joined(name, row):
    return html(t"<div><p {name}='x'>a</p>" + row(name) + t"</div>")
'''


def test_errors_are_reported_at_the_offending_line_by_both_paths(tmp_path):
    path = tmp_path / "inbox.py"
    path.write_text(MULTI_LINE)
    static = static_findings([], str(path), "--ruleset", "tdom")
    parsed = with_tdom_parser({"inbox.py": MULTI_LINE})
    for found, start in ((static, "static check: "), (parsed, "tdom 0.1.20's parser: ")):
        assert [(d["line"], d["rule"]) for d in found] == [(12, "TDOM002"), (18, "TDOM010")], found
        assert all(d["message"].startswith(start) for d in found), found


def test_what_tdom_0_1_20_accepts_is_not_reported_by_either_path(tmp_path):
    # Checked in the 3.14 sandbox with tdom 0.1.20: <!FOO> renders as a comment, an uppercase
    # end tag matches, spreads separated by a space and a `<` in text are fine.
    code = ('from tdom import html\n\n\ndef page(a, b, n):\n'
            '    return html(t"<!FOO><DIV {a} {b}>x < {n}</div><!-- {n} --><script>if (a<b) {{}}</script>")\n')
    path = tmp_path / "accepted.py"
    path.write_text(code)
    assert static_findings([], str(path), "--ruleset", "tdom") == []
    assert with_tdom_parser({"accepted.py": code}) == []


def test_a_tag_left_without_closing_bracket_is_reported_by_both_paths(tmp_path):
    # tdom up to 0.1.19 raises 'Parser expects more data'; 0.1.20 drops the tag without a word.
    code = "from tdom import html\n\n\ndef page():\n    return html(t\"<p>hi</p><div class='a\")\n"
    path = tmp_path / "cut.py"
    path.write_text(code)
    for found in (static_findings([], str(path), "--ruleset", "tdom"), with_tdom_parser({"cut.py": code})):
        assert [(d["line"], d["rule"]) for d in found] == [(5, "TDOM002")]
        assert "not closed with '>'" in found[0]["message"]


# --- the static check and the component rules, on 3.11 and 3.14 ------------------------------

@pytest.mark.parametrize("python", PYTHONS)
def test_static_check_gives_the_fixture_findings(python):
    found = static_findings(python, TDOM_FIXTURES)
    assert sorted((os.path.basename(d["path"]), d["line"], d["rule"]) for d in found) == expectations(TDOM_FIXTURES)
    for diagnostic in found:
        if diagnostic["rule"] in ("TDOM002", "TDOM010"):
            assert diagnostic["message"].startswith("static check: "), diagnostic


def _signature(code):
    return signatures.of_class(ast.parse(code).body[-1])


def test_dataclass_fields_that_are_not_required_parameters():
    signature = _signature(
        "@dataclass\nclass Greeting:\n"
        "    users: InitVar[Inject[Users]]\n"
        "    label: str\n"
        "    count: ClassVar[int] = 0\n"
        "    size: 'ClassVar[int]'\n"
        "    tags: list[str] = field(default_factory=list)\n"
        "    initials: str = field(init=False)\n"
        "    _: KW_ONLY\n"
        "    tone: str = field(default='info')\n"
        "    width: int\n")
    required = [(arg.arg, signatures.is_injected(arg.annotation)) for arg in signature.required_named]
    assert required == [("users", True), ("label", False), ("width", False)]
    assert [arg.arg for arg, _ in signature.keyword_only] == ["tone", "width"]


def test_a_dataclass_without_a_generated_init_is_not_guessed():
    assert _signature("@dataclass(init=False)\nclass Card:\n    title: str\n") is None


def test_injected_annotations():
    def annotation(text):
        return ast.parse(text, mode="eval").body
    assert signatures.is_injected(annotation("Inject[Users]"))
    assert signatures.is_injected(annotation("InitVar[Inject[Users]]"))
    assert signatures.is_injected(annotation("Annotated[Inject[Users], 'x']"))
    assert signatures.is_injected(annotation("'Inject[Users]'"))
    assert not signatures.is_injected(annotation("InitVar[Users]"))
    assert not signatures.is_injected(annotation("list[Inject]"))


def test_tdom_rules_are_documented_with_which_path_judges():
    engine.load_rulesets()
    for rule_id in ("TDOM002", "TDOM003", "TDOM010"):
        doc = engine.RULES[rule_id].doc
        assert "tdom's parser" in doc and "static check" in doc, rule_id
    assert "escapes" in engine.RULES["TDOM011"].doc
