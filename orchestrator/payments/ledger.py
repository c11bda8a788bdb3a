"""The payment ledger: what the payment record says at each moment of an authorization.

One mapping from what a gateway said to what is written down, for the ``authorize`` step and
for ``orchestrator reconcile`` alike:

    begun = ledger.begin(..., key_for=gateway.idempotency_key)   # pending, before the call
    ledger.finish(begun.payment_id, result)     # the gateway's answer to the authorization
    ledger.settle(payment_id, answer, expected) # later: what status(key) or cancel(key) says

``begin`` comes first so that a crash or a dropped connection before the answer leaves a
``pending`` record, and it allocates the attempt the idempotency key is built from (a new
UUID and the store's next payment number): a key names one attempt, never reused by another
flow run, a restart or a second payment on the same call.

Only a definite answer closes a payment: approved, declined, a failure that certainly never
charged (``outcome_unknown`` False), or a cancel the gateway confirmed. Anything else keeps it
``unknown`` and flagged for reconciliation with a note that says why, a "not found" from a
status query included (a status endpoint may lag behind the charges). A decision found later
is taken only when it is for the payment's amount, currency and card. A ledger without a store
(a flow run with no payment record) records nothing.
"""
import secrets
import uuid
from dataclasses import dataclass
from typing import Callable, Mapping, Optional, Sequence, Union

from .card import CardSummary
from .gateways.attempts import PaymentAttempt
from .gateways.matching import ExpectedPayment, mismatch
from .gateways.results import Approved, Cancelled, Declined, GatewayError, GatewayResult
from .money import Money
from ..store import PaymentStore

# What a closed key is written down as (status "error": not charged): the gateway cancelled a
# key it had no charge under, or reversed the charge it had.
CANCELLED, REVERSED = "cancelled", "reversed"
NO_RECORD = ("the gateway has no record of the key yet: not taken as not charged (a status "
             "endpoint may lag behind the charges)")

Answer = Union[GatewayResult, Cancelled, None]
# the statuses reconciliation may still write over: every other one is the payment's outcome
UNSETTLED = ("pending", "unknown")


@dataclass(frozen=True)
class Begun:
    payment_id: str        # "" without a store
    idempotency_key: str


class PaymentLedger:
    def __init__(self, store: Optional[PaymentStore]) -> None:
        self.store = store

    def begin(self, *, money: Money, gateway: str, key_for: Callable[[PaymentAttempt], str],
              summary: CardSummary, call_uuid: str = "", tenant: str = "default",
              flow: str = "", reference: str = "",
              details: Optional[Mapping[str, str]] = None) -> Begun:
        """Allocate the attempt, build its key with ``key_for`` (the gateway's
        ``idempotency_key``) and record the payment as pending under it."""
        payment_id = str(uuid.uuid4())
        if self.store is None:
            # no record, no counter: a random number stands in (nothing is kept to clash with)
            attempt = PaymentAttempt(payment_id, secrets.randbelow(2 ** 40) + 1,
                                     "%04d" % secrets.randbelow(10000))
            return Begun("", key_for(attempt))
        attempt = PaymentAttempt(payment_id, self.store.next_number(), self.store.tag)
        key = key_for(attempt)
        self.store.begin(amount_minor=money.minor, currency=money.currency, gateway=gateway,
                         idempotency_key=key, summary=summary, payment_id=payment_id,
                         number=attempt.number, call_uuid=call_uuid, tenant=tenant, flow=flow,
                         reference=reference, details=details)
        return Begun(payment_id, key)

    def finish(self, payment_id: str, result: GatewayResult, reconciled: bool = False) -> str:
        """Write the gateway's answer; returns the status written: approved, declined, error
        (certainly not charged) or unknown (may have been charged: flagged, with a note).
        ``reconciled``: the answer is what reconciliation found (the status callback says so)."""
        status = self._outcome(payment_id, result, reconciled)
        assert status is not None    # an unconditional write is always written
        return status

    def _outcome(self, payment_id: str, result: GatewayResult, reconciled: bool,
                 from_status: Optional[Sequence[str]] = None) -> Optional[str]:
        if isinstance(result, Approved):
            return self._write(payment_id, "approved", reconciled=reconciled,
                               from_status=from_status, auth_code=result.auth_code,
                               transaction_id=result.transaction_id)
        if isinstance(result, Declined):
            return self._write(payment_id, "declined", reconciled=reconciled,
                               from_status=from_status, decline_code=result.reason_code,
                               decline_reason=result.reason_text,
                               gateway_code=result.gateway_code)
        if result.outcome_unknown:
            return self._write(payment_id, "unknown", needs_reconciliation=True,
                               note="%s: %s" % (result.kind, result.detail or "no detail"),
                               reconciled=reconciled, from_status=from_status,
                               error_kind=result.kind)
        return self._write(payment_id, "error", reconciled=reconciled, from_status=from_status,
                           error_kind=result.kind)

    def interrupted(self, payment_id: str) -> str:
        """The service is stopping (SIGTERM past its grace) while the gateway is being asked:
        the payment is unknown and flagged, never left pending without a word."""
        return self.finish(payment_id, GatewayError(
            "interrupted", True, "the service stopped before the gateway answered"))

    def settle(self, payment_id: str, answer: Answer, expected: ExpectedPayment) -> Optional[str]:
        """Write what reconciliation learnt about a pending or unknown payment; returns the
        status written, or None when it is not settled (it stays flagged, the note says why).

        ``answer``: Approved or Declined found by key (taken only if it is for ``expected``),
        Cancelled (the gateway closed the key: not charged), None (no record: not settled),
        or a GatewayError (the gateway cannot say).

        Only a payment still ``UNSETTLED`` is written (a conditional write): two
        reconciliations of one payment at once (a survivor's takeover and its retry, or
        ``orchestrator reconcile`` beside it) settle it once, its ``payment.result`` told
        once, and one that finds it settled flags nothing. The one that lost the race gets
        None and finds the payment settled when it reads it again."""
        if isinstance(answer, Cancelled):
            return self._write(payment_id, "error", reconciled=True, from_status=UNSETTLED,
                               error_kind=REVERSED if answer.reversed else CANCELLED)
        if isinstance(answer, (Approved, Declined)):
            wrong = mismatch(answer, expected)
            if wrong is None:
                return self._outcome(payment_id, answer, True, from_status=UNSETTLED)
            self._flag(payment_id, wrong)
            return None
        self._flag(payment_id, NO_RECORD if answer is None
                   else "%s: %s" % (answer.kind, answer.detail or "no detail"))
        return None

    def _flag(self, payment_id: str, note: str) -> None:
        if self.store is not None:
            self.store.flag(payment_id, note, from_status=UNSETTLED)

    def _write(self, payment_id: str, status: str, needs_reconciliation: bool = False,
               note: Optional[str] = None, reconciled: bool = False,
               from_status: Optional[Sequence[str]] = None, **outcome: str) -> Optional[str]:
        """The status written; None when ``from_status`` was given and the payment was in
        none of them (nothing written)."""
        if self.store is not None and not self.store.finish(
                payment_id, status, needs_reconciliation=needs_reconciliation, note=note,
                reconciled=reconciled, from_status=from_status, **outcome):
            return None
        return status
