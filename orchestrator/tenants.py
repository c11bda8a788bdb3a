"""Which tenant a call belongs to, as a bounded name fit for a metric label and a log field.

A carrier's dialplan marks each call with the channel variable ``pay_tenant``. The value comes
from the switch, never from an API request, so it is what decides whose a call is for the agent
API too (``orchestrator/agent/ownership.py``). It is only used when the config lists it under
``tenants``: a typo or a hostile value must not become a new Prometheus series each time it
changes, nor a tenant of its own. A call without the variable belongs to ``default`` (a
single-tenant site sets nothing); a call naming a tenant nobody configured is counted under
``unknown`` (and logged, so the dialplan can be fixed), which no API token can hold.
"""
from typing import Collection, Mapping, Optional

TENANT_VARIABLE = "pay_tenant"
DEFAULT_TENANT = "default"
UNKNOWN_TENANT = "unknown"


def resolve_tenant(variables: Optional[Mapping[str, Optional[str]]], known: Collection[str]) -> str:
    """The call's tenant: a name from ``known``, ``default`` when unset, else ``unknown``."""
    value = (variables or {}).get(TENANT_VARIABLE)
    if not value or value == DEFAULT_TENANT:
        return DEFAULT_TENANT
    return value if value in known else UNKNOWN_TENANT
