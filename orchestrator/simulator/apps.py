"""The dialplan applications the simulator emulates, with mod_dptools' observable effects:
variables set, Application-Response, what the caller hears, how DTMF and uuid_break
interrupt them. Each handler runs in the channel's session greenlet and returns the
Application-Response (None leaves it `_none_`).
"""
from __future__ import annotations

import fnmatch
from typing import TYPE_CHECKING, Callable, Dict, Optional, Tuple

from gevent.queue import Empty

from .record import Press
from .wire import now

if TYPE_CHECKING:
    from .channel import AppRun, SimChannel

Handler = Callable[["SimChannel", str, "AppRun"], Optional[str]]
_APPS: Dict[str, Handler] = {}
ANY_DIGIT = "1234567890*#"
# Applications accepted and completed at once: nothing a caller would notice.
NOOP_APPS = ("log", "info", "ring_ready", "event", "flush_dtmf", "record_session", "stop_record_session",
             "start_dtmf", "stop_dtmf", "bind_meta_app", "unbind_meta_app", "send_display", "respond",
             "sched_hangup", "sched_cancel", "hash", "limit", "db", "deflect", "redirect", "sound_test")


def app(name: str):
    def register(func: Handler) -> Handler:
        _APPS[name] = func
        return func
    return register


def lookup(name: str) -> Optional[Handler]:
    if name in _APPS:
        return _APPS[name]
    if name in NOOP_APPS:
        return _noop
    return None


def _noop(ch: "SimChannel", arg: str, run: "AppRun") -> Optional[str]:
    return None


# ---- waiting, with interruptions -------------------------------------------------------
WAIT_CHUNK = 10.0     # seconds of wall time a wait sleeps before it looks at the state again

def wait(ch: "SimChannel", run: "AppRun", seconds: Optional[float],
         on_digit: Callable[[Press], bool] = lambda p: False) -> Tuple[str, Optional[Press]]:
    """Wait ``seconds`` of simulated time (None: until interrupted).

    Returns ("done"|"dtmf"|"break"|"hangup", press). ``on_digit`` says whether a digit ends the wait.
    """
    from .channel import BREAK, HANGUP

    deadline = None if seconds is None or seconds < 0 else now() + ch.scaled(seconds)
    while True:
        if ch.state == "hangup":
            return "hangup", None
        # the hang-up comes into the inbox (HANGUP); the state is looked at again every
        # ten seconds besides, a bound on a wait, not a poll: ten thousand held calls each
        # waking once a second were a share of the simulator's core
        remaining = WAIT_CHUNK if deadline is None else deadline - now()
        try:
            if remaining > 0:
                item = run.inbox.get(timeout=min(remaining, WAIT_CHUNK))
            else:
                # past the deadline, what is already in is still taken first, as the switch
                # reads its queued keys before it looks at the clock: when this process was
                # busy, the caller's key and the deadline came due together, and the key
                # may have been put in just as the timed get gave up
                item = run.inbox.get_nowait()
        except Empty:
            if remaining <= 0:
                return "done", None
            continue
        if item is HANGUP:
            return "hangup", None
        if item is BREAK:
            return "break", None
        if on_digit(item):
            return "dtmf", item


def _terminators(ch: "SimChannel") -> str:
    value = ch.variables.get("playback_terminators", "*")
    if value.lower() == "any":
        return ANY_DIGIT
    if value.lower() == "none":
        return ""
    return value


def _ensure_media(ch: "SimChannel") -> None:
    if ch.state == "ringing":
        ch.state = "early"
        ch.fire_new("CHANNEL_PROGRESS_MEDIA")


def speech_seconds(ch: "SimChannel", arg: str, text: str) -> float:
    """Simulated length of spoken ``text``: one ``prompt_durations`` sets for ``arg``, else
    one by the text's length."""
    for pattern, seconds in ch.switch.prompt_durations.items():
        if fnmatch.fnmatch(arg, pattern):
            return seconds
    return max(0.5, 0.06 * len(text))


def sound_seconds(ch: "SimChannel", path: str) -> Optional[float]:
    """Simulated length of a sound; None means it plays until interrupted."""
    if path.startswith("file_string://"):
        parts = [sound_seconds(ch, p) for p in path[len("file_string://"):].split("!") if p]
        known = [p for p in parts if p is not None]
        return None if len(known) < len(parts) else sum(known)
    if path.startswith("silence_stream://"):
        try:
            ms = int(path[len("silence_stream://"):].split(",")[0])
        except ValueError:
            ms = 0
        return None if ms < 0 else ms / 1000.0
    if path.startswith("tone_stream://"):
        return None if "loops=-1" in path else 1.0
    for pattern, seconds in ch.switch.prompt_durations.items():
        if fnmatch.fnmatch(path, pattern):
            return seconds
    return ch.prompt_seconds


