"""What may be a card number in free text (orchestrator/card_numbers.py), both ways: the ids and
references the service writes stay readable, a card number is caught however it is split."""
import uuid

import pytest

from orchestrator.card_numbers import (LONGEST_CHECKED, digits_longer_than_a_bin, holds_card,
                                     looks_like_card, mask_cards)
from orchestrator.payments.brands import luhn_ok

# test cards of several brands and lengths (Luhn-valid)
CARDS = ["4111111111111111", "5555555555554444", "378282246310005", "6011111111111117",
         "4222222222222", "3530111333300000", "6250941006528599", "4000056655665556015"]
SPLITS = [" ", "-", ".", "/", "#", "_", "*", " - ", "\\", "  "]


def split(card, separator, every=4):
    return separator.join(card[i:i + every] for i in range(0, len(card), every))


@pytest.mark.parametrize("card", CARDS)
@pytest.mark.parametrize("separator", SPLITS)
def test_a_card_split_by_any_separator_is_caught(card, separator):
    assert luhn_ok(card) and 13 <= len(card) <= 19
    for text in (split(card, separator), split(card, separator, every=1), split(card, separator, 3)):
        assert looks_like_card(text), text
        masked = mask_cards("ref %s end" % text)
        assert not any(c.isdigit() for c in masked), masked
        assert masked.startswith("ref ") and masked.endswith(" end")


@pytest.mark.parametrize("text", [
    "4111111111111111 1230",            # the expiry after it
    "4111 1111 1111 1111 12/30 737",     # expiry and code
    "0 4111111111111111",                # a digit before it
    "41111111111111111230",              # glued to other digits
    "card4111111111111111x",             # letters around it
    "4111.1111/1111#1111",               # the mixed separators
])
def test_a_card_beside_other_digits_or_letters_is_caught(text):
    assert looks_like_card(text)
    assert "4111" not in mask_cards(text)


@pytest.mark.parametrize("text", [
    "sbx_cdda1234567b5421", "INV-20261201-0042", "ps_5f2a0c1e9b7d4e3a1c2b3d4e",
    "0d2c1e0a-1111-4222-8333-444455556666", "+15551230000", "127.0.0.1:8084",
    "2026-12-01 10:42:17.123", "[0.5, 1.0, 2.0, 4.0, 8.0, 16.0, 30.0]", "12.50 EUR",
    "visa 411111******1111", "order 123456789012", "auth A1B2C3", "4111111111111113",
])
def test_ids_references_and_masked_values_stay_readable(text):
    assert not looks_like_card(text)
    assert mask_cards(text) == text


def test_random_uuids_are_never_taken_for_cards():
    ids = [str(uuid.uuid4()) for _ in range(5000)]
    assert [i for i in ids if looks_like_card(i)] == []
    # the same digits outside a UUID's shape are searched (a card dressed with dashes is caught)
    assert looks_like_card("4111-1111-1111-1111")


def test_a_stretch_of_a_longer_run_is_checked_and_a_very_long_run_is_card_like_uncounted():
    assert holds_card("99" + "4111111111111111" + "9")
    assert not holds_card("4111111111111113")
    assert holds_card("1" * (LONGEST_CHECKED + 1))
    assert not holds_card("1" * 12)


@pytest.mark.parametrize("text,refused", [
    ("1234567", True), ("INV 4111111", True), ("411111******1111", False), ("sbx_ab123456cd", False),
    ("12345678-9a17-456d-b348-bb2798834123", False),            # a payment id, digits in its hex
    ('{"payment_id": "12345678-9a17-456d-b348-bb2798834123"}', False),
    ("12345678-9a17-456d-b348-bb2798834123 4111111", True),     # seven more beside it
    ("12345678-9a17-456d-b348-bb2798834123x", True),            # no UUID: glued to a letter
    ("912345678-9a17-456d-b348-bb2798834123", True),            # no UUID: nine digits first
])
def test_seven_digits_in_a_row_outside_a_uuid_are_longer_than_a_bin(text, refused):
    assert digits_longer_than_a_bin(text) is refused


def test_random_uuids_are_never_longer_than_a_bin():
    assert not any(digits_longer_than_a_bin(str(uuid.uuid4())) for _ in range(5000))
