"""The results of test scripts, written for a person, for a CI's test report, or for GitHub.

``text``: each call's story, then each unmet expectation as ``file:line:column: ...`` with what
was expected and what happened, and a summary. ``junit``: one ``<testcase>`` per script in a
JUnit XML document (built with ElementTree, so any text is escaped), the story in its
``<system-out>``. ``github``: the text, plus one ``::error file=...,line=...,col=...::`` workflow
command per unmet expectation, which GitHub Actions shows on the script's line.
"""
from __future__ import annotations

import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from typing import List, Optional

from orchestrator.engine.loader import Position

FORMATS = ("text", "junit", "github")


@dataclass(frozen=True)
class Finding:
    """One unmet expectation, or the reason a script could not run, placed in its file."""

    source: str
    position: Position
    message: str        # one line
    detail: str = ""    # expected / happened, for the reader

    @property
    def where(self) -> str:
        return "%s:%d:%d" % (self.source, self.position.line, self.position.column)

    def text(self) -> str:
        return "%s: %s%s" % (self.where, self.message, ("\n" + self.detail) if self.detail else "")


@dataclass
class ScriptResult:
    source: str
    name: str
    story: str = ""                     # what the caller heard and pressed, masked
    checks: int = 0                     # expectations compared
    failures: List[Finding] = field(default_factory=list)
    error: Optional[Finding] = None     # the script or its flow could not run
    seconds: float = 0.0

    @property
    def passed(self) -> bool:
        return self.error is None and not self.failures


def summary(results: List[ScriptResult]) -> str:
    passed = sum(1 for r in results if r.passed)
    errors = sum(1 for r in results if r.error is not None)
    failed = len(results) - passed - errors
    return "%d script%s: %d passed, %d failed, %d could not run" % (
        len(results), "" if len(results) == 1 else "s", passed, failed, errors)


def result_lines(result: ScriptResult) -> List[str]:
    """What the text report says of a script after its story."""
    if result.error is not None:
        return [result.error.text()]
    if result.failures:
        return [f.text() for f in result.failures]
    if result.checks:
        return ["%s: expectations met (%d)" % (result.source, result.checks)]
    return []


def junit(results: List[ScriptResult], suite: str = "orchestrator simulate") -> str:
    root = ET.Element("testsuites")
    failures = sum(1 for r in results if r.failures and r.error is None)
    errors = sum(1 for r in results if r.error is not None)
    total = sum(r.seconds for r in results)
    node = ET.SubElement(root, "testsuite", name=suite, tests=str(len(results)),
                         failures=str(failures), errors=str(errors), skipped="0",
                         time="%.3f" % total)
    for result in results:
        case = ET.SubElement(node, "testcase", classname=suite, name=result.name,
                             file=result.source, time="%.3f" % result.seconds)
        if result.error is not None:
            error = ET.SubElement(case, "error", message=result.error.where + ": " + result.error.message)
            error.text = result.error.text()
        elif result.failures:
            first = result.failures[0]
            failure = ET.SubElement(case, "failure", message="%s: %s%s" % (
                first.where, first.message,
                " (and %d more)" % (len(result.failures) - 1) if len(result.failures) > 1 else ""))
            failure.text = "\n".join(f.text() for f in result.failures)
        if result.story:
            ET.SubElement(case, "system-out").text = result.story
    ET.indent(root)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"


def _escape_data(text: str) -> str:
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def _escape_property(text: str) -> str:
    return _escape_data(text).replace(":", "%3A").replace(",", "%2C")


def github(results: List[ScriptResult]) -> List[str]:
    """One workflow command per finding (GitHub reads them from the job's output)."""
    lines = []
    for result in results:
        for finding in ([result.error] if result.error else result.failures):
            lines.append("::error file=%s,line=%d,col=%d,title=%s::%s" % (
                _escape_property(finding.source), finding.position.line, finding.position.column,
                _escape_property("simulate " + result.name),
                _escape_data(finding.message + ("\n" + finding.detail if finding.detail else ""))))
    return lines
