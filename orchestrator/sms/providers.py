"""SMS providers: one ``send`` for every connector, built from the config's ``sms_providers``.

    provider = build_providers(config["sms_providers"])["sms"]
    result = provider.send("+34600111222", text, reference)   # SmsResult(outcome, message_id)

``outcome`` is ``sent``, ``error`` or ``timeout``. A message is sent at most once per ``send``
as far as this side can tell: a request that certainly did not leave (refused, unreachable) is
tried again up to ``max_attempts``, one that may have arrived (no answer in time, the
connection cut after sending) is not, since the caller would get two texts; it carries an
``Idempotency-Key`` (``http``) so a provider that honours one can drop a repeat.

Types:

- ``http``: a generic HTTPS provider: a JSON POST ``{"to", "text", "reference"}`` to ``url``,
  signed like the gateways' (``payments/signing.py``) when ``secret`` is set; any 2xx is sent,
  its ``id`` (if any) the message id.
- ``twilio``: Twilio's Messages API as documented: a form-encoded POST of ``To``, ``From`` (or
  ``MessagingServiceSid``) and ``Body`` to ``/2010-04-01/Accounts/{account_sid}/Messages.json``
  under ``base_url`` (https://api.twilio.com), with HTTP basic authentication (the account SID
  and auth token); the answer (201) is JSON whose ``sid`` is the message id.
- ``sink``: nothing leaves the process: messages are kept (the last ``keep`` of them) for the
  demo and the tests to read.
"""
from __future__ import annotations

import base64
import collections
import itertools
import json
import urllib.parse
import uuid
from dataclasses import dataclass
from typing import Any, Deque, Dict, Mapping, Optional, Tuple

from orchestrator.payments import signing
from orchestrator.payments.gateways.transport import (GatewayConfigError, JsonTransport,
                                                      NotReached, OutcomeUnknown, check_url)

_POSITIVE = {"type": "number", "exclusiveMinimum": 0}
_COMMON = {"name": {"type": "string", "pattern": "^[A-Za-z0-9_.-]+$"},
           "connect_timeout": _POSITIVE, "read_timeout": _POSITIVE,
           "max_attempts": {"type": "integer", "minimum": 1, "maximum": 5},
           "verify": {"oneOf": [{"const": True}, {"type": "string", "minLength": 1}]}}
_TYPES: Dict[str, Dict[str, Any]] = {
    "http": {"required": ["url"], "properties": {
        "url": {"type": "string"}, "secret": {"type": "string", "minLength": 16}}},
    "twilio": {"required": ["account_sid", "auth_token"], "properties": {
        "account_sid": {"type": "string", "pattern": "^AC[0-9a-fA-F]{32}$"},
        "auth_token": {"type": "string", "minLength": 16},
        "from": {"type": "string", "pattern": "^\\+[0-9]{6,15}$|^[A-Za-z0-9 ]{1,11}$"},
        "messaging_service_sid": {"type": "string", "pattern": "^MG[0-9a-fA-F]{32}$"},
        "base_url": {"type": "string"}}},
    "sink": {"required": [], "properties": {"keep": {"type": "integer", "minimum": 1, "maximum": 10000}}},
}
SMS_PROVIDERS_SCHEMA: Dict[str, Any] = {
    "type": "array",
    "items": {
        "type": "object", "required": ["name", "type"],
        "properties": {"name": _COMMON["name"], "type": {"enum": list(_TYPES)}},
        "allOf": [{"if": {"properties": {"type": {"const": kind}}},
                   "then": {"required": spec["required"], "additionalProperties": False,
                            "properties": dict(_COMMON, type={"const": kind}, **spec["properties"])}}
                  for kind, spec in _TYPES.items()],
    },
}
MAX_MESSAGE_ID = 64


@dataclass(frozen=True)
class SmsResult:
    outcome: str                 # sent | error | timeout
    message_id: str = ""
    detail: str = ""             # for the log: never the message text


class SmsProvider:
    name: str = ""

    def send(self, to: str, text: str, reference: str) -> SmsResult:
        raise NotImplementedError

    def close(self) -> None:
        pass


