"""A checked flow, ready to run: its name, language, variables and step instances.

``load_flow`` is the only way to get one, so a ``Flow`` that exists has passed every check
``validate`` makes; the runner does not re-check what the validator already did.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any, Dict, FrozenSet, Optional, Tuple, Union

from .flow_source import read_flow_file
from .problems import FlowError
from .step_api import StepKind
from .validate import CheckResult, check_text


@dataclass(frozen=True)
class FlowStep:
    """One step of a flow, with where it was written (for logs and outcomes)."""

    index: int
    step_id: Optional[str]
    kind: str
    action: StepKind
    line: int
    column: int

    @property
    def label(self) -> str:
        """How logs and outcomes name the step: its id, else its kind and line."""
        return self.step_id or f"{self.kind}@{self.line}"


@dataclass(frozen=True)
class Flow:
    name: str
    language: str
    description: str
    variables: Dict[str, Any]  # initial values, still with ${...}, in the order written
    steps: Tuple[FlowStep, ...]
    source: str
    index_by_id: Dict[str, int] = field(default_factory=dict)
    language_line: int = 1    # where ``language:`` is written (1 when the default applies)
    # the check it passed, with every node's position: what ``engine/names.py`` reports from
    checked: Optional[CheckResult] = field(default=None, compare=False, repr=False)
    # ``language:`` as written: a code, or a ${...} resolved when the call starts; ``language``
    # above is the default a call falls back to (``default_language:``, else a literal
    # ``language:``, else en): see engine/call_language.py
    language_source: str = ""

    @property
    def step_ids(self) -> FrozenSet[str]:
        return frozenset(self.index_by_id)


def build_flow(result: CheckResult) -> Flow:
    """Build a ``Flow`` from a check that found no problems."""
    document = result.document
    language_source = str(document.get("language", "en"))
    language = default_language(document)
    marks = result.marks
    assert marks is not None  # a check that found no problems has loaded the document
    steps = []
    for checked in result.steps:
        kind = checked.kind
        assert kind is not None  # and found a kind for every step
        position = marks.value_position(checked.path)
        steps.append(FlowStep(checked.index, checked.step_id, kind.name,
                              kind(checked.value, language), position.line, position.column))
    return Flow(
        name=document["flow"],
        language=language,
        description=document.get("description", ""),
        variables=dict(document.get("vars") or {}),
        steps=tuple(steps),
        source=result.source,
        index_by_id={step.step_id: step.index for step in steps if step.step_id},
        language_line=marks.key_position(("language",)).line if "language" in document else 1,
        checked=result,
        language_source=language_source,
    )


def default_language(document: Dict[str, Any]) -> str:
    """The language a call of this flow speaks when its ``language:`` resolves to nothing usable."""
    written = str(document.get("language", "en"))
    if "default_language" in document:
        return str(document["default_language"])
    return "en" if "${" in written else written


def load_flow_text(text: str, source_name: str = "<flow>") -> Flow:
    """Check and build a flow from YAML text; raise ``FlowError`` listing every problem."""
    result = check_text(text, source_name)
    if result.problems:
        raise FlowError(result.problems)
    return build_flow(result)


def load_flow(source: Union[str, "os.PathLike[str]"], source_name: Optional[str] = None) -> Flow:
    """Load a flow from a file path, or from YAML text when ``source`` holds a newline."""
    if isinstance(source, str) and "\n" in source:
        return load_flow_text(source, source_name or "<flow>")
    path = os.fspath(source)
    return load_flow_text(read_flow_file(path, source_name or path), source_name or path)
