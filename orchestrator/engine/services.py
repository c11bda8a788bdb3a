"""What a step can reach besides the call: gateways, the payment record, prompts, payment events.

The runner hands one ``CallServices`` to every step of a call. Steps that need none of it
(menus, transfers) never look; the payment steps find everything here, so they need no
global state and tests can give each call its own gateways and store. Payment facts go out
through ``events`` (``payments/events.py``); who counts or shows them subscribes to the bus.
"""
from dataclasses import dataclass, field
from typing import Any, Callable, Dict, Mapping, Optional

from orchestrator.payments.events import CallEvents, CallRef


@dataclass
class PromptSettings:
    catalog_dir: Optional[str] = None   # None: the catalogs shipped in orchestrator/catalog
    audio_dir: str = ""                 # recordings on the switch: <audio_dir>/<language>/<file>
    audio: str = "auto"                 # auto (ask the switch), always, never (TTS only)


@dataclass
class CallServices:
    gateways: Mapping[str, Any] = field(default_factory=dict)
    store: Any = None
    prompts: PromptSettings = field(default_factory=PromptSettings)
    events: CallEvents = field(default_factory=lambda: CallEvents(None, CallRef("")))
    tenant: str = "default"
    call_uuid: str = ""
    agent_requests: Any = None          # callable(kinds) -> an agent's ("cancel",) / ("recapture", field)
    # Transitional (issue 9): collect_card still reads these two until it publishes to
    # ``events``; nothing else does. ``metrics`` is always None now (see legacy_events.py).
    metrics: Any = None
    on_payment_event: Optional[Callable[[str, Dict[str, Any]], None]] = None
