"""The gateway interface and the retry and reconciliation policy every connector shares.

``authorize`` builds the request body once, inside ``card.reveal()``, and every retry sends
that same body under the same idempotency key. It retries (with backoff, a bounded number of
times) only when the request certainly did not reach the gateway, or when the gateway is
idempotent on the key and answered with a server error or dropped the connection. When the
outcome is unknown (a read timeout after sending, a 5xx, the key held by a request still in
progress) it asks ``status(key)`` a bounded number of times; if that does not settle it, the
answer is ``GatewayError(kind, outcome_unknown=True)`` and the payment must be reconciled,
never re-authorized under a new key.

Only a definite word closes a payment as not charged: the request never left, the gateway
refused or declined it, or (later, in ``orchestrator reconcile``) the gateway confirmed a
cancel of the key (``cancel``). A status query's "no record of that key" is not one: behind a
load balancer that answered 502 or 504 the acquirer may still be charging, and a status
endpoint may lag behind the charges. A decision found by key is taken only when it says it was
for the payment's amount, currency and card (``matching``).

Nothing raised while the card is revealed leaves ``authorize`` with its frames
(``failures``): an unexpected exception there is answered ``GatewayError("internal", ...)``,
outcome unknown once ``_prepare`` has returned (the request may have left), and anything that
must stop the call is re-raised stripped of its traceback. The failures the retry policy keeps
as values (``OutcomeUnknown``) are stripped the same way, since their tracebacks run through
``_send`` and its request body.
"""
import logging
import re
import time
from dataclasses import replace
from typing import Any, Callable, Generic, Optional, TypeVar, Union

import gevent

from ... import backoff
from ..card import CardData, RevealedCard
from ..money import Money, MoneyError
from . import failures
from .attempts import PaymentAttempt
from .matching import ExpectedPayment, mismatch
from .reversals import Reversals
from .tokens import CardOnFile
from .results import Approved, CancelResult, Declined, GatewayError, GatewayResult
from .transport import NotReached, OutcomeUnknown

log = logging.getLogger(__name__)

IDEMPOTENCY_KEY = re.compile(r"^[A-Za-z0-9._:-]{8,64}$")
REFERENCE = re.compile(r"^[\x20-\x7e]{1,64}$")

# What a connector's ``_prepare`` builds and its ``_send`` sends: its own request type.
RequestT = TypeVar("RequestT")


