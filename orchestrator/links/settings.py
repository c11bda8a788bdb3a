"""The config's ``payment_links``: how each named kind of link is made and checked.

    payment_links:
      paylink:
        type: template                       # the URL is the template with the token put in
        url: "https://pay.example/{token}"
        secret: "at least sixteen characters"  # the webhook's HMAC key (payments/signing.py)
        expires_after: 86400                 # seconds a link can be paid (default one day)
      hosted:
        type: hosted_page                    # the gateway makes a page and returns its URL
        url: "https://gateway.example"       # POST {url}/v1/payment_links (sandbox's shape)
        secret: "..."

``{token}`` is the only placeholder a template may hold (nothing of the caller's or the
payment's reaches the URL but the random token). ``expires_after`` is bounded: 5 minutes to 30
days. The gateway's webhook for a link of ``paylink`` comes to ``/webhooks/links/paylink``.

A tenant's own entries sit in its block (``tenants.<name>.payment_links``: a list, each item a
top-level entry's name, granted, or an entry of the tenant's own with its ``name``), as its
gateways do; names are unique across the config, so the webhook's path names one entry, and
so one secret and the tenants that may use it (``orchestrator/tenancy``).

``link_expiry.interval`` (seconds, 1 to 3600, default 60) is how often ``orchestrator run``
declines the links that expired unpaid (``links/expiry.py``).
"""
from typing import Any, Dict

MIN_EXPIRY, MAX_EXPIRY, DEFAULT_EXPIRY = 300, 30 * 86400, 86400
_POSITIVE = {"type": "number", "exclusiveMinimum": 0}
_COMMON: Dict[str, Any] = {
    "url": {"type": "string", "minLength": 1, "maxLength": 200},
    "secret": {"type": "string", "minLength": 16},
    "expires_after": {"type": "integer", "minimum": MIN_EXPIRY, "maximum": MAX_EXPIRY},
}
LINK_NAME: Dict[str, Any] = {"type": "string", "pattern": "^[A-Za-z0-9_-]{1,40}$"}


def _entry(extra: Dict[str, Any], required: list) -> Dict[str, Any]:
    """One link entry's schema; ``extra`` the properties besides the link's own (a tenant's
    entries carry their ``name``, the top level's are keyed by it)."""
    return {
        "type": "object", "required": required + ["type", "url", "secret"],
        "properties": dict(extra, type={"enum": ["template", "hosted_page"]}),
        "allOf": [
            {"if": {"properties": {"type": {"const": "template"}}},
             "then": {"additionalProperties": False,
                      "properties": dict(_COMMON, type={"const": "template"}, **extra)}},
            {"if": {"properties": {"type": {"const": "hosted_page"}}},
             "then": {"additionalProperties": False,
                      "properties": dict(_COMMON, type={"const": "hosted_page"},
                                         connect_timeout=_POSITIVE, read_timeout=_POSITIVE,
                                         verify={"oneOf": [{"const": True},
                                                           {"type": "string", "minLength": 1}]},
                                         **extra)}},
        ],
    }


PAYMENT_LINKS_SCHEMA: Dict[str, Any] = {
    "type": "object",
    "propertyNames": LINK_NAME,
    "additionalProperties": _entry({}, []),
}
# a tenant's own entry (``tenants.<name>.payment_links``): the same, with its name in it
NAMED_LINK_SCHEMA: Dict[str, Any] = _entry({"name": LINK_NAME}, ["name"])

# ``link_expiry``: how often the running service declines the links that expired unpaid
MIN_SWEEP, MAX_SWEEP, DEFAULT_SWEEP = 1, 3600, 60
LINK_EXPIRY_SCHEMA: Dict[str, Any] = {
    "type": "object", "additionalProperties": False,
    "description": "The running service declines (link_expired) the payment links past their "
                   "expiry that nobody paid, every interval seconds",
    "properties": {"interval": {"type": "number", "minimum": MIN_SWEEP, "maximum": MAX_SWEEP}},
}
