"""Refunds and voids of approved payments: the real sandbox gateway server on loopback, the
connector built for it, and the journal on SQLite and on a real PostgreSQL.

A payment is authorized for real (the sandbox charges it), then refunded or voided through
``Refunds``: the record, the hold, the gateway's answer, the event, reconciliation."""
import logging

import pytest

from orchestrator.payments.events import PaymentEventBus, PaymentRefunded, PaymentVoided
from orchestrator.payments.gateways import build_gateway
from orchestrator.payments.ledger import PaymentLedger
from orchestrator.payments.money import Money
from orchestrator.payments.refunds import RefundProblem, Refunds
from orchestrator.payments.sandbox import SandboxGateway
from orchestrator.store import open_store
from tests.support.cards import make_card

PAN = "4111111111111111"


@pytest.fixture
def sandbox():
    with SandboxGateway(hang_seconds=2.0) as server:
        yield server


@pytest.fixture(params=["sqlite", "postgresql"])
def store_location(request, tmp_path):
    """An SQLite file, or a schema of the test's own on the real PostgreSQL (as tests/store)."""
    if request.param == "sqlite":
        return str(tmp_path / "payments.sqlite")
    return request.getfixturevalue("postgres_schema").url


@pytest.fixture
def store(store_location):
    store = open_store(store_location)
    yield store
    store.close()


def gateway_for(sandbox, **settings):
    return build_gateway("sbx", dict({"type": "sandbox", "url": sandbox.url, "read_timeout": 0.5,
                                      "max_attempts": 2, "backoff": 0.01, "status_attempts": 1,
                                      "status_interval": 0.01}, **settings))


class Heard:
    def __init__(self, bus):
        self.events = []
        bus.subscribe(lambda call, event: self.events.append((call, event)))


@pytest.fixture
def world(sandbox, store):
    gateway = gateway_for(sandbox)
    bus = PaymentEventBus()
    heard = Heard(bus)
    refunds = Refunds(store, {"sbx": gateway}, bus)
    yield store, gateway, refunds, heard
    gateway.close()


def approved_payment(store, gateway, amount=1250):
    ledger = PaymentLedger(store)
    card = make_card(PAN)
    begun = ledger.begin(money=Money(amount, "EUR"), gateway="sbx",
                         key_for=gateway.idempotency_key, summary=card.summary,
                         call_uuid="call-1", tenant="acme", flow="pay", reference="INV-1")
    result = gateway.authorize(amount, "EUR", "INV-1", card, begun.idempotency_key)
    assert ledger.finish(begun.payment_id, result) == "approved"
    return begun.payment_id


def test_a_full_refund_gives_everything_back_once(world, sandbox):
    store, gateway, refunds, heard = world
    payment_id = approved_payment(store, gateway)
    done = refunds.refund(payment_id, "click-0001", reason="customer asked", tenant="acme")
    assert done.record["status"] == "succeeded" and done.record["amount_minor"] == 1250
    assert done.record["refund_ref"].startswith("sbr_") and not done.replayed
    payment = store.get(payment_id)
    assert payment["status"] == "refunded" and payment["refunded_minor"] == 1250
    [refund] = sandbox.reversals.refunds
    assert refund["amount"] == 1250 and refund["kind"] == "refund"
    [(call, event)] = heard.events
    assert isinstance(event, PaymentRefunded) and event.result == "succeeded"
    assert (event.amount_minor, event.refunded_minor, call.tenant, call.uuid) == \
        (1250, 1250, "acme", "call-1")
    with pytest.raises(RefundProblem) as refused:
        refunds.refund(payment_id, "click-0002", 1, tenant="acme")
    assert refused.value.code == "already_refunded"
    assert len(sandbox.reversals.refunds) == 1


def test_partial_refunds_sum_to_the_total_then_more_is_refused(world, sandbox):
    store, gateway, refunds, heard = world
    payment_id = approved_payment(store, gateway)
    first = refunds.refund(payment_id, "part-0001", 500, tenant="acme")
    assert store.get(payment_id)["status"] == "partially_refunded"
    assert first.payment["refunded_minor"] == 500
    refunds.refund(payment_id, "part-0002", 750, tenant="acme")
    payment = store.get(payment_id)
    assert payment["status"] == "refunded" and payment["refunded_minor"] == 1250
    with pytest.raises(RefundProblem) as refused:
        refunds.refund(payment_id, "part-0003", 1, tenant="acme")
    assert refused.value.code == "already_refunded"
    assert sandbox.reversals.refunded(store.get(payment_id)["idempotency_key"]) == 1250
    assert [e.refunded_minor for _, e in heard.events] == [500, 1250]


