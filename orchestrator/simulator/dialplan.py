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
so a test runs the very order the shipped ``freeswitch_conf/dialplan`` gives.
"""
from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from typing import TYPE_CHECKING, Dict, Iterable, List, Mapping, Tuple

from .events import new_uuid

if TYPE_CHECKING:
    from .channel import SimChannel

MAX_TRANSFERS = 10
Action = Tuple[str, str]
_PLAIN_NAME = re.compile(r"^\^([A-Za-z0-9_]+)\$$")
_GLOBAL = re.compile(r"\$\$\{([A-Za-z0-9_]+)\}")


def run_actions(channel: "SimChannel", actions: List[Action]) -> None:
    from .eavesdrop import expand
    transfers = 0
    while actions and channel.up:
        name, arg = actions.pop(0)
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
                        ) -> Dict[str, List[Action]]:
    found: Dict[str, List[Action]] = {}
    for path in paths:
        for extension in ET.parse(path).getroot().iter("extension"):
            condition = extension.find("condition")
            if condition is None or condition.get("field") != "destination_number":
                continue
            match = _PLAIN_NAME.match(condition.get("expression") or "")
            if match is None:
                continue
            found[match.group(1)] = [
                (action.get("application") or "",
                 _GLOBAL.sub(lambda m: globals_.get(m.group(1), m.group(0)), action.get("data") or ""))
                for action in condition.iter("action")]
    return found
