"""What a payment session does to the live call, over an inbound ESL node (transfer mode).

Starting, step by step (each a ``Switch`` verb on the node's connection, bounded by its reply
timeout; each step that changed the call has an undo, run in reverse when a later step fails,
so nothing is left half-started):

1. find the node holding the call; with ``agent_uuid``, the customer leg is the agent channel's
   bridge partner (its ``bridge_to`` variable: FreeSWITCH 1.10 clears it when the bridge ends,
   while ``bridge_uuid`` keeps naming the old partner, and a transfer clears ``signal_bond`` but
   a re-bridge elsewhere does not);
2. set the payment on the customer's channel (pay_session, pay_flow, pay_amount, ...,
   pay_method and pay_sms_to; undo: clear them);
3. hold music: ``park_after_bridge`` on the agent's leg, so that it is parked rather than hung
   up when its partner leaves the bridge (undo: clear it);
4. transfer the customer to ``pay`` in the payments context: the dialplan hands the caller to
   the orchestrator's socket, where ``pay_session`` binds the call to the session;
5. hold music played to the agent's leg (a failure here is logged only: the caller is already
   in the payment).

At the end the flow's ``transfer_back {to: agent}`` bridges the caller back to the same agent
leg (``pay_agent_leg``) or, released, transfers to the agent's extension (``pay_agent``).

Stay mode (the agent keeps listening) starts with ``engine/stay.py``'s ``enter`` instead; it
needs the agent's leg bridged to the caller.
"""
from __future__ import annotations

import functools
import logging
import re
from typing import TYPE_CHECKING, Any, Callable, List, Mapping, Optional, Tuple, TypeVar

import gevent
from gevent.pool import Group

from orchestrator.engine import stay
from orchestrator.engine.channel import CallError, CommandFailed, Switch
from orchestrator.esl.errors import NotConnected

from .settings import agent_target

if TYPE_CHECKING:  # pragma: no cover
    from orchestrator.call_nodes import CallNodes
    from orchestrator.esl.inbound import InboundPool, NodeConnection

    from .sessions import PaymentSession, SessionRegistry

log = logging.getLogger(__name__)

BIND_TIMEOUT = 30.0          # the caller must reach the payment socket within this
UUID = re.compile(r"^[A-Za-z0-9-]{8,64}$")
PAY_EXTENSION = ("pay", "XML", "payments")
LISTENING = "listening"      # session.hold in stay mode: the agent's leg listens in
T = TypeVar("T")


class ControlError(Exception):
    """``status`` (HTTP), ``code`` and a message for the API's error body."""

    def __init__(self, status: int, code: str, message: str, field: Optional[str] = None) -> None:
        super().__init__(message)
        self.status, self.code, self.message, self.field = status, code, message, field


def call_not_found(field: str) -> ControlError:
    """The one answer for a call that does not exist and for a call that is not the asker's:
    the same status and body, so an answer never tells a token about another tenant's calls."""
    return ControlError(404, "call_not_found", "no such live call", field)


def _checked(action: Callable[[], T], what: str) -> T:
    """Run one command on a node; the switch's answer becomes the API's: refused 409,
    node not connected 503, no answer 502."""
    try:
        return action()
    except CommandFailed as exc:
        log.warning("%s refused: %s", what, exc)
        raise ControlError(409, "call_refused", "the switch refused %s" % what)
    except ValueError as exc:   # a value that may not reach a command line (checked in esl/)
        raise ControlError(400, "invalid", "%s: %s" % (what, exc))
    except NotConnected:
        raise ControlError(503, "node_unavailable", "the switch holding the call is not connected")
    except CallError as exc:
        log.warning("%s failed: %s", what, type(exc).__name__)
        raise ControlError(502, "switch_error", "the switch did not answer in time")


def _tried(action: Callable[[], object], what: str) -> bool:
    """Run one command whose failure is only worth a log line; True when it was done."""
    try:
        action()
        return True
    except CallError as exc:
        log.warning("%s: %s", what, exc)
        return False


WAKE_AGAIN = 0.5   # seconds: the second stop of the hold sound, for a request not yet taken


