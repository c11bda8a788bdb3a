"""The pieces of ``simulate``'s checks without a call: naming what was heard by catalog key,
and comparing expectations with what happened."""
from types import SimpleNamespace

import pytest

from orchestrator import catalog as catalogs
from orchestrator.catalog import Catalog, PromptRenderer
from orchestrator.flowtests.expect import CallFacts, HeardPrompt, check, parse_expectations
from orchestrator.flowtests.heard import Renderings
from orchestrator.simulator import Heard


def renderer(uuid="call-1"):
    return PromptRenderer(Catalog.load("en"), SimpleNamespace(uuid=uuid), "", "auto", "flite", "kal")


def heard(app, arg, number):
    return Heard(0.0, app, arg, number=number)


def test_heard_prompts_take_the_key_they_were_rendered_from():
    with Renderings() as renderings:
        amount = renderer().prompts("amount_due", amount="12.50", currency="EUR")
        entry = renderer().entry_prompt(["error.invalid-card-number", "card.number"])
        renderer("another-call").prompts("goodbye")
        listed = renderer().prompts("payment_approved", last4="1111", auth_code="AB12CD")
    assert catalogs.RENDER_OBSERVERS == []          # the listener is gone with the block
    record = [heard("speak", "flite|kal|" + amount[0].value, 1),
              heard("speak", "flite|kal|" + amount[1].value, 2),
              heard("play_and_get_digits", entry, 3),
              heard("playback", "ivr/ivr-welcome.wav", 4),      # no catalog made it
              heard("speak", "flite|kal|" + listed[0].value, 5),
              heard("speak", "flite|kal|" + listed[1].value, 6)]
    prompts, labels = renderings.name("call-1", record)
    assert [(p.key, p.number) for p in prompts] == [
        ("amount_due", 1), ("error.invalid-card-number", 3), ("card.number", 3), (None, 4),
        ("payment_approved", 5)]
    assert labels == {0: "amount_due", 1: "amount_due", 2: "error.invalid-card-number, card.number",
                      4: "payment_approved", 5: "payment_approved"}
    # the other call's rendering is not this call's
    assert renderings.name("another-call", record)[0][0].key is None


def test_a_rendering_never_heard_is_passed_over():
    with Renderings() as renderings:
        first = renderer().prompts("try_another_card")
        renderer().prompts("payment_declined", reason="Insufficient funds.")   # barged: not heard
        last = renderer().prompts("goodbye")
    prompts, _ = renderings.name("call-1", [heard("speak", "flite|kal|" + first[0].value, 1),
                                            heard("speak", "flite|kal|" + last[0].value, 2)])
    assert [p.key for p in prompts] == ["try_another_card", "goodbye"]


def facts(**changes):
    values = dict(prompts=[HeardPrompt("amount_due", "a", 1), HeardPrompt("card.number", "b", 3),
                           HeardPrompt(None, "ivr/beep.wav", 4), HeardPrompt("payment_approved", "c", 5)],
                  outcome="approved", flow_result="transferred",
                  variables={"pay_result": "approved", "pay_last4": "1111"},
                  charges=[{"amount_minor": 1250, "currency": "EUR"}], payments=["declined", "approved"])
    values.update(changes)
    return CallFacts(**values)


def expectations(raw):
    def fail(path, message):
        raise ValueError((path, message))
    return parse_expectations(raw, fail)


@pytest.mark.parametrize("raw", [
    {"prompts": ["amount_due", "payment_approved"]},
    {"prompts": ["ivr/beep.wav"]},
    {"prompts": {"exactly": ["amount_due", "card.number", "ivr/beep.wav", "payment_approved"]}},
    {"prompts": {"not": ["payment_declined"]}},
    {"outcome": "approved", "flow_result": "transferred"},
    {"variables": {"pay_last4": 1111, "pay_auth_code": None}},
    {"charges": 1}, {"charges": {"count": 1, "amount": 1250, "currency": "EUR"}},
    {"payments": ["declined", "approved"]},
])
def test_expectations_the_call_met_pass(raw):
    assert check(expectations(raw), facts()) == []


@pytest.mark.parametrize("raw, key, expected, actual", [
    ({"prompts": ["payment_approved", "amount_due"]}, "prompts.in_order",
     "[payment_approved, amount_due] in this order",
     "no amount_due after payment_approved; heard [amount_due, card.number, ivr/beep.wav, payment_approved]"),
    ({"prompts": {"exactly": ["amount_due", "card.number"]}}, "prompts.exactly",
     "exactly [amount_due, card.number]", "[amount_due, card.number, ivr/beep.wav, payment_approved]"),
    ({"prompts": {"not": ["card.number"]}}, "prompts.not", "none of [card.number]",
     "heard card.number in [amount_due, card.number, ivr/beep.wav, payment_approved]"),
    ({"outcome": "declined"}, "outcome", "declined", "approved"),
    ({"variables": {"pay_last4": None}}, "variables.pay_last4", "unset", "'1111'"),
    ({"variables": {"pay_brand": "visa"}}, "variables.pay_brand", "'visa'", "unset"),
    ({"charges": {"count": 2}}, "charges.count", "2", "1 (charges: 1250 EUR)"),
    ({"charges": {"amount": 100}}, "charges.amount", "100", "1250 (charges: 1250 EUR)"),
    ({"charges": {"currency": "USD"}}, "charges.currency", "USD", "charges: 1250 EUR"),
    ({"payments": ["approved"]}, "payments", "[approved]", "[declined, approved]"),
])
def test_an_unmet_expectation_says_what_was_expected_and_what_happened(raw, key, expected, actual):
    [failure] = check(expectations(raw), facts())
    assert (failure.key, failure.expected, failure.actual) == (key, expected, actual)
    assert failure.path[0] == "expect"


@pytest.mark.parametrize("raw, path, message", [
    ([1], ("expect",), "expect: expected a mapping"),
    ({"prompt": []}, ("expect", "prompt"), "expect: unknown key 'prompt'"),
    ({"prompts": []}, ("expect", "prompts"), "expect.prompts: expected a list of prompts"),
    ({"prompts": [3]}, ("expect", "prompts", 0), "expect.prompts[0]: expected a catalog key"),
    ({"outcome": 3}, ("expect", "outcome"), "expect.outcome: expected a word"),
    ({"variables": {"a": [1]}}, ("expect", "variables", "a"), "expect.variables.a: expected a plain value"),
    ({"charges": -1}, ("expect", "charges", "count"), "expect.charges.count: expected a whole number"),
    ({"charges": {"currency": "euro"}}, ("expect", "charges", "currency"), "expect.charges.currency"),
    ({"payments": "approved"}, ("expect", "payments"), "expect.payments: expected a list"),
])
def test_malformed_expectations_are_refused_where_they_are_written(raw, path, message):
    with pytest.raises(ValueError) as caught:
        expectations(raw)
    where, text = caught.value.args[0]
    assert where == path and text.startswith(message), text
