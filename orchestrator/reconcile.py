"""``orchestrator reconcile``: settle payments whose outcome was never confirmed.

A payment is left ``pending`` when the service stopped between recording it and hearing from
the gateway, and ``unknown`` when the gateway could not confirm it in time. Neither is ever
re-sent under a new key. For each, older than ``older_than`` seconds (younger ones may still be
in flight), this asks the gateway what it recorded under the payment's own idempotency key:

- a decision (approved, declined) is written down only when the gateway says it was for the
  payment's amount, currency and card; one that does not match, or does not say, leaves the
  payment flagged with a note saying so;
- "no record" is not taken as "not charged" (a status endpoint may lag behind the charges, a
  load balancer's 502 may hide an acquirer that charged). Once the payment is older than
  ``cancel_after``, the gateway is asked to cancel the key (``Gateway.cancel``): its definite
  answer (nothing charged and the key closed, or the charge reversed) settles the payment as
  not charged. A gateway that cannot cancel by key leaves the payment flagged for a person.

Every payment still unsettled keeps ``needs_reconciliation`` and a ``reconcile_note``.

Two reconciliations may look at one payment at once (a survivor's takeover and its retry,
``orchestrator reconcile`` run beside the service): the ledger writes only a payment still
pending or unknown, so one of them settles it (and its ``payment.result`` is stored once);
the other reports it ``mine=False``, settled by someone else, and counts nothing.

A payment link's payment (``store/links.py``, flagged by its webhook: another amount, paid
after it expired) is not a gateway's key to ask about or cancel: it is left flagged, its note
as the webhook wrote it, for a person to settle against the gateway's own records. A link
past its expiry that no webhook settled is declined (``link_expired``: its ``payment.result``
tells the CRM), by ``expire_links`` (``orchestrator reconcile`` runs it first; the running
service's sweep, ``links/expiry.py``, does the same every ``link_expiry.interval`` seconds).
"""
import logging
import time
from dataclasses import dataclass
from typing import Collection, List, Mapping, Optional

from orchestrator.payments.gateways import Gateway, GatewayError
from orchestrator.payments.gateways.matching import ExpectedPayment
from orchestrator.payments.ledger import UNSETTLED, Answer, PaymentLedger
from orchestrator.store import PaymentRow, PaymentStore
from orchestrator.store.links import LINK_KEY_PREFIX

log = logging.getLogger(__name__)

# A key no one has heard of for this long is asked to be cancelled: longer than any status
# endpoint lags, short enough that a caller's unconfirmed payment is settled the same day.
CANCEL_AFTER = 900.0


@dataclass(frozen=True)
class Reconciled:
    payment_id: str
    status: Optional[str]   # the status it is settled with, or None: still flagged
    note: str = ""          # why it is still flagged
    # False: another reconciliation settled it meanwhile (this one wrote nothing, and must not
    # count it as settled a second time)
    mine: bool = True


def expire_links(store: PaymentStore, now: Optional[float] = None) -> List[Reconciled]:
    """Decline the payment links that expired unpaid (``links/settle.py``)."""
    from orchestrator.links.settle import expire_due
    from orchestrator.store.links import PaymentLinks
    declined = expire_due(PaymentLinks(store), now)
    for payment_id in declined:
        log.info("payment %s: its link expired unpaid: declined", payment_id)
    return [Reconciled(payment_id, "declined") for payment_id in declined]


def reconcile(store: PaymentStore, gateways: Mapping[str, Gateway], older_than: float = 60.0,
              cancel_after: float = CANCEL_AFTER, now: Optional[float] = None,
              calls: Optional[Collection[str]] = None) -> List[Reconciled]:
    """Ask each gateway about its unsettled payments; one Reconciled per payment looked at
    (only the payments of ``calls``, by call uuid, when given: a dead instance's)."""
    now = time.time() if now is None else now
    ledger = PaymentLedger(store)
    done = []
    seen = set()
    for row in store.list(status="pending") + store.list(status="unknown"):
        if row["id"] in seen:
            continue  # flagged (pending to unknown) by another between the two reads
        seen.add(row["id"])
        if now - row["updated"] < older_than:
            continue  # may still be in flight
        if calls is not None and row["call_uuid"] not in calls:
            continue
        if row["idempotency_key"].startswith(LINK_KEY_PREFIX):
            done.append(Reconciled(row["id"], None, row["reconcile_note"] or ""))
            continue
        gateway = gateways.get(row["gateway"])
        if gateway is None:
            note = "gateway %s is no longer configured" % row["gateway"]
            store.flag(row["id"], note, from_status=UNSETTLED)
            log.warning("payment %s: %s", row["id"], note)
            done.append(Reconciled(row["id"], None, note))
            continue
        done.append(_one(ledger, gateway, row, now - row["created"] >= cancel_after))
    return done


def _one(ledger: PaymentLedger, gateway: Gateway, row: PaymentRow, may_cancel: bool) -> Reconciled:
    key = row["idempotency_key"]
    expected = ExpectedPayment.of_record(row["amount_minor"], row["currency"], row["brand"],
                                         row["card"])
    found = gateway.status(key)
    answer: Answer = found
    # cancel only a key the gateway cannot speak for: a decision (even one that does not
    # match) or a payment it is still working on is not cancelled from here
    undecided = found is None or (isinstance(found, GatewayError) and found.kind != "pending")
    if undecided and may_cancel and gateway.supports_cancel:
        log.info("payment %s: the gateway cannot say (%s); asking it to cancel the key",
                 row["id"], found.kind if isinstance(found, GatewayError) else "no record")
        answer = gateway.cancel(key)
    status = ledger.settle(row["id"], answer, expected)
    if status is not None:
        log.info("payment %s reconciled: %s", row["id"], status)
        return Reconciled(row["id"], status)
    store = ledger.store
    assert store is not None   # reconcile builds its ledger on a store
    flagged = store.get(row["id"])
    if flagged is not None and flagged["status"] not in UNSETTLED:
        # another reconciliation (a takeover's retry, ``orchestrator reconcile``) settled it
        # between this one's read and its write: the ledger's conditional write wrote nothing
        log.info("payment %s was settled meanwhile by another reconciliation: %s",
                 row["id"], flagged["status"])
        return Reconciled(row["id"], flagged["status"], mine=False)
    note = (flagged["reconcile_note"] if flagged else None) or ""
    if undecided and not gateway.supports_cancel:
        note += "; %s cannot cancel by key: settle it from the gateway's own records" % (
            gateway.type_name)
        store.flag(row["id"], note, from_status=UNSETTLED)
    log.warning("payment %s still unsettled: %s", row["id"], note)
    return Reconciled(row["id"], None, note)
