"""Card on file: the gateway's token for a card, and the verbs that make and use it.

A stored card is the gateway's token (``CardToken.gateway_token``) and what may be shown of the
card: brand, last four, expiry month and year. Never the number or the security code: the
token is what the gateway gives back, and a token that looks like a card number (13 to 19
digits) is refused as no token at all.

Three verbs, each under the policy of ``base.py`` (one key per attempt, the same body on every
retry, re-sent only when it certainly never arrived or the gateway is idempotent on the key):

- ``authorize(..., store_card=True)``: charge and keep a token (``Approved.card_token``; a
  gateway that charged but gave no token leaves it None: the charge stands, nothing is stored);
- ``tokenize(card, reference, key)``: verify the card and keep a token, nothing charged
  (``Tokenized``, ``Declined`` or ``GatewayError``). No money moves, so an unknown outcome is
  not reconciled: at worst the gateway keeps a token nobody will use;
- ``charge_token(money, reference, stored, key)``: a merchant-initiated charge of a stored
  card, no card entry: the same answers, retries and reconciliation by key as ``authorize``;
  a decision found by key is taken when its amount, currency and last four are the payment's.

A connector says what it can (``supports_store_card``, ``supports_tokenize``,
``supports_token_charge``) and implements ``_prepare_tokenize`` and ``_prepare_token_charge``
(and ``_delete_token_once`` when the gateway can forget a token).
"""
import logging
import re
import time
from dataclasses import dataclass, replace
from typing import Any, Callable, Optional, Tuple, Union

from ..card import CardData, CardSummary, RevealedCard
from ..money import Money
from . import failures
from .matching import ExpectedPayment
from .results import Approved, Declined, GatewayError, GatewayResult
from .transport import NotReached, OutcomeUnknown

log = logging.getLogger(__name__)

# The modes of card on file a flow may ask for (the ``authorize`` step's ``store_card``) and
# the charge of a stored card (its ``card_token``): what ``validate`` checks a gateway offers.
BESIDES, INSTEAD, CHARGE = "besides", "instead", "charge"
MODES = (BESIDES, INSTEAD, CHARGE)

_TOKEN = re.compile(r"^[A-Za-z0-9_.:+/=-]{6,128}$")
_CARD_LIKE = re.compile(r"\d{13,19}")   # a whole token this shape is a card number
_BRAND = re.compile(r"^[a-z_]{1,20}$")


def usable_token(raw: object) -> str:
    """A gateway's token as it may be kept, or "" (missing, odd characters, or 13 to 19 digits
    and nothing else: a gateway echoing the card as its "token" must not put it in the store).
    A digit run inside a longer token is not refused: Redsys's identifiers are 40 hexadecimal
    characters, and one in sixteen of those holds a run of 13 digits by chance."""
    text = str(raw or "").strip() if isinstance(raw, (str, int)) and not isinstance(raw, bool) else ""
    return text if _TOKEN.match(text) and not _CARD_LIKE.fullmatch(text) else ""


@dataclass(frozen=True)
class CardToken:
    """The gateway's token and what may be shown of its card. ``network_reference`` is what a
    later merchant-initiated charge must cite (Redsys's ``Ds_Merchant_Cof_Txnid``), if any."""

    gateway_token: str
    brand: str = ""
    last4: str = ""
    expiry_month: str = ""
    expiry_year: str = ""
    network_reference: str = ""

    def __post_init__(self) -> None:
        if not usable_token(self.gateway_token):
            raise ValueError("not a gateway token that may be kept")
        if self.last4 and not re.fullmatch(r"[0-9]{4}", self.last4) or \
                self.brand and not _BRAND.match(self.brand) or \
                self.expiry_month and not re.fullmatch(r"0[1-9]|1[0-2]", self.expiry_month) or \
                self.expiry_year and not re.fullmatch(r"20[0-9]{2}", self.expiry_year) or \
                self.network_reference and not usable_token(self.network_reference):
            raise ValueError("a stored card keeps brand, last four and expiry only")

    def completed(self, summary: CardSummary, expiry: Tuple[str, str]) -> "CardToken":
        """Filled in from what we know of the card where the gateway did not say."""
        return replace(self, brand=self.brand or summary.brand,
                       last4=self.last4 or summary.last4,
                       expiry_month=self.expiry_month or expiry[0],
                       expiry_year=self.expiry_year or expiry[1])


@dataclass(frozen=True)
class StoredCard:
    """What a charge of a stored card sends: the token, never a card; brand and last four to
    check an answer found by key against."""

    gateway_token: str
    brand: str
    last4: str
    network_reference: str = ""


@dataclass(frozen=True)
class Tokenized:
    """The card was verified and a token kept; nothing was charged."""

    token: CardToken
    status = "stored"


TokenizeResult = Union[Tokenized, Declined, GatewayError]


