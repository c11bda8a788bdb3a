"""What a step can reach besides the call: gateways, the payment record, prompts, metrics.

The runner hands one ``CallServices`` to every step of a call. Steps that need none of it
(menus, transfers) never look; the payment steps find everything here, so they need no
global state and tests can give each call its own gateways and store.
"""
from dataclasses import dataclass, field
from typing import Any, Mapping, Optional


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
    metrics: Any = None
    tenant: str = "default"
    call_uuid: str = ""
    on_payment_event: Any = None        # callable(kind, fields) for live watchers; masked only
    agent_requests: Any = None          # callable(kinds) -> an agent's ("cancel",) / ("recapture", field)
