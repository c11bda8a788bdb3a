"""What a payment session does to the live call, over an inbound ESL node (transfer mode).

Starting, step by step (every command bounded by ``COMMAND_TIMEOUT``; each step that changed
the call has an undo, run in reverse when a later step fails, so nothing is left half-started):

1. find the node holding the call (``uuid_exists``); with ``agent_uuid``, the customer leg is
   the agent channel's bridge partner (``uuid_getvar <agent> bridge_to``: FreeSWITCH 1.10 clears
   it when the bridge ends, while ``bridge_uuid`` keeps naming the old partner, and a transfer
   clears ``signal_bond`` but a re-bridge elsewhere does not);
2. ``uuid_setvar_multi <customer> pay_session=..;pay_flow=..;pay_amount=..;...`` (undo: unset);
3. hold music: ``uuid_setvar <agent> park_after_bridge true``, so that the agent's leg is parked
   rather than hung up when its partner leaves the bridge (undo: unset);
4. ``uuid_transfer <customer> pay XML payments``: the dialplan's ``pay`` extension hands the
   caller to the orchestrator's socket, where ``pay_session`` binds the call to the session;
5. hold music: ``uuid_broadcast <agent> <hold_music> aleg`` (a failure here is logged only: the
   caller is already in the payment).

At the end the flow's ``transfer_back {to: agent}`` bridges the caller back to the same agent
leg (``pay_agent_leg``) or, released, transfers to the agent's extension (``pay_agent``).

Stay mode (the agent keeps listening, docs/stay-on-line.md) starts with the sequence in
``stay.py`` instead; it needs the agent's leg bridged to the caller.
"""
import logging
import re

import gevent

from orchestrator.esl.inbound import NotConnected

from . import stay

log = logging.getLogger(__name__)

COMMAND_TIMEOUT = 5.0
BIND_TIMEOUT = 30.0          # the caller must reach the payment socket within this
UUID = re.compile(r"^[A-Za-z0-9-]{8,64}$")
PAY_EXTENSION = ("pay", "XML", "payments")


class ControlError(Exception):
    """``status`` (HTTP), ``code`` and a message for the API's error body."""

    def __init__(self, status, code, message, field=None):
        super().__init__(message)
        self.status, self.code, self.message, self.field = status, code, message, field


def _ok(reply):
    return (reply or "").strip().startswith("+OK")


