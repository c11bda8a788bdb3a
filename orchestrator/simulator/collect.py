"""play_and_get_digits, following switch_play_and_get_digits / switch_ivr_read:

- each try clears ``read_result`` and the target variable, plays the prompt (any digit
  stops it and counts as the first digit), then collects with the first-digit timeout
  (or the inter-digit one when a digit already came) until max digits, a terminator or a
  timeout;
- ``read_terminator_used`` is set only when a terminator ended the entry;
- fewer than min digits -> ``read_result=failure``; a timeout with enough digits ->
  ``timeout`` (and the digits are kept); otherwise ``success``;
- a regex mismatch clears the variable and stores the entry in ``<var>_invalid``;
- after a failed try the invalid-input sound plays, and after the last one the optional
  ``transfer_on_failure`` (``<ext> [dialplan] [context]``) happens.
The digits go only to the named variable: never to an event header or a log.
"""
from __future__ import annotations

import re
from typing import TYPE_CHECKING, List, Optional, Tuple

from .apps import _ensure_media, app, play, sound_seconds, wait
from .record import Press

if TYPE_CHECKING:
    from .channel import AppRun, SimChannel

SUCCESS, TIMEOUT, TOO_SMALL, BREAK, GONE = "success", "timeout", "too_small", "break", "gone"


def split_args(arg: str) -> List[str]:
    """switch_separate_string on ' ': single quotes group words, quotes removed."""
    out: List[str] = []
    cur: List[str] = []
    quoted, started = False, False
    for ch in arg:
        if ch == "'":
            quoted = not quoted
            started = True
        elif ch == " " and not quoted:
            if started or cur:
                out.append("".join(cur))
            cur, started = [], False
        else:
            cur.append(ch)
            started = True
    if started or cur:
        out.append("".join(cur))
    return out


def _int(words: List[str], i: int, default: int) -> int:
    try:
        return int(words[i])
    except (IndexError, ValueError):
        return default


def _read(ch: "SimChannel", run: "AppRun", min_d: int, max_d: int, prompt: str, var: str,
          timeout_ms: int, terminators: str, digit_timeout_ms: int) -> Tuple[str, str]:
    ch.unset_var("read_result")
    if var:
        ch.unset_var(var)
    buf: List[str] = []
    term = ""
    status = SUCCESS

    def take(press: Press) -> bool:
        press.taken_by = "play_and_get_digits"
        return True

    if prompt and prompt.lower() != "silence" and not ch.switch.file_missing(prompt):
        how, press = play(ch, run, "play_and_get_digits", prompt, sound_seconds(ch, prompt), take)
        if how == "hangup":
            return GONE, ""
        if how == "break":
            status = BREAK
        elif press is not None:
            if press.digit in terminators:
                term = press.digit
            else:
                buf.append(press.digit)

    if status == SUCCESS and not term and ((min_d and len(buf) < min_d) or len(buf) < max_d):
        limit = digit_timeout_ms if buf else timeout_ms
        while True:
            how, press = wait(ch, run, limit / 1000.0, take)
            if how == "hangup":
                return GONE, ""
            if how == "break":
                status = BREAK
                break
            if how == "done":
                status = TIMEOUT
                break
            assert press is not None  # a wait that ends on a digit ("dtmf") brings it
            if press.digit in terminators:
                term = press.digit
                break
            buf.append(press.digit)
            if len(buf) >= max_d:
                break
            limit = digit_timeout_ms

    if term:
        ch.set_var("read_terminator_used", term)
    digits = "".join(buf)
    if min_d and len(digits) < min_d:
        status = TOO_SMALL
    ch.set_var("read_result", {SUCCESS: "success", TIMEOUT: "timeout"}.get(status, "failure"))
    if var and digits:
        ch.set_var(var, digits)
    return status, digits


@app("play_and_get_digits")
def play_and_get_digits(ch: "SimChannel", arg: str, run: "AppRun") -> Optional[str]:
    words = split_args(arg)
    min_d, max_d = _int(words, 0, 0), _int(words, 1, 0)
    tries, timeout_ms = max(0, _int(words, 2, 1)), _int(words, 3, 5000)
    terminators = words[4] if len(words) > 4 else ""
    prompt = words[5] if len(words) > 5 else ""
    invalid = words[6] if len(words) > 6 else ""
    var = words[7] if len(words) > 7 else ""
    regex = words[8] if len(words) > 8 else ""
    digit_timeout_ms = _int(words, 9, 0) or timeout_ms
    on_failure = " ".join(words[10:]) if len(words) > 10 else ""
    max_d = max(max_d, min_d)
    _ensure_media(ch)
    if regex and var:
        ch.unset_var(f"{var}_invalid")

    while ch.up and tries > 0:
        status, digits = _read(ch, run, min_d, max_d, prompt, var, timeout_ms, terminators, digit_timeout_ms)
        if status in (GONE, BREAK):
            return None  # uuid_break ends the whole application at once
        if status == TIMEOUT and len(digits) >= min_d:
            status = SUCCESS
        if min_d == 0 and not digits and "read_terminator_used" in ch.variables:
            return None
        if not (status == TOO_SMALL and not digits) and status == SUCCESS and digits:
            if not regex or re.search(regex, digits):
                return None
            ch.unset_var(var)
            if var:
                ch.set_var(f"{var}_invalid", digits)
        if not ch.up:
            return None
        if invalid and invalid.lower() != "silence" and not ch.switch.file_missing(invalid):
            how, _ = play(ch, run, "play_and_get_digits", invalid, sound_seconds(ch, invalid),
                          lambda p: False, counts=False)
            if how in ("hangup", "break"):
                return None
        tries -= 1

    if on_failure and ch.up:
        target = on_failure.split()
        ch.mark_transfer(target[0], target[1] if len(target) > 1 else "XML",
                         target[2] if len(target) > 2 else "default")
    return None
