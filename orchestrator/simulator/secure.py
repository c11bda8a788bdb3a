"""``lua pay_secure.lua read|play``: the shipped secure-entry script, as the switch runs it.

Follows ``freeswitch_conf/scripts/pay_secure.lua`` and docs/secure-entry.md (measured on
1.10.12): ``read`` plays ``pay_secure_prompt`` and reads like ``switch_ivr_read`` with no
variable (the digits go nowhere but the FIFO), clears ``read_terminator_used`` before and after,
reads once more on a lone ``#``, and writes ``<status> <terminator|-> <digits|->`` to the FIFO,
opened read-write so that a reader that is gone cannot hang the call; ``play`` plays the
segments of ``pay_secure_play`` without taking a key, so keys typed meanwhile wait, queued on
the channel, for a read queued behind it (``read`` plays them first itself): a channel the
socket parks between two applications throws queued keys away (channel.py). Nothing here fires a DTMF event or writes a digit anywhere else.
"""
from __future__ import annotations

import os
import posixpath
from typing import TYPE_CHECKING, List, Optional
from urllib.parse import unquote

from .apps import _ensure_media, app, play, sound_seconds, speech_seconds
from .collect import GONE, _read

if TYPE_CHECKING:
    from .channel import AppRun, SimChannel

SCRIPT = "pay_secure.lua"


def _segments(text: str) -> List[List[str]]:
    return [[unquote(field) for field in segment.split(",")] for segment in text.split("&") if segment]


def _play(ch: "SimChannel", run: "AppRun") -> str:
    run.reads_keys = False           # Lua's streamFile/speak/say leave keys queued
    segments = _segments(ch.variables.get("pay_secure_play", ""))
    ch.unset_var("pay_secure_play")
    for fields in segments:
        if not ch.up:
            return "hangup"
        kind = fields[0]
        if kind == "file" and len(fields) > 1:
            if not ch.switch.file_missing(fields[1]):
                how, _ = play(ch, run, "playback", fields[1], sound_seconds(ch, fields[1]), lambda p: False)
        elif kind == "speak" and len(fields) > 3:
            how, _ = play(ch, run, "speak", "|".join(fields[1:4]),
                          speech_seconds(ch, "|".join(fields[1:4]), fields[3]),
                          lambda p: False)
        elif kind == "say" and len(fields) > 5:
            # the gender variable, set before the say when it is ASCII letters only: the
            # script's ^%a+$ in the switch's Lua (C locale; checked on 1.10.12: not "мужской",
            # not "male_h")
            if len(fields) > 6 and fields[6].isascii() and fields[6].isalpha():
                ch.set_var("gender", fields[6])
            how, _ = play(ch, run, "say", " ".join(fields[1:6]), 0.5 + 0.3 * len(fields[5]),
                          lambda p: False)
        else:
            continue
        if how == "hangup":
            return "hangup"
    return "ok" if ch.up else "hangup"


def _int(words: List[str], index: int, default: int) -> int:
    try:
        return int(words[index])
    except (IndexError, ValueError):
        return default


def _read_field(ch: "SimChannel", run: "AppRun", words: List[str]) -> str:
    if _play(ch, run) == "hangup":      # the announcements before the field, in this application
        return _write(ch, words[0] if words else "", "hangup", "", "")
    fifo = words[0] if words else ""
    min_d, max_d = _int(words, 1, 1), _int(words, 2, 1)
    first_ms, inter_ms = _int(words, 3, 5000), _int(words, 4, 3000)
    terminators = words[5] if len(words) > 5 else "#"
    run.reads_keys = True
    ch.take_queued_keys(run)         # keys typed over earlier prompts are this read's
    prompt = ch.variables.get("pay_secure_prompt", "silence")
    ch.unset_var("pay_secure_prompt")
    ch.unset_var("read_terminator_used")
    digits, terminator, how = "", "", ""
    for _ in range(2):
        how, digits = _read(ch, run, min_d, max(max_d, min_d), prompt, "", first_ms, terminators,
                            inter_ms or first_ms)
        terminator = ch.variables.get("read_terminator_used", "")
        ch.unset_var("read_terminator_used")
        if not (digits == "" and terminator == "#" and ch.up):
            break
        prompt = "silence"
    if how == GONE or not ch.up:
        status = "hangup"
    elif terminator == "*" and "*" in terminators:
        status = "cancel"
    elif digits and len(digits) >= min_d:
        status = "ok"
    elif not digits:
        status = "timeout"
    else:
        status = "short"
    return _write(ch, fifo, status, terminator, digits)


def _write(ch: "SimChannel", fifo: str, status: str, terminator: str, digits: str) -> str:
    line = "%s %s %s\n" % (status, terminator or "-", digits if status == "ok" else "-")
    if ch.switch.file_missing(fifo):     # a switch on another host: the folder is not there
        return "no-fifo"
    try:
        fd = os.open(fifo, os.O_RDWR | os.O_NONBLOCK)   # io.open(path, "r+"): never blocks
    except OSError:
        return "no-fifo"
    try:
        os.write(fd, line.encode("ascii"))
    finally:
        os.close(fd)
    return status


@app("lua")
def _lua(ch: "SimChannel", arg: str, run: "AppRun") -> Optional[str]:
    words = arg.split()
    if not words or posixpath.basename(words[0]) != SCRIPT:
        return None                   # another script: the simulator knows only ours
    _ensure_media(ch)
    mode = words[1] if len(words) > 1 else ""
    if mode == "play":
        status = _play(ch, run)
    elif mode == "read" and len(words) > 2 and words[2].startswith("/"):
        status = _read_field(ch, run, words[2:])
    else:
        status = "bad-arguments"
    if ch.up:   # the outcome is in the FIFO line; the variable says only why there was none
        if status in ("bad-arguments", "no-fifo"):
            ch.set_var("pay_secure_status", status)
        else:
            ch.unset_var("pay_secure_status")
    return None