class CallControl:
    def __init__(self, pool, settings, registry):
        self.pool, self.settings, self.registry = pool, settings, registry

    # -- finding the call ----------------------------------------------------------------
    def _api(self, node, command):
        try:
            return node.api(command, timeout=COMMAND_TIMEOUT) or ""
        except NotConnected:
            raise ControlError(503, "node_unavailable", "the switch holding the call is not connected")
        except Exception as exc:
            log.warning("node %s: %s failed: %s", node.name, command.split(" ", 1)[0],
                        type(exc).__name__)
            raise ControlError(502, "switch_error", "the switch did not answer in time")

    def find_node(self, uuid, field):
        if not UUID.match(uuid or ""):
            raise ControlError(400, "invalid", "%s is not a channel uuid" % field, field)
        connected = [n for n in self.pool.nodes.values() if n.connected]
        if not connected:
            raise ControlError(503, "node_unavailable", "no switch is connected")
        for node in connected:
            if self._api(node, "uuid_exists %s" % uuid).strip() == "true":
                return node
        raise ControlError(404, "call_not_found", "no live call %s" % uuid, field)

    def partner(self, node, uuid):
        """The live channel bridged to ``uuid`` now, or None (``bridge_to``: see the module doc)."""
        for variable in ("bridge_to",):
            other = self._api(node, "uuid_getvar %s %s" % (uuid, variable)).strip()
            if UUID.match(other) and self._api(node, "uuid_exists %s" % other).strip() == "true":
                return other
        return None

    def customer_leg(self, node, agent_uuid):
        customer = self.partner(node, agent_uuid)
        if customer is None:
            raise ControlError(409, "not_bridged", "the agent's channel is not bridged to a caller",
                               "agent_uuid")
        return customer

    # -- starting ------------------------------------------------------------------------
    def start_transfer(self, session, node, agent_leg, agent_target):
        """Hand the caller to the payment flow; on any failure undo and raise ControlError."""
        hold = self.settings["hold"] if agent_leg else "release"
        variables = self._session_variables(session)
        if agent_target:
            variables += [("pay_agent", agent_target[0]), ("pay_agent_context", agent_target[1])]
        if hold == "music":
            variables.append(("pay_agent_leg", agent_leg))
        customer = session.call_uuid
        undo = []
        try:
            self._expect(node, "uuid_setvar_multi %s %s" % (
                customer, ";".join("%s=%s" % pair for pair in variables)))
            undo.append(["uuid_setvar %s %s" % (customer, name) for name, _ in variables])
            if hold == "music":
                self._expect(node, "uuid_setvar %s park_after_bridge true" % agent_leg)
                undo.append(["uuid_setvar %s park_after_bridge" % agent_leg])
            self._expect(node, "uuid_transfer %s %s" % (customer, " ".join(PAY_EXTENSION)))
        except ControlError:
            for commands in reversed(undo):
                for command in commands:
                    try:
                        self._api(node, command)
                    except ControlError:
                        log.warning("session %s: undo failed", session.id)
            raise
        session.node, session.agent_leg, session.hold = node, agent_leg, hold
        if hold == "music":
            reply = self._try(node, "uuid_broadcast %s %s aleg" % (agent_leg, self.settings["hold_music"]))
            if not _ok(reply):
                log.warning("session %s: hold music refused: %s", session.id, reply.strip()[:80])
        gevent.spawn(self._watch_bind, session)

    @staticmethod
    def _session_variables(session):
        return [("pay_session", session.id), ("pay_flow", session.flow), ("pay_mode", session.mode),
                ("pay_amount", str(session.money.minor)), ("pay_currency", session.money.currency),
                ("pay_reference", session.reference), ("pay_tenant", session.tenant)]

    def start_stay(self, session, node, agent_leg):
        """The caller keys the card in the payment flow while the agent's leg eavesdrops with
        whisper; on any failure undo and raise ControlError."""
        if not agent_leg:
            raise ControlError(409, "mode_unavailable", "stay-on-line mode needs the caller "
                               "bridged to an agent's channel; use transfer", "mode")
        stay.start_stay(self, session, node, agent_leg, self._session_variables(session))
        session.node, session.agent_leg, session.hold = node, agent_leg, "eavesdrop"
        gevent.spawn(self._watch_bind, session)

    def _expect(self, node, command):
        reply = self._api(node, command)
        if not _ok(reply):
            log.warning("node %s: %s refused: %s", node.name, command.split(" ", 1)[0],
                        reply.strip()[:80])
            raise ControlError(409, "call_refused", "the switch refused %s: %s"
                               % (command.split(" ", 1)[0], reply.strip()[:80]))
        return reply

    def _try(self, node, command):
        try:
            return self._api(node, command)
        except ControlError as exc:
            return "-ERR " + exc.message

    def _watch_bind(self, session):
        """A caller who never reaches the payment socket (refused, gone) must not leave the
        session waiting forever: after BIND_TIMEOUT it ends as an error."""
        gevent.sleep(BIND_TIMEOUT)
        if session.state == "created":
            log.warning("session %s: the call never reached the payment flow", session.id)
            self.registry.set_state(session, "error")
            self.registry.set_state(session, "ended")
            self.release_agent(session)

    # -- acting on a running session -----------------------------------------------------
    def cancel(self, session):
        """The agent stops the payment: collect_card takes the request between fields; a field
        being keyed is ended at once by the cancel key, received on the caller's channel as if
        keyed (``uuid_break`` would stop only the prompt: on 1.10.12 play_and_get_digits then
        waits out its inter-digit timeout, seconds later)."""
        session.request = ("cancel",)
        if session.node is not None and session.state == "collecting":
            self._try(session.node, "uuid_recv_dtmf %s *" % session.call_uuid)

    def recapture(self, session, field):
        session.request = ("recapture", field)

    def complete(self, session, to, extension=None, context="default"):
        """Take the caller out of the flow now and put them where the agent said."""
        node, customer = session.node, session.call_uuid
        if node is None:
            raise ControlError(409, "not_started", "the session has no call in progress")
        if session.mode == "stay":
            stay.leave(self, node, session)
        self._try(node, "uuid_setvar %s socket_resume" % customer)
        if to == "agent" and session.agent_leg and self._alive(node, session.agent_leg):
            if session.hold != "eavesdrop":
                self._try(node, "uuid_break %s all" % session.agent_leg)
            self._expect(node, "uuid_bridge %s %s" % (customer, session.agent_leg))
            session.bridged_back = True
            return
        if to == "goodbye":
            self._expect(node, "uuid_kill %s NORMAL_CLEARING" % customer)
        else:
            self._expect(node, "uuid_transfer %s %s XML %s" % (customer, extension, context))
        self.release_agent(session)

    def _alive(self, node, uuid):
        return self._try(node, "uuid_exists %s" % uuid).strip() == "true"

    def release_agent(self, session):
        """A held (or listening) agent whose caller will not come back: stop the music, free
        the leg (an eavesdrop would otherwise follow the caller wherever the flow sent them)."""
        node, leg = session.node, session.agent_leg
        if node is None or not leg or session.hold not in ("music", "eavesdrop"):
            return
        if session.bridged_back:
            if session.hold == "music":
                # back in the bridge: the leg must end with its caller again, not be parked
                # (measured on 1.10.12: left set, the agent sat in a parked leg after a hang-up)
                self._try(node, "uuid_setvar %s park_after_bridge" % leg)
            return
        if self._alive(node, leg):
            self._try(node, "uuid_break %s all" % leg)
            self._try(node, "uuid_kill %s NORMAL_CLEARING" % leg)
