"""A web service's answer into flow variables, by the step's ``map``, within the limits.

Flow variables are text. A path to one value sets its variable to that value as text. A path
with ``[*]`` (a list) sets ``<name>.count`` and, for item ``n`` (from 1, as a caller keys it),
``<name>.<n>`` when the item is a plain value, or ``<name>.<n>.<member>`` for each plain member
of an item that is an object (``invoices.2.amount``). Members holding objects or lists are
left out, and so are members whose names are not variable names: a peer cannot invent
variables beyond the shape the flow asked for.

Every limit refuses the whole answer with ``MappingError`` (the step takes ``on.error``):
a list longer than ``max_list_items``, a text longer than ``max_text_chars``, an item with
more than ``MAX_MEMBERS`` members, a value where the path reaches nothing. The values are the
peer's own text: what may reach the caller's ear is decided where they are played
(``esl/channel.py`` neutralises what FreeSWITCH would expand or split).
"""
from __future__ import annotations

import re
from typing import Any, Dict, Mapping

from .client import ServiceLimits
from .paths import JsonPath, Missing, TooMany

MAX_MEMBERS = 32
_MEMBER_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_-]{0,63}$")


class MappingError(ValueError):
    """The answer does not fit the step's map or the service's limits; says which."""


def map_answer(document: Any, paths: Mapping[str, JsonPath], limits: ServiceLimits) -> Dict[str, str]:
    """The flow variables ``paths`` (variable name -> path) take from ``document``."""
    values: Dict[str, str] = {}
    for name, path in paths.items():
        try:
            found = path.read(document, limits.max_list_items)
        except Missing as missing:
            raise MappingError(str(missing)) from None
        except TooMany:
            raise MappingError("%s: more than max_list_items (%d)" % (path.text, limits.max_list_items)) from None
        if not path.is_list:
            values[name] = _text(found, path.text, limits)
            continue
        values[name + ".count"] = str(len(found))
        for number, item in enumerate(found, start=1):
            where = "%s item %d" % (path.text, number)
            if isinstance(item, dict):
                if len(item) > MAX_MEMBERS:
                    raise MappingError("%s: more than %d members" % (where, MAX_MEMBERS))
                for member, value in item.items():
                    if _MEMBER_NAME.match(member) and _plain(value):
                        values["%s.%d.%s" % (name, number, member)] = _text(value, where, limits)
            elif _plain(item):
                values["%s.%d" % (name, number)] = _text(item, where, limits)
            else:
                raise MappingError("%s: a list inside the list; map a path that reaches its items" % where)
    return values


def _plain(value: Any) -> bool:
    return value is None or isinstance(value, (str, int, float, bool))


def _text(value: Any, where: str, limits: ServiceLimits) -> str:
    if not _plain(value):
        raise MappingError("%s: an object or list where a value was expected" % where)
    if value is None:
        text = ""
    elif isinstance(value, bool):
        text = "true" if value else "false"
    else:
        text = str(value)
    if len(text) > limits.max_text_chars:
        raise MappingError("%s: a text longer than max_text_chars (%d)" % (where, limits.max_text_chars))
    return text
