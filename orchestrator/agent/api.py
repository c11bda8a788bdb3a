"""The agent API under ``/api/v1`` (its contract is the OpenAPI document ``openapi.json`` beside it).

A plain WSGI app mounted on the service's HTTP server. Every answer is JSON, errors are
``{"error", "message", "field"?}``. A token acts only on its tenant's calls and sessions and,
agent-scoped, only on calls bridged to its agent's leg (``ownership.py`` says whose a call is,
from the switch); anything else is answered exactly as if it did not exist (same status, same
body), checked before any other state of the call is looked at, so no answer tells one tenant
about another's calls. A start names only one of the token's tenant's flows (another tenant's
is answered as a flow that does not exist). ``complete`` sends a caller only to the tenant's
configured destinations. A value in a request that may be a card number is refused with 422 before
anything reads it, so it reaches no store, channel variable, webhook, event or log. A start may
ask for a confirmation text (``sms_to``: a phone number or ``caller``) or a payment link
texted instead of card entry (``method: link``); the flow that sends them must have its SMS
provider (and link) configured, else the start is refused before the call is touched. Every
request is written to the audit log (``audit.py``). Only the events URL accepts
``?access_token=``, because EventSource cannot send headers; nowhere else, so tokens stay out
of the access logs of proxies for ordinary calls. With several instances on one store, a call
or session another instance holds is reached through it (``remote.py``): the same checks, run
by the holder with the asker's principal.
"""
from __future__ import annotations

import json
import logging
import os
import re
import time
from typing import (TYPE_CHECKING, Any, Callable, Dict, Iterable, Iterator, List, Mapping,
                    Optional, Tuple)
from urllib.parse import parse_qs

import gevent

from orchestrator import bounded_json
from orchestrator.card_numbers import looks_like_card
from orchestrator.engine.call_language import LANGUAGE_CODE   # a catalog's name
from orchestrator.payments.money import Money, MoneyError
from orchestrator.payments.validation import FIELDS
from orchestrator.sms import mask_number, phone_number
from orchestrator.store.errors import StoreError
from orchestrator.web import json_response

from . import ownership, sse
from .audit import ACTIONS, AuditEntry
from .calls import calls_of
from .control import CallControl, ControlError, call_not_found
from .remote import FORWARDABLE, FORWARDED, forwarded_environ
from .sessions import (CHARGES, METHODS, PAYMENT_OUTCOMES, Payload, PaymentSession, SessionConflict,
                       SessionRegistry)
from .settings import Destinations, agent_target, destinations_key

if TYPE_CHECKING:  # pragma: no cover
    from wsgiref.types import StartResponse, WSGIEnvironment

    from orchestrator.esl.inbound import NodeConnection

    from .payments_api import PaymentRoutes
    from .cards_api import CardRoutes
    from .remote import Remote

    from orchestrator.flow_reload import ReloadResult

    from .settings import Principal, TokenTable

log = logging.getLogger(__name__)

Answer = Tuple[int, Payload]            # an HTTP status and a JSON body
# a handler's (status, body): an Answer, or ("stream", a WSGI body) for the events URL
Handler = Callable[..., Tuple[Any, Any]]

MAX_BODY = 16 * 1024
FORWARDED_ANSWER_WAIT = 3.0   # seconds: under cluster.request_timeout's default (5 s)
ANSWER_POLL = 0.05   # seconds between looks at a charge's answer (POST .../charge waits for it)
OPENAPI_PATH = os.path.join(os.path.dirname(__file__), "openapi.json")
REFERENCE = re.compile(r"^[A-Za-z0-9_.:/#-]{1,64}$")
DESTINATION = re.compile(r"^[A-Za-z0-9_+*#.-]{1,64}$")
COMPLETE_TO = ("agent", "queue", "extension", "goodbye")
CARD_FLOW = "card_payment"      # a start's flow when it names none
TEXTING_FLOW = "agent_payment"  # ... and asks for a text (sms_to, method: link)
CALLER = "caller"               # sms_to: the caller's own number
# (tenant, flow, method, sms_to) -> why that flow cannot send the texts asked for, or None
TextingCheck = Callable[[str, str, str, Optional[str]], Optional[str]]
STATUS_TEXT = {200: "200 OK", 201: "201 Created", 400: "400 Bad Request", 401: "401 Unauthorized",
               404: "404 Not Found", 405: "405 Method Not Allowed", 409: "409 Conflict",
               403: "403 Forbidden", 413: "413 Payload Too Large",
               422: "422 Unprocessable Entity", 500: "500 Internal Server Error",
               502: "502 Bad Gateway", 503: "503 Service Unavailable",
               504: "504 Gateway Timeout"}


