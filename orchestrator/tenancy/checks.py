"""Refused when the config loads: a tenant's flow that reaches past what its tenant holds.

For every tenant and every flow it may run, from the static facts the step kinds declare
(``StepKind.gateways``, ``StepKind.web_services``, ``StepKind.destinations``):

- a gateway the tenant does not hold is an error naming the tenant's key and the flow's
  file:line, whether another tenant holds it or nobody defines it. On a site without tenant
  blocks, and for the default tenant, a gateway nobody defines stays a warning, as it always
  was (the flow's calls end before any card is asked for); one that another tenant holds is an
  error for the default tenant too;
- a web service (``call_service``) is checked the same way: one another tenant holds is an
  error, one nobody defines an error for a tenant with a block and a warning otherwise;
- a flow in a language the tenant's ``prompts.languages`` does not list, and a listed language
  without a catalog, are errors;
- a transfer to a destination written out in full (no ``${...}``) outside a tenant's
  ``destinations`` is an error; one built at run time is checked on the call (``CallServices``).

Each line is ``key: message``; the service prefixes the config file's name.
"""
from __future__ import annotations

from typing import List, Tuple

from orchestrator.catalog import Catalog, CatalogError
from orchestrator.engine.flow import Flow
from orchestrator.engine.selection import FlowLibrary

from .plans import Tenancy, TenantPlan


def check_tenancy(tenancy: Tenancy, library: FlowLibrary) -> Tuple[List[str], List[str]]:
    """``(errors, warnings)`` of every tenant's flows against its grants."""
    errors: List[str] = []
    warnings: List[str] = []
    for plan in tenancy.plans.values():
        errors += _catalog_problems(plan)
        for name in sorted(plan.flows):
            flow = library[name]
            errors += _language_problems(plan, flow)
            errors += _destination_problems(plan, flow)
            found, undefined = _gateway_problems(tenancy, plan, flow)
            errors += found
            (errors if plan.has_block else warnings).extend(undefined)
            found, undefined = _web_service_problems(tenancy, plan, flow)
            errors += found
            (errors if plan.has_block else warnings).extend(undefined)
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
