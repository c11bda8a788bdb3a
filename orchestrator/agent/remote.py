"""The agent API's reach to calls and sessions that another instance holds.

With several instances on one PostgreSQL store (``orchestrator/cluster``), an agent's request
may reach an instance that does not hold the call. The instance asked (the requester) then:

- **starts a payment** (``POST /sessions``) it cannot find on its own nodes by forwarding the
  request, first to the instance the store names for the call (``calls``), then to each other
  live instance in turn, until one answers other than "no such call"; the holder runs it as
  if it had come to it, and its answer (``201`` and the session) is the requester's;
- **acts on a session** (cancel, recapture, complete) held elsewhere by forwarding it to the
  holder the store names for the session; the holder checks again and acts;
- **streams a session's events** held elsewhere by asking the holder to ``watch`` it: the
  holder answers with the live snapshot and sends every later change to the requester's
  channel, in order, until the session ends;
- **lists** its own sessions and, from the store, the active sessions of the other live
  instances;
- **lists the agent's calls** (``GET /calls``) from its own nodes and from each other live
  instance's (asked with the asker's principal, each instance checking ownership as for its
  own), merged by call uuid: an instance whose nodes are other switches (or reach a node this
  one cannot) shows its calls too.

Whose a call or session is, is decided exactly as for a local one: the requester checks a
stored session's tenant and agent before it forwards anything, and the holder runs the same
handler (``api.py``) with the asker's principal (tenant and agent: never the token), so
another tenant's agent gets the same 404, with the same body, wherever the call is. A forwarded
request is never forwarded again. No answer within the relay's timeout is a 504; a holder that
is gone (stopped, or dead by its heartbeat) a 503.
"""
from __future__ import annotations

import json
import logging
from collections import OrderedDict
from io import BytesIO
from typing import TYPE_CHECKING, Any, Callable, Dict, List, Mapping, Optional, Tuple

from gevent.queue import Queue

from orchestrator.cluster import wire
from orchestrator.cluster.relay import END, Relay, Unanswered, Unsent
from orchestrator.store.errors import StoreError

from .control import ControlError
from .sessions import ACTIVE_STATES, END_OF_STREAM, Payload, PaymentSession
from .settings import Principal

if TYPE_CHECKING:  # pragma: no cover
    from orchestrator.cluster.peers import PeerView
    from orchestrator.store.instances import InstanceTable
    from orchestrator.store.sessions import SessionTable

    from .sessions import SessionRegistry

log = logging.getLogger(__name__)
FORWARDED = "payivr.forwarded_from"     # the WSGI environ key of a request another instance sent
FORWARDABLE = ("create_session", "get_session", "recapture", "cancel", "complete", "list_calls",
               "charge")
MAX_WATCHERS = 20                       # other instances' streams of one session
REMEMBERED = 1000                       # sessions started through this instance, by id
Answer = Tuple[int, Payload]
Owner = Tuple[str, str, Optional[str], str]   # holder, tenant, agent, state


def _unavailable(what: str) -> ControlError:
    return ControlError(503, "instance_unavailable", "the instance holding the %s is not "
                        "running (stopped, or silent past its heartbeat)" % what)


class RemoteWatch:
    """A session another instance holds, as ``sse.stream`` reads one: a snapshot, a queue of
    ``(event, payload, version)`` and END_OF_STREAM, and an unsubscribe that tells the holder."""

    def __init__(self, snapshot: Payload, queue: Queue, stop: Callable[[], None]) -> None:
        self.snapshot, self._queue, self._stop = snapshot, queue, stop
        self._out: Queue = Queue(maxsize=1)

    def to_json(self) -> Payload:
        return self.snapshot

    def subscribe(self) -> "_Translated":
        return _Translated(self._queue)

    def unsubscribe(self, queue: object) -> None:
        self._stop()


class _Translated:
    """The relay's END as the stream's END_OF_STREAM."""

    def __init__(self, queue: Queue) -> None:
        self._queue = queue

    def get(self, timeout: Optional[float] = None) -> Any:
        item = self._queue.get(timeout=timeout)
        return END_OF_STREAM if item is END else item


