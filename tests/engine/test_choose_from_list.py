"""``choose_from_list``: the list read in the caller's language, the choice by key, the exact
total in minor units, and each way it can end."""
import json
import logging

import pytest

from orchestrator.engine import FlowRunner, load_flow_text
from tests.engine.fake_channel import FakeChannel

INVOICES = {"invoices.count": "3",
            "invoices.1.number": "F-101", "invoices.1.amount": "1250", "invoices.1.due": "2026-12-15",
            "invoices.2.number": "2202", "invoices.2.amount": "1", "invoices.2.due": "2027-01-05",
            "invoices.3.number": "F-303", "invoices.3.amount": "99999", "invoices.3.due": "2027-02-01"}
FLOW = """
flow: choose
language: %s
vars: %s
steps:
  - choose_from_list:
      list: invoices
      due: due
      on: {empty: none, error: bad, cancelled: out, too-many-failed-attempts: out}
  - set: {result: "${chosen.amount} ${chosen.count} ${chosen.items} ${chosen.numbers}"}
  - hangup: {}
  - id: none
    set: {result: empty}
  - hangup: {}
  - id: bad
    set: {result: error}
  - hangup: {}
  - id: out
    set: {result: out}
  - hangup: {}
"""


def flow(variables, language="en"):
    return FLOW % (language, json.dumps(dict({"currency": "EUR"}, **variables)))


def chosen(variables, keys):
    """(outcome, the flow's ``result`` variable, the channel) of one run."""
    channel = FakeChannel(keys=keys)
    runner = FlowRunner(load_flow_text(flow(variables), "t.yaml"), channel, log=logging.getLogger("test.flow"))
    outcome = runner.run()
    return outcome, runner.context.variables.get("result"), channel


def listing(channel):
    [first] = [args[0] for name, args, _ in channel.calls if name == "collect_digits"][:1]
    return [(prompt.kind, prompt.value) for prompt in first]


def test_each_invoice_is_read_then_the_total_and_all_is_chosen(run_flow):
    channel = FakeChannel(keys=["0"])
    outcome, channel = run_flow(flow(INVOICES), channel)
    assert outcome.result == "completed", outcome.detail
    heard = listing(channel)
    assert heard[:9] == [("speak", "Invoice"), ("speak", "F - 1 0 1"), ("speak", "for"),
                         ("speak", "12 euros and 50 cents"), ("speak", "due on"), ("say", "1797336000"),
                         ("speak", "To pay it, press"), ("say", "1"), ("speak", "Invoice")]
    assert ("say", "2202") in heard                                   # digits said as digits
    assert heard[-4:] == [("speak", "To pay them all, a total of"),
                          ("speak", "1012 euros and 50 cents"),
                          ("speak", "press"), ("say", "0")]
    assert ("speak", "You are paying") in [(n, a[0]) for n, a, _ in channel.calls if n == "speak"]


@pytest.mark.parametrize("key,expected", [
    ("0", "101250 3 1,2,3 F-101,2202,F-303"),     # 1250 + 1 + 99999, exactly
    ("2", "1 1 2 2202"),
    ("3", "99999 1 3 F-303"),
])
def test_the_key_chooses_one_or_all_and_the_amount_is_exact_minor_units(key, expected):
    outcome, result, _ = chosen(INVOICES, [key])
    assert (outcome.result, result) == ("completed", expected)


def test_spanish_reads_the_list_in_spanish(run_flow):
    outcome, channel = run_flow(flow(INVOICES, "es"), FakeChannel(keys=["1"]))
    heard = listing(channel)
    assert heard[0] == ("speak", "Factura") and ("speak", "con vencimiento el") in heard
    assert ("speak", "Para pagarlas todas, un total de") in heard


def test_a_key_that_picks_nothing_is_retried_then_gives_up():
    outcome, result, channel = chosen(INVOICES, ["7", "timeout", "5", "1"])
    assert channel.names().count("collect_digits") == 3 and result == "out"
    outcome, result, channel = chosen(INVOICES, ["cancel"])
    assert channel.names().count("collect_digits") == 1 and result == "out"


def test_one_invoice_offers_no_all_key():
    one = {k: v for k, v in INVOICES.items() if k.startswith("invoices.1.")}
    one["invoices.count"] = "1"
    outcome, result, channel = chosen(one, ["0", "1"])
    assert ("speak", "To pay them all, a total of") not in listing(channel)
    assert channel.names().count("collect_digits") == 2 and result == "1250 1 1 F-101"


@pytest.mark.parametrize("change,branch", [
    ({"invoices.count": "0"}, "empty"),
    ({"invoices.2.amount": "12.50"}, "error"),        # not whole minor units
    ({"invoices.2.amount": "0"}, "error"),
    ({"invoices.2.amount": "twelve"}, "error"),
    ({"invoices.2.due": "15/12/2026"}, "error"),
    ({"invoices.count": "10"}, "error"),              # more than nine keys can pick
    ({"invoices.1.amount": "999999999999", "invoices.3.amount": "999999999999"}, "error"),  # total too large
])
def test_what_cannot_be_said_or_charged_takes_its_branch(change, branch):
    outcome, result, channel = chosen(dict(INVOICES, **change), ["0"])
    assert (outcome.result, result) == ("completed", branch), outcome.detail
    assert channel.names().count("collect_digits") == 0


def test_validate_reports_a_list_no_step_fills(problems):
    assert problems("""
        flow: x
        vars: {currency: EUR}
        steps:
          - choose_from_list: {list: invoics, on: {empty: x}}
          - id: x
            hangup: {}
    """) == ["4:30: unknown variable 'invoics.count' (did you mean 'chosen.count'?); flow variables come from vars:, set: and collect into:"]


def test_authorize_checks_an_amount_set_on_the_way_when_it_charges_not_at_the_start(run_flow):
    later = """
    flow: later
    vars: {currency: EUR, reference: R, invoices.count: "0"}
    steps:
      - answer: {}
      - choose_from_list: {list: invoices, on: {empty: out}}
      - collect_card: {on: {cancelled: out, too-many-failed-attempts: out}}
      - authorize: {gateway: g, amount: "${chosen.amount}", on: {declined: out, error: out}}
      - id: out
        hangup: {}
    """
    # the gateway is unknown: the flow ends at the start for that, not for chosen.amount
    outcome, channel = run_flow(later)
    assert outcome.result == "error" and "no gateway named 'g'" in outcome.detail
    unset = later.replace('"${chosen.amount}"', '"${channel.pay_amount}"')
    outcome, channel = run_flow(unset)
    assert outcome.result == "error" and "pay_amount" in outcome.detail and channel.calls == []
