import pytest

from orchestrator.payments.iso4217 import CURRENCIES
from orchestrator.payments.money import MAX_MINOR_UNITS, Money, MoneyError, format_major


@pytest.mark.parametrize("minor,currency,text", [
    (1250, "EUR", "12.50"), (5, "EUR", "0.05"), (100, "USD", "1.00"), (1250, "JPY", "1250"),
    (1250, "KWD", "1.250"), (1, "BHD", "0.001"), (999, "CLP", "999"), ("1250", "eur", "12.50"),
])
def test_parse_and_major_text(minor, currency, text):
    money = Money.parse(minor, currency)
    assert money.major_text == text
    assert money.minor == int(minor) and money.currency == currency.upper()


def test_exponents_and_numeric_codes():
    assert (CURRENCIES["EUR"], CURRENCIES["JPY"], CURRENCIES["KWD"]) == (
        ("978", 2), ("392", 0), ("414", 3))
    assert Money.parse(1, "EUR").numeric_code == "978"
    assert Money.parse(1, "EUR").exponent == 2
    assert str(Money.parse(1250, "EUR")) == "12.50 EUR"
    assert all(len(code) == 3 and code.isupper() and len(num) == 3
               for code, (num, _) in CURRENCIES.items())
    for withdrawn in ("HRK", "XAU", "XXX", "XTS", "CUC", "ZWL"):
        assert withdrawn not in CURRENCIES


@pytest.mark.parametrize("minor,currency,words", [
    (12.5, "EUR", "integer"), ("12.50", "EUR", "integer"), (True, "EUR", "boolean"),
    (0, "EUR", "greater than zero"), (-5, "EUR", "greater than zero"),
    ("-5", "EUR", "integer"), (None, "EUR", "integer"), (100, "XXX", "ISO 4217"),
    (100, "EURO", "ISO 4217"), (100, None, "ISO 4217"), (MAX_MINOR_UNITS + 1, "EUR", "maximum"),
    ("1e3", "EUR", "integer"), ("", "EUR", "integer"),
])
def test_rejected_amounts(minor, currency, words):
    with pytest.raises(MoneyError) as caught:
        Money.parse(minor, currency)
    assert words in str(caught.value)


def test_custom_maximum_and_format_helper():
    with pytest.raises(MoneyError):
        Money.parse(100001, "EUR", maximum=100000)
    assert format_major(-1250, "EUR") == "-12.50"
    assert format_major(0, "KWD") == "0.000"
