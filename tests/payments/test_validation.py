import datetime

import pytest

from orchestrator.payments.brands import luhn_ok
from orchestrator.payments.card import (
    CardError, brand_of, validate_expiry, validate_number, validate_postal_code,
    validate_security_code,
)

TODAY = datetime.date(2025, 6, 15)

BRAND_NUMBERS = [
    ("4111111111111111", "visa"),
    ("4222222222222", "visa"),                 # 13 digits
    ("4111111111111111110", "visa"),           # 19 digits (check digit fixed below)
    ("5555555555554444", "mastercard"),
    ("5105105105105100", "mastercard"),
    ("2223003122003222", "mastercard"),
    ("2221000000000009", "mastercard"),        # first of the 2-series
    ("2720990000000007", "mastercard"),        # last of the 2-series
    ("378282246310005", "amex"),
    ("371449635398431", "amex"),
    ("6011111111111117", "discover"),
    ("6445644564456445", "discover"),
    ("3056930009020004", "diners"),
    ("36227206271667", "diners"),
    ("3566002020360505", "jcb"),
    ("6200000000000005", "unionpay"),
    ("6759649826438453", "maestro"),
    ("5018000000000009", "maestro"),
]


def _with_check_digit(prefix):
    return next(prefix + d for d in "0123456789" if luhn_ok(prefix + d))


@pytest.mark.parametrize("number,brand", BRAND_NUMBERS)
def test_every_brand_is_recognised(number, brand):
    if not luhn_ok(number):
        number = _with_check_digit(number[:-1])
    assert brand_of(number) == brand
    assert validate_number(number) == brand


@pytest.mark.parametrize("prefix,brand", [
    ("222099", None), ("222100", "mastercard"), ("272099", "mastercard"), ("272100", None),
    ("510000", "mastercard"), ("560000", None), ("622126", "discover"), ("622925", "discover"),
    ("622000", "unionpay"), ("352800", "jcb"), ("358999", "jcb"), ("352700", None),
    ("300000", "diners"), ("306000", None), ("340000", "amex"), ("350000", None),
    ("630400", "maestro"), ("810000", "unionpay"), ("817200", None),
])
def test_iin_range_edges(prefix, brand):
    assert brand_of(prefix) == brand


def test_brand_of_rejects_non_digits():
    assert brand_of("4111-1111") is None
    assert brand_of("") is None


@pytest.mark.parametrize("number", [
    "4111111111111112",        # Luhn
    "411111111111",            # too short for any brand... and Luhn
    "41111111111111111111",    # 20 digits
    "4111 1111 1111 1111",
    "",
    "４１１１１１１１１１１１１１１１",   # non-ASCII digits
])
def test_invalid_numbers(number):
    with pytest.raises(CardError) as caught:
        validate_number(number)
    assert caught.value.error_type == "invalid-card-number"


def test_length_is_checked_per_brand():
    amex_16 = _with_check_digit("371449635398431")   # amex prefix, 16 digits
    with pytest.raises(CardError) as caught:
        validate_number(amex_16)
    assert caught.value.error_type == "invalid-card-number"
    visa_15 = _with_check_digit("41111111111111")
    with pytest.raises(CardError):
        validate_number(visa_15)


def test_unknown_brand_and_disallowed_brand_are_card_type_errors():
    unknown = _with_check_digit("990000000000000")
    with pytest.raises(CardError) as caught:
        validate_number(unknown)
    assert caught.value.error_type == "invalid-card-type"
    with pytest.raises(CardError) as caught:
        validate_number("378282246310005", valid_brands=["visa", "mastercard"])
    assert caught.value.error_type == "invalid-card-type"
    assert validate_number("4111111111111111", valid_brands=["visa"]) == "visa"


def test_errors_never_contain_the_digits():
    for number in ("4111111111111112", "378282246310005"):
        with pytest.raises(CardError) as caught:
            validate_number(number, valid_brands=["visa"])
        assert number not in str(caught.value) and number[-4:] not in str(caught.value)


@pytest.mark.parametrize("mmyy,expected", [
    ("0625", (6, 2025)),      # the current month is still valid
    ("1225", (12, 2025)),
    ("0126", (1, 2026)),
    ("1245", (12, 2045)),     # 20 years ahead: the limit
])
def test_valid_expiry(mmyy, expected):
    assert validate_expiry(mmyy, TODAY) == expected


@pytest.mark.parametrize("mmyy", ["0525", "1224", "0046", "0146", "1325", "0025", "625",
                                  "06/25", "", "ab25", "99999"])
def test_invalid_expiry(mmyy):
    with pytest.raises(CardError) as caught:
        validate_expiry(mmyy, TODAY)
    assert caught.value.error_type == "invalid-date"


def test_expiry_edge_of_year():
    assert validate_expiry("0125", datetime.date(2025, 1, 31)) == (1, 2025)
    with pytest.raises(CardError):
        validate_expiry("1224", datetime.date(2025, 1, 1))


@pytest.mark.parametrize("code,brand,ok", [
    ("123", "visa", True), ("1234", "visa", False), ("1234", "amex", True),
    ("123", "amex", False), ("12", "mastercard", False), ("123", None, True),
    ("1234", None, True), ("12a", "visa", False), ("", "visa", False),
])
def test_security_code_length_by_brand(code, brand, ok):
    if ok:
        validate_security_code(code, brand)
    else:
        with pytest.raises(CardError) as caught:
            validate_security_code(code, brand)
        assert caught.value.error_type == "invalid-security-code"


@pytest.mark.parametrize("text,expected", [
    ("28001", "28001"), (" sw1a 1aa ", "SW1A 1AA"), ("10115", "10115"), ("K1A-0B1", "K1A-0B1"),
])
def test_postal_code(text, expected):
    assert validate_postal_code(text) == expected


@pytest.mark.parametrize("text", ["", "12", "00000", "12345678901", "28001;", "-2800", None])
def test_bad_postal_code(text):
    with pytest.raises(CardError) as caught:
        validate_postal_code(text)
    assert caught.value.error_type == "invalid-postal-code"


def test_card_error_types_are_fixed():
    with pytest.raises(ValueError):
        CardError("something-else")
