"""Is a gateway's decision about this payment? Amount, currency and card compared.

An answer found by key (``status``) or given for a key that was in use is taken as the
payment's only when it says it was for the payment's amount, currency and card (brand, BIN and
last four, as the record keeps them). A key that reached another payment (a store lost and a
key given again, a gateway's own mix-up) would otherwise settle this payment with another's
authorization code. What does not match, or does not say, is a reason in our words, kept with
the payment that stays flagged; it names BIN and last four at most.
"""
from dataclasses import dataclass
from typing import Optional, Union

from ..card import CardSummary
from ..money import Money
from .results import Approved, Declined


@dataclass(frozen=True)
class ExpectedPayment:
    amount_minor: int
    currency: str
    brand: str
    bin: str
    last4: str

    @classmethod
    def of(cls, money: Money, card: CardSummary) -> "ExpectedPayment":
        return cls(money.minor, money.currency, card.brand, card.bin, card.last4)

    @classmethod
    def of_record(cls, amount_minor: int, currency: str, brand: Optional[str],
                  masked_card: Optional[str]) -> "ExpectedPayment":
        """From a payment record: ``masked_card`` is ``411111******1111``."""
        card = masked_card or ""
        bin_ = card[:6] if card[:6].isdigit() else ""   # "******": a stored card's charge
        return cls(int(amount_minor), currency, brand or "", bin_, card[-4:] if card else "")

    def describe(self) -> str:
        return "%s %s, card %s" % (_amount(self.amount_minor, self.currency), self.currency,
                                   _card(self.brand, self.bin, self.last4))


def mismatch(answer: Union[Approved, Declined], expected: ExpectedPayment,
             required: bool = True) -> Optional[str]:
    """Why ``answer`` cannot be taken as the decision on ``expected``; None when it can.
    ``required``: an answer that does not say what it was for cannot be taken either (the
    answer to a status query); otherwise (the answer to our own request) it can."""
    facts = answer.facts
    if facts is None:
        return ("the gateway's %s answer does not say which amount and card it is for"
                % answer.status) if required else None
    if (facts.amount_minor, facts.currency) != (expected.amount_minor, expected.currency):
        return "the gateway's %s answer is for %s %s, the payment is %s" % (
            answer.status, _amount(facts.amount_minor, facts.currency), facts.currency,
            expected.describe())
    # a stored card's payment knows no BIN (the token keeps the last four only): compared on
    # its last four
    compared_bin = facts.bin if expected.bin else ""
    if not ((compared_bin or not expected.bin) and facts.last4):
        return ("the gateway's %s answer does not say which card it is for" % answer.status) \
            if required else None
    if (compared_bin, facts.last4) != (expected.bin, expected.last4) or \
            (facts.brand and expected.brand and facts.brand != expected.brand):
        return "the gateway's %s answer is for card %s, the payment is %s" % (
            answer.status, _card(facts.brand, facts.bin, facts.last4), expected.describe())
    return None


def _amount(minor: int, currency: str) -> str:
    try:
        return Money(minor, currency).major_text
    except KeyError:   # a currency we do not know: say the minor units
        return "%d (minor units)" % minor


def _card(brand: str, bin_: str, last4: str) -> str:
    return "%s %s...%s" % (brand or "?", bin_ or "??????", last4 or "????")
