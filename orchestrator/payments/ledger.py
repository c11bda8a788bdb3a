"""The payment ledger: what the payment record says at each moment of an authorization.

One mapping from what a gateway said to what is written down, for the ``authorize`` step and
for ``orchestrator reconcile`` alike:

    payment_id = ledger.begin(...)           # pending, before the gateway is called
    ledger.finish(payment_id, result)        # the gateway's answer to the authorization
    ledger.settle(payment_id, answer)        # later: what status(key) says about it

``begin`` comes first so that a crash or a dropped connection before the answer leaves a
``pending`` record. An answer that does not say whether the card was charged is kept
``unknown`` and flagged for reconciliation; it is never turned into a retry under a new key.
A ledger without a store (a flow run with no payment record) records nothing.
"""
from typing import Optional

from .card import CardSummary
from .gateways.results import Approved, Declined, GatewayResult
from .money import Money
from ..store import PaymentStore

# What reconciliation writes for a payment whose key the gateway never saw: nothing charged.
NEVER_REACHED_GATEWAY = "never-reached-gateway"


class PaymentLedger:
    def __init__(self, store: Optional[PaymentStore]) -> None:
        self.store = store

    def begin(self, *, money: Money, gateway: str, idempotency_key: str, summary: CardSummary,
              call_uuid: str = "", tenant: str = "default", flow: str = "",
              reference: str = "") -> str:
        """Record a payment about to be sent to ``gateway`` as pending; its id ("" without a store)."""
        if self.store is None:
            return ""
        return self.store.begin(amount_minor=money.minor, currency=money.currency,
                                gateway=gateway, idempotency_key=idempotency_key,
                                summary=summary, call_uuid=call_uuid, tenant=tenant, flow=flow,
                                reference=reference)

    def finish(self, payment_id: str, result: GatewayResult) -> str:
        """Write the gateway's answer; returns the status written: approved, declined, error
        (certainly not charged) or unknown (may have been charged: flagged for reconciliation)."""
        if isinstance(result, Approved):
            return self._write(payment_id, "approved", auth_code=result.auth_code,
                               transaction_id=result.transaction_id)
        if isinstance(result, Declined):
            return self._write(payment_id, "declined", decline_code=result.reason_code,
                               decline_reason=result.reason_text,
                               gateway_code=result.gateway_code)
        status = "unknown" if result.outcome_unknown else "error"
        return self._write(payment_id, status, needs_reconciliation=result.outcome_unknown,
                           error_kind=result.kind)

    def settle(self, payment_id: str, answer: Optional[GatewayResult]) -> Optional[str]:
        """Write what ``status(key)`` says about a pending or unknown payment; returns the
        status written, or None when the gateway still cannot say (the record stays flagged).
        ``answer`` None: the gateway never saw the key, so nothing was charged."""
        if answer is None:
            return self._write(payment_id, "error", error_kind=NEVER_REACHED_GATEWAY)
        if isinstance(answer, (Approved, Declined)):
            return self.finish(payment_id, answer)
        return None

    def _write(self, payment_id: str, status: str, needs_reconciliation: bool = False,
               **outcome: str) -> str:
        if self.store is not None:
            self.store.finish(payment_id, status, needs_reconciliation=needs_reconciliation,
                              **outcome)
        return status
