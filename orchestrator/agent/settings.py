"""The ``agent_api`` config section: who may call the API, where agents get callers back.

A token is bound to a tenant and, optionally, to one agent: an agent-scoped token sees only
that agent's sessions, a tenant-wide one (a supervisor's) every session of the tenant.
"""
from __future__ import annotations

import hmac
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Dict, Iterable, List, Mapping, Optional, Tuple

if TYPE_CHECKING:  # pragma: no cover
    from .sessions import PaymentSession

_name = {"type": "string", "pattern": "^[A-Za-z0-9_.-]{1,64}$"}

AGENT_API_SCHEMA: Dict[str, Any] = {
    "type": "object", "additionalProperties": False,
    "properties": {
        "tokens": {"type": "array", "items": {
            "type": "object", "additionalProperties": False, "required": ["token", "tenant"],
            "properties": {"token": {"type": "string", "minLength": 16},
                           "tenant": _name, "agent": _name}}},
        "agents": {"type": "object", "additionalProperties": {
            "type": "object", "additionalProperties": False, "required": ["extension"],
            "properties": {"extension": {"type": "string", "pattern": "^[A-Za-z0-9_+*#.-]{1,64}$"},
                           "context": {"type": "string", "pattern": "^[A-Za-z0-9_.-]{1,64}$"}}}},
        "webhooks": {"type": "object", "additionalProperties": {
            "type": "object", "additionalProperties": False, "required": ["url", "secret"],
            "properties": {"url": {"type": "string", "pattern": "^https?://"},
                           "secret": {"type": "string", "minLength": 16},
                           "timeout": {"type": "number", "exclusiveMinimum": 0},
                           "max_attempts": {"type": "integer", "minimum": 1, "maximum": 20},
                           "queue_size": {"type": "integer", "minimum": 1, "maximum": 100000,
                                          "description": "notices waiting for this receiver; "
                                                         "past it they are dropped and counted"},
                           "workers": {"type": "integer", "minimum": 1, "maximum": 16,
                                       "description": "deliveries to this receiver at once"}}}},
        "hold": {"enum": ["music", "release"],
                 "description": "transfer mode: the agent hears hold music, or is released"},
        "hold_music": {"type": "string", "minLength": 1,
                       "description": "what is played to a held agent's leg (a file or a tone_stream)"},
    },
}


@dataclass(frozen=True)
class Principal:
    """Who is calling: a tenant, and an agent when the token is agent-scoped."""

    tenant: str
    agent: Optional[str] = None

    def may_see(self, session: "PaymentSession") -> bool:
        return session.tenant == self.tenant and (self.agent is None or session.agent == self.agent)


class TokenTable:
    """Bearer token -> Principal, compared in constant time."""

    def __init__(self, entries: Iterable[Mapping[str, str]]) -> None:
        self._entries: List[Tuple[bytes, Principal]] = [(entry["token"].encode("utf-8"),
                          Principal(entry["tenant"], entry.get("agent"))) for entry in entries]

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
