"""A generic HTTPS JSON connector: any gateway that takes a JSON body and answers in JSON.

In the spirit of a generic pay connector: the operator maps our request fields onto the
gateway's JSON paths (``request_fields``) and its answer back onto approved/declined
(``response``); every request is signed with HMAC-SHA256 over the timestamp and the exact body
(see ``signing``), and carries the idempotency key in a header and, by default, in the body.

Request fields: amount (minor units, int), amount_major ("12.50"), currency, currency_numeric,
reference, idempotency_key, number, expiry_month ("07"), expiry_year ("2031"), expiry_mmyy,
expiry_yymm, security_code, postal_code. Paths are dotted ("card.number"). Fields with no value
(no security code collected) are left out.
"""
import json
import logging
from typing import Any, Dict, List, Mapping, Optional, TypedDict, Union

from ..card import RevealedCard
from ..money import Money
from ..signing import signed_headers
from .base import Gateway
from .registry import register
from .results import Approved, GatewayError, GatewayResult, decline
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
    "auth_code": "auth_code",
    "transaction_id": "transaction_id",
    "reason_code": "reason_code",
}
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
                 **policy: Any) -> None:
        super().__init__(name, **policy)
        self.url = check_url(url, "%s: url" % name)
        self.status_url = check_url(status_url or url.rstrip("/") + "/{key}",
                                    "%s: status_url" % name)
        if "{key}" not in self.status_url:
            raise GatewayConfigError("%s: status_url must contain {key}" % name)
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
                 idempotency_key: str) -> HttpRequest:
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
        return {"key": idempotency_key,
                "body": json.dumps(body, separators=(",", ":"), sort_keys=True).encode()}

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

    def _interpret(self, reply: Response, for_status: bool) -> GatewayResult:
        status = reply.status
        if status == 409:
            # The key is taken by another request (a different body, or one still running):
            # its outcome belongs to that request; reconcile it with status(key).
            return GatewayError("conflict", True, "gateway holds another request under this key")
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
                            str(_get(data, spec["transaction_id"]) or ""))
        if outcome in spec["declined"]:
            # the gateway's own words are not kept: they could hold anything (a card number,
            # ``${...}``); the caller and the agent hear ours, by the normalised code
            return decline(_get(data, spec["reason_code"]))
        if outcome in spec["pending"]:
            if for_status:
                return GatewayError("pending", True, "gateway is still working on it")
            raise OutcomeUnknown("pending", "gateway answered pending")
        raise OutcomeUnknown("protocol", "unrecognised status in the answer")

    def close(self) -> None:
        self.transport.close()


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


register("http", factory=lambda name, settings: HttpGateway(name, **settings),
         required=("url", "secret"),
         properties={
             "url": {"type": "string"},
             "status_url": {"type": "string"},
             "secret": {"type": "string", "minLength": 16},
             "idempotent": {"type": "boolean"},
             "idempotency_header": {"type": "string"},
             "request_fields": {"type": "object", "additionalProperties": {"type": "string"}},
             "response": {"type": "object", "additionalProperties": False,
                          "properties": {
                              **{k: {"type": "string"} for k in (
                                  "status", "auth_code", "transaction_id", "reason_code")},
                              **{k: {"type": "array", "items": {"type": "string"}}
                                 for k in ("approved", "declined", "pending")}}},
         })
