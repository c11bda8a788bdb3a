"""What a step can reach besides the call: gateways, the payment record, prompts, events.

The runner hands one ``CallServices`` to every step of a call. Steps that need none of it
(menus, transfers) never look; the payment steps find everything here, so they need no
global state and tests can give each call its own gateways and store. Payment facts go out
through ``events`` (``payments/events.py``); who counts or shows them subscribes to the bus.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Callable, Mapping, Optional, Sequence, Tuple

from orchestrator.payments.events import CallEvents, CallRef

if TYPE_CHECKING:  # pragma: no cover
    from orchestrator.payments.gateways.base import Gateway
    from orchestrator.store import PaymentStore

AgentRequests = Callable[[Sequence[str]], Optional[Tuple[str, ...]]]


@dataclass
class PromptSettings:
    catalog_dir: Optional[str] = None   # None: the catalogs shipped in orchestrator/catalog
    audio_dir: str = ""                 # recordings on the switch: <audio_dir>/<language>/<file>
    audio: str = "auto"                 # auto (ask the switch), always, never (TTS only)


def _no_events() -> CallEvents:
    return CallEvents(None, CallRef(""))


@dataclass
class CallServices:
    gateways: Mapping[str, "Gateway"] = field(default_factory=dict)
    store: Optional["PaymentStore"] = None
    prompts: PromptSettings = field(default_factory=PromptSettings)
    # where steps publish payment facts (payments/events.py); masked values only
    events: CallEvents = field(default_factory=_no_events)
    tenant: str = "default"
    call_uuid: str = ""
    # take(kinds) -> an agent's pending ("cancel",) / ("recapture", field), or None
    agent_requests: Optional[AgentRequests] = None
