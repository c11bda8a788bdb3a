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
"""
from typing import Any, Dict

MIN_EXPIRY, MAX_EXPIRY, DEFAULT_EXPIRY = 300, 30 * 86400, 86400
_POSITIVE = {"type": "number", "exclusiveMinimum": 0}
_COMMON: Dict[str, Any] = {
    "url": {"type": "string", "minLength": 1, "maxLength": 200},
    "secret": {"type": "string", "minLength": 16},
    "expires_after": {"type": "integer", "minimum": MIN_EXPIRY, "maximum": MAX_EXPIRY},
}
PAYMENT_LINKS_SCHEMA: Dict[str, Any] = {
    "type": "object",
    "propertyNames": {"pattern": "^[A-Za-z0-9_-]{1,40}$"},
    "additionalProperties": {
        "type": "object", "required": ["type", "url", "secret"],
        "properties": {"type": {"enum": ["template", "hosted_page"]}},
        "allOf": [
            {"if": {"properties": {"type": {"const": "template"}}},
             "then": {"additionalProperties": False,
                      "properties": dict(_COMMON, type={"const": "template"})}},
            {"if": {"properties": {"type": {"const": "hosted_page"}}},
             "then": {"additionalProperties": False,
                      "properties": dict(_COMMON, type={"const": "hosted_page"},
                                         connect_timeout=_POSITIVE, read_timeout=_POSITIVE,
                                         verify={"oneOf": [{"const": True},
                                                           {"type": "string", "minLength": 1}]})}},
        ],
    },
}
