"""What a payment is for, as a flow attaches it (``authorize: {details: {...}}``): bounded and checked.

A collections payment pays some invoices of one customer; the CRM told of it must know which,
so the flow attaches them to the payment: ``details: {invoices: "${chosen.numbers}",
customer: "${customer_id}"}``. The details are kept with the payment in the journal (the
``details`` column, store migration 9) and carried in its ``payment.result`` status callback
(``data.details``). They come from flow variables, that is from a CRM's answers or a caller's
keys, so they are held to a grammar a card number cannot pass:

- at most ``MAX_KEYS`` keys, each ``KEY_PATTERN`` (a lower-case identifier);
- a value is one item or a comma-separated list of at most ``MAX_ITEMS`` items, at most
  ``MAX_VALUE`` characters in all; an item is ``ITEM_PATTERN``: letters, digits and
  ``_ . : / # -``, starting with a letter or digit (ids and invoice numbers: ``C-1001``,
  ``2026110001``, ``INV-20261201-0042``). No spaces, quotes, ``$``, braces or other text;
- an item holds at most ``MAX_ITEM_DIGITS`` (12) digits in all, whatever stands between them.

Why that last rule, and not the rule of the rest of the callbacks (no run of seven digits or
more, ``callbacks/bodies.py``): invoice numbers are long digit runs (the sandbox CRM's are ten
digits), so refusing seven would refuse the very thing the CRM needs. A card number has 13 to
19 digits (``card_numbers.py``), so an item with 12 digits at most cannot hold one, however it
is written (``4111-1111-1111-1111`` has 16 digits: refused). Commas separate items and do not
join digits, as in ``card_numbers.py``'s search: a card would have to be cut into pieces on
purpose to pass, and no flow variable holds a card's digits to cut (the card lives in its
secret type; a card keyed into an ordinary ``collect`` is one run, refused). A Luhn
test instead would be a coin toss for long invoice numbers and would let a card plus one
digit through; counting digits is exact and explains itself in one sentence. The price: an
invoice number of 13 digits or more cannot be attached (the error says so, and the payment is
not made rather than made without its invoices).
"""
from __future__ import annotations

import json
import re
from typing import Any, Dict, Mapping

MAX_KEYS = 8
MAX_VALUE = 200
MAX_ITEMS = 20
MAX_ITEM_DIGITS = 12
MAX_STORED = 2048            # bytes of the stored JSON: MAX_KEYS values at most fit
KEY_PATTERN = r"^[a-z][a-z0-9_]{0,31}$"
ITEM_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.:/#-]{0,39}$"
# characters a value may hold, outside ${...} too (what validate checks in a flow's text)
VALUE_CHARACTERS = r"^[A-Za-z0-9_.:/#,-]*$"
_KEY, _ITEM = re.compile(KEY_PATTERN), re.compile(ITEM_PATTERN)
_DIGIT = re.compile(r"\d")


class DetailsError(ValueError):
    """Details that break a rule: the message names the key and the rule, never the value."""


def check_value(key: str, value: Any) -> str:
    """``value`` as it is kept, or DetailsError saying which rule it breaks."""
    if not isinstance(value, str):
        raise DetailsError("details.%s must be text, not %s" % (key, type(value).__name__))
    if value == "":
        raise DetailsError("details.%s is empty" % key)
    if len(value) > MAX_VALUE:
        raise DetailsError("details.%s is %d characters long, over %d" % (key, len(value), MAX_VALUE))
    items = value.split(",")
    if len(items) > MAX_ITEMS:
        raise DetailsError("details.%s has %d items, over %d" % (key, len(items), MAX_ITEMS))
    for position, item in enumerate(items, 1):
        if not _ITEM.fullmatch(item):
            raise DetailsError("details.%s item %d is not an identifier or invoice number (letters, "
                               "digits and _ . : / # -, 40 at most, no spaces)" % (key, position))
        if len(_DIGIT.findall(item)) > MAX_ITEM_DIGITS:
            raise DetailsError("details.%s item %d holds more than %d digits: it could be a card "
                               "number, and is never kept (a longer number must be split)" % (key, position, MAX_ITEM_DIGITS))
    return value


def check_key(key: Any) -> str:
    if not isinstance(key, str) or not _KEY.fullmatch(key):
        raise DetailsError("a details key is a lower-case identifier of 32 characters at most "
                           "(%s)" % KEY_PATTERN)
    return key


def check(details: Mapping[str, Any]) -> Dict[str, str]:
    """The details as kept (keys sorted), or DetailsError for the first rule broken."""
    if not isinstance(details, Mapping):
        raise DetailsError("details is a map of names to values")
    if len(details) > MAX_KEYS:
        raise DetailsError("details has %d keys, over %d" % (len(details), MAX_KEYS))
    return {check_key(key): check_value(key, details[key]) for key in sorted(details)}


def dumps(details: Mapping[str, Any]) -> str:
    """The stored form: compact JSON, keys sorted; checked first (DetailsError)."""
    text = json.dumps(check(details), sort_keys=True, separators=(",", ":"))
    if len(text.encode("utf-8")) > MAX_STORED:   # cannot happen within the bounds; kept honest
        raise DetailsError("details are %d bytes, over %d" % (len(text), MAX_STORED))
    return text


def loads(text: Any) -> Dict[str, str]:
    """The details of a stored row ({} for none); DetailsError when what is stored breaks a
    rule (written by something other than ``dumps``)."""
    if text is None or text == "":
        return {}
    if not isinstance(text, str) or len(text) > MAX_STORED:
        raise DetailsError("stored details are not a short JSON text")
    try:
        parsed = json.loads(text)
    except ValueError:
        raise DetailsError("stored details are not JSON") from None
    return check(parsed)
