"""The sandbox's fault cards over real HTTP on 127.0.0.1, through the connector built for it:
what the gateway truly did (``charges``) against what the client was told.

Each fault leaves the client either with the charge (found by key and checked) or with an
unknown outcome; never with "not charged" while a charge stands. A technical cancel is the one
way to a definite "not charged" when the gateway could not say.
"""
import time

import gevent
import pytest
import requests

from orchestrator.payments.gateways import Approved, Declined, GatewayError, build_gateway
from orchestrator.payments.gateways.results import Cancelled
from orchestrator.payments.sandbox import SandboxGateway
from orchestrator.payments.sandbox_cards import TEST_CARDS, card_for
from tests.support.cards import make_card

LAG = 1.0


@pytest.fixture
def sandbox():
    server = SandboxGateway(lag_seconds=LAG, acquirer_seconds=0.3, status_delay=2.0,
                            hang_seconds=2.0).start()
    yield server
    server.stop()


def connector(sandbox, **settings):
    return build_gateway("sbx", dict({"type": "sandbox", "url": sandbox.url, "read_timeout": 0.5,
                                      "backoff": 0.05, "status_attempts": 3,
                                      "status_interval": 0.1}, **settings))


def pay(gateway, behaviour, key, amount=1250):
    return gateway.authorize(amount, "EUR", "order-1", make_card(card_for(behaviour)), key)


def standing(sandbox, key):
    return [c for c in sandbox.charges_for(key) if not c["reversed"]]


def test_every_fault_card_is_a_valid_number_the_brand_rules_accept():
    from orchestrator.payments.card import validate_number
    for number in TEST_CARDS:
        validate_number(number)


def test_answers_say_what_they_were_for(sandbox):
    result = pay(connector(sandbox), "approve", "key-facts-0001")
    assert isinstance(result, Approved)
    facts = result.facts
    assert (facts.amount_minor, facts.currency, facts.brand, facts.bin, facts.last4) == \
        (1250, "EUR", "visa", "411111", "1111")


@pytest.mark.parametrize("behaviour", ["charge-then-502", "504-then-charge", "charge-then-reset"])
def test_a_charge_behind_a_failure_is_found_by_key_and_charged_once(sandbox, behaviour):
    gateway = connector(sandbox, status_attempts=6, status_interval=0.1)
    result = pay(gateway, behaviour, "key-found-" + behaviour[:6])
    assert isinstance(result, Approved)
    [charge] = sandbox.charges_for("key-found-" + behaviour[:6])
    assert charge["auth_code"] == result.auth_code


@pytest.mark.parametrize("behaviour,kind", [
    ("charge-then-502-lagging-status", "http"),
    ("504-then-charge-lagging-status", "conflict"),
    ("charge-then-502-slow-status", "http"),
])
def test_a_charge_the_status_endpoint_cannot_show_yet_stays_unknown(sandbox, behaviour, kind):
    """The lost outcomes: "not found" (or no answer) from a lagging or slow status endpoint
    after a 502/504 is not "not charged"."""
    key = "key-lag-" + behaviour[:12]
    result = pay(connector(sandbox, status_attempts=1), behaviour, key)   # within LAG
    assert isinstance(result, GatewayError) and result.kind == kind
    assert result.outcome_unknown is True
    gevent.sleep(0.4)   # the acquirer's late charge, if it was late
    assert len(standing(sandbox, key)) == 1
    time.sleep(LAG + 0.5)
    found = connector(sandbox).status(key)
    assert isinstance(found, Approved) and found.auth_code == sandbox.charges_for(key)[0]["auth_code"]


@pytest.mark.parametrize("behaviour", ["http-500", "reset-before-charge"])
def test_a_failure_that_charged_nothing_is_still_not_taken_as_not_charged(sandbox, behaviour):
    key = "key-none-" + behaviour[:8]
    result = pay(connector(sandbox), behaviour, key)
    assert isinstance(result, GatewayError) and result.outcome_unknown is True
    assert result.detail.endswith("status: no record of the key yet")
    assert sandbox.charges_for(key) == []


def test_a_cancel_closes_a_key_never_seen_and_refuses_it_afterwards(sandbox):
    gateway = connector(sandbox)
    pay(gateway, "reset-before-charge", "key-cancel-0001")
    assert gateway.cancel("key-cancel-0001") == Cancelled(reversed=False)
    assert gateway.cancel("key-cancel-0001") == Cancelled(reversed=False)   # idempotent
    late = pay(gateway, "approve", "key-cancel-0001")      # a request arriving after it
    assert late == GatewayError("rejected", False, "gateway refused the request (HTTP 422)")
    assert sandbox.charges_for("key-cancel-0001") == []


def test_a_cancel_reverses_a_charge_the_status_endpoint_did_not_show(sandbox):
    gateway = connector(sandbox)
    pay(gateway, "charge-then-502-lagging-status", "key-cancel-0002")
    assert gateway.status("key-cancel-0002") is None            # lagging
    assert gateway.cancel("key-cancel-0002") == Cancelled(reversed=True)
    assert standing(sandbox, "key-cancel-0002") == []
    assert sandbox.charges_for("key-cancel-0002")[0]["reversed"] is True


def test_a_cancel_before_the_acquirer_charges_means_it_never_does(sandbox):
    gateway = connector(sandbox, max_attempts=1, status_attempts=1)
    pay(gateway, "504-then-charge", "key-cancel-0003")
    assert gateway.cancel("key-cancel-0003") == Cancelled(reversed=False)
    gevent.sleep(0.6)
    assert sandbox.charges_for("key-cancel-0003") == []


def test_a_cancel_while_a_slow_acquirer_works_means_it_never_charges(sandbox):
    sandbox.slow_seconds = 0.6
    gateway = connector(sandbox, read_timeout=0.2, max_attempts=1, status_attempts=1)
    pay(gateway, "slow", "key-cancel-0006")
    assert gateway.cancel("key-cancel-0006") == Cancelled(reversed=False)
    gevent.sleep(0.6)
    assert sandbox.charges_for("key-cancel-0006") == []


def test_a_declined_key_answers_its_decline_to_a_cancel(sandbox):
    gateway = connector(sandbox)
    declined = pay(gateway, "insufficient_funds", "key-cancel-0004")
    assert isinstance(declined, Declined)
    assert gateway.cancel("key-cancel-0004") == declined


def test_the_cancel_endpoint_over_plain_http(sandbox):
    reply = requests.post(sandbox.url + "/v1/authorizations/key-cancel-0005/cancel", timeout=2)
    assert reply.status_code == 200
    assert reply.json() == {"status": "cancelled", "idempotency_key": "key-cancel-0005",
                            "reversed": False}
    assert requests.get(sandbox.url + "/v1/authorizations/key-cancel-0005",
                        timeout=2).json()["status"] == "cancelled"
    assert connector(sandbox).status("key-cancel-0005") == \
        GatewayError("rejected", True, "the gateway cancelled this key")


def test_each_authorization_is_announced_before_it_is_acted_on():
    seen = []
    with SandboxGateway(on_authorization=lambda key: seen.append((key, len(server.charges)))) \
            as server:
        pay(connector(server), "approve", "key-announce-01")
    assert seen == [("key-announce-01", 0)]


def test_the_payments_readme_lists_every_test_card():
    import os
    import orchestrator.payments
    readme = os.path.join(os.path.dirname(orchestrator.payments.__file__), "README.md")
    with open(readme, encoding="utf-8") as handle:
        text = handle.read()
    assert [n for n in TEST_CARDS if n not in text] == []