class ApiError(Exception):
    def __init__(self, status: int, code: str, message: str, field: Optional[str] = None,
                 extra: Optional[Mapping[str, Any]] = None) -> None:
        super().__init__(message)
        self.status, self.code, self.message, self.field = status, code, message, field
        self.extra = dict(extra or {})   # what a refusal shows besides (a refund's record)

    def body(self) -> Dict[str, Any]:
        body: Dict[str, Any] = dict(self.extra, error=self.code, message=self.message)
        if self.field:
            body["field"] = self.field
        return body


def bad(field: str, message: str) -> ApiError:
    return ApiError(400, "invalid", message, field)


def session_not_found() -> ApiError:
    """The one answer for a session that does not exist and for one that is not the asker's."""
    return ApiError(404, "session_not_found", "no such session")


def session_exists() -> ApiError:
    return ApiError(409, "session_exists", "the call already has a payment session", "call_uuid")


def refuse_card_like(body: Mapping[str, Any]) -> None:
    """422 for any value (or name) of the body that may be a card number, however split,
    nested or typed (an ``amount`` of 4111111111111111 too): the field is named, the value
    never repeated."""
    def card_in(value: Any) -> bool:
        if isinstance(value, bool) or value is None:
            return False
        if isinstance(value, (str, int, float)):
            return looks_like_card(str(value))
        if isinstance(value, list):
            return any(card_in(item) for item in value)
        if isinstance(value, dict):
            return any(card_in(k) or card_in(v) for k, v in value.items())
        return False

    for name, value in body.items():
        if card_in(name):
            raise ApiError(422, "card_like", "a field name looks like a card number; card "
                           "numbers are never accepted here")
        if card_in(value):
            raise ApiError(422, "card_like", "%s looks like a card number; card numbers are "
                           "never accepted here (the caller keys the card on the phone)" % name, name)


