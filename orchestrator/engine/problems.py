"""How the engine reports a mistake in a flow file: a position a person can jump to.

Every check (YAML syntax, schema, ids, reachability, expressions) produces the same
``Problem`` so that ``validate``, the loader and the flow library print them alike, in the
``file:line:column: message`` form editors and CI logs turn into links.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable, List


@dataclass(frozen=True, order=True)
class Problem:
    """One mistake in a flow file; line and column are 1-based. A ``warning`` is something
    that works but probably not as meant (a web service's error with no branch of its own):
    ``validate`` prints it and still passes the file; loading a flow ignores it."""

    file: str
    line: int
    column: int
    message: str
    warning: bool = False

    def __str__(self) -> str:
        return f"{self.file}:{self.line}:{self.column}: {'warning: ' if self.warning else ''}{self.message}"


class FlowError(Exception):
    """A flow (or a directory of flows) could not be loaded; ``problems`` says every reason."""

    def __init__(self, problems: Iterable[Problem]):
        self.problems: List[Problem] = list(problems)
        super().__init__("\n".join(str(p) for p in self.problems) or "invalid flow")
