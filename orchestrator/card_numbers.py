"""Finding what may be a card number in free text: for the log redaction and the API's input checks.

A card number is 13 to 19 digits whose last one is the Luhn check digit. People and programs
write it whole (``4111111111111111``) or split by spaces, dashes, dots, slashes, ``#``,
``_``, ``*``... (``4111.1111/1111#1111``), and it can stand glued to other digits (an
expiry after it: ``4111 1111 1111 1111 1230``). So a *run* here is digits joined by at most
``MAX_SEPARATOR_RUN`` separator characters, and a run is card-like when any stretch of 13 to
19 consecutive digits in it passes Luhn. Letters end a run: in ``sbx_cdda1234567b5421`` the
runs are ``1234567`` and ``5421``, and an id like ``INV-20261201-0042`` has 12 digits, too
few for a card, so ordinary ids stay readable.

Why every stretch and not the whole run only: a run checked whole would let a card through
whenever one more digit stands beside it (a security code glued to it makes 19 digits that
fail Luhn as a whole). The price is that a long digit-only id is taken for a card more often:
a random 13-digit run one time in ten, 14 digits about one in four, 16 digits about two in
three. Such ids are rare here (references are short, call ids are UUIDs, Redsys orders have 12
digits), and taking one for a card only hides it from a log line or asks the agent for another
reference.
A run longer than ``LONGEST_CHECKED`` digits is card-like without counting (nothing
that long needs to be read, and checking it would cost time on hostile input).

Colons and commas do not join digits: ``10:42:17``, ``127.0.0.1:8084`` and ``[1, 2, 4]``
stay readable, and nobody writes a card number with them.

A UUID (``8-4-4-4-12`` hex: call and channel ids) is left out of the search: its digit groups,
joined by its dashes, would hold a Luhn-valid stretch in about one random UUID in 150, and a
call whose id is refused or masked cannot be served or followed. A card number would have to
be dressed up as a UUID on purpose to pass; the API only ever takes a UUID where it names a
channel the switch holds.
"""
from __future__ import annotations

import re
from typing import Callable, Iterator

from orchestrator.payments.brands import luhn_ok

SHORTEST, LONGEST = 13, 19           # card number lengths (ISO/IEC 7812)
MAX_SEPARATOR_RUN = 3                # "4111 - 1111" still joins; a sentence does not
LONGEST_CHECKED = 64
SEPARATORS = " \t.\\-/#_*+|~"
RUN = re.compile(r"\d(?:[%s]{0,%d}\d)*" % (re.escape(SEPARATORS), MAX_SEPARATOR_RUN))
_HEX = "[0-9A-Fa-f]"
UUID = re.compile(r"(?<![0-9A-Fa-f])%s{8}-%s{4}-%s{4}-%s{4}-%s{12}(?![0-9A-Fa-f])"
                  % ((_HEX,) * 5))


def _digits(run: str) -> str:
    return "".join(c for c in run if c.isdigit())


def holds_card(digits: str) -> bool:
    """True when some 13-19 consecutive digits of ``digits`` (digits only) pass Luhn."""
    count = len(digits)
    if count < SHORTEST:
        return False
    if count > LONGEST_CHECKED:
        return True
    for length in range(SHORTEST, min(LONGEST, count) + 1):
        for start in range(count - length + 1):
            if luhn_ok(digits[start:start + length]):
                return True
    return False


def card_like_runs(text: str) -> Iterator["re.Match[str]"]:
    """The runs of ``text`` that may hold a card number, UUIDs left out."""
    start = 0
    for uuid in UUID.finditer(text):
        yield from _card_like_runs(text, start, uuid.start())
        start = uuid.end()
    yield from _card_like_runs(text, start, len(text))


def _card_like_runs(text: str, start: int, end: int) -> Iterator["re.Match[str]"]:
    for match in RUN.finditer(text, start, end):
        if holds_card(_digits(match.group(0))):
            yield match


# The stricter rule of the stores and the notices that leave us: no run of seven digits or more
# at all (a BIN is six, a last four is four), Luhn or not, outside a UUID. A UUID is left out
# for the reason above: one of its groups comes out all digits often (the first group of about
# one random UUID in 27, a run of seven somewhere in about one in seven), and a payment or a
# call named by one must still be recorded.
_LONGER_THAN_A_BIN = re.compile(r"\d{7,}")
_ANY_UUID = re.compile(r"(?<![0-9A-Za-z])%s{8}-%s{4}-%s{4}-%s{4}-%s{12}(?![0-9A-Za-z])"
                       % ((_HEX,) * 5))


def digits_longer_than_a_bin(text: str) -> bool:
    """True when ``text`` holds seven digits or more in a row outside its UUIDs."""
    return _LONGER_THAN_A_BIN.search(_ANY_UUID.sub("uuid", text)) is not None


def looks_like_card(text: str) -> bool:
    """True when ``text`` holds a run that may be a card number, however it is split."""
    return next(card_like_runs(text), None) is not None


def mask_cards(text: str, mask: Callable[[str], str] = lambda run: re.sub(r"\d", "X", run)) -> str:
    """``text`` with each card-like run replaced by ``mask(run)`` (by default its digits as
    ``X``, separators kept, so the line keeps its shape)."""
    out, last = [], 0
    for match in card_like_runs(text):
        out.append(text[last:match.start()])
        out.append(mask(match.group(0)))
        last = match.end()
    out.append(text[last:])
    return "".join(out)
