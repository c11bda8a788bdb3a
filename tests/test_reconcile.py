"""Reconciliation asks the gateway under the payment's own key and writes the answer down."""
import time

from orchestrator.payments.card import CardData
from orchestrator.payments.gateways import build_gateway
from orchestrator.payments.sandbox import SandboxGateway
from orchestrator.reconcile import reconcile
from orchestrator.store import PaymentStore


def summary():
    card = CardData()
    card.set_number("4111111111111111")
    return card.summary


def test_unknown_and_pending_payments_are_settled_from_the_gateway():
    with SandboxGateway() as sandbox:
        gateway = build_gateway("sandbox", {"name": "sandbox", "type": "sandbox", "url": sandbox.url})
        store = PaymentStore()
        card = CardData()
        card.set_number("4111111111111111")
        card.set_expiry("1230")
        charged = gateway.authorize(1250, "EUR", "INV-1", card, "call-1:1")
        assert charged.status == "approved"
        approved_id = store.begin(amount_minor=1250, currency="EUR", gateway="sandbox",
                                  idempotency_key="call-1:1", summary=summary())
        store.finish(approved_id, "unknown", needs_reconciliation=True, error_kind="timeout")
        never_sent = store.begin(amount_minor=990, currency="EUR", gateway="sandbox",
                                 idempotency_key="call-2:1", summary=summary())
        settled = dict(reconcile(store, {"sandbox": gateway}, older_than=0, now=time.time() + 1))
        assert settled == {approved_id: "approved", never_sent: "error"}
        row = store.get(approved_id)
        assert row["auth_code"] == charged.auth_code and not row["needs_reconciliation"]
        assert store.get(never_sent)["error_kind"] == "never-reached-gateway"
        assert len(sandbox.charges) == 1  # reconciling never charges


def test_recent_payments_are_left_alone():
    store = PaymentStore()
    store.begin(amount_minor=1250, currency="EUR", gateway="sandbox", idempotency_key="call-3:1",
                summary=summary())
    assert reconcile(store, {}, older_than=60) == []
