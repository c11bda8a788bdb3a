"""Tenants first-class: each tenant's own flows, gateways, web services, SMS providers,
payment links, catalogs, tokens, webhooks and destinations, refused to every other tenant when
the config loads and again on every call.

    settings.py   the ``tenants`` config section (a list of names, or a block per tenant)
    plans.py      what each tenant's calls may use (``Tenancy.plan(tenant)``)
    checks.py     a tenant's flows against its grants, before any call

Whose a call is comes from the switch (``orchestrator/tenants.py``), never from a request.
"""
from .checks import check_tenancy
from .plans import Tenancy, TenantPlan, build_tenancy
from .settings import (TENANTS_SCHEMA, flow_directories, has_blocks, normalise, tenant_gateways,
                       tenant_payment_links, tenant_sms_providers, tenant_web_services)

__all__ = ["TENANTS_SCHEMA", "Tenancy", "TenantPlan", "build_tenancy", "check_tenancy",
           "flow_directories", "has_blocks", "normalise", "tenant_gateways",
           "tenant_payment_links", "tenant_sms_providers", "tenant_web_services"]