class _HttpBased(SmsProvider):
    """What ``http`` and ``twilio`` share: the transport and the once-only retry rule."""

    def __init__(self, name: str, url: str, connect_timeout: float = 2.0, read_timeout: float = 5.0,
                 max_attempts: int = 2, verify: Any = True) -> None:
        self.name = name
        self.url = check_url(url, "sms provider %s" % name)
        self.max_attempts = max_attempts
        self.transport = JsonTransport(verify, connect_timeout, read_timeout, 16 * 1024, 8)

    def _post(self, url: str, body: bytes, headers: Mapping[str, str], id_member: str) -> SmsResult:
        for attempt in range(1, self.max_attempts + 1):
            try:
                reply = self.transport.call("POST", url, body, headers)
            except NotReached as failure:
                if failure.retryable and attempt < self.max_attempts:
                    continue
                return SmsResult("error", detail=failure.detail)
            except OutcomeUnknown as failure:   # it may have been sent: never twice
                return SmsResult("timeout" if failure.kind == "timeout" else "error",
                                 detail="%s; not sent again" % failure.detail)
            if not 200 <= reply.status < 300:
                return SmsResult("error", detail="HTTP %d" % reply.status)
            found = reply.data.get(id_member) if isinstance(reply.data, dict) else None
            message_id = found if isinstance(found, str) and len(found) <= MAX_MESSAGE_ID else ""
            return SmsResult("sent", message_id)
        return SmsResult("error", detail="no attempt made")

    def close(self) -> None:
        self.transport.close()


class HttpSmsProvider(_HttpBased):
    def __init__(self, name: str, url: str, secret: Optional[str] = None, **options: Any) -> None:
        super().__init__(name, url, **options)
        self.secret = secret

    def send(self, to: str, text: str, reference: str) -> SmsResult:
        body = json.dumps({"to": to, "text": text, "reference": reference},
                          separators=(",", ":")).encode("utf-8")
        headers = {"Content-Type": "application/json", "Idempotency-Key": str(uuid.uuid4())}
        if self.secret:
            headers.update(signing.signed_headers(self.secret, body))
        return self._post(self.url, body, headers, "id")


class TwilioSmsProvider(_HttpBased):
    def __init__(self, name: str, account_sid: str, auth_token: str, base_url: str = "https://api.twilio.com",
                 messaging_service_sid: Optional[str] = None, **options: Any) -> None:
        sender = options.pop("from", None)
        if bool(sender) == bool(messaging_service_sid):
            raise GatewayConfigError("sms provider %s: twilio needs exactly one of from, messaging_service_sid"
                                     % name)
        super().__init__(name, base_url, **options)
        self.sender: Tuple[str, str] = (("From", sender) if sender
                                        else ("MessagingServiceSid", str(messaging_service_sid)))
        self.messages_url = "%s/2010-04-01/Accounts/%s/Messages.json" % (
            self.url.rstrip("/"), urllib.parse.quote(account_sid, safe=""))
        token = base64.b64encode(("%s:%s" % (account_sid, auth_token)).encode("utf-8")).decode("ascii")
        self._authorization = "Basic " + token

    def send(self, to: str, text: str, reference: str) -> SmsResult:
        body = urllib.parse.urlencode([("To", to), self.sender, ("Body", text)]).encode("ascii")
        headers = {"Content-Type": "application/x-www-form-urlencoded", "Accept": "application/json",
                   "Authorization": self._authorization}
        return self._post(self.messages_url, body, headers, "sid")


@dataclass(frozen=True)
class SentMessage:
    to: str
    text: str
    reference: str
    message_id: str


class SinkSmsProvider(SmsProvider):
    """Keeps what it is given; sends nothing (the demo and the tests read ``messages``)."""

    def __init__(self, name: str, keep: int = 1000) -> None:
        self.name = name
        self.messages: Deque[SentMessage] = collections.deque(maxlen=keep)
        self._numbers = itertools.count(1)

    def send(self, to: str, text: str, reference: str) -> SmsResult:
        message_id = "sink-%d" % next(self._numbers)
        self.messages.append(SentMessage(to, text, reference, message_id))
        return SmsResult("sent", message_id)


_FACTORIES = {"http": HttpSmsProvider, "twilio": TwilioSmsProvider, "sink": SinkSmsProvider}


def build_provider(settings: Mapping[str, Any]) -> SmsProvider:
    """One provider from its (schema-checked) settings; GatewayConfigError when unusable."""
    options = {k: v for k, v in settings.items() if k not in ("name", "type")}
    return _FACTORIES[settings["type"]](settings["name"], **options)


def build_providers(entries: Any) -> Dict[str, SmsProvider]:
    providers: Dict[str, SmsProvider] = {}
    for index, settings in enumerate(entries or []):
        if settings["name"] in providers:
            raise GatewayConfigError("sms_providers[%d].name: a second provider named %s"
                                     % (index, settings["name"]))
        providers[settings["name"]] = build_provider(settings)
    return providers
