"""Money: an integer amount in a currency's minor unit, checked when a flow or session starts.

Amounts never pass through floats: 12.50 EUR is ``Money(1250, "EUR")``, 1250 JPY is
``Money(1250, "JPY")``. ``Money.parse`` accepts what a flow or an agent hands over (an int, or a
string of digits from a channel variable) and rejects anything else with a message that says
which rule it broke.
"""
from dataclasses import dataclass

from .iso4217 import CURRENCIES

# Twelve digits is the width of the amount field in card networks' messages (and Redsys's
# DS_MERCHANT_AMOUNT); anything longer cannot be charged to a card.
MAX_MINOR_UNITS = 10 ** 12 - 1


class MoneyError(ValueError):
    """An amount or currency that cannot be charged."""


@dataclass(frozen=True)
class Money:
    minor: int
    currency: str

    @classmethod
    def parse(cls, minor_units: object, currency: object, maximum: int = MAX_MINOR_UNITS) -> "Money":
        """Check and build; raises MoneyError naming the rule broken."""
        code = currency.strip().upper() if isinstance(currency, str) else None
        if code not in CURRENCIES:
            raise MoneyError("currency %r is not an active ISO 4217 code" % (currency,))
        if isinstance(minor_units, bool):
            raise MoneyError("amount must be an integer number of minor units, not a boolean")
        if isinstance(minor_units, str):
            text = minor_units.strip()
            if not (text.isdigit() and text.isascii()):
                raise MoneyError("amount %r must be an integer number of %s minor units "
                                 "(e.g. 1250 for %s)" % (minor_units, code, format_major(1250, code)))
            minor_units = int(text)
        if not isinstance(minor_units, int):
            raise MoneyError("amount must be an integer number of minor units, got %s"
                             % type(minor_units).__name__)
        if minor_units <= 0:
            raise MoneyError("amount must be greater than zero")
        if minor_units > maximum:
            raise MoneyError("amount %d %s is larger than the maximum %d"
                             % (minor_units, code, maximum))
        return cls(minor_units, code)

    @property
    def exponent(self) -> int:
        return CURRENCIES[self.currency][1]

    @property
    def numeric_code(self) -> str:
        return CURRENCIES[self.currency][0]

    @property
    def major_text(self) -> str:
        """Major units as text for ``say`` and display: "12.50", "1250" (JPY), "1.250" (KWD)."""
        return format_major(self.minor, self.currency)

    def __str__(self) -> str:
        return "%s %s" % (self.major_text, self.currency)


def format_major(minor: int, currency: str) -> str:
    """Integer minor units as a major-unit decimal string, no float on the way."""
    exp = CURRENCIES[currency][1]
    if exp == 0:
        return str(minor)
    sign = "-" if minor < 0 else ""
    whole, fraction = divmod(abs(minor), 10 ** exp)
    return "%s%d.%0*d" % (sign, whole, exp, fraction)
