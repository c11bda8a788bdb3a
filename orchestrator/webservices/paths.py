"""Where in a web service's JSON answer a flow variable's value is: a small path syntax.

A path starts at the answer's root, ``$``, and takes steps, each one of:

- ``.name`` — the member ``name`` of an object (letters, digits, ``_`` and ``-``);
- ``[3]`` — the item at that index of a list (from 0);
- ``[*]`` — every item of a list.

``$.name`` is one value; a path holding ``[*]`` is a list of every value it reaches, in order
(``$.lines[*].invoices[*]`` is every invoice of every line, one flat list). Nothing else is
understood (no filters, no slices, no expressions): the syntax is parsed once, when the flow
loads, and read by walking the answer, so a path can neither run code nor take unbounded
time. A member or item that is missing gives ``Missing``, so the step can say which path a
peer did not fill.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, List, Tuple, Union

_STEP = re.compile(r"\.([A-Za-z_][A-Za-z0-9_-]*)|\[(\*|[0-9]{1,6})\]")
WILDCARD = "*"
Step = Union[str, int]       # a member name, an index, or WILDCARD


class PathError(ValueError):
    """A path that is not written in the syntax above."""


class Missing(LookupError):
    """The answer has nothing where the path points."""


class TooMany(ValueError):
    """A ``[*]`` path reached more values than the caller allows."""


@dataclass(frozen=True)
class JsonPath:
    text: str
    steps: Tuple[Tuple[str, Step], ...]   # ("member", name) | ("index", n) | ("all", "*")

    @classmethod
    def parse(cls, text: object) -> "JsonPath":
        if not isinstance(text, str) or not text.startswith("$"):
            raise PathError("a path starts with $ (the answer), e.g. $.name or $.lines[*].number")
        steps: List[Tuple[str, Step]] = []
        position = 1
        while position < len(text):
            match = _STEP.match(text, position)
            if match is None:
                raise PathError("path %r: cannot read %r at character %d; a step is .name, [n] or [*]"
                                % (text, text[position:position + 10], position + 1))
            member, index = match.groups()
            if member is not None:
                steps.append(("member", member))
            elif index == WILDCARD:
                steps.append(("all", WILDCARD))
            else:
                steps.append(("index", int(index)))
            position = match.end()
        return cls(text, tuple(steps))

    @property
    def is_list(self) -> bool:
        """Whether the path reaches a list of values (it holds ``[*]``)."""
        return any(kind == "all" for kind, _ in self.steps)

    def read(self, document: Any, max_items: int = 1000) -> Any:
        """The one value at the path, or (``is_list``) the list of every value it reaches.
        Raises ``Missing`` naming the first step that found nothing, ``TooMany`` as soon as a
        step reaches more than ``max_items`` values."""
        found = [document]
        for kind, step in self.steps:
            following: List[Any] = []
            for value in found:
                if kind == "member":
                    if not isinstance(value, dict) or step not in value:
                        raise Missing("%s: no member %r" % (self.text, step))
                    following.append(value[step])
                elif kind == "index":
                    if not isinstance(value, list) or not isinstance(step, int) or step >= len(value):
                        raise Missing("%s: no item [%s]" % (self.text, step))
                    following.append(value[step])
                else:
                    if not isinstance(value, list):
                        raise Missing("%s: [*] met something that is not a list" % self.text)
                    following.extend(value)
                if len(following) > max_items:
                    raise TooMany("%s: more than %d items" % (self.text, max_items))
            found = following
        return found if self.is_list else found[0]
