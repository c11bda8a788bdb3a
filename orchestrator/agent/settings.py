"""The ``agent_api`` config section: who may call the API, where agents get callers back.

A token is bound to a tenant (``default`` when it names none: a single-tenant site) and,
optionally, to one agent: an agent-scoped token acts only on calls bridged to that agent's leg
and sees only their sessions, a tenant-wide one (a supervisor's) every call and session of the
tenant. Whose a call is comes from the switch, never from the request (``ownership.py``).
``destinations`` lists, per tenant, where ``complete`` may send a caller; nothing else is
reachable through the API, so a token cannot dial out through the switch. A tenant with a block
under ``tenants`` writes its tokens, destinations, webhook and agents there; the config loader
puts them here, keyed by tenant (``orchestrator/tenancy/settings.py``).

``config_problems`` checks what the schema cannot: each token once, every tenant named here
listed under ``tenants``, every pattern a regular expression.
"""
from __future__ import annotations

import hmac
import re
from dataclasses import dataclass
from typing import (TYPE_CHECKING, Any, Collection, Dict, Iterable, List, Mapping, Optional,
                    Sequence, Tuple)

from orchestrator.tenants import DEFAULT_TENANT

if TYPE_CHECKING:  # pragma: no cover
    from .sessions import PaymentSession

_name = {"type": "string", "pattern": "^[A-Za-z0-9_.-]{1,64}$"}
_extension = {"type": "string", "pattern": "^[A-Za-z0-9_+*#.-]{1,64}$"}
_context = {"type": "string", "pattern": "^[A-Za-z0-9_.-]{1,64}$"}
_destination = {
    "type": "object", "additionalProperties": False, "required": ["context"],
    "oneOf": [{"required": ["extension"]}, {"required": ["pattern"]}],
    "properties": {"extension": _extension, "context": _context,
                   "pattern": {"type": "string", "minLength": 1,
                               "description": "a regular expression the whole extension must match"}}}

AGENT_API_SCHEMA: Dict[str, Any] = {
    "type": "object", "additionalProperties": False,
    "properties": {
        "tokens": {"type": "array", "items": {
            "type": "object", "additionalProperties": False, "required": ["token"],
            "properties": {"token": {"type": "string", "minLength": 16},
                           "tenant": _name, "agent": _name,
                           "admin": {"type": "boolean", "default": False,
                                     "description": "the site operator's token: may also reload "
                                                    "the flows and catalogs (POST /admin/reload); "
                                                    "names no tenant and no agent"},
                           "refund": {"type": "boolean", "default": False,
                                      "description": "may refund and void the tenant's "
                                                     "approved payments (POST /payments/{id}/"
                                                     "refund, /void); an agent-scoped token "
                                                     "only those of its own calls"}}}},
        "agents": {"type": "object", "additionalProperties": {
            "type": "object", "additionalProperties": False, "required": ["extension"],
            "properties": {"extension": _extension, "context": _context}}},
        "destinations": {
            "type": "object", "propertyNames": _name,
            "description": "per tenant: where `complete` may send a caller (to: extension or "
                           "queue), as extension + context pairs or patterns; nothing else",
            "additionalProperties": {"type": "array", "items": _destination}},
        "webhooks": {"type": "object", "additionalProperties": {
            "type": "object", "additionalProperties": False, "required": ["url", "secret"],
            "properties": {"url": {"type": "string", "pattern": "^https?://"},
                           "secret": {"type": "string", "minLength": 16},
                           "timeout": {"type": "number", "exclusiveMinimum": 0, "maximum": 60,
                                       "description": "seconds a request may take in all"},
                           "max_attempts": {"type": "integer", "minimum": 1, "maximum": 1000,
                                            "description": "give a callback up after this many "
                                                           "failed attempts (default: retried "
                                                           "until max_age)"},
                           "queue_size": {"type": "integer", "minimum": 1, "maximum": 1000000,
                                          "description": "callbacks pending for this receiver; "
                                                         "past it they are dropped and counted"},
                           "workers": {"type": "integer", "minimum": 1, "maximum": 16,
                                       "description": "deliveries to this receiver at once, "
                                                      "per instance"},
                           "max_age": {"type": "number", "exclusiveMinimum": 0,
                                       "maximum": 604800,
                                       "description": "seconds after which an undelivered "
                                                      "callback is given up (default 86400)"},
                           "backoff_base": {"type": "number", "exclusiveMinimum": 0,
                                            "maximum": 3600,
                                            "description": "the first retry's wait, doubling"},
                           "backoff_cap": {"type": "number", "exclusiveMinimum": 0,
                                           "maximum": 86400,
                                           "description": "the longest wait between attempts "
                                                          "(default 300)"},
                           "max_body": {"type": "integer", "minimum": 1024, "maximum": 1048576,
                                        "description": "bytes; a longer body is not stored "
                                                       "(default 65536)"}}}},
        "hold": {"enum": ["music", "release"],
                 "description": "transfer mode: the agent hears hold music, or is released"},
        "hold_music": {"type": "string", "minLength": 1,
                       "description": "what is played to a held agent's leg (a file or a tone_stream)"},
        "charge_timeout": {"type": "number", "minimum": 5, "maximum": 3600,
                           "description": "seconds a flow holds a complete card for the agent's "
                                          "charge (\"charge\": \"agent\"); then the card is "
                                          "wiped and nothing is charged (default 180)"},
        "charge_answer_wait": {"type": "number", "exclusiveMinimum": 0, "maximum": 300,
                               "description": "seconds POST .../charge waits for the gateway's "
                                              "answer before it answers with the session still "
                                              "authorizing (default 60)"},
    },
}


