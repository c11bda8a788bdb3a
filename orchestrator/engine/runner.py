"""Walking a flow's steps on one call, and turning every way that can end into an outcome.

The runner never closes the socket and does not hang up on errors: when a flow fails, the
best thing for the caller is the dialplan's fallback (an agent or a queue), which runs when
the caller of ``run()`` closes the socket with ``socket_resume=true``. So an error is logged
with the flow and step, and returned.
"""
from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from typing import Callable, Optional

from orchestrator.logs import log_context

from .call_language import LANGUAGE_VARIABLE, start_language
from .context import EngineSettings, FlowContext
from .channel import CallGone, Channel, CommandTimeout
from .expressions import ExpressionError
from .flow import Flow, FlowStep
from .services import CallServices
from .step_api import Finish, Goto, StepError

COMPLETED = "completed"
TRANSFERRED = "transferred"
CALLER_HUNG_UP = "caller-hung-up"
ERROR = "error"


@dataclass(frozen=True)
class FlowOutcome:
    """How a run ended: ``result`` is one of the constants above; ``step`` the last step's label;
    ``to_agent_leg`` when the caller went back to the agent leg that waited during a payment."""

    result: str
    step: Optional[str]
    detail: str = ""
    to_agent_leg: bool = False


class LoopLimitExceeded(Exception):
    """The flow ran more steps than ``max_step_runs`` allows on one call."""


class FlowRunner:
    """Runs one flow on one call. Create one per call; ``run()`` once."""

    def __init__(self, flow: Flow, channel: Channel, settings: Optional[EngineSettings] = None,
                 log: Optional[logging.Logger] = None,
                 on_step: Optional[Callable[[FlowStep, float], None]] = None,
                 tenant: str = "default", services: Optional[CallServices] = None) -> None:
        """``on_step(step, seconds)`` is told how long each step took (metrics use it);
        ``tenant`` (a bounded name, see ``orchestrator.tenants``) labels what steps count;
        ``services`` (``CallServices``) is what payment steps reach besides the call."""
        self.flow = flow
        self.on_step = on_step
        self.channel = channel
        self.settings = settings or EngineSettings()
        self.log = log or logging.getLogger(__name__)
        self.context = FlowContext(flow, channel, self.settings, self.log, services)
        self.context.tenant = tenant

    def run(self) -> FlowOutcome:
        try:
            return self._run()
        finally:
            card = self.context.card
            if card is not None and not card.wiped:
                card.wipe()  # however the call ended, keyed card data does not outlive it

    def _run(self) -> FlowOutcome:
        step: Optional[FlowStep] = None
        try:
            self._start()
            index, executions = 0, 0
            while index < len(self.flow.steps):
                step = self.flow.steps[index]
                executions += 1
                self._count(step, executions)
                started = time.monotonic()
                try:
                    with log_context(step=step.label):  # every line a step logs names it
                        result = step.action.run(self.context)
                finally:
                    if self.on_step is not None:
                        self.on_step(step, time.monotonic() - started)
                if isinstance(result, Finish):
                    return self._finish(FlowOutcome(result.result, step.label, result.detail,
                                                     result.to_agent_leg))
                index = self.flow.index_by_id[result.target] if isinstance(result, Goto) else index + 1
            last = step.label if step else None
            return self._finish(FlowOutcome(COMPLETED, last, "ran past the last step"))
        except CallGone as exc:
            cause = getattr(exc, "cause", "") or str(exc)
            return self._finish(FlowOutcome(CALLER_HUNG_UP, step.label if step else None, f"call gone: {cause}"))
        except CommandTimeout as exc:
            return self._fail(step, f"FreeSWITCH did not answer in time: {exc}")
        except (StepError, ExpressionError, LoopLimitExceeded) as exc:
            return self._fail(step, str(exc))
        except Exception as exc:  # a bug in a step must end this flow, not the service
            self.log.exception("flow %s step %s: unexpected failure", self.flow.name, step.label if step else "-")
            return FlowOutcome(ERROR, step.label if step else None, f"unexpected {type(exc).__name__}")

    def _start(self) -> None:
        """Set the flow's initial variables in order (later ones may use earlier ones), then
        the call's language (which may be written with them)."""
        self.log.info("flow %s started (%s)", self.flow.name, self.flow.source)
        for name, value in self.flow.variables.items():
            self.context.variables[name] = self.context.render(value)
        if LANGUAGE_VARIABLE not in self.context.variables:
            self.context.variables[LANGUAGE_VARIABLE] = start_language(self.context)
        for step in self.flow.steps:
            step.action.prepare(self.context)

    def _count(self, step: FlowStep, executions: int) -> None:
        """Keep ${attempts.<id>} and stop a loop that would never end."""
        limit = self.settings.max_step_runs
        if executions > limit:
            raise LoopLimitExceeded(f"more than {limit} steps run on one call (limits.max_step_runs); "
                                    "a goto/branch loop never ends")
        if step.step_id:
            self.context.attempts[step.step_id] += 1
        self.log.debug("flow %s step %s", self.flow.name, step.label)

    def _fail(self, step: Optional[FlowStep], detail: str) -> FlowOutcome:
        self.log.error("flow %s step %s failed: %s", self.flow.name, step.label if step else "-", detail)
        return FlowOutcome(ERROR, step.label if step else None, detail)

    def _finish(self, outcome: FlowOutcome) -> FlowOutcome:
        self.log.info("flow %s ended: %s at %s %s", self.flow.name, outcome.result, outcome.step, outcome.detail)
        return outcome
