"""A generic HTTPS JSON connector: any gateway that takes a JSON body and answers in JSON.

In the spirit of a generic pay connector: the operator maps our request fields onto the
gateway's JSON paths (``request_fields``) and its answer back onto approved/declined
(``response``); every request is signed with HMAC-SHA256 over the timestamp and the exact body
(see ``signing``), and carries the idempotency key in a header and, by default, in the body.

Answers are mapped back through ``response`` (dotted paths and the status values): besides the
decision, what it was for (amount, currency, card brand, BIN and last four), which is how a
decision found by key is checked against the payment before it is taken. ``cancel_url`` (with
``{key}``), when the gateway has one, is its technical cancel by key: the definite "nothing is
charged under this key" that lets reconciliation close a payment the gateway has no record of.
``refund_url`` and ``void_url`` (with ``{key}``: the payment's key) and ``refund_status_url``
(with ``{key}``: the refund's own key) are its refunds and voids, each request under a refund
key of its own (orchestrator/payments/README.md shows the bodies and answers).

Card on file (``card_on_file: true``, ``tokenize_url``, ``token_url``): an authorization may
carry ``"store_card": true`` and its approval a ``card_token``; a stored card is charged with
``"card_token": "<token>"`` and ``"merchant_initiated": true`` in place of the card fields;
``tokenize_url`` stores a card without charging it, ``token_url`` (with ``{token}``) deletes
one (orchestrator/payments/README.md, "Card on file").

Request fields: amount (minor units, int), amount_major ("12.50"), currency, currency_numeric,
reference, idempotency_key, number, expiry_month ("07"), expiry_year ("2031"), expiry_mmyy,
expiry_yymm, security_code, postal_code. Paths are dotted ("card.number"). Fields with no value
(no security code collected) are left out.
"""
import json
import logging
import re
from typing import Any, Dict, List, Mapping, Optional, TypedDict, Union

from ..card import RevealedCard
from ..money import Money
from ..signing import signed_headers
from .base import Gateway
from .registry import register
from .refund_results import (RefundRefused, RefundResult, RefundTarget, Refunded, Voided,
                             refused)
from .results import (Approved, CancelResult, Cancelled, GatewayError, GatewayResult,
                      PaymentFacts, decline)
from .tokens import CardToken, StoredCard, TokenizeResult, Tokenized, usable_token
from .transport import GatewayConfigError, JsonTransport, OutcomeUnknown, Response, check_url

log = logging.getLogger(__name__)

DEFAULT_REQUEST_FIELDS = {
    "idempotency_key": "idempotency_key",
    "amount": "amount.value",
    "currency": "amount.currency",
    "reference": "reference",
    "number": "card.number",
    "expiry_month": "card.expiry_month",
    "expiry_year": "card.expiry_year",
    "security_code": "card.security_code",
    "postal_code": "card.postal_code",
}
DEFAULT_RESPONSE: Dict[str, Union[str, List[str]]] = {
    "status": "status",
    "approved": ["approved"],
    "declined": ["declined"],
    "pending": ["pending"],
    "cancelled": ["cancelled"],
    "auth_code": "auth_code",
    "transaction_id": "transaction_id",
    "reason_code": "reason_code",
    # what the decision was for (compared with the payment before a decision found by key is
    # taken: gateways/matching.py) and, for a cancel, whether a charge was reversed
    "amount": "amount.value",
    "currency": "amount.currency",
    "card_brand": "card.brand",
    "card_bin": "card.bin",
    "card_last4": "card.last4",
    "reversed": "reversed",
    # card on file: the token an approval or a tokenize answer carries, and its card's expiry
    "card_token": "card_token.id",
    "card_token_expiry_month": "card_token.expiry_month",
    "card_token_expiry_year": "card_token.expiry_year",
    "stored": ["stored"],
}
RESPONSE_PATHS = ("status", "auth_code", "transaction_id", "reason_code", "amount", "currency",
                  "card_brand", "card_bin", "card_last4", "reversed", "card_token",
                  "card_token_expiry_month", "card_token_expiry_year")
