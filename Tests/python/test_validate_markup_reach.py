"""Which t-strings the tdom rules judge as markup: those that can reach tdom's rendering.

tdom's own tests give t-strings to its position and placeholder utilities (tdom.parser_utils,
tdom.template_utils, tdom.placeholders, tdom.source, tdom.format), which read a Template's
parts and never parse its markup; half a tag there is the point of the test. The same markup
given to html() or to tdom's parser is still reported."""

import json

import pytest

from test_validate import validate

PYTHONS = [pytest.param([], id="3.11"), pytest.param(["--python", "3.14"], id="3.14")]

# A test module inside the tdom package, written the way tdom's own tests are.
POSITIONS_TEST = '''from string.templatelib import Template

from .parser import TemplateParser
from .parser_utils import make_parser_pos_translator
from .placeholders import PlaceholderConfig, make_placeholder_config


def make_translator(template: Template, config: PlaceholderConfig):
    """Shorthand: the translator of one template."""
    return make_parser_pos_translator(template=template, config=config)


def parse(template: Template):
    return TemplateParser.parse(template).root


def test_span_of_an_open_component_tag():
    translator = make_translator(t"before\\n  <{0}\\n x>", make_placeholder_config())
    assert translator.line_start_positions[0] == 0


def test_unclosed_tag_is_rejected():
    try:
        parse(t"<div>Unclosed")
    except ValueError:
        pass
'''

# Application code: tdom's plain formatting of a template is not markup; html() is.
FORMATTING = '''from tdom import html
from tdom.format import format_template


def log_line(user):
    return format_template(t"<{user.name}")


def page(user):
    return html(t"<main><p>{user.name}</main>")
'''


def findings(python, folder):
    process = validate(*python, "--format", "json", "--ruleset", "tdom", str(folder))
    if python and process.returncode not in (0, 1):
        pytest.skip("Python 3.14 is not available here: %s" % process.stderr.strip()[-300:])
    assert process.returncode in (0, 1), process.stderr
    return sorted((d["path"].rsplit("/", 1)[-1], d["line"], d["rule"]) for d in json.loads(process.stdout))


@pytest.mark.parametrize("python", PYTHONS)
def test_t_strings_given_only_to_tdoms_position_utilities_are_not_markup(tmp_path, python):
    package = tmp_path / "tdom"
    package.mkdir()
    (package / "positions_test.py").write_text(POSITIONS_TEST)
    # Line 18 goes to make_parser_pos_translator through a local helper: not judged.
    # Line 24 goes to TemplateParser.parse through one: tdom's parser rejects it.
    assert findings(python, package) == [("positions_test.py", 24, "TDOM002")]


@pytest.mark.parametrize("python", PYTHONS)
def test_a_t_string_given_to_tdoms_format_template_is_not_markup(tmp_path, python):
    (tmp_path / "app.py").write_text(FORMATTING)
    assert findings(python, tmp_path) == [("app.py", 10, "TDOM002")]


# t-strings where the 3.14 path's search for them (only the statements spanning a line with a
# t-prefix candidate) could miss one: in a decorator above its `def`, a default argument, a
# continuation line of a long statement, a t-string nested in another's interpolation.
PLACES = '''from tdom import html


def page(slot):
    return slot


@page(t"<header><h1>{1}</header>")
def home(body=t"<main><p>{2}</main>"):
    return html(
        t"<section>{body}"
        t"</div>"
    )


ITEMS = {key: t"<li>{t'<b>{key}</i>'}</li>" for key in "ab"}
'''


@pytest.mark.parametrize("python", PYTHONS)
def test_t_strings_anywhere_in_a_statement_are_judged(tmp_path, python):
    (tmp_path / "places.py").write_text(PLACES)
    assert findings(python, tmp_path) == [
        ("places.py", 8, "TDOM002"), ("places.py", 9, "TDOM002"), ("places.py", 11, "TDOM002"),
        ("places.py", 16, "TDOM002")]
