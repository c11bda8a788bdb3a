"""The state one call's flow run carries: variables, attempt counters, the channel, settings.

Steps read and write variables only through ``FlowContext`` so that the namespaces of
``${...}`` (flow variables, ``channel.<name>``, ``attempts.<step id>``, and ``call.<fact>``:
what the switch said of the call when it connected, read only) are resolved in one place,
with one set of error messages.
"""
from __future__ import annotations

import logging
from collections import Counter
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Dict, Optional, Set, Tuple

from .channel import Channel
from .expressions import Condition, ExpressionError, render
from .services import CallServices

if TYPE_CHECKING:  # pragma: no cover
    from orchestrator.payments.card import CardData

    from .flow import Flow


# The defaults of the service config's ``tts`` and ``limits`` sections, declared here once:
# the engine is what uses them, and the service config reads them from here.
DEFAULT_TTS_ENGINE = "flite"   # FreeSWITCH's mod_flite, in the stock packages
DEFAULT_TTS_VOICE = "kal"
DEFAULT_MAX_STEP_RUNS = 500    # far above what a real flow runs on one call
# ${call.<fact>}: the caller's number and the number dialled, from the call's connect headers
# (in FreeSWITCH they are caller profile fields, not channel variables a socket can read)
CALL_FACTS = ("caller_id_number", "destination_number")


@dataclass(frozen=True)
class EngineSettings:
    """Service-wide engine settings (from the service config).

    ``tts_engine`` and ``tts_voice`` are what ``speak`` and spoken prompts use when a flow
    names none. ``max_step_runs`` (``limits.max_step_runs``) stops a goto/branch loop that
    never ends: the call goes back to the dialplan instead of looping on the switch forever.
    """

    tts_engine: str = DEFAULT_TTS_ENGINE
    tts_voice: str = DEFAULT_TTS_VOICE
    max_step_runs: int = DEFAULT_MAX_STEP_RUNS


class FlowContext:
    """Variables and services for one run of one flow on one call."""

    def __init__(self, flow: "Flow", channel: Channel, settings: EngineSettings, log: logging.Logger,
                 services: Optional[CallServices] = None) -> None:
        self.flow = flow
        self.channel = channel
        self.settings = settings
        self.log = log
        self.services = services
        self.card: Optional["CardData"] = None  # the CardData being keyed or authorized; wiped afterwards
        self.variables: Dict[str, str] = {}
        self.attempts: "Counter[str]" = Counter()
        self.tenant: str = "default"  # set by the runner; a bounded name for metric labels
        # the call's language (engine/call_language.py): which codes have a catalog, and
        # which unknown ones were already warned of
        self.language_checks: Dict[str, bool] = {}
        self.language_warned: Set[Tuple[str, str]] = set()

    @property
    def language(self) -> str:
        """The language prompts are rendered in now (``engine/call_language.py``)."""
        from .call_language import current_language
        return current_language(self)

    # ---- variables ------------------------------------------------------------------------

    def resolve(self, name: str) -> str:
        """The value of ``${name}``; unknown names raise ``ExpressionError``."""
        if name.startswith("channel."):
            channel_name = name[len("channel."):]
            value = self.channel.variable(channel_name)
            if value is None:
                raise ExpressionError(f"channel variable '{channel_name}' is not set on this call")
            return str(value)
        if name.startswith("call."):
            fact = name[len("call."):]
            if fact not in CALL_FACTS:
                raise ExpressionError(f"'${{{name}}}': the call's facts are {', '.join(CALL_FACTS)}")
            return str(getattr(self.channel, fact, "") or "")
        if name.startswith("attempts."):
            step_id = name[len("attempts."):]
            if step_id not in self.flow.step_ids:
                raise ExpressionError(f"'${{{name}}}': '{step_id}' is not a step id")
            return str(self.attempts[step_id])
        if name in self.variables:
            return self.variables[name]
        known = ", ".join(sorted(self.variables)) or "none"
        raise ExpressionError(f"unknown variable '{name}'; flow variables so far: {known}")

    def render(self, value: Any) -> str:
        """Interpolate a flow-file scalar into text."""
        return render(value, self.resolve)

    def render_optional(self, value: Any) -> str:
        """Interpolate, or "" when a variable it names is not set (optional settings)."""
        try:
            return self.render(value)
        except ExpressionError:
            return ""

    def test(self, condition: Condition) -> bool:
        return condition.evaluate(self.resolve)

    def set_variable(self, name: str, value: str) -> None:
        """Set a flow variable, or a channel variable when the name is ``channel.<name>``."""
        if name.startswith("channel."):
            self.channel.set_variable(name[len("channel."):], value)
        else:
            self.variables[name] = value
