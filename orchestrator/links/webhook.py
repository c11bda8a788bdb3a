"""``POST /webhooks/links/<name>``: a gateway tells the service a payment link was paid.

``<name>`` is the ``payment_links`` entry that made the link (a top-level one or a tenant's own:
names are unique across the config, so the path names one entry); its ``secret`` signs the notice
(``payments/signing.py``: ``X-Signature: v1=<hex HMAC of timestamp.body>``, ``X-Timestamp``
within ``signing.MAX_SKEW_SECONDS`` of now). In order, before anything is read or written:

- not POST: 405; an entry nobody configured: 404;
- a body over ``MAX_WEBHOOK_BODY`` bytes: 413, never read (the server's own ``http``
  ``max_body_bytes`` bounds it before this, and larger); not JSON: 415;
- a missing, wrong or stale signature: 401;
- a body that is not a notice (``settle.parse``): 400;

then ``settle.settle`` answers (200 settled or a repeat, 404 an unknown token, a token another
entry made, or a payment of a tenant that does not hold the entry; 409 flagged). So a notice
signed with one tenant's secret never settles another tenant's payment: on the other's path
its signature is wrong (401), on its own path the other's token is not its entry's (404).
The token is never logged; the log names the entry, the payment and the answer.
"""
import logging
from typing import Any, Callable, Dict, FrozenSet, Iterable, Mapping, Optional

from orchestrator import bounded_json
from orchestrator.payments import signing
from orchestrator.store.links import PaymentLinks
from orchestrator.web import json_response

from .makers import LinkMaker
from .settle import NoticeError, parse, settle

log = logging.getLogger("orchestrator.links")
MAX_WEBHOOK_BODY = 8 * 1024
PREFIX = "/webhooks/links"
_STATUS = {200: "200 OK", 400: "400 Bad Request", 401: "401 Unauthorized", 404: "404 Not Found",
           405: "405 Method Not Allowed", 409: "409 Conflict", 413: "413 Payload Too Large",
           415: "415 Unsupported Media Type"}


class LinkWebhooks:
    """The WSGI app mounted at ``PREFIX``; ``on_notice(name, http status)`` counts answers;
    ``tenants_of(name)`` is the tenants whose payments entry ``name`` may settle (None: any,
    on a site without tenant blocks)."""

    def __init__(self, links: PaymentLinks, makers: Mapping[str, LinkMaker],
                 on_notice: Optional[Callable[[str, int], None]] = None,
                 now: Callable[[], Optional[float]] = lambda: None,
                 tenants_of: Callable[[str], Optional[FrozenSet[str]]] = lambda name: None) -> None:
        self.links, self.makers = links, dict(makers)
        self.on_notice = on_notice
        self._now = now
        self._tenants_of = tenants_of

    def __call__(self, environ: Dict[str, Any], start_response: Any) -> Iterable[bytes]:
        name = (environ.get("PATH_INFO") or "/").strip("/")
        code, body = self._answer(name, environ)
        if self.on_notice is not None and name in self.makers:
            self.on_notice(name, code)
        headers = [("Allow", "POST")] if code == 405 else []
        return json_response(start_response, _STATUS[code], body, headers)

    def _answer(self, name: str, environ: Dict[str, Any]):
        if environ.get("REQUEST_METHOD") != "POST":
            return 405, {"error": "method_not_allowed"}
        maker = self.makers.get(name)
        if maker is None:
            return 404, {"error": "not_found"}
        try:
            length = int(environ.get("CONTENT_LENGTH") or 0)
        except ValueError:
            return 400, {"error": "bad_request", "message": "Content-Length is not a number"}
        if length > MAX_WEBHOOK_BODY:
            log.warning("payment link webhook %s: a %d-byte body refused (over %d)",
                        name, length, MAX_WEBHOOK_BODY)
            return 413, {"error": "too_large", "message": "at most %d bytes" % MAX_WEBHOOK_BODY}
        media = environ.get("CONTENT_TYPE", "").split(";", 1)[0].strip().lower()
        if media != "application/json":
            return 415, {"error": "unsupported_media_type"}
        raw = environ["wsgi.input"].read(length) if length else b""
        if not signing.verify(maker.secret, environ.get("HTTP_X_TIMESTAMP"),
                              environ.get("HTTP_X_SIGNATURE"), raw, now=self._now()):
            log.warning("payment link webhook %s: a bad or stale signature refused", name)
            return 401, {"error": "bad_signature"}
        try:
            notice = parse(bounded_json.loads(raw))
        except (ValueError, NoticeError) as error:
            message = str(error) if isinstance(error, NoticeError) else "the body is not JSON"
            return 400, {"error": "bad_request", "message": message}
        code, body = settle(self.links, name, notice, now=self._now(),
                            tenants=self._tenants_of(name))
        log.info("payment link webhook %s: %s notice answered %d%s", name, notice["event"], code,
                 " (%s)" % body["message"] if "message" in body else "")
        return code, body
