"""Checking a flow file and saying, for every mistake, where it is.

``check_text`` runs the checks in the order a reader would: YAML syntax, the top-level
shape, then each step (its kind, its keys and values), then what spans steps (ids, jump
targets, reachability, variable names; see ``analysis.py``). Checks that depend on an earlier
one being right are skipped when it was not, so one typo yields one message, not a cascade.
``validate_paths`` is what the ``orchestrator validate`` command prints.
"""
from __future__ import annotations

import difflib
import os
from dataclasses import dataclass, field
from typing import Any, Dict, Iterable, List, Optional, Sequence, Tuple, Type

from .analysis import (check_expressions, check_ids_and_targets, check_reachability,
                       check_unhandled_outcomes)
from .call_language import shipped_languages
from .ids import STEP_ID_SCHEMA
from .loader import LoadedDocument, MarkMap, Position, YamlSyntaxError, load_marked
from .flow_source import read_flow_file
from .problems import FlowError, Problem
from .schema import document_schema, step_value_schema
from .schema_errors import schema_complaints, yaml_type
from .step_api import StepKind, registered_kinds


@dataclass
class CheckedStep:
    """One entry of ``steps`` after checking; ``value`` is normalized when ``ok``."""

    index: int
    path: tuple
    kind: Optional[Type[StepKind]] = None
    step_id: Optional[str] = None
    value: Any = None
    ok: bool = False


@dataclass
class CheckResult:
    """Problems found plus what the loader needs to build a ``Flow`` when there are none."""

    source: str
    problems: List[Problem] = field(default_factory=list)
    warnings: List[Problem] = field(default_factory=list)   # the flow loads; validate says them
    document: Any = None
    marks: Optional[MarkMap] = None
    steps: List[CheckedStep] = field(default_factory=list)


class _Reporter:
    """Turns document paths into positioned problems for one source file."""

    def __init__(self, result: CheckResult, marks: MarkMap) -> None:
        self.result, self.marks = result, marks

    def at(self, position: Position, message: str) -> None:
        self.result.problems.append(Problem(self.result.source, position.line, position.column, message))

    def at_value(self, path: Sequence, message: str) -> None:
        position = self.marks.value_position(tuple(path))
        self.result.problems.append(Problem(self.result.source, position.line, position.column, message))

    def at_key(self, path: Sequence, message: str) -> None:
        position = self.marks.key_position(tuple(path))
        self.result.problems.append(Problem(self.result.source, position.line, position.column, message))

    def warn_at_key(self, path: Sequence, message: str) -> None:
        position = self.marks.key_position(tuple(path))
        self.result.warnings.append(Problem(self.result.source, position.line, position.column,
                                            message, warning=True))

    def complaints(self, base: tuple, schema: dict, instance: Any, where: str) -> bool:
        """Report schema complaints under ``base``; True when there were none."""
        found = schema_complaints(schema, instance, where)
        for complaint in found:
            (self.at_key if complaint.at_key else self.at_value)(base + complaint.path, complaint.message)
        return not found


def check_text(text: str, source: str = "<flow>") -> CheckResult:
    """Every problem in one flow file's text, and the checked pieces for building it."""
    result = CheckResult(source)
    try:
        loaded: LoadedDocument = load_marked(text)
    except YamlSyntaxError as exc:
        result.problems.append(Problem(source, exc.position.line, exc.position.column, exc.message))
        return result
    result.document, result.marks = loaded.data, loaded.marks
    report = _Reporter(result, loaded.marks)
    for duplicate in loaded.duplicate_keys:
        report.at(duplicate.position, f"duplicate key '{duplicate.path[-1]}' (first written at line "
                                      f"{duplicate.first.line}); only the first is used")
    document = loaded.data
    if not isinstance(document, dict):
        report.at_value((), f"a flow file is a map with flow:, steps: and friends, not {yaml_type(document)}")
        return result
    report.complaints((), document_schema(step_items={}), document, "the flow")
    declared = document.get("vars")
    variables: Dict[Any, Any] = declared if isinstance(declared, dict) else {}
    for name in variables:
        if str(name).startswith(("channel.", "attempts.")):
            report.at_key(("vars", name), f"'{name}' in vars: channel.* and attempts.* are read-only "
                                          "namespaces; use set: to write a channel variable")
    _check_languages(report, document)
    steps = document.get("steps")
    if isinstance(steps, list):
        result.steps = [_check_step(report, index, item) for index, item in enumerate(steps)]
        check_ids_and_targets(report, result.steps)
        if all(step.ok for step in result.steps) and not result.problems:
            check_reachability(report, result.steps)
        check_unhandled_outcomes(report, result.steps)
    check_expressions(report, document, result.steps)
    result.problems.sort(key=lambda p: (p.line, p.column))
    result.warnings.sort(key=lambda p: (p.line, p.column))
    return result


