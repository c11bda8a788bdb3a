"""How many cards a flow takes from one caller, read from the flow itself.

A declined card is not the end of a payment when the flow asks for another: the shipped
``card_payment`` flow goes from ``authorize``'s ``declined`` to a ``branch`` with
``if: "${attempts.card} < 2"`` back to its ``collect_card`` step ``card``. The agent must be
told which it will be while the caller still hears the decline, seconds before the next
card's first field starts (the session's only other sign of it). The flow's own words say
it: a ``branch`` on ``${attempts.<id>} < N`` (or ``<= N``) where ``<id>`` is a
``collect_card`` step lets that step run N (N + 1) times, one card each.

Read from the definition, so nothing is added to the engine: when a flow says it another way
(no such branch, a condition on something else, or several disagreeing), the answer is None
and the agent is told only that the flow goes on.

With the agent-started charge (``"charge": "agent"``) the shipped flows do not ask for another
card by themselves: ``authorize``'s ``declined`` leads, past what the caller hears, to an
``agent_charge`` step that holds the caller until the agent asks for another card or cancels
(``agent_decides_after_decline``), and that step's ``another-card`` skips the branch above, so
the agent, not the flow, decides how many cards are tried.
"""
from __future__ import annotations

import re
from typing import TYPE_CHECKING, Optional, Set

if TYPE_CHECKING:  # pragma: no cover
    from orchestrator.engine.flow import Flow

_LIMIT = re.compile(r"^\s*\$\{attempts\.([A-Za-z0-9_.-]+)\}\s*(<=|<)\s*([0-9]{1,3})\s*$")
CARD_STEP = "collect_card"
AGENT_STEP = "agent_charge"
# what only speaks to the caller: walked past between a decline and the agent's wait
SPOKEN_STEPS = frozenset({"announce", "play", "say", "speak"})


def cards_allowed(flow: "Flow") -> Optional[int]:
    """The number of cards ``flow`` asks one caller for at most, or None when it does not
    say so in the one shape read here."""
    card_steps = {step.step_id for step in flow.steps if step.kind == CARD_STEP and step.step_id}
    found: Set[int] = set()
    for step in flow.steps:
        if step.kind != "branch":
            continue
        condition = getattr(step.action, "config", {}).get("if")
        match = _LIMIT.match(condition) if isinstance(condition, str) else None
        if match and match.group(1) in card_steps:
            limit = int(match.group(3))
            found.add(limit + 1 if match.group(2) == "<=" else limit)
    return found.pop() if len(found) == 1 else None


def agent_decides_after_decline(flow: "Flow") -> bool:
    """Whether, on a call whose charge the agent starts, every ``authorize`` of ``flow`` goes
    from ``declined`` (through steps that only speak, and ``goto``) to an ``agent_charge``
    step: the flow then waits for the agent's decision, another card or cancel. (Such a step
    does nothing on a call whose flow charges by itself, so this says nothing of those.)"""
    declines = [getattr(step.action, "config", {}).get("on", {}).get("declined")
                for step in flow.steps if step.kind == "authorize"]
    return bool(declines) and all(_reaches_agent_step(flow, target) for target in declines)


def _reaches_agent_step(flow: "Flow", target: Optional[str]) -> bool:
    index = flow.index_by_id.get(target) if isinstance(target, str) else None
    seen: Set[int] = set()
    while index is not None and index < len(flow.steps) and index not in seen:
        seen.add(index)
        step = flow.steps[index]
        config = getattr(step.action, "config", None)
        if step.kind == AGENT_STEP and isinstance(config, dict) and config.get("enabled") is not False:
            return True
        if step.kind == "goto":
            index = flow.index_by_id.get(config) if isinstance(config, str) else None
        elif step.kind in SPOKEN_STEPS or step.kind == AGENT_STEP:   # one that never waits
            index += 1
        else:
            return False
    return False
