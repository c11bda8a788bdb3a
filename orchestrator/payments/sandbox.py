"""A real HTTP card gateway for demos and tests: a gevent WSGI app on a loopback port.

It speaks the generic connector's default JSON (``gateways.http``), is idempotent on the key
(the same key always gets the same answer and never a second charge), optionally checks the
HMAC signature, and keeps a record of every charge holding only brand, BIN and last four.

API:
  POST /v1/authorizations        {"idempotency_key", "amount": {"value", "currency"},
                                  "reference", "card": {"number", "expiry_month",
                                  "expiry_year", "security_code", "postal_code"}}
        -> 200 {"status": "approved", "auth_code", "transaction_id", ...}
           200 {"status": "declined", "reason_code", "reason_text", ...}
           409 same key with a different body, or still in progress; 400/401/422 refused;
           413 a body over MAX_BODY. A body nested deeper than ``bounded_json.MAX_DEPTH`` is
           malformed (400), never a RecursionError in the handler.
  GET  /v1/authorizations/<key>  -> 200 the stored answer, 200 {"status": "pending"}, or 404
  GET  /v1/charges               -> 200 {"charges": [...]}  (for tests: masked records only)

Test cards (any valid expiry and security code):
  4111111111111111, 5555555555554444, 378282246310005   approved (as is any other valid card)
  4000000000009995   declined: insufficient_funds
  4000000000000002   declined: do_not_honour
  4000000000000069   declined: expired_card
  4000000000000259   slow: approved after ``slow_seconds`` (default 3)
  4000000000000507   timeout after charging: the charge is recorded, then the answer waits
                     ``hang_seconds`` (default 30), so the client times out; status() finds it
  4000000000000606   timeout after charging, and the gateway cannot say for ``hang_seconds``
                     either: status() answers pending meanwhile, so the outcome stays unknown
                     and the payment must be reconciled later (``orchestrator reconcile``)
  4000000000005001   HTTP 500, nothing recorded
"""
import hashlib
import hmac
import json
import logging
import os
import re
import secrets
import ssl
import time
from typing import Any, Callable, Dict, Iterable, List, Optional, Tuple, TypedDict

import gevent
from gevent.pool import Pool
from gevent.pywsgi import WSGIServer

from .. import bounded_json
from .brands import brand_of
from . import signing
from .money import Money, MoneyError
from .validation import CardError, validate_number

log = logging.getLogger(__name__)

APPROVE, SLOW, CHARGE_THEN_HANG, SERVER_ERROR = "approve", "slow", "charge-then-hang", "http-500"
CHARGE_THEN_STALL = "charge-then-stall"
TEST_CARDS = {
    "4111111111111111": APPROVE,
    "5555555555554444": APPROVE,
    "378282246310005": APPROVE,
    "4000000000009995": "insufficient_funds",
    "4000000000000002": "do_not_honour",
    "4000000000000069": "expired_card",
    "4000000000000259": SLOW,
    "4000000000000507": CHARGE_THEN_HANG,
    "4000000000000606": CHARGE_THEN_STALL,
    "4000000000005001": SERVER_ERROR,
}
DECLINE_TEXTS = {
    "insufficient_funds": "Insufficient funds.",
    "do_not_honour": "Do not honour.",
    "expired_card": "The card has expired.",
}
MAX_CONNECTIONS = 64
_KEY_PATH = re.compile(r"^/v1/authorizations/([A-Za-z0-9._:-]{1,64})$")
MAX_BODY = 64 * 1024

Answer = Tuple[int, Dict[str, Any]]   # HTTP status and JSON body
StartResponse = Callable[[str, List[Tuple[str, str]]], Any]


class _Entry(TypedDict):
    """What the sandbox holds under a key: a fingerprint of the body, never the body."""
    fingerprint: str
    answer: Optional[Dict[str, Any]]   # None while the request is still being answered
    code: int


