"""CardData: the one type that holds a caller's card digits.

Every way Python turns an object into text or bytes shows a masked form or fails: repr, str,
format (so f-strings and %-formatting), logging (which uses those), pickling and copying
(refused), and json (not serialisable; ``json_default`` or ``default=str`` give the masked form).
Equality is identity and the hash is the id, so a card can never be found by its digits in a
set, a dict or a comparison. The digits live in bytearrays that ``wipe()`` zeroes once the
gateway has answered; after that every accessor raises. The security code is kept only until
then and is never written anywhere.

``reveal()`` is the one place digits leave the type, and only gateway connectors call it, to
build a request body inside a ``with`` block. Python strings cannot be zeroed, so the revealed
strings are dropped as soon as the block ends; keep that block short.

What may be shown: the brand, the BIN (first six) and the last four; what may be spoken: the
last four. ``summary`` keeps those after the wipe, for the announcement and the record.
"""
import contextlib
import datetime
import hmac
from dataclasses import dataclass
from typing import Callable, Dict, Iterable, Iterator, NoReturn, Optional, Tuple, Union

from .validation import (
    CardError, validate_expiry, validate_number, validate_postal_code, validate_security_code,
    INVALID_CARD_NUMBER,
)

__all__ = ["CardData", "CardError", "CardWiped", "CardSummary", "RevealedCard", "json_default",
           "validate_number", "validate_expiry", "validate_security_code",
           "validate_postal_code", "brand_of"]

from .brands import brand_of  # noqa: E402  (re-exported: the flow steps import it from here)

WIPED_TEXT = "<CardData wiped>"
# The date expiry is checked against: a date, or a callable giving one (tests); None: today.
Today = Union[None, datetime.date, Callable[[], datetime.date]]


class CardWiped(RuntimeError):
    """The card was wiped after the gateway answered; its digits are gone."""

    def __init__(self) -> None:
        super().__init__("card data was wiped after authorization")


@dataclass(frozen=True)
class CardSummary:
    """What may be displayed (brand, BIN, last four) and spoken (last four); kept after wipe."""
    brand: str
    bin: str
    last4: str
    masked: str


class _Digits:
    """A zeroable buffer whose repr never shows what it holds."""
    __slots__ = ("_buffer",)

    def __init__(self, text: str) -> None:
        self._buffer = bytearray(text.encode("ascii"))

    def text(self) -> str:
        return self._buffer.decode("ascii")

    def zero(self) -> None:
        self._buffer[:] = bytes(len(self._buffer))

    def __len__(self) -> int:
        return len(self._buffer)

    def __repr__(self) -> str:
        return "<digits %d>" % len(self._buffer)

    def __reduce_ex__(self, protocol: object) -> NoReturn:
        raise TypeError("card digits cannot be pickled")


class RevealedCard:
    """The digits as plain strings, handed to a gateway connector inside ``reveal()`` only."""
    __slots__ = ("number", "expiry_month", "expiry_year", "security_code", "postal_code")

    # None only after the ``reveal()`` block has ended (``_clear``)
    number: str
    expiry_month: str
    expiry_year: str

    def __init__(self, number: str, month: str, year: str, security_code: Optional[str],
                 postal_code: Optional[str]) -> None:
        self.number = number
        self.expiry_month = month            # "01".."12"
        self.expiry_year = year              # "2031"
        self.security_code = security_code   # None when not collected
        self.postal_code = postal_code       # None when not collected

    @property
    def expiry_mmyy(self) -> Optional[str]:
        return self.expiry_month + self.expiry_year[2:] if self.expiry_month else None

    @property
    def expiry_yymm(self) -> Optional[str]:
        return self.expiry_year[2:] + self.expiry_month if self.expiry_month else None

    def _clear(self) -> None:
        for name in self.__slots__:
            setattr(self, name, None)

    def __repr__(self) -> str:
        return "<RevealedCard>"

    __str__ = __repr__

    def __reduce_ex__(self, protocol: object) -> NoReturn:
        raise TypeError("revealed card data cannot be pickled")