@dataclass(frozen=True)
class Principal:
    """Who is calling: a tenant, and an agent when the token is agent-scoped."""

    tenant: str
    agent: Optional[str] = None
    admin: bool = False     # may reload the flows and catalogs (the site operator's token)
    refund: bool = False    # may refund and void payments (agent/payments_api.py)

    def may_act_on(self, tenant: str, agent: Optional[str]) -> bool:
        """A call or session of ``tenant`` whose agent is ``agent`` (None: no agent's) is
        this principal's: the tenant's, and the agent's own when the token is agent-scoped."""
        return tenant == self.tenant and (self.agent is None or agent == self.agent)

    def may_see(self, session: "PaymentSession") -> bool:
        return self.may_act_on(session.tenant, session.agent)


class DuplicateToken(ValueError):
    """Two entries of ``agent_api.tokens`` hold the same token: one of them would never count."""


class TokenTable:
    """Bearer token -> Principal, compared in constant time. A token given twice is refused:
    with a first-or-last-wins rule, one of the two principals would silently get the other's
    rights (or lose its own)."""

    def __init__(self, entries: Iterable[Mapping[str, str]]) -> None:
        self._entries: List[Tuple[bytes, Principal]] = []
        for index, entry in enumerate(entries):
            secret = entry["token"].encode("utf-8")
            for earlier, (other, _) in enumerate(self._entries):
                if hmac.compare_digest(secret, other):
                    raise DuplicateToken("agent_api.tokens[%d].token: the same token as "
                                         "agent_api.tokens[%d]; each token must be unique"
                                         % (index, earlier))
            self._entries.append((secret, Principal(entry.get("tenant", DEFAULT_TENANT),
                                                    entry.get("agent"),
                                                    bool(entry.get("admin", False)),
                                                    bool(entry.get("refund", False)))))

    def __bool__(self) -> bool:
        return bool(self._entries)

    def lookup(self, token: Optional[str]) -> Optional[Principal]:
        if not token:
            return None
        given = token.encode("utf-8", "replace")
        found = None
        for secret, principal in self._entries:
            if hmac.compare_digest(secret, given):
                found = principal
        return found


class Destinations:
    """Where ``complete`` may send a tenant's caller: ``allows(tenant, extension, context)``."""

    def __init__(self, by_tenant: Mapping[str, Sequence[Mapping[str, str]]]) -> None:
        self._rules: Dict[str, List[Tuple[Optional[str], Optional["re.Pattern[str]"], str]]] = {
            tenant: [(rule.get("extension"),
                      re.compile(rule["pattern"]) if "pattern" in rule else None, rule["context"])
                     for rule in rules]
            for tenant, rules in by_tenant.items()}

    def allows(self, tenant: str, extension: str, context: str) -> bool:
        for exact, pattern, allowed_context in self._rules.get(tenant, []):
            if context != allowed_context:
                continue
            if exact is not None and extension == exact:
                return True
            if pattern is not None and pattern.fullmatch(extension):
                return True
        return False


def agent_target(settings: Mapping[str, Any], tenant: str,
                 agent: Optional[str]) -> Optional[Mapping[str, str]]:
    """Where ``agent`` of ``tenant`` takes callers back (``extension``, ``context``), or None.
    A tenant with a block under ``tenants`` has its own agents (``agents_by_tenant``, written
    by the config loader from ``tenants.<name>.agents``); the others share ``agents``."""
    if not agent:
        return None
    by_tenant = settings.get("agents_by_tenant") or {}
    agents = by_tenant[tenant] if tenant in by_tenant else settings.get("agents") or {}
    found: Optional[Mapping[str, str]] = agents.get(agent)
    return found


def destinations_key(settings: Mapping[str, Any], tenant: str) -> str:
    """Where the config writes ``tenant``'s destinations, for messages: its block's, when it
    has one (every tenant with a block is in ``agents_by_tenant``), else ``agent_api``'s."""
    if tenant in (settings.get("agents_by_tenant") or {}):
        return "tenants.%s.destinations" % tenant
    return "agent_api.destinations.%s" % tenant


def config_problems(settings: Mapping[str, Any], tenants: Collection[str]) -> List[str]:
    """What is wrong with a schema-valid ``agent_api`` section, as ``key: message`` lines."""
    problems: List[str] = []
    known = set(tenants) | {DEFAULT_TENANT}
    listed = "is not listed under tenants (%s)" % (", ".join(sorted(tenants)) or "none")
    tokens = settings.get("tokens") or []
    seen: Dict[str, int] = {}
    for index, entry in enumerate(tokens):
        if entry["token"] in seen:
            problems.append("agent_api.tokens[%d].token: the same token as agent_api.tokens[%d]; "
                            "each token must be unique" % (index, seen[entry["token"]]))
        seen.setdefault(entry["token"], index)
        tenant = entry.get("tenant", DEFAULT_TENANT)
        if tenant not in known:
            problems.append("agent_api.tokens[%d].tenant: %s %s" % (index, tenant, listed))
        if entry.get("admin") and (tenant != DEFAULT_TENANT or entry.get("agent")):
            problems.append("agent_api.tokens[%d].admin: an admin token reloads every tenant's "
                            "flows, so it names no tenant and no agent" % index)
    for tenant, rules in (settings.get("destinations") or {}).items():
        if tenant not in known:
            problems.append("agent_api.destinations.%s: %s %s" % (tenant, tenant, listed))
        for index, rule in enumerate(rules):
            if "pattern" in rule:
                try:
                    re.compile(rule["pattern"])
                except re.error as exc:
                    problems.append("agent_api.destinations.%s[%d].pattern: not a regular "
                                    "expression: %s" % (tenant, index, exc))
    return problems
