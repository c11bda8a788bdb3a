"""The audit log of the agent API: one line per request, on the logger ``orchestrator.audit``.

PCI DSS 10.2 wants who did what to which payment, from where, and with what result. The
access log (``orchestrator.http.access``) cannot say it: it sees a route label and a status,
not the principal. So the API writes, for every request under ``/api/v1`` but the public
OpenAPI document, one line with these fields (absent when not known):

    action    start, cancel, recapture, complete, charge (the agent-started charge), read
              (one session), list, watch (the event stream opened), reload, languages, calls
              (the agent's calls listed: detail gives how many), payment (one payment read),
              refund, void, whoami (the token's own principal), or ``none`` for a path the
              API does not serve
    tenant    the token's tenant; agent: its agent (absent for a tenant-wide token; both
              absent when no valid token was given)
    source    the peer's address as the HTTP server saw it (a proxy in front shows as itself)
    method, path   as requested, the query string left out (the events URL carries a token)
    session, call, agent_leg   the session and the legs it was about
    payment   the payment a refund, void or read was about
    status    the HTTP status answered; error: the error code of a refusal
    detail    the action's own words: amount, mode and flow of a start, the field asked
              again, the destination of a complete, the amount and attempt of a charge

Lines are INFO for answers below 400 and WARNING otherwise. They go through the same
redacting handlers as every other line (``logs.py`` redacts structured fields too), and
nothing in them is taken from a request unchecked but the path, which is redacted and cut.
A token never appears: a failed authentication is logged as ``unauthorized`` alone.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Dict, Optional

from orchestrator.logs import LOG_FIELDS

if TYPE_CHECKING:  # pragma: no cover
    from wsgiref.types import WSGIEnvironment

    from .settings import Principal

log = logging.getLogger("orchestrator.audit")

MAX_PATH = 200
UNROUTED = "none"
# handler name -> the action the audit line names
ACTIONS = {"create_session": "start", "cancel": "cancel", "recapture": "recapture",
           "complete": "complete", "get_session": "read", "list_sessions": "list",
           "events": "watch", "reload": "reload", "list_languages": "languages",
           "get_payment": "payment", "refund_payment": "refund", "void_payment": "void",
           "list_calls": "calls", "me": "whoami", "charge": "charge",
           "list_cards": "cards", "delete_card": "card_delete"}


@dataclass
class AuditEntry:
    """What one request did, filled in as it is served; ``write`` logs it once."""

    method: str
    path: str
    source: str
    action: str = UNROUTED
    principal: Optional["Principal"] = None
    session: Optional[str] = None
    call: Optional[str] = None
    agent_leg: Optional[str] = None
    payment: Optional[str] = None
    detail: Optional[str] = None
    written: bool = False

    @classmethod
    def of_request(cls, environ: "WSGIEnvironment") -> "AuditEntry":
        path = str(environ.get("SCRIPT_NAME", "")) + str(environ.get("PATH_INFO") or "/")
        return cls(method=str(environ.get("REQUEST_METHOD", "-"))[:16],
                   path=path[:MAX_PATH], source=str(environ.get("REMOTE_ADDR") or "-"))

    def write(self, status: int, error: Optional[str] = None) -> None:
        if self.written:
            return
        self.written = True
        principal = self.principal
        fields: Dict[str, Any] = {
            "action": self.action, "agent": principal.agent if principal else None,
            "source": self.source, "method": self.method, "path": self.path,
            "agent_leg": self.agent_leg, "payment": self.payment, "status": status, "error": error, "detail": self.detail}
        extra: Dict[str, Any] = {LOG_FIELDS: {k: v for k, v in fields.items() if v is not None}}
        # tenant, call and session as the log's own context keys: one search follows a call
        # through the flow's lines and the audit's alike
        for key, value in (("tenant", principal.tenant if principal else None),
                           ("call", self.call), ("session", self.session)):
            if value is not None:
                extra[key] = value
        log.log(logging.INFO if status < 400 else logging.WARNING, "%s %d%s", self.action,
                status, " " + error if error else "", extra=extra)
