"""One HTTPS JSON web service a flow may ask (a CRM): signed, bounded in time and size, retried.

``WebService.call(path, payload)`` POSTs ``payload`` as JSON to the service's base URL joined
with ``path`` and answers an ``Answer`` whose ``outcome`` is what a flow branches on:

- ``ok``: a 2xx answer holding a JSON document (``data``);
- ``not-found``: 404 (the service does not know who or what was asked for);
- ``timeout``: no answer within ``read_timeout``, on the last attempt;
- ``error``: anything else: refused or unreachable, a TLS failure, 5xx, another 4xx, a body
  that is not JSON, larger than ``max_answer_bytes`` or nested deeper than ``max_depth``.

The body is signed like the generic gateway connector's requests (``payments/signing.py``:
``X-Timestamp`` and ``X-Signature: v1=<hex HMAC-SHA256>``) when a ``secret`` is configured, and
carries an ``Idempotency-Key`` that stays the same across the retries of one call: a lookup is
safe to repeat, and a service that acts on a request can see it is the same one. Up to
``max_attempts`` attempts are made, ``backoff * 2^(n-1)`` apart (``orchestrator/backoff.py``),
for what may pass (unreachable, a timeout, 5xx, 429); a 404, another 4xx, an unreadable 2xx
body or a TLS failure are answered at once: asking again would get the same. The transport
(``payments/gateways/transport.py``) verifies certificates, allows plain HTTP only to loopback,
follows no redirect and ignores proxy settings from the environment.
"""
from __future__ import annotations

import json
import urllib.parse
import uuid
from dataclasses import dataclass, field
from typing import Any, Callable, Dict, Mapping, Optional, Union

import gevent

from orchestrator import backoff
from orchestrator.payments import signing
from orchestrator.payments.gateways.transport import (GatewayConfigError, JsonTransport,
                                                      NotReached, OutcomeUnknown, check_url)

OUTCOMES = ("ok", "not-found", "error", "timeout")
_POSITIVE = {"type": "number", "exclusiveMinimum": 0}
WEB_SERVICE_SCHEMA: Dict[str, Any] = {
    "type": "object",
    "required": ["name", "url"],
    "additionalProperties": False,
    "properties": {
        "name": {"type": "string", "pattern": "^[A-Za-z0-9_.-]+$"},
        "url": {"type": "string", "description": "base URL: https://, or http:// to loopback"},
        "secret": {"type": "string", "minLength": 16,
                   "description": "HMAC key that signs each request body; ${env:NAME} allowed"},
        "connect_timeout": dict(_POSITIVE, default=2.0),
        "read_timeout": dict(_POSITIVE, default=4.0),
        "max_attempts": {"type": "integer", "minimum": 1, "maximum": 5, "default": 2},
        "backoff": {"type": "number", "minimum": 0, "maximum": 5, "default": 0.2},
        "verify": {"oneOf": [{"const": True}, {"type": "string", "minLength": 1}], "default": True},
        "max_answer_bytes": {"type": "integer", "minimum": 64, "maximum": 1048576, "default": 65536},
        "max_depth": {"type": "integer", "minimum": 1, "maximum": 32, "default": 8},
        "max_list_items": {"type": "integer", "minimum": 1, "maximum": 500, "default": 50},
        "max_text_chars": {"type": "integer", "minimum": 1, "maximum": 4096, "default": 200},
    },
}
WEB_SERVICES_SCHEMA: Dict[str, Any] = {"type": "array", "items": WEB_SERVICE_SCHEMA}


@dataclass(frozen=True)
class ServiceLimits:
    """What a flow takes of an answer (``mapping.py`` applies them)."""

    max_list_items: int = 50
    max_text_chars: int = 200


@dataclass(frozen=True)
class Answer:
    outcome: str                 # one of OUTCOMES
    data: Any = None             # the JSON document, with ``ok``
    status: int = 0              # the last HTTP status (0: none came)
    detail: str = ""             # why, for the log: never the answer's own text
    attempts: int = 1


