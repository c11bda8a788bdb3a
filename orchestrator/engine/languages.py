"""The languages a flow can speak: which catalog each step's prompts and messages come from.

A step that says catalog keys (``StepKind.catalog_keys``) speaks its own ``language:`` when it
has one, else the flow's ``language:`` (``en`` when the flow says none). A language written
as ``${...}`` is chosen on the call, so it may be any of ``candidates``: the languages the
call's tenant may speak (``prompts.languages``), else every catalog there is. ``validate``
looks every key up in every one of them (``engine/names.py``); anything else that needs to
know "which catalogs can this flow reach" asks here, so the answer is the same everywhere.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Iterable, List, Mapping, Sequence, Tuple

DEFAULT_LANGUAGE = "en"

Path = Tuple[Any, ...]


@dataclass(frozen=True)
class Spoken:
    """One language a step can speak, and where in the document it is chosen: the step's own
    ``language:``, the flow's, or ``()`` when the default applies."""

    language: str
    path: Path
    at_run_time: bool = False     # written ${...}: one of the candidates, chosen on the call
    written: str = ""             # the text as written (for messages)


def is_chosen_at_run_time(language: Any) -> bool:
    return isinstance(language, str) and "${" in language


def flow_language(document: Mapping[str, Any]) -> Tuple[str, Path]:
    """The flow's language as written and where (``()`` when it is the default)."""
    if isinstance(document.get("language"), str):
        return document["language"], ("language",)
    return DEFAULT_LANGUAGE, ()


def spoken(written: str, path: Path, candidates: Iterable[str]) -> List[Spoken]:
    """The languages a language value can be: itself, or each candidate when it is ``${...}``."""
    if is_chosen_at_run_time(written):
        return [Spoken(language, path, True, written) for language in sorted(candidates)]
    return [Spoken(written, path, False, written)]


def step_languages(step_path: Path, kind_name: str, value: Any, document: Mapping[str, Any],
                   candidates: Iterable[str]) -> List[Spoken]:
    """The languages one step (its normalized ``value``, at ``step_path``) can speak."""
    if isinstance(value, dict) and isinstance(value.get("language"), str):
        return spoken(value["language"], step_path + (kind_name, "language"), candidates)
    written, path = flow_language(document)
    return spoken(written, path, candidates)


def flow_languages(document: Mapping[str, Any], steps: Sequence[Any],
                   candidates: Iterable[str]) -> List[str]:
    """Every language the flow's catalog steps can speak, sorted: the flow's own first. Takes
    the ``CheckedStep`` list of a check (``engine/validate.py``); steps that did not pass
    their own checks are left out."""
    candidates = sorted(candidates)
    own, _ = flow_language(document)
    found = {item.language for item in spoken(own, (), candidates)}
    for step in steps:
        if step.ok and step.kind is not None and step.kind.catalog_keys(step.value):
            found.update(item.language for item in step_languages(
                step.path, step.kind.name, step.value, document, candidates))
    first = [] if is_chosen_at_run_time(own) else [own]
    return first + sorted(found - set(first))
