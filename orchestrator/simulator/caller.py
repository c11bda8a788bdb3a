"""Scripted callers: what the person on the phone does, in a few lines of YAML.

```yaml
answer_after: 0.5        # seconds of ringing before the dialplan reaches `socket` (default 0)
max_duration: 120        # the caller hangs up after this many seconds on the call (default 120)
bridge: {outcome: answered, after: 1, talk: 5}   # how a `bridge` from this call ends (optional)
steps:
  - wait_prompt: 2       # until the 2nd prompt (playback/speak/say/play_and_get_digits) has
                         # started: the one a timeline shows as #2 (``Heard.number``)
  - wait: 0.5            # seconds
  - press: "4111111111111111#"
    spacing: 0.05        # seconds between digits (default 0.1)
  - silence: 6           # same as wait; reads better where the caller stays silent on purpose
  - hangup: {}           # or {cause: NORMAL_CLEARING}
```
A bare list of steps is accepted too. The invalid-entry sound ``play_and_get_digits`` plays
after a wrong entry is not counted (it is part of the same prompt); the timeline says so. A test
script (``orchestrator/flowtests``) adds ``flow``, ``variables``, ``expect`` and a few more keys. All times are simulated seconds: they are multiplied
by the switch's ``time_scale``, like prompt durations and digit timeouts, so a script keeps
its meaning at any speed. After the last step the caller stays on the line until the
service hangs up or transfers, or ``max_duration`` passes (then the caller hangs up).

``bridge.outcome`` is ``answered`` or a hangup cause such as ``NO_ANSWER``, ``USER_BUSY``,
``CALL_REJECTED``; ``after`` is how long the far end rings, ``talk`` how long an answered
far end stays before hanging up (default: until the caller hangs up).
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any, Optional, Tuple

import yaml

DTMF_DIGITS = set("0123456789*#ABCDabcd")
STEP_KINDS = ("wait_prompt", "wait", "silence", "press", "hangup")
BRIDGE_OUTCOMES = ("answered", "NO_ANSWER", "USER_BUSY", "CALL_REJECTED", "NO_USER_RESPONSE",
                   "UNALLOCATED_NUMBER", "NORMAL_TEMPORARY_FAILURE", "ORIGINATOR_CANCEL",
                   "NO_ROUTE_DESTINATION")


class ScriptError(ValueError):
    """A caller script that cannot be run; the message names the offending step, ``path`` is
    where it sits in the document (``("steps", 2, "press")``) for a reader that kept the
    positions (``orchestrator simulate`` prints file:line:column)."""

    def __init__(self, message: str, path: Tuple[Any, ...] = ()) -> None:
        super().__init__(message)
        self.path = tuple(path)


@dataclass(frozen=True)
class Step:
    kind: str
    value: Any = None
    spacing: float = 0.1


@dataclass(frozen=True)
class BridgePlan:
    outcome: str = "answered"
    after: float = 0.5
    talk: Optional[float] = None


@dataclass(frozen=True)
class CallerScript:
    steps: Tuple[Step, ...] = ()
    answer_after: float = 0.0
    max_duration: float = 120.0
    bridge: BridgePlan = field(default_factory=BridgePlan)

    @classmethod
    def from_yaml(cls, text_or_path: str) -> "CallerScript":
        """Parse a script from YAML text or from a path to a YAML file."""
        text = text_or_path
        if "\n" not in text_or_path and os.path.isfile(text_or_path):
            with open(text_or_path, encoding="utf-8") as fh:
                text = fh.read()
        try:
            data = yaml.safe_load(text)
        except yaml.YAMLError as exc:
            raise ScriptError(f"caller script is not valid YAML: {exc}") from exc
        return cls.from_data(data)

    @classmethod
    def from_data(cls, data: Any) -> "CallerScript":
        if data is None:
            data = []
        if isinstance(data, list):
            data = {"steps": data}
        if not isinstance(data, dict):
            raise ScriptError("caller script must be a mapping with 'steps' or a list of steps")
        unknown = set(data) - {"steps", "answer_after", "max_duration", "bridge"}
        if unknown:
            raise ScriptError(f"caller script: unknown top-level key(s): {', '.join(sorted(map(str, unknown)))}",
                              (sorted(map(str, unknown))[0],))
        steps = data.get("steps") or []
        if not isinstance(steps, list):
            raise ScriptError("caller script: 'steps' must be a list", ("steps",))
        return cls(
            steps=tuple(_placed(("steps", i), _parse_step, i, raw) for i, raw in enumerate(steps)),
            answer_after=_seconds(data.get("answer_after", 0.0), "answer_after", path=("answer_after",)),
            max_duration=_seconds(data.get("max_duration", 120.0), "max_duration", positive=True,
                                  path=("max_duration",)),
            bridge=_placed(("bridge",), _parse_bridge, data.get("bridge")),
        )

    @classmethod
    def silent(cls, max_duration: float = 120.0) -> "CallerScript":
        """A caller who listens and never presses anything."""
        return cls(max_duration=max_duration)


def _placed(path: Tuple[Any, ...], parse, *args):
    """``parse(*args)``, its ScriptError placed at ``path`` when it did not say where."""
    try:
        return parse(*args)
    except ScriptError as exc:
        if exc.path:
            raise
        raise ScriptError(str(exc), path) from None


def _seconds(value: Any, where: str, positive: bool = False, path: Tuple[Any, ...] = ()) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ScriptError(f"{where}: expected a number of seconds, got {value!r}", path)
    if value < 0 or (positive and value == 0):
        raise ScriptError(f"{where}: must be {'positive' if positive else 'zero or more'}, got {value!r}", path)
    return float(value)


def _parse_bridge(raw: Any) -> BridgePlan:
    if raw is None:
        return BridgePlan()
    if isinstance(raw, str):
        raw = {"outcome": raw}
    if not isinstance(raw, dict):
        raise ScriptError("bridge: expected a mapping like {outcome: answered, after: 1, talk: 5}")
    unknown = set(raw) - {"outcome", "after", "talk"}
    if unknown:
        raise ScriptError(f"bridge: unknown key(s): {', '.join(sorted(unknown))}")
    outcome = str(raw.get("outcome", "answered"))
    if outcome not in BRIDGE_OUTCOMES:
        raise ScriptError(f"bridge.outcome: {outcome!r} is not one of {', '.join(BRIDGE_OUTCOMES)}")
    talk = raw.get("talk")
    return BridgePlan(outcome=outcome, after=_seconds(raw.get("after", 0.5), "bridge.after"),
                      talk=None if talk is None else _seconds(talk, "bridge.talk"))


def _parse_step(index: int, raw: Any) -> Step:
    where = f"step {index}"
    if not isinstance(raw, dict) or not raw:
        raise ScriptError(f"{where}: expected a mapping such as {{press: '1#'}}, got {raw!r}")
    kinds = [k for k in raw if k in STEP_KINDS]
    extra = [k for k in raw if k not in STEP_KINDS and k != "spacing"]
    if len(kinds) != 1 or extra:
        raise ScriptError(f"{where}: needs exactly one of {', '.join(STEP_KINDS)}"
                          + (f"; unknown key(s): {', '.join(map(str, extra))}" if extra else ""))
    kind = kinds[0]
    value = raw[kind]
    if "spacing" in raw and kind != "press":
        raise ScriptError(f"{where}: 'spacing' only goes with 'press'")
    if kind == "wait_prompt":
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ScriptError(f"{where} (wait_prompt): expected a prompt number from 1, got {value!r}")
        return Step(kind, value)
    if kind in ("wait", "silence"):
        return Step("wait", _seconds(value, f"{where} ({kind})"))
    if kind == "press":
        if isinstance(value, int) and not isinstance(value, bool):
            value = str(value)
        if not isinstance(value, str) or not value or set(value) - DTMF_DIGITS:
            raise ScriptError(f"{where} (press): expected a string of DTMF digits 0-9 * # A-D, got {value!r}")
        spacing = _seconds(raw.get("spacing", 0.1), f"{where} (spacing)")
        return Step(kind, value.upper(), spacing)
    # hangup
    if value in (None, {}):
        return Step("hangup", "NORMAL_CLEARING")
    if isinstance(value, dict) and set(value) <= {"cause"} and isinstance(value.get("cause"), str):
        return Step("hangup", value["cause"])
    raise ScriptError(f"{where} (hangup): expected {{}} or {{cause: NORMAL_CLEARING}}, got {value!r}")


def run_script(script: CallerScript, line) -> None:
    """Play ``script`` against ``line`` (the channel's caller side); returns when the call ends.

    ``line`` offers: ``wait_prompt(n) -> bool``, ``pause(seconds) -> bool`` (both False once
    the call has ended), ``press(digit) -> bool``, ``caller_hangup(cause)``, ``wait_end()``.
    """
    for step in script.steps:
        if step.kind == "wait_prompt":
            if not line.wait_prompt(step.value):
                return
        elif step.kind == "wait":
            if not line.pause(step.value):
                return
        elif step.kind == "press":
            for i, digit in enumerate(step.value):
                if i and not line.pause(step.spacing):
                    return
                if not line.press(digit):
                    return
        elif step.kind == "hangup":
            line.caller_hangup(step.value)
            return
    line.wait_end()
