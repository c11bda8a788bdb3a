"""``Channel``: the engine's port to one call, over the call's own outbound socket.

Every application runs with ``sendmsg`` carrying an ``event-uuid`` of our own, and its
completion is recognised by ``Application-UUID`` alone: two prompts of the same application,
or a completion left over from an application we gave up on, can never be mistaken for the one
awaited. Every wait has a deadline. Everything the switch tells the call (completions, digits,
hangup) arrives through one inbox, read only by the call's own greenlet, so a step never races
with the event greenlet.

API commands on this call or on other legs (the agent's) go through ``switch``, the same
``SwitchCommands`` an inbound node offers, over this socket; every refusal, on either, is a
``CommandFailed``.

Digits from DTMF events are for menus and account numbers. Card data never comes through here:
card entry runs with ``sensitive_dtmf`` so the switch emits no DTMF event at all.
"""
from __future__ import annotations

import logging
import re
import os
import secrets
import tempfile
import time
import uuid as uuidlib
from collections import deque
from dataclasses import dataclass, field
from typing import Callable, Deque, Dict, Iterable, List, Mapping, Optional, Sequence, Set, Tuple
from urllib.parse import quote

import gevent
import gevent.queue
import gevent.socket

from orchestrator.engine.channel import (
    BridgeResult,
    DigitResult,
    Prompt,
    SAY_KINDS,
    SecretResult,
)
from orchestrator.esl.commands import SwitchCommands, check_value, setting_commands
from orchestrator.esl.errors import CallGone, CommandFailed, CommandTimeout
from orchestrator.esl.protocol import CONNECTION_LOST, EslConnection, EslMessage, FrameTooLarge, header
from orchestrator.esl.variables import ChannelVariables

log = logging.getLogger(__name__)

SAY_TYPES: Dict[str, Tuple[str, Optional[str]]] = {
    "number": ("NUMBER", None),
    "digits": ("NUMBER", "iterated"),
    "date": ("CURRENT_DATE", None),   # the value is a Unix time (engine/prompts.py: say_date)
}
assert tuple(SAY_TYPES) == SAY_KINDS
# Say modules that ignore say's [gender] argument and read a channel variable instead:
# mod_say_ru (1.10.12, run_callback) reads ``gender`` (male, it, female, plural...).
SAY_GENDER_VARIABLES: Dict[str, Tuple[str, Dict[str, str]]] = {
    "ru": ("gender", {"MASCULINE": "male", "FEMININE": "female", "NEUTER": "it"}),
}
ANSWERED_DISPOSITIONS = ("SUCCESS", "ANSWER")
# The channel variable play_and_get_digits writes a secret into. FreeSWITCH 1.10 overwrites
# hangup_cause with the real cause in its hangup state, before CHANNEL_HANGUP_COMPLETE and
# before any CDR, whoever hangs up and whenever: if the caller hangs up in the instant between
# the last digit and our clearing it, the switch clears it itself. (An api_hangup_hook running
# uuid_setvar cannot: by then the channel can no longer be located; both checked on a real
# 1.10.12.) Nothing else uses the variable while the call is up.
SECRET_VARIABLE = "hangup_cause"
SECRET_HEADER = "variable_" + SECRET_VARIABLE
# Secure entry's channel variables (docs/secure-entry.md): what the script plays, its status.
SECURE_PROMPT, SECURE_PLAY, SECURE_STATUS = "pay_secure_prompt", "pay_secure_play", "pay_secure_status"
SECURE_STATUSES = ("ok", "cancel", "timeout", "short", "hangup")
LINE_GRACE = 1.0     # after the script's completion, how long its FIFO line may still be on the way


@dataclass(frozen=True)
class ChannelSettings:
    app_timeout: float = 300.0
    answer_timeout: float = 10.0
    break_timeout: float = 5.0
    hangup_timeout: float = 5.0
    tts_engine: str = "flite"
    tts_voice: str = "kal"
    # 1.0 on a real switch. A dry run on the simulator shrinks the caller-facing digit timeouts
    # by the simulator's own factor, so a caller script keeps its meaning at any speed.
    time_scale: float = 1.0
    # Secure entry (docs/secure-entry.md): the script's path on the switch host, and the folder,
    # shared with the switch, where each read's FIFO is made ("" = payivr-secure in the temp dir).
    secure_script: str = "pay_secure.lua"
    secure_fifo_dir: str = ""


@dataclass
class _Signal:
    kind: str
    app_uuid: str = ""
    headers: Mapping[str, str] = field(default_factory=dict)
    digit: str = ""