def test_more_than_is_left_is_refused_before_the_gateway_is_asked(world, sandbox):
    store, gateway, refunds, _ = world
    payment_id = approved_payment(store, gateway)
    refunds.refund(payment_id, "over-0001", 1000, tenant="acme")
    with pytest.raises(RefundProblem) as refused:
        refunds.refund(payment_id, "over-0002", 251, tenant="acme")
    assert refused.value.code == "over_refund" and refused.value.left == 250
    assert len(sandbox.reversals.refunds) == 1
    # the hold was not taken: the 250 left can still be refunded
    assert refunds.refund(payment_id, "over-0003", 250, tenant="acme").record["status"] == "succeeded"


def test_the_sandbox_itself_refuses_an_over_refund(sandbox):
    """Past our own hold, the gateway's: a refund key the journal never saw asks for more."""
    gateway = gateway_for(sandbox)
    card = make_card(PAN)
    assert gateway.authorize(1000, "EUR", "INV-2", card, "pay-key-0001").status == "approved"
    from orchestrator.payments.gateways.refund_results import RefundRefused, RefundTarget
    target = RefundTarget("pay-key-0001", "", "", 1000, "EUR")
    assert gateway.refund(target, Money(600, "EUR"), "rf-direct-1").status == "succeeded"
    assert gateway.refund(target, Money(600, "EUR"), "rf-direct-2") == RefundRefused("over_refund")
    # the same refund key again: its first answer, never a second refund
    assert gateway.refund(target, Money(600, "EUR"), "rf-direct-1").status == "succeeded"
    assert sandbox.reversals.refunded("pay-key-0001") == 600


def test_the_same_request_key_twice_refunds_once(world, sandbox):
    store, gateway, refunds, heard = world
    payment_id = approved_payment(store, gateway)
    first = refunds.refund(payment_id, "double-click-1", 300, tenant="acme")
    again = refunds.refund(payment_id, "double-click-1", 300, tenant="acme")
    assert again.replayed and again.record["id"] == first.record["id"]
    assert len(sandbox.reversals.refunds) == 1 and len(heard.events) == 1
    assert store.get(payment_id)["refunded_minor"] == 300
    with pytest.raises(RefundProblem) as reused:
        refunds.refund(payment_id, "double-click-1", 400, tenant="acme")
    assert reused.value.code == "idempotency_key_reused"


def test_a_void_before_settlement_releases_the_payment(world, sandbox):
    store, gateway, refunds, heard = world
    payment_id = approved_payment(store, gateway)
    done = refunds.void(payment_id, "void-0001", reason="wrong amount", tenant="acme")
    assert done.record["status"] == "succeeded" and done.record["kind"] == "void"
    assert store.get(payment_id)["status"] == "voided"
    [(_, event)] = heard.events
    assert isinstance(event, PaymentVoided) and event.result == "succeeded"
    with pytest.raises(RefundProblem) as refused:
        refunds.refund(payment_id, "after-void-1", 100, tenant="acme")
    assert refused.value.code == "voided"


def test_a_void_after_settlement_is_refused_by_the_gateway(world, sandbox):
    store, gateway, refunds, heard = world
    payment_id = approved_payment(store, gateway)
    sandbox.reversals.settle_all()
    done = refunds.void(payment_id, "void-late-1", tenant="acme")
    assert done.record["status"] == "refused" and done.record["refusal"] == "already_settled"
    payment = store.get(payment_id)
    assert payment["status"] == "approved" and refunds.left_to_refund(payment) == 1250
    [(_, event)] = heard.events
    assert isinstance(event, PaymentVoided) and event.result == "refused"
    # a refund is what is left to do, and works
    assert refunds.refund(payment_id, "refund-late-1", tenant="acme").record["status"] == "succeeded"


