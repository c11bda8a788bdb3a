"""The sandbox gateway's test cards: what it does with each, faults included.

A card number picks a behaviour, so a test or the fault bench chooses what the gateway and the
network in front of it do by the card its caller keys. The faults are the ones a real
acquirer's path has, each with the truth the sandbox keeps (``SandboxGateway.charges``):

- a server error before anything happened (500), or a connection reset before it (nothing
  charged): not knowing, the client must not take either as "not charged";
- a load balancer answering 502 after the acquirer charged, or 504 while the acquirer goes on
  and charges a moment later (``acquirer_seconds``);
- a status endpoint that lags behind the charges (it says "not found" for ``lag_seconds``
  after one) or is slow (it answers after ``status_delay`` for ``lag_seconds``);
- a connection reset after charging; an answer that hangs or stays pending after charging.
"""
from dataclasses import dataclass
from typing import Dict

# What the acquirer does: charge, decline, or nothing at all (the request died before it).
CHARGE, DECLINE, NOTHING = "charge", "decline", "nothing"
# What the client gets back: the answer, or a failure on the way.
ANSWER, HTTP_500, HTTP_502, HTTP_504, RESET, HANG, STALL = (
    "answer", "http-500", "http-502", "http-504", "reset", "hang", "stall")


@dataclass(frozen=True)
class Behaviour:
    name: str
    acquirer: str = CHARGE
    reply: str = ANSWER
    decline_reason: str = ""
    slow: bool = False              # the answer comes after ``slow_seconds``
    charge_later: bool = False      # the acquirer charges ``acquirer_seconds`` after the reply
    lagging_status: bool = False    # status says "not found" until ``lag_seconds`` after the charge
    slow_status: bool = False       # status answers after ``status_delay`` for ``lag_seconds``


APPROVE = Behaviour("approve")
BEHAVIOURS = (
    APPROVE,
    Behaviour("insufficient_funds", DECLINE, decline_reason="insufficient_funds"),
    Behaviour("do_not_honour", DECLINE, decline_reason="do_not_honour"),
    Behaviour("expired_card", DECLINE, decline_reason="expired_card"),
    Behaviour("slow", slow=True),
    Behaviour("charge-then-hang", reply=HANG),
    Behaviour("charge-then-stall", reply=STALL),
    Behaviour("http-500", NOTHING, HTTP_500),
    Behaviour("charge-then-502", reply=HTTP_502),
    Behaviour("504-then-charge", reply=HTTP_504, charge_later=True),
    Behaviour("charge-then-502-lagging-status", reply=HTTP_502, lagging_status=True),
    Behaviour("504-then-charge-lagging-status", reply=HTTP_504, charge_later=True,
              lagging_status=True),
    Behaviour("charge-then-502-slow-status", reply=HTTP_502, slow_status=True),
    Behaviour("charge-then-reset", reply=RESET),
    Behaviour("reset-before-charge", NOTHING, RESET),
)
_BY_NAME = {behaviour.name: behaviour for behaviour in BEHAVIOURS}

TEST_CARDS: Dict[str, Behaviour] = {
    "4111111111111111": APPROVE,
    "5555555555554444": APPROVE,
    "378282246310005": APPROVE,
    "4000000000009995": _BY_NAME["insufficient_funds"],
    "4000000000000002": _BY_NAME["do_not_honour"],
    "4000000000000069": _BY_NAME["expired_card"],
    "4000000000000259": _BY_NAME["slow"],
    "4000000000000507": _BY_NAME["charge-then-hang"],
    "4000000000000606": _BY_NAME["charge-then-stall"],
    "4000000000005001": _BY_NAME["http-500"],
    "4000000000005027": _BY_NAME["charge-then-502"],
    "4000000000005043": _BY_NAME["504-then-charge"],
    "4000000000005126": _BY_NAME["charge-then-502-lagging-status"],
    "4000000000005142": _BY_NAME["504-then-charge-lagging-status"],
    "4000000000005225": _BY_NAME["charge-then-502-slow-status"],
    "4000000000007007": _BY_NAME["charge-then-reset"],
    "4000000000007015": _BY_NAME["reset-before-charge"],
}
DECLINE_TEXTS = {
    "insufficient_funds": "Insufficient funds.",
    "do_not_honour": "Do not honour.",
    "expired_card": "The card has expired.",
}


def behaviour_of(number: str) -> Behaviour:
    """What the sandbox does for this card: its test behaviour, or approve for any other."""
    return TEST_CARDS.get(number, APPROVE)


def card_for(behaviour_name: str) -> str:
    """The test card number with this behaviour (the first one listed)."""
    for number, behaviour in TEST_CARDS.items():
        if behaviour.name == behaviour_name:
            return number
    raise KeyError("no sandbox test card behaves as %r" % behaviour_name)
