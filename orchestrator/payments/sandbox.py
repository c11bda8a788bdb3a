"""A real HTTP card gateway for demos and tests: a gevent WSGI app on a loopback port.

It speaks the generic connector's default JSON (``gateways.http``), is idempotent on the key
(the same key always gets the same answer and never a second charge), optionally checks the
HMAC signature, and keeps a record of every charge holding only brand, BIN and last four. Its
test cards (``sandbox_cards``) choose approvals, declines and the faults of a real acquirer's
path: server errors, a load balancer's 502/504 while the acquirer charges, resets, a status
endpoint that lags or is slow. ``charges`` is the truth the fault bench checks the books with.

API:
  POST /v1/authorizations        {"idempotency_key", "amount": {"value", "currency"},
                                  "reference", "card": {"number", "expiry_month",
                                  "expiry_year", "security_code", "postal_code"}}
        -> 200 {"status": "approved", "auth_code", "transaction_id", "amount", "card"}
           200 {"status": "declined", "reason_code", "reason_text", "amount", "card"}
           409 same key with a different body, or still in progress; 400/401/422 refused
           (422 too for a key that was cancelled); 413 a body over MAX_BODY. A body nested
           deeper than ``bounded_json.MAX_DEPTH`` is malformed (400), never a RecursionError.
           ``amount`` and ``card`` (brand, BIN, last four) say what the decision was for.
  GET  /v1/authorizations/<key>  -> 200 the stored answer, 200 {"status": "pending"},
                                    200 {"status": "cancelled"}, or 404
  POST /v1/authorizations/<key>/cancel
        -> 200 {"status": "cancelled", "reversed": false}: no record, and the key is refused
           from now on; {"reversed": true}: what was charged under it is reversed. A declined
           key answers its decline. The technical cancel a client sends when it cannot learn
           the outcome (``orchestrator reconcile``).
  GET  /v1/charges               -> 200 {"charges": [...]}  (for tests: masked records only)

its stored cards (``sandbox_tokens.py``: ``/v1/tokens``, ``"store_card": true`` and
``"card_token"`` in an authorization),

its refunds and voids (``sandbox_refunds.py``: ``/v1/authorizations/<key>/refunds``,
``/v1/authorizations/<key>/void``, ``/v1/refunds/<refund key>``),

and the hosted payment pages of pay-by-link (``sandbox_links.py``: ``/v1/payment_links`` and
``/pay/<id>``), signed with ``link_secret``, their webhooks sent to ``link_webhook_url``.
"""
import errno
import hashlib
import hmac
import json
import logging
import os
import re
import secrets
import socket
import struct
import time
from typing import Any, Callable, Dict, Iterable, List, NoReturn, Optional, Tuple, TypedDict

import gevent
from gevent.pywsgi import WSGIHandler

from .. import bounded_json
from ..loopback_server import LoopbackServer
from . import sandbox_cards as cards
from .brands import brand_of
from . import signing
from .money import Money, MoneyError
from .sandbox_links import HostedPages
from .sandbox_refunds import SandboxRefunds
from .sandbox_tokens import SandboxTokens
from .validation import CardError, validate_number

log = logging.getLogger(__name__)

# The cards by behaviour (orchestrator/payments/README.md lists them).
TEST_CARDS = {number: behaviour.name for number, behaviour in cards.TEST_CARDS.items()}
MAX_CONNECTIONS = 64
_KEY_PATH = re.compile(r"^/v1/authorizations/([A-Za-z0-9._:-]{1,64})$")
_CANCEL_PATH = re.compile(r"^/v1/authorizations/([A-Za-z0-9._:-]{1,64})/cancel$")
_REVERSAL_PATH = re.compile(r"^/v1/authorizations/([A-Za-z0-9._:-]{1,64})/(refunds|void)$")
_REFUND_PATH = re.compile(r"^/v1/refunds/([A-Za-z0-9._:-]{1,64})$")
MAX_BODY = 64 * 1024
_RESET = "sandbox.reset"

Answer = Tuple[int, Dict[str, Any]]   # HTTP status and JSON body
StartResponse = Callable[[str, List[Tuple[str, str]]], Any]


class _Entry(TypedDict):
    """What the sandbox holds under a key: a fingerprint of the body, never the body."""
    fingerprint: str
    answer: Optional[Dict[str, Any]]   # None while the request is still being answered
    code: int
    behaviour: cards.Behaviour
    charged_at: Optional[float]        # when the acquirer charged under this key
    cancelled: bool


