"""Faults on demand: the ways a real switch (or the network to it) misbehaves that the
orchestrator must survive. One frozen value, given switch-wide to ``Switch(faults=...)``
(applies to every inbound connection and every call) or per call to ``place_call``.

Delays are wall-clock seconds and are NOT scaled by ``time_scale``: they exist to test
the orchestrator's own (wall-clock) timeouts.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

from .wire import Command


@dataclass(frozen=True)
class Faults:
    reply_delay: float = 0.0
    """Seconds the switch sits on every command before processing and replying to it
    (events of the call keep flowing meanwhile)."""

    no_reply_after: Optional[int] = None
    """Answer the first N commands, then read but ignore every later one."""

    no_reply_to: Optional[str] = None
    """Ignore (neither run nor answer) commands whose line starts with this text,
    case-insensitively: ``"linger"``, ``"sendmsg"``, ``"api uuid_break"``..."""

    drop_after_commands: Optional[int] = None
    """Close the socket abruptly (RST, no disconnect-notice) right after replying to the Nth command."""

    drop_after_seconds: Optional[float] = None
    """Close the socket abruptly this many seconds after it was opened."""

    stale_completion: bool = False
    """Before each real CHANNEL_EXECUTE_COMPLETE, send one with the same Application and
    Application-Data but a different Application-UUID (a leftover of an earlier command)."""

    reverse_completions: bool = False
    """Hold back the CHANNEL_EXECUTE_COMPLETE of apps that have more apps queued behind
    them, and deliver the held ones in reverse order when the queue drains."""

    def __post_init__(self):
        for name in ("no_reply_after", "drop_after_commands"):
            value = getattr(self, name)
            if value is not None and (not isinstance(value, int) or value < 0):
                raise ValueError(f"Faults.{name} must be a non-negative int, got {value!r}")
        for name in ("reply_delay", "drop_after_seconds"):
            value = getattr(self, name)
            if value is not None and value < 0:
                raise ValueError(f"Faults.{name} must not be negative, got {value!r}")

    def ignores(self, command: Command, ordinal: int) -> bool:
        """Whether the ``ordinal``-th command (1-based) of a connection goes unanswered."""
        if self.no_reply_after is not None and ordinal > self.no_reply_after:
            return True
        if self.no_reply_to and command.line.lower().startswith(self.no_reply_to.lower()):
            return True
        return False

    def drops_after(self, ordinal: int) -> bool:
        return self.drop_after_commands is not None and ordinal >= self.drop_after_commands


NO_FAULTS = Faults()
