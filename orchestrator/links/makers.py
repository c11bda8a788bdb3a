"""Making a payment link's URL for a payment the journal holds, from a ``payment_links`` entry.

- ``template``: the entry's ``url`` with ``{token}`` replaced by the payment's token.
- ``hosted_page``: the gateway makes a hosted payment page: a JSON POST, signed
  (``payments/signing.py``, the entry's secret), to ``{url}/v1/payment_links``::

      {"token", "amount": {"value": <minor units>, "currency"}, "reference", "expires_at"}
      -> 200/201 {"url": "https://...", "id": "..."}

  as the sandbox gateway answers (``payments/sandbox_links.py``). The gateway reports the
  page paid to the webhook, naming the token. No answer in time is an error: the caller is
  not texted a link nobody can be sure exists.

Either way the URL must be one an SMS may carry (``sms/text.py``'s ``url``: https, or http to
a loopback sandbox, URL characters only, never card-like): LinkError otherwise.
"""
import json
from typing import Any, Dict, Mapping

from orchestrator.payments import signing
from orchestrator.payments.gateways.transport import (GatewayConfigError, JsonTransport,
                                                      NotReached, OutcomeUnknown, check_url)
from orchestrator.payments.money import Money
from orchestrator.sms.text import SHAPES, MAX_URL
from orchestrator.card_numbers import looks_like_card

from .settings import DEFAULT_EXPIRY

TOKEN_PLACEHOLDER = "{token}"
MAX_ANSWER = 16 * 1024


class LinkError(Exception):
    """No link: the gateway refused or did not answer, or the URL is not one to text."""


def checked_url(url: object, what: str) -> str:
    if (not isinstance(url, str) or len(url) > MAX_URL or not SHAPES["url"].match(url)
            or looks_like_card(url)):
        raise LinkError("%s is not a URL an SMS may carry" % what)
    return url


class LinkMaker:
    kind = ""

    def __init__(self, name: str, url: str, secret: str, expires_after: int = DEFAULT_EXPIRY) -> None:
        self.name, self.url, self.secret = name, url, secret
        self.expires_after = int(expires_after)

    def make(self, token: str, money: Money, reference: str, expires: float) -> str:
        raise NotImplementedError

    def close(self) -> None:
        pass


class TemplateMaker(LinkMaker):
    kind = "template"

    def __init__(self, name: str, url: str, secret: str, **options: Any) -> None:
        super().__init__(name, url, secret, **options)
        if url.count(TOKEN_PLACEHOLDER) != 1 or url.replace(TOKEN_PLACEHOLDER, "").count("{"):
            raise GatewayConfigError("payment_links.%s.url: a template holds {token} once and "
                                     "no other placeholder" % name)
        try:
            checked_url(url.replace(TOKEN_PLACEHOLDER, "t"), "payment_links.%s.url" % name)
        except LinkError as error:
            raise GatewayConfigError(str(error)) from None

    def make(self, token: str, money: Money, reference: str, expires: float) -> str:
        return checked_url(self.url.replace(TOKEN_PLACEHOLDER, token), "the link")


class HostedPageMaker(LinkMaker):
    kind = "hosted_page"

    def __init__(self, name: str, url: str, secret: str, connect_timeout: float = 2.0,
                 read_timeout: float = 5.0, verify: Any = True, **options: Any) -> None:
        super().__init__(name, check_url(url, "payment_links.%s.url" % name), secret, **options)
        self.transport = JsonTransport(verify, connect_timeout, read_timeout, MAX_ANSWER, 8)

    def make(self, token: str, money: Money, reference: str, expires: float) -> str:
        body = json.dumps({"token": token, "reference": reference, "expires_at": int(expires),
                           "amount": {"value": money.minor, "currency": money.currency}},
                          separators=(",", ":")).encode("utf-8")
        headers = dict(signing.signed_headers(self.secret, body),
                       **{"Content-Type": "application/json"})
        try:
            reply = self.transport.call("POST", self.url.rstrip("/") + "/v1/payment_links", body, headers)
        except (NotReached, OutcomeUnknown) as failure:
            raise LinkError("the gateway made no page: %s" % failure.detail) from None
        if reply.status not in (200, 201) or not isinstance(reply.data, dict):
            raise LinkError("the gateway made no page: HTTP %d" % reply.status)
        return checked_url(reply.data.get("url"), "the gateway's page URL")

    def close(self) -> None:
        self.transport.close()


_MAKERS = {"template": TemplateMaker, "hosted_page": HostedPageMaker}


def build_makers(entries: Mapping[str, Mapping[str, Any]]) -> Dict[str, LinkMaker]:
    """Each (schema-checked) ``payment_links`` entry's maker; GatewayConfigError when unusable."""
    makers: Dict[str, LinkMaker] = {}
    for name, settings in (entries or {}).items():
        options = {k: v for k, v in settings.items() if k != "type"}
        makers[name] = _MAKERS[settings["type"]](name, **options)
    return makers
