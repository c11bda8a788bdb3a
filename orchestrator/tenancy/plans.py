"""What each tenant's calls may use: its flows, gateways, web services, SMS providers, payment
links, catalogs and destinations.

A ``TenantPlan`` is one tenant's grants, resolved from the config (``settings.py``) and the flow
library (which folder each flow came from). ``Tenancy.plan(tenant)`` is what the service asks
for every call, after ``orchestrator/tenants.py`` has said whose the call is:

- on a site without tenant blocks (no ``tenants``, or a list of names) every tenant, ``default``
  and ``unknown`` included, shares every flow, gateway and catalog, and its flows send callers
  anywhere: the site works exactly as before tenants had blocks;
- with blocks, a tenant has its folder's flows and the names granted to it, its own gateways
  and the top-level ones granted to it, its prompts over the top-level ones, and sends callers
  only to its ``destinations``; ``default`` has every top-level flow and gateway (what a tenant
  is granted from there it shares with the default tenant and with whoever else is granted it;
  what is a tenant's alone it writes in its block) and, as on a single-tenant site, no allow
  list for its flows' transfers; ``unknown`` (a ``pay_tenant`` nobody configured) has nothing.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any, Dict, FrozenSet, List, Mapping, Optional, Set, Tuple

from orchestrator.agent.settings import Destinations
from orchestrator.engine.selection import FlowLibrary
from orchestrator.engine.services import PromptSettings
from orchestrator.tenants import DEFAULT_TENANT

from .settings import (TOP_LEVEL, has_blocks, tenant_gateways, tenant_payment_links,
                       tenant_sms_providers, tenant_web_services)


@dataclass(frozen=True)
class TenantPlan:
    """One tenant's grants. ``key`` is where the config writes them (``tenants.acme``, or
    ``(top level)`` for the default tenant), for messages."""

    name: str
    key: str
    flows: FrozenSet[str]
    gateways: FrozenSet[str]
    prompts: PromptSettings = field(default_factory=PromptSettings)
    languages: Optional[FrozenSet[str]] = None        # None: whatever catalogs there are
    default_flow: Optional[str] = None
    by_destination: Mapping[str, str] = field(default_factory=dict)
    destinations: Optional[Destinations] = None       # None: its flows send callers anywhere
    web_services: FrozenSet[str] = frozenset()        # the CRMs its flows may ask
    sms_providers: FrozenSet[str] = frozenset()       # the SMS providers its flows may text through
    payment_links: FrozenSet[str] = frozenset()       # the payment_links entries its flows may use

    @property
    def has_block(self) -> bool:
        return self.key != TOP_LEVEL

    def may_transfer(self, extension: str, context: str) -> bool:
        return self.destinations is None or self.destinations.allows(self.name, extension, context)

    def describe(self) -> str:
        """How messages name the tenant: ``tenant acme`` or ``the default tenant``."""
        return "the default tenant" if self.name == DEFAULT_TENANT else "tenant %s" % self.name


class Tenancy:
    """Every tenant's plan; ``shared`` when the config gives its tenants no blocks."""

    def __init__(self, plans: Mapping[str, TenantPlan], shared: bool,
                 gateways: FrozenSet[str], owners: Mapping[str, Tuple[str, ...]]) -> None:
        self.plans: Dict[str, TenantPlan] = dict(plans)
        self.shared = shared
        self.gateways = gateways                       # every gateway the config defines
        self.web_services: FrozenSet[str] = frozenset()  # every web service it defines
        self.sms_providers: FrozenSet[str] = frozenset()  # every SMS provider it defines
        self.payment_links: FrozenSet[str] = frozenset()  # every payment link entry it defines
        self._owners = dict(owners)                    # flow or gateway -> tenants holding it

    def plan(self, tenant: str) -> TenantPlan:
        """The plan of a call's tenant (a name ``resolve_tenant`` gave: configured, ``default``
        or ``unknown``)."""
        found = self.plans.get(tenant)
        if found is not None:
            return found
        if self.shared:
            return dataclasses.replace(self.plans[DEFAULT_TENANT], name=tenant)
        return TenantPlan(tenant, TOP_LEVEL, frozenset(), frozenset(),
                          self.plans[DEFAULT_TENANT].prompts, destinations=Destinations({}))

    def may_run(self, tenant: str, flow: str) -> bool:
        return flow in self.plan(tenant).flows

    def withheld_gateways(self, tenant: str) -> FrozenSet[str]:
        """The gateways the config defines that ``tenant`` may not charge."""
        return self.gateways - self.plan(tenant).gateways

    def withheld_web_services(self, tenant: str) -> FrozenSet[str]:
        """The web services the config defines that ``tenant`` may not ask."""
        return self.web_services - self.plan(tenant).web_services

    def withheld_sms_providers(self, tenant: str) -> FrozenSet[str]:
        """The SMS providers the config defines that ``tenant`` may not text through."""
        return self.sms_providers - self.plan(tenant).sms_providers

    def withheld_payment_links(self, tenant: str) -> FrozenSet[str]:
        """The payment link entries the config defines that ``tenant`` may not use."""
        return self.payment_links - self.plan(tenant).payment_links

    def link_tenants(self, link: str) -> Optional[FrozenSet[str]]:
        """The tenants whose payments a payment link entry may settle (its webhook refuses
        the others'); None on a site without tenant blocks, where every tenant shares it."""
        if self.shared:
            return None
        return frozenset(name for name, plan in self.plans.items() if link in plan.payment_links)

    def holders(self, name: str) -> Tuple[str, ...]:
        """The tenants a flow or gateway belongs to, sorted."""
        return self._owners.get(name, ())

    def held_by(self, name: str) -> str:
        """``holders`` for a message: ``globex``, ``the default tenant and globex``, ``nobody``."""
        names = ["the default tenant" if holder == DEFAULT_TENANT else holder
                 for holder in self.holders(name)]
        names.sort(key=lambda holder: holder != "the default tenant")
        if len(names) > 1:
            return "%s and %s" % (", ".join(names[:-1]), names[-1])
        return names[0] if names else "nobody"


