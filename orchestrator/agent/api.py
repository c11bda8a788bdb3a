"""The agent API under ``/api/v1`` (its contract is the OpenAPI document ``openapi.json`` beside it).

A plain WSGI app mounted on the service's HTTP server. Every answer is JSON, errors are
``{"error", "message", "field"?}``; another tenant's (or, for an agent-scoped token, another
agent's) session is answered 404, as if it did not exist. Only the events URL accepts
``?access_token=``, because EventSource cannot send headers; nowhere else, so tokens stay out
of the access logs of proxies for ordinary calls.
"""
from __future__ import annotations

import json
import logging
import os
import re
from typing import (TYPE_CHECKING, Any, Callable, Container, Dict, Iterable, Iterator, List, Mapping,
                    Optional, Tuple)
from urllib.parse import parse_qs

from orchestrator import bounded_json
from orchestrator.payments.money import Money, MoneyError
from orchestrator.web import json_response

from . import sse
from .control import CallControl, ControlError
from orchestrator.payments.validation import FIELDS

from .sessions import PAYMENT_OUTCOMES, Payload, PaymentSession, SessionConflict, SessionRegistry

if TYPE_CHECKING:  # pragma: no cover
    from wsgiref.types import StartResponse, WSGIEnvironment

    from .settings import Principal, TokenTable

log = logging.getLogger(__name__)

Answer = Tuple[int, Payload]            # an HTTP status and a JSON body
# a handler's (status, body): an Answer, or ("stream", a WSGI body) for the events URL
Handler = Callable[..., Tuple[Any, Any]]

MAX_BODY = 16 * 1024
OPENAPI_PATH = os.path.join(os.path.dirname(__file__), "openapi.json")
REFERENCE = re.compile(r"^[A-Za-z0-9_.:/#-]{1,64}$")
CARD_LIKE = re.compile(r"\d{12,}")
DESTINATION = re.compile(r"^[A-Za-z0-9_+*#.-]{1,64}$")
COMPLETE_TO = ("agent", "queue", "extension", "goodbye")
STATUS_TEXT = {200: "200 OK", 201: "201 Created", 400: "400 Bad Request", 401: "401 Unauthorized",
               404: "404 Not Found", 405: "405 Method Not Allowed", 409: "409 Conflict",
               413: "413 Payload Too Large", 502: "502 Bad Gateway", 503: "503 Service Unavailable"}


class ApiError(Exception):
    def __init__(self, status: int, code: str, message: str, field: Optional[str] = None) -> None:
        super().__init__(message)
        self.status, self.code, self.message, self.field = status, code, message, field

    def body(self) -> Dict[str, str]:
        body = {"error": self.code, "message": self.message}
        if self.field:
            body["field"] = self.field
        return body


def bad(field: str, message: str) -> ApiError:
    return ApiError(400, "invalid", message, field)


