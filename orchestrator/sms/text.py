"""An SMS's text: a catalog template of fixed words, filled only with typed, masked values.

The catalogs' ``messages`` section holds the templates (``payment_confirmed: "Payment of
{amount} {currency} received, card ending {last4}. Confirmation code {code}."``). A template may
name only the placeholders below, and each value is checked against its shape before it is
put in: the amount in major units of a currency, an ISO 4217 code, the card's last four
digits, the confirmation code, the gateway's authorization code, a payment link's URL (https,
or http to a loopback sandbox; URL characters only, at most ``MAX_URL`` long, and nothing in it
that could be a card number: ``card_numbers.looks_like_card``). Nothing else can reach the
text: no name, no free text from a peer, and never more of a card than its last four.
"""
from __future__ import annotations

import re
import string
from typing import Dict, Mapping

from orchestrator.card_numbers import looks_like_card

SHAPES = {
    "amount": re.compile(r"^[0-9]{1,12}(\.[0-9]{1,4})?$"),
    "currency": re.compile(r"^[A-Z]{3}$"),
    "last4": re.compile(r"^[0-9]{4}$"),
    "code": re.compile(r"^[0-9]{4,12}$"),
    "auth_code": re.compile(r"^[A-Za-z0-9]{1,12}$"),
    "url": re.compile(r"^(https://[A-Za-z0-9.-]+|http://(127\.0\.0\.1|localhost|\[::1\]))(:[0-9]{1,5})?"
                      r"/[A-Za-z0-9._~/?=&%+-]*$"),
}
# a recipient: an optional leading + and 6 to 15 digits (E.164's longest), spaces removed first
PHONE = re.compile(r"^\+?[0-9]{6,15}\Z")   # \Z: "$" would let a trailing newline in
MAX_TEXT = 320   # two SMS segments
SHOWN_DIGITS = 3  # of a recipient's number, where an agent or a log sees it
MAX_URL = 200


class SmsTextError(ValueError):
    """A template naming something it may not, or a value not of its shape."""


def placeholders(template: str) -> list:
    return [name for _, name, _, _ in string.Formatter().parse(template) if name is not None]


def check_template(template: str) -> None:
    unknown = [name for name in placeholders(template) if name not in SHAPES]
    if unknown:
        raise SmsTextError("an SMS template may name only %s; not %s"
                           % (", ".join(sorted(SHAPES)), ", ".join(unknown)))


def fill(template: str, values: Mapping[str, str]) -> str:
    check_template(template)
    filled: Dict[str, str] = {}
    for name in placeholders(template):
        value = str(values.get(name, ""))
        if not SHAPES[name].match(value) or (name == "url" and (
                len(value) > MAX_URL or looks_like_card(value))):
            raise SmsTextError("the SMS needs %s and has none of its shape" % name)
        filled[name] = value
    text = template.format(**filled)
    if len(text) > MAX_TEXT:
        raise SmsTextError("the SMS text is longer than %d characters" % MAX_TEXT)
    return text


def phone_number(text: str) -> str:
    """``text`` without its spaces when that is a phone number (``PHONE``), else ""."""
    number = (text or "").replace(" ", "")
    return number if PHONE.match(number) else ""


def mask_number(number: str) -> str:
    """A recipient's number as an agent, an event or a log line may show it: the leading ``+``
    and the last three digits, every other digit a ``*`` (``+34600111222`` ->
    ``+********222``); anything else than digits and a leading ``+`` is shown as ``***``, so
    no text of another shape passes through here."""
    number = (number or "").replace(" ", "")
    plus, digits = ("+", number[1:]) if number.startswith("+") else ("", number)
    if not digits.isdigit() or not digits.isascii():
        return "***"
    shown = digits[-SHOWN_DIGITS:] if len(digits) > SHOWN_DIGITS else ""
    return plus + "*" * (len(digits) - len(shown)) + shown
