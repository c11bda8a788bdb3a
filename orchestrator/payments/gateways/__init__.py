"""Payment gateways: one interface, several connectors, built from the service config.

    gateway = build_gateway("redsys", service_config)      # or the one gateway's own settings
    result = gateway.authorize(1250, "EUR", "order-42", card, idempotency_key)
    # Approved(auth_code, transaction_id) | Declined(reason_code, reason_text)
    # | GatewayError(kind, outcome_unknown)
    gateway.status(idempotency_key)   # the same result types, or None if never seen

Types: ``sandbox`` (the local test gateway, ``orchestrator.payments.sandbox``), ``http`` (a
generic signed HTTPS JSON connector) and ``redsys`` (Redsys REST, MOTO). ``GATEWAYS_SCHEMA`` is
the JSON Schema for the service config's ``gateways:`` list.
"""
from .base import Gateway
from .results import Approved, Declined, GatewayError, DECLINE_TEXTS
from .transport import GatewayConfigError

__all__ = ["Gateway", "Approved", "Declined", "GatewayError", "GatewayConfigError",
           "build_gateway", "GATEWAYS_SCHEMA", "DECLINE_TEXTS"]

_name = {"type": "string", "pattern": "^[A-Za-z0-9_.-]+$"}
_positive = {"type": "number", "exclusiveMinimum": 0}
_common = {
    "name": _name,
    "type": {"enum": ["sandbox", "http", "redsys"]},
    "connect_timeout": _positive,
    "read_timeout": _positive,
    "max_attempts": {"type": "integer", "minimum": 1, "maximum": 10},
    "backoff": {"type": "number", "minimum": 0},
    "status_attempts": {"type": "integer", "minimum": 1, "maximum": 20},
    "status_interval": {"type": "number", "minimum": 0},
    # true, or the path of a CA bundle; false is refused
    "verify": {"oneOf": [{"const": True}, {"type": "string", "minLength": 1}]},
}
_string_map = {"type": "object", "additionalProperties": {"type": "string"}}


def _then(required, **properties):
    return {"required": required, "additionalProperties": False,
            "properties": dict(_common, **properties)}


GATEWAYS_SCHEMA = {
    "type": "array",
    "items": {
        "type": "object",
        "required": ["name", "type"],
        "properties": {"name": _name, "type": _common["type"]},
        "allOf": [
            {"if": {"properties": {"type": {"const": "sandbox"}}},
             "then": _then(["url"], url={"type": "string"}, secret={"type": "string"})},
            {"if": {"properties": {"type": {"const": "http"}}},
             "then": _then(["url", "secret"], url={"type": "string"},
                           status_url={"type": "string"},
                           secret={"type": "string", "minLength": 16},
                           idempotent={"type": "boolean"},
                           idempotency_header={"type": "string"},
                           request_fields=_string_map,
                           response={"type": "object", "additionalProperties": False,
                                     "properties": {
                                         k: {"type": "string"} for k in (
                                             "status", "auth_code", "transaction_id",
                                             "reason_code", "reason_text")} | {
                                         k: {"type": "array", "items": {"type": "string"}}
                                         for k in ("approved", "declined", "pending")}})},
            {"if": {"properties": {"type": {"const": "redsys"}}},
             "then": _then(["merchant_code", "terminal", "secret_key"],
                           merchant_code={"type": ["string", "integer"]},
                           terminal={"type": ["string", "integer"]},
                           secret_key={"type": "string", "minLength": 1},
                           environment={"enum": ["test", "live"]},
                           url={"type": "string"},
                           moto={"type": "boolean"})},
        ],
    },
}


def build_gateway(name, config):
    """Build the gateway called ``name``.

    ``config`` is either the service config (a mapping with a ``gateways`` list, secrets
    already resolved from ``${env:NAME}``) or that one gateway's settings. Raises
    GatewayConfigError for an unknown name or unusable settings (an http:// URL to a host that
    is not loopback, a bad Redsys key, ...).
    """
    settings = _find(name, config)
    settings = {k: v for k, v in settings.items() if k not in ("name", "type")}
    kind = _find(name, config).get("type")
    if kind == "sandbox":
        from .http import HttpGateway
        base = str(settings.pop("url", "")).rstrip("/")
        gateway = HttpGateway(name, base + "/v1/authorizations",
                              status_url=base + "/v1/authorizations/{key}",
                              require_secret=False, **settings)
        gateway.type_name = "sandbox"
        return gateway
    if kind == "http":
        from .http import HttpGateway
        return HttpGateway(name, **settings)
    if kind == "redsys":
        from .redsys import RedsysGateway
        return RedsysGateway(name, **settings)
    raise GatewayConfigError("gateway %s: type must be sandbox, http or redsys" % name)


def _find(name, config):
    if not hasattr(config, "get"):
        raise GatewayConfigError("gateway %s: config must be a mapping" % name)
    gateways = config.get("gateways") if "type" not in config else None
    if gateways is None:
        return config
    for item in gateways:
        if item.get("name") == name:
            return item
    raise GatewayConfigError("no gateway named %r in the config" % (name,))
