"""What happened on a simulated call, kept for assertions and for `orchestrator simulate`.

Times are seconds since the call was placed (monotonic clock, wall time, not scaled).
The record holds pressed digits, the wire transcript and the events verbatim: it is test
tooling and exists precisely so tests can prove where digits did or did not travel, which a
redacted record could never show. What writes it out masks it: ``render_timeline`` masks the
keys pressed during secure entry and long digit runs unless asked not to, and ``orchestrator
simulate --artifacts`` masks the wire and the events as ``orchestrator record-esl`` does.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Dict, List, Optional, Tuple

from .wire import now


@dataclass
class Heard:
    """One prompt (or sound) the caller heard."""

    t: float
    app: str                       # playback | speak | say | play_and_get_digits
    arg: str                       # the file / text / say argument actually played
    ended: Optional[float] = None
    interrupted_by: Optional[str] = None   # "dtmf" | "uuid_break" | "hangup" | None
    number: Optional[int] = None   # what ``wait_prompt: N`` counts; None for one it does not

    @property
    def barged(self) -> bool:
        return self.interrupted_by in ("dtmf", "uuid_break")


@dataclass
class Press:
    t: float
    digit: str
    taken_by: Optional[str] = None  # the application that consumed the digit, if any
    secure: bool = False            # pressed while the channel had sensitive_dtmf on


@dataclass
class CallRecord:
    uuid: str
    destination: str
    caller_id_number: str
    started: float = field(default_factory=now)
    heard: List[Heard] = field(default_factory=list)
    pressed: List[Press] = field(default_factory=list)
    apps: List[Tuple[float, str, str, str]] = field(default_factory=list)  # (t, app, arg, response)
    events: List[Tuple[float, str, dict]] = field(default_factory=list)    # every event the channel fired
    transcript: List[Tuple[float, str, str]] = field(default_factory=list)  # (t, "in"|"out", raw)
    answered: bool = False
    hangup_cause: Optional[str] = None
    hangup_by: Optional[str] = None      # "caller" | "service" | "switch"
    transferred_to: Optional[str] = None  # "<ext> <dialplan> <context>"
    bridged_to: Optional[str] = None      # the dial string of an answered bridge
    bridge_attempts: List[Tuple[str, str]] = field(default_factory=list)  # (dial string, outcome)
    fallback_reached: bool = False
    stranded: bool = False               # the switch left the caller in silence (see errors)
    torn_down: bool = False              # a restored bridge was torn down by the socket's close
    recorded_keys: List[Tuple[str, str]] = field(default_factory=list)  # (recording, key heard in it)
    recording_log: List[Tuple[float, str, str]] = field(default_factory=list)  # (t, action, path)
    socket_connected: bool = False
    # each `socket` the dialplan ran, in order: (host:port, whether it connected)
    sockets: List[Tuple[str, bool]] = field(default_factory=list)
    variables: Dict[str, str] = field(default_factory=dict)
    ended: Optional[float] = None
    errors: List[str] = field(default_factory=list)

    def elapsed(self) -> float:
        return now() - self.started

    @property
    def digits(self) -> str:
        return "".join(p.digit for p in self.pressed)

    @property
    def outcome(self) -> str:
        if self.stranded:
            return "caller stranded in silence"
        if self.torn_down:
            return "bridge torn down: socket closed with socket_resume set"
        if self.transferred_to:
            return f"transferred to {self.transferred_to}"
        if self.fallback_reached:
            return "socket gone; dialplan fallback reached"
        if self.hangup_cause:
            return f"hung up by {self.hangup_by or '?'} ({self.hangup_cause})"
        return "in progress"

    def wire_text(self, direction: Optional[str] = None) -> str:
        """The transcript as one string (optionally only "in" or "out")."""
        return "".join(raw for _, d, raw in self.transcript if direction in (None, d))


_LONG_DIGITS = re.compile(r"\d{4,}")
_KEY = re.compile(r"[0-9A-D]")


def _shown(presses: List[Press]) -> str:
    """Keys as the timeline prints them: those of secure entry as ``*`` (the terminator and the
    cancel key stay readable), and any run of four digits or more, which may be a card number
    keyed ahead of the entry."""
    shown = "".join(_KEY.sub("*", p.digit) if p.secure else p.digit for p in presses)
    return _LONG_DIGITS.sub(lambda m: "*" * len(m.group(0)), shown)


def _group_presses(presses: List[Press], gap: float = 1.0) -> List[Tuple[float, List[Press]]]:
    groups: List[Tuple[float, List[Press]]] = []
    last_t = None
    for press in presses:
        if groups and last_t is not None and press.t - last_t <= gap:
            groups[-1][1].append(press)
        else:
            groups.append((press.t, [press]))
        last_t = press.t
    return groups


def render_timeline(record: CallRecord, reveal_digits: bool = False, key_gap: float = 1.0,
                    labels: Optional[Dict[int, str]] = None) -> str:
    """A readable heard / pressed / outcome timeline, one line per happening; the keys of
    secure entry are masked unless ``reveal_digits``.

    Each prompt ``wait_prompt`` counts carries its number (``#3``), so a script's
    ``wait_prompt: 3`` can be read off the timeline; one it does not count (the invalid-entry
    sound of ``play_and_get_digits``) says so. ``labels`` adds a word to the prompt at that
    index of ``record.heard`` (the dry run's catalog key).
    Keys pressed less than ``key_gap`` seconds apart are shown as one entry; a faster-than-life
    run passes its time scale here so separate entries stay separate.
    """
    lines: List[Tuple[float, str]] = []
    for index, h in enumerate(record.heard):
        what = {"playback": "plays", "speak": "speaks", "say": "says",
                "play_and_get_digits": "prompts"}.get(h.app, h.app)
        number = f"#{h.number} " if h.number is not None else ""
        tail = f"  [{labels[index]}]" if labels and labels.get(index) else ""
        tail += f"  [interrupted by {h.interrupted_by}]" if h.interrupted_by else ""
        tail += "  (not counted by wait_prompt)" if h.number is None else ""
        lines.append((h.t, f"{number}switch {what} {h.arg!r}{tail}"))
    for t, presses in _group_presses(record.pressed, key_gap):
        shown = "".join(p.digit for p in presses) if reveal_digits else _shown(presses)
        lines.append((t, f"caller presses {shown}"))
    for t, app, arg, _ in record.apps:
        if app in ("transfer", "bridge", "hangup", "answer"):
            lines.append((t, f"service runs {app} {arg}".rstrip()))
    end_t = record.ended if record.ended is not None else record.elapsed()
    lines.append((end_t, f"call ends: {record.outcome}"))
    lines.sort(key=lambda item: item[0])
    return "\n".join(f"{t:7.2f}s  {text}" for t, text in lines)