@dataclass
class WebService:
    name: str
    url: str
    secret: Optional[str] = None
    connect_timeout: float = 2.0
    read_timeout: float = 4.0
    max_attempts: int = 2
    backoff: float = 0.2
    verify: Union[bool, str] = True
    max_answer_bytes: int = 65536
    max_depth: int = 8
    limits: ServiceLimits = field(default_factory=ServiceLimits)
    sleep: Callable[[float], None] = gevent.sleep

    def __post_init__(self) -> None:
        check_url(self.url, "web service %s: url" % self.name)
        self.transport = JsonTransport(self.verify, self.connect_timeout, self.read_timeout,
                                       self.max_answer_bytes, self.max_depth)

    @classmethod
    def from_settings(cls, settings: Mapping[str, Any]) -> "WebService":
        """From one entry of the config's ``web_services`` (schema-checked, defaults filled)."""
        values = {k: v for k, v in settings.items() if k not in ("max_list_items", "max_text_chars")}
        limits = ServiceLimits(settings.get("max_list_items", 50), settings.get("max_text_chars", 200))
        return cls(limits=limits, **values)

    def endpoint(self, path: str) -> str:
        """The base URL joined with ``path`` (each segment already quoted by the caller)."""
        if not path:
            return self.url
        return self.url.rstrip("/") + "/" + path.lstrip("/")

    def call(self, path: str, payload: Mapping[str, Any]) -> Answer:
        body = json.dumps(payload, separators=(",", ":"), ensure_ascii=True).encode("ascii")
        url, key = self.endpoint(path), str(uuid.uuid4())
        answer = Answer("error", detail="no attempt made")
        for attempt in range(1, self.max_attempts + 1):
            answer, again = self._attempt(url, body, key, attempt)
            if not again or attempt == self.max_attempts:
                return answer
            self.sleep(backoff.exponential(attempt, self.backoff))
        return answer

    def _attempt(self, url: str, body: bytes, key: str, attempt: int):
        """(the answer of one attempt, whether another may answer better)."""
        headers = {"Content-Type": "application/json", "Accept": "application/json",
                   "Idempotency-Key": key}
        if self.secret:
            headers.update(signing.signed_headers(self.secret, body))
        try:
            reply = self.transport.call("POST", url, body, headers)
        except NotReached as failure:
            return Answer("error", detail=failure.detail, attempts=attempt), failure.retryable
        except OutcomeUnknown as failure:
            outcome = "timeout" if failure.kind == "timeout" else "error"
            return Answer(outcome, detail=failure.detail, attempts=attempt), True
        status = reply.status
        if status == 404:
            return Answer("not-found", status=status, detail="404", attempts=attempt), False
        if status >= 500 or status == 429:
            return Answer("error", status=status, detail="HTTP %d" % status, attempts=attempt), True
        if not 200 <= status < 300:
            return Answer("error", status=status, detail="HTTP %d" % status, attempts=attempt), False
        if reply.data is None:
            why = reply.unreadable or "an empty body"
            return Answer("error", status=status, detail="answer unreadable: %s" % why,
                          attempts=attempt), False
        return Answer("ok", reply.data, status, attempts=attempt), False

    def close(self) -> None:
        self.transport.close()


def quote_segment(value: str) -> str:
    """A flow value as one URL path segment: nothing in it can add a segment or a query."""
    return urllib.parse.quote(value, safe="")


def build_services(entries: Any, key: str = "web_services") -> Dict[str, WebService]:
    """Every web service of a config list, by name; GatewayConfigError names a bad one."""
    services: Dict[str, WebService] = {}
    for index, settings in enumerate(entries or []):
        name = settings["name"]
        if name in services:
            raise GatewayConfigError("%s[%d].name: a second web service named %s" % (key, index, name))
        services[name] = WebService.from_settings(settings)
    return services
