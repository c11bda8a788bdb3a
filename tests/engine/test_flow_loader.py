import pytest

from orchestrator.engine.loader import (MAX_DEPTH, MAX_FLOW_BYTES, MAX_VALUES, Position,
                                        YamlLimitError, YamlSyntaxError, load_marked)

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


# -- bounds: size, depth, values (aliases counted as what they stand for) ----------------------
def alias_bomb(levels=9):
    """The billion laughs: each level is nine aliases of the one before."""
    lines = ['flow: bomb', 'a0: &a0 ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    for n in range(1, levels):
        lines.append("a%d: &a%d [%s]" % (n, n, ",".join(["*a%d" % (n - 1)] * 9)))
    return "\n".join(lines + ["steps: []"]) + "\n"


def test_an_alias_bomb_stops_at_the_alias_that_expands_it_past_the_bound():
    text = alias_bomb()
    assert len(text.encode()) < 500           # a few hundred bytes that would expand to 9^9 values
    with pytest.raises(YamlLimitError) as caught:
        load_marked(text)
    # *a3 stands for 7,381 values: the second one, on a4's line, takes the document past the bound
    assert caught.value.position == Position(6, 14)
    assert caught.value.message == ("the alias *a3 expands the document past 20000 values "
                                    "(aliases count as every value they stand for); not read further")


def test_aliases_within_the_bound_still_expand():
    data = load_marked(alias_bomb(levels=4)).data     # a3 stands for 7,381 values
    assert len(data["a3"]) == 9 and data["a3"][0][0][0] == ["lol"] * 9


def test_nesting_past_the_bound_stops_where_it_crosses_it():
    for depth in (MAX_DEPTH + 1, 100_000):
        with pytest.raises(YamlLimitError) as caught:
            load_marked("flow: deep\nsteps: " + "[" * depth + "]" * depth + "\n")
        # "steps" is the first level; its value's 64th bracket is the 65th level
        assert caught.value.position == Position(2, 8 + MAX_DEPTH - 1)
        assert caught.value.message == ("nested deeper than 64 levels (a flow needs a handful); "
                                        "not read further")
    # at the bound itself (the mapping is a level, then 63 lists), it loads
    nested = load_marked("a: " + "[" * (MAX_DEPTH - 1) + "]" * (MAX_DEPTH - 1) + "\n").data["a"]
    for _ in range(MAX_DEPTH - 2):
        nested = nested[0]
    assert nested == []


def test_block_nesting_is_bounded_too():
    text = "".join("  " * n + "k%d:\n" % n for n in range(MAX_DEPTH + 5))
    with pytest.raises(YamlLimitError) as caught:
        load_marked(text)
    assert caught.value.position.line == MAX_DEPTH + 1


def test_a_document_of_more_values_than_the_bound_is_refused():
    text = "flow: wide\nsteps:\n" + "".join("  - answer: {}\n" for _ in range(MAX_VALUES // 2))
    with pytest.raises(YamlLimitError) as caught:
        load_marked(text)
    assert "past 20000 values" in caught.value.message and caught.value.position.line > 1000


def test_a_recursive_alias_is_reported_where_it_is_written():
    with pytest.raises(YamlSyntaxError) as caught:
        load_marked("a: &x\n  b: *x\n")
    assert caught.value.position == Position(2, 6)
    assert caught.value.message == "recursive YAML alias *x (inside the value it names)"


def test_text_past_the_size_bound_is_not_parsed():
    with pytest.raises(YamlLimitError) as caught:
        load_marked("#" * (MAX_FLOW_BYTES + 1))
    assert caught.value.position == Position(1, 1)
    assert "more than the 1048576 bytes a flow may be" in caught.value.message
