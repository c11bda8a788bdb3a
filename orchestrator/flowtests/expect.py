"""What a test script expects of its call, and the comparison with what happened.

```yaml
expect:
  prompts: [amount_due, card.number, payment_approved]   # heard in this order; others may
                                                         # come between (an ordered subset)
  # prompts: {exactly: [...]}     every prompt heard, in order, nothing else
  # prompts: {in_order: [...], not: [payment_declined]}  and some that must not be heard
  outcome: approved               # the payment's outcome: pay_result at the end of the call
                                  # (approved, declined, cancelled, error, ...), or none
  flow_result: transferred        # how the flow ended: completed, transferred, caller-hung-up, error
  variables: {pay_last4: "1111", pay_auth_code: null}    # channel variables at the end; null: unset
  charges: {count: 1, amount: 1250, currency: EUR}       # or a count; amount is the total
  payments: [declined, approved]  # every payment of the call, oldest first, by status
```
A prompt is named by its catalog key (``card.number``) or, for a prompt no catalog made (a
``play`` or ``speak`` step), by what the switch played (``ivr/ivr-welcome.wav``). An unknown
key, or a value of the wrong shape, is an error at its line and column, before the call runs.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Dict, List, Optional, Tuple

EXPECT_KEYS = ("prompts", "outcome", "flow_result", "variables", "charges", "payments")
PROMPT_MATCHES = ("in_order", "exactly", "not")
CHARGE_KEYS = ("count", "amount", "currency")
FLOW_RESULTS = ("completed", "transferred", "caller-hung-up", "error", "none")
Path = Tuple[Any, ...]


@dataclass(frozen=True)
class Expectation:
    key: str            # e.g. "prompts", "variables.pay_result", "charges.count"
    path: Path          # where it is written in the script
    value: Any


@dataclass
class Expectations:
    items: List[Expectation] = field(default_factory=list)

    def __bool__(self) -> bool:
        return bool(self.items)


@dataclass(frozen=True)
class HeardPrompt:
    """One thing the caller heard: the catalog key it came from (None when no catalog made
    it), what the switch played, and its number as ``wait_prompt`` counts it."""

    key: Optional[str]
    arg: str
    number: Optional[int] = None

    def names(self) -> Tuple[str, ...]:
        return tuple(n for n in (self.key, self.arg) if n)

    def __str__(self) -> str:
        return self.key or self.arg


@dataclass
class CallFacts:
    """What happened on the call, as the expectations compare it."""

    prompts: List[HeardPrompt]
    outcome: str                       # pay_result at the end, or "none"
    flow_result: str                   # FlowOutcome.result, or "none"
    variables: Dict[str, str]
    charges: List[Dict[str, Any]]      # approved payments: amount_minor, currency
    payments: List[str]                # every payment's status, oldest first


@dataclass(frozen=True)
class Failure:
    key: str
    path: Path
    expected: str
    actual: str


def parse_expectations(raw: Any, fail: Callable[[Path, str], None]) -> Expectations:
    """The ``expect:`` block; ``fail(path, message)`` raises at the offending key."""
    expectations = Expectations()
    if raw is None:
        return expectations
    if not isinstance(raw, dict):
        fail(("expect",), "expect: expected a mapping with some of %s" % ", ".join(EXPECT_KEYS))
    for key, value in raw.items():
        path = ("expect", key)
        if key not in EXPECT_KEYS:
            fail(path, "expect: unknown key %r; expected one of %s" % (key, ", ".join(EXPECT_KEYS)))
        if key == "prompts":
            expectations.items.extend(_prompts(value, path, fail))
        elif key in ("outcome", "flow_result"):
            if not isinstance(value, str) or not value:
                fail(path, "expect.%s: expected a word such as %s, got %r"
                     % (key, "approved" if key == "outcome" else "transferred", value))
            if key == "flow_result" and value not in FLOW_RESULTS:
                fail(path, "expect.flow_result: %r is not one of %s" % (value, ", ".join(FLOW_RESULTS)))
            expectations.items.append(Expectation(key, path, value))
        elif key == "variables":
            if not isinstance(value, dict) or not value:
                fail(path, "expect.variables: expected a mapping of channel variables, got %r" % (value,))
            for name, wanted in value.items():
                if isinstance(wanted, (dict, list)):
                    fail(path + (name,), "expect.variables.%s: expected a plain value or null" % name)
                expectations.items.append(Expectation("variables.%s" % name, path + (name,),
                                                      None if wanted is None else _text(wanted)))
        elif key == "charges":
            expectations.items.extend(_charges(value, path, fail))
        else:  # payments
            if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
                fail(path, "expect.payments: expected a list of statuses such as [declined, approved]")
            expectations.items.append(Expectation(key, path, list(value)))
    return expectations


def _text(value: Any) -> str:
    return str(value).lower() if isinstance(value, bool) else str(value)


def _prompt_list(value: Any, path: Path, fail) -> List[str]:
    if not isinstance(value, list) or not value:
        fail(path, "%s: expected a list of prompts (catalog keys such as card.number)"
             % ".".join(map(str, path)))
    for index, item in enumerate(value):
        if not isinstance(item, str) or not item:
            fail(path + (index,), "%s[%d]: expected a catalog key or a sound, got %r"
                 % (".".join(map(str, path)), index, item))
    return list(value)


def _prompts(value: Any, path: Path, fail) -> List[Expectation]:
    if isinstance(value, list):
        return [Expectation("prompts.in_order", path, _prompt_list(value, path, fail))]
    if not isinstance(value, dict) or not value:
        fail(path, "expect.prompts: expected a list, or a mapping with some of %s"
             % ", ".join(PROMPT_MATCHES))
    result = []
    for how, items in value.items():
        if how not in PROMPT_MATCHES:
            fail(path + (how,), "expect.prompts: unknown key %r; expected one of %s"
                 % (how, ", ".join(PROMPT_MATCHES)))
        result.append(Expectation("prompts.%s" % how, path + (how,),
                                  _prompt_list(items, path + (how,), fail)))
    return result


def _charges(value: Any, path: Path, fail) -> List[Expectation]:
    if isinstance(value, int) and not isinstance(value, bool):
        value = {"count": value}
    if not isinstance(value, dict) or not value:
        fail(path, "expect.charges: expected a count or a mapping with some of %s" % ", ".join(CHARGE_KEYS))
    result = []
    for key, wanted in value.items():
        if key not in CHARGE_KEYS:
            fail(path + (key,), "expect.charges: unknown key %r; expected one of %s"
                 % (key, ", ".join(CHARGE_KEYS)))
        if key == "currency":
            if not isinstance(wanted, str) or len(wanted) != 3:
                fail(path + (key,), "expect.charges.currency: expected an ISO 4217 code such as EUR")
        elif isinstance(wanted, bool) or not isinstance(wanted, int) or wanted < 0:
            fail(path + (key,), "expect.charges.%s: expected a whole number%s, got %r"
                 % (key, " of minor units (1250 for 12.50)" if key == "amount" else "", wanted))
        result.append(Expectation("charges.%s" % key, path + (key,), wanted))
    return result


# ---- comparing ------------------------------------------------------------------------------

def check(expectations: Expectations, facts: CallFacts) -> List[Failure]:
    """Every expectation the call did not meet, in the order they are written."""
    failures = []
    for item in expectations.items:
        problem = _CHECKS[item.key.split(".")[0]](item, facts)
        if problem is not None:
            failures.append(Failure(item.key, item.path, *problem))
    return failures


def _heard_list(prompts: List[HeardPrompt]) -> str:
    return "[%s]" % ", ".join(str(p) for p in prompts) if prompts else "no prompt"


def _check_prompts(item: Expectation, facts: CallFacts) -> Optional[Tuple[str, str]]:
    heard, wanted = facts.prompts, item.value
    how = item.key.split(".")[1]
    if how == "exactly":
        if len(heard) == len(wanted) and all(w in h.names() for w, h in zip(wanted, heard)):
            return None
        return "exactly [%s]" % ", ".join(wanted), _heard_list(heard)
    if how == "not":
        found = [w for w in wanted if any(w in h.names() for h in heard)]
        if not found:
            return None
        return "none of [%s]" % ", ".join(wanted), "heard %s in %s" % (", ".join(found), _heard_list(heard))
    position = 0
    for index, name in enumerate(wanted):
        while position < len(heard) and name not in heard[position].names():
            position += 1
        if position == len(heard):
            after = (" after %s" % wanted[index - 1]) if index else ""
            return ("[%s] in this order" % ", ".join(wanted),
                    "no %s%s; heard %s" % (name, after, _heard_list(heard)))
        position += 1
    return None


def _check_word(item: Expectation, facts: CallFacts) -> Optional[Tuple[str, str]]:
    actual = getattr(facts, item.key)
    return None if actual == item.value else (item.value, actual)


def _check_variable(item: Expectation, facts: CallFacts) -> Optional[Tuple[str, str]]:
    name = item.key.split(".", 1)[1]
    actual = facts.variables.get(name)
    if actual == item.value:
        return None
    return ("unset" if item.value is None else repr(item.value),
            "unset" if actual is None else repr(actual))


def _check_charges(item: Expectation, facts: CallFacts) -> Optional[Tuple[str, str]]:
    what = item.key.split(".")[1]
    shown = ", ".join("%s %s" % (c["amount_minor"], c["currency"]) for c in facts.charges) or "none"
    if what == "count":
        actual: Any = len(facts.charges)
    elif what == "amount":
        actual = sum(int(c["amount_minor"]) for c in facts.charges)
    else:
        actual = sorted({c["currency"] for c in facts.charges})
        if actual == [item.value]:
            return None
        return item.value, "charges: %s" % shown
    if actual == item.value:
        return None
    return str(item.value), "%s (charges: %s)" % (actual, shown)


def _check_payments(item: Expectation, facts: CallFacts) -> Optional[Tuple[str, str]]:
    if facts.payments == item.value:
        return None
    return "[%s]" % ", ".join(item.value), "[%s]" % ", ".join(facts.payments)


_CHECKS = {"prompts": _check_prompts, "outcome": _check_word, "flow_result": _check_word,
           "variables": _check_variable, "charges": _check_charges, "payments": _check_payments}
