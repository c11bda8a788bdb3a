"""Checks that span steps: ids, jump targets, reachability and variable names.

These need the whole step list (each step's own shape is checked in ``validate.py``) and
use only the static facts step kinds declare, so nothing here knows about any one kind.
"""
from __future__ import annotations

import difflib
from collections import deque
from typing import TYPE_CHECKING, Any, Dict, Iterable, Iterator, List, Set, Tuple, Type

from .expressions import Condition, ExpressionSyntaxError, Template
from .call_language import LANGUAGE_VARIABLE
from .context import CALL_FACTS

if TYPE_CHECKING:  # pragma: no cover
    from .step_api import StepKind
    from .validate import CheckedStep, _Reporter


def _hint(word: str, choices: Iterable[str], what: str) -> str:
    choices = sorted(choices)
    close = difflib.get_close_matches(word, choices, n=1)
    if close:
        return f" (did you mean '{close[0]}'?)"
    return f"; {what}: {', '.join(choices)}" if choices else ""


def _kind(step: "CheckedStep") -> "Type[StepKind]":
    """The kind of a step that passed its own checks (``ok`` implies a kind)."""
    assert step.kind is not None
    return step.kind


def _label(step: "CheckedStep") -> str:
    if step.step_id:
        return step.step_id
    return step.kind.name if step.kind else f"step {step.index + 1}"


def check_ids_and_targets(report: "_Reporter", steps: List["CheckedStep"]) -> None:
    """Ids are unique; every goto/branch/on target names one."""
    first_with_id: Dict[str, "CheckedStep"] = {}
    for step in steps:
        if step.step_id is None:
            continue
        if step.step_id in first_with_id:
            line = report.marks.value_position(first_with_id[step.step_id].path + ("id",)).line
            report.at_value(step.path + ("id",), f"duplicate id '{step.step_id}'; first used at line {line}")
        else:
            first_with_id[step.step_id] = step
    for step in steps:
        if not step.ok:
            continue
        kind = _kind(step)
        for rel_path, target in kind.jump_targets(step.value):
            if target not in first_with_id:
                what = kind.name + (" " + ".".join(map(str, rel_path)) if rel_path else "")
                report.at_value(step.path + (kind.name,) + tuple(rel_path),
                                f"{what} target '{target}' is not a step id{_hint(target, first_with_id, 'step ids')}")


def check_reachability(report: "_Reporter", steps: List["CheckedStep"]) -> None:
    """Every step can be reached from the first one; report the first of each dead run."""
    index_of = {step.step_id: step.index for step in steps if step.step_id}
    reached: Set[int] = set()
    queue = deque([0] if steps else [])
    while queue:
        index = queue.popleft()
        if index in reached:
            continue
        reached.add(index)
        step = steps[index]
        kind = _kind(step)   # reachability is checked only when every step is ok
        following = [index_of[target] for _, target in kind.jump_targets(step.value) if target in index_of]
        if kind.falls_through(step.value) and index + 1 < len(steps):
            following.append(index + 1)
        queue.extend(i for i in following if i not in reached)
    for step in steps:
        if step.index in reached or step.index - 1 not in reached:
            continue
        before = _kind(steps[step.index - 1]).name
        if step.step_id:
            why = (f"nothing that runs jumps to '{step.step_id}', and the {before} step before it "
                   f"never continues to the next one")
        else:
            why = f"the {before} step before it never continues to the next one, and it has no id to jump to"
        report.at_value(step.path, f"unreachable step '{_label(step)}': {why}")


def check_unhandled_outcomes(report: "_Reporter", steps: List["CheckedStep"]) -> None:
    """Warn of each outcome a step declares unhandled (``StepKind.unhandled_outcomes``): a web
    service's error or timeout with no ``on:`` branch. At the ``on:`` key, else the step's."""
    for step in steps:
        if not step.ok:
            continue
        kind = _kind(step)
        for rel_path, outcome, why in kind.unhandled_outcomes(step.value):
            report.warn_at_key(step.path + (kind.name,) + tuple(rel_path),
                               f"{kind.name} has no 'on: {{{outcome}: <step id>}}' branch: {why}")