class CardData:
    """The caller's card, filled field by field as it is keyed; see the module docstring."""
    __slots__ = ("valid_brands", "_today", "_number", "_expiry", "_code", "_postal", "_brand",
                 "_summary", "_wiped", "__weakref__")

    _number: Optional[_Digits]
    _expiry: Optional[_Digits]
    _code: Optional[_Digits]
    _postal: Optional[_Digits]
    _brand: Optional[str]
    _summary: Optional[CardSummary]

    def __init__(self, valid_brands: Optional[Iterable[str]] = None, today: Today = None) -> None:
        """``valid_brands``: brand names accepted (None: all). ``today``: a date or a callable
        returning one, for expiry checks (tests); defaults to the system date."""
        self.valid_brands = tuple(valid_brands) if valid_brands is not None else None
        self._today = today
        self._number = self._expiry = self._code = self._postal = None
        self._brand = self._summary = None
        self._wiped = False

    def __init_subclass__(cls, **kwargs: object) -> NoReturn:
        raise TypeError("CardData cannot be subclassed (its masking must not be overridden)")

    # -- filling -------------------------------------------------------------------------
    def _check_live(self) -> None:
        if self._wiped:
            raise CardWiped()

    def _date(self) -> Optional[datetime.date]:
        today = self._today
        return today() if callable(today) else today

    def set_number(self, digits: str) -> str:
        """Validate and keep the card number; raises CardError."""
        self._check_live()
        brand = validate_number(digits, self.valid_brands)
        self._replace("_number", digits)
        self._brand = brand
        self._summary = CardSummary(brand, digits[:6], digits[-4:], _masked(brand, digits))
        if self._code is not None:
            try:
                validate_security_code(self._code.text(), brand)
            except CardError:
                self._replace("_code", None)   # keyed for another brand: ask again
        return brand

    def set_expiry(self, mmyy: str) -> None:
        """Validate and keep an MMYY expiry; raises CardError(invalid-date)."""
        self._check_live()
        month, year = validate_expiry(mmyy, self._date())
        self._replace("_expiry", "%02d%04d" % (month, year))

    def set_security_code(self, digits: str) -> None:
        """Validate (by the brand, once the number is known) and keep until the wipe."""
        self._check_live()
        validate_security_code(digits, self._brand)
        self._replace("_code", digits)

    def set_postal_code(self, text: str) -> None:
        self._check_live()
        self._replace("_postal", validate_postal_code(text))

    def _replace(self, slot: str, text: Optional[str]) -> None:
        old = getattr(self, slot)
        if old is not None:
            old.zero()
        setattr(self, slot, _Digits(text) if text is not None else None)

    # -- what may be shown ---------------------------------------------------------------
    def _need_number(self) -> CardSummary:
        self._check_live()
        if self._number is None or self._summary is None:
            raise CardError(INVALID_CARD_NUMBER, "no card number yet")
        return self._summary

    @property
    def brand(self) -> str:
        return self._need_number().brand

    @property
    def bin(self) -> str:
        return self._need_number().bin

    @property
    def last4(self) -> str:
        return self._need_number().last4

    @property
    def masked(self) -> str:
        return self._need_number().masked

    @property
    def summary(self) -> CardSummary:
        """Brand, BIN, last four and masked text; a plain value that outlives the wipe."""
        return self._need_number()

    @property
    def expiry_shown(self) -> Tuple[str, str]:
        """The expiry as month ("07") and year ("2031"), ("", "") before it is keyed: what a
        stored card keeps and an agent is shown beside brand and last four (not card digits
        in the sense of the number or the code)."""
        self._check_live()
        if self._expiry is None:
            return "", ""
        text = self._expiry.text()
        return text[:2], text[2:]

    @property
    def has_number(self) -> bool:
        self._check_live()
        return self._number is not None

    @property
    def has_expiry(self) -> bool:
        self._check_live()
        return self._expiry is not None

    @property
    def has_security_code(self) -> bool:
        self._check_live()
        return self._code is not None

    @property
    def has_postal_code(self) -> bool:
        self._check_live()
        return self._postal is not None

    def masked_fields(self) -> Dict[str, Optional[str]]:
        """Field-by-field progress for an agent: masked text for what is keyed, None otherwise."""
        self._check_live()
        return {
            "number": self._summary.masked if self._summary is not None else None,
            "expiry": "**/**" if self._expiry is not None else None,
            "security_code": "*" * len(self._code) if self._code is not None else None,
            "postal_code": "*" * len(self._postal) if self._postal is not None else None,
        }

    # -- the one way out -----------------------------------------------------------------
    @contextlib.contextmanager
    def reveal(self) -> Iterator[RevealedCard]:
        """Yield a RevealedCard with the digits as str, for a gateway connector's request body.

        The one place digits leave this type. Needs the number and the expiry.
        """
        self._check_live()
        if self._number is None or self._expiry is None:
            raise CardError(INVALID_CARD_NUMBER, "card number and expiry are required")
        expiry = self._expiry.text()
        try:
            revealed = RevealedCard(
                self._number.text(), expiry[:2], expiry[2:],
                self._code.text() if self._code is not None else None,
                self._postal.text() if self._postal is not None else None)
        finally:
            del expiry   # on every path: a traceback from here must not hold it
        try:
            yield revealed
        finally:
            revealed._clear()   # whether the block ended, raised or was stopped

    def number_matches(self, digits: str) -> bool:
        """Whether ``digits`` (a confirmation entry) is the number kept, compared in constant
        time; the only comparison by value the type allows, and it reveals nothing else."""
        self._check_live()
        if self._number is None:
            return False
        return hmac.compare_digest(self._number.text().encode("ascii"),
                                   str(digits).encode("ascii", "replace"))

    def wipe(self) -> None:
        """Zero every buffer; afterwards every accessor raises CardWiped. Idempotent."""
        for slot in ("_number", "_expiry", "_code", "_postal"):
            self._replace(slot, None)
        self._wiped = True

    @property
    def wiped(self) -> bool:
        return self._wiped

    # -- never by value ------------------------------------------------------------------
    def __repr__(self) -> str:
        if self._wiped:
            return WIPED_TEXT
        fields = self.masked_fields()
        shown = fields["number"] or "no number"
        extra = " ".join(k + "=set" for k in ("expiry", "security_code", "postal_code")
                         if fields[k])
        return "<CardData %s%s>" % (shown, " " + extra if extra else "")

    def __str__(self) -> str:
        if self._wiped:
            return WIPED_TEXT
        return self._summary.masked if self._summary is not None else "<CardData no number>"

    def __format__(self, spec: str) -> str:
        return format(str(self), spec)

    def __eq__(self, other: object) -> bool:
        return self is other

    def __ne__(self, other: object) -> bool:
        return self is not other

    def __hash__(self) -> int:
        return id(self)

    def __reduce_ex__(self, protocol: object) -> NoReturn:
        raise TypeError("CardData cannot be pickled")

    def __reduce__(self) -> NoReturn:
        raise TypeError("CardData cannot be pickled")

    def __getstate__(self) -> NoReturn:
        raise TypeError("CardData cannot be pickled")

    def __copy__(self) -> NoReturn:
        raise TypeError("CardData cannot be copied")

    def __deepcopy__(self, memo: object) -> NoReturn:
        raise TypeError("CardData cannot be copied")


def _masked(brand: str, digits: str) -> str:
    """BIN and last four for 15+ digit numbers; last four only for shorter ones, where BIN and
    last four together would show most of the number."""
    if len(digits) >= 15:
        return "%s %s%s%s" % (brand, digits[:6], "*" * (len(digits) - 10), digits[-4:])
    return "%s %s%s" % (brand, "*" * (len(digits) - 4), digits[-4:])


def json_default(value: object) -> object:
    """``json.dumps(..., default=json_default)``: masked text for card data, TypeError otherwise."""
    if isinstance(value, CardData):
        return str(value)
    if isinstance(value, CardSummary):
        return {"brand": value.brand, "bin": value.bin, "last4": value.last4}
    if isinstance(value, RevealedCard):
        return repr(value)
    raise TypeError("Object of type %s is not JSON serializable" % type(value).__name__)
