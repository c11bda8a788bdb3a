"""``orchestrator reconcile``: settle payments whose outcome was never confirmed.

A payment is left ``pending`` when the service stopped between recording it and hearing from
the gateway, and ``unknown`` when the gateway could not confirm it in time. Neither is ever
re-sent under a new key; this asks the gateway what it recorded under the payment's own
idempotency key and writes the answer down. A payment the gateway never saw was not charged.
"""
import logging
import time

log = logging.getLogger(__name__)


def reconcile(store, gateways, older_than=60.0, now=None):
    """Ask each gateway about its unsettled payments; return (payment id, new status) pairs."""
    now = time.time() if now is None else now
    settled = []
    unsettled = store.list(status="pending") + store.list(status="unknown")
    for row in unsettled:
        if now - row["updated"] < older_than:
            continue  # may still be in flight
        gateway = gateways.get(row["gateway"])
        if gateway is None:
            log.warning("payment %s: gateway %s is no longer configured", row["id"], row["gateway"])
            continue
        answer = gateway.status(row["idempotency_key"])
        status = _settle(store, row, answer)
        if status:
            settled.append((row["id"], status))
            log.info("payment %s reconciled: %s", row["id"], status)
    return settled


def _settle(store, row, answer):
    if answer is None:
        store.finish(row["id"], "error", error_kind="never-reached-gateway")
        return "error"
    if answer.status == "approved":
        store.finish(row["id"], "approved", auth_code=answer.auth_code,
                     transaction_id=answer.transaction_id)
        return "approved"
    if answer.status == "declined":
        store.finish(row["id"], "declined", decline_code=answer.reason_code,
                     decline_reason=answer.reason_text)
        return "declined"
    return None  # the gateway still cannot say: leave it flagged for the next run
