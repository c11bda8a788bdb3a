"""The ``sandbox`` gateway type: the generic HTTP connector pointed at the local test gateway.

The sandbox server itself (test cards, charges kept masked) is ``orchestrator.payments.sandbox``;
this module only knows its address layout, ``<url>/v1/authorizations``,
``<url>/v1/authorizations/{key}`` and its technical cancel ``<url>/v1/authorizations/{key}/cancel``,
its refunds and voids ``<url>/v1/authorizations/{key}/refunds`` and ``.../void`` and the
refunds' status ``<url>/v1/refunds/{key}``,
and that it needs no signing secret (it checks one when given).
"""
from typing import Any, Dict

from .http import HttpGateway
from .registry import register


class SandboxConnector(HttpGateway):
    type_name = "sandbox"


def build(name: str, settings: Dict[str, Any]) -> SandboxConnector:
    settings = dict(settings)
    base = str(settings.pop("url", "")).rstrip("/")
    return SandboxConnector(name, base + "/v1/authorizations",
                            status_url=base + "/v1/authorizations/{key}",
                            cancel_url=base + "/v1/authorizations/{key}/cancel",
                            refund_url=base + "/v1/authorizations/{key}/refunds",
                            void_url=base + "/v1/authorizations/{key}/void",
                            refund_status_url=base + "/v1/refunds/{key}",
                            card_on_file=True, tokenize_url=base + "/v1/tokens",
                            token_url=base + "/v1/tokens/{token}",
                            require_secret=False, **settings)


register("sandbox", factory=build, required=("url",),
         card_on_file=lambda settings: ("besides", "instead", "charge"),
         properties={"url": {"type": "string"}, "secret": {"type": "string"}})
