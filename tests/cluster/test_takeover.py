"""A survivor's takeover of a dead instance looks at its payments one look at a time: a retry
after a heartbeat that comes while the takeover is still at work (ending the dead instance's
sessions, or waiting on a slow gateway longer than ``takeover_retry``) does not reconcile the
same payments beside it, so each is asked about once and counted ``settled`` once; a look that
left a payment flagged is still followed by a retry that settles it."""
import time

import gevent
import pytest
from gevent.event import Event

from orchestrator.cluster.takeover import Takeover
from orchestrator.metrics import Metrics
from orchestrator.payments.gateways import build_gateway
from orchestrator.payments.ledger import PaymentLedger
from orchestrator.payments.money import Money
from orchestrator.payments.sandbox import SandboxGateway
from orchestrator.payments.sandbox_cards import card_for
from orchestrator.store import PaymentStore
from orchestrator.store.instances import InstanceTable
from tests.support.cards import make_card

DEAD, SURVIVOR, CALL = "b:1:dead", "a:1:survivor", "call-of-b"


class Held:
    """Wraps ``target``, holding each call of ``method`` until ``release`` is set (``entered``
    is set when the first one arrives); ``calls`` counts them."""

    def __init__(self, target, method):
        self.target, self.method = target, method
        self.entered, self.release, self.calls = Event(), Event(), 0

    def __getattr__(self, name):
        attribute = getattr(self.target, name)
        if name != self.method:
            return attribute

        def held(*args, **kwargs):
            self.calls += 1
            self.entered.set()
            assert self.release.wait(timeout=10), "never released"
            return attribute(*args, **kwargs)
        return held


@pytest.fixture
def sandbox():
    with SandboxGateway(lag_seconds=30.0) as server:
        yield server


def connector(sandbox):
    return build_gateway("sandbox", {"type": "sandbox", "url": sandbox.url, "read_timeout": 0.5,
                                     "max_attempts": 1, "status_attempts": 1})


def dead_instance_with_a_charged_payment(store, gateway):
    """DEAD beat long ago and is claimed by SURVIVOR; its call's payment was charged by the
    gateway and left pending (it died before the answer)."""
    table = InstanceTable(store.backend)
    table.beat(DEAD, "inbox-b", time.time() - 120, [], now=time.time() - 100)
    table.beat(SURVIVOR, "inbox-a", time.time(), [])
    assert table.claim_dead(SURVIVOR, 10.0) == [DEAD]
    card = make_card(card_for("charge-then-hang"))
    begun = PaymentLedger(store).begin(money=Money(1250, "EUR"), gateway="sandbox",
                                       key_for=gateway.idempotency_key, summary=card.summary,
                                       call_uuid=CALL)
    gateway.authorize(1250, "EUR", "INV-1", card, begun.idempotency_key)
    table.call_arrived(CALL, DEAD, "default")
    return table, begun


def counted(metrics, outcome):
    return metrics.registry.get_sample_value("payivr_takeover_payments_total",
                                             {"outcome": outcome}) or 0


@pytest.mark.parametrize("held_at", ["ending its sessions", "asking the gateway"])
def test_a_retry_during_the_takeover_leaves_its_payments_to_it(sandbox, held_at):
    store, metrics = PaymentStore(), Metrics()
    gateway = connector(sandbox)
    table, begun = dead_instance_with_a_charged_payment(store, gateway)
    asked = Held(gateway, "status")
    # retry_every 0: every beat's retry is due, as when a look outlasts takeover_retry
    takeover = Takeover(store, {"sandbox": asked}, SURVIVOR, metrics, retry_every=0.0)
    hold = asked
    if held_at == "ending its sessions":
        hold = takeover.sessions = Held(takeover.sessions, "abandon_held_by")
        asked.release.set()
    looking = gevent.spawn(takeover.dead, DEAD)
    assert hold.entered.wait(timeout=10)
    retry = gevent.spawn(takeover.again)                  # a heartbeat's retry, meanwhile
    retry.join(timeout=10)
    assert retry.ready() and retry.successful()
    # it left the dead instance alone: the gateway asked by the takeover alone, if yet at all
    assert asked.calls == (1 if held_at == "asking the gateway" else 0)
    hold.release.set()
    looking.join(timeout=20)
    assert looking.ready() and looking.successful()
    assert asked.calls == 1                               # the gateway asked once, not twice
    assert store.get(begun.payment_id)["status"] == "approved"
    assert (counted(metrics, "settled"), counted(metrics, "flagged")) == (1, 0)
    assert table.calls_of(DEAD) == []                     # settled: its calls forgotten
    takeover.again()                                      # nothing left to look at
    assert asked.calls == 1 and counted(metrics, "settled") == 1


def test_a_payment_the_takeover_left_flagged_is_settled_by_a_later_retry(sandbox):
    store, metrics = PaymentStore(), Metrics()
    gateway = connector(sandbox)
    table, begun = dead_instance_with_a_charged_payment(store, gateway)

    class NotYet:
        """The gateway cannot say at the first look; it can at the next."""
        calls = 0

        def __getattr__(self, name):
            return getattr(gateway, name)

        def status(self, key):
            NotYet.calls += 1
            return None if NotYet.calls == 1 else gateway.status(key)
    takeover = Takeover(store, {"sandbox": NotYet()}, SURVIVOR, metrics, retry_every=0.0)
    takeover.dead(DEAD)
    assert (counted(metrics, "settled"), counted(metrics, "flagged")) == (0, 1)
    assert table.calls_of(DEAD) == [CALL] and store.get(begun.payment_id)["status"] == "unknown"
    takeover.again()
    assert (counted(metrics, "settled"), counted(metrics, "flagged")) == (1, 1)
    assert store.get(begun.payment_id)["status"] == "approved" and table.calls_of(DEAD) == []