class Gateway(Reversals, CardOnFile, Generic[RequestT]):
    """Subclasses implement ``_prepare``, ``_send`` and (if they can) ``_status_once`` and
    ``_cancel_once``; refunds and voids (``reversals.py``) ``_refund_once``, ``_void_once``
    and ``_refund_status_once``; card on file (``tokens.py``) ``_prepare_tokenize``,
    ``_send_tokenize`` and ``_prepare_token_charge``."""

    type_name = "gateway"
    # True when re-sending the same body under the same key can never charge twice.
    idempotent = False
    supports_status = False
    supports_cancel = False

    def __init__(self, name: str, connect_timeout: float = 3.0, read_timeout: float = 20.0,
                 max_attempts: int = 3, backoff: float = 0.5, status_attempts: int = 3,
                 status_interval: float = 1.0) -> None:
        self.name = name
        self.connect_timeout = float(connect_timeout)
        self.read_timeout = float(read_timeout)
        self.max_attempts = max(1, int(max_attempts))
        self.backoff = float(backoff)
        self.status_attempts = max(1, int(status_attempts))
        self.status_interval = float(status_interval)

    # -- the interface -------------------------------------------------------------------
    def idempotency_key(self, attempt: PaymentAttempt) -> str:
        """The key this gateway is asked under for one payment attempt (``attempts``): the
        attempt's own id, which names it and nothing else."""
        return attempt.id

    def check_key(self, idempotency_key: str) -> None:
        """ValueError when the key is not one this gateway's keys can be (checked before
        any call; ``idempotency_key`` makes only good ones)."""

    def authorize(self, amount: Union[int, str, Money], currency: Optional[str], reference: str,
                  card: CardData, idempotency_key: str, store_card: bool = False) -> GatewayResult:
        """Charge ``amount`` (minor units, or a Money) to ``card``; Approved/Declined/GatewayError.
        ``store_card``: ask the gateway to keep a token too (``Approved.card_token``).

        Raises MoneyError, ValueError or TypeError for arguments that are wrong before any
        call is made (a bug in the flow, not a gateway failure), and CardError when the card
        has no number or expiry. Past those checks every failure is an answer: an unexpected
        one is ``GatewayError("internal", ...)``.
        """
        money = _money(amount, currency)
        _check_request(reference, card, idempotency_key)
        self.check_key(idempotency_key)
        if store_card and not self.supports_store_card:
            raise ValueError("%s cannot store a card" % self.type_name)
        expected = ExpectedPayment.of(money, card.summary)
        summary = card.summary
        started = time.monotonic()
        log.info("authorize gateway=%s key=%s amount=%s card=%s%s", self.name, idempotency_key,
                 money, card, " store_card" if store_card else "")
        result = self._call(money, reference, card, idempotency_key, store_card)
        if isinstance(result, OutcomeUnknown):
            answer = self._reconcile(idempotency_key, result, expected)
        else:
            answer = _ours(result, expected, required=False)
        if isinstance(answer, Approved) and answer.card_token is not None:
            # the expiry read only now, for the record a stored card keeps (not a frame's local
            # while the gateway is asked)
            answer = replace(answer, card_token=answer.card_token.completed(
                summary, card.expiry_shown))
        log.info("authorize gateway=%s key=%s result=%s%s seconds=%.2f", self.name,
                 idempotency_key, answer.status, _result_detail(answer),
                 time.monotonic() - started)
        return answer

    def status(self, idempotency_key: str) -> Optional[GatewayResult]:
        """What the gateway recorded under this key: Approved, Declined, a GatewayError
        (``pending`` while it is still working, or the query failing, ``internal`` when our
        side of it fails), or None if it never saw the key."""
        if not self.supports_status:
            return GatewayError("unsupported", True, "%s cannot be queried by key" % self.type_name)
        try:
            return self._status_once(idempotency_key)
        except NotReached as error:
            return GatewayError(error.kind, True, "status query: " + error.detail)
        except OutcomeUnknown as error:
            return GatewayError(error.kind, True, "status query: " + error.detail)
        except Exception as error:
            failure = failures.unexpected(error, True)
        log.error("gateway=%s key=%s status query failed: %s", self.name, idempotency_key,
                  failure.detail)
        return failure

    def cancel(self, idempotency_key: str) -> CancelResult:
        """Ask the gateway to close the key for good (a technical cancel, a reversal): Cancelled
        when it confirms nothing is or will be charged under it (it had no record and now
        refuses the key, or it reversed what it had); Approved or Declined when it says the
        key was already decided and stays so; a GatewayError when it cannot say."""
        if not self.supports_cancel:
            return GatewayError("unsupported", True, "%s cannot cancel by key" % self.type_name)
        try:
            return self._cancel_once(idempotency_key)
        except NotReached as error:
            return GatewayError(error.kind, True, "cancel: " + error.detail)
        except OutcomeUnknown as error:
            return GatewayError(error.kind, True, "cancel: " + error.detail)
        except Exception as error:
            failure = failures.unexpected(error, True)
        log.error("gateway=%s key=%s cancel failed: %s", self.name, idempotency_key,
                  failure.detail)
        return failure

    def close(self) -> None:
        """Release connections; the gateway object is not used afterwards."""

    # -- for subclasses --------------------------------------------------------------------
    def _prepare(self, money: Money, reference: str, revealed: RevealedCard,
                 idempotency_key: str, store_card: bool = False) -> RequestT:
        """The request body, built from the revealed digits; it is dropped after sending.
        ``store_card``: the body asks the gateway to keep a token as well."""
        raise NotImplementedError

    def _send(self, request: RequestT) -> GatewayResult:
        """Send once: an answer, or NotReached / OutcomeUnknown."""
        raise NotImplementedError

    def _status_once(self, idempotency_key: str) -> Optional[GatewayResult]:
        """Ask once what was recorded under the key; None if the gateway never saw it."""
        raise NotImplementedError

    def _cancel_once(self, idempotency_key: str) -> CancelResult:
        """Ask once to close the key for good (see ``cancel``)."""
        raise NotImplementedError

    # -- the policy ------------------------------------------------------------------------
    def _call(self, money: Money, reference: str, card: CardData, idempotency_key: str,
              store_card: bool = False) -> Union[GatewayResult, OutcomeUnknown]:
        """Build the body inside ``card.reveal()`` and send it (``_with_revealed``)."""
        extra = {"store_card": True} if store_card else {}
        return self._with_revealed(
            card, idempotency_key,
            lambda revealed: self._prepare(money, reference, revealed, idempotency_key, **extra),
            self._send)

    def _with_revealed(self, card: CardData, idempotency_key: str,
                       prepare: Callable[[RevealedCard], Any],
                       send: Callable[[Any], Any]) -> Any:
        """``prepare`` the body inside ``card.reveal()`` and ``send`` it with the retries; what
        goes wrong in there comes out as an answer, or re-raised without a frame that saw the
        digits (``failures``)."""
        outcome: Any = None
        failure: Optional[GatewayError] = None
        escaping: Optional[BaseException] = None
        may_have_left = False
        with card.reveal() as revealed:
            request: Any = None
            try:
                request = prepare(revealed)
                may_have_left = True
                outcome = self._send_with_retries(request, send)
            except Exception as error:
                failure = failures.unexpected(error, outcome_unknown=may_have_left)
            except BaseException as error:   # the call is being stopped: let that go on
                escaping = failures.stripped(error)
            finally:
                request = None
        del revealed
        # from here on no exception is being handled: raising chains nothing back on
        if escaping is not None:
            raise escaping
        if failure is not None:
            log.error("gateway=%s key=%s failed inside the call: %s", self.name,
                      idempotency_key, failure.detail)
            return failure
        assert outcome is not None   # the try ran to its end
        return outcome

    def _send_with_retries(self, request: Any,
                           send: Optional[Callable[[Any], Any]] = None) -> Any:
        """``send`` (``_send`` by default) once, then again by the policy; the answer, or the
        OutcomeUnknown that ended it."""
        send = send or self._send
        outcome: Any = None
        for attempt in range(1, self.max_attempts + 1):
            try:
                return send(request)
            except NotReached as error:
                outcome = GatewayError(error.kind, False, error.detail)
                if not error.retryable:
                    return outcome
            except OutcomeUnknown as error:
                # kept as a value past this block: without the traceback through _send
                outcome = failures.stripped(error)
                if not (self.idempotent and error.resend_if_idempotent):
                    return outcome
            if attempt < self.max_attempts:
                delay = backoff.exponential(attempt, self.backoff)
                log.warning("gateway=%s attempt=%d failed kind=%s; retrying in %.2fs",
                            self.name, attempt, _kind(outcome), delay)
                gevent.sleep(delay)
        assert outcome is not None   # max_attempts >= 1, and every failed attempt sets it
        return outcome

    def _reconcile(self, idempotency_key: str, unknown: OutcomeUnknown,
                   expected: ExpectedPayment) -> GatewayResult:
        """Ask the gateway what happened under this key, a bounded number of times. A decision
        is taken only when it is for this payment (``matching``); "no record" is not one."""
        if not self.supports_status:
            return GatewayError(unknown.kind, True, unknown.detail)
        never_seen = False
        for attempt in range(1, self.status_attempts + 1):
            found = self.status(idempotency_key)
            if isinstance(found, (Approved, Declined)):
                wrong = mismatch(found, expected)
                if wrong is not None:
                    log.error("gateway=%s key=%s status answer not taken: %s", self.name,
                              idempotency_key, wrong)
                    return GatewayError("mismatch", True, unknown.detail + "; " + wrong)
                log.info("gateway=%s key=%s reconciled after %s: %s", self.name,
                         idempotency_key, unknown.kind, found.status)
                return found
            never_seen = found is None
            if attempt < self.status_attempts:
                gevent.sleep(self.status_interval)
        return GatewayError(unknown.kind, True, unknown.detail + (
            "; status: no record of the key yet" if never_seen else ""))