def check_expressions(report: "_Reporter", document: Dict[str, Any], steps: List["CheckedStep"]) -> None:
    """``${...}`` and conditions parse, and name variables that exist somewhere in the flow."""
    declared = document.get("vars")
    variables: Dict[Any, Any] = declared if isinstance(declared, dict) else {}
    known: Set[str] = set(map(str, variables)) | {LANGUAGE_VARIABLE}   # the runner sets it
    for step in steps:
        if step.ok:
            known.update(_kind(step).defined_variables(step.value))
    step_ids = {step.step_id for step in steps if step.step_id}
    # A step that failed its own checks may define variables we cannot see: judge names only
    # when every step is sound, so one typo does not also produce "unknown variable" noise.
    judge_names = all(step.ok for step in steps)
    checker = _ReferenceChecker(report, known, step_ids, judge_names)
    for name, value in variables.items():
        checker.template(("vars", name), value)
    if isinstance(document.get("language"), str):
        checker.template(("language",), document["language"])
    for step in steps:
        if not step.ok:
            continue
        kind = _kind(step)
        base = step.path + (kind.name,)
        condition_paths = set()
        for rel_path, text in kind.conditions(step.value):
            condition_paths.add(tuple(rel_path))
            checker.condition(base + tuple(rel_path), text)
        for rel_path, name in kind.variables_read(step.value):
            checker.names(base + tuple(rel_path), [name])
        for rel_path, text in _strings(step.value, ()):
            if rel_path not in condition_paths:
                checker.template(base + rel_path, text)


def _strings(value: Any, path: Tuple[Any, ...]) -> Iterator[Tuple[Tuple[Any, ...], str]]:
    if isinstance(value, str):
        yield path, value
    elif isinstance(value, dict):
        for key, item in value.items():
            yield from _strings(item, path + (key,))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from _strings(item, path + (index,))


class _ReferenceChecker:
    def __init__(self, report: "_Reporter", known: Set[str], step_ids: Set[str],
                 judge_names: bool) -> None:
        self.report, self.known, self.step_ids, self.judge_names = report, known, step_ids, judge_names

    def template(self, path: tuple, value: Any) -> None:
        if not isinstance(value, str):
            return
        try:
            names = Template.parse(value).variables
        except ExpressionSyntaxError as exc:
            self.report.at_value(path, f"bad ${{...}} in '{value}': {exc}")
            return
        self.names(path, names)

    def condition(self, path: tuple, text: str) -> None:
        try:
            names = Condition.parse(text).variables
        except ExpressionSyntaxError as exc:
            self.report.at_value(path, f"bad condition '{text}': {exc}")
            return
        self.names(path, names)

    def _in_family(self, name: str) -> bool:
        """A step that fills a list defines ``<list>.*``: its items, ``<list>.<n>.<member>``."""
        return any(known.endswith(".*") and name.startswith(known[:-1]) for known in self.known)

    def names(self, path: tuple, names: List[str]) -> None:
        if not self.judge_names:
            return
        for name in names:
            if name.startswith("channel."):
                if name == "channel.":
                    self.report.at_value(path, "'${channel.}' names no channel variable")
            elif name.startswith("call."):
                if name[len("call."):] not in CALL_FACTS:
                    self.report.at_value(path, f"'${{{name}}}': the call's facts are {', '.join(CALL_FACTS)}")
            elif name.startswith("attempts."):
                step_id = name[len("attempts."):]
                if step_id not in self.step_ids:
                    self.report.at_value(path, f"'${{{name}}}': '{step_id}' is not a step id"
                                               f"{_hint(step_id, self.step_ids, 'step ids')}")
            elif name not in self.known and not self._in_family(name):
                named = [known for known in self.known if not known.endswith(".*")]
                self.report.at_value(path, f"unknown variable '{name}'{_hint(name, named, 'flow variables')}; "
                                           "flow variables come from vars:, set: and collect into:")
