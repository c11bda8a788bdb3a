"""Reloading the flows and prompt catalogs of a running service (SIGHUP, or the agent API's
``POST /api/v1/admin/reload``) without touching the calls in progress.

Everything is read and checked before anything changes, the way start-up checks it: every
flow folder the config names (``FlowLibrary``: each problem as ``file:line:column``), the
config's flow choices and each tenant's grants over the new flows (``tenancy/loading.py``), and
the catalog of every language the new flows speak. Only when all of it is good are the
service's library and tenancy plan replaced, in one assignment with no yield in between, so no
call sees half of a reload. A call in progress keeps the ``Flow`` object it started with (its
``FlowRunner`` holds it): it ends on the flow it began on; a call that arrives afterwards
chooses from the new flows. Anything wrong keeps everything as it was, and says why: at ERROR
in the log, one line per problem, and in the answer to the API's caller.

The catalogs are read with the flows (every ``<language>.yaml`` of the shipped folder and of
each tenant's ``prompts.catalog_dir``) and handed to each call with them (``CallServices``), so
a call in progress keeps its prompts too, and an edited catalog is heard from the next reload
on. Every catalog a flow speaks must load, or the reload is refused; a catalog file no flow
speaks that does not load is a warning (a step naming its language at run time would fail on
it, as it would without a reload).

What is not reloaded is the service config itself (gateways, tokens, ports, tenants): that
takes a restart. Each reload is counted (``payivr_flow_reloads_total{result}``) and
``payivr_flows_loaded`` says how many flows new calls choose from.
"""
from __future__ import annotations

import logging
import os
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Dict, List, Set, Tuple

import gevent.lock

from orchestrator.catalog import HERE as SHIPPED_CATALOGS, Catalog, CatalogError
from orchestrator.engine import FlowError
from orchestrator.tenancy.loading import load_library, plan as plan_tenants
from orchestrator.tenants import DEFAULT_TENANT

# the catalogs of each folder ("" for the shipped one), by language
Catalogs = Dict[str, Dict[str, Catalog]]

if TYPE_CHECKING:  # pragma: no cover
    from orchestrator.engine.selection import FlowLibrary
    from orchestrator.tenancy.plans import Tenancy

log = logging.getLogger(__name__)


@dataclass
class ReloadResult:
    """What one reload did: ``reloaded`` (the new flows are in use) or not, and why not."""

    reloaded: bool
    trigger: str
    flows: List[str] = field(default_factory=list)
    catalogs: List[str] = field(default_factory=list)
    problems: List[str] = field(default_factory=list)
    warnings: List[str] = field(default_factory=list)

    def to_json(self) -> Dict[str, object]:
        return {"reloaded": self.reloaded, "trigger": self.trigger, "flows": self.flows,
                "catalogs": self.catalogs, "problems": self.problems, "warnings": self.warnings}


class FlowReloader:
    """Reloads ``service``'s flows and catalogs, one reload at a time."""

    def __init__(self, service) -> None:
        self._service = service
        self._lock = gevent.lock.Semaphore()

    def reload(self, trigger: str) -> ReloadResult:
        """Load and check everything, then swap it in, or keep what runs; ``trigger`` says
        what asked (``SIGHUP``, ``api``) for the log."""
        with self._lock:
            try:
                result = self._reload(trigger)
            except Exception as error:   # a reload must never take the running service down
                log.exception("reload (%s): unexpected failure", trigger)
                result = self._refused(trigger, ["internal error while reloading: %s"
                                                 % type(error).__name__])
        service = self._service
        service.metrics.record_reload("reloaded" if result.reloaded else "failed",
                                      len(service.library))
        return result

    def _reload(self, trigger: str) -> ReloadResult:
        service, config = self._service, self._service.config
        try:
            library = load_library(config)
        except FlowError as error:
            return self._refused(trigger, [str(problem) for problem in error.problems])
        tenancy, errors, warnings = plan_tenants(config, library)
        if errors:
            return self._refused(trigger, ["%s: %s" % (config.source, line) for line in errors])
        loaded, broken = load_catalogs(tenancy, sorted(service.tenants))
        catalogs, problems = _check_catalogs(library, tenancy, sorted(service.tenants), loaded,
                                             broken)
        if problems:
            return self._refused(trigger, problems)
        warnings = list(warnings) + sorted(set(broken.values()) - set(problems))
        for warning in warnings:
            log.warning("%s", warning)
        # no yield between these: a call chooses from one reload or the other, never half
        service.library, service.tenancy, service.catalogs = library, tenancy, loaded
        result = ReloadResult(True, trigger, sorted(library), catalogs, warnings=warnings)
        log.info("reload (%s): flows and catalogs reloaded: %d flows (%s), catalogs %s; calls in "
                 "progress keep the flows they started with", trigger, len(result.flows),
                 ", ".join(result.flows) or "none", ", ".join(catalogs) or "none")
        return result

    @staticmethod
    def _refused(trigger: str, problems: List[str]) -> ReloadResult:
        for problem in problems:     # one line each, so each file:line:column is a link
            log.error("reload (%s) failed; the flows and catalogs in use are kept: %s",
                      trigger, problem)
        return ReloadResult(False, trigger, problems=problems)


