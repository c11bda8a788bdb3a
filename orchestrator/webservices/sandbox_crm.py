"""A real HTTP CRM for demos and tests: customers, their lines and unpaid invoices.

A gevent WSGI app on a loopback port (HTTPS with a certificate) that answers what a
collections flow asks through ``call_service``, and checks the request's HMAC signature
(``payments/signing.py``) when it has a secret. Its customers choose the answers:

API:
  POST /customers/lookup   {"phone": "..."} or {"account": "..."}
        -> 200 {"id", "name", "lines": [{"number", "kind", "invoices": [{"number", "amount",
               "currency", "due"}]}]}   amounts in minor units, due dates YYYY-MM-DD
           404 {"error": "not_found"}   nobody with that phone or account
           503 for the phone OUTAGE_PHONE (a CRM that is down behind its load balancer)
           after SLOW_SECONDS for the phone SLOW_PHONE (a CRM too slow to wait for)
           401 a bad or stale signature; 400 a body that is not a JSON object; 413 over MAX_BODY
  POST /callbacks/payments   the service's status callbacks: a paid collections call's
        invoices marked paid and their lines reactivated, once per payment (``crm_notices.py``;
        ``notices`` holds what it did). Signed with ``callback_secret`` (``secret`` unless given).

``requests`` keeps every request's path and body (what the flow sent, for tests).
"""
from __future__ import annotations

import copy
import json
import logging
from typing import Any, Dict, List, Optional

import gevent

from .. import bounded_json
from ..loopback_server import LoopbackServer
from ..payments import signing
from .crm_notices import ROUTE as NOTICES_ROUTE, PaymentNotices

log = logging.getLogger(__name__)
MAX_BODY = 4096
OUTAGE_PHONE = "+15550000503"
SLOW_PHONE = "+15550000504"
SLOW_SECONDS = 30.0

CUSTOMERS: List[Dict[str, Any]] = [
    {"id": "C-1001", "name": "Ana Torres", "phone": "+34600111222", "account": "100200",
     "lines": [
         {"number": "600111222", "kind": "mobile", "invoices": [
             {"number": "2026110001", "amount": 2990, "currency": "EUR", "due": "2026-11-30"},
             {"number": "2026120001", "amount": 1500, "currency": "EUR", "due": "2026-12-15"}]},
         {"number": "910000000", "kind": "home internet", "invoices": [
             {"number": "2026120002", "amount": 3999, "currency": "EUR", "due": "2026-12-20"}]}]},
    {"id": "C-1002", "name": "Luis Gómez", "phone": "+34600333444", "account": "700123",
     "lines": [
         {"number": "600333444", "kind": "mobile", "invoices": [
             {"number": "2026120003", "amount": 1250, "currency": "EUR", "due": "2026-12-10"}]}]},
    {"id": "C-1003", "name": "Marta Ruiz", "phone": "+34600555666", "account": "300400",
     "lines": [{"number": "600555666", "kind": "mobile", "invoices": []}]},
]


class SandboxCrm:
    def __init__(self, host: str = "127.0.0.1", port: int = 0, secret: Optional[str] = None,
                 certfile: Optional[str] = None, keyfile: Optional[str] = None,
                 slow_seconds: float = SLOW_SECONDS,
                 customers: Optional[List[Dict[str, Any]]] = None,
                 callback_secret: Optional[str] = None) -> None:
        self.host, self.port, self.secret = host, port, secret
        self.certfile, self.keyfile = certfile, keyfile
        self.slow_seconds = slow_seconds
        self.customers = copy.deepcopy(CUSTOMERS if customers is None else customers)
        self.requests: List[Dict[str, Any]] = []
        self.notices = PaymentNotices(self.customers, callback_secret or secret)
        self._http: Optional[LoopbackServer] = None

    def start(self) -> "SandboxCrm":
        self._http = LoopbackServer(self.host, self.port, self.certfile, self.keyfile)
        self.port = self._http.start(self.app, 32, log)   # stop() kills the slow customer
        return self

    def stop(self, timeout: float = 0.2) -> None:
        if self._http is not None:
            self._http.stop(timeout=timeout)
            self._http = None

    @property
    def url(self) -> str:
        return LoopbackServer(self.host, self.port, self.certfile).url

    # -- the app ----------------------------------------------------------------------------
    def app(self, environ, start_response):
        status, answer = self._answer(environ)
        body = json.dumps(answer).encode("utf-8")
        start_response(status, [("Content-Type", "application/json"),
                                ("Content-Length", str(len(body)))])
        return [body]

    @property
    def callbacks_url(self) -> str:
        return self.url + NOTICES_ROUTE

    def _answer(self, environ):
        if environ["REQUEST_METHOD"] == "POST" and environ["PATH_INFO"] == NOTICES_ROUTE:
            return self.notices.handle(environ)
        if environ["REQUEST_METHOD"] != "POST" or environ["PATH_INFO"] != "/customers/lookup":
            return "404 Not Found", {"error": "no_such_route"}
        length = int(environ.get("CONTENT_LENGTH") or 0)
        if length > MAX_BODY:
            return "413 Payload Too Large", {"error": "too_large"}
        body = environ["wsgi.input"].read(length)
        if self.secret and not signing.verify(self.secret, environ.get("HTTP_X_TIMESTAMP"),
                                              environ.get("HTTP_X_SIGNATURE"), body):
            return "401 Unauthorized", {"error": "bad_signature"}
        try:
            asked = bounded_json.loads(body)
        except ValueError:
            asked = None
        if not isinstance(asked, dict):
            return "400 Bad Request", {"error": "not_an_object"}
        self.requests.append({"path": environ["PATH_INFO"], "body": asked})
        phone, account = str(asked.get("phone", "")), str(asked.get("account", ""))
        if phone == OUTAGE_PHONE:
            return "503 Service Unavailable", {"error": "unavailable"}
        if phone == SLOW_PHONE:
            gevent.sleep(self.slow_seconds)
        for customer in self.customers:
            if (phone and phone == customer["phone"]) or (account and account == customer["account"]):
                return "200 OK", {key: value for key, value in customer.items()
                                  if key not in ("phone", "account")}
        return "404 Not Found", {"error": "not_found"}
