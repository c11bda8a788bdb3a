"""Refused when the config loads: a tenant's flow that reaches past what its tenant holds.

For every tenant and every flow it may run, from the static facts the step kinds declare
(``StepKind.gateways``, ``StepKind.web_services``, ``StepKind.sms_providers``,
``StepKind.payment_links``, ``StepKind.destinations``):

- a gateway the tenant does not hold is an error naming the tenant's key and the flow's
  file:line, whether another tenant holds it or nobody defines it. On a site without tenant
  blocks, and for the default tenant, a gateway nobody defines stays a warning, as it always
  was (the flow's calls end before any card is asked for); one that another tenant holds is an
  error for the default tenant too;
- a web service (``call_service``) is checked the same way: one another tenant holds is an
  error, one nobody defines an error for a tenant with a block and a warning otherwise;
- an SMS provider (``send_sms``, ``send_payment_link``) or a ``payment_links`` entry
  (``send_payment_link``) of another tenant, or a top-level one not granted, is an error for
  every tenant; one nobody defines is an error (a provider: the step cannot run) or a warning
  (a link: choosing it takes the step's ``on.error``) for a tenant with a block, and says
  nothing otherwise, as before tenants had them;
- a flow in a language the tenant's ``prompts.languages`` does not list, and a listed language
  without a catalog, are errors;
- a transfer to a destination written out in full (no ``${...}``) outside a tenant's
  ``destinations`` is an error; one built at run time is checked on the call (``CallServices``).

Each line is ``key: message``; the service prefixes the config file's name.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import List, Tuple

from orchestrator.catalog import Catalog, CatalogError
from orchestrator.engine.flow import Flow
from orchestrator.engine.selection import FlowLibrary
from orchestrator.tenants import DEFAULT_TENANT

from .plans import Tenancy, TenantPlan


def check_tenancy(tenancy: Tenancy, library: FlowLibrary,
                  names_checked: bool = False) -> Tuple[List[str], List[str]]:
    """``(errors, warnings)`` of every tenant's flows against its grants. ``names_checked``:
    the caller looks every name up itself (``orchestrator/flow_names.py``, at the flow's
    file:line:column), so a gateway or web service nobody defines and a language the tenant
    does not list are left to it here."""
    errors: List[str] = []
    warnings: List[str] = []
    for plan in tenancy.plans.values():
        errors += _catalog_problems(plan)
        for name in sorted(plan.flows):
            flow = library[name]
            if not names_checked:
                errors += _language_problems(plan, flow)
            errors += _destination_problems(plan, flow)
            for problems in (_gateway_problems, _web_service_problems):
                found, undefined = problems(tenancy, plan, flow)
                errors += found
                if not names_checked:
                    (errors if plan.has_block else warnings).extend(undefined)
            found, undefined = _named_problems(tenancy, plan, flow, _SMS_PROVIDERS)
            errors += found
            if plan.has_block and not names_checked:   # its step would end calls in error
                errors += undefined
            found, undefined = _named_problems(tenancy, plan, flow, _PAYMENT_LINKS)
            errors += found
            if plan.has_block and not names_checked:   # choosing the link takes its on.error
                warnings += undefined
    return errors, warnings


def _where(flow: Flow, line: int) -> str:
    return "flow %s (%s:%d)" % (flow.name, flow.source, line)


def _gateway_problems(tenancy: Tenancy, plan: TenantPlan, flow: Flow) -> Tuple[List[str], List[str]]:
    """(gateways held by others, gateways nobody defines) that the flow names."""
    others, undefined = [], []
    for step in flow.steps:
        for _, name in type(step.action).gateways(step.action.config):
            if name in plan.gateways:
                continue
            if name in tenancy.gateways:
                others.append("%s: %s: authorize names gateway %r, which %s has not been "
                              "granted (held by %s); %s's gateways: %s"
                              % (_gateways_key(plan), _where(flow, step.line), name,
                                 plan.describe(), tenancy.held_by(name), plan.describe(),
                                 ", ".join(sorted(plan.gateways)) or "none"))
            elif plan.has_block:
                undefined.append("%s: %s: authorize names gateway %r, which the config does not "
                                 "define; %s's gateways: %s"
                                 % (_gateways_key(plan), _where(flow, step.line), name,
                                    plan.describe(), ", ".join(sorted(plan.gateways)) or "none"))
            else:
                # the service's start-up warning, as a site without tenants has always seen it
                undefined.append("%s: authorize names gateway %r, which the config does not "
                                 "define (gateways: %s): its calls go to the dialplan fallback"
                                 % (_where(flow, step.line), name,
                                    ", ".join(sorted(plan.gateways)) or "none"))
    return others, undefined


def _web_service_problems(tenancy: Tenancy, plan: TenantPlan,
                          flow: Flow) -> Tuple[List[str], List[str]]:
    """(web services held by others, web services nobody defines) that the flow asks."""
    others, undefined = [], []
    key = "%s.web_services" % plan.key if plan.has_block else "web_services"
    held = ", ".join(sorted(plan.web_services)) or "none"
    for step in flow.steps:
        for _, name in type(step.action).web_services(step.action.config):
            if name in plan.web_services:
                continue
            if name in tenancy.web_services:
                others.append("%s: %s: call_service names web service %r, which %s has not been "
                              "granted; %s's web services: %s" % (key, _where(flow, step.line), name,
                                                                 plan.describe(), plan.describe(), held))
            else:
                undefined.append("%s: %s: call_service names web service %r, which the config "
                                 "does not define (web services: %s): the step ends its calls with "
                                 "an error" % (key, _where(flow, step.line), name, held))
    return others, undefined


@dataclass(frozen=True)
class _Named:
    """A kind of named thing a tenant holds, as a flow's steps name it."""

    section: str      # the config key: sms_providers, payment_links
    what: str         # how messages name one
    facts: str        # the StepKind class method listing the names a step uses
    undefined: str    # what happens on the call to a name nobody defines


