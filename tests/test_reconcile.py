"""Reconciliation asks the gateway under the payment's own key, takes a decision only when it is
for the payment's amount, currency and card, never takes "no record" as "not charged", and
closes a key the gateway cannot speak for only by a cancel the gateway confirms."""
import json
import time

import gevent
import pytest
import yaml
from gevent.event import Event

from orchestrator.cli import build_parser, main
from orchestrator.payments.gateways import build_gateway
from orchestrator.payments.gateways.redsys import RedsysGateway
from orchestrator.payments.ledger import NO_RECORD, PaymentLedger
from orchestrator.payments.money import Money
from orchestrator.payments.sandbox import SandboxGateway
from orchestrator.payments.sandbox_cards import card_for
from orchestrator.reconcile import CANCEL_AFTER, expire_links, reconcile
from orchestrator.store import PaymentStore
from orchestrator.store.links import PaymentLinks, new_token
from tests.support.cards import make_card


@pytest.fixture
def sandbox():
    with SandboxGateway(lag_seconds=30.0) as server:
        yield server


def connector(sandbox):
    return build_gateway("sandbox", {"type": "sandbox", "url": sandbox.url, "read_timeout": 0.5,
                                     "max_attempts": 1, "status_attempts": 1})


def record(store, gateway, number, amount=1250, charge=True, status="unknown"):
    """A payment recorded as the authorize step records it; ``charge``: the request reached the
    gateway (the card keyed is ``number``), else the process died before sending it."""
    card = make_card(number)
    begun = PaymentLedger(store).begin(money=Money(amount, "EUR"), gateway="sandbox",
                                       key_for=gateway.idempotency_key, summary=card.summary)
    if charge:
        gateway.authorize(amount, "EUR", "INV-1", card, begun.idempotency_key)
    if status == "unknown":
        store.finish(begun.payment_id, "unknown", needs_reconciliation=True, error_kind="timeout")
    return begun


def later(seconds=1):
    return time.time() + seconds


def test_a_charge_found_by_key_for_this_payment_is_written_down(sandbox):
    gateway, store = connector(sandbox), PaymentStore()
    charged = record(store, gateway, card_for("charge-then-hang"))
    [done] = reconcile(store, {"sandbox": gateway}, older_than=0, now=later())
    assert (done.payment_id, done.status) == (charged.payment_id, "approved")
    row = store.get(charged.payment_id)
    [charge] = sandbox.charges_for(charged.idempotency_key)
    assert row["auth_code"] == charge["auth_code"] and not row["needs_reconciliation"]


def test_no_record_is_not_taken_as_not_charged(sandbox):
    gateway, store = connector(sandbox), PaymentStore()
    never_sent = record(store, gateway, card_for("approve"), charge=False, status="pending")
    [done] = reconcile(store, {"sandbox": gateway}, older_than=0, now=later())
    assert done.status is None and done.note == NO_RECORD
    row = store.get(never_sent.payment_id)
    assert row["status"] == "unknown" and row["needs_reconciliation"]


def test_past_cancel_after_the_gateway_is_asked_to_cancel_and_its_answer_settles_it(sandbox):
    gateway, store = connector(sandbox), PaymentStore()
    never_sent = record(store, gateway, card_for("approve"), charge=False, status="pending")
    failed = record(store, gateway, card_for("http-500"))
    lagging = record(store, gateway, card_for("charge-then-502-lagging-status"))
    settled = {d.payment_id: d.status for d in
               reconcile(store, {"sandbox": gateway}, older_than=0, cancel_after=0, now=later())}
    assert settled == {never_sent.payment_id: "error", failed.payment_id: "error",
                       lagging.payment_id: "error"}
    kinds = {pid: store.get(pid)["error_kind"] for pid in settled}
    assert kinds == {never_sent.payment_id: "cancelled", failed.payment_id: "cancelled",
                     lagging.payment_id: "reversed"}
    # the lagging endpoint hid a charge: the cancel reversed it, so nothing stands
    assert [c["reversed"] for c in sandbox.charges_for(lagging.idempotency_key)] == [True]
    assert all(c["reversed"] for c in sandbox.charges)
    assert store.list(needs_reconciliation=True) == []