class AgentApi:
    """``AgentApi(tokens, registry, control, may_start, settings, tenants)``; ``ROUTES`` lists
    what it serves; ``may_start(tenant, flow)`` says whether the tenant's agents may start that
    flow (its own: ``orchestrator/tenancy``); ``tenants`` are the configured names a call's
    ``pay_tenant`` may hold."""

    ROUTES = [("GET", "/sessions", "list_sessions"), ("POST", "/sessions", "create_session"),
              ("GET", "/sessions/{id}", "get_session"),
              ("POST", "/sessions/{id}/recapture", "recapture"),
              ("POST", "/sessions/{id}/cancel", "cancel"),
              ("POST", "/sessions/{id}/complete", "complete"),
              ("POST", "/sessions/{id}/charge", "charge"),
              ("GET", "/sessions/{id}/events", "events"),
              ("POST", "/admin/reload", "reload"),
              ("GET", "/payments/{id}", "get_payment"),
              ("POST", "/payments/{id}/refund", "refund_payment"),
              ("POST", "/payments/{id}/void", "void_payment"),
              ("GET", "/customers/{id}/cards", "list_cards"),
              ("DELETE", "/cards/{id}", "delete_card"),
              ("GET", "/languages", "list_languages"),
              ("GET", "/calls", "list_calls"), ("GET", "/me", "me"),
              ("GET", "/openapi.json", "openapi")]

    def __init__(self, tokens: "TokenTable", registry: SessionRegistry, control: CallControl,
                 may_start: Callable[[str, str], bool], settings: Mapping[str, Any],
                 tenants: Iterable[str] = (),
                 stored: Optional[Callable[[str], Optional[Mapping[str, Any]]]] = None,
                 texting: Optional[TextingCheck] = None) -> None:
        """``stored(id)``: a session another instance holds, as the store has it (read-only);
        ``texting(tenant, flow, method, sms_to)``: why the tenant's flow cannot text what a
        start asks for (no SMS provider, no payment link), or None."""
        self.tokens, self.registry, self.control = tokens, registry, control
        self.texting = texting
        self.stored = stored
        # the calls and sessions of other instances (remote.py); None with one instance
        self.remote: Optional["Remote"] = None
        # reload(trigger) -> ReloadResult: the service's flows and catalogs (flow_reload.py)
        self.reload_flows: Optional[Callable[[str], "ReloadResult"]] = None
        # charged_by_agent(flow) -> whether the flow can wait for the agent's charge
        self.charged_by_agent: Optional[Callable[[str], bool]] = None
        # languages(tenant) -> [(code, own name)]: the catalogs the tenant's calls can speak
        self.languages: Optional[Callable[[str], List[Tuple[str, str]]]] = None
        # the payment routes (payments_api.py): set when the service has a store and gateways
        self.payments: Optional["PaymentRoutes"] = None
        self.cards: Optional["CardRoutes"] = None   # stored cards (cards_api.py): with a store
        self.may_start, self.settings = may_start, settings
        self.tenants = frozenset(tenants)
        self.destinations = Destinations(settings.get("destinations") or {})
        self._routes: List[Tuple[str, "re.Pattern[str]", Handler]]
        self._routes = [(method, re.compile("^" + re.sub(r"\{id\}", r"(?P<id>[A-Za-z0-9_-]+)", path) + "$"),
                         getattr(self, name)) for method, path, name in self.ROUTES]

    def __call__(self, environ: "WSGIEnvironment", start_response: "StartResponse") -> Iterable[bytes]:
        status, body = self._dispatch(environ)
        if status == "stream":
            sse.start_stream(start_response)
            return body
        return json_response(start_response, STATUS_TEXT[status], body)

    def answer_forwarded(self, message: Mapping[str, Any], principal: "Principal") -> Answer:
        """A request another instance forwarded (``remote.py``), run as if it had come here
        from ``principal``: the same checks, the same audit line; never forwarded again."""
        environ = forwarded_environ(message)
        try:
            handler, _ = self._resolve(environ)
        except ApiError as exc:
            return exc.status, exc.body()
        if handler.__name__ not in FORWARDABLE:
            return 400, ApiError(400, "invalid", "not a request another instance may "
                                 "forward").body()
        status, body = self._dispatch(environ, principal)
        return int(status), body

    def _dispatch(self, environ: "WSGIEnvironment",
                  principal: Optional["Principal"] = None) -> Tuple[Any, Any]:
        """``(status, JSON body)``, or ``("stream", a WSGI body)`` for the events URL."""
        entry = AuditEntry.of_request(environ)
        error: Optional[str] = None
        try:
            handler, match = self._resolve(environ)
            if handler == self.openapi:
                entry.written = True      # the public document: nobody's action, not audited
            else:
                entry.action = ACTIONS.get(handler.__name__, entry.action)
                entry.principal = principal or self._authenticate(
                    environ, allow_query=handler == self.events)
            status, body = handler(environ, entry, **match)
            if status == "stream":
                entry.write(200)
                return status, body
        except ApiError as exc:
            status, body, error = exc.status, exc.body(), exc.code
        except ControlError as exc:
            status, error = exc.status, exc.code
            body = ApiError(exc.status, exc.code, exc.message, exc.field).body()
        except Exception:
            entry.write(500, "internal_error")     # the router answers 500 and logs the traceback
            raise
        if status not in STATUS_TEXT:   # a holder's answer no local handler gives
            status, error = 502, "bad_reply"
            body = ApiError(502, error, "the instance holding the call answered %s" % status).body()
        entry.write(status, error)
        return status, body

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
        refuse_card_like(body)
        return body

    @staticmethod
    def _principal(entry: AuditEntry) -> "Principal":
        assert entry.principal is not None   # __call__ authenticated every handler but openapi
        return entry.principal

    def _session(self, entry: AuditEntry, session_id: str) -> PaymentSession:
        principal = self._principal(entry)
        entry.session = session_id
        session = self.registry.get(session_id)
        if session is None or not principal.may_see(session):
            raise session_not_found()
        entry.call, entry.agent_leg = session.call_uuid, session.agent_leg
        return session

    # -- handlers --------------------------------------------------------------------------
    def openapi(self, environ: "WSGIEnvironment", entry: AuditEntry) -> Answer:
        with open(OPENAPI_PATH, encoding="utf-8") as handle:
            return 200, json.load(handle)

    def reload(self, environ: "WSGIEnvironment", entry: AuditEntry) -> Answer:
        """Reload this instance's flows and catalogs (an admin token only): 200 with what is
        in use now, or 422 with every problem (``file:line:column``) and the old flows kept.
        Calls in progress keep the flows they started with."""
        if not self._principal(entry).admin:
            raise ApiError(403, "forbidden", "reloading the flows needs an admin token "
                           "(agent_api.tokens: admin: true)")
        if self.reload_flows is None:
            raise ApiError(503, "unavailable", "this service cannot reload its flows")
        result = self.reload_flows("api")
        return (200 if result.reloaded else 422), result.to_json()

    def list_languages(self, environ: "WSGIEnvironment", entry: AuditEntry) -> Answer:
        """The languages a payment of the asker's tenant can be spoken in (its catalogs, as
        loaded now or by the last reload): what the panel offers for ``language``."""
        principal = self._principal(entry)
        known = self.languages(principal.tenant) if self.languages else []
        return 200, {"languages": [{"code": code, "name": name} for code, name in known]}

    def list_calls(self, environ: "WSGIEnvironment", entry: AuditEntry) -> Answer:
        """The calls bridged now to the asker's agent (a tenant-wide token: to any of its
        tenant's agents), for the panel to offer instead of a typed uuid (``calls.py``)."""
        principal = self._principal(entry)
        found, asked, unavailable = calls_of(principal, self.control, self.registry,
                                             self.tenants)
        if self.remote is not None and not environ.get(FORWARDED):
            found, asked, unavailable = self.remote.calls(principal, found, asked, unavailable)
        entry.detail = "calls=%d" % len(found) + (
            " unavailable=%s" % ",".join(unavailable) if unavailable else "")
        return 200, {"calls": found, "nodes": asked, "unavailable_nodes": unavailable}

    def me(self, environ: "WSGIEnvironment", entry: AuditEntry) -> Answer:
        """Who the token is and what it may do: its tenant and agent (None for a tenant-wide
        token), where that agent takes callers back (the panel says as whom it is signed in),
        and whether it may refund and void."""
        principal = self._principal(entry)
        agent = agent_target(self.settings, principal.tenant, principal.agent)
        return 200, {"tenant": principal.tenant, "agent": principal.agent,
                     "admin": principal.admin,
                     "extension": agent["extension"] if agent else None,
                     # the panel offers refunds and voids only to a token that may
                     "refund": principal.refund and self.payments is not None}

    def list_sessions(self, environ: "WSGIEnvironment", entry: AuditEntry) -> Answer:
        principal = self._principal(entry)
        shown = [s.to_json() for s in self.registry.visible_to(principal)]
        if self.remote is not None and not environ.get(FORWARDED):
            shown += self.remote.listed(principal)
        return 200, {"sessions": shown}

    def _elsewhere(self, environ: "WSGIEnvironment", entry: AuditEntry, session_id: str,
                   reading: bool = False) -> Optional[str]:
        """The other instance holding the session, once the asker is known to be allowed to
        hear of it (the same 404 as for one that does not exist, otherwise); None when this
        instance answers itself."""
        if (self.remote is None or environ.get(FORWARDED)
                or self.registry.get(session_id) is not None):
            return None
        principal = self._principal(entry)
        entry.session = session_id
        owner = self.remote.owner(session_id)
        if owner is None:
            if reading:
                return None
            raise session_not_found()
        if not principal.may_act_on(owner[1], owner[2]):
            raise session_not_found()
        return self.remote.holder(owner, reading)

    def get_session(self, environ: "WSGIEnvironment", entry: AuditEntry, id: str) -> Answer:
        holder = self._elsewhere(environ, entry, id, reading=True)
        if holder is not None:     # its holder's live copy (the store's may lag behind)
            assert self.remote is not None
            return self.remote.forward(holder, "GET", "/sessions/" + id, {},
                                       self._principal(entry))
        if self.registry.get(id) is None and self.stored is not None:
            return 200, dict(self._stored_session(entry, id))
        return 200, self._session(entry, id).to_json()

    def _stored_session(self, entry: AuditEntry, session_id: str) -> Mapping[str, Any]:
        """A session this instance does not hold, as the store has it; the same 404 as a
        session that does not exist when it is not the asker's (or the store cannot say)."""
        principal = self._principal(entry)
        entry.session = session_id
        try:
            shown = self.stored(session_id) if self.stored is not None else None
        except StoreError as error:
            log.warning("session %s: the store could not be read: %s", session_id, error)
            shown = None
        if shown is None or not principal.may_act_on(shown["tenant"], shown["agent"]):
            raise session_not_found()
        entry.call = shown["call_uuid"]
        return shown

    def create_session(self, environ: "WSGIEnvironment", entry: AuditEntry) -> Answer:
        principal = self._principal(entry)
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
        language = body.get("language", "")
        if not isinstance(language, str) or (language and not LANGUAGE_CODE.match(language)):
            raise bad("language", "language must be a language code such as en, es or ru")
        method, sms_to = self._texts(body)
        charge = self._charge_option(body, method)
        flow = body.get("flow", TEXTING_FLOW if sms_to or method == "link" else CARD_FLOW)
        if not isinstance(flow, str) or not self.may_start(principal.tenant, flow):
            # another tenant's flow is answered as one that does not exist
            raise bad("flow", "no flow named %r" % (flow,))
        if charge == "agent" and self.charged_by_agent is not None \
                and not self.charged_by_agent(flow):
            raise ApiError(409, "charge_unavailable", "flow %s has no agent_charge step: it "
                           "charges the card as soon as it is complete" % flow, "charge")
        problem = (self.texting(principal.tenant, flow, method, sms_to)
                   if self.texting is not None and (sms_to or method == "link") else None)
        if problem:
            raise ApiError(409, "sms_unavailable", problem,
                           "method" if method == "link" else "sms_to")
        call_uuid, agent_uuid = body.get("call_uuid"), body.get("agent_uuid")
        if (call_uuid is None) == (agent_uuid is None):
            raise bad("call_uuid", "give exactly one of call_uuid and agent_uuid")
        for name, value in (("call_uuid", call_uuid), ("agent_uuid", agent_uuid)):
            if value is not None and not isinstance(value, str):
                raise bad(name, "%s must be a string" % name)
        entry.call, entry.agent_leg = call_uuid, agent_uuid
        entry.detail = "%s %s flow=%s reference=%s" % (money, mode, flow, reference)
        if method != "card":
            entry.detail += " method=%s" % method
        if sms_to:
            entry.detail += " sms_to=%s" % (sms_to if sms_to == CALLER else mask_number(sms_to))
        if charge != "auto":
            entry.detail += " charge=%s" % charge
        try:
            return 201, self._start(entry, principal, money, reference, flow, call_uuid,
                                    agent_uuid, mode, language, method, sms_to, charge)
        except ControlError as exc:
            elsewhere = (self.remote is not None and not environ.get(FORWARDED)
                         and (exc.code == "call_not_found"
                              or (exc.code == "node_unavailable" and not self._any_node())))
            if not elsewhere:
                raise
            assert self.remote is not None
            answer = self.remote.create(body, str(call_uuid or agent_uuid), principal)
            if answer is None:
                raise
            if answer[0] == 201:
                entry.session = answer[1].get("id")
                log.info("session %s started on call %s through another instance",
                         entry.session, call_uuid or agent_uuid)
            return answer

    @staticmethod
    def _charge_option(body: Mapping[str, Any], method: str) -> str:
        """Who starts the charge: ``auto`` (the flow, once the card is complete) or
        ``agent`` (the flow holds the card until ``POST .../charge``)."""
        charge = body.get("charge", "auto")
        if charge not in CHARGES:
            raise bad("charge", "charge must be auto (when the card is complete) or agent "
                      "(when the agent presses Charge)")
        if charge == "agent" and method != "card":
            raise bad("charge", "charge: agent needs method: card (a link is paid outside the "
                      "call)")
        return str(charge)

    @staticmethod
    def _texts(body: Mapping[str, Any]) -> Tuple[str, Optional[str]]:
        """``(method, sms_to)`` of a start: ``card`` or ``link``; a phone number (spaces
        removed), ``caller``, or None. A link goes to the caller's number unless ``sms_to``
        names another. A value that is not a phone number is refused (422), never repeated;
        one that may be a card number was refused already (``card_like``)."""
        method = body.get("method", "card")
        if method not in METHODS:
            raise bad("method", "method must be card (keyed on the phone) or link (texted)")
        sms_to = body.get("sms_to")
        if sms_to is not None:
            number = phone_number(sms_to) if isinstance(sms_to, str) else ""
            if sms_to != CALLER and not number:
                raise ApiError(422, "invalid_phone", "sms_to must be a phone number (an "
                               "optional + and 6 to 15 digits, e.g. +34600111222) or \"caller\"",
                               "sms_to")
            sms_to = CALLER if sms_to == CALLER else number
        if method == "link" and sms_to is None:
            sms_to = CALLER
        return method, sms_to

    def _any_node(self) -> bool:
        return any(node.connected for node in self.control.pool.nodes.values())

    def _owned_call(self, principal: "Principal", call_uuid: Optional[str],
                    agent_uuid: Optional[str]) -> Tuple["NodeConnection", str, Optional[str],
                                                        ownership.Owner]:
        """``(node, customer leg, agent leg or None, owner)`` of the call the request names,
        when it is the principal's; else the very answer a call that does not exist gets."""
        control = self.control
        field = "agent_uuid" if agent_uuid is not None else "call_uuid"
        given = agent_uuid if agent_uuid is not None else call_uuid
        assert given is not None  # create_session took exactly one of the two
        node = control.find_node(given, field)

        def lookup(uuid: str, name: str) -> Optional[str]:
            return control.variable(node, uuid, name)

        if agent_uuid is not None:
            customer = control.partner(node, agent_uuid)
            if customer is None:
                # the leg's own variables say whether it is the asker's to be told about
                leg = ownership.leg_owner(lookup, agent_uuid, self.tenants)
                if principal.may_act_on(leg.tenant, leg.agent):
                    raise ControlError(409, "not_bridged", "the agent's channel is not bridged "
                                       "to a caller", "agent_uuid")
                raise call_not_found(field)
            agent_leg: Optional[str] = agent_uuid
        else:
            customer, agent_leg = given, control.partner(node, given)
        current = self.registry.active_session(customer)
        if current is not None and principal.may_see(current):
            # the asker's own payment in progress: while it runs the caller is off the
            # agent's bridge (transfer mode), but the call is still theirs to be told about
            raise session_exists()
        owner = ownership.call_owner(lookup, customer, agent_leg, self.tenants)
        if not principal.may_act_on(owner.tenant, owner.agent):
            raise call_not_found(field)
        if current is not None:
            raise session_exists()
        return node, customer, agent_leg, owner

    def _start(self, entry: AuditEntry, principal: "Principal", money: Money, reference: str,
               flow: str, call_uuid: Optional[str], agent_uuid: Optional[str], mode: str,
               language: str = "", method: str = "card",
               sms_to: Optional[str] = None, charge: str = "auto") -> Payload:
        control = self.control
        node, call_uuid, agent_leg, owner = self._owned_call(principal, call_uuid, agent_uuid)
        entry.call, entry.agent_leg = call_uuid, agent_leg
        if mode == "stay" and not agent_leg:
            raise ApiError(409, "mode_unavailable", "stay-on-line mode needs the caller bridged "
                           "to an agent's channel; use transfer", "mode")
        agent = agent_target(self.settings, owner.tenant, owner.agent)
        target = (agent["extension"], agent.get("context", "default")) if agent else None
        try:
            session = self.registry.create(owner.tenant, owner.agent, call_uuid,
                                           mode, flow, money, reference, method=method,
                                           sms_to=sms_to, charge=charge)
        except SessionConflict:
            raise session_exists()
        session.language = language   # the caller's, as pay_language (engine/call_language.py)
        entry.session = session.id
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

    def _forward(self, environ: "WSGIEnvironment", entry: AuditEntry, holder: str,
                 path: str) -> Answer:
        assert self.remote is not None
        return self.remote.forward(holder, "POST", path, self._body(environ),
                                   self._principal(entry))

    def recapture(self, environ: "WSGIEnvironment", entry: AuditEntry, id: str) -> Answer:
        holder = self._elsewhere(environ, entry, id)
        if holder is not None:
            return self._forward(environ, entry, holder, "/sessions/%s/recapture" % id)
        session = self._session(entry, id)
        body = self._body(environ)
        if self._charge_wait(session):
            return self._another_card(entry, session, body)
        field = body.get("field")
        entry.detail = "field=%s" % field if isinstance(field, str) and field in FIELDS else None
        if field not in FIELDS:
            raise bad("field", "field must be one of %s" % ", ".join(FIELDS))
        if field not in session.fields:
            raise bad("field", "this session does not collect %s" % field)
        if not session.in_card_entry:
            raise ApiError(409, "past_card_entry", "the session is past card entry")
        self.control.recapture(session, field)
        return 200, session.to_json()

    def cancel(self, environ: "WSGIEnvironment", entry: AuditEntry, id: str) -> Answer:
        holder = self._elsewhere(environ, entry, id)
        if holder is not None:
            return self._forward(environ, entry, holder, "/sessions/%s/cancel" % id)
        session = self._session(entry, id)
        if not session.in_card_entry and not self._charge_wait(session):
            raise ApiError(409, "past_card_entry", "the session is past card entry")
        if self._charge_wait(session) and session.charge_requested:
            raise ApiError(409, "charging", "the card is being charged")
        self.control.cancel(session)
        return 200, session.to_json()

    def complete(self, environ: "WSGIEnvironment", entry: AuditEntry, id: str) -> Answer:
        holder = self._elsewhere(environ, entry, id)
        if holder is not None:
            return self._forward(environ, entry, holder, "/sessions/%s/complete" % id)
        session = self._session(entry, id)
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
        entry.detail = "to=%s" % to if destination is None else "to=%s %s@%s" % (to, destination, context)
        if destination is not None and not self.destinations.allows(session.tenant, destination, context):
            raise ApiError(403, "destination_not_allowed", "%s %s in context %s is not one of this "
                           "tenant's destinations (%s in the service config)"
                           % (to, destination, context,
                              destinations_key(self.settings, session.tenant)), to)
        if session.state not in PAYMENT_OUTCOMES:
            raise ApiError(409, "not_completable", "the session is %s: only a finished payment "
                           "can be completed (cancel one in progress)" % session.state)
        self.control.complete(session, to, destination, context)
        return 200, session.to_json()

    # -- payments (payments_api.py) --------------------------------------------------------
    def _payment_routes(self) -> "PaymentRoutes":
        if self.payments is None:
            raise ApiError(404, "payment_not_found", "no such payment")
        return self.payments

    def get_payment(self, environ: "WSGIEnvironment", entry: AuditEntry, id: str) -> Answer:
        return self._payment_routes().read(self._principal(entry), entry, id)

    def refund_payment(self, environ: "WSGIEnvironment", entry: AuditEntry, id: str) -> Answer:
        return self._reverse("refund", environ, entry, id)

    def void_payment(self, environ: "WSGIEnvironment", entry: AuditEntry, id: str) -> Answer:
        return self._reverse("void", environ, entry, id)

    def _reverse(self, kind: str, environ: "WSGIEnvironment", entry: AuditEntry,
                 id: str) -> Answer:
        principal = self._principal(entry)
        if not principal.refund:
            raise ApiError(403, "forbidden", "this token may not refund or void payments "
                           "(refund: true on the token in the config)")
        body = self._body(environ)
        return self._payment_routes().reverse(kind, environ, principal, entry, body, id)

    # -- stored cards (cards_api.py) ----------------------------------------------------------
    def list_cards(self, environ: "WSGIEnvironment", entry: AuditEntry, id: str) -> Answer:
        if self.cards is None:
            raise ApiError(404, "card_not_found", "this service keeps no stored cards")
        return self.cards.of_customer(self._principal(entry), entry, id)

    def delete_card(self, environ: "WSGIEnvironment", entry: AuditEntry, id: str) -> Answer:
        if self.cards is None:
            raise ApiError(404, "card_not_found", "no such stored card")
        return self.cards.delete(self._principal(entry), entry, id)

    # -- the agent-started charge ("charge": "agent", engine/steps/agent_charge.py) ----------
    @staticmethod
    def _charge_wait(session: PaymentSession) -> bool:
        """The flow waits for this agent: to charge a complete card, or after a decline."""
        return session.charge == "agent" and (session.state == "awaiting_charge"
                                              or session.awaiting_decision)

    def _another_card(self, entry: AuditEntry, session: PaymentSession,
                      body: Mapping[str, Any]) -> Answer:
        """recapture while the flow waits for the agent: the card (if any) is wiped and the
        caller keys another, whole; a ``field`` given is not needed (any is taken as this)."""
        if session.charge_requested:
            raise ApiError(409, "charging", "the card is being charged")
        entry.detail = "another card"
        self.control.recapture(session, "number")
        return 200, session.to_json()

    def charge(self, environ: "WSGIEnvironment", entry: AuditEntry, id: str) -> Answer:
        """Charge the card the flow holds for the agent, once: a second request (a double
        click, a retry after a lost answer) for the same wait charges nothing more and answers
        the same session, with the result once the gateway has answered (waited for up to
        ``agent_api.charge_answer_wait``). ``attempt`` (optional) names the wait the agent
        saw (``charge_attempt``): a request for an earlier one is refused, never charged."""
        holder = self._elsewhere(environ, entry, id)
        if holder is not None:
            return self._forward(environ, entry, holder, "/sessions/%s/charge" % id)
        session = self._session(entry, id)
        body = self._body(environ)
        attempt = body.get("attempt")
        if attempt is not None and (isinstance(attempt, bool) or not isinstance(attempt, int)):
            raise bad("attempt", "attempt must be the session's charge_attempt (an integer)")
        entry.detail = "%s attempt=%d" % (session.money, session.charge_attempt)
        if session.charge != "agent":
            raise ApiError(409, "not_agent_charge", "the session was not started with "
                           "charge: agent; its flow charges the card itself")
        if attempt is not None and attempt != session.charge_attempt:
            raise ApiError(409, "stale_attempt", "attempt %d is not the session's current "
                           "charge attempt (%d)" % (attempt, session.charge_attempt), "attempt")
        if session.state == "awaiting_charge" and not session.charge_requested:
            self.control.charge(session)
            log.info("session %s: the agent charges (attempt %d)", session.id,
                     session.charge_attempt)
        elif not session.charge_requested:
            raise ApiError(409, "not_awaiting_charge", "the session is %s: there is no card "
                           "waiting to be charged" % session.state)
        self._await_answer(session, forwarded=bool(environ.get(FORWARDED)))
        return 200, session.to_json()

    def _await_answer(self, session: PaymentSession, forwarded: bool = False) -> None:
        """Wait (bounded) until the charge asked for has an answer, or the wait ended; for
        another instance's asker, no longer than its relay waits (the answer then says
        authorizing, and asking again, or the stream, gives the result)."""
        limit = float(self.settings.get("charge_answer_wait", 60))
        if forwarded:
            limit = min(limit, FORWARDED_ANSWER_WAIT)
        deadline = time.monotonic() + limit
        while (session.state in ("awaiting_charge", "authorizing")
               and time.monotonic() < deadline):
            gevent.sleep(ANSWER_POLL)

    def events(self, environ: "WSGIEnvironment", entry: AuditEntry,
               id: str) -> Tuple[str, Iterator[bytes]]:
        holder = self._elsewhere(environ, entry, id)
        if holder is not None:
            assert self.remote is not None
            return "stream", sse.stream(self.remote.watch(holder, id, self._principal(entry)))
        return "stream", sse.stream(self._session(entry, id))
