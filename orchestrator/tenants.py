"""Which tenant a call belongs to, as a bounded name fit for a metric label and a log field.

A carrier's dialplan marks each call with the channel variable ``pay_tenant``. The value comes
from outside the service, so it is only used when the config lists it under ``tenants``: a
typo or a hostile value must not become a new Prometheus series each time it changes. A call
without the variable belongs to ``default``; a call naming a tenant nobody configured is
counted under ``unknown`` (and logged, so the dialplan can be fixed).
"""
TENANT_VARIABLE = "pay_tenant"
DEFAULT_TENANT = "default"
UNKNOWN_TENANT = "unknown"


def resolve_tenant(variables, known):
    """The call's tenant: a name from ``known``, ``default`` when unset, else ``unknown``."""
    value = (variables or {}).get(TENANT_VARIABLE)
    if not value or value == DEFAULT_TENANT:
        return DEFAULT_TENANT
    return value if value in known else UNKNOWN_TENANT