def test_a_decision_for_another_amount_stays_flagged_and_is_not_cancelled(sandbox):
    """The store lost between two payments on one call: the gateway holds the key for the
    first one's 12.50; the second payment (9.90) must not take its authorization code."""
    gateway, store = connector(sandbox), PaymentStore()
    first = make_card()
    gateway.authorize(1250, "EUR", "INV-1", first, "reused-key-0001")
    second = store.begin(amount_minor=990, currency="EUR", gateway="sandbox",
                         idempotency_key="reused-key-0001", summary=make_card().summary)
    store.finish(second, "unknown", needs_reconciliation=True, error_kind="conflict")
    [done] = reconcile(store, {"sandbox": gateway}, older_than=0, cancel_after=0, now=later())
    assert done.status is None
    assert "is for 12.50 EUR, the payment is 9.90 EUR" in done.note
    row = store.get(second)
    assert row["auth_code"] is None and row["needs_reconciliation"] and row["status"] == "unknown"
    assert row["reconcile_note"] == done.note
    assert [c["reversed"] for c in sandbox.charges] == [False]   # the first payment's charge stands


def test_a_decision_for_another_card_stays_flagged(sandbox):
    gateway, store = connector(sandbox), PaymentStore()
    gateway.authorize(1250, "EUR", "INV-1", make_card("5555555555554444"), "reused-key-0002")
    other = store.begin(amount_minor=1250, currency="EUR", gateway="sandbox",
                        idempotency_key="reused-key-0002", summary=make_card().summary)
    [done] = reconcile(store, {"sandbox": gateway}, older_than=0, now=later())
    assert done.status is None
    assert "card mastercard 555555...4444, the payment is 12.50 EUR, card visa 411111...1111" \
        in done.note
    assert store.get(other)["status"] == "unknown"


class AskedTogether:
    """A gateway whose ``status`` answers only once ``callers`` reconciliations have asked it
    (each has read the payment as unsettled by then): the race of two at once, every time.
    ``answers``: what the n-th asker is told (None: no record), else the gateway's answer;
    the n-th asker is answered only after ``done[n - 1]`` is set (0: at once)."""

    def __init__(self, gateway, callers=2, answers=None):
        self.gateway, self.callers, self.answers = gateway, callers, answers or {}
        self.asked, self.everyone = 0, Event()
        self.done = [Event() for _ in range(callers)]

    def __getattr__(self, name):
        return getattr(self.gateway, name)

    def status(self, key):
        self.asked += 1
        mine = self.asked
        if mine >= self.callers:
            self.everyone.set()
        assert self.everyone.wait(timeout=10), "the other reconciliation never asked"
        if mine > 1:
            assert self.done[mine - 2].wait(timeout=10), "the earlier asker never finished"
        return self.answers[mine] if mine in self.answers else self.gateway.status(key)


def reconciled_at_once(store, gateway):
    """Two reconciliations of the same store at once (two greenlets), in the order they asked."""
    def one(n):
        try:
            return reconcile(store, {"sandbox": gateway}, older_than=0, now=later())
        finally:
            gateway.done[n].set()
    runs = [gevent.spawn(one, n) for n in range(2)]
    gevent.joinall(runs, timeout=20, raise_error=True)
    assert all(run.ready() for run in runs)
    return [run.value for run in runs]


def test_two_reconciliations_at_once_settle_a_payment_once_and_tell_it_once(sandbox):
    store = PaymentStore()
    charged = record(store, connector(sandbox), card_for("charge-then-hang"))
    told = []
    store.outcome_hooks.append(lambda tx, row, reconciled: told.append((row["id"], row["status"])))
    both = AskedTogether(connector(sandbox))
    [[first], [second]] = reconciled_at_once(store, both)
    assert both.asked == 2                      # each had read it unsettled and asked
    assert {(first.status, first.mine), (second.status, second.mine)} == {
        ("approved", True), ("approved", False)}          # one wrote it, the other saw it written
    assert told == [(charged.payment_id, "approved")]     # one payment.result, not two
    row = store.get(charged.payment_id)
    assert (row["status"], row["needs_reconciliation"], row["reconcile_note"]) == (
        "approved", 0, None)


def test_a_reconciliation_that_finds_no_record_flags_nothing_another_one_settled(sandbox):
    store = PaymentStore()
    charged = record(store, connector(sandbox), card_for("charge-then-hang"))
    both = AskedTogether(connector(sandbox), answers={2: None})    # the second: "no record"
    [[first], [second]] = reconciled_at_once(store, both)
    assert (first.status, first.mine) == ("approved", True)
    assert (second.status, second.mine) == ("approved", False)
    row = store.get(charged.payment_id)
    assert (row["status"], row["needs_reconciliation"], row["reconcile_note"]) == (
        "approved", 0, None)                    # not flagged again after it was settled