def _prompts(top: Mapping[str, Any], block: Mapping[str, Any]) -> Tuple[PromptSettings,
                                                                         Optional[FrozenSet[str]]]:
    merged = dict(top, **block)
    languages = merged.get("languages")
    return (PromptSettings(merged.get("catalog_dir"), merged.get("audio_dir", ""),
                           merged.get("audio", "auto")),
            frozenset(languages) if languages else None)


def build_tenancy(data: Mapping[str, Any], library: FlowLibrary,
                  top_directory: str) -> Tuple[Tenancy, List[str]]:
    """The tenancy of a loaded config over its flow library, and what is wrong with the
    grants (``key: message`` lines): a granted name that is no top-level flow, a tenant's
    default or number map naming a flow that is not the tenant's."""
    every_gateway = frozenset(settings["name"] for _, settings in tenant_gateways(data))
    every_service = frozenset(settings["name"] for _, settings in tenant_web_services(data))
    every_provider = frozenset(settings["name"] for _, settings in tenant_sms_providers(data))
    every_link = frozenset(settings["name"] for _, settings in tenant_payment_links(data))
    top_prompts = data["prompts"]
    if not has_blocks(data):
        prompts, languages = _prompts(top_prompts, {})
        plan = TenantPlan(DEFAULT_TENANT, TOP_LEVEL, frozenset(library.flows), every_gateway,
                          prompts, languages, web_services=every_service,
                          sms_providers=every_provider, payment_links=every_link)
        shared = Tenancy({DEFAULT_TENANT: plan}, True, every_gateway, {})
        shared.web_services = every_service
        shared.sms_providers, shared.payment_links = every_provider, every_link
        return shared, []
    blocks: Mapping[str, Mapping[str, Any]] = data["tenants"]
    folder_owner = {block["flows"]["directory"]: tenant for tenant, block in blocks.items()
                    if block["flows"]["directory"] is not None}

    def home(flow: str) -> Optional[str]:
        """The tenant whose folder the flow came from; None for the top-level library."""
        return folder_owner.get(library.origins.get(flow, top_directory))

    top_flows = {name for name in library.flows if home(name) is None}
    top_gateways = {settings["name"] for settings in data["gateways"]}
    owners: Dict[str, List[str]] = {}
    problems: List[str] = []
    plans: Dict[str, TenantPlan] = {}
    for tenant, block in blocks.items():
        key = "tenants.%s" % tenant
        flows = {name for name in library.flows if home(name) == tenant}
        for index, name in enumerate(block["flows"]["names"]):
            problem = _grant_problem(name, top_flows, library, home(name), top_directory)
            if problem:
                problems.append("%s.flows.names[%d]: %s" % (key, index, problem))
            else:
                flows.add(name)
        gateways = {item["name"] if isinstance(item, dict) else item
                    for item in block.get("gateways") or []}
        services = _names(block.get("web_services"))
        prompts, languages = _prompts(top_prompts, block.get("prompts") or {})
        plan = TenantPlan(tenant, key, frozenset(flows), frozenset(gateways), prompts, languages,
                          block["flows"]["default"], dict(block["flows"]["by_destination"]),
                          Destinations({tenant: block.get("destinations") or []}),
                          frozenset(services), _names(block.get("sms_providers")),
                          _names(block.get("payment_links")))
        problems += _chosen_flows_problems(plan)
        plans[tenant] = plan
        for name in flows | gateways:
            owners.setdefault(name, []).append(tenant)
    prompts, languages = _prompts(top_prompts, {})
    top_services = frozenset(settings["name"] for settings in data.get("web_services") or [])
    default = TenantPlan(DEFAULT_TENANT, TOP_LEVEL, frozenset(top_flows),
                         frozenset(top_gateways), prompts, languages, web_services=top_services,
                         sms_providers=frozenset(item["name"]
                                                 for item in data.get("sms_providers") or []),
                         payment_links=frozenset(data.get("payment_links") or {}))
    plans[DEFAULT_TENANT] = default
    for name in default.flows | default.gateways:
        owners.setdefault(name, []).append(DEFAULT_TENANT)
    tenancy = Tenancy(plans, False, every_gateway,
                      {name: tuple(sorted(held)) for name, held in owners.items()})
    tenancy.web_services = every_service
    tenancy.sms_providers, tenancy.payment_links = every_provider, every_link
    return tenancy, problems