RESPONSE_VALUES = ("approved", "declined", "pending", "cancelled", "stored")
# where the card-on-file flags go in a request body (``card_on_file_fields`` overrides)
DEFAULT_CARD_ON_FILE_FIELDS = {"store_card": "store_card", "card_token": "card_token",
                               "merchant_initiated": "merchant_initiated"}
_CURRENCY = re.compile(r"[A-Z]{3}")
_MINOR_UNITS = re.compile(r"[0-9]{1,12}")
_BRAND = re.compile(r"[a-z_]{1,20}")
_BIN = re.compile(r"[0-9]{6}")
_LAST4 = re.compile(r"[0-9]{4}")
_MONTH = re.compile(r"0[1-9]|1[0-2]")
_YEAR = re.compile(r"20[0-9]{2}")
REQUEST_FIELDS = ("amount", "amount_major", "currency", "currency_numeric", "reference",
                  "idempotency_key", "number", "expiry_month", "expiry_year", "expiry_mmyy",
                  "expiry_yymm", "security_code", "postal_code")


class HttpRequest(TypedDict):
    key: str
    body: bytes


class HttpGateway(Gateway[HttpRequest]):
    type_name = "http"
    supports_status = True

    def __init__(self, name: str, url: str, secret: Optional[str] = None,
                 status_url: Optional[str] = None, verify: Union[bool, str] = True,
                 request_fields: Optional[Mapping[str, str]] = None,
                 response: Optional[Mapping[str, Any]] = None, idempotent: bool = True,
                 idempotency_header: str = "Idempotency-Key", require_secret: bool = True,
                 cancel_url: Optional[str] = None, refund_url: Optional[str] = None,
                 void_url: Optional[str] = None, refund_status_url: Optional[str] = None,
                 card_on_file: bool = False, tokenize_url: Optional[str] = None,
                 token_url: Optional[str] = None,
                 card_on_file_fields: Optional[Mapping[str, str]] = None,
                 **policy: Any) -> None:
        super().__init__(name, **policy)
        self.url = check_url(url, "%s: url" % name)
        self.status_url = check_url(status_url or url.rstrip("/") + "/{key}",
                                    "%s: status_url" % name)
        if "{key}" not in self.status_url:
            raise GatewayConfigError("%s: status_url must contain {key}" % name)
        # a technical cancel by key (POST, empty body): what lets reconciliation close a key
        # the gateway has no record of; without it such a payment stays flagged
        self.cancel_url = check_url(cancel_url, "%s: cancel_url" % name) if cancel_url else None
        if self.cancel_url is not None and "{key}" not in self.cancel_url:
            raise GatewayConfigError("%s: cancel_url must contain {key}" % name)
        self.supports_cancel = self.cancel_url is not None
        self.refund_url, self.void_url, self.refund_status_url = (
            _key_url(name, setting, value) for setting, value in (
                ("refund_url", refund_url), ("void_url", void_url),
                ("refund_status_url", refund_status_url)))
        self.supports_refund = self.refund_url is not None
        self.supports_void = self.void_url is not None
        self.supports_refund_status = self.refund_status_url is not None
        self.supports_store_card = self.supports_token_charge = bool(card_on_file)
        self.tokenize_url = check_url(tokenize_url, "%s: tokenize_url" % name) if tokenize_url else None
        self.supports_tokenize = self.tokenize_url is not None
        self.token_url = check_url(token_url, "%s: token_url" % name) if token_url else None
        if self.token_url is not None and "{token}" not in self.token_url:
            raise GatewayConfigError("%s: token_url must contain {token}" % name)
        self.supports_token_delete = self.token_url is not None
        self.card_on_file_fields = dict(DEFAULT_CARD_ON_FILE_FIELDS, **(card_on_file_fields or {}))
        if require_secret and not secret:
            raise GatewayConfigError("%s: secret is required to sign requests" % name)
        self.secret = secret
        self.idempotent = bool(idempotent)
        self.idempotency_header = idempotency_header
        self.request_fields = dict(request_fields or DEFAULT_REQUEST_FIELDS)
        unknown = set(self.request_fields) - set(REQUEST_FIELDS)
        if unknown:
            raise GatewayConfigError("%s: unknown request fields %s" % (name, ", ".join(sorted(unknown))))
        if "number" not in self.request_fields:
            raise GatewayConfigError("%s: request_fields must map number" % name)
        self.response = dict(DEFAULT_RESPONSE, **(response or {}))
        self.transport = JsonTransport(verify, self.connect_timeout, self.read_timeout)

    def _prepare(self, money: Money, reference: str, revealed: RevealedCard,
                 idempotency_key: str, store_card: bool = False) -> HttpRequest:
        values: Dict[str, Any] = {
            "amount": money.minor, "amount_major": money.major_text, "currency": money.currency,
            "currency_numeric": money.numeric_code, "reference": reference,
            "idempotency_key": idempotency_key, "number": revealed.number,
            "expiry_month": revealed.expiry_month, "expiry_year": revealed.expiry_year,
            "expiry_mmyy": revealed.expiry_mmyy, "expiry_yymm": revealed.expiry_yymm,
            "security_code": revealed.security_code, "postal_code": revealed.postal_code,
        }
        body: Dict[str, Any] = {}
        for field, path in self.request_fields.items():
            if values[field] is not None:
                _put(body, path, values[field])
        if store_card:
            _put(body, self.card_on_file_fields["store_card"], True)
        return {"key": idempotency_key,
                "body": json.dumps(body, separators=(",", ":"), sort_keys=True).encode()}

    # -- card on file (tokens.py holds the policy) ------------------------------------------
    def _prepare_token_charge(self, money: Money, reference: str, stored: StoredCard,
                              idempotency_key: str) -> HttpRequest:
        """The authorization body with the token in place of every card field."""
        values: Dict[str, Any] = {
            "amount": money.minor, "amount_major": money.major_text, "currency": money.currency,
            "currency_numeric": money.numeric_code, "reference": reference,
            "idempotency_key": idempotency_key}
        body: Dict[str, Any] = {}
        for field, path in self.request_fields.items():
            if values.get(field) is not None:
                _put(body, path, values[field])
        _put(body, self.card_on_file_fields["card_token"], stored.gateway_token)
        _put(body, self.card_on_file_fields["merchant_initiated"], True)
        return {"key": idempotency_key,
                "body": json.dumps(body, separators=(",", ":"), sort_keys=True).encode()}

    def _prepare_tokenize(self, reference: str, revealed: RevealedCard,
                          idempotency_key: str) -> HttpRequest:
        values: Dict[str, Any] = {
            "reference": reference, "idempotency_key": idempotency_key,
            "number": revealed.number, "expiry_month": revealed.expiry_month,
            "expiry_year": revealed.expiry_year, "expiry_mmyy": revealed.expiry_mmyy,
            "expiry_yymm": revealed.expiry_yymm, "security_code": revealed.security_code,
            "postal_code": revealed.postal_code}
        body: Dict[str, Any] = {}
        for field, path in self.request_fields.items():
            if values.get(field) is not None:
                _put(body, path, values[field])
        return {"key": idempotency_key,
                "body": json.dumps(body, separators=(",", ":"), sort_keys=True).encode()}

    def _send_tokenize(self, request: HttpRequest) -> TokenizeResult:
        assert self.tokenize_url is not None
        body = request["body"]
        reply = self.transport.call("POST", self.tokenize_url, body,
                                    self._headers(request["key"], body))
        data = reply.data if isinstance(reply.data, dict) else None
        if reply.status == 200 and data is not None and \
                _get(data, str(self.response["status"])) in self.response["stored"]:
            token = self._card_token(data)
            if token is None:
                raise OutcomeUnknown("protocol", "a stored answer without a usable token")
            return Tokenized(token)
        answer = self._interpret(reply, for_status=False)
        if isinstance(answer, Approved):   # an approval is no token
            raise OutcomeUnknown("protocol", "a tokenize answer that is not stored")
        return answer

    def _delete_token_once(self, gateway_token: str) -> bool:
        assert self.token_url is not None
        reply = self.transport.call("DELETE", self.token_url.replace("{token}", gateway_token),
                                    None, self._headers(gateway_token, b""))
        return reply.status in (200, 204, 404)

    def _card_token(self, data: Dict[str, Any]) -> Optional[CardToken]:
        """The token an answer carries, checked (``tokens.usable_token``); None without one."""
        spec = self.response
        token = usable_token(_get(data, str(spec["card_token"])))
        if not token:
            return None
        month = _get(data, str(spec["card_token_expiry_month"]))
        year = _get(data, str(spec["card_token_expiry_year"]))
        facts = self._facts(data)
        try:
            return CardToken(token, brand=facts.brand if facts else "",
                             last4=facts.last4 if facts else "",
                             expiry_month=month if isinstance(month, str) and _MONTH.fullmatch(month) else "",
                             expiry_year=year if isinstance(year, str) and _YEAR.fullmatch(year) else "")
        except ValueError:
            return None

    def _headers(self, key: str, body: bytes) -> Dict[str, str]:
        headers = {"Content-Type": "application/json", "Accept": "application/json"}
        if self.idempotency_header:
            headers[self.idempotency_header] = key
        if self.secret:
            headers.update(signed_headers(self.secret, body))
        return headers

    def _send(self, request: HttpRequest) -> GatewayResult:
        body = request["body"]
        reply = self.transport.call("POST", self.url, body, self._headers(request["key"], body))
        return self._interpret(reply, for_status=False)

    def _status_once(self, idempotency_key: str) -> Optional[GatewayResult]:
        url = self.status_url.replace("{key}", idempotency_key)
        reply = self.transport.call("GET", url, None, self._headers(idempotency_key, b""))
        if reply.status == 404:
            return None
        try:
            return self._interpret(reply, for_status=True)
        except OutcomeUnknown as error:
            return GatewayError(error.kind, True, error.detail)

    def _cancel_once(self, idempotency_key: str) -> CancelResult:
        assert self.cancel_url is not None   # supports_cancel says so
        url = self.cancel_url.replace("{key}", idempotency_key)
        reply = self.transport.call("POST", url, b"", self._headers(idempotency_key, b""))
        data = reply.data if isinstance(reply.data, dict) else None
        if reply.status == 200 and data is not None and \
                _get(data, str(self.response["status"])) in self.response["cancelled"]:
            return Cancelled(reversed=_get(data, str(self.response["reversed"])) is True)
        try:
            answer = self._interpret(reply, for_status=True)
        except OutcomeUnknown as error:
            return GatewayError(error.kind, True, "cancel: " + error.detail)
        if isinstance(answer, GatewayError):
            # a refused cancel says nothing about the charge: the key stays to be reconciled
            return GatewayError(answer.kind, True, "cancel: " + answer.detail)
        return answer

    # -- refunds and voids (reversals.py holds the policy) --------------------------------------
    def _refund_once(self, target: RefundTarget, money: Money, refund_key: str) -> RefundResult:
        assert self.refund_url is not None
        return self._reverse_once(self.refund_url, target, refund_key,
                                  {"value": money.minor, "currency": money.currency})

    def _void_once(self, target: RefundTarget, refund_key: str) -> RefundResult:
        assert self.void_url is not None
        return self._reverse_once(self.void_url, target, refund_key, None)

    def _reverse_once(self, url: str, target: RefundTarget, refund_key: str,
                      amount: Optional[Dict[str, Any]]) -> RefundResult:
        request: Dict[str, Any] = {"idempotency_key": refund_key,
                                   "payment_key": target.payment_key,
                                   "transaction_id": target.transaction_id}
        if amount is not None:
            request["amount"] = amount
        body = json.dumps(request, separators=(",", ":"), sort_keys=True).encode()
        reply = self.transport.call("POST", url.replace("{key}", target.payment_key), body,
                                    self._headers(refund_key, body))
        return self._interpret_reversal(reply, for_status=False)

    def _refund_status_once(self, refund_key: str) -> Optional[RefundResult]:
        assert self.refund_status_url is not None
        reply = self.transport.call("GET", self.refund_status_url.replace("{key}", refund_key),
                                    None, self._headers(refund_key, b""))
        if reply.status == 404:
            return None
        try:
            return self._interpret_reversal(reply, for_status=True)
        except OutcomeUnknown as error:
            return GatewayError(error.kind, True, error.detail)

    def _interpret_reversal(self, reply: Response, for_status: bool) -> RefundResult:
        """An answer to a refund or void: 200 refunded/voided, 404 (no such payment) or 422
        with an ``error`` code (refused: nothing refunded), 409 another request holds the key."""
        status = reply.status
        data = reply.data if isinstance(reply.data, dict) else {}
        if status == 409:
            raise OutcomeUnknown("conflict", "gateway holds another request under this key")
        if status in (401, 403):
            return GatewayError("auth", False, "gateway refused our signature (HTTP %d)" % status)
        if status in (404, 422):
            return refused(data.get("error")) if status == 422 else RefundRefused("not_found")
        if 400 <= status < 500:
            return GatewayError("rejected", False, "gateway refused the request (HTTP %d)" % status)
        if status >= 500:
            raise OutcomeUnknown("http", "HTTP %d" % status, resend_if_idempotent=True)
        if not reply.data or not 200 <= status < 300:
            raise OutcomeUnknown("protocol", "unexpected answer (HTTP %d)%s"
                                 % (status, _why_unreadable(reply)))
        outcome = _get(data, str(self.response["status"]))
        refund_id = str(data.get("refund_id") or "")[:64]
        if outcome == "refunded":
            amount = _get(data, str(self.response["amount"]))
            if isinstance(amount, bool) or not isinstance(amount, int) or amount <= 0:
                raise OutcomeUnknown("protocol", "a refund answer without its amount")
            return Refunded(refund_id, amount)
        if outcome == "voided":
            return Voided(refund_id)
        if outcome == "pending":
            if for_status:
                return GatewayError("pending", True, "gateway is still working on it")
            raise OutcomeUnknown("pending", "gateway answered pending")
        raise OutcomeUnknown("protocol", "unrecognised status in the answer")

    def _interpret(self, reply: Response, for_status: bool) -> GatewayResult:
        status = reply.status
        if status == 409:
            # The key is held by another request (one still running, or a different body):
            # what it did is found with status(key), and taken only if it is this payment's.
            raise OutcomeUnknown("conflict", "gateway holds another request under this key")
        if status in (401, 403):
            return GatewayError("auth", False, "gateway refused our signature (HTTP %d)" % status)
        if 400 <= status < 500:
            return GatewayError("rejected", False, "gateway refused the request (HTTP %d)" % status)
        if status >= 500:
            raise OutcomeUnknown("http", "HTTP %d" % status, resend_if_idempotent=True)
        data = reply.data if isinstance(reply.data, dict) else None
        if data is None or not 200 <= status < 300:
            raise OutcomeUnknown("protocol", "unexpected answer (HTTP %d)%s"
                                 % (status, _why_unreadable(reply)))
        spec = self.response
        outcome = _get(data, spec["status"])
        if outcome in spec["approved"]:
            return Approved(str(_get(data, spec["auth_code"]) or ""),
                            str(_get(data, spec["transaction_id"]) or ""), self._facts(data),
                            self._card_token(data))
        if outcome in spec["declined"]:
            # the gateway's own words are not kept: they could hold anything (a card number,
            # ``${...}``); the caller and the agent hear ours, by the normalised code
            return decline(_get(data, spec["reason_code"]), facts=self._facts(data))
        if outcome in spec["cancelled"]:
            # the key was closed by a cancel: nothing is charged under it. A definite answer to
            # a request; to a status query, one that settles nothing by itself (reconcile asks
            # for the cancel again and takes its confirmation)
            return GatewayError("rejected", for_status, "the gateway cancelled this key")
        if outcome in spec["pending"]:
            if for_status:
                return GatewayError("pending", True, "gateway is still working on it")
            raise OutcomeUnknown("pending", "gateway answered pending")
        raise OutcomeUnknown("protocol", "unrecognised status in the answer")

    def _facts(self, data: Dict[str, Any]) -> Optional[PaymentFacts]:
        """What the answer says the decision was for, each value checked (untrusted JSON: a
        BIN is six digits, a last four four digits, or they are not kept); None when it does
        not say the amount."""
        spec = self.response
        amount = _get(data, str(spec["amount"]))
        currency = _get(data, str(spec["currency"]))
        if isinstance(amount, str) and _MINOR_UNITS.fullmatch(amount):
            amount = int(amount)     # many gateways send minor units as a string of digits
        if isinstance(amount, bool) or not isinstance(amount, int) or amount < 0 or \
                not isinstance(currency, str) or not _CURRENCY.fullmatch(currency):
            return None
        brand, bin_, last4 = (_get(data, str(spec[k])) for k in ("card_brand", "card_bin", "card_last4"))
        return PaymentFacts(amount, currency,
                            brand if isinstance(brand, str) and _BRAND.fullmatch(brand) else "",
                            bin_ if isinstance(bin_, str) and _BIN.fullmatch(bin_) else "",
                            last4 if isinstance(last4, str) and _LAST4.fullmatch(last4) else "")

    def close(self) -> None:
        self.transport.close()


