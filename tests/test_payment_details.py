"""What a payment is for: the bounds ``payment_details`` holds details to, each with the bad
input, and the canary card refused however it is written."""
import json

import pytest

from orchestrator import payment_details
from orchestrator.payment_details import DetailsError, check, dumps, loads
from tests.support.canary import PAN, traces

GOOD = {"invoices": "2026110001,2026120001,2026120002", "customer": "C-1001"}


def test_ids_and_invoice_numbers_are_kept_as_they_are_keys_sorted():
    assert check(GOOD) == {"customer": "C-1001", "invoices": "2026110001,2026120001,2026120002"}
    assert list(check(GOOD)) == ["customer", "invoices"]
    assert check({"order": "INV-20261201-0042", "ref": "a_b.c:d/e#f-9"})["order"] == "INV-20261201-0042"
    assert check({"longest": "123456789012"}) == {"longest": "123456789012"}    # 12 digits pass
    assert loads(dumps(GOOD)) == check(GOOD)
    assert loads(None) == {} and loads("") == {}


@pytest.mark.parametrize("value, rule", [
    (PAN, "more than 12 digits"),                                  # the canary card
    ("4111-1111-1111-1111", "more than 12 digits"),                # written with separators
    ("4111.1111/1111#1111", "more than 12 digits"),
    ("INV-4111111111111111", "more than 12 digits"),
    ("2026110001," + PAN, "item 2 holds more than 12 digits"),
    ("1234567890123", "more than 12 digits"),                      # 13 digits: could be a card
    ("A1B2C3D4E5F6G7H8I9J0K1L2M3", "more than 12 digits"),         # 13 digits among letters
    ("a b", "not an identifier"),
    ("-leading", "not an identifier"),
    ("${x}", "not an identifier"),
    ("x" * 41, "not an identifier"),
    ("a,,b", "item 2 is not an identifier"),
    ("ok\n", "not an identifier"),
    ("", "is empty"),
    ("1," * 20 + "1", "21 items, over 20"),
    ("abcd," * 40 + "abcd", "characters long, over 200"),
    (12, "must be text"),
])
def test_a_value_that_breaks_a_rule_is_refused_without_being_repeated(value, rule):
    with pytest.raises(DetailsError) as refused:
        check({"invoices": value})
    assert rule in str(refused.value)
    assert (value == "" or str(value) not in str(refused.value)) and traces(str(refused.value)) == []


@pytest.mark.parametrize("key", ["Invoices", "1st", "a-b", "x" * 33, "", 7])
def test_a_key_that_is_not_a_short_lower_case_identifier_is_refused(key):
    with pytest.raises(DetailsError, match="lower-case identifier"):
        check({key: "1"})


def test_at_most_eight_keys_and_only_a_map():
    check({"k%d" % n: "1" for n in range(payment_details.MAX_KEYS)})
    with pytest.raises(DetailsError, match="9 keys, over 8"):
        check({"k%d" % n: "1" for n in range(9)})
    with pytest.raises(DetailsError, match="a map"):
        check(["invoices"])


def test_stored_details_are_checked_again_when_read():
    with pytest.raises(DetailsError, match="not JSON"):
        loads("{not json")
    with pytest.raises(DetailsError, match="more than 12 digits"):
        loads(json.dumps({"card": PAN}))
    with pytest.raises(DetailsError, match="short JSON"):
        loads("x" * (payment_details.MAX_STORED + 1))


def test_the_largest_details_the_bounds_allow_fit_the_stored_size():
    item = "A" * 9
    biggest = {"k%d%s" % (n, "x" * 29): ",".join([item] * 20) for n in range(8)}
    assert len(dumps(biggest)) <= payment_details.MAX_STORED