class SandboxGateway:
    """``SandboxGateway(host="127.0.0.1", port=0).start()``; ``.url``; ``.charges``; ``.stop()``."""

    def __init__(self, host: str = "127.0.0.1", port: int = 0, secret: Optional[str] = None,
                 slow_seconds: float = 3.0, hang_seconds: float = 30.0,
                 certfile: Optional[str] = None, keyfile: Optional[str] = None) -> None:
        self.host, self.port = host, port
        self.secret = secret
        self.slow_seconds, self.hang_seconds = slow_seconds, hang_seconds
        self.certfile, self.keyfile = certfile, keyfile
        self._fingerprint_key = os.urandom(32)   # body fingerprints never hold card data
        self._by_key: Dict[str, _Entry] = {}
        self._charges: List[Dict[str, Any]] = []
        self.requests = 0
        self._server: Optional[WSGIServer] = None
        self.max_connections = MAX_CONNECTIONS

    # -- lifecycle -----------------------------------------------------------------------
    def start(self) -> "SandboxGateway":
        tls: Dict[str, Any] = {}
        if self.certfile:
            context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            context.load_cert_chain(self.certfile, self.keyfile)
            tls = {"ssl_context": context}
        # A pool, so that stop() kills handlers still sleeping (slow and hanging cards)
        # and keep-alive connections, instead of leaving them to outlive the sandbox.
        self._server = WSGIServer((self.host, self.port), self.app, log=None,
                                  error_log=log, spawn=Pool(self.max_connections), **tls)
        self._server.start()
        self.port = self._server.server_port
        return self

    def stop(self, timeout: float = 0.2) -> None:
        if self._server is not None:
            self._server.stop(timeout=timeout)
            self._server = None

    def __enter__(self) -> "SandboxGateway":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def url(self) -> str:
        scheme = "https" if self.certfile else "http"
        host = "[%s]" % self.host if ":" in self.host else self.host
        return "%s://%s:%d" % (scheme, host, self.port)

    @property
    def charges(self) -> List[Dict[str, Any]]:
        """Every charge made, oldest first: key, amount, currency, reference, brand, BIN, last4."""
        return [dict(c) for c in self._charges]

    def charges_for(self, idempotency_key: str) -> List[Dict[str, Any]]:
        return [c for c in self.charges if c["idempotency_key"] == idempotency_key]

    # -- the WSGI app ----------------------------------------------------------------------
    def app(self, environ: Dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        self.requests += 1
        method, path = environ["REQUEST_METHOD"], environ.get("PATH_INFO", "")
        try:
            length = int(environ.get("CONTENT_LENGTH") or 0)
        except ValueError:
            length = 0
        body = environ["wsgi.input"].read(length) if 0 < length <= MAX_BODY else b""
        answer: Dict[str, Any]
        if length > MAX_BODY:
            status, answer = 413, {"error": "too_large"}
        elif self.secret and not signing.verify(
                self.secret, environ.get("HTTP_X_TIMESTAMP"), environ.get("HTTP_X_SIGNATURE"), body):
            status, answer = 401, {"error": "bad_signature"}
        elif method == "POST" and path == "/v1/authorizations":
            status, answer = self._authorize(body)
        elif method == "GET" and (key := _KEY_PATH.match(path)):
            status, answer = self._status(key.group(1))
        elif method == "GET" and path == "/v1/charges":
            status, answer = 200, {"charges": self.charges}
        else:
            status, answer = 404, {"error": "not_found"}
        payload = json.dumps(answer).encode()
        start_response("%d %s" % (status, _REASONS.get(status, "Status")),
                       [("Content-Type", "application/json"),
                        ("Content-Length", str(len(payload)))])
        return [payload]

    def _status(self, key: str) -> Answer:
        entry = self._by_key.get(key)
        if entry is None:
            return 404, {"error": "unknown_key"}
        if entry["answer"] is None:
            return 200, {"status": "pending", "idempotency_key": key}
        return entry["code"], entry["answer"]

    def _authorize(self, body: bytes) -> Answer:
        try:
            request = bounded_json.loads(body)
            key = request["idempotency_key"]
            money = Money.parse(request["amount"]["value"], request["amount"]["currency"])
            card = request["card"]
            number = card["number"]
            reference = str(request.get("reference", ""))
        except (ValueError, KeyError, TypeError, MoneyError):
            return 400, {"error": "malformed_request"}
        if not isinstance(key, str) or not 8 <= len(key) <= 64:
            return 400, {"error": "bad_idempotency_key"}
        fingerprint = hmac.new(self._fingerprint_key, body, hashlib.sha256).hexdigest()
        existing = self._by_key.get(key)
        if existing is not None:
            if existing["fingerprint"] != fingerprint:
                return 409, {"error": "idempotency_key_reused"}
            if existing["answer"] is None:
                return 409, {"error": "in_progress"}
            return existing["code"], existing["answer"]
        try:
            validate_number(number)
        except CardError as error:
            return 422, {"error": error.error_type}
        behaviour = TEST_CARDS.get(number, APPROVE)
        if behaviour == SERVER_ERROR:
            return 500, {"error": "internal"}
        masked = {"brand": brand_of(number), "bin": number[:6], "last4": number[-4:]}
        del number, card, request
        entry: _Entry = {"fingerprint": fingerprint, "answer": None, "code": 200}
        self._by_key[key] = entry
        if behaviour == SLOW:
            gevent.sleep(self.slow_seconds)
        if behaviour in DECLINE_TEXTS:
            answer = {"status": "declined", "idempotency_key": key,
                      "reason_code": behaviour, "reason_text": DECLINE_TEXTS[behaviour]}
        elif behaviour == CHARGE_THEN_STALL:
            answer = self._charge(key, money, reference, masked)
            gevent.sleep(self.hang_seconds)   # charged, but status() says pending until now
        else:
            answer = self._charge(key, money, reference, masked)
        entry["answer"] = answer
        if behaviour == CHARGE_THEN_HANG:
            gevent.sleep(self.hang_seconds)
        return entry["code"], answer

    def _charge(self, key: str, money: Money, reference: str,
                masked: Dict[str, Optional[str]]) -> Dict[str, Any]:
        auth_code = "".join(secrets.choice("ABCDEFGHJKLMNPQRSTUVWXYZ23456789") for _ in range(6))
        transaction_id = "sbx_" + secrets.token_hex(8)
        self._charges.append({"idempotency_key": key, "amount": money.minor,
                              "currency": money.currency, "reference": reference,
                              "card": masked, "auth_code": auth_code,
                              "transaction_id": transaction_id, "at": time.time()})
        log.info("sandbox charge key=%s amount=%s card=%s %s...%s", key, money,
                 masked["brand"], masked["bin"], masked["last4"])
        return {"status": "approved", "idempotency_key": key, "auth_code": auth_code,
                "transaction_id": transaction_id}


_REASONS = {200: "OK", 400: "Bad Request", 401: "Unauthorized", 404: "Not Found",
            409: "Conflict", 413: "Payload Too Large", 422: "Unprocessable Entity", 500: "Internal Server Error"}
