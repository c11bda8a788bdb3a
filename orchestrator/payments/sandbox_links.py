"""The sandbox gateway's hosted payment pages: pay-by-link for the demo and the tests.

Served by ``SandboxGateway`` (``sandbox.py``) on its own port, beside the card API:

  POST /v1/payment_links   signed with ``link_secret`` (payments/signing.py)
        {"token", "amount": {"value", "currency"}, "reference", "expires_at"}
        -> 201 {"id", "url"}: a page at ``<sandbox>/pay/<id>``; the same token again gets the
           same page. 401 unsigned or badly signed, 400 not a request.
  GET  /pay/<id>           -> 200 the page (what is to be paid), 404, 410 expired
  POST /pay/<id>           the payer pays on the page (the sandbox takes no card: a page that
                           is paid is paid) -> the signed webhook ``{"token", "event": "paid",
                           "amount", "auth_code", "transaction_id"}`` is posted to
                           ``link_webhook_url``; 200 {"status": "paid", "webhook": <its HTTP
                           status>}. Posting again sends the same notice again, as a gateway
                           retrying its webhook does. After ``expires_at`` the notice is
                           ``expired`` and the answer 410.

Page ids and auth codes are letters only, so nothing here can look like a card number.
"""
import json
import secrets
import string
import time
from dataclasses import dataclass
from typing import Any, Callable, Dict, Optional, Tuple

import requests

from . import signing

_LETTERS = string.ascii_lowercase
WEBHOOK_TIMEOUT = (2.0, 5.0)


@dataclass
class Page:
    id: str
    token: str
    value: int
    currency: str
    reference: str
    expires_at: float
    auth_code: str
    paid: bool = False


def _letters(count: int, alphabet: str = _LETTERS) -> str:
    return "".join(secrets.choice(alphabet) for _ in range(count))


class HostedPages:
    """Pages by id; ``secret`` checks the create requests and signs the webhooks."""

    def __init__(self, secret: Optional[str] = None, webhook_url: Optional[str] = None) -> None:
        self.secret, self.webhook_url = secret, webhook_url
        self.pages: Dict[str, Page] = {}
        self.webhooks_sent = 0

    def handles(self, path: str) -> bool:
        return path == "/v1/payment_links" or path.startswith("/pay/")

    def answer(self, method: str, path: str, environ: Dict[str, Any], body: bytes,
               base_url: str) -> Tuple[int, Dict[str, Any]]:
        if method == "POST" and path == "/v1/payment_links":
            return self._create(environ, body, base_url)
        page = self.pages.get(path[len("/pay/"):])
        if page is None:
            return 404, {"error": "no such page"}
        if method == "GET":
            if time.time() > page.expires_at:
                return 410, {"error": "expired"}
            return 200, {"page": "Pay %d %s (minor units) for %s" % (page.value, page.currency,
                                                                   page.reference),
                         "paid": page.paid}
        if method == "POST":
            return self.pay(page.id)
        return 405, {"error": "method not allowed"}

    def _create(self, environ: Dict[str, Any], body: bytes, base_url: str) -> Tuple[int, Dict[str, Any]]:
        if not self.secret or not signing.verify(self.secret, environ.get("HTTP_X_TIMESTAMP"),
                                                 environ.get("HTTP_X_SIGNATURE"), body):
            return 401, {"error": "bad_signature"}
        try:
            data = json.loads(body)
            token, amount = str(data["token"]), data["amount"]
            value, currency = int(amount["value"]), str(amount["currency"])
            reference, expires_at = str(data.get("reference", "")), float(data["expires_at"])
        except (ValueError, KeyError, TypeError):
            return 400, {"error": "not a payment link request"}
        for page in self.pages.values():
            if page.token == token:
                return 201, {"id": page.id, "url": "%s/pay/%s" % (base_url, page.id)}
        page = Page(_letters(20), token, value, currency, reference[:64], expires_at,
                    _letters(6, string.ascii_uppercase))
        self.pages[page.id] = page
        return 201, {"id": page.id, "url": "%s/pay/%s" % (base_url, page.id)}

    def pay(self, page_id: str) -> Tuple[int, Dict[str, Any]]:
        """The payer pays page ``page_id`` (or, once it expired, the gateway says so)."""
        page = self.pages[page_id]
        expired = time.time() > page.expires_at and not page.paid
        notice: Dict[str, Any] = {"token": page.token, "event": "expired" if expired else "paid",
                                  "amount": {"value": page.value, "currency": page.currency},
                                  "transaction_id": "sbx_link_" + page.id}
        if not expired:
            page.paid = True
            notice["auth_code"] = page.auth_code
        status = self.send_webhook(notice)
        return (410 if expired else 200), {"status": notice["event"], "webhook": status}

    def send_webhook(self, notice: Dict[str, Any],
                     post: Callable[..., Any] = requests.post) -> int:
        """Post ``notice``, signed, to ``webhook_url``; its HTTP status (0: not reached)."""
        if not self.webhook_url or not self.secret:
            return 0
        body = json.dumps(notice, separators=(",", ":")).encode("utf-8")
        headers = dict(signing.signed_headers(self.secret, body),
                       **{"Content-Type": "application/json"})
        self.webhooks_sent += 1
        try:
            return int(post(self.webhook_url, data=body, headers=headers,
                            timeout=WEBHOOK_TIMEOUT).status_code)
        except requests.RequestException:
            return 0
