import pytest

from orchestrator.engine.loader import Position, YamlSyntaxError, load_marked

TEXT = """\
flow: demo
steps:
  - answer: {}
  - id: menu
    play:
      file: ivr/ivr-welcome.wav
"""


def test_marks_every_key_and_value():
    loaded = load_marked(TEXT)
    assert loaded.data["steps"][1]["play"]["file"] == "ivr/ivr-welcome.wav"
    marks = loaded.marks
    assert marks.key_position(("flow",)) == Position(1, 1)
    assert marks.value_position(("flow",)) == Position(1, 7)
    assert marks.value_position(("steps", 1)) == Position(4, 5)
    assert marks.key_position(("steps", 1, "play")) == Position(5, 5)
    assert marks.key_position(("steps", 1, "play", "file")) == Position(6, 7)
    assert marks.value_position(("steps", 1, "play", "file")) == Position(6, 13)


def test_unknown_paths_fall_back_to_the_nearest_ancestor():
    marks = load_marked(TEXT).marks
    assert marks.value_position(("steps", 1, "play", "missing", 3)) == Position(6, 7)


def test_on_yes_no_stay_text_yaml_1_2_booleans():
    data = load_marked("on: yes\nno: off\nt: true\nf: False\n").data
    assert data == {"on": "yes", "no": "off", "t": True, "f": False}


def test_duplicate_keys_keep_the_first_and_are_reported():
    loaded = load_marked("a: 1\nb: 2\na: 3\n")
    assert loaded.data == {"a": 1, "b": 2}
    [duplicate] = loaded.duplicate_keys
    assert duplicate.path == ("a",)
    assert duplicate.first == Position(1, 1)
    assert duplicate.position == Position(3, 1)
    assert loaded.marks.key_position(("a",)) == Position(1, 1)


def test_merge_keys_and_aliases_still_work():
    data = load_marked("base: &b {x: 1}\nother:\n  <<: *b\n  y: 2\n").data
    assert data["other"] == {"x": 1, "y": 2}


def test_syntax_error_position():
    with pytest.raises(YamlSyntaxError) as caught:
        load_marked("flow: x\nsteps:\n  - play: [a\n")
    assert caught.value.position.line == 4


def test_unquoted_variable_inside_flow_mapping_gets_a_hint():
    with pytest.raises(YamlSyntaxError) as caught:
        load_marked("a: {v: ${x}}\n")
    assert "quote values that use ${...}" in caught.value.message
    assert caught.value.position == Position(1, 9)


def test_empty_document():
    assert load_marked("").data is None