def play(ch: "SimChannel", run: "AppRun", app_name: str, arg: str, seconds: Optional[float],
         on_digit: Callable[[Press], bool], counts: bool = True) -> Tuple[str, Optional[Press]]:
    """The caller hears ``arg`` for ``seconds``; record it and how it stopped."""
    heard = ch.prompt_started(app_name, arg, counts)
    how, press = wait(ch, run, seconds, on_digit)
    heard.ended = ch.record.elapsed()
    heard.interrupted_by = {"dtmf": "dtmf", "break": "uuid_break", "hangup": "hangup"}.get(how)
    return how, press


def _barge_on_terminator(ch: "SimChannel", app_name: str) -> Callable[[Press], bool]:
    def on_digit(press: Press) -> bool:
        if press.digit in _terminators(ch):
            press.taken_by = app_name
            ch.set_var("playback_terminator_used", press.digit)
            return True
        return False
    return on_digit


# ---- call control ---------------------------------------------------------------------
@app("answer")
def _answer(ch: "SimChannel", arg: str, run: "AppRun") -> Optional[str]:
    if ch.state in ("ringing", "early"):
        ch.state = "answered"
        ch.answered_us = ch.created_us + int(ch.record.elapsed() * 1_000_000)
        ch.record.answered = True
        ch.fire_new("CHANNEL_ANSWER")
    return None


@app("pre_answer")
def _pre_answer(ch: "SimChannel", arg: str, run: "AppRun") -> Optional[str]:
    _ensure_media(ch)
    return None


@app("hangup")
def _hangup(ch: "SimChannel", arg: str, run: "AppRun") -> Optional[str]:
    ch.hangup(arg.strip() or "NORMAL_CLEARING", by="service")
    return None


@app("set")
def _set(ch: "SimChannel", arg: str, run: "AppRun") -> Optional[str]:
    name, sep, value = arg.partition("=")
    name = name.strip()
    if name:
        if sep and value != "":
            ch.set_var(name, value)
        else:
            ch.unset_var(name)
    return None


@app("export")
def _export(ch: "SimChannel", arg: str, run: "AppRun") -> Optional[str]:
    name, _, value = arg.partition("=")
    local = not name.startswith("nolocal:")
    name = name.split(":", 1)[1] if name.startswith("nolocal:") else name
    if name and local:
        ch.set_var(name.strip(), value)
    exported = [v for v in ch.variables.get("export_vars", "").split(",") if v]
    if name and name not in exported:
        ch.set_var("export_vars", ",".join(exported + [name]))
    return None


@app("unset")
def _unset(ch: "SimChannel", arg: str, run: "AppRun") -> Optional[str]:
    ch.unset_var(arg.strip())
    return None


@app("multiset")
def _multiset(ch: "SimChannel", arg: str, run: "AppRun") -> Optional[str]:
    sep = " "
    if arg.startswith("^^"):
        sep, arg = arg[2], arg[3:]
    for item in arg.split(sep):
        if item:
            _set(ch, item, run)
    return None


@app("sleep")
def _sleep(ch: "SimChannel", arg: str, run: "AppRun") -> Optional[str]:
    try:
        ms = int(arg.strip() or "0")
    except ValueError:
        ms = 0
    wait(ch, run, ms / 1000.0)
    return None


@app("park")
def _park(ch: "SimChannel", arg: str, run: "AppRun") -> Optional[str]:
    wait(ch, run, None)
    return None


@app("transfer")
def _transfer(ch: "SimChannel", arg: str, run: "AppRun") -> Optional[str]:
    words = arg.split()
    if not words:
        return None
    ch.mark_transfer(words[0], words[1] if len(words) > 1 else "XML", words[2] if len(words) > 2 else "default")
    return None


# ---- media ----------------------------------------------------------------------------
@app("playback")
def _playback(ch: "SimChannel", arg: str, run: "AppRun") -> Optional[str]:
    _ensure_media(ch)
    ch.set_var("playback_terminator_used", "")
    if ch.switch.file_missing(arg):
        return "FILE NOT FOUND"
    play(ch, run, "playback", arg, sound_seconds(ch, arg), _barge_on_terminator(ch, "playback"))
    return "FILE PLAYED"


@app("speak")
def _speak(ch: "SimChannel", arg: str, run: "AppRun") -> Optional[str]:
    _ensure_media(ch)
    text = arg.split("|", 2)[-1]
    play(ch, run, "speak", arg, speech_seconds(ch, arg, text), _barge_on_terminator(ch, "speak"))
    return None


@app("say")
def _say(ch: "SimChannel", arg: str, run: "AppRun") -> Optional[str]:
    _ensure_media(ch)
    value = arg.split(" ")[-1] if arg.split(" ") else ""
    play(ch, run, "say", arg, 0.5 + 0.3 * len(value), _barge_on_terminator(ch, "say"))
    return None


from . import bridge, collect, secure  # noqa: E402,F401  (they register play_and_get_digits, bridge, lua)