def test_a_payment_flagged_between_the_two_reads_is_looked_at_once(sandbox):
    store = PaymentStore()
    gateway = connector(sandbox)
    charged = record(store, gateway, card_for("charge-then-hang"), status="pending")
    read = store.list

    def listed(status=None, **options):
        rows = read(status=status, **options)
        if status == "pending":      # another look flags it (pending: unknown) meanwhile
            store.flag(charged.payment_id, "no record yet")
        return rows
    store.list = listed
    asked = AskedTogether(gateway, callers=1)
    done = reconcile(store, {"sandbox": asked}, older_than=0, now=later())
    assert [(d.payment_id, d.status) for d in done] == [(charged.payment_id, "approved")]
    assert asked.asked == 1


def test_recent_payments_are_left_alone():
    store = PaymentStore()
    store.begin(amount_minor=1250, currency="EUR", gateway="sandbox", idempotency_key="call-3:1",
                summary=make_card().summary)
    assert reconcile(store, {}, older_than=60) == []


def test_a_gateway_no_longer_configured_leaves_the_payment_flagged_saying_so():
    store = PaymentStore()
    payment = store.begin(amount_minor=1250, currency="EUR", gateway="gone",
                          idempotency_key="key-gone-0001", summary=make_card().summary)
    [done] = reconcile(store, {}, older_than=0, now=later())
    assert done.status is None and done.note == "gateway gone is no longer configured"
    assert store.get(payment)["needs_reconciliation"]


def test_a_flagged_payment_link_is_left_for_a_person_its_note_kept(sandbox):
    store = PaymentStore()
    payment = PaymentLinks(store).record(token=new_token(), link="sandbox", amount_minor=1250,
                                         currency="EUR", expires=time.time() + 600)
    store.flag(payment, "a paid notice for 1 EUR, the link was for 1250 EUR")
    gateway = build_gateway("sandbox", {"type": "sandbox", "url": sandbox.url})
    [done] = reconcile(store, {"sandbox": gateway}, older_than=0, now=later() + CANCEL_AFTER)
    assert done.status is None and done.note == "a paid notice for 1 EUR, the link was for 1250 EUR"
    row = store.get(payment)
    assert (row["status"], row["needs_reconciliation"]) == ("unknown", 1)
    assert sandbox.requests == 0          # the gateway was not asked about it, nor told to cancel


def test_links_that_expired_unpaid_are_declined_once_and_the_outcome_hooks_told():
    store = PaymentStore()
    told = []
    store.outcome_hooks.append(lambda tx, row, reconciled: told.append((row["id"], row["decline_code"])))
    links = PaymentLinks(store)
    expired = links.record(token=new_token(), link="paylink", amount_minor=1250, currency="EUR",
                           expires=time.time() - 1)
    live = links.record(token=new_token(), link="paylink", amount_minor=1250, currency="EUR",
                        expires=time.time() + 600)
    assert [(d.payment_id, d.status) for d in expire_links(store)] == [(expired, "declined")]
    assert expire_links(store) == []
    assert told == [(expired, "link_expired")]
    assert store.get(live)["status"] == "link_sent"


def test_a_gateway_that_cannot_be_asked_leaves_the_payment_for_a_person():
    store = PaymentStore()
    gateway = RedsysGateway("sandbox", "999008881", "1", "sq7HjrUOBfKmC576ILgskD5srU870gJ7",
                            url="https://127.0.0.1:9/x")
    record(store, gateway, card_for("approve"), charge=False)
    [done] = reconcile(store, {"sandbox": gateway}, older_than=0, cancel_after=0, now=later())
    assert done.status is None
    assert done.note == ("unsupported: redsys cannot be queried by key; redsys cannot cancel by "
                         "key: settle it from the gateway's own records")


