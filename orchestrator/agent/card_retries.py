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
"""
from __future__ import annotations

import re
from typing import TYPE_CHECKING, Optional, Set

if TYPE_CHECKING:  # pragma: no cover
    from orchestrator.engine.flow import Flow

_LIMIT = re.compile(r"^\s*\$\{attempts\.([A-Za-z0-9_.-]+)\}\s*(<=|<)\s*([0-9]{1,3})\s*$")
CARD_STEP = "collect_card"


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