def catalog_folders(tenancy: "Tenancy", tenants: List[str]) -> Set[str]:
    """Each catalog folder a tenant's calls read ("" for the shipped one)."""
    return {tenancy.plan(tenant).prompts.catalog_dir or "" for tenant in [DEFAULT_TENANT] + tenants}


def load_catalog_folder(folder: str) -> Tuple[Dict[str, Catalog], Dict[str, str]]:
    """Every catalog file of ``folder`` ("" for the shipped one), by language, and why each
    file that does not load does not; an unreadable folder raises OSError. The one reading
    of a catalog folder: the service, a reload and ``validate`` (``flow_names.py``) share it."""
    loaded: Dict[str, Catalog] = {}
    broken: Dict[str, str] = {}
    for name in sorted(os.listdir(folder or SHIPPED_CATALOGS)):
        language, extension = os.path.splitext(name)
        if extension != ".yaml":
            continue
        try:
            loaded[language] = Catalog.load(language, folder or None)
        except CatalogError as error:
            broken[language] = str(error)
    return loaded, broken


def load_catalogs(tenancy: "Tenancy", tenants: List[str]) -> Tuple[Catalogs, Dict[Tuple[str, str], str]]:
    """Every catalog file of every folder the tenants' calls read, by folder and language, and
    why each file that does not load does not, by (folder, language)."""
    loaded: Catalogs = {}
    broken: Dict[Tuple[str, str], str] = {}
    for folder in sorted(catalog_folders(tenancy, tenants)):
        try:
            loaded[folder], problems = load_catalog_folder(folder)
        except OSError as error:
            loaded[folder] = {}
            broken[(folder, "")] = "%s: cannot read the catalog folder: %s" % (folder, error.strerror)
            continue
        broken.update({(folder, language): problem for language, problem in problems.items()})
    return loaded, broken


def _check_catalogs(library: "FlowLibrary", tenancy: "Tenancy", tenants: List[str],
                    loaded: Catalogs, broken: Dict[Tuple[str, str], str]
                    ) -> Tuple[List[str], List[str]]:
    """The catalogs (``language``, or ``folder/language`` for a tenant's own) the flows each
    tenant may run speak, and a problem for each that did not load."""
    needed: Set[Tuple[str, str]] = set()
    for tenant in [DEFAULT_TENANT] + list(tenants):
        plan = tenancy.plan(tenant)
        languages = {library[name].language for name in plan.flows if name in library}
        for language in languages | set(plan.languages or ()):
            needed.add((plan.prompts.catalog_dir or "", language))
    found, problems = [], []
    for folder, language in sorted(needed):
        if language in loaded.get(folder, {}):
            found.append("%s/%s" % (folder, language) if folder else language)
        else:
            problems.append(broken.get((folder, language)) or
                            "no prompt catalog for language %r (%s)" % (
                                language, os.path.join(folder or SHIPPED_CATALOGS,
                                                       "%s.yaml" % language)))
    return found, problems