def test_the_command_line_reconciles_with_the_same_defaults(tmp_path, sandbox, capsys):
    defaults = build_parser().parse_args(["reconcile", "--config", "x.yaml"])
    assert (defaults.older_than, defaults.cancel_after) == (60.0, CANCEL_AFTER)
    config = tmp_path / "orchestrator.yaml"
    config.write_text(yaml.safe_dump({
        "flows": {"directory": str(tmp_path)}, "store": {"path": "payments.sqlite"},
        "gateways": [{"name": "sandbox", "type": "sandbox", "url": sandbox.url,
                      "max_attempts": 1, "status_attempts": 1}]}))
    store = PaymentStore(str(tmp_path / "payments.sqlite"))
    gateway = connector(sandbox)
    charged = record(store, gateway, card_for("charge-then-hang"))
    unseen = record(store, gateway, card_for("approve"), charge=False)
    store.close()
    assert main(["reconcile", "--config", str(config), "--older-than", "0"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert "%s approved" % charged.payment_id in out
    assert "%s still flagged: %s" % (unseen.payment_id, NO_RECORD) in out
    assert out[-1] == "1 payment(s) still unsettled"
    assert main(["reconcile", "--config", str(config), "--older-than", "0",
                 "--cancel-after", "0"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out == ["%s error" % unseen.payment_id, "0 payment(s) still unsettled"]


def test_what_the_command_line_settles_is_a_status_callback_for_the_service_to_send(tmp_path,
                                                                                  sandbox):
    from orchestrator.callbacks.outbox import PENDING, Outbox
    config = tmp_path / "orchestrator.yaml"
    config.write_text(yaml.safe_dump({
        "flows": {"directory": str(tmp_path)}, "store": {"path": "payments.sqlite"},
        "tenants": ["acme"],
        "agent_api": {"webhooks": {"acme": {"url": "http://127.0.0.1:9/callbacks",
                                            "secret": "0123456789abcdef"}}},
        "gateways": [{"name": "sandbox", "type": "sandbox", "url": sandbox.url,
                      "max_attempts": 1, "status_attempts": 1}]}))
    store = PaymentStore(str(tmp_path / "payments.sqlite"))
    gateway = connector(sandbox)
    card = make_card(card_for("charge-then-hang"))
    begun = PaymentLedger(store).begin(money=Money(1250, "EUR"), gateway="sandbox",
                                       key_for=gateway.idempotency_key, summary=card.summary,
                                       tenant="acme")
    gateway.authorize(1250, "EUR", "INV-1", card, begun.idempotency_key)
    store.finish(begun.payment_id, "unknown", needs_reconciliation=True, error_kind="timeout")
    store.close()
    assert main(["reconcile", "--config", str(config), "--older-than", "0"]) == 0
    store = PaymentStore(str(tmp_path / "payments.sqlite"))
    [row] = Outbox(store.backend).rows("acme")
    body = json.loads(row.body)
    assert row.state == PENDING and body["type"] == "payment.result"
    assert (body["data"]["status"], body["data"]["reconciled"], body["data"]["payment_id"]) == (
        "approved", True, begun.payment_id)
    store.close()


def test_the_command_line_settles_a_refund_whose_answer_was_lost(tmp_path, sandbox, capsys):
    """A refund the gateway made but whose answer timed out is ``unknown``; ``reconcile`` asks
    again under its key and writes it down, once."""
    from orchestrator.payments.refunds import Refunds
    config = tmp_path / "orchestrator.yaml"
    config.write_text(yaml.safe_dump({
        "flows": {"directory": str(tmp_path)}, "store": {"path": "payments.sqlite"},
        "gateways": [{"name": "sandbox", "type": "sandbox", "url": sandbox.url,
                      "max_attempts": 1, "status_attempts": 1, "read_timeout": 0.5}]}))
    store = PaymentStore(str(tmp_path / "payments.sqlite"))
    gateway = connector(sandbox)
    paid = record(store, gateway, card_for("approve"), status="approved")
    PaymentLedger(store).finish(paid.payment_id, gateway.status(paid.idempotency_key))
    sandbox.reversals.hang_seconds, sandbox.reversals.hang_next = 1.0, 2
    lost = Refunds(store, {"sandbox": gateway}).refund(paid.payment_id, "lost-answer-1", 300)
    assert lost.record["status"] == "unknown"
    store.close()
    assert main(["reconcile", "--config", str(config), "--older-than", "0"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[-2:] == ["refund %s succeeded" % lost.record["id"], "0 refund(s) still unknown"]
    assert [r["amount"] for r in sandbox.reversals.refunds] == [300]
    reopened = PaymentStore(str(tmp_path / "payments.sqlite"))
    assert reopened.get(paid.payment_id)["status"] == "partially_refunded"
    reopened.close()
