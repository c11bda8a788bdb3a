"""The published schema is current, well-formed, useful to editors and agrees with validate."""
import json
import pathlib

import jsonschema
import pytest

from orchestrator.engine import build_schema, render_schema, validate_text
from orchestrator.engine.loader import load_marked
from orchestrator.engine.step_api import registered_kinds
from orchestrator.engine.write_schema import main as write_schema

ROOT = pathlib.Path(__file__).resolve().parents[2]
SCHEMA_FILE = ROOT / "flows" / "flow.schema.json"
FLOW_FILES = sorted((ROOT / "flows").glob("*.yaml"))


def test_committed_schema_is_current():
    assert SCHEMA_FILE.read_text(encoding="utf-8") == render_schema(), (
        "flows/flow.schema.json is stale; run: python -m orchestrator.engine.write_schema flows/flow.schema.json")


def test_check_command(tmp_path, capsys):
    assert write_schema(["--check", str(SCHEMA_FILE)]) == 0
    stale = tmp_path / "stale.json"
    stale.write_text("{}\n")
    assert write_schema(["--check", str(stale)]) == 1
    written = tmp_path / "new.json"
    assert write_schema([str(written)]) == 0
    assert written.read_text() == render_schema()


def test_schema_is_valid_draft_07_with_completion_metadata():
    schema = build_schema()
    jsonschema.Draft7Validator.check_schema(schema)
    assert schema["$schema"] == "http://json-schema.org/draft-07/schema#"
    assert schema["properties"]["language"]["default"] == "en"
    for name, kind in registered_kinds().items():
        step = schema["definitions"][f"step_{name}"]
        assert step["title"] and step["description"]
        assert step["required"] == [name]
    collect = schema["definitions"]["step_collect"]["properties"]["collect"]["properties"]
    assert collect["max_attempts"]["default"] == 3
    assert {snippet["label"] for snippet in schema["properties"]["steps"]["items"]["defaultSnippets"]} == set(
        registered_kinds())


@pytest.mark.parametrize("path", FLOW_FILES, ids=lambda p: p.name)
def test_shipped_flows_satisfy_the_published_schema(path):
    # Loaded with YAML 1.2 booleans, as editors' YAML servers do (``on:`` stays a key).
    jsonschema.validate(load_marked(path.read_text()).data, build_schema(), cls=jsonschema.Draft7Validator)


@pytest.mark.parametrize("text", [
    "flow: x\nsteps: [{plya: a.wav}]\n",
    "flow: x\nsteps: [{transfer: {contxt: x, extension: '1'}}]\n",
    "flow: x\nsteps: [{collect: {max_digits: 2}}]\n",
    "flow: x\nsteps: [{collect: {into: x, max_digits: two}}]\n",
    "flow: x\nsteps: [{play: a.wav, id: 5}]\n",
])
def test_published_schema_and_validate_agree_on_invalid_files(text):
    assert validate_text(text)
    assert list(jsonschema.Draft7Validator(build_schema()).iter_errors(load_marked(text).data))


def test_shorthand_forms_are_in_the_published_schema():
    text = """\
flow: x
steps:
  - answer:
  - play: a.wav
  - speak: hi
  - branch: {if: "1 == 0", then: agent}
  - hangup: NORMAL_CLEARING
  - id: agent
    transfer: 1000
"""
    assert validate_text(text) == []
    jsonschema.validate(load_marked(text).data, build_schema(), cls=jsonschema.Draft7Validator)


def test_schema_file_is_plain_json():
    json.loads(SCHEMA_FILE.read_text())