_SMS_PROVIDERS = _Named("sms_providers", "SMS provider", "sms_providers",
                        "the step ends its calls with an error")
_PAYMENT_LINKS = _Named("payment_links", "payment link", "payment_links",
                        "choosing the link takes the step's on.error")


def _named_problems(tenancy: Tenancy, plan: TenantPlan, flow: Flow,
                    kind: _Named) -> Tuple[List[str], List[str]]:
    """(names held by others or not granted, names nobody defines) of ``kind`` the flow uses.
    A tenant's steps use only its own and the top-level ones granted to it; the default
    tenant the top-level ones."""
    others, undefined = [], []
    key = "%s.%s" % (plan.key, kind.section) if plan.has_block else kind.section
    mine = getattr(plan, kind.section)
    every = getattr(tenancy, kind.section)
    held = ", ".join(sorted(mine)) or "none"
    for step in flow.steps:
        for _, name in getattr(type(step.action), kind.facts)(step.action.config):
            if name in mine:
                continue
            if name in every:
                holders = sorted(tenant for tenant, other in tenancy.plans.items()
                                 if name in getattr(other, kind.section))
                others.append("%s: %s: %s names %s %r, which %s has not been granted (held by "
                              "%s); %s's %ss: %s"
                              % (key, _where(flow, step.line), step.kind, kind.what, name,
                                 plan.describe(), _tenant_list(holders), plan.describe(),
                                 kind.what, held))
            else:
                undefined.append("%s: %s: %s names %s %r, which the config does not define "
                                 "(%s's %ss: %s): %s"
                                 % (key, _where(flow, step.line), step.kind, kind.what, name,
                                    plan.describe(), kind.what, held, kind.undefined))
    return others, undefined


def _tenant_list(names: List[str]) -> str:
    shown = ["the default tenant" if name == DEFAULT_TENANT else name for name in names]
    shown.sort(key=lambda name: name != "the default tenant")
    if len(shown) > 1:
        return "%s and %s" % (", ".join(shown[:-1]), shown[-1])
    return shown[0] if shown else "nobody"


def _gateways_key(plan: TenantPlan) -> str:
    return "%s.gateways" % plan.key if plan.has_block else "gateways"


def _language_problems(plan: TenantPlan, flow: Flow) -> List[str]:
    """The flow's default language, and each language a step offers (choose_language), must
    be the tenant's and have a catalog in its catalog_dir: a call falls back to the default,
    which therefore cannot be missing."""
    spoken = [(flow.language_line, flow.language)]
    for step in flow.steps:
        offered = getattr(type(step.action), "languages", None)
        if offered is not None:
            spoken += [(step.line, code) for _, code in offered(step.action.config)]
    problems = []
    for line, code in spoken:
        if plan.languages is not None and code not in plan.languages:
            problems.append("%s: %s speaks %s, which is not one of %s's languages (%s)"
                            % (_prompts_key(plan), _where(flow, line), code, plan.describe(),
                               ", ".join(sorted(plan.languages))))
            continue
        try:
            Catalog.load(code, plan.prompts.catalog_dir)
        except CatalogError as exc:
            problems.append("%s: %s speaks %s: %s" % (_prompts_key(plan), _where(flow, line),
                                                      code, exc))
    return problems


def _catalog_problems(plan: TenantPlan) -> List[str]:
    problems = []
    for language in sorted(plan.languages or ()):
        try:
            Catalog.load(language, plan.prompts.catalog_dir)
        except CatalogError as exc:
            problems.append("%s: %s" % (_prompts_key(plan), exc))
    return problems


def _prompts_key(plan: TenantPlan) -> str:
    return "%s.prompts.languages" % plan.key if plan.has_block else "prompts.languages"


def _destination_problems(plan: TenantPlan, flow: Flow) -> List[str]:
    if plan.destinations is None:
        return []
    problems = []
    for step in flow.steps:
        for _, extension, context in type(step.action).destinations(step.action.config):
            if "${" in extension or "${" in context:
                continue   # known on the call only: checked there
            if not plan.may_transfer(extension, context):
                problems.append("%s.destinations: %s: %s to %s in context %s is not one of %s's "
                                "destinations" % (plan.key, _where(flow, step.line), step.kind,
                                                  extension, context, plan.describe()))
    return problems
