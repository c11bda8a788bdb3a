"""Refunds and voids: the retry and "unknown outcome" policy every connector shares.

The same rules as an authorization's (``base.py``), because a refund moves money too: each
request carries a refund key of its own, allocated and recorded before the call, and every
retry sends the same body under that key. It is re-sent only when it certainly did not reach
the gateway, or when the gateway is idempotent on the key and failed in a way that says so.
An answer that never came is asked for by key (``refund_status``), a bounded number of times;
if that does not settle it the answer is ``GatewayError(kind, outcome_unknown=True)``: the
refund is recorded ``unknown`` and reconciled later, never sent again under a new key (that
could refund twice).
"""
import logging
from typing import Any, Callable, Optional

import gevent

from ... import backoff
from ..money import Money
from . import failures
from .refund_results import RefundRefused, RefundResult, RefundTarget, Refunded, Voided
from .results import GatewayError
from .transport import NotReached, OutcomeUnknown

log = logging.getLogger(__name__)


class Reversals:
    """Mixed into ``Gateway``; a connector sets ``supports_refund`` / ``supports_void`` /
    ``supports_refund_status`` and implements ``_refund_once``, ``_void_once`` and
    ``_refund_status_once``."""

    name: str
    idempotent: bool
    max_attempts: int
    backoff: float
    status_attempts: int
    status_interval: float
    supports_refund = False
    supports_void = False
    supports_refund_status = False

    def refund(self, target: RefundTarget, money: Money, refund_key: str) -> RefundResult:
        """Give back ``money`` (at most what is left: the caller checks, the gateway too) of
        the payment ``target``, under ``refund_key``."""
        if not self.supports_refund:
            return RefundRefused("unsupported")
        log.info("refund gateway=%s payment_key=%s key=%s amount=%s", self.name,
                 target.payment_key, refund_key, money)
        return self._reverse("refund", refund_key,
                             lambda: self._refund_once(target, money, refund_key))

    def void(self, target: RefundTarget, refund_key: str) -> RefundResult:
        """Release the authorization of ``target`` before it settles, under ``refund_key``."""
        if not self.supports_void:
            return RefundRefused("unsupported")
        log.info("void gateway=%s payment_key=%s key=%s", self.name, target.payment_key,
                 refund_key)
        return self._reverse("void", refund_key, lambda: self._void_once(target, refund_key))

    def refund_status(self, refund_key: str) -> Optional[RefundResult]:
        """What the gateway recorded under a refund key: its answer, None when it has no
        record, a GatewayError (outcome unknown) when it cannot say."""
        if not self.supports_refund_status:
            return GatewayError("unsupported", True, "the gateway cannot be asked about a refund")
        try:
            return self._refund_status_once(refund_key)
        except (NotReached, OutcomeUnknown) as error:
            return GatewayError(error.kind, True, "refund status: " + error.detail)
        except Exception as error:
            failure = failures.unexpected(error, True)
        log.error("gateway=%s refund key=%s status failed: %s", self.name, refund_key,
                  failure.detail)
        return failure

    # -- for connectors ----------------------------------------------------------------------
    def _refund_once(self, target: RefundTarget, money: Money, refund_key: str) -> RefundResult:
        raise NotImplementedError

    def _void_once(self, target: RefundTarget, refund_key: str) -> RefundResult:
        raise NotImplementedError

    def _refund_status_once(self, refund_key: str) -> Optional[RefundResult]:
        raise NotImplementedError

    # -- the policy ------------------------------------------------------------------------
    def _reverse(self, verb: str, refund_key: str, send: Callable[[], RefundResult]) -> RefundResult:
        unknown: Optional[OutcomeUnknown] = None
        answer: Optional[RefundResult] = None
        for attempt in range(1, self.max_attempts + 1):
            try:
                answer = send()
                break
            except NotReached as error:
                answer = GatewayError(error.kind, False, error.detail)
                if not error.retryable:
                    break
            except OutcomeUnknown as error:
                unknown = failures.stripped(error)
                answer = None
                if not (self.idempotent and error.resend_if_idempotent):
                    break
            except Exception as error:
                answer = failures.unexpected(error, outcome_unknown=True)
                break
            if attempt < self.max_attempts:
                gevent.sleep(backoff.exponential(attempt, self.backoff))
        # a request that may have arrived earlier is not undone by a later one that did not
        if unknown is not None and (answer is None or (isinstance(answer, GatewayError)
                                                       and not answer.outcome_unknown)):
            answer = self._settle_unknown(refund_key, unknown)
        assert answer is not None
        log.info("%s gateway=%s key=%s result=%s%s", verb, self.name, refund_key,
                 answer.status, _detail(answer))
        return answer

    def _settle_unknown(self, refund_key: str, unknown: OutcomeUnknown) -> RefundResult:
        if self.supports_refund_status:
            for attempt in range(1, self.status_attempts + 1):
                found = self.refund_status(refund_key)
                if isinstance(found, (Refunded, Voided, RefundRefused)):
                    return found
                if attempt < self.status_attempts:
                    gevent.sleep(self.status_interval)
        return GatewayError(unknown.kind, True, unknown.detail)


def _detail(answer: Any) -> str:
    if isinstance(answer, GatewayError):
        return " kind=%s outcome_unknown=%s" % (answer.kind, answer.outcome_unknown)
    if isinstance(answer, RefundRefused):
        return " reason=%s" % answer.reason
    return " refund_id=%s" % answer.refund_id