def _key_url(name: str, setting: str, url: Optional[str]) -> Optional[str]:
    if not url:
        return None
    checked = check_url(url, "%s: %s" % (name, setting))
    if "{key}" not in checked:
        raise GatewayConfigError("%s: %s must contain {key}" % (name, setting))
    return checked


def _why_unreadable(reply: Response) -> str:
    return ": body " + reply.unreadable if reply.unreadable else ""


def _put(target: Dict[str, Any], path: str, value: Any) -> None:
    keys = path.split(".")
    for key in keys[:-1]:
        target = target.setdefault(key, {})
    target[keys[-1]] = value


def _get(source: Any, path: str) -> Any:
    for key in path.split("."):
        if not isinstance(source, dict):
            return None
        source = source.get(key)
    return source


def _http_card_on_file(settings: Mapping[str, Any]) -> tuple:
    modes = ("besides", "charge") if settings.get("card_on_file") else ()
    return modes + (("instead",) if settings.get("tokenize_url") else ())


register("http", factory=lambda name, settings: HttpGateway(name, **settings),
         required=("url", "secret"), card_on_file=_http_card_on_file,
         properties={
             "url": {"type": "string"},
             "status_url": {"type": "string"},
             "secret": {"type": "string", "minLength": 16},
             "idempotent": {"type": "boolean"},
             "idempotency_header": {"type": "string"},
             "cancel_url": {"type": "string"},
             "refund_url": {"type": "string"},
             "void_url": {"type": "string"},
             "refund_status_url": {"type": "string"},
             "card_on_file": {"type": "boolean"},
             "tokenize_url": {"type": "string"},
             "token_url": {"type": "string"},
             "card_on_file_fields": {"type": "object", "additionalProperties": False,
                                     "properties": {k: {"type": "string"}
                                                    for k in DEFAULT_CARD_ON_FILE_FIELDS}},
             "request_fields": {"type": "object", "additionalProperties": {"type": "string"}},
             "response": {"type": "object", "additionalProperties": False,
                          "properties": {
                              **{k: {"type": "string"} for k in RESPONSE_PATHS},
                              **{k: {"type": "array", "items": {"type": "string"}}
                                 for k in RESPONSE_VALUES}}},
         })
