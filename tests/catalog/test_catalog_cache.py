"""A catalog file is parsed once per version of the file: steps load it on every prompt, and
parsing it each time was most of a card payment's CPU. An edited file is read again; a broken
one is refused every time it is asked for."""
import os

import pytest

import orchestrator.catalog as catalog_module
from orchestrator.catalog import Catalog, CatalogError

CATALOG = """\
language: en
say_language: en
prompts:
  hello:
    - text: "Hello {name}"
reasons:
  generic: "it did not work"
"""


@pytest.fixture
def parses(monkeypatch):
    """How many times the YAML parser ran, counted around the real one."""
    count = {"n": 0}
    real = catalog_module.yaml.safe_load

    def counted(stream):
        count["n"] += 1
        return real(stream)

    monkeypatch.setattr(catalog_module.yaml, "safe_load", counted)
    return count


def write(folder, text, mtime_ns=None):
    path = folder / "en.yaml"
    path.write_text(text, encoding="utf-8")
    if mtime_ns is not None:
        os.utime(path, ns=(mtime_ns, mtime_ns))
    return path


def test_an_unchanged_file_is_parsed_once_and_each_load_gets_its_own_catalog(tmp_path, parses):
    write(tmp_path, CATALOG)
    first = Catalog.load("en", str(tmp_path))
    second = Catalog.load("en", str(tmp_path))
    assert parses["n"] == 1
    assert first.segments("hello")[0].value == "Hello {name}" == second.segments("hello")[0].value
    first.prompts.clear()           # one caller's catalog is not another's
    first.reasons["generic"] = "changed"
    assert Catalog.load("en", str(tmp_path)).reason("generic") == "it did not work"
    assert Catalog.load("en", str(tmp_path)).segments("hello")


def test_an_edited_file_is_parsed_again(tmp_path, parses):
    write(tmp_path, CATALOG, mtime_ns=1_000_000_000)
    assert Catalog.load("en", str(tmp_path)).segments("hello")[0].value == "Hello {name}"
    write(tmp_path, CATALOG.replace("Hello", "Hi"), mtime_ns=2_000_000_000)
    assert Catalog.load("en", str(tmp_path)).segments("hello")[0].value == "Hi {name}"
    # same mtime, other size: an edit within the clock's resolution is still seen
    write(tmp_path, CATALOG.replace("Hello", "Welcome"), mtime_ns=2_000_000_000)
    assert Catalog.load("en", str(tmp_path)).segments("hello")[0].value == "Welcome {name}"
    assert parses["n"] == 3


def test_a_broken_file_is_refused_every_time_and_a_missing_one_named(tmp_path, parses):
    write(tmp_path, "prompts: [unclosed\n")
    for _ in range(2):
        with pytest.raises(CatalogError, match="not valid YAML"):
            Catalog.load("en", str(tmp_path))
    assert parses["n"] == 2
    with pytest.raises(CatalogError, match="no prompt catalog for language 'fr'"):
        Catalog.load("fr", str(tmp_path))