# What text to speech has no use for and FreeSWITCH reads as syntax: ``${``/``$${`` (variable
# expansion in an application's argument), ``|`` (speak's engine|voice|text separator), ``\``
# (its escape), line breaks and other control characters (the end of a sendmsg header).
_UNSPEAKABLE = re.compile(r"[${}|\\\x00-\x1f\x7f]")
# What a say value of each kind may be: the say module reads nothing else, and a value that is
# not of its kind (a peer's text) never reaches its argument.
_SAYABLE = {"number": re.compile(r"^-?[0-9]{1,15}$"),
            "digits": re.compile(r"^[0-9]{1,64}$"),
            "date": re.compile(r"^[0-9]{1,12}$")}


def speakable(text: object) -> str:
    """Text for text to speech, with nothing FreeSWITCH could expand or split: whatever a flow
    variable holds (a CRM's customer name included) is spoken, never run."""
    return " ".join(_UNSPEAKABLE.sub(" ", str(text)).split())


def sayable(value: object, kind: str) -> str:
    """A say value checked against its kind; ValueError when it is not one (never sent)."""
    text = str(value)
    pattern = _SAYABLE.get(kind)
    if pattern is None:
        raise ValueError("say kind must be one of %s" % ", ".join(SAY_TYPES))
    if not pattern.match(text):
        raise ValueError("say value is not a %s" % kind)
    return text


_FOLDERS_MADE: Set[str] = set()     # secure entry's folders made by this process


def secure_fifo_dir(configured: str = "") -> str:
    """The folder secure entry's FIFOs are made in (``secure_entry.fifo_dir``, else one under
    the temporary folder), made when missing. The switch must see it at the same path: it is
    on this host, so only a switch on this host (or sharing it as a volume) can hand keys over."""
    folder = configured or os.path.join(tempfile.gettempdir(), "payivr-secure")
    if folder not in _FOLDERS_MADE:    # a mkdir and stats per read, three reads a card, saved
        os.makedirs(folder, mode=0o710, exist_ok=True)
        _FOLDERS_MADE.add(folder)
    return folder


def forget_fifo_dir(folder: str) -> None:
    """The folder went (a temp cleaner, an operator): the next read makes it again."""
    _FOLDERS_MADE.discard(folder)


def _one_line(value: object, what: str) -> str:
    text = str(value)
    if "\n" in text or "\r" in text:
        raise ValueError("%s must be a single line" % what)
    return text