class CallControl:
    """Every command about a call goes over the inbound connection of the node holding it:
    for a call on this instance's socket, the node its socket came from (``call_nodes.py``);
    for a leg not on it (an agent's call before the payment starts), the one connected node
    that answers ``uuid_exists`` for it (a read-only look-up each connected node may get;
    uuids are unique across switches). A node that holds the call but is not connected, or
    may hold it, gets nothing and the agent a 503 saying so: no command goes to another
    switch in its stead."""

    def __init__(self, pool: "InboundPool", settings: Mapping[str, Any],
                 registry: "SessionRegistry", calls: Optional["CallNodes"] = None,
                 socket_address: Optional[Callable[[], Optional[str]]] = None) -> None:
        self.pool, self.settings, self.registry = pool, settings, registry
        self.calls = calls
        # several instances: this instance's own outbound ESL address, put on the call with the
        # payment as pay_socket_address, so the payments dialplan brings the caller back here,
        # where the session is, whichever instance the dialplan would try first
        self.socket_address = socket_address
        # the greenlets that act on a session later (the bind watch, the second wake-up):
        # killed at stop, so none acts for a service that has stopped
        self._later = Group()

    def stop(self) -> None:
        self._later.kill(block=True, timeout=2)

    # -- finding the call ----------------------------------------------------------------
    def find_node(self, uuid: str, field: str) -> "NodeConnection":
        if not UUID.match(uuid or ""):
            raise ControlError(400, "invalid", "%s is not a channel uuid" % field, field)
        held = self.calls.node_of(uuid) if self.calls is not None else None
        if held is not None:
            return self._holding(held)
        connected = [n for n in self.pool.nodes.values() if n.connected]
        if not connected:
            raise ControlError(503, "node_unavailable", "no switch is connected")
        for node in connected:
            if _checked(lambda: node.commands.leg_exists(uuid), "the call lookup"):
                return node
        down = sorted(name for name, n in self.pool.nodes.items() if not n.connected)
        if down:
            # the call may be on a node we cannot reach: "no such call" could be wrong
            raise ControlError(503, "node_unavailable", "no connected switch holds the call, "
                               "and node(s) %s, which may, are not connected" % ", ".join(down))
        raise call_not_found(field)

    def _holding(self, name: str) -> "NodeConnection":
        """The node named as holding a call on this instance's socket, if it can be reached."""
        node = self.pool.nodes.get(name)
        if node is None:
            raise ControlError(503, "node_unknown", "the call came from a switch that matches "
                               "no configured node; nothing is sent to a switch that may not "
                               "hold it")
        if not node.connected:
            raise ControlError(503, "node_unavailable",
                               "the switch holding the call (node %s) is not connected" % name)
        return node

    def node_for(self, session: "PaymentSession") -> Optional["NodeConnection"]:
        """The node holding the session's call: the one its socket came from while the call
        is on this instance's socket, else the one found when the payment started."""
        held = self.calls.node_of(session.call_uuid) if self.calls is not None else None
        node = self.pool.nodes.get(held) if held is not None else None
        if node is None:
            return session.node
        if session.node is not None and session.node is not node:
            log.warning("session %s: the call came back from node %s, not %s; following it",
                        session.id, node.name, session.node.name)
            session.node = node
        return node

    def variable(self, node: "NodeConnection", uuid: str, name: str) -> Optional[str]:
        """A channel variable as the switch holds it (None when unset)."""
        switch = node.commands
        return _checked(lambda: switch.get_variable(uuid, name), "the call lookup")

    def partner(self, node: "NodeConnection", uuid: str) -> Optional[str]:
        """The live channel bridged to ``uuid`` now, or None (``bridge_to``: see the module doc)."""
        switch = node.commands
        other = _checked(lambda: switch.get_variable(uuid, "bridge_to"), "the bridge lookup")
        if other and UUID.match(other) and _checked(lambda: switch.leg_exists(other),
                                                    "the call lookup"):
            return other
        return None

    def customer_leg(self, node: "NodeConnection", agent_uuid: str) -> str:
        customer = self.partner(node, agent_uuid)
        if customer is None:
            raise ControlError(409, "not_bridged", "the agent's channel is not bridged to a caller",
                               "agent_uuid")
        return customer

    # -- starting ------------------------------------------------------------------------
    def start_transfer(self, session: "PaymentSession", node: "NodeConnection",
                       agent_leg: Optional[str], agent_target: Optional[Tuple[str, str]]) -> None:
        """Hand the caller to the payment flow; on any failure undo and raise ControlError."""
        hold = self.settings["hold"] if agent_leg else "release"
        variables = self._session_variables(session)
        if agent_target:
            variables += [("pay_agent", agent_target[0]), ("pay_agent_context", agent_target[1])]
        if hold == "music" and agent_leg:
            variables.append(("pay_agent_leg", agent_leg))
        customer, switch = session.call_uuid, node.commands
        undo: List[Callable[[], None]] = []
        try:
            _checked(lambda: switch.set_variables(customer, variables), "setting the payment")
            undo += [functools.partial(switch.clear_variable, customer, name) for name, _ in variables]
            if hold == "music" and agent_leg:
                _checked(lambda: switch.set_variable(agent_leg, "park_after_bridge", "true"),
                         "parking the agent's leg")
                undo.append(lambda: switch.clear_variable(agent_leg, "park_after_bridge"))
            _checked(lambda: switch.transfer(customer, *PAY_EXTENSION), "the transfer")
        except ControlError:
            for action in reversed(undo):
                _tried(action, "session %s: undo failed" % session.id)
            raise
        session.node, session.agent_leg, session.hold = node, agent_leg, hold
        if hold == "music" and agent_leg:
            _tried(lambda: switch.play_to_leg(agent_leg, self.settings["hold_music"]),
                   "session %s: hold music refused" % session.id)
        self._later.spawn(self._watch_bind, session)

    def _session_variables(self, session: "PaymentSession") -> List[Tuple[str, str]]:
        # no pay_tenant: the call's tenant is the switch's to say (ownership.py), and a session
        # only ever starts on a call whose pay_tenant already names the session's tenant
        variables = [("pay_session", session.id), ("pay_flow", session.flow),
                     ("pay_mode", session.mode), ("pay_amount", str(session.money.minor)),
                     ("pay_currency", session.money.currency), ("pay_reference", session.reference),
                     # how the caller pays (card, link) and where the flow texts: a phone number
                     # the API checked, "caller", or "none" (a flow reads both: agent_payment)
                     ("pay_method", session.method), ("pay_sms_to", session.sms_to or "none")]
        if session.charge == "agent":   # the flow waits for the agent's charge (agent_charge)
            variables += [("pay_agent_charge", "true"),
                          ("pay_charge_timeout", "%g" % self.settings.get("charge_timeout", 180))]
        if session.language:   # the flow's language: ${channel.pay_language} (card_payment.yaml)
            variables.append(("pay_language", session.language))
        address = self.socket_address() if self.socket_address is not None else None
        if address:
            variables.append(("pay_socket_address", address))
        return variables

    def start_stay(self, session: "PaymentSession", node: "NodeConnection",
                   agent_leg: Optional[str]) -> None:
        """The caller keys the card in the payment flow while the agent's leg eavesdrops with
        whisper (``engine/stay.py``); on any failure undo and raise ControlError."""
        if not agent_leg:
            raise ControlError(409, "mode_unavailable", "stay-on-line mode needs the caller "
                               "bridged to an agent's channel; use transfer", "mode")
        _checked(lambda: stay.enter(node.commands, session.call_uuid, agent_leg,
                                    self._session_variables(session)), "stay-on-line entry")
        session.node, session.agent_leg, session.hold = node, agent_leg, LISTENING
        self._later.spawn(self._watch_bind, session)

    def _watch_bind(self, session: "PaymentSession") -> None:
        """A caller who never reaches the payment socket (refused, gone) must not leave the
        session waiting forever: after BIND_TIMEOUT it ends as an error."""
        gevent.sleep(BIND_TIMEOUT)
        if session.state == "created":
            log.warning("session %s: the call never reached the payment flow", session.id)
            self.registry.set_state(session, "error")
            self.registry.set_state(session, "ended")
            self.release_agent(session)

    # -- acting on a running session -----------------------------------------------------
    def cancel(self, session: "PaymentSession") -> None:
        """The agent stops the payment: collect_card takes the request between fields; a field
        being keyed is ended at once by the cancel key, received on the caller's channel as if
        keyed (stopping the prompt would not do: on 1.10.12 play_and_get_digits then waits out
        its inter-digit timeout, seconds later)."""
        session.request = ("cancel",)
        if session.state == "awaiting_charge" or session.awaiting_decision:
            self._wake(session)
            return
        node = self.node_for(session)
        if node is not None and session.state == "collecting":
            switch = node.commands
            _tried(lambda: switch.receive_keys(session.call_uuid, "*"),
                   "session %s: the cancel key was refused" % session.id)

    def recapture(self, session: "PaymentSession", field: str) -> None:
        session.request = ("recapture", field)
        if session.state == "awaiting_charge" or session.awaiting_decision:
            self._wake(session)

    def charge(self, session: "PaymentSession") -> None:
        """The agent charges the card the flow holds (``agent_charge``): the request is left
        for the step, and the caller's hold sound stopped so the step takes it at once."""
        session.request = ("charge",)
        session.charge_requested = True
        self._wake(session)

    def _wake(self, session: "PaymentSession") -> None:
        """Stop what the caller hears while the flow waits for the agent (``agent_charge``),
        so the step looks at the request now; once more a moment later, in case the first
        came between two plays and the step is already in the next one."""
        def wake() -> None:
            node = self.node_for(session)
            if node is None or not node.connected:
                return
            switch = node.commands
            _tried(lambda: switch.stop_media(session.call_uuid),
                   "session %s: waking the flow" % session.id)

        def wake_again() -> None:
            gevent.sleep(WAKE_AGAIN)
            if session.request is not None:
                wake()
        wake()
        self._later.spawn(wake_again)

    def complete(self, session: "PaymentSession", to: str, extension: Optional[str] = None,
                 context: str = "default") -> None:
        """Take the caller out of the flow now and put them where the agent said (the API has
        checked ``extension`` against the tenant's destinations). ``to: agent`` is the agent's
        own leg or, that leg gone, the agent's extension (``agent_api.agents``, or the tenant's
        own ``tenants.<name>.agents``)."""
        node, customer = self.node_for(session), session.call_uuid
        if node is None:
            raise ControlError(409, "not_started", "the session has no call in progress")
        if not node.connected:
            raise ControlError(503, "node_unavailable", "the switch holding the call (node %s) "
                               "is not connected" % node.name)
        switch = node.commands
        agent_leg = session.agent_leg
        back_to_leg = bool(to == "agent" and agent_leg and self._alive(switch, agent_leg))
        if to == "agent" and not back_to_leg:
            agent = agent_target(self.settings, session.tenant, session.agent)
            if not agent:
                raise ControlError(409, "agent_unavailable", "the agent's leg is gone and "
                                   "agent_api.agents names no extension for the agent", "to")
            extension, context = agent["extension"], agent.get("context", "default")
        if session.mode == "stay":
            _tried(lambda: stay.leave(switch, customer), "session %s: restoring" % session.id)
        _tried(lambda: switch.clear_variable(customer, "socket_resume"),
               "session %s: socket_resume" % session.id)
        if back_to_leg and agent_leg:
            if session.hold != LISTENING:
                _tried(lambda: switch.stop_media(agent_leg), "session %s: hold music" % session.id)
            _checked(lambda: switch.bridge(customer, agent_leg), "the bridge back")
            session.bridged_back = True
            return
        if to == "goodbye":
            _checked(lambda: switch.hang_up(customer), "the hangup")
        else:
            _checked(lambda: switch.transfer(customer, extension or "", "XML", context),
                     "the transfer")
        self.release_agent(session)

    @staticmethod
    def _alive(switch: Switch, uuid: str) -> bool:
        try:
            return switch.leg_exists(uuid)
        except CallError:
            return False

    def release_agent(self, session: "PaymentSession") -> None:
        """A held (or listening) agent whose caller will not come back: stop the music, free
        the leg (an eavesdrop would otherwise follow the caller wherever the flow sent them)."""
        node, leg = self.node_for(session), session.agent_leg
        if node is None or not leg or session.hold not in ("music", LISTENING):
            return
        switch = node.commands
        if session.bridged_back:
            if session.hold == "music":
                # back in the bridge: the leg must end with its caller again, not be parked
                # (measured on 1.10.12: left set, the agent sat in a parked leg after a hang-up)
                _tried(lambda: switch.clear_variable(leg, "park_after_bridge"),
                       "session %s: park_after_bridge" % session.id)
            return
        if self._alive(switch, leg):
            _tried(lambda: switch.stop_media(leg), "session %s: hold music" % session.id)
            _tried(lambda: switch.hang_up(leg), "session %s: agent leg" % session.id)
