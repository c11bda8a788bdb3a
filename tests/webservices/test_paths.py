import pytest

from orchestrator.webservices.paths import JsonPath, Missing, PathError, TooMany

ANSWER = {"name": "Ana", "lines": [{"number": "600111222", "invoices": [{"n": "A1"}, {"n": "A2"}]},
                                   {"number": "910000000", "invoices": [{"n": "B1"}]}]}


def test_a_member_an_index_and_every_item():
    assert JsonPath.parse("$.name").read(ANSWER) == "Ana"
    assert JsonPath.parse("$.lines[1].number").read(ANSWER) == "910000000"
    assert JsonPath.parse("$.lines[*].number").read(ANSWER) == ["600111222", "910000000"]
    assert JsonPath.parse("$.lines[*].invoices[*].n").read(ANSWER) == ["A1", "A2", "B1"]
    assert JsonPath.parse("$").read(ANSWER) is ANSWER


def test_only_wildcard_paths_are_lists():
    assert JsonPath.parse("$.lines[*]").is_list and not JsonPath.parse("$.lines[0]").is_list


@pytest.mark.parametrize("text", ["name", "$name", "$..name", "$.lines[-1]", "$.lines[?(@.x)]",
                                  "$.a[1:2]", "$.__import__('os')", "$['name']", "$.a b", 7])
def test_anything_else_is_refused_with_the_syntax(text):
    with pytest.raises(PathError, match=r"\.name|starts with \$"):
        JsonPath.parse(text)


@pytest.mark.parametrize("text,answer", [("$.nobody", ANSWER), ("$.lines[5]", ANSWER),
                                         ("$.name[*]", ANSWER), ("$.name.first", ANSWER),
                                         ("$.lines[0]", {"lines": {"0": "x"}})])
def test_a_path_the_answer_does_not_fill_is_missing(text, answer):
    with pytest.raises(Missing):
        JsonPath.parse(text).read(answer)


def test_a_wildcard_stops_as_soon_as_it_reaches_too_many():
    wide = {"a": [[0] * 40 for _ in range(40)]}
    with pytest.raises(TooMany):
        JsonPath.parse("$.a[*][*]").read(wide, max_items=1000)
    assert len(JsonPath.parse("$.a[*][*]").read(wide, max_items=1600)) == 1600