class _Reset(Exception):
    """Raised by the app to drop the connection without an answer (a reset)."""


class _ResettingHandler(WSGIHandler):
    """A handler the app can tell to reset the connection (RST, no answer), as a load
    balancer or a dying acquirer does."""

    def get_environ(self) -> Dict[str, Any]:
        environ = super().get_environ()
        environ[_RESET] = self._reset
        return environ

    def _reset(self) -> NoReturn:
        sock = self.socket
        if sock is not None:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            sock.close()
        # pywsgi takes a reset connection as the client gone, quietly
        raise ConnectionResetError(errno.ECONNRESET, "reset by the sandbox")


class SandboxGateway:
    """``SandboxGateway(host="127.0.0.1", port=0).start()``; ``.url``; ``.charges``; ``.stop()``.

    ``on_authorization(key)`` is called as each authorization request arrives, before it is
    acted on (the fault bench kills the service there: a death mid-request)."""

    def __init__(self, host: str = "127.0.0.1", port: int = 0, secret: Optional[str] = None,
                 slow_seconds: float = 3.0, hang_seconds: float = 30.0,
                 certfile: Optional[str] = None, keyfile: Optional[str] = None,
                 acquirer_seconds: float = 0.5, lag_seconds: float = 2.0,
                 status_delay: float = 5.0,
                 on_authorization: Optional[Callable[[str], None]] = None,
                 link_secret: Optional[str] = None,
                 link_webhook_url: Optional[str] = None,
                 settle_seconds: float = 86400.0) -> None:
        self.host, self.port = host, port
        self.links = HostedPages(link_secret, link_webhook_url)
        self.secret = secret
        self.slow_seconds, self.hang_seconds = slow_seconds, hang_seconds
        self.acquirer_seconds, self.lag_seconds = acquirer_seconds, lag_seconds
        self.status_delay = status_delay
        self.on_authorization = on_authorization
        self.certfile, self.keyfile = certfile, keyfile
        self._fingerprint_key = os.urandom(32)   # body fingerprints never hold card data
        self._by_key: Dict[str, _Entry] = {}
        self._charges: List[Dict[str, Any]] = []
        # refunds and voids of those charges; settled (no longer voidable) after settle_seconds
        self.reversals = SandboxRefunds(self._charges, settle_seconds, hang_seconds)
        self.vault = SandboxTokens()   # stored cards: tokens issued, charged, deleted
        self.requests = 0
        self._http: Optional[LoopbackServer] = None
        self.max_connections = MAX_CONNECTIONS

    # -- lifecycle -----------------------------------------------------------------------
    def start(self) -> "SandboxGateway":
        # stop() kills handlers still sleeping (slow and hanging cards) and the acquirer's
        # late charges, which run in the same pool
        self._http = LoopbackServer(self.host, self.port, self.certfile, self.keyfile)
        self.port = self._http.start(self.app, self.max_connections, log,
                                     handler_class=_ResettingHandler)
        return self

    def stop(self, timeout: float = 0.2) -> None:
        if self._http is not None:
            self._http.stop(timeout=timeout)
            self._http = None

    def __enter__(self) -> "SandboxGateway":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def url(self) -> str:
        return LoopbackServer(self.host, self.port, self.certfile).url

    @property
    def charges(self) -> List[Dict[str, Any]]:
        """Every charge made, oldest first: key, amount, currency, reference, brand, BIN,
        last4, and ``reversed`` once a cancel of its key reversed it."""
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
        elif self.links.handles(path):   # signed with their own secret, or the payer's page
            status, answer = self.links.answer(method, path, environ, body, self.url)
        elif self.secret and not signing.verify(
                self.secret, environ.get("HTTP_X_TIMESTAMP"), environ.get("HTTP_X_SIGNATURE"), body):
            status, answer = 401, {"error": "bad_signature"}
        elif method == "POST" and path == "/v1/authorizations":
            try:
                status, answer = self._authorize(body)
            except _Reset:
                reset: Callable[[], NoReturn] = environ[_RESET]
                reset()
        elif method == "GET" and (key := _KEY_PATH.match(path)):
            status, answer = self._status(key.group(1))
        elif method == "POST" and (key := _CANCEL_PATH.match(path)):
            status, answer = self._cancel(key.group(1))
        elif method == "POST" and (found := _REVERSAL_PATH.match(path)):
            kind = "refund" if found.group(2) == "refunds" else "void"
            status, answer = self.reversals.answer(kind, found.group(1), body)
        elif method == "GET" and (found := _REFUND_PATH.match(path)):
            status, answer = self.reversals.status(found.group(1))
        elif method == "POST" and path == "/v1/tokens":
            try:
                status, answer = self.vault.tokenize(bounded_json.loads(body))
            except ValueError:
                status, answer = 400, {"error": "malformed_request"}
        elif method == "DELETE" and (found := _TOKEN_PATH.match(path)):
            status, answer = self.vault.delete(found.group(1))
        elif method == "GET" and path == "/v1/charges":
            status, answer = 200, {"charges": self.charges}
        else:
            status, answer = 404, {"error": "not_found"}
        payload = json.dumps(answer).encode()
        start_response("%d %s" % (status, _REASONS.get(status, "Status")),
                       [("Content-Type", "application/json"),
                        ("Content-Length", str(len(payload)))])
        return [payload]

    # -- status and cancel -------------------------------------------------------------------
    def _status(self, key: str) -> Answer:
        entry = self._by_key.get(key)
        if entry is None:
            return 404, {"error": "unknown_key"}
        behaviour, charged_at = entry["behaviour"], entry["charged_at"]
        recent = charged_at is None or time.time() < charged_at + self.lag_seconds
        if behaviour.lagging_status and recent and not entry["cancelled"]:
            return 404, {"error": "unknown_key"}   # the status replica has not seen it yet
        if behaviour.slow_status and recent:
            gevent.sleep(self.status_delay)
        if entry["cancelled"]:
            return 200, {"status": "cancelled", "idempotency_key": key}
        if entry["answer"] is None:
            return 200, {"status": "pending", "idempotency_key": key}
        return entry["code"], entry["answer"]

    def _cancel(self, key: str) -> Answer:
        entry = self._by_key.get(key)
        if entry is None:
            self._by_key[key] = {"fingerprint": "", "answer": None, "code": 200,
                                 "behaviour": cards.APPROVE, "charged_at": None, "cancelled": True}
            log.info("sandbox cancel key=%s: no record, the key is closed", key)
            return 200, {"status": "cancelled", "idempotency_key": key, "reversed": False}
        answer = entry["answer"]
        if not entry["cancelled"] and answer is not None and answer.get("status") == "declined":
            return entry["code"], answer
        entry["cancelled"] = True
        reversed_now = False
        for charge in self._charges:
            if charge["idempotency_key"] == key and not charge["reversed"]:
                charge["reversed"] = True
                reversed_now = True
        reversed_any = any(c["idempotency_key"] == key for c in self._charges)
        log.info("sandbox cancel key=%s: %s", key, "charge reversed" if reversed_now
                 else "closed")
        return 200, {"status": "cancelled", "idempotency_key": key, "reversed": reversed_any}

    # -- authorizations ----------------------------------------------------------------------
    def _authorize(self, body: bytes) -> Answer:
        try:
            request = bounded_json.loads(body)
            key = request["idempotency_key"]
            money = Money.parse(request["amount"]["value"], request["amount"]["currency"])
            token = request.get("card_token")
            card = request["card"] if token is None else None
            number = card["number"] if card is not None else ""
            expiry = (str(card.get("expiry_month", "")), str(card.get("expiry_year", ""))) \
                if card is not None else ("", "")
            store_card = request.get("store_card") is True
            reference = str(request.get("reference", ""))
        except (ValueError, KeyError, TypeError, AttributeError, MoneyError):
            return 400, {"error": "malformed_request"}
        if not isinstance(key, str) or not 8 <= len(key) <= 64:
            return 400, {"error": "bad_idempotency_key"}
        if self.on_authorization is not None:
            self.on_authorization(key)
        fingerprint = hmac.new(self._fingerprint_key, body, hashlib.sha256).hexdigest()
        existing = self._by_key.get(key)
        if existing is not None:
            return self._again(existing, fingerprint)
        if token is not None:   # a stored card's charge: the vault's card, or nothing
            stored = self.vault.card_of(token)
            if stored is None:
                return 422, {"error": "unknown_token"}
            behaviour, masked = cards.APPROVE, stored
        else:
            try:
                validate_number(number)
            except CardError as error:
                return 422, {"error": error.error_type}
            behaviour = cards.behaviour_of(number)
            masked = {"brand": brand_of(number), "bin": number[:6], "last4": number[-4:]}
        del number, card, request
        if behaviour.acquirer == cards.NOTHING:
            return self._fail(behaviour.reply)
        entry: _Entry = {"fingerprint": fingerprint, "answer": None, "code": 200,
                         "behaviour": behaviour, "charged_at": None, "cancelled": False}
        self._by_key[key] = entry
        if behaviour.slow:
            gevent.sleep(self.slow_seconds)
            if entry["cancelled"]:       # cancelled while the acquirer was slow: never charged
                return self._settled(entry, {"idempotency_key": key})
        facts = {"amount": {"value": money.minor, "currency": money.currency}, "card": masked}
        if behaviour.acquirer == cards.DECLINE:
            reason = behaviour.decline_reason
            return self._settled(entry, dict(facts, status="declined", idempotency_key=key,
                                             reason_code=reason,
                                             reason_text=cards.DECLINE_TEXTS[reason]))
        if behaviour.charge_later:   # the load balancer gave up; the acquirer goes on
            assert self._http is not None and self._http.pool is not None
            self._http.pool.spawn(self._charge_later, key, entry, money, reference, masked)
            return self._fail(behaviour.reply)
        answer = self._charge(key, entry, money, reference, masked)
        if store_card:
            answer["card_token"] = self.vault.issue(masked, *expiry)
        if behaviour.reply == cards.STALL:
            gevent.sleep(self.hang_seconds)   # charged, but status() says pending until now
        self._settled(entry, answer)
        if behaviour.reply == cards.HANG:
            gevent.sleep(self.hang_seconds)
        if behaviour.reply in (cards.HTTP_502, cards.RESET):
            return self._fail(behaviour.reply)
        return entry["code"], entry["answer"] or answer

    def _again(self, entry: _Entry, fingerprint: str) -> Answer:
        """A request under a key already seen: refused if the key was cancelled or holds
        another body, the same failure on a path that keeps failing, else the stored answer
        (or in progress)."""
        if entry["cancelled"]:
            return 422, {"error": "key_cancelled"}
        if entry["fingerprint"] != fingerprint:
            return 409, {"error": "idempotency_key_reused"}
        reply = entry["behaviour"].reply
        if reply in (cards.HTTP_502, cards.RESET) and entry["answer"] is not None:
            return self._fail(reply)
        if entry["answer"] is None:
            return 409, {"error": "in_progress"}
        return entry["code"], entry["answer"]

    def _charge_later(self, key: str, entry: _Entry, money: Money, reference: str,
                      masked: Dict[str, Optional[str]]) -> None:
        gevent.sleep(self.acquirer_seconds)
        if not entry["cancelled"]:
            self._settled(entry, self._charge(key, entry, money, reference, masked))

    @staticmethod
    def _settled(entry: _Entry, answer: Dict[str, Any]) -> Answer:
        if entry["cancelled"]:
            answer = {"status": "cancelled", "idempotency_key": answer["idempotency_key"]}
        entry["answer"] = answer
        return entry["code"], answer

    @staticmethod
    def _fail(reply: str) -> Answer:
        if reply == cards.RESET:
            raise _Reset()
        code = {cards.HTTP_500: 500, cards.HTTP_502: 502, cards.HTTP_504: 504}[reply]
        return code, {"error": "upstream" if code != 500 else "internal"}

    def _charge(self, key: str, entry: _Entry, money: Money, reference: str,
                masked: Dict[str, Optional[str]]) -> Dict[str, Any]:
        auth_code = "".join(secrets.choice("ABCDEFGHJKLMNPQRSTUVWXYZ23456789") for _ in range(6))
        transaction_id = "sbx_" + secrets.token_hex(8)
        entry["charged_at"] = time.time()
        self._charges.append({"idempotency_key": key, "amount": money.minor,
                              "currency": money.currency, "reference": reference,
                              "card": masked, "auth_code": auth_code,
                              "transaction_id": transaction_id, "at": entry["charged_at"],
                              "reversed": False})
        log.info("sandbox charge key=%s amount=%s card=%s %s...%s", key, money,
                 masked["brand"], masked["bin"], masked["last4"])
        return {"status": "approved", "idempotency_key": key, "auth_code": auth_code,
                "transaction_id": transaction_id,
                "amount": {"value": money.minor, "currency": money.currency}, "card": masked}


_TOKEN_PATH = re.compile(r"^/v1/tokens/([A-Za-z0-9_]{4,64})$")
_REASONS = {200: "OK", 201: "Created", 400: "Bad Request", 401: "Unauthorized", 404: "Not Found",
            405: "Method Not Allowed", 409: "Conflict", 410: "Gone", 413: "Payload Too Large",
            422: "Unprocessable Entity",
            500: "Internal Server Error", 502: "Bad Gateway", 504: "Gateway Timeout"}