def test_a_gateway_timeout_leaves_the_refund_unknown_and_reconciliation_settles_it(
        world, sandbox, caplog):
    store, gateway, refunds, heard = world
    payment_id = approved_payment(store, gateway)
    # the refund is made, but its answer and the status query after it come too late
    sandbox.reversals.hang_next = 2
    caplog.set_level(logging.INFO)
    done = refunds.refund(payment_id, "slow-0001", 400, tenant="acme")
    assert done.record["status"] == "unknown" and done.record["needs_reconciliation"]
    assert done.record["error_kind"] == "timeout"
    payment = store.get(payment_id)
    # not refunded as far as the record can say, but the 400 stays held: never refunded twice
    assert payment["status"] == "approved" and refunds.left_to_refund(payment) == 850
    assert heard.events[-1][1].result == "unknown"
    assert len(sandbox.reversals.refunds) == 1
    settled = refunds.reconcile(older_than=0)
    assert [s.status for s in settled] == ["succeeded"]
    payment = store.get(payment_id)
    assert payment["status"] == "partially_refunded" and payment["refunded_minor"] == 400
    assert len(sandbox.reversals.refunds) == 1          # sent again under its key: once
    assert heard.events[-1][1].result == "succeeded"
    assert refunds.reconcile(older_than=0) == []
    assert PAN not in caplog.text and PAN[:6] + PAN[-4:] not in caplog.text


def test_a_refund_the_gateway_never_received_is_reconciled_under_the_same_key(world, sandbox):
    """Recorded pending, then the service died before the call: reconciliation sends it once."""
    store, gateway, refunds, _ = world
    payment_id = approved_payment(store, gateway)
    begun = refunds.table.begin(payment_id=payment_id, kind="refund", request_key="crashed-1",
                                amount_minor=200, currency="EUR", tenant="acme")
    assert begun.row["status"] == "pending" and sandbox.reversals.refunds == []
    [settled] = refunds.reconcile(older_than=0)
    assert settled.status == "succeeded" and len(sandbox.reversals.refunds) == 1
    assert store.get(payment_id)["refunded_minor"] == 200


def test_an_unreachable_gateway_refunds_nothing_and_releases_the_hold(store, sandbox):
    gateway = gateway_for(sandbox)
    payment_id = approved_payment(store, gateway)
    dead = build_gateway("sbx", {"type": "sandbox", "url": "http://127.0.0.1:9",
                                 "max_attempts": 1, "connect_timeout": 0.5})
    refunds = Refunds(store, {"sbx": dead})
    done = refunds.refund(payment_id, "dead-0001", 100, tenant="acme")
    assert done.record["status"] == "error" and done.record["error_kind"] == "connect"
    assert refunds.left_to_refund(store.get(payment_id)) == 1250


def test_two_instances_refunding_at_once_never_give_back_more_than_was_charged(
        store_location, sandbox):
    """Two stores on one database (two instances), two agents, 700 each of 1000 at once: the
    hold lets one through; the other is refused before the gateway hears of it."""
    import gevent
    first, second = open_store(store_location), open_store(store_location)
    try:
        gateway = gateway_for(sandbox)
        payment_id = approved_payment(first, gateway, amount=1000)
        outcomes = []

        def refund(store, key):
            try:
                outcomes.append(Refunds(store, {"sbx": gateway}).refund(
                    payment_id, key, 700, tenant="acme").record["status"])
            except RefundProblem as problem:
                outcomes.append(problem.code)
        gevent.joinall([gevent.spawn(refund, first, "agent-a-0001"),
                        gevent.spawn(refund, second, "agent-b-0001")], timeout=20)
        assert sorted(outcomes) == ["over_refund", "succeeded"]
        assert [r["amount"] for r in sandbox.reversals.refunds] == [700]
        assert first.get(payment_id)["refunded_minor"] == 700
    finally:
        first.close()
        second.close()


def test_a_reason_is_kept_as_given_and_nothing_of_the_card(world):
    store, gateway, refunds, _ = world
    payment_id = approved_payment(store, gateway)
    done = refunds.refund(payment_id, "reason-0001", 100, reason="customer changed mind",
                          tenant="acme", agent="alice")
    row = refunds.table.get(done.record["id"])
    assert row["reason"] == "customer changed mind" and row["agent"] == "alice"
    assert not any(PAN in str(value) or PAN[:6] in str(value) for value in row.values())
