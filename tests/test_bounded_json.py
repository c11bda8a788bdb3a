"""orchestrator/bounded_json.py: JSON parsed with a nesting bound, refused with a ValueError."""
import json

import pytest

from orchestrator import bounded_json
from orchestrator.bounded_json import MAX_DEPTH, TooDeep


def nested(depth, inner="1"):
    """``depth`` arrays inside one another around ``inner``."""
    return "[" * depth + inner + "]" * depth


def test_the_plain_decoder_is_what_needs_the_bound():
    with pytest.raises(RecursionError):            # not a ValueError: it escapes parse handlers
        json.loads(nested(100000))


def test_a_document_nested_100000_deep_is_refused_as_a_value_error():
    for document in (nested(100000), nested(100000).encode(), "[" * 100000):
        with pytest.raises(TooDeep) as refused:
            bounded_json.loads(document)
        assert isinstance(refused.value, ValueError)
        assert str(refused.value) == "JSON nested deeper than 32 levels"


def test_exactly_the_limit_is_read_and_one_more_is_refused():
    assert MAX_DEPTH == 32
    assert bounded_json.loads(nested(MAX_DEPTH)) == json.loads(nested(MAX_DEPTH))
    objects = '{"a":' * MAX_DEPTH + "1" + "}" * MAX_DEPTH
    assert bounded_json.loads(objects) == json.loads(objects)
    with pytest.raises(TooDeep):
        bounded_json.loads(nested(MAX_DEPTH + 1))
    with pytest.raises(TooDeep):
        bounded_json.loads('{"a":' * (MAX_DEPTH + 1) + "1" + "}" * (MAX_DEPTH + 1))
    mixed = '{"a": [' * 16 + "{}" + "]}" * 16          # 33 levels, objects and arrays
    with pytest.raises(TooDeep):
        bounded_json.loads(mixed)
    assert bounded_json.loads(nested(3), max_depth=3) == [[[1]]]
    with pytest.raises(TooDeep):
        bounded_json.loads(nested(4), max_depth=3)


def test_brackets_inside_strings_are_not_nesting():
    text = json.dumps({"note": "[" * 500 + '\\"{' * 100, "list": ["]]]", "{{{"]})
    assert bounded_json.loads(text) == json.loads(text)
    many_flat = json.dumps([[i] for i in range(5000)])   # many brackets, two levels
    assert len(bounded_json.loads(many_flat)) == 5000


def test_an_escaped_quote_does_not_end_the_string():
    # were the \" taken as the end of the string, the brackets after it would count
    text = '["\\"' + "[" * 40 + '"]'
    assert bounded_json.loads(text) == ['"' + "[" * 40]


def test_invalid_json_is_still_a_value_error():
    for document in ("{not json", '"unterminated [[[[', "", b"\xff\xfe\x00"):
        with pytest.raises(ValueError):
            bounded_json.loads(document)
    with pytest.raises(ValueError):   # unterminated string: its brackets count, still refused
        bounded_json.loads('"' + "[" * 40)


def test_bytes_are_decoded_as_json_loads_decodes_them():
    document = {"status": "approved", "name": "Jos\u00e9"}
    for encoding in ("utf-8", "utf-16", "utf-32"):
        assert bounded_json.loads(json.dumps(document, ensure_ascii=False).encode(encoding)) \
            == document
