"""Where in a service config file a problem is: ``file:line:column`` for each message.

Config problems are written ``<file>: <key>: <message>`` (``nodes.0.password``,
``tenants.acme.gateways[1]``, ``(top level)``), a form tests and scripts already read. The
config is loaded with the flow loader's marks (``engine/loader.py``), so each line can also be
shown as ``<file>:<line>:<column>: <key>: <message>``, at the key it names, or at the nearest
key above it that the file writes (a key filled from a default or the environment is not in
the file: its section is shown, or no position when nothing of it is written).

``schema_lines`` restates jsonschema's errors in that form, at the very node (an unknown key
at that key, with the closest known key as a did-you-mean).
"""
from __future__ import annotations

import difflib
import re
from typing import Any, Dict, List, Mapping, Optional, Tuple, Union

from orchestrator.engine.loader import MarkMap, Position

TOP_LEVEL = "(top level)"
Where = Union[Tuple[Any, ...], Position]
_TOKEN = re.compile(r"([^.\[\]]+)|\[(\d+)\]")


def key_path(key: str) -> Optional[Tuple[Any, ...]]:
    """``tenants.acme.gateways[1]`` -> ``('tenants', 'acme', 'gateways', 1)``; None for text
    that is not a key path."""
    if key == TOP_LEVEL:
        return ()
    if not key or " " in key:
        return None
    parts: List[Any] = []
    for match in _TOKEN.finditer(key):
        name, index = match.groups()
        parts.append(int(index) if index is not None else name)
    return tuple(parts)


def _written(path: Tuple[Any, ...], marks: MarkMap) -> Optional[Tuple[Any, ...]]:
    """The longest start of ``path`` the file writes (digits tried as list indexes and as
    keys); None when not even its first key is written."""
    found: Tuple[Any, ...] = ()
    for part in path:
        options = [part]
        if isinstance(part, str) and part.isdigit():
            options.append(int(part))
        elif isinstance(part, int):
            options.append(str(part))
        for option in options:
            if found + (option,) in marks:
                found = found + (option,)
                break
        else:
            break
    if not found and path:
        return None
    return found


def position_of(where: Where, marks: MarkMap) -> Optional[Position]:
    if isinstance(where, Position):
        return where
    written = _written(where, marks)
    if written is None:
        return None
    if not written:
        return Position(1, 1)
    return marks.key_position(written)


def positioned(lines: List[str], source: Optional[str], marks: Optional[MarkMap],
               places: Optional[Mapping[str, Where]] = None) -> List[str]:
    """``lines`` (``<source>: <key>: <message>``) with the line and column of each key in the
    file after its name; a line about no key of the file stays as it is."""
    if not source or marks is None:
        return list(lines)
    places = places or {}
    prefix = source + ": "
    result = []
    for line in lines:
        if not line.startswith(prefix):
            result.append(line)
            continue
        rest = line[len(prefix):]
        where: Optional[Where] = places.get(line)
        if where is None:   # the key is what comes first: "nodes.0: ...", "a.b is ..."
            words = rest.split(": ", 1)[0].split(" (")[0]
            where = key_path(words if words == TOP_LEVEL else words.split(" ")[0])
        position = position_of(where, marks) if where is not None else None
        result.append("%s:%d:%d: %s" % (source, position.line, position.column, rest)
                      if position else line)
    return result


def _dotted(path: Any) -> str:
    return ".".join(str(p) for p in path) or TOP_LEVEL


def did_you_mean(word: Any, choices: List[str]) -> str:
    close = difflib.get_close_matches(str(word), [str(c) for c in choices], n=1)
    return " (did you mean '%s'?)" % close[0] if close else ""


def schema_lines(errors: List[Any], source: str) -> Tuple[List[str], Dict[str, Where]]:
    """jsonschema errors as ``<source>: <key>: <message>`` lines, and the node each is about:
    an unknown key is one line per key, at that key, with a did-you-mean; a value not among
    the allowed ones names the closest."""
    lines: List[str] = []
    places: Dict[str, Where] = {}
    for error in errors:
        path = tuple(error.absolute_path)
        if error.validator == "additionalProperties" and isinstance(error.instance, dict):
            known = list(error.schema.get("properties", {}))
            patterns = list(error.schema.get("patternProperties", {}))
            extras = [key for key in error.instance if key not in known
                      and not any(re.search(p, str(key)) for p in patterns)]
            for key in extras or [None]:
                if key is None:
                    line = "%s: %s: %s" % (source, _dotted(path), error.message)
                    places[line] = path
                else:
                    line = ("%s: %s: Additional properties are not allowed (%r was unexpected)%s"
                            % (source, _dotted(path), key, did_you_mean(key, known)
                               or "; known keys: %s" % ", ".join(known)))
                    places[line] = path + (key,)
                lines.append(line)
            continue
        message = error.message
        if error.validator == "enum" and isinstance(error.instance, str):
            message += did_you_mean(error.instance, [str(v) for v in error.validator_value])
        line = "%s: %s: %s" % (source, _dotted(path), message)
        lines.append(line)
        places[line] = path
    return lines, places
