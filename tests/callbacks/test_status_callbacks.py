"""Status callbacks of a real IVR-only payment (no agent session) on the simulator, on each
backend: while the receiver refuses connections, then answers 503, then (after the service was
stopped and another started on the same store) 200, every event of the payment is taken exactly
once, under its own id, in seq order without a gap, signed, and no body holds the card."""
import json

import pytest

from orchestrator.callbacks.outbox import DELIVERED, PENDING, Outbox
from tests.support.callbacks import SECRET, CallbackReceiver
from tests.support.cards import CARD
from tests.support.service import ServiceOnSimulator
from tests.support.waiting import eventually

PAYMENT = {"pay_amount": "1250", "pay_currency": "EUR", "pay_reference": "INV-CB",
           "pay_flow": "card_payment", "pay_tenant": "acme"}
PAYING = [{"wait_prompt": 3}, {"press": CARD["visa"] + "#"}, {"wait_prompt": 4},
          {"press": "1230"}, {"wait_prompt": 5}, {"press": "737"}]


@pytest.fixture(params=["sqlite", "postgresql"])
def store_settings(request, tmp_path):
    if request.param == "sqlite":
        return {"path": str(tmp_path / "shared.sqlite")}
    return {"url": request.getfixturevalue("postgres_schema").url}


@pytest.fixture
def receiver():
    receiver = CallbackReceiver()
    yield receiver
    receiver.stop()


def folder(tmp_path, name):
    path = tmp_path / name
    path.mkdir()
    return path


def config(store, url):
    return {"tenants": ["acme"], "store": store, "agent_api": {"webhooks": {"acme": {
        "url": url, "secret": SECRET, "timeout": 2, "backoff_base": 0.05, "backoff_cap": 0.5}}}}


def test_every_event_is_taken_once_across_an_outage_and_a_restart(tmp_path, store_settings,
                                                                  receiver):
    receiver.reserve()                               # refusing connections
    first = ServiceOnSimulator(folder(tmp_path, "one"), config(store_settings, receiver.url),
                               sandbox=True)
    try:
        paid = first.run_call(PAYING, PAYMENT, timeout=60)
        assert paid.outcome.result != "error", paid.outcome
        eventually(lambda: first.metric("payivr_outbox_retries_total", tenant="acme") >= 2,
                   timeout=30, what="retries while the receiver refuses connections")
        receiver.status = 503
        receiver.start()
        eventually(lambda: len(receiver.requests) >= 2, timeout=30, what="503s answered")
    finally:
        first.stop()
    outbox = Outbox(first.service.store.backend)
    stored = outbox.rows("acme")
    assert stored and {r.state for r in stored} == {PENDING}
    assert receiver.taken() == []

    receiver.status = 200
    second = ServiceOnSimulator(folder(tmp_path, "two"), config(store_settings, receiver.url))
    try:
        eventually(lambda: {r.state for r in outbox.rows("acme")} == {DELIVERED}, timeout=30,
                   what="the pending rows sent by the restarted service")
    finally:
        second.stop()

    taken = receiver.taken()
    ids = [r["event_id"] for r in taken]
    assert sorted(ids) == sorted(r.id for r in stored) and len(set(ids)) == len(ids)
    by_id = {r.id: r.body for r in stored}
    assert all(r["body"] == by_id[r["event_id"]] for r in receiver.requests)   # same bytes
    bodies = sorted(receiver.taken_bodies(), key=lambda b: b["seq"])
    assert [b["seq"] for b in bodies] == list(range(1, len(bodies) + 1))
    types = [b["type"] for b in bodies]
    assert types[0] == "payment.field.started" and types[-1] == "payment.result"
    assert {"payment.field.accepted", "payment.card.complete", "payment.authorizing"} <= set(types)
    result = bodies[-1]["data"]
    assert (result["status"], result["card"], result["reconciled"]) == (
        "approved", "411111******1111", False)
    assert result["auth_code"] == first.sandbox.charges[0]["auth_code"]
    assert {b["session_id"] for b in bodies} == {None}          # IVR-only: no agent session
    assert receiver.unsigned() == [] and receiver.canary_traces() == []
    assert first.metric("payivr_outbox_delivered_total", tenant="acme") == 0
    assert second.metric("payivr_outbox_delivered_total", tenant="acme") == len(bodies)
