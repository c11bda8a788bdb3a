"""A loaded config's flows and tenants, checked: what start-up and ``validate --config`` share.

``load_library`` reads every flow folder the config names (the top-level one and each tenant's
own); ``plan`` resolves each tenant's grants over that library and checks the config's flow
choices and every tenant's flows against its grants. Both the service and the ``validate``
command print the same lines, so a config checked in CI starts the same way in production.
"""
from __future__ import annotations

from typing import Any, List, Tuple

from orchestrator.config import ConfigError
from orchestrator.engine.selection import FlowLibrary

from .checks import check_tenancy
from .plans import Tenancy, build_tenancy
from .settings import flow_directories


def load_library(config: Any) -> FlowLibrary:
    """Every flow of the config's folders; ``FlowError`` with every problem of every file.
    With ``flows.names``, only those flows of the top-level folder are kept (every file is
    still read and checked: a folder holds no broken flow); a name of no flow there is a
    ``ConfigError``."""
    library = FlowLibrary.from_directories(flow_directories(config.data, config.flows_directory))
    names = config["flows"].get("names")
    if names is None:
        return library
    top = config.flows_directory
    in_folder = sorted(name for name in library.flows if library.origins.get(name) == top)
    unknown = ["%s: flows.names[%d]: no flow named %r in %s (known: %s)"
               % (config.source, index, name, top, ", ".join(in_folder) or "none")
               for index, name in enumerate(names) if name not in in_folder]
    if unknown:
        raise ConfigError("\n".join(unknown))
    kept = {name: flow for name, flow in library.flows.items()
            if library.origins.get(name) != top or name in names}
    return FlowLibrary(kept, {name: library.origins[name] for name in kept if name in library.origins})


def plan(config: Any, library: FlowLibrary,
         names_checked: bool = False) -> Tuple[Tenancy, List[str], List[str]]:
    """``(tenancy, errors, warnings)``, each line ``key: message`` (the config file's name is
    the caller's to add). ``names_checked``: see ``check_tenancy``."""
    errors = _flow_choice_problems(config, library)
    tenancy, problems = build_tenancy(config.data, library, config.flows_directory)
    errors += problems
    if errors:
        return tenancy, errors, []
    found, warnings = check_tenancy(tenancy, library, names_checked)
    return tenancy, found, warnings


def _flow_choice_problems(config: Any, library: FlowLibrary) -> List[str]:
    """``flows.default`` and ``flows.by_destination`` name flows that exist (whose they are is
    decided per call: a number of the site's map may be any tenant's)."""
    flows = config["flows"]
    named = [("flows.default", flows["default"])] if flows["default"] else []
    named += [("flows.by_destination.%s" % number, name)
              for number, name in flows["by_destination"].items()]
    return ["%s: no flow named %r in %s (known: %s)"
            % (key, name, config.flows_directory, ", ".join(library) or "none")
            for key, name in named if name not in library]