def token_from(answer: GatewayResult) -> Optional[CardToken]:
    return answer.card_token if isinstance(answer, Approved) else None


class CardOnFile:
    """Mixed into ``Gateway``, which supplies the retry and reconciliation policy."""

    name: str
    type_name: str
    supports_store_card = False
    supports_tokenize = False
    supports_token_charge = False
    supports_token_delete = False

    # from Gateway
    def check_key(self, idempotency_key: str) -> None:
        raise NotImplementedError

    def _send_with_retries(self, request: Any,
                           send: Optional[Callable[[Any], Any]] = None) -> Any:
        raise NotImplementedError

    def _reconcile(self, idempotency_key: str, unknown: OutcomeUnknown,
                   expected: ExpectedPayment) -> GatewayResult:
        raise NotImplementedError

    def _with_revealed(self, card: CardData, idempotency_key: str,
                       prepare: Callable[[RevealedCard], Any],
                       send: Callable[[Any], Any]) -> Any:
        raise NotImplementedError

    def card_on_file_modes(self) -> Tuple[str, ...]:
        """The ``MODES`` this gateway offers (what ``validate`` and the step check)."""
        return tuple(mode for mode, able in ((BESIDES, self.supports_store_card),
                                             (INSTEAD, self.supports_tokenize),
                                             (CHARGE, self.supports_token_charge)) if able)

    def tokenize(self, card: CardData, reference: str, idempotency_key: str) -> TokenizeResult:
        """Verify ``card`` and keep a token for it, charging nothing."""
        if not self.supports_tokenize:
            return GatewayError("unsupported", False, "%s cannot store a card without a charge"
                                % self.type_name)
        self.check_key(idempotency_key)
        summary = card.summary
        started = time.monotonic()
        log.info("tokenize gateway=%s key=%s card=%s", self.name, idempotency_key, card)
        outcome = self._with_revealed(
            card, idempotency_key,
            lambda revealed: self._prepare_tokenize(reference, revealed, idempotency_key),
            self._send_tokenize)
        if isinstance(outcome, OutcomeUnknown):
            answer: TokenizeResult = GatewayError(outcome.kind, True, outcome.detail)
        elif isinstance(outcome, Tokenized):
            answer = Tokenized(outcome.token.completed(summary, card.expiry_shown))
        else:
            answer = outcome
        log.info("tokenize gateway=%s key=%s result=%s seconds=%.2f", self.name,
                 idempotency_key, answer.status, time.monotonic() - started)
        return answer

    def charge_token(self, money: Money, reference: str, stored: StoredCard,
                     idempotency_key: str) -> GatewayResult:
        """Charge a stored card, merchant-initiated; the answers of ``authorize``."""
        if not self.supports_token_charge:
            return GatewayError("unsupported", False, "%s cannot charge a stored card"
                                % self.type_name)
        self.check_key(idempotency_key)
        expected = ExpectedPayment(money.minor, money.currency, stored.brand, "", stored.last4)
        started = time.monotonic()
        log.info("charge stored card gateway=%s key=%s amount=%s card=%s ...%s", self.name,
                 idempotency_key, money, stored.brand, stored.last4)
        try:
            request = self._prepare_token_charge(money, reference, stored, idempotency_key)
            outcome = self._send_with_retries(request)
        except Exception as error:
            outcome = failures.unexpected(error, outcome_unknown=True)
        if isinstance(outcome, OutcomeUnknown):
            answer = self._reconcile(idempotency_key, outcome, expected)
        else:
            answer = outcome
        log.info("charge stored card gateway=%s key=%s result=%s seconds=%.2f", self.name,
                 idempotency_key, answer.status, time.monotonic() - started)
        return answer

    def delete_token(self, gateway_token: str) -> bool:
        """Ask the gateway to forget a token; True when it confirmed (or never had it). Our
        record is deleted whatever it says: a token we no longer hold is never charged."""
        if not self.supports_token_delete:
            return False
        try:
            return self._delete_token_once(gateway_token)
        except (NotReached, OutcomeUnknown) as error:
            log.warning("gateway=%s token delete failed: %s", self.name, error.detail)
        except Exception as error:
            log.error("gateway=%s token delete failed: %s", self.name,
                      failures.unexpected(error, True).detail)
        return False

    # -- for connectors ----------------------------------------------------------------------
    def _prepare_tokenize(self, reference: str, revealed: RevealedCard,
                          idempotency_key: str) -> Any:
        raise NotImplementedError

    def _send_tokenize(self, request: Any) -> TokenizeResult:
        raise NotImplementedError

    def _prepare_token_charge(self, money: Money, reference: str, stored: StoredCard,
                              idempotency_key: str) -> Any:
        raise NotImplementedError

    def _delete_token_once(self, gateway_token: str) -> bool:
        raise NotImplementedError
