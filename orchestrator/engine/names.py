"""Every name a flow uses, looked up in what will exist when it runs.

The flow checks (``validate.py``, ``analysis.py``) prove a flow is well formed; a flow can
still fail on the call: ``announce: payment_aproved`` reaches a catalog without that key after
the card was charged, ``language: es-ES`` has no catalog, ``authorize`` names a gateway the
service lacks. ``check_names`` looks each name up in an ``Available``, the names a service
(or one of its tenants, or the built-in defaults) has, and reports every one that is missing
at its file:line:column, with the closest known name when there is one:

- catalog keys (``StepKind.catalog_keys``) in every language the step can speak
  (``languages.py``), and that each of those languages has a catalog and is allowed;
- gateways, web services, SMS providers and ``payment_links`` entries the steps name.

Building an ``Available`` (reading catalogs, a config's sections) is ``orchestrator/
flow_names.py``'s; this module knows only names.
"""
from __future__ import annotations

import difflib
import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Dict, FrozenSet, Iterable, List, Mapping, Optional, Set, Tuple

from .languages import step_languages, flow_language, spoken
from .problems import Problem

if TYPE_CHECKING:  # pragma: no cover
    from .validate import CheckResult


@dataclass(frozen=True)
class CatalogNames:
    """The keys one catalog holds: ``prompts`` (spoken) and ``messages`` (SMS texts)."""

    language: str
    source: str
    prompts: FrozenSet[str]
    messages: FrozenSet[str]

    def section(self, name: str) -> FrozenSet[str]:
        return self.prompts if name == "prompts" else self.messages


@dataclass(frozen=True)
class Available:
    """What a flow's names must find. ``where`` names, for messages, what holds these names
    ("the built-in defaults", a config file); ``owner`` the tenant whose catalogs and languages
    these are, on a site with tenant blocks ("tenant acme"; "" otherwise); ``catalog_folder``
    where catalogs are looked for; ``languages`` the allowed ones (``prompts.languages``;
    None: any catalog)."""

    where: str
    catalogs: Mapping[str, CatalogNames]
    catalog_folder: str
    languages: Optional[FrozenSet[str]] = None
    gateways: FrozenSet[str] = frozenset()
    web_services: FrozenSet[str] = frozenset()
    sms_providers: FrozenSet[str] = frozenset()
    payment_links: FrozenSet[str] = frozenset()
    catalog_problems: Dict[str, str] = field(default_factory=dict)  # language -> why unusable
    owner: str = ""
    # gateway name -> the card-on-file modes it offers (payments/gateways/tokens.MODES)
    card_on_file: Mapping[str, FrozenSet[str]] = field(default_factory=dict)

    @property
    def candidates(self) -> FrozenSet[str]:
        """The languages a ``${...}`` language can turn out to be on the call."""
        return self.languages if self.languages is not None else frozenset(self.catalogs)


def hint(word: str, choices: Iterable[str], what: str) -> str:
    """``(did you mean 'x'?)`` for the closest choice, else the list of them."""
    choices = sorted(choices)
    close = difflib.get_close_matches(word, choices, n=1)
    if close:
        return f" (did you mean '{close[0]}'?)"
    return f"; {what}: {', '.join(choices) or 'none'}"


def did_you_mean(word: str, choices: Iterable[str]) -> str:
    close = difflib.get_close_matches(word, sorted(choices), n=1)
    return f" (did you mean '{close[0]}'?)" if close else ""


class _Findings:
    def __init__(self, result: "CheckResult") -> None:
        self.result = result
        self.problems: List[Problem] = []
        self._seen: Set[Tuple[int, int, str]] = set()

    def at(self, path: Tuple[Any, ...], message: str, warning: bool = False) -> None:
        marks = self.result.marks
        assert marks is not None
        position = marks.value_position(path)
        if (position.line, position.column, message) not in self._seen:
            self._seen.add((position.line, position.column, message))
            self.problems.append(Problem(self.result.source, position.line, position.column,
                                         message, warning))


