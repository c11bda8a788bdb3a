"""``orchestrator reconcile``: settle payments whose outcome was never confirmed.

A payment is left ``pending`` when the service stopped between recording it and hearing from
the gateway, and ``unknown`` when the gateway could not confirm it in time. Neither is ever
re-sent under a new key; this asks the gateway what it recorded under the payment's own
idempotency key and writes the answer down (``PaymentLedger.settle``). A payment the gateway
never saw was not charged.
"""
import logging
import time
from typing import List, Mapping, Optional, Tuple

from orchestrator.payments.gateways import Gateway
from orchestrator.payments.ledger import PaymentLedger
from orchestrator.store import PaymentStore

log = logging.getLogger(__name__)


def reconcile(store: PaymentStore, gateways: Mapping[str, Gateway], older_than: float = 60.0,
              now: Optional[float] = None) -> List[Tuple[str, str]]:
    """Ask each gateway about its unsettled payments; return (payment id, new status) pairs."""
    now = time.time() if now is None else now
    ledger = PaymentLedger(store)
    settled = []
    unsettled = store.list(status="pending") + store.list(status="unknown")
    for row in unsettled:
        if now - row["updated"] < older_than:
            continue  # may still be in flight
        gateway = gateways.get(row["gateway"])
        if gateway is None:
            log.warning("payment %s: gateway %s is no longer configured", row["id"], row["gateway"])
            continue
        status = ledger.settle(row["id"], gateway.status(row["idempotency_key"]))
        if status:  # None: the gateway still cannot say; it stays flagged for the next run
            settled.append((row["id"], status))
            log.info("payment %s reconciled: %s", row["id"], status)
    return settled
