"""Checks on what a caller keyed, each raising CardError with one of the flow's error types.

Error messages name the field and the rule, never a digit the caller keyed, so they are safe to
log and to show an agent.
"""
import datetime
import re
from typing import Iterable, Optional, Tuple

from .brands import BRANDS, brand_of, luhn_ok

INPUT_TIMEOUT = "input-timeout"
INVALID_CARD_NUMBER = "invalid-card-number"
INVALID_CARD_TYPE = "invalid-card-type"
INVALID_DATE = "invalid-date"
INVALID_SECURITY_CODE = "invalid-security-code"
INVALID_POSTAL_CODE = "invalid-postal-code"
ERROR_TYPES = (INPUT_TIMEOUT, INVALID_CARD_NUMBER, INVALID_CARD_TYPE, INVALID_DATE,
               INVALID_SECURITY_CODE, INVALID_POSTAL_CODE)
# The number keyed a second time (collect_card's confirm_number) differs from the first.
CONFIRMATION_MISMATCH = "confirmation-mismatch"
FIELD_ERROR_TYPES = ERROR_TYPES + (CONFIRMATION_MISMATCH,)

# The card fields a caller can be asked for, and the digits each may have before it is checked
# (the security code's length is decided by the brand once the number is known).
FIELDS = ("number", "expiry", "security_code", "postal_code")
NUMBER_CONFIRMATION = "number-confirmation"   # the number asked again, to compare
ENTRY_LENGTHS = {"number": (12, 19), "expiry": (4, 4), "security_code": (3, 4), "postal_code": (3, 10)}
# What a field keyed too short (or cut off by its terminator) counts as.
SHORT_ENTRY_ERROR = {"number": INVALID_CARD_NUMBER, "expiry": INVALID_DATE,
                     "security_code": INVALID_SECURITY_CODE, "postal_code": INVALID_POSTAL_CODE}

MAX_EXPIRY_YEARS = 20
_POSTAL = re.compile(r"^[A-Z0-9](?:[A-Z0-9 -]{1,8})[A-Z0-9]$")


class CardError(ValueError):
    """A field the caller keyed is not acceptable; ``error_type`` is one of ERROR_TYPES."""

    def __init__(self, error_type: str, reason: str = "") -> None:
        if error_type not in ERROR_TYPES:
            raise ValueError("unknown card error type %r" % (error_type,))
        self.error_type = error_type
        self.reason = reason
        super().__init__("%s: %s" % (error_type, reason) if reason else error_type)


def _digits_only(value: object, error_type: str, field: str) -> str:
    if not isinstance(value, str) or not value.isdigit() or not value.isascii():
        raise CardError(error_type, "%s must be digits only" % field)
    return value


def validate_number(digits: str, valid_brands: Optional[Iterable[str]] = None) -> str:
    """Return the brand of a card number, or raise invalid-card-number / invalid-card-type."""
    _digits_only(digits, INVALID_CARD_NUMBER, "card number")
    if not 12 <= len(digits) <= 19:
        raise CardError(INVALID_CARD_NUMBER, "card number must have 12 to 19 digits")
    if not luhn_ok(digits):
        raise CardError(INVALID_CARD_NUMBER, "card number check digit is wrong")
    brand = brand_of(digits)
    if brand is None:
        raise CardError(INVALID_CARD_TYPE, "card brand not recognised")
    if len(digits) not in BRANDS[brand].lengths:
        raise CardError(INVALID_CARD_NUMBER, "wrong length for a %s card" % brand)
    if valid_brands is not None and brand not in valid_brands:
        raise CardError(INVALID_CARD_TYPE, "%s cards are not accepted here" % brand)
    return brand


def validate_expiry(mmyy: str, today: Optional[datetime.date] = None,
                    max_years: int = MAX_EXPIRY_YEARS) -> Tuple[int, int]:
    """Return (month, four-digit year) for an MMYY expiry that is neither past nor absurd.

    A card is valid through the last day of its expiry month, so the current month passes.
    """
    _digits_only(mmyy, INVALID_DATE, "expiry")
    if len(mmyy) != 4:
        raise CardError(INVALID_DATE, "expiry must be four digits, MMYY")
    month, year2 = int(mmyy[:2]), int(mmyy[2:])
    if not 1 <= month <= 12:
        raise CardError(INVALID_DATE, "expiry month must be 01 to 12")
    today = today or datetime.date.today()
    century = today.year - today.year % 100
    year = century + year2
    if year < today.year - 50:       # two-digit years roll into the next century
        year += 100
    if (year, month) < (today.year, today.month):
        raise CardError(INVALID_DATE, "card has expired")
    if year > today.year + max_years:
        raise CardError(INVALID_DATE, "expiry is more than %d years ahead" % max_years)
    return month, year


def validate_security_code(digits: str, brand: Optional[str] = None) -> None:
    """Four digits for amex, three for the others; either when the brand is not known yet."""
    _digits_only(digits, INVALID_SECURITY_CODE, "security code")
    allowed = (BRANDS[brand].code_length,) if brand in BRANDS else (3, 4)
    if len(digits) not in allowed:
        raise CardError(INVALID_SECURITY_CODE, "security code must have %s digits"
                        % " or ".join(str(n) for n in allowed))


def validate_postal_code(text: object) -> str:
    """Return a normalised postal code (upper case, trimmed): 3 to 10 letters, digits, - or space."""
    if not isinstance(text, str):
        raise CardError(INVALID_POSTAL_CODE, "postal code must be text")
    normalised = " ".join(text.strip().upper().split())
    if not _POSTAL.match(normalised) or not normalised.isascii():
        raise CardError(INVALID_POSTAL_CODE, "postal code must be 3 to 10 letters or digits")
    if set(normalised) <= {"0", " ", "-"}:
        raise CardError(INVALID_POSTAL_CODE, "postal code cannot be all zeros")
    return normalised