class Channel:
    """The engine's ``Channel`` over one outbound socket (see the module docstring)."""

    def __init__(self, connection: EslConnection, connect_headers: Mapping[str, str],
                 settings: Optional[ChannelSettings] = None) -> None:
        self._conn = connection
        self.settings = settings or ChannelSettings()
        self.uuid: str = connect_headers.get("Unique-ID", "")
        self.destination_number: str = connect_headers.get("Caller-Destination-Number", "")
        self.caller_id_number: str = connect_headers.get("Caller-Caller-ID-Number", "")
        self._vars = ChannelVariables(connect_headers, SECRET_HEADER)
        self.hangup_cause: Optional[str] = None
        self._inbox: "gevent.queue.Queue[_Signal]" = gevent.queue.Queue()
        self._digits: Deque[str] = deque()
        self._gone = False
        # which switch sent the call: matched to a configured node by InboundPool.node_for_switch
        self.core_uuid: str = connect_headers.get("Core-UUID", "")
        self.switch_name: str = connect_headers.get("FreeSWITCH-Switchname", "")
        node = self.core_uuid or connect_headers.get("FreeSWITCH-Hostname") or ""
        # through a lambda, so a wrapper put on this channel's api (a test's) sees every command
        self._switch = SwitchCommands(lambda command: self.api(command), node_key=node)
        # A payment extension sets sensitive_dtmf before the socket: the whole call is secure,
        # every prompt and read goes through the secure-entry script (docs/secure-entry.md).
        self._secure_from_dialplan = self._vars.get("sensitive_dtmf") == "true"
        self._secure = self._secure_from_dialplan
        # Announcements of a secure call wait here for the next read, which plays them first:
        # between two applications the socket's park throws queued keys away (seen on 1.10.12),
        # so keys typed over an announcement reach a read only inside the same application.
        self._announcements: List[str] = []
        connection.add_listener(self._on_message)

    # -- what the switch tells us (event greenlet: only enqueue, never block) --------------
    def _on_message(self, message: EslMessage) -> None:
        ctype = message.content_type
        if ctype in ("text/disconnect-notice", CONNECTION_LOST):
            self._inbox.put(_Signal("gone", headers={"cause": "DISCONNECTED"}))
            return
        uuid = header(message, "Unique-ID")
        if uuid and uuid != self.uuid:
            return
        limit = self._conn.limits.max_queued_events
        if self._inbox.qsize() >= limit:   # a peer flooding events the call is not reading
            self._conn.cut_off(FrameTooLarge("more than %d events for the call not yet handled"
                                             % limit, "max_queued_events"))
            return
        name = message.event_name
        if name.startswith("CHANNEL_"):
            self._vars.arrived(message.headers)   # parsed only when read (variables.py)
        if name == "CHANNEL_EXECUTE_COMPLETE":
            self._inbox.put(_Signal("complete", header(message, "Application-UUID"),
                                    message.headers))
        elif name == "DTMF":
            self._inbox.put(_Signal("dtmf", digit=header(message, "DTMF-Digit")))
        elif name in ("CHANNEL_HANGUP", "CHANNEL_HANGUP_COMPLETE"):
            self._inbox.put(_Signal("gone", headers={"cause": header(message, "Hangup-Cause")}))

    # -- the inbox (call greenlet) ----------------------------------------------------------
    @property
    def variables(self) -> Dict[str, str]:
        return self._vars.all()

    def variable(self, name: str) -> Optional[str]:
        """One channel variable, as ``variables.get(name)`` gives it, without parsing the rest
        (a flow's ``${channel.pay_amount}``, the stay-mode marks: a few names a call)."""
        return self._vars.get(name)

    @property
    def gone(self) -> bool:
        return self._gone

    @property
    def switch(self) -> SwitchCommands:
        return self._switch

    def _next_signal(self, deadline: Optional[float]) -> Optional[_Signal]:
        if self._gone:
            raise CallGone(self.hangup_cause or "GONE")
        remaining = None if deadline is None else max(0.0, deadline - time.monotonic())
        try:
            signal = self._inbox.get(timeout=remaining)
        except gevent.queue.Empty:
            return None
        if signal.kind == "gone":
            self._gone = True
            self.hangup_cause = self.hangup_cause or signal.headers.get("cause") or "GONE"
            raise CallGone(self.hangup_cause)
        if signal.kind == "dtmf":
            self._digits.append(signal.digit)
        return signal

    def _await_completion(self, app_uuid: str, deadline: Optional[float],
                          on_digit: Optional[Callable[[], None]] = None) -> Optional[Mapping[str, str]]:
        """Wait for one application's completion; digits meanwhile are kept for later reads."""
        while True:
            signal = self._next_signal(deadline)
            if signal is None:
                return None
            if signal.kind == "complete" and signal.app_uuid == app_uuid:
                return signal.headers
            if signal.kind == "dtmf" and on_digit is not None:
                on_digit()

    # -- running applications ---------------------------------------------------------------
    def start(self, app: str, arg: str = "",
              setting: Sequence[Tuple[str, str]] = ()) -> str:
        """Queue an application on the call; return the uuid its completion will carry.

        ``setting``: variables the application reads, set in the same write just before it
        (``uuid_setvar`` commands, then the ``sendmsg``; the switch takes them in order), one
        round trip where each was one."""
        if self._gone:
            raise CallGone(self.hangup_cause or "GONE")
        app_uuid = str(uuidlib.uuid4())
        lines = ["sendmsg", "call-command: execute", "execute-app-name: %s" % _one_line(app, "app")]
        if arg != "":
            lines.append("execute-app-arg: %s" % _one_line(arg, "application argument"))
        # event-lock: without it an execute queued behind a running application runs inside it
        # (inside a read, it takes the read's keys: seen on 1.10.12)
        lines += ["event-uuid: %s" % app_uuid, "event-lock: true"]
        before = ["api " + line for line in setting_commands(self.uuid, setting)] if setting else []
        try:
            self._conn.commands(before + ["\n".join(lines)])
            if setting:
                self._vars.write_all(setting)
        except CommandFailed:
            self._poll()  # a lingering socket refuses commands after a hangup not yet read
            raise
        return app_uuid

    def _poll(self) -> None:
        """Take in whatever the switch has already said, without waiting."""
        while self._next_signal(time.monotonic()) is not None:
            pass

    def execute(self, app: str, arg: str = "", timeout: Optional[float] = None,
                setting: Sequence[Tuple[str, str]] = ()) -> Mapping[str, str]:
        """Run an application to completion and return the completion's headers (``setting``
        as for ``start``)."""
        app_uuid = self.start(app, arg, setting)
        limit = self.settings.app_timeout if timeout is None else timeout
        headers = self._await_completion(app_uuid, time.monotonic() + limit)
        if headers is None:
            self.break_current()
            raise CommandTimeout("%s did not complete within %.1fs" % (app, limit))
        return headers

    def break_current(self) -> None:
        """Stop whatever application is running now (a prompt being barged in on)."""
        if self._gone:
            return
        try:
            self._conn.send("api uuid_break %s" % self.uuid, timeout=self.settings.break_timeout)
        except CallGone:
            pass

    def api(self, command: str, timeout: Optional[float] = None) -> str:
        """One api command over this socket: its reply text; ``-ERR`` raises CommandFailed."""
        return self._conn.command("api %s" % _one_line(command, "api command"), timeout).body

    # -- prompts ----------------------------------------------------------------------------
    def answer(self, timeout: Optional[float] = None) -> None:
        self.flush_announcements()
        self.execute("answer", timeout=timeout or self.settings.answer_timeout)

    def playback(self, path: str, timeout: Optional[float] = None) -> str:
        if self._secure:
            return self._play_secure([Prompt("file", path)], timeout)
        return self.execute("playback", path, timeout).get("Application-Response", "")

    def speak(self, text: str, engine: Optional[str] = None, voice: Optional[str] = None,
              timeout: Optional[float] = None) -> str:
        if self._secure:
            options = {k: v for k, v in (("engine", engine), ("voice", voice)) if v}
            return self._play_secure([Prompt("speak", text, options)], timeout)
        arg = self._speak_arg(text, engine, voice)
        return self.execute("speak", arg, timeout).get("Application-Response", "")

    def say(self, value: str, kind: str = "number", language: str = "en",
            method: str = "pronounced", gender: str = "FEMININE",
            timeout: Optional[float] = None) -> str:
        if self._secure:
            options = {"kind": kind, "language": language, "method": method, "gender": gender}
            return self._play_secure([Prompt("say", value, options)], timeout)
        arg = self._say_arg(value, kind, language, method, gender)
        self._ensure_say_gender(language, gender)
        return self.execute("say", arg, timeout).get("Application-Response", "")

    def _ensure_say_gender(self, language: str, gender: str) -> None:
        """For a say module that reads the gender from a channel variable (SAY_GENDER_VARIABLES),
        set it (uuid_setvar: no event) when it is not what this say needs."""
        name, values = SAY_GENDER_VARIABLES.get(language, ("", {}))
        value = values.get(str(gender).upper())
        if name and value and self._vars.get(name) != value:
            self._switch.set_variable(self.uuid, name, value)
            self._vars.write(name, value)

    # -- this call's state ----------------------------------------------------------------------
    def set_variable(self, name: str, value: str) -> None:
        """``uuid_setvar`` over api: set at once, and no event carries it back. The ``set``
        application did the same in a round trip and a completion event with every channel
        variable (about 3 KB a variable set). A value holding ``${`` (a peer's text; the
        switch would expand it) is refused with ValueError, never sent."""
        self._switch.set_variable(self.uuid, name, value)
        self._vars.write(name, value)

    def set_variables(self, pairs: Sequence[Tuple[str, str]]) -> None:
        """Several variables in one write (``setting_commands``: one ``uuid_setvar_multi``
        where the values allow), answered together."""
        if pairs:
            self._conn.commands(["api " + line for line in setting_commands(self.uuid, pairs)])
            self._vars.write_all(pairs)

    def unset_variable(self, name: str) -> None:
        self.clear_variable(name)

    def _set_in_order(self, name: str, value: str) -> None:
        """``set`` as an application, in order with the channel's applications: for
        ``sensitive_dtmf``, whose switching on and off the live suite proves this way."""
        self.execute("set", "%s=%s" % (_one_line(name, "variable name"), check_value(value, name)))
        self._vars.write(name, value)

    def clear_variable(self, name: str) -> None:
        """``uuid_setvar`` over api: unlike the ``unset`` application, no event carries it."""
        self._switch.clear_variable(self.uuid, name)
        self._vars.remove(name)

    def mute_toward_listener(self) -> None:
        self._switch.mute_toward_listener(self.uuid)

    def unmute_toward_listener(self) -> None:
        self._switch.unmute_toward_listener(self.uuid)

    def pause_recording(self, path: str) -> None:
        self._switch.pause_recording(self.uuid, path)

    def resume_recording(self, path: str) -> None:
        self._switch.resume_recording(self.uuid, path)

    def file_exists(self, path: str) -> bool:
        return self._switch.file_exists(path)

    # -- where the call goes ----------------------------------------------------------------------
    def transfer(self, extension: str, dialplan: str = "XML", context: str = "default") -> None:
        """Send the call elsewhere in the dialplan; the caller of the flow then closes the socket.

        FreeSWITCH keeps the socket attached after a transfer, and closing it while
        ``socket_resume`` is still set resets the transferred channel into silence (seen on
        1.10.12). So ``socket_resume`` is unset first: after a transfer we let go for good.
        """
        arg = " ".join(_one_line(x, "transfer target") for x in (extension, dialplan, context))
        try:
            self.flush_announcements()
            self._leave_secure()
            if self._vars.get("socket_resume") is not None:
                self.unset_variable("socket_resume")
            self.execute("transfer", arg, timeout=self.settings.answer_timeout)
        except CallGone:
            pass

    def bridge(self, dial_string: str, timeout: float = 60.0) -> BridgeResult:
        """Bridge to another endpoint; a failed attempt leaves the caller with us.

        Without ``continue_on_fail`` FreeSWITCH hangs up the caller when the far end is busy
        or does not answer, and the flow could not offer anything else.
        """
        self.flush_announcements()
        if self._vars.get("continue_on_fail") != "true":
            self.set_variable("continue_on_fail", "true")
        headers = self.execute("bridge", _one_line(dial_string, "dial string"), timeout=timeout)
        disposition = (headers.get("variable_originate_disposition")
                       or headers.get("variable_bridge_hangup_cause") or "")
        return BridgeResult(disposition in ANSWERED_DISPOSITIONS, disposition or "UNKNOWN")

    def bridge_to_leg(self, leg: str, held: bool = False) -> bool:
        """Join this call to a live leg (the agent's), out of the socket application.

        ``socket_resume`` goes first, without an event (``uuid_setvar``): like a transfer, the
        bridge takes the caller out of the socket application, and closing the socket with it
        set resets the caller's channel and ends every leg (seen on 1.10.12).
        """
        if not self._switch.leg_exists(leg):
            return False
        self.flush_announcements()
        if held:
            try:
                self._switch.stop_media(leg)
            except CommandFailed as exc:
                log.warning("hold music on the agent's leg could not be stopped: %s", exc)
        self._leave_secure()
        if self._vars.get("socket_resume") is not None:
            self.clear_variable("socket_resume")
        try:
            self._switch.bridge(self.uuid, leg)
        except CommandFailed as exc:
            log.warning("bridge to the agent's leg refused: %s", exc)
            return False
        return True

    def hangup(self, cause: str = "NORMAL_CLEARING") -> None:
        if self._gone:
            return
        try:
            self.flush_announcements()
        except CallGone:
            return
        self._conn.command("sendmsg\ncall-command: hangup\nhangup-cause: %s"
                           % _one_line(cause, "hangup cause"))
        deadline = time.monotonic() + self.settings.hangup_timeout
        try:
            while self._next_signal(deadline) is not None:
                pass
        except CallGone:
            return

    # -- secrets (card data) -----------------------------------------------------------------
    def secure_entry(self, on: bool) -> None:
        """Turn ``sensitive_dtmf`` on or off: while on, FreeSWITCH emits no DTMF event, logs no
        digit, keeps no ``digits_dialed`` and forwards no DTMF to a bridged leg, and every
        prompt and read of this channel goes through the secure-entry script. A call the
        dialplan made secure stays secure: ``off`` leaves it as it came."""
        if on and not self._secure:
            self._set_in_order("sensitive_dtmf", "true")
            self._secure = True
        elif not on and self._secure and not self._secure_from_dialplan:
            self._set_in_order("sensitive_dtmf", "false")
            self._secure = False

    @property
    def secure(self) -> bool:
        return self._secure

    def _leave_secure(self) -> None:
        """The caller goes to a person (a transfer, a bridge): their keys reach them again."""
        if self._secure:
            self.clear_variable("sensitive_dtmf")
            self._secure = self._secure_from_dialplan = False

    def collect_secret(self, accept: Callable[[str], None], *, prompt: str, min_digits: int,
                       max_digits: int, first_digit_timeout: float = 10.0,
                       inter_digit_timeout: float = 5.0, terminators: str = "#",
                       cancel_key: str = "*",
                       tts: Optional[Tuple[str, str]] = None) -> SecretResult:
        """Read one secret field with the secure-entry script and hand it to ``accept``.

        The digits never cross this socket: the script reads them (``session:read`` keeps them
        out of every variable) and writes them to a one-time FIFO that only this process reads
        (docs/secure-entry.md). Call ``secure_entry(True)`` first.
        """
        status, terminator, digits = self._secure_read(
            prompt, min_digits, max_digits, first_digit_timeout, inter_digit_timeout,
            terminators + (cancel_key or ""), tts)
        try:
            if status == "cancel":
                return SecretResult("cancelled", 0, terminator)
            if status == "timeout":
                return SecretResult("timeout", 0, terminator)
            if status == "short" or len(digits) < min_digits:
                return SecretResult("incomplete", len(digits), terminator)
            accept(digits)
            return SecretResult("ok", len(digits), terminator)
        finally:
            del digits

    # -- secure entry: the script on the switch (docs/secure-entry.md) ------------------------
    def _fifo_dir(self) -> str:
        return secure_fifo_dir(self.settings.secure_fifo_dir)

    def _play_secure(self, prompts: List[Prompt], timeout: Optional[float] = None) -> str:
        """Announce through the script: the segments wait for the next read (or the next
        hand-over), which plays them first, so keys typed over them are that read's; none is
        logged (dptools' playback, speak and say log and take them)."""
        self._announcements += [self._segment(p) for p in prompts if p.value.strip()]
        return ""

    def flush_announcements(self, timeout: Optional[float] = None) -> None:
        """Play what waits to be announced, now: before the call is handed over or let go."""
        if not self._announcements or self._gone:
            self._announcements = []
            return
        setting = [(SECURE_PLAY, "&".join(self._announcements))]
        self._announcements = []
        self.execute("lua", "%s play" % self._script(), timeout, setting)

    def _segment(self, prompt: Prompt) -> str:
        options = prompt.options or {}
        if prompt.kind == "file":
            fields = ["file", prompt.value]
        elif prompt.kind == "speak":
            fields = ["speak", options.get("engine") or self.settings.tts_engine,
                      options.get("voice") or self.settings.tts_voice, speakable(prompt.value)]
        elif prompt.kind == "say":
            say_type, forced = SAY_TYPES[options.get("kind", "number")]
            language, gender = options.get("language", "en"), options.get("gender", "FEMININE")
            fields = ["say", language, say_type, forced or options.get("method", "pronounced"),
                      gender, sayable(prompt.value, options.get("kind", "number"))]
            name, values = SAY_GENDER_VARIABLES.get(language, ("", {}))
            if name and values.get(str(gender).upper()):
                fields.append(values[str(gender).upper()])   # the script sets it before this say
        else:
            raise ValueError("unknown prompt kind %r" % prompt.kind)
        return ",".join(quote(field, safe="") for field in fields)

    def _script(self) -> str:
        return _one_line(self.settings.secure_script, "secure-entry script")

    def _secure_read(self, prompt: str, min_digits: int, max_digits: int, first_timeout: float,
                     inter_timeout: float, terminators: str,
                     tts: Optional[Tuple[str, str]] = None) -> Tuple[str, str, str]:
        """One read by the script: ``(status, terminator, digits)``; digits only with ``ok``.

        The FIFO is made and opened (read-write: it then never reads end-of-file before the
        script has written) before the script runs, read by a greenlet of its own that hands
        the one line to this call's inbox, and removed on every path out.
        """
        folder = self._fifo_dir()
        path = os.path.join(folder, "k-" + secrets.token_hex(16))
        try:
            os.mkfifo(path, 0o620)
        except FileNotFoundError:     # the folder was removed since it was made
            forget_fifo_dir(folder)
            self._fifo_dir()
            os.mkfifo(path, 0o620)
        try:
            os.chmod(path, 0o620)   # the switch's user writes it (group), whatever the umask
            fd = os.open(path, os.O_RDWR | os.O_NONBLOCK)
            try:
                setting: List[Tuple[str, str]] = []
                if self._announcements:   # played by the read itself, keys typed over them kept
                    setting.append((SECURE_PLAY, "&".join(self._announcements)))
                    self._announcements = []
                if prompt.startswith("say:"):
                    setting += self._tts_setting(tts)  # the read's TTS speaks with the channel's engine
                setting.append((SECURE_PROMPT, prompt or "silence"))
                app_uuid = self.start("lua", "%s read %s %d %d %d %d %s" % (
                    self._script(), path, min_digits, max_digits, first_timeout * 1000,
                    inter_timeout * 1000, _one_line(terminators, "terminators")), setting)
                reader = gevent.spawn(self._read_fifo_line, fd, app_uuid)
                try:
                    line, status_variable = self._await_secure_read(app_uuid)
                finally:
                    reader.kill(block=False)
            finally:
                os.close(fd)
        finally:
            os.unlink(path)
        if line is None:
            raise CommandFailed("the secure-entry script gave no answer (%s: %s)"
                                % (SECURE_STATUS, status_variable or "unset"))
        status, _, rest = line.partition(" ")
        terminator, _, digits = rest.partition(" ")
        if status not in SECURE_STATUSES:
            raise CommandFailed("the secure-entry script answered an unknown status")
        if status == "hangup":
            raise CallGone(self.hangup_cause or "NORMAL_CLEARING")
        return status, "" if terminator == "-" else terminator, digits if status == "ok" else ""

    def _read_fifo_line(self, fd: int, app_uuid: str) -> None:
        """The FIFO's one line, to the call's inbox (this greenlet only reads and enqueues)."""
        data = b""
        while b"\n" not in data and len(data) < 256:
            gevent.socket.wait_read(fd)
            try:
                chunk = os.read(fd, 256)
            except BlockingIOError:
                continue
            data += chunk
        line = data.split(b"\n", 1)[0].decode("ascii", "replace")
        self._inbox.put(_Signal("secure-line", app_uuid, digit=line))

    def _await_secure_read(self, app_uuid: str) -> Tuple[Optional[str], str]:
        """Wait for the script's line and its completion, bounded by the application timeout
        (and a short grace for the line after the completion)."""
        deadline = time.monotonic() + self.settings.app_timeout
        line: Optional[str] = None
        completed: Optional[Mapping[str, str]] = None
        while line is None or completed is None:
            signal = self._next_signal(deadline)
            if signal is None:
                if completed is not None:
                    break                      # completed, and no line within the grace
                self.break_current()
                raise CommandTimeout("secure entry did not complete")
            if signal.kind == "secure-line" and signal.app_uuid == app_uuid:
                line = signal.digit
            elif signal.kind == "complete" and signal.app_uuid == app_uuid:
                completed = signal.headers
                deadline = min(deadline, time.monotonic() + LINE_GRACE)
        # not ``completed or {}``: the truth of an event's headers would parse every one of them
        status = "" if completed is None else completed.get("variable_" + SECURE_STATUS, "")
        return line, status

    def flush_keys(self) -> None:
        """Drop keys queued on the channel that no read took (an agent's cancel key)."""
        self._switch.flush_keys(self.uuid)

    # -- digits ----------------------------------------------------------------------------
    def collect_digits(self, prompts: Iterable[Prompt] = (), *, min_digits: int = 1,
                       max_digits: int = 1, terminators: str = "#",
                       first_digit_timeout: float = 5.0, inter_digit_timeout: float = 3.0,
                       cancel_key: str = "*", barge_in: bool = True,
                       flush: bool = False) -> DigitResult:
        """Play prompts, then read digits from DTMF events until a rule says stop.

        Digits keyed ahead (during an earlier announcement) count, as a caller who knows the
        menu expects; ``flush`` drops them instead, for a question that must be heard first.
        """
        if self._secure:
            return self._collect_secure(list(prompts), min_digits, max_digits,
                                        terminators + (cancel_key or ""), first_digit_timeout,
                                        inter_digit_timeout, cancel_key, barge_in, flush)
        if flush:
            self._poll()
            self._digits.clear()
        self._play_prompts(list(prompts), barge_in)
        keyed = ""
        while True:
            limit = (first_digit_timeout if not keyed else inter_digit_timeout) * self.settings.time_scale
            digit = self._next_digit(time.monotonic() + limit)
            if digit is None:
                if not keyed:
                    return DigitResult("timeout")
                status = "ok" if len(keyed) >= min_digits else "incomplete"
                return DigitResult(status, keyed)
            if cancel_key and digit == cancel_key:
                return DigitResult("cancelled")
            if digit in terminators:
                status = "ok" if len(keyed) >= min_digits else "incomplete"
                return DigitResult(status, keyed, digit)
            keyed += digit
            if len(keyed) >= max_digits:
                return DigitResult("ok", keyed)

    def _collect_secure(self, prompts: List[Prompt], min_digits: int, max_digits: int,
                        terminators: str, first_timeout: float, inter_timeout: float,
                        cancel_key: str, barge_in: bool, flush: bool) -> DigitResult:
        """A menu on a secure call: no DTMF event exists, so the script reads the keys. The
        last prompt is the read's own when it can be (the first key stops it); the others, or
        all of them without barge-in, are played first, keys typed over them kept."""
        if flush:
            self.flush_keys()
        read_prompt = self._read_prompt(prompts[-1:]) if prompts and barge_in else None
        before = prompts[:-1] if read_prompt else prompts
        if before:
            self._play_secure(before)   # played by the read, first
        tts = self._prompt_tts(prompts[-1]) if read_prompt else None
        status, terminator, digits = self._secure_read(
            read_prompt or "silence", min_digits, max_digits, first_timeout, inter_timeout,
            terminators, tts)
        if status == "cancel":
            return DigitResult("cancelled")
        if status == "timeout":
            return DigitResult("timeout")
        if status == "short":
            return DigitResult("incomplete", "", terminator)
        return DigitResult("ok", digits, terminator)

    def _read_prompt(self, prompts: List[Prompt]) -> Optional[str]:
        """A prompt the read can play itself (a file, or text for its TTS), else None."""
        if len(prompts) != 1:
            return None
        prompt = prompts[0]
        if prompt.kind == "file":
            return prompt.value
        if prompt.kind == "speak":
            return "say:" + speakable(prompt.value)
        return None

    def _prompt_tts(self, prompt: Prompt) -> Optional[Tuple[str, str]]:
        """The (engine, voice) a speak prompt names, for the read's ``say:``; None: the service's."""
        options = prompt.options or {}
        if prompt.kind != "speak" or not options.get("engine"):
            return None
        return options["engine"], options.get("voice") or self.settings.tts_voice

    def _tts_setting(self, tts: Optional[Tuple[str, str]] = None) -> List[Tuple[str, str]]:
        """``say:`` prompts speak with the channel's tts_engine and tts_voice: the caller's
        language's (``tts``), else the service's; what of them must be set first."""
        engine, voice = tts or (self.settings.tts_engine, self.settings.tts_voice)
        return [(name, value) for name, value in
                (("tts_engine", check_value(engine, "tts engine", " ;=")),
                 ("tts_voice", check_value(voice, "tts voice", " ;=")))
                if self._vars.get(name) != value]

    def _next_digit(self, deadline: float) -> Optional[str]:
        while not self._digits:
            if self._next_signal(deadline) is None:
                return None
        return self._digits.popleft()

    def _play_prompts(self, prompts: List[Prompt], barge_in: bool) -> None:
        self._poll()
        for prompt in prompts:
            if barge_in and self._digits:
                return
            app, arg = self._prompt_command(prompt)
            app_uuid = self.start(app, arg)
            broken: List[bool] = []

            def barge() -> None:
                if barge_in and not broken:
                    broken.append(True)
                    self.break_current()

            headers = self._await_completion(
                app_uuid, time.monotonic() + self.settings.app_timeout, on_digit=barge)
            if headers is None:
                self.break_current()
                raise CommandTimeout("prompt %s did not complete" % app)
            if broken:
                return

    def _prompt_command(self, prompt: Prompt) -> Tuple[str, str]:
        options = prompt.options or {}
        if prompt.kind == "file":
            return "playback", prompt.value
        if prompt.kind == "speak":
            return "speak", self._speak_arg(prompt.value, options.get("engine"), options.get("voice"))
        if prompt.kind == "say":
            arg = self._say_arg(prompt.value, options.get("kind", "number"),
                                options.get("language", "en"), options.get("method", "pronounced"),
                                options.get("gender", "FEMININE"))
            self._ensure_say_gender(options.get("language", "en"), options.get("gender", "FEMININE"))
            return "say", arg
        raise ValueError("unknown prompt kind %r" % prompt.kind)

    def _speak_arg(self, text: str, engine: Optional[str], voice: Optional[str]) -> str:
        return "%s|%s|%s" % (engine or self.settings.tts_engine, voice or self.settings.tts_voice,
                             speakable(text))

    @staticmethod
    def _say_arg(value: str, kind: str, language: str, method: str, gender: str) -> str:
        if kind not in SAY_TYPES:
            raise ValueError("say kind must be one of %s" % ", ".join(SAY_TYPES))
        say_type, forced_method = SAY_TYPES[kind]
        text = sayable(value, kind)
        return "%s %s %s %s %s" % (language, say_type, forced_method or method, gender, text)
