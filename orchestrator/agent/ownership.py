"""Whose a live call is: decided from the switch's side, never from the request.

A call's tenant is the customer channel's ``pay_tenant`` variable, which the site's dialplan
sets (``orchestrator/tenants.py``: a name listed under ``tenants``, ``default`` when unset,
``unknown`` for anything else, which no token holds). The agent a call belongs to is the one
whose leg it is bridged to now, named by that leg's ``pay_agent_id`` variable: the site sets it
on each agent's channel (a user variable in the switch's directory, or ``{pay_agent_id=alice}``
in the dial string that reaches the agent). The API reads both with the node's ``get_variable``
before it touches a call; what a request says about tenant or agent is never consulted.

One rule serves the metrics, the logs and the API: the outbound socket, which labels a call's
metrics, sees the same channel variable, and knows no more about which node it came from.

An agent's leg with no caller bridged (``agent_uuid`` of a leg whose caller left) is judged by
its own variables: with ``pay_tenant`` (set with ``export``, the dialplan puts it on both legs)
and ``pay_agent_id`` its owner learns it is not bridged; anyone else is told, as for a channel
that does not exist, that there is no such call.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Callable, Collection, Optional

from orchestrator.tenants import TENANT_VARIABLE, resolve_tenant

AGENT_VARIABLE = "pay_agent_id"
_AGENT_NAME = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")

# (channel uuid, variable name) -> the value on the switch, or None when unset
VariableLookup = Callable[[str, str], Optional[str]]


@dataclass(frozen=True)
class Owner:
    """The tenant a call belongs to, and the agent whose leg it is bridged to (or None)."""

    tenant: str
    agent: Optional[str] = None


def agent_of_leg(lookup: VariableLookup, leg: str) -> Optional[str]:
    """The agent named on ``leg`` by the switch, or None (unset, or not a name)."""
    value = lookup(leg, AGENT_VARIABLE)
    return value if value and _AGENT_NAME.match(value) else None


def tenant_of_leg(lookup: VariableLookup, leg: str, tenants: Collection[str]) -> str:
    return resolve_tenant({TENANT_VARIABLE: lookup(leg, TENANT_VARIABLE)}, tenants)


def call_owner(lookup: VariableLookup, customer: str, agent_leg: Optional[str],
               tenants: Collection[str]) -> Owner:
    """The owner of the customer's channel ``customer``, bridged to ``agent_leg`` (or not)."""
    return Owner(tenant_of_leg(lookup, customer, tenants),
                 agent_of_leg(lookup, agent_leg) if agent_leg else None)


def leg_owner(lookup: VariableLookup, leg: str, tenants: Collection[str]) -> Owner:
    """The owner of an agent's leg that has no caller bridged, from its own variables."""
    return Owner(tenant_of_leg(lookup, leg, tenants), agent_of_leg(lookup, leg))
