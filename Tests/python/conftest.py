"""Every test's crucible processes record into a corpus of the test run's own, never the
repository's .crucible/corpus.sqlite (tests that check the corpus pass --corpus themselves)."""

import os
import subprocess

import pytest


@pytest.fixture(autouse=True, scope="session")
def private_corpus(tmp_path_factory):
    path = tmp_path_factory.mktemp("corpus") / "corpus.sqlite"
    previous = os.environ.get("CRUCIBLE_CORPUS")
    os.environ["CRUCIBLE_CORPUS"] = str(path)
    yield path
    if previous is None:
        os.environ.pop("CRUCIBLE_CORPUS", None)
    else:
        os.environ["CRUCIBLE_CORPUS"] = previous


@pytest.fixture
def repo(tmp_path):
    """A real git repository with two commits by two authors (Ada: "First"; Grace: "Second",
    which adds `import os` to app.py)."""

    def git(*args):
        subprocess.run(["git", "-C", str(tmp_path), *args], check=True, capture_output=True)

    git("init", "-q", "-b", "main")
    (tmp_path / "app.py").write_text("def add(a, b):\n    return a + b\n")
    git("add", ".")
    git("-c", "user.name=Ada", "-c", "user.email=ada@example.com", "commit", "-q", "-m", "First")
    (tmp_path / "app.py").write_text("def add(a, b):\n    return a + b\n\nimport os\n")
    git("add", ".")
    git("-c", "user.name=Grace", "-c", "user.email=grace@example.com", "commit", "-q", "-m", "Second")
    return tmp_path