class Remote:
    """``Remote(relay, peers, sessions, instances, registry)``; ``api`` is set by the hub."""

    def __init__(self, relay: Relay, peers: "PeerView", sessions: "SessionTable",
                 instances: "InstanceTable", registry: "SessionRegistry") -> None:
        self.relay, self.peers, self.sessions, self.instances = relay, peers, sessions, instances
        self.registry = registry
        self.instance = relay.instance
        self.api: Any = None
        self._watchers: Dict[str, Dict[str, str]] = {}     # session id -> watch id -> channel
        # sessions this instance started on another: known before the holder's store write
        self._started: "OrderedDict[str, Owner]" = OrderedDict()
        relay.serve = self.serve
        registry.listeners.append(self.changed)

    # -- the requester's side ----------------------------------------------------------------
    def forward(self, instance: str, method: str, path: str, body: Mapping[str, Any],
                principal: Principal) -> Answer:
        message = {"kind": "request", "method": method, "path": path, "body": dict(body),
                   "principal": {"tenant": principal.tenant, "agent": principal.agent}}
        try:
            reply = self.relay.ask(instance, message)
        except wire.TooLarge:
            raise ControlError(413, "too_large", "the request is too large to forward to the "
                               "instance holding the call (at most %d bytes)" % wire.MAX_PAYLOAD)
        except Unanswered:
            raise ControlError(504, "instance_timeout", "the instance holding the call did not "
                               "answer within %.0fs" % self.relay.timeout)
        except Unsent:
            raise ControlError(503, "relay_unavailable", "the request could not be sent to the "
                               "instance holding the call (the store did not answer)")
        body_back = reply.get("body")
        return int(reply.get("status", 502)), body_back if isinstance(body_back, dict) else {}

    def create(self, body: Mapping[str, Any], call_uuid: str, principal: Principal
               ) -> Optional[Answer]:
        """The holder's answer to a start this instance found no call for; None when no
        other instance holds the call either (the caller's own 404 stands)."""
        candidates: List[str] = []
        try:
            holder = self.instances.holder_of(call_uuid)
        except StoreError:
            holder = None
        if holder and holder != self.instance and self.peers.alive(holder):
            candidates.append(holder)
        candidates += [peer for peer in self.peers.live_peers() if peer not in candidates]
        silent: Optional[ControlError] = None
        for peer in candidates:
            try:
                status, shown = self.forward(peer, "POST", "/sessions", body, principal)
            except ControlError as error:
                silent = silent or error     # that one may hold it: said if nobody else does
                continue
            if status == 404 and shown.get("error") == "call_not_found":
                continue
            if status == 201 and isinstance(shown.get("id"), str):
                self._started[shown["id"]] = (peer, str(shown.get("tenant")), shown.get("agent"),
                                              str(shown.get("state")))
                while len(self._started) > REMEMBERED:
                    self._started.popitem(last=False)
            return status, shown
        if silent is not None:
            raise silent
        return None

    def owner(self, session_id: str) -> Optional[Owner]:
        """``(holder, tenant, agent, state)`` of a session this instance does not hold: from
        what it started elsewhere, else from the store; None when neither knows it."""
        if session_id in self._started:
            return self._started[session_id]
        try:
            record = self.sessions.get(session_id)
        except StoreError as error:
            log.warning("session %s: the store could not be read: %s", session_id, error)
            return None
        if record is None or not record["instance"]:
            return None
        return record["instance"], record["tenant"], record["agent"], record["state"]

    def holder(self, owner: Owner, reading: bool) -> Optional[str]:
        """The live instance to forward to, or None when this one answers from what it has
        (its own, or the store's copy of a session whose holder is gone); a request to act on
        a session in progress whose holder is gone is a 503."""
        holder, _, _, state = owner
        if holder == self.instance:
            return None
        if self.peers.alive(holder):
            return holder
        if reading or state not in ACTIVE_STATES:
            return None
        raise _unavailable("session")

    def watch(self, instance: str, session_id: str, principal: Principal) -> RemoteWatch:
        watch_id, queue = self.relay.open_watch(instance)
        message = {"kind": "watch", "watch": watch_id, "session": session_id,
                   "principal": {"tenant": principal.tenant, "agent": principal.agent}}
        try:
            reply = self.relay.ask(instance, message)
        except (Unanswered, Unsent, wire.TooLarge):
            self.relay.close_watch(watch_id)
            raise ControlError(504, "instance_timeout", "the instance holding the session did "
                               "not answer within %.0fs" % self.relay.timeout)
        given = reply.get("body")
        body: Dict[str, Any] = given if isinstance(given, dict) else {}
        if reply.get("status") != 200 or not body:
            self.relay.close_watch(watch_id)
            if reply.get("status") in (503, 502):       # the holder's own refusal, said as is
                raise ControlError(int(reply["status"]), str(body.get("error", "unavailable")),
                                   str(body.get("message", "the holder refused the stream")))
            raise ControlError(404, "session_not_found", "no such session")

        def stop() -> None:
            self.relay.close_watch(watch_id)
            self.relay.push(wire.inbox_of(instance), {"kind": "unwatch", "watch": watch_id,
                                                      "session": session_id,
                                                      "reply_to": self.relay.inbox})
        return RemoteWatch(reply["body"], queue, stop)

    def listed(self, principal: Principal) -> List[Payload]:
        """The active sessions of the other live instances the principal may see (the store's
        copy: as their holders last wrote them)."""
        from .durable import shown_from
        try:
            records = self.sessions.list(tenant=principal.tenant, states=ACTIVE_STATES)
        except StoreError as error:
            log.warning("other instances' sessions not listed: %s", error)
            return []
        return [shown_from(r) for r in records
                if r["instance"] and r["instance"] != self.instance
                and self.peers.alive(r["instance"])
                and principal.may_act_on(r["tenant"], r["agent"])
                and self.registry.get(r["id"]) is None]

    def calls(self, principal: Principal, found: List[Payload], asked: List[str],
              unavailable: List[str]) -> Tuple[List[Payload], List[str], List[str]]:
        """``(calls, nodes asked, nodes not asked)`` with every live peer's added: a call
        once (uuids are unique across switches), a node not asked only when no instance
        could ask it; a peer that does not answer is named as ``instance:<name>``."""
        known = {call["call_uuid"] for call in found}
        calls, reached, down = list(found), set(asked), set(unavailable)
        for peer in self.peers.live_peers():
            try:
                status, body = self.forward(peer, "GET", "/calls", {}, principal)
            except ControlError:
                status, body = 0, {}
            if status != 200 or not isinstance(body.get("calls"), list):
                down.add("instance:%s" % peer)
                continue
            for call in body["calls"]:
                if isinstance(call, dict) and isinstance(call.get("call_uuid"), str) \
                        and call["call_uuid"] not in known:
                    known.add(call["call_uuid"])
                    calls.append(call)
            reached |= {str(n) for n in body.get("nodes") or []}
            down |= {str(n) for n in body.get("unavailable_nodes") or []}
        calls.sort(key=lambda call: str(call.get("since") or ""))
        return calls, sorted(reached), sorted(down - reached)

    # -- the holder's side -----------------------------------------------------------------
    def serve(self, message: wire.Message) -> Answer:
        principal = _principal(message.get("principal"))
        if principal is None:
            return 400, {"error": "invalid", "message": "a forwarded request names no principal"}
        if message["kind"] == "request":
            return self.api.answer_forwarded(message, principal)
        if message["kind"] == "watch":
            return self._watch(message, principal)
        if message["kind"] == "unwatch":
            self._watchers.get(str(message.get("session")), {}).pop(str(message.get("watch")), None)
            return 200, {}
        return 400, {"error": "invalid", "message": "not a request"}

    def _watch(self, message: wire.Message, principal: Principal) -> Answer:
        session = self.registry.get(str(message.get("session")))
        if session is None or not principal.may_see(session):
            return 404, {"error": "session_not_found", "message": "no such session"}
        watchers = self._watchers.setdefault(session.id, {})
        if len(watchers) >= MAX_WATCHERS:
            return 503, {"error": "too_many_watchers", "message": "too many streams of this session"}
        channel = str(message.get("reply_to"))
        if session.state == "ended":
            self.relay.push(channel, {"kind": "end", "watch": message.get("watch")})
        else:
            watchers[str(message.get("watch"))] = channel
        return 200, session.to_json()

    def changed(self, session: PaymentSession, event: str, payload: Payload) -> None:
        """A registry listener: each change of a watched session to its watchers."""
        watchers = self._watchers.get(session.id)
        if not watchers:
            return
        for watch_id, channel in list(watchers.items()):
            self.relay.push(channel, {"kind": "event", "watch": watch_id, "event": event,
                                      "payload": payload, "version": session.version})
        if event == "state" and payload.get("state") == "ended":
            for watch_id, channel in self._watchers.pop(session.id, {}).items():
                self.relay.push(channel, {"kind": "end", "watch": watch_id})


def _principal(value: Any) -> Optional[Principal]:
    if not isinstance(value, dict) or not isinstance(value.get("tenant"), str):
        return None
    agent = value.get("agent")
    if agent is not None and not isinstance(agent, str):
        return None
    return Principal(value["tenant"], agent)


def forwarded_environ(message: Mapping[str, Any]) -> Dict[str, Any]:
    """The WSGI environ of a forwarded request, as the API's handlers read one."""
    raw = json.dumps(message.get("body") or {}).encode("utf-8")
    origin = str(message.get("reply_to", "?"))
    return {"REQUEST_METHOD": str(message.get("method", "")), "PATH_INFO": str(message.get("path", "")),
            "CONTENT_LENGTH": str(len(raw)), "wsgi.input": BytesIO(raw),
            "REMOTE_ADDR": "relay:" + origin, FORWARDED: origin}