def check_names(result: "CheckResult", available: Available) -> List[Problem]:
    """Every name of a well-formed flow (``result`` has no problems) that ``available`` lacks;
    a ``warning`` when the step has an answer of its own for it (a payment link missing from
    the config takes ``send_payment_link``'s ``on.error``: a site without links still takes
    cards)."""
    found = _Findings(result)
    document = result.document
    if not isinstance(document, dict):
        return []
    written, path = flow_language(document)
    for item in spoken(written, path, available.candidates):
        _check_language(found, available, item.language, path, "the flow", item.at_run_time)
    fallback = document.get("default_language")
    if isinstance(fallback, str) and "${" not in fallback:   # what a call falls back to
        _check_language(found, available, fallback, ("default_language",),
                        "the flow's default_language", False)
    for step in result.steps:
        if not step.ok or step.kind is None:
            continue
        kind, value, base = step.kind, step.value, step.path + (step.kind.name,)
        keys = kind.catalog_keys(value)
        if keys:
            for item in step_languages(step.path, kind.name, value, document, available.candidates):
                if item.path != path:
                    _check_language(found, available, item.language, item.path, kind.name,
                                    item.at_run_time)
                catalog = available.catalogs.get(item.language)
                if catalog is None:
                    continue
                for rel_path, section, key in keys:
                    if key in catalog.section(section):
                        continue
                    what = "prompt" if section == "prompts" else "message"
                    when = (f" (the language {item.written} may be {item.language} on the call)"
                            if item.at_run_time else "")
                    found.at(base + tuple(rel_path),
                             f"{kind.name}: no {what} '{key}' in the {item.language} catalog "
                             f"({catalog.source}){_for(available)}{when}"
                             f"{hint(key, catalog.section(section), what + 's')}")
        for facts, known, what in ((kind.gateways, available.gateways, "gateway"),
                                   (kind.web_services, available.web_services, "web service"),
                                   (kind.sms_providers, available.sms_providers, "SMS provider"),
                                   (kind.payment_links, available.payment_links, "payment link")):
            for rel_path, name in facts(value):
                if "${" in name or name in known:
                    continue
                section = {"gateway": "gateways", "web service": "web_services",
                           "SMS provider": "sms_providers", "payment link": "payment_links"}[what]
                listed = (f"({section}: {', '.join(sorted(known))}){did_you_mean(name, known)}"
                          if known else f"which defines no {section}")
                message = (f"{kind.name}: {what} '{name}' is not in {available.where}"
                           f"{' ' if known else ', '}{listed}")
                if what == "payment link" and (value.get("on") or {}).get("error"):
                    # send_payment_link's own answer to a missing link: its on.error branch
                    found.at(base + tuple(rel_path), message + "; a caller who chooses it "
                             "takes the on.error branch", warning=True)
                else:
                    found.at(base + tuple(rel_path), message)
        for rel_path, name, mode in kind.card_on_file(value):
            if "${" in name or name not in available.gateways:
                continue   # a missing gateway is told above
            offered = available.card_on_file.get(name, frozenset())
            if mode not in offered:
                what = {"besides": "store a card besides a charge",
                        "instead": "store a card without a charge",
                        "charge": "charge a stored card"}.get(mode, mode)
                found.at(base + tuple(rel_path),
                         f"{kind.name}: gateway '{name}' cannot {what} (card on file it offers: "
                         f"{', '.join(sorted(offered)) or 'none'}; see "
                         f"orchestrator/payments/README.md, Card on file)")
    found.problems.sort(key=lambda p: (p.line, p.column))
    return found.problems


def _check_language(found: _Findings, available: Available, language: str, path: Tuple[Any, ...],
                    what: str, at_run_time: bool) -> None:
    if at_run_time:
        return   # a candidate: the tenant's own languages, each checked where they are listed
    if available.languages is not None and language not in available.languages:
        found.at(path, f"{what} speaks {language}, which prompts.languages of {available.where}"
                       f" does not list{_for(available)} "
                       f"({', '.join(sorted(available.languages))})"
                       f"{did_you_mean(language, available.languages)}")
    elif language in available.catalog_problems:
        found.at(path, f"{what} speaks {language}{_for(available)}: "
                       f"{available.catalog_problems[language]}")
    elif language not in available.catalogs:
        base = re.split("[-_]", language)[0].lower()   # es-ES: the catalog is es
        suggestion = (f" (did you mean '{base}'?)" if base in available.catalogs and base != language
                      else hint(language, available.catalogs, "catalogs"))
        found.at(path, f"{what} speaks {language}, but there is no catalog for it in "
                       f"{available.catalog_folder}{_for(available)}{suggestion}")


def _for(available: Available) -> str:
    return f" (catalogs of {available.owner})" if available.owner else ""
