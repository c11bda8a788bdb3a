import pytest

from orchestrator.webservices import JsonPath, MappingError, ServiceLimits, map_answer
from orchestrator.webservices.mapping import MAX_MEMBERS

LIMITS = ServiceLimits(max_list_items=5, max_text_chars=20)


def mapped(document, limits=LIMITS, **paths):
    return map_answer(document, {name: JsonPath.parse(text) for name, text in paths.items()}, limits)


def test_values_and_lists_become_flow_variables():
    answer = {"id": 42, "vip": True, "note": None,
              "lines": [{"invoices": [{"number": "F-1", "amount": 1250, "extra": {"x": 1}}]},
                        {"invoices": [{"number": "F-2", "amount": 300, "bad name": "x"}]}],
              "tags": ["a", "b"]}
    assert mapped(answer, id="$.id", vip="$.vip", note="$.note", invoices="$.lines[*].invoices[*]",
                  tags="$.tags[*]") == {
        "id": "42", "vip": "true", "note": "",
        "invoices.count": "2", "invoices.1.number": "F-1", "invoices.1.amount": "1250",
        "invoices.2.number": "F-2", "invoices.2.amount": "300",
        "tags.count": "2", "tags.1": "a", "tags.2": "b"}


def test_an_empty_list_is_a_count_of_zero():
    assert mapped({"lines": []}, invoices="$.lines[*]") == {"invoices.count": "0"}


def test_a_list_longer_than_the_limit_is_refused():
    with pytest.raises(MappingError, match="max_list_items"):
        mapped({"lines": list(range(6))}, lines="$.lines[*]")
    assert mapped({"lines": list(range(5))}, lines="$.lines[*]")["lines.count"] == "5"


def test_a_text_longer_than_the_limit_is_refused():
    with pytest.raises(MappingError, match="max_text_chars"):
        mapped({"name": "x" * 21}, name="$.name")
    with pytest.raises(MappingError, match="max_text_chars"):
        mapped({"lines": [{"n": "y" * 21}]}, lines="$.lines[*]")


def test_an_item_with_too_many_members_is_refused():
    item = {"m%d" % i: i for i in range(MAX_MEMBERS + 1)}
    with pytest.raises(MappingError, match="members"):
        mapped({"lines": [item]}, lines="$.lines[*]")


@pytest.mark.parametrize("answer,path", [({"name": {"first": "Ana"}}, "$.name"),
                                         ({"id": 1}, "$.name"),
                                         ({"lines": [[1, 2]]}, "$.lines[*]")])
def test_a_value_of_the_wrong_shape_or_none_at_all_is_refused(answer, path):
    with pytest.raises(MappingError):
        mapped(answer, value=path)