def _names(items: Any) -> FrozenSet[str]:
    """The names a block's list grants or defines (a granted name, or an entry's ``name``)."""
    return frozenset(item["name"] if isinstance(item, dict) else item for item in items or [])


def _grant_problem(name: str, top_flows: Set[str], library: FlowLibrary, home: Optional[str],
                   top_directory: str) -> Optional[str]:
    if name in top_flows:
        return None
    if name in library:
        return ("flow %s is tenant %s's own (%s); only flows of the top-level flows.directory "
                "can be granted" % (name, home, library[name].source))
    return ("no flow named %s in the top-level flows.directory %s (known: %s)"
            % (name, top_directory, ", ".join(sorted(top_flows)) or "none"))


def _chosen_flows_problems(plan: TenantPlan) -> List[str]:
    """A tenant's ``default`` and ``by_destination`` may name only the tenant's flows."""
    named = [("%s.flows.default" % plan.key, plan.default_flow)] if plan.default_flow else []
    named += [("%s.flows.by_destination.%s" % (plan.key, number), name)
              for number, name in plan.by_destination.items()]
    return ["%s: flow %s is not one of %s's flows (%s)"
            % (key, name, plan.describe(), ", ".join(sorted(plan.flows)) or "none")
            for key, name in named if name not in plan.flows]
