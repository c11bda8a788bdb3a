"""The calls an agent may start a payment on, found from the switches rather than typed in.

An agent knows who they are, not the uuid of their caller's channel. Each connected node is
asked which channels are up (``show channels``); a channel whose ``pay_agent_id`` names an
agent (``ownership.py``: the site sets it on agents' legs) and that is bridged now to a live
channel (``bridge_to``, as ``control.py`` reads it) is an agent's call. It is listed only when
``ownership.call_owner`` says it is the asker's, the very rule a start is checked against:
an agent-scoped token sees the calls bridged to its own agent's leg, a tenant-wide one
(a supervisor's) every agent's call of its tenant, and nothing else is ever listed. A start
on a listed call is checked again (``api.py``), so a call that moved in between is refused.

Every node this instance is configured with is looked at, whichever instance holds the
call's socket: the agent's leg and its caller are channels of the switch, seen alike from
any instance connected to it; with several instances the others' lists are merged in
(``remote.py``), for switches this one has no connection to. A node that no instance could
ask (not connected, no answer), or an instance that did not answer, is named in
``unavailable_nodes``, so a short list is never mistaken for a complete one.

What is shown of the caller is masked (``sms.mask_number``: the last three digits); the
uuids are what a start needs.
"""
from __future__ import annotations

import datetime
import logging
from typing import TYPE_CHECKING, Any, Collection, Dict, List, Optional, Tuple

from orchestrator.sms import mask_number

from . import ownership
from .control import ControlError, _checked

if TYPE_CHECKING:  # pragma: no cover
    from orchestrator.esl.inbound import NodeConnection

    from .control import CallControl
    from .sessions import SessionRegistry
    from .settings import Principal

log = logging.getLogger(__name__)
MAX_LEGS = 5000          # channels looked at per node: a bound on the commands one list sends
Payload = Dict[str, Any]


def _since(epoch: float) -> Optional[str]:
    if epoch <= 0:
        return None
    return datetime.datetime.fromtimestamp(epoch, datetime.timezone.utc).isoformat(
        timespec="seconds")


def calls_of(principal: "Principal", control: "CallControl", registry: "SessionRegistry",
             tenants: Collection[str]) -> Tuple[List[Payload], List[str], List[str]]:
    """``(calls, nodes asked, nodes not asked)``: the calls bridged to the principal's agent
    (every agent of the tenant for a tenant-wide token), oldest first."""
    calls: List[Payload] = []
    asked: List[str] = []
    unavailable: List[str] = []
    for name, node in sorted(control.pool.nodes.items()):
        if not node.connected:
            unavailable.append(name)
            continue
        try:
            calls += _on_node(principal, control, registry, tenants, node)
            asked.append(name)
        except ControlError as error:
            log.warning("calls on node %s not listed: %s", name, error.message)
            unavailable.append(name)
    calls.sort(key=lambda call: call["since"] or "")
    return calls, asked, unavailable


def _on_node(principal: "Principal", control: "CallControl", registry: "SessionRegistry",
             tenants: Collection[str], node: "NodeConnection") -> List[Payload]:
    switch = node.commands
    legs = _checked(switch.legs, "the channel list")[:MAX_LEGS]
    by_uuid = {leg.uuid: leg for leg in legs}

    def lookup(uuid: str, name: str) -> Optional[str]:
        return control.variable(node, uuid, name)

    found: List[Payload] = []
    seen = set()     # a pair listed once, should both legs carry pay_agent_id
    for leg in legs:
        agent = ownership.agent_of_leg(lookup, leg.uuid)
        if agent is None or (principal.agent is not None and agent != principal.agent):
            continue
        customer = control.partner(node, leg.uuid)
        if customer is None or frozenset((customer, leg.uuid)) in seen:
            continue
        seen.add(frozenset((customer, leg.uuid)))
        owner = ownership.call_owner(lookup, customer, leg.uuid, tenants)
        if not principal.may_act_on(owner.tenant, owner.agent):
            continue
        shown = by_uuid.get(customer)
        session = registry.active_session(customer)
        found.append({
            "call_uuid": customer, "agent_uuid": leg.uuid, "agent": owner.agent,
            "caller": mask_number(shown.caller) if shown and shown.caller else None,
            "since": _since(shown.created) if shown else None, "node": node.name,
            "session": session.id if session is not None and principal.may_see(session)
            else None})
    return found
