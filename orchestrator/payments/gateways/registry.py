"""Gateway types by name: each connector module registers its own settings and its factory.

    register("acme", properties={"url": {"type": "string"}, ...}, required=("url",),
             factory=lambda name, settings: AcmeGateway(name, **settings))

The config schema of the ``gateways:`` list (``gateways_schema``) and the factory
(``build_gateway``) are assembled from what is registered, so a new gateway type is one new
module in this package and nothing else: the package imports every module in it.
"""
from dataclasses import dataclass
from typing import Any, Callable, Dict, List, Mapping, Optional, Sequence, Tuple

from .base import Gateway
from .transport import GatewayConfigError

# settings (without name and type) -> a ready gateway; raises GatewayConfigError
Factory = Callable[[str, Dict[str, Any]], Gateway]

NAME = {"type": "string", "pattern": "^[A-Za-z0-9_.-]+$"}
_POSITIVE = {"type": "number", "exclusiveMinimum": 0}
# What every type takes: the retry and reconciliation policy of ``Gateway`` and the
# certificate check of the transport.
COMMON_PROPERTIES: Dict[str, Any] = {
    "connect_timeout": _POSITIVE,
    "read_timeout": _POSITIVE,
    "max_attempts": {"type": "integer", "minimum": 1, "maximum": 10},
    "backoff": {"type": "number", "minimum": 0},
    "status_attempts": {"type": "integer", "minimum": 1, "maximum": 20},
    "status_interval": {"type": "number", "minimum": 0},
    # true, or the path of a CA bundle; false is refused
    "verify": {"oneOf": [{"const": True}, {"type": "string", "minLength": 1}]},
}


@dataclass(frozen=True)
class GatewayType:
    """One ``type:`` a gateway in the config may have."""

    name: str
    properties: Mapping[str, Any]   # JSON Schema of its own settings, beside COMMON_PROPERTIES
    required: Tuple[str, ...]
    factory: Factory
    # the card-on-file modes (tokens.MODES) a gateway of this type offers with these settings
    card_on_file: Callable[[Mapping[str, Any]], Tuple[str, ...]] = lambda settings: ()


_TYPES: Dict[str, GatewayType] = {}


def register(name: str, *, properties: Mapping[str, Any], factory: Factory,
             required: Sequence[str] = (),
             card_on_file: Optional[Callable[[Mapping[str, Any]], Tuple[str, ...]]] = None) -> None:
    """Make gateway type ``name`` known; a module registers its type once, when imported.
    ``card_on_file``: the modes of ``tokens.MODES`` a gateway of the type offers given its
    settings (what ``validate`` checks a flow's ``store_card`` and ``card_token`` against)."""
    existing = _TYPES.get(name)
    if existing is not None and existing.factory is not factory:
        raise ValueError("gateway type %r registered twice" % name)
    _TYPES[name] = GatewayType(name, dict(properties), tuple(required), factory,
                               card_on_file or (lambda settings: ()))


def card_on_file_modes(settings: Mapping[str, Any]) -> Tuple[str, ...]:
    """The card-on-file modes a configured gateway (its settings, with ``type``) offers."""
    type_name = settings.get("type")
    kind = _TYPES.get(type_name) if isinstance(type_name, str) else None
    return kind.card_on_file(settings) if kind is not None else ()


def gateway_types() -> Dict[str, GatewayType]:
    """Every registered type, sorted by name (the order of the schema and of messages)."""
    return dict(sorted(_TYPES.items()))


def gateways_schema() -> Dict[str, Any]:
    """JSON Schema of the service config's ``gateways:`` list: a name, a registered type, and
    exactly the settings that type takes."""
    types = gateway_types()
    type_property = {"enum": list(types)}
    common = dict(COMMON_PROPERTIES, name=NAME, type=type_property)
    return {
        "type": "array",
        "items": {
            "type": "object",
            "required": ["name", "type"],
            "properties": {"name": NAME, "type": type_property},
            "allOf": [
                {"if": {"properties": {"type": {"const": kind.name}}},
                 "then": {"required": list(kind.required), "additionalProperties": False,
                          "properties": dict(common, **kind.properties)}}
                for kind in types.values()],
        },
    }


def build_gateway(name: str, config: Mapping[str, Any]) -> Gateway:
    """Build the gateway called ``name``.

    ``config`` is either the service config (a mapping with a ``gateways`` list, secrets
    already resolved from ``${env:NAME}``) or that one gateway's settings. Raises
    GatewayConfigError for an unknown name or unusable settings (an http:// URL to a host that
    is not loopback, a bad Redsys key, ...).
    """
    found = _find(name, config)
    type_name = found.get("type")
    kind = _TYPES.get(type_name) if isinstance(type_name, str) else None
    if kind is None:
        raise GatewayConfigError("gateway %s: type must be %s" % (name, _one_of(list(gateway_types()))))
    return kind.factory(name, {k: v for k, v in found.items() if k not in ("name", "type")})


def _find(name: str, config: Mapping[str, Any]) -> Mapping[str, Any]:
    if not hasattr(config, "get"):
        raise GatewayConfigError("gateway %s: config must be a mapping" % name)
    gateways = config.get("gateways") if "type" not in config else None
    if gateways is None:
        return config
    for item in gateways:
        if item.get("name") == name:
            return item
    raise GatewayConfigError("no gateway named %r in the config" % (name,))


def _one_of(names: List[str]) -> str:
    return names[0] if len(names) == 1 else "%s or %s" % (", ".join(names[:-1]), names[-1])
