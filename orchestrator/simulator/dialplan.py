"""The dialplan as the simulator runs it after a ``socket`` returns, and the shipped XML read in.

``run_actions(channel, actions)`` walks ``(application, data)`` pairs as FreeSWITCH's XML
dialplan does once the channel is executing: each action's data is expanded when it runs
(``${var}``, ``${api(args)}``); ``socket host:port async [full]`` dials (``SimChannel.socket_again``:
refused, the next action; connected, the call runs under it until it is let go);
``transfer <extension> XML <context>`` to an extension the switch knows
(``Switch.extensions``) goes on with that extension's actions, as a transfer re-routes the
call; any other transfer, or an extension not known, leaves our view as after any transfer.
At most ``MAX_TRANSFERS`` transfers a call, as a loop in a dialplan would run forever.

``extensions_from_xml(paths, globals)`` reads the extensions of FreeSWITCH XML dialplan files
(those whose condition is ``destination_number`` matching ``^name$``) into the
``Switch.extensions`` form, ``$${name}`` replaced from ``globals`` as the preprocessor does:
so a test runs the very order the shipped ``freeswitch_conf/dialplan`` gives. A
``continue="true"`` extension of a context whose condition is on a channel variable
(``field="${name}"``) applies to every extension after it in that context, as the switch's hunt
runs it first: it becomes a ``Condition`` at the head of each, its actions when the value
matches (``$1``... its groups), else its anti-actions.
"""
from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from typing import TYPE_CHECKING, Dict, Iterable, List, Mapping, Tuple, Union

from .events import new_uuid

if TYPE_CHECKING:
    from .channel import SimChannel

MAX_TRANSFERS = 10
Action = Tuple[str, str]
_PLAIN_NAME = re.compile(r"^\^([A-Za-z0-9_]+)\$$")
_GLOBAL = re.compile(r"\$\$\{([A-Za-z0-9_]+)\}")
_VARIABLE_FIELD = re.compile(r"^\$\{([A-Za-z0-9_]+)\}$")
_GROUP = re.compile(r"\$(\d)")


@dataclass(frozen=True)
class Condition:
    """A condition on a channel variable, from a ``continue="true"`` extension: which of its
    actions run depends on the variable's value when the call is routed."""
    variable: str
    pattern: str
    actions: Tuple[Action, ...]
    anti_actions: Tuple[Action, ...]

    def chosen(self, variables: Mapping[str, str]) -> List["Step"]:
        match = re.search(self.pattern, variables.get(self.variable, ""))
        if match is None:
            return list(self.anti_actions)
        return [(app, _GROUP.sub(lambda g: match.group(int(g.group(1))) or "", data))
                for app, data in self.actions]


Step = Union[Action, Condition]


def routed(plan: Iterable[Step], variables: Mapping[str, str]) -> List[Action]:
    """An extension's actions as routing the call now gives them: each ``Condition`` replaced by
    what it chooses for these variables (the switch decides at routing time)."""
    actions: List[Action] = []
    for step in plan:
        if isinstance(step, Condition):
            actions += routed(step.chosen(variables), variables)
        else:
            actions.append(step)
    return actions


def run_actions(channel: "SimChannel", actions: List[Step]) -> None:
    from .eavesdrop import expand
    transfers = 0
    while actions and channel.up:
        step = actions.pop(0)
        if isinstance(step, Condition):
            actions = step.chosen(channel.variables) + actions
            continue
        name, arg = step
        data = expand(channel.switch, channel.variables, arg)
        if name == "socket":
            address, full = _socket_target(data)
            if not channel.socket_again(address, full):
                return
            continue
        if name == "transfer":
            extension = data.split()[0] if data.split() else ""
            plan = channel.switch.extensions.get(extension)
            if plan is not None and transfers < MAX_TRANSFERS:
                transfers += 1
                channel.record.transferred_to = " ".join(data.split()[:3])
                channel.destination = extension
                actions = list(plan)
                continue
        from .channel import AppRequest
        channel._execute(AppRequest(name, data, new_uuid()))


def _socket_target(data: str) -> Tuple[Tuple[str, int], bool]:
    words = data.split()
    host, _, port = (words[0] if words else "").rpartition(":")
    if host not in ("127.0.0.1", "localhost") or not port.isdigit():
        raise ValueError("the simulator only dials loopback addresses, not %r" % data)
    return (host, int(port)), "full" in words[1:]


def extensions_from_xml(paths: Iterable[str], globals_: Mapping[str, str]
                        ) -> Dict[str, List[Step]]:
    found: Dict[str, List[Step]] = {}

    def actions_of(element: ET.Element, tag: str) -> Tuple[Action, ...]:
        return tuple((action.get("application") or "",
                      _GLOBAL.sub(lambda m: globals_.get(m.group(1), m.group(0)),
                                  action.get("data") or ""))
                     for action in element.iter(tag))

    for path in paths:
        root = ET.parse(path).getroot()
        contexts = list(root.iter("context")) or [root]
        for context in contexts:
            before: List[Step] = []       # the context's continue="true" conditions so far
            for extension in context.iter("extension"):
                condition = extension.find("condition")
                if condition is None:
                    continue
                variable = _VARIABLE_FIELD.match(condition.get("field") or "")
                if extension.get("continue") == "true" and variable is not None:
                    before.append(Condition(variable.group(1), condition.get("expression") or "",
                                            actions_of(condition, "action"),
                                            actions_of(condition, "anti-action")))
                    continue
                if condition.get("field") != "destination_number":
                    continue
                match = _PLAIN_NAME.match(condition.get("expression") or "")
                if match is None:
                    continue
                found[match.group(1)] = before + list(actions_of(condition, "action"))
    return found