class AgentApi:
    """``AgentApi(tokens, registry, control, flows, settings)``; ``ROUTES`` lists what it serves."""

    ROUTES = [("GET", "/sessions", "list_sessions"), ("POST", "/sessions", "create_session"),
              ("GET", "/sessions/{id}", "get_session"),
              ("POST", "/sessions/{id}/recapture", "recapture"),
              ("POST", "/sessions/{id}/cancel", "cancel"),
              ("POST", "/sessions/{id}/complete", "complete"),
              ("GET", "/sessions/{id}/events", "events"),
              ("GET", "/openapi.json", "openapi")]

    def __init__(self, tokens: "TokenTable", registry: SessionRegistry, control: CallControl,
                 flows: Container[str], settings: Mapping[str, Any]) -> None:
        self.tokens, self.registry, self.control = tokens, registry, control
        self.flows, self.settings = flows, settings
        self._routes: List[Tuple[str, "re.Pattern[str]", Handler]]
        self._routes = [(method, re.compile("^" + re.sub(r"\{id\}", r"(?P<id>[A-Za-z0-9_]+)", path) + "$"),
                         getattr(self, name)) for method, path, name in self.ROUTES]

    def __call__(self, environ: "WSGIEnvironment", start_response: "StartResponse") -> Iterable[bytes]:
        try:
            handler, match = self._resolve(environ)
            principal = None if handler == self.openapi else self._authenticate(
                environ, allow_query=handler == self.events)
            status, body = handler(environ, principal, **match)
            if status == "stream":
                sse.start_stream(start_response)
                return body
        except ApiError as exc:
            status, body = exc.status, exc.body()
        except ControlError as exc:
            status, body = exc.status, ApiError(exc.status, exc.code, exc.message, exc.field).body()
        return json_response(start_response, STATUS_TEXT[status], body)

    def _resolve(self, environ: "WSGIEnvironment") -> Tuple[Handler, Dict[str, Any]]:
        path, method = environ.get("PATH_INFO") or "/", environ.get("REQUEST_METHOD", "GET")
        allowed = False
        for route_method, pattern, handler in self._routes:
            match = pattern.match(path)
            if match:
                if route_method == method or (method == "HEAD" and route_method == "GET"):
                    return handler, match.groupdict()
                allowed = True
        if allowed:
            raise ApiError(405, "method_not_allowed", "method %s not allowed here" % method)
        raise ApiError(404, "not_found", "no such resource")

    def _authenticate(self, environ: "WSGIEnvironment", allow_query: bool) -> "Principal":
        header = environ.get("HTTP_AUTHORIZATION", "")
        token = header[7:].strip() if header[:7].lower() == "bearer " else None
        if token is None and allow_query:
            token = (parse_qs(environ.get("QUERY_STRING", "")).get("access_token") or [None])[0]
        principal = self.tokens.lookup(token)
        if principal is None:
            raise ApiError(401, "unauthorized", "a valid bearer token is required")
        return principal

    @staticmethod
    def _body(environ: "WSGIEnvironment") -> Dict[str, Any]:
        """The body as a JSON object: at most MAX_BODY bytes, nested no deeper than
        ``bounded_json.MAX_DEPTH`` (deeper, the decoder would raise RecursionError: a 500 and
        a traceback instead of the client's 400)."""
        try:
            length = int(environ.get("CONTENT_LENGTH") or 0)
        except ValueError:
            length = 0
        if length > MAX_BODY:
            raise ApiError(413, "too_large", "the request body is larger than %d bytes" % MAX_BODY)
        raw = environ["wsgi.input"].read(length) if length else b""
        try:
            body = bounded_json.loads(raw.decode("utf-8")) if raw.strip() else {}
        except bounded_json.TooDeep:
            raise ApiError(400, "invalid_json", "the body nests deeper than %d levels"
                           % bounded_json.MAX_DEPTH)
        except (UnicodeDecodeError, ValueError):
            raise ApiError(400, "invalid_json", "the body is not valid JSON")
        if not isinstance(body, dict):
            raise ApiError(400, "invalid_json", "the body must be a JSON object")
        return body

    def _session(self, principal: "Principal", session_id: str) -> PaymentSession:
        session = self.registry.get(session_id)
        if session is None or not principal.may_see(session):
            raise ApiError(404, "session_not_found", "no session %s" % session_id)
        return session

    # -- handlers --------------------------------------------------------------------------
    def openapi(self, environ: "WSGIEnvironment", principal: Optional["Principal"]) -> Answer:
        with open(OPENAPI_PATH, encoding="utf-8") as handle:
            return 200, json.load(handle)

    def list_sessions(self, environ: "WSGIEnvironment", principal: "Principal") -> Answer:
        return 200, {"sessions": [s.to_json() for s in self.registry.visible_to(principal)]}

    def get_session(self, environ: "WSGIEnvironment", principal: "Principal", id: str) -> Answer:
        return 200, self._session(principal, id).to_json()

    def create_session(self, environ: "WSGIEnvironment", principal: "Principal") -> Answer:
        body = self._body(environ)
        mode = body.get("mode", "transfer")
        if mode not in ("transfer", "stay"):
            raise bad("mode", "mode must be transfer or stay")
        amount = body.get("amount")
        if isinstance(amount, bool) or not isinstance(amount, int) or amount <= 0:
            raise bad("amount", "amount must be a positive integer of minor units (1250 = 12.50)")
        currency = body.get("currency")
        if not isinstance(currency, str):
            raise bad("currency", "currency is required (ISO 4217, e.g. EUR)")
        try:
            money = Money.parse(amount, currency)
        except MoneyError as exc:
            field = "currency" if "currency" in str(exc) else "amount"
            raise bad(field, str(exc))
        reference = body.get("reference")
        if not isinstance(reference, str) or not REFERENCE.match(reference):
            raise bad("reference", "reference is required: 1-64 letters, digits or _.:/#-")
        if CARD_LIKE.search(reference):
            raise bad("reference", "reference must not look like a card number")
        flow = body.get("flow", "card_payment")
        if not isinstance(flow, str) or flow not in self.flows:
            raise bad("flow", "no flow named %r" % (flow,))
        call_uuid, agent_uuid = body.get("call_uuid"), body.get("agent_uuid")
        if (call_uuid is None) == (agent_uuid is None):
            raise bad("call_uuid", "give exactly one of call_uuid and agent_uuid")
        for name, value in (("call_uuid", call_uuid), ("agent_uuid", agent_uuid)):
            if value is not None and not isinstance(value, str):
                raise bad(name, "%s must be a string" % name)
        if call_uuid is not None and self.registry.has_active(call_uuid):
            raise ApiError(409, "session_exists", "the call already has a payment session", "call_uuid")
        return 201, self._start(principal, money, reference, flow, call_uuid, agent_uuid, mode)

    def _start(self, principal: "Principal", money: Money, reference: str, flow: str,
               call_uuid: Optional[str], agent_uuid: Optional[str], mode: str) -> Payload:
        control = self.control
        agent_leg: Optional[str]
        if agent_uuid is not None:
            node = control.find_node(agent_uuid, "agent_uuid")
            agent_leg, call_uuid = agent_uuid, control.customer_leg(node, agent_uuid)
        else:
            assert call_uuid is not None  # create_session took exactly one of the two
            node = control.find_node(call_uuid, "call_uuid")
            agent_leg = control.partner(node, call_uuid)
        if mode == "stay" and not agent_leg:
            raise ApiError(409, "mode_unavailable", "stay-on-line mode needs the caller bridged "
                           "to an agent's channel; use transfer", "mode")
        agent = self.settings["agents"].get(principal.agent) if principal.agent else None
        target = (agent["extension"], agent.get("context", "default")) if agent else None
        try:
            session = self.registry.create(principal.tenant, principal.agent, call_uuid,
                                           mode, flow, money, reference)
        except SessionConflict:
            raise ApiError(409, "session_exists", "the call already has a payment session", "call_uuid")
        try:
            if mode == "stay":
                control.start_stay(session, node, agent_leg)
            else:
                control.start_transfer(session, node, agent_leg, target)
        except ControlError:
            self.registry.discard(session)
            raise
        log.info("session %s started on call %s (%s, %s)", session.id, call_uuid, money, mode)
        return session.to_json()

    def recapture(self, environ: "WSGIEnvironment", principal: "Principal", id: str) -> Answer:
        session = self._session(principal, id)
        field = self._body(environ).get("field")
        if field not in FIELDS:
            raise bad("field", "field must be one of %s" % ", ".join(FIELDS))
        if field not in session.fields:
            raise bad("field", "this session does not collect %s" % field)
        if not session.in_card_entry:
            raise ApiError(409, "past_card_entry", "the session is past card entry")
        self.control.recapture(session, field)
        return 200, session.to_json()

    def cancel(self, environ: "WSGIEnvironment", principal: "Principal", id: str) -> Answer:
        session = self._session(principal, id)
        if not session.in_card_entry:
            raise ApiError(409, "past_card_entry", "the session is past card entry")
        self.control.cancel(session)
        return 200, session.to_json()

    def complete(self, environ: "WSGIEnvironment", principal: "Principal", id: str) -> Answer:
        session = self._session(principal, id)
        body = self._body(environ)
        to = body.get("to")
        if to not in COMPLETE_TO:
            raise bad("to", "to must be one of %s" % ", ".join(COMPLETE_TO))
        destination = body.get(to) if to in ("queue", "extension") else None
        if to in ("queue", "extension") and not (isinstance(destination, str)
                                                  and DESTINATION.match(destination)):
            raise bad(to, "%s is required with to: %s" % (to, to))
        context = body.get("context", "default")
        if not isinstance(context, str) or not DESTINATION.match(context):
            raise bad("context", "context must be a dialplan context name")
        if session.state not in PAYMENT_OUTCOMES:
            raise ApiError(409, "not_completable", "the session is %s: only a finished payment "
                           "can be completed (cancel one in progress)" % session.state)
        self.control.complete(session, to, destination, context)
        return 200, session.to_json()

    def events(self, environ: "WSGIEnvironment", principal: "Principal",
               id: str) -> Tuple[str, Iterator[bytes]]:
        return "stream", sse.stream(self._session(principal, id))