def _ours(result: GatewayResult, expected: ExpectedPayment, required: bool) -> GatewayResult:
    """``result``, or the mismatch it is when it says it was for another payment."""
    if isinstance(result, (Approved, Declined)):
        wrong = mismatch(result, expected, required)
        if wrong is not None:
            log.error("gateway answer not taken: %s", wrong)
            return GatewayError("mismatch", True, wrong)
    return result


def _money(amount: Union[int, str, Money], currency: Optional[str]) -> Money:
    if isinstance(amount, Money):
        if currency is not None and str(currency).upper() != amount.currency:
            raise MoneyError("currency %r does not match the amount's %s" % (currency, amount.currency))
        return amount
    return Money.parse(amount, currency)


def _check_request(reference: object, card: object, idempotency_key: object) -> None:
    if not isinstance(card, CardData):
        raise TypeError("card must be CardData")
    if not isinstance(idempotency_key, str) or not IDEMPOTENCY_KEY.match(idempotency_key):
        raise ValueError("idempotency key must be 8 to 64 letters, digits or ._:-")
    if not isinstance(reference, str) or not REFERENCE.match(reference):
        raise ValueError("reference must be 1 to 64 printable ASCII characters")


def _kind(outcome: object) -> str:
    return str(getattr(outcome, "kind", "?"))


def _result_detail(result: GatewayResult) -> str:
    if isinstance(result, Approved):
        return " auth_code=%s transaction=%s" % (result.auth_code, result.transaction_id)
    if isinstance(result, Declined):
        return " reason=%s" % result.reason_code
    return " kind=%s outcome_unknown=%s detail=%r" % (result.kind, result.outcome_unknown,
                                                      result.detail)
