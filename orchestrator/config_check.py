"""Everything start-up would refuse in a service config, found without starting anything.

``check_config`` is what ``orchestrator check``, ``validate --config`` and ``run`` share, so a
config that passes in CI starts the same way in production:

1. the file: YAML, the schema (an unknown key with the closest known one), the environment it
   reads, each at ``file:line:column`` (``config.py``, ``config_positions.py``);
2. the gateways, web services, SMS providers and payment links it defines can be built (a bad
   URL, a short secret), as the service builds them;
3. every flow of every folder it names loads and passes ``validate``;
4. the flow choices and each tenant's grants (``tenancy/``);
5. every name each flow uses exists for each tenant that may run it: catalog keys in every
   language the flow can speak, languages, gateways, web services, SMS providers, payment
   links (``flow_names.py``), at the flow's ``file:line:column``.

Warnings (a web service's error with no branch of its own, keys that moved) are reported and
pass. Nothing here opens the store or a socket, nor sends anything to a gateway.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, List, Optional

from orchestrator.config import ConfigError, load_config
from orchestrator.engine.problems import FlowError


@dataclass
class ConfigReport:
    """What ``check_config`` found: ``errors`` and ``warnings`` as printable lines, and the
    loaded config and flow library when they could be loaded."""

    source: str
    config: Any = None
    library: Any = None
    config_errors: List[str] = field(default_factory=list)   # about the config file
    flow_errors: List[str] = field(default_factory=list)     # about a flow file
    warnings: List[str] = field(default_factory=list)
    name_warnings: List[str] = field(default_factory=list)  # of those, about a flow's names

    @property
    def ok(self) -> bool:
        return not self.config_errors and not self.flow_errors

    def summary(self) -> str:
        tenants = ["default"] + sorted(self.config["tenants"]) if self.config else []
        return "%s: OK (%d flows, tenants: %s)" % (self.source, len(self.library or ()),
                                                 ", ".join(tenants))


def check_config(path: str, environ: Optional[dict] = None) -> ConfigReport:
    """Check the config at ``path`` as start-up would, and every flow it names."""
    from orchestrator.flow_names import check_library
    from orchestrator.service import Service
    from orchestrator.tenancy.loading import load_library, plan

    report = ConfigReport(path)
    try:
        config = report.config = load_config(path, environ)
    except ConfigError as exc:
        report.config_errors = exc.lines()
        return report
    report.source = config.source
    report.warnings += config.error_lines(ConfigError("\n".join(config.deprecations)))
    for build in (Service._build_gateways, Service._build_web_services,
                  Service._build_sms_providers, Service._build_payment_links):
        try:
            built = build(config)
        except ConfigError as exc:
            report.config_errors += config.error_lines(exc)
            continue
        for item in (built or {}).values():
            close = getattr(item, "close", None)
            if close is not None:
                close()
    http = Service.http_problems(config)
    if http:
        report.config_errors += config.error_lines(ConfigError("\n".join(http)))
    try:
        library = report.library = load_library(config)
    except FlowError as exc:
        report.flow_errors = [str(problem) for problem in exc.problems]
        return report
    except ConfigError as exc:
        report.config_errors += config.error_lines(exc)
        return report
    tenancy, errors, warnings = plan(config, library, names_checked=True)
    source = config.source
    if errors:
        report.config_errors += config.error_lines(
            ConfigError("\n".join("%s: %s" % (source, line) for line in errors)))
        return report
    report.warnings += ["%s: warning: %s" % (source, line) for line in warnings]
    for problem in check_library(config, library, tenancy):
        if problem.warning:
            report.name_warnings.append(str(problem))
        else:
            report.flow_errors.append(str(problem))
    report.warnings += report.name_warnings
    for name in sorted(library):
        checked = library[name].checked
        report.warnings += [str(problem) for problem in (checked.warnings if checked else [])]
    return report
