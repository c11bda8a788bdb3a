"""The step reference in flows/README.md is current, complete, and its examples mean what the registry says."""
import pathlib
import re

import pytest

from orchestrator.engine.loader import load_marked
from orchestrator.engine.step_api import registered_kinds
from orchestrator.engine.write_step_docs import (BEGIN, END, main as write_step_docs, render_step_reference,
                                                 replace_section, yaml_value)

ROOT = pathlib.Path(__file__).resolve().parents[2]
README = ROOT / "flows" / "README.md"


def section(text):
    return text[text.index(BEGIN):text.index(END) + len(END)]


def test_committed_step_reference_is_current():
    text = README.read_text(encoding="utf-8")
    assert replace_section(text, render_step_reference()) == text, (
        "the step reference in flows/README.md is stale; run: "
        "python -m orchestrator.engine.write_step_docs flows/README.md")


def test_every_kind_and_every_key_is_in_the_reference():
    reference = render_step_reference()
    for name, kind in registered_kinds().items():
        assert "### `%s`: %s" % (name, kind.title) in reference
        assert kind.description in reference
        for key in kind.schema.get("properties", {}):
            assert re.search(r"^\| `%s`( \(required\))? \|" % re.escape(key),
                             reference.split("### `%s`" % name)[1].split("\n### ")[0], re.M), (name, key)


def test_examples_read_back_as_the_registered_examples():
    blocks = re.findall(r"```yaml\n(.*?)```", section(README.read_text(encoding="utf-8")), re.S)
    kinds = registered_kinds()
    assert len(blocks) == len(kinds)
    for block, (name, kind) in zip(blocks, kinds.items()):
        assert load_marked(block).data == [{name: kind.example}], block


@pytest.mark.parametrize("value", ["#", "*", "", "${amount}", "1000", "yes", "on", "true", "null", "a: b",
                                   "ivr/ivr-welcome.wav", "too-many-failed-attempts", 3, 2.5, True, [1, "x"]])
def test_values_are_written_so_yaml_reads_them_back(value):
    assert load_marked("{k: %s}" % yaml_value(value)).data == {"k": value}
    assert load_marked("k: %s" % yaml_value(value)).data == {"k": value}


def test_check_command_and_the_prose_around_the_section(tmp_path, capsys):
    assert write_step_docs(["--check", str(README)]) == 0
    page = tmp_path / "README.md"
    page.write_text("# Before\n\n<!-- steps:begin -->\nold table\n<!-- steps:end -->\n\nAfter.\n")
    assert write_step_docs(["--check", str(page)]) == 1
    assert "stale" in capsys.readouterr().out
    assert write_step_docs([str(page)]) == 0
    assert page.read_text() == "# Before\n\n" + render_step_reference() + "\nAfter.\n"
    assert write_step_docs(["--check", str(page)]) == 0
    unmarked = tmp_path / "plain.md"
    unmarked.write_text("# No markers\n")
    assert write_step_docs([str(unmarked)]) == 2
    assert unmarked.read_text() == "# No markers\n"
