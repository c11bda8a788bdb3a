"""What a flow's names are checked against: the built-in defaults, or a service config's.

``engine/names.py`` looks names up in an ``Available``; this module builds one:

- ``builtin_defaults()``: the catalogs shipped in ``orchestrator/catalog`` and what ``simulate``
  runs a flow with (``dry_run.py``): the gateway ``sandbox``, the web service ``crm``, the SMS
  provider ``sms`` and the payment link ``paylink``. ``validate`` without ``--config`` checks
  against these, and says so;
- ``check_library(config, library, tenancy)``: every flow of a loaded config against what the
  service built from that config will hold for each tenant that may run it: the gateways and
  web services, SMS providers and payment links the config defines (top level and each
  tenant's; which tenant may use which is ``tenancy/checks.py``'s), and the tenant's catalogs
  (``prompts.catalog_dir``, else the built-in ones) and languages (``prompts.languages``).
  ``validate --config``, ``check`` and ``run`` share it, so what passes one starts.
"""
from __future__ import annotations

import os
from typing import Any, Dict, FrozenSet, List, Optional, Tuple

from orchestrator.catalog import HERE as BUILTIN_CATALOGS
from orchestrator.engine.names import Available, CatalogNames, check_names
from orchestrator.engine.problems import Problem
from orchestrator.flow_reload import load_catalog_folder
from orchestrator.payments.gateways.registry import card_on_file_modes
from orchestrator.payments.gateways.tokens import MODES
from orchestrator.tenancy import (tenant_gateways, tenant_payment_links, tenant_sms_providers,
                                  tenant_web_services)

# what ``simulate`` gives a flow (orchestrator/dry_run.py): keep the two in step
SIMULATED_GATEWAYS = frozenset({"sandbox"})
SIMULATED_WEB_SERVICES = frozenset({"crm"})
SIMULATED_SMS_PROVIDERS = frozenset({"sms"})
SIMULATED_PAYMENT_LINKS = frozenset({"paylink"})
BUILTIN_DEFAULTS = "the built-in defaults"


def catalogs_in(directory: Optional[str]) -> Tuple[Dict[str, CatalogNames], Dict[str, str]]:
    """The catalogs of ``directory`` (the built-in folder when None or empty), by language,
    and why each unusable one cannot be used; read as the service reads them
    (``flow_reload.load_catalog_folder``), so what ``validate`` accepts the service loads."""
    try:
        loaded, problems = load_catalog_folder(directory or BUILTIN_CATALOGS)
    except OSError:
        return {}, {}
    return ({language: CatalogNames(language, shown(catalog.source), frozenset(catalog.prompts),
                                    frozenset(catalog.messages))
             for language, catalog in loaded.items()}, problems)


def shown(path: str) -> str:
    """A path as messages show it: relative to the working folder when it is under it."""
    relative = os.path.relpath(path)
    return path if relative.startswith("..") else relative


def builtin_defaults() -> Available:
    """The names a flow finds under ``simulate``, with the shipped catalogs."""
    catalogs, problems = catalogs_in(None)
    return Available(BUILTIN_DEFAULTS, catalogs, shown(BUILTIN_CATALOGS), None, SIMULATED_GATEWAYS,
                     SIMULATED_WEB_SERVICES, SIMULATED_SMS_PROVIDERS, SIMULATED_PAYMENT_LINKS,
                     card_on_file={"sandbox": frozenset(MODES)}, catalog_problems=problems)


def describe(available: Available) -> str:
    """One line saying what ``available`` holds, for ``validate`` to print."""
    def names(values: FrozenSet[str]) -> str:
        return ", ".join(sorted(values)) or "none"
    return ("checked against %s: catalogs %s (%s); gateways %s; web services %s; SMS providers "
            "%s; payment links %s" % (available.where, names(frozenset(available.catalogs)),
                                      available.catalog_folder, names(available.gateways),
                                      names(available.web_services),
                                      names(available.sms_providers),
                                      names(available.payment_links)))


def available_for(config: Any, tenancy: Any, plan: Any,
                  read: Optional[Dict[str, Any]] = None) -> Available:
    """What a flow run for ``plan``'s tenant finds in the service built from ``config``;
    ``read`` keeps the catalogs of each folder read so far (tenants often share one)."""
    data = config.data
    folder = plan.prompts.catalog_dir or BUILTIN_CATALOGS
    read = {} if read is None else read
    if folder not in read:
        read[folder] = catalogs_in(folder)
    catalogs, problems = read[folder]
    return Available(
        config.source, catalogs, shown(folder), plan.languages,
        frozenset(settings["name"] for _, settings in tenant_gateways(data)),
        frozenset(settings["name"] for _, settings in tenant_web_services(data)),
        frozenset(settings["name"] for _, settings in tenant_sms_providers(data)),
        frozenset(settings["name"] for _, settings in tenant_payment_links(data)),
        card_on_file={settings["name"]: frozenset(card_on_file_modes(settings))
                      for _, settings in tenant_gateways(data)},
        catalog_problems=problems, owner="" if tenancy.shared else plan.describe())


def check_library(config: Any, library: Any, tenancy: Any) -> List[Problem]:
    """Every name a flow of ``library`` uses that the service built from ``config`` would not
    have for a tenant that may run it; each problem once, in file and line order."""
    found: Dict[Tuple[str, int, int, str], Problem] = {}
    read: Dict[str, Any] = {}
    for plan in tenancy.plans.values():
        available = available_for(config, tenancy, plan, read)
        for name in sorted(plan.flows):
            checked = library[name].checked
            if checked is None:
                continue
            for problem in check_names(checked, available):
                found.setdefault((problem.file, problem.line, problem.column, problem.message),
                                 problem)
    return [found[key] for key in sorted(found)]
