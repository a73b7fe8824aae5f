"""Every test's crucible processes record into a corpus of the test run's own, never the
repository's .crucible/corpus.sqlite (tests that check the corpus pass --corpus themselves)."""

import os

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
