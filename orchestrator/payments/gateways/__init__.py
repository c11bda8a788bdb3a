"""Payment gateways: one interface, several connectors, built from the service config.

    gateway = build_gateway("redsys", service_config)      # or the one gateway's own settings
    result = gateway.authorize(1250, "EUR", "order-42", card, idempotency_key)
    # Approved(auth_code, transaction_id) | Declined(reason_code, reason_text)
    # | GatewayError(kind, outcome_unknown)
    gateway.status(idempotency_key)   # the same result types, or None if never seen

Each connector is one module here that registers its ``type`` with its own settings' schema
and a factory (``registry.register``): ``sandbox`` (the local test gateway,
``orchestrator.payments.sandbox``), ``http`` (a generic signed HTTPS JSON connector) and
``redsys`` (Redsys REST, MOTO). Importing this package imports every module in it, so a new
type is a new file. ``GATEWAYS_SCHEMA`` is the JSON Schema for the service config's
``gateways:`` list, assembled from the registered types.
"""
import importlib
import pkgutil

from .base import Gateway
from .registry import build_gateway, gateways_schema
from .results import Approved, Declined, GatewayError, GatewayResult, DECLINE_TEXTS
from .transport import GatewayConfigError

for _module in sorted(pkgutil.iter_modules(__path__), key=lambda m: m.name):
    if not _module.name.startswith("_"):
        importlib.import_module(f"{__name__}.{_module.name}")

GATEWAYS_SCHEMA = gateways_schema()

__all__ = ["Gateway", "Approved", "Declined", "GatewayError", "GatewayResult",
           "GatewayConfigError", "build_gateway", "GATEWAYS_SCHEMA", "DECLINE_TEXTS"]