def _check_languages(report: _Reporter, document: Dict[Any, Any]) -> None:
    """A language written as a code needs a catalog: one shipped (orchestrator/catalog), or
    the service's own (``prompts.catalog_dir``, checked by ``validate --config`` and at start-up,
    where it is known). An expression is resolved on the call (engine/call_language.py)."""
    for key in ("language", "default_language"):
        code = document.get(key)
        if isinstance(code, str) and "${" not in code and code not in shipped_languages():
            report.warn_at_key((key,), f"no shipped prompt catalog for language '{code}' (shipped: "
                                       f"{', '.join(shipped_languages())}); the service's "
                                       "prompts.catalog_dir must hold it")


def _check_step(report: _Reporter, index: int, item: Any) -> CheckedStep:
    path = ("steps", index)
    step = CheckedStep(index, path)
    kinds = registered_kinds()
    known = ", ".join(kinds)
    if not isinstance(item, dict):
        report.at_value(path, f"a step is a map with one step kind, e.g. '- answer: {{}}'; got {yaml_type(item)}")
        return step
    ok = True
    if "id" in item:
        ok = report.complaints(path + ("id",), STEP_ID_SCHEMA, item["id"], "id")
        step.step_id = item["id"] if isinstance(item["id"], str) else None
    names = [key for key in item if key != "id"]
    kind_names = [key for key in names if key in kinds]
    unknown = [key for key in names if key not in kinds]
    if not names:
        report.at_value(path, f"a step needs a step kind; known steps: {known}")
        return step
    if not kind_names:
        report.at_key(path + (unknown[0],), f"unknown step '{unknown[0]}'{_did_you_mean(unknown[0], kinds)}; known steps: {known}")
        unknown = unknown[1:]
    for name in unknown:
        owner = f" beside step '{kind_names[0]}'" if kind_names else ""
        report.at_key(path + (name,), f"unknown key '{name}'{owner}; a step holds one step kind and an optional id"
                                      + (f" (should '{name}' be indented under '{kind_names[0]}'?)" if kind_names else ""))
    for name in kind_names[1:]:
        report.at_key(path + (name,), f"a step holds one step kind; found '{kind_names[0]}' and '{name}' "
                                      f"(start a new step with '- ')")
    if len(kind_names) != 1 or unknown:
        return step
    step.kind = kinds[kind_names[0]]
    value_path = path + (step.kind.name,)
    step.value = step.kind.normalize(item[step.kind.name])
    if not report.complaints(value_path, step_value_schema(step.kind), step.value, step.kind.name):
        return step
    for rel_path, message in step.kind.check(step.value):
        report.at_value(value_path + tuple(rel_path), f"{step.kind.name}: {message}")
        ok = False
    step.ok = ok
    return step


def _did_you_mean(word: str, choices: Iterable[str]) -> str:
    close = difflib.get_close_matches(word, list(choices), n=1)
    return f" (did you mean '{close[0]}'?)" if close else ""


def validate_text(text: str, source: str = "<flow>") -> List[Problem]:
    return check_text(text, source).problems


def validate_file(path: str) -> List[Problem]:
    """Problems in one flow file; an unreadable or oversized file is one problem at 1:1."""
    return checked_file(path)[0]


def checked_file(path: str) -> Tuple[List[Problem], List[Problem]]:
    """``(problems, warnings)`` of one flow file."""
    try:
        text = read_flow_file(path, str(path))
    except FlowError as exc:
        return exc.problems, []
    result = check_text(text, str(path))
    return result.problems, result.warnings


def flow_files(directory: str) -> List[str]:
    """The flow files in a directory: *.yaml and *.yml, sorted."""
    return sorted(os.path.join(directory, name) for name in os.listdir(directory)
                  if name.endswith((".yaml", ".yml")))


def validate_paths(paths: Sequence[str]) -> Tuple[int, List[str]]:
    """What ``orchestrator validate FILE...`` prints and its exit code (0 all valid, 1 not).

    A directory stands for the flow files in it. Warnings are printed in place, in line order
    with the problems, and do not fail a file.
    """
    lines: List[str] = []
    failed = False
    for path in paths:
        files = flow_files(path) if os.path.isdir(path) else [path]
        for file in files:
            problems, warnings = checked_file(file)
            lines.extend(str(problem) for problem in sorted(problems + warnings,
                                                           key=lambda p: (p.line, p.column)))
            if problems:
                failed = True
            else:
                lines.append(f"{file}: OK" + (f" ({len(warnings)} warning{'s' * (len(warnings) > 1)})"
                                              if warnings else ""))
    return (1 if failed else 0), lines
