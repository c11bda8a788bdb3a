"""One simulated call leg: its variables and state, the events it fires, the queue of
applications sent to it, its caller, and how it ends (hangup, transfer, dialplan fallback).

Three greenlets per call: the session (the dialplan, then the application queue, as the
FreeSWITCH session thread), the scripted caller, and the outbound socket's listener.
"""
from __future__ import annotations

import re

import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Dict, List, Optional, Tuple

import gevent
from gevent.event import Event
from gevent.queue import Empty, Queue

from . import apps
from .caller import CallerScript, run_script
from .events import SimEvent, new_uuid
from .faults import NO_FAULTS, Faults
from .legs import AgentLeg, is_agent_leg
from .outbound import OutboundSession, dial
from .eavesdrop import listening_agents
from .record import CallRecord, Heard, Press
from .wire import Command, now

if TYPE_CHECKING:
    from .switch import Switch

BREAK = "<break>"
HANGUP = "<hangup>"
_WAKE = object()
# switch_channel_event_set_data adds the channel variables to most channel events, not these
# (seen on 1.10.12: DTMF and CHANNEL_STATE have the channel's headers and no variable_*)
EVENTS_WITHOUT_VARIABLES = frozenset({"DTMF", "CHANNEL_STATE"})
CS_NUMBERS = {"CS_ROUTING": "2", "CS_EXECUTE": "4", "CS_HANGUP": "10", "CS_REPORTING": "11"}
TRUE_WORDS = {"true", "yes", "on", "1", "t", "y", "enabled", "active", "allow"}


def is_true(value: Optional[str]) -> bool:
    return (value or "").strip().lower() in TRUE_WORDS


@dataclass
class AppRequest:
    name: str
    arg: str
    app_uuid: str
    loops: int = 1
    done: Event = field(default_factory=Event)


# Applications that take the caller's keys while they run; during any other (set, answer,
# park, a Lua prompt...) a key waits queued on the channel, as on the switch, for the next read.
KEY_READING_APPS = ("playback", "speak", "say", "play_and_get_digits", "sleep")


class AppRun:
    """The application currently executing: where digits and interruptions arrive."""

    def __init__(self, name: str):
        self.name = name
        self.inbox: Queue = Queue()
        self.reads_keys = name in KEY_READING_APPS


def _app_headers(name: str, arg: str, app_uuid: str, response: Optional[str] = None) -> list:
    """Application headers as FreeSWITCH writes them: an empty Application-Data is left out."""
    headers = [("Application", name)]
    if arg:
        headers.append(("Application-Data", arg))
    if response is not None:
        headers.append(("Application-Response", response))
    headers.append(("Application-UUID", app_uuid))
    return headers


SLEPT_PAUSE = 0.05    # wall seconds: a caller's pause this short is slept, not waited


class SimChannel:
    def __init__(self, switch: "Switch", address, caller: Optional[CallerScript], destination: str,
                 caller_id_number: str, caller_id_name: str, variables: dict, full: bool,
                 async_: bool, faults: Optional[Faults], prompt_seconds: Optional[float],
                 uuid: Optional[str] = None):
        self.switch = switch
        self.address = tuple(address)
        self.caller = caller or CallerScript.silent()
        self.full, self.async_ = full, async_
        self.faults = faults or switch.faults or NO_FAULTS
        self.prompt_seconds = prompt_seconds if prompt_seconds is not None else switch.prompt_seconds
        self.uuid = uuid or new_uuid()
        self.name = f"sofia/internal/{caller_id_number}@127.0.0.1"
        self.destination = destination
        self.caller_id_number, self.caller_id_name = caller_id_number, caller_id_name
        self.created_us = int(time.time() * 1_000_000)
        self.answered_us = 0
        self.record = CallRecord(uuid=self.uuid, destination=destination, caller_id_number=caller_id_number)
        self.variables = {
            "direction": "inbound", "uuid": self.uuid, "session_id": str(switch.sessions_since_startup),
            "channel_name": self.name, "sip_from_user": caller_id_number, "sip_to_user": destination,
            "sip_call_id": new_uuid(), "call_uuid": self.uuid,
        }
        self.variables.update({k: str(v) for k, v in (variables or {}).items()})
        self.state = "ringing"          # ringing | early | answered | hangup
        self.left: Optional[str] = None  # "transfer" | "fallback": the call left the socket's control
        self.connect_seen = False
        self.recordings: Dict[str, str] = {}  # path -> "recording" | "masked" | "paused" (uuid_record)
        self.transferred = False         # a transfer took the call out of the socket application
        self.socket_returned = False     # the socket application has completed (transfer, hangup)
        self.session: Optional[OutboundSession] = None
        self.agent_leg: Optional[AgentLeg] = None  # an AgentLeg this call starts bridged to (legs.py)
        # (ext, dialplan, context) that took it out of that bridge
        self.pending_transfer: Optional[Tuple[str, str, str]] = None
        # the transfer target's actions after `socket` (fallback)
        self.after_socket: List[Tuple[str, str]] = []
        self.read_muted = False          # uuid_audio <uuid> start read mute 1 (eavesdrop.py)
        self.queued_keys: List[Press] = []   # keys no running application took (secure.py)
        self.current: Optional[AppRun] = None
        self._queue: Queue = Queue()
        self._pending = 0
        self._held: List[SimEvent] = []
        self._prompts = 0
        self._patience: Optional[Any] = None     # a silent caller's timer (start)
        self._prompt_changed = Event()
        self.done = Event()        # the channel is over (hung up, transferred, or handed to fallback)
        self.finished = Event()    # ... and its socket is closed: the record is complete

    # ---- small helpers ---------------------------------------------------------
    @property
    def up(self) -> bool:
        return self.state != "hangup" and not self.left and not self.done.is_set()

    def scaled(self, seconds: float) -> float:
        return max(0.0, seconds) * self.switch.time_scale

    def set_var(self, name: str, value: str) -> None:
        self.variables.pop(name, None)  # re-setting moves it last, as FreeSWITCH appends
        self.variables[name] = value

    def unset_var(self, name: str) -> None:
        self.variables.pop(name, None)

    def note_wire(self, direction: str, text: str) -> None:
        # Verbatim: tests must see what really crossed. Whatever writes the record to a file
        # masks it (orchestrator.esl.transcript).
        self.record.transcript.append((self.record.elapsed(), direction, text))

    # ---- events ----------------------------------------------------------------------
    def _call_state(self) -> tuple:
        return {"ringing": ("RINGING", "ringing"), "early": ("EARLY", "early"),
                "answered": ("ACTIVE", "answered"), "hangup": ("HANGUP", "hangup")}[self.state]

    def event_headers(self, name: str, calling=("switch_channel.c", "switch_channel_event_set_data", 0),
                      cs: Optional[str] = None) -> list:
        call_state, answer_state = self._call_state()
        cs = cs or ("CS_HANGUP" if self.state == "hangup" else "CS_EXECUTE")
        cs_num = CS_NUMBERS[cs]
        headers = self.switch.event_factory.create(name, calling=calling).headers
        headers += [
            ("Channel-State", cs), ("Channel-Call-State", call_state), ("Channel-State-Number", cs_num),
            ("Channel-Name", self.name), ("Unique-ID", self.uuid), ("Call-Direction", "inbound"),
            ("Presence-Call-Direction", "inbound"), ("Channel-HIT-Dialplan", "true"),
            ("Channel-Call-UUID", self.uuid), ("Answer-State", answer_state),
        ]
        if self.record.hangup_cause:
            headers.append(("Hangup-Cause", self.record.hangup_cause))
        headers += [
            ("Channel-Read-Codec-Name", "PCMU"), ("Channel-Read-Codec-Rate", "8000"),
            ("Channel-Write-Codec-Name", "PCMU"), ("Channel-Write-Codec-Rate", "8000"),
            ("Caller-Direction", "inbound"), ("Caller-Logical-Direction", "inbound"),
            ("Caller-Username", self.caller_id_number), ("Caller-Dialplan", "XML"),
            ("Caller-Caller-ID-Name", self.caller_id_name), ("Caller-Caller-ID-Number", self.caller_id_number),
            ("Caller-Orig-Caller-ID-Name", self.caller_id_name),
            ("Caller-Orig-Caller-ID-Number", self.caller_id_number),
            ("Caller-Network-Addr", "127.0.0.1"), ("Caller-ANI", self.caller_id_number),
            ("Caller-Destination-Number", self.transfer_target[0] if self.transferred else self.destination),
            ("Caller-Unique-ID", self.uuid),
            ("Caller-Source", "mod_sofia"),
            ("Caller-Context", self.transfer_target[2] if self.transferred else "default"),
            ("Caller-Channel-Name", self.name),
            ("Caller-Profile-Index", "1"), ("Caller-Profile-Created-Time", str(self.created_us)),
            ("Caller-Channel-Created-Time", str(self.created_us)),
            ("Caller-Channel-Answered-Time", str(self.answered_us)),
            ("Caller-Channel-Hangup-Time", "0"), ("Caller-Channel-Transfer-Time", "0"),
            ("Caller-Screen-Bit", "true"), ("Caller-Privacy-Hide-Name", "false"),
            ("Caller-Privacy-Hide-Number", "false"),
        ]
        if self.transferred:  # a transfer gives the caller profile its history, as on 1.10.12
            ext, dialplan, context = self.transfer_target
            headers += [("Caller-RDNIS", self.destination),
                        ("Caller-Transfer-Source", "%d:%s:bl_xfer:%s/%s/%s" % (
                            int(time.time()), self.uuid, ext, context, dialplan))]
        if name not in EVENTS_WITHOUT_VARIABLES:
            headers += [(f"variable_{k}", v) for k, v in self.variables.items()]
        return headers

    def build_event(self, name: str, extra=(), body: Optional[str] = None, cs: Optional[str] = None) -> SimEvent:
        return SimEvent(name, self.event_headers(name, cs=cs) + list(extra), body)

    def fire(self, ev: SimEvent) -> None:
        if self.switch.keep_events:
            self.record.events.append((self.record.elapsed(), ev.name, ev.as_dict()))
        self.switch.fire(ev)

    def fire_new(self, name: str, extra=(), body: Optional[str] = None, cs: Optional[str] = None) -> None:
        if not self.switch.keep_events and not self.switch.may_want(name, self.uuid):
            return          # nobody keeps it, nobody subscribed to it: never built
        self.fire(self.build_event(name, extra, body, cs))

    # ---- the caller's side -----------------------------------------------------------
    def prompt_started(self, app: str, arg: str, counts: bool = True) -> Heard:
        heard = Heard(self.record.elapsed(), app, arg)
        self.record.heard.append(heard)
        for leg in listening_agents(self.switch, self.uuid):
            if leg.eavesdropping == self.uuid:   # eavesdrop hears what the leg plays
                leg.hear_prompt(arg)
        if counts:
            self._prompts += 1
            heard.number = self._prompts
            changed, self._prompt_changed = self._prompt_changed, Event()
            changed.set()
        return heard

    def wait_prompt(self, n: int) -> bool:
        while self._prompts < n and not self.done.is_set():
            self._prompt_changed.wait(timeout=1.0)
        return not self.done.is_set()

    def pause(self, seconds: float) -> bool:
        wall = self.scaled(seconds)
        if wall <= SLEPT_PAUSE:
            # the spacing of a caller's keys: slept through, the hangup seen at its end. A
            # wait the hangup could cut short costs a third more (a timeout object and its
            # cancelling), twenty-odd times a card call
            gevent.sleep(wall)
            return not self.done.is_set()
        return not self.done.wait(timeout=wall)

    def wait_end(self) -> None:
        while not self.done.wait(timeout=apps.WAIT_CHUNK):   # a bound per wait, not a poll
            pass

    def press(self, digit: str) -> bool:
        if not self.up:
            return False
        sensitive = is_true(self.variables.get("sensitive_dtmf"))
        press = Press(self.record.elapsed(), digit, secure=sensitive)
        self.record.pressed.append(press)
        for path, state in self.recordings.items():
            if state == "recording" and not self.read_muted:  # it hears the key's in-band tone
                self.record.recorded_keys.append((path, digit))
        if not sensitive:
            self.fire_new("DTMF", [("DTMF-Digit", digit), ("DTMF-Duration", "2000"), ("DTMF-Source", "RTP")])
        # a phone may send the key both as an event and as a tone in the audio: the worst case
        in_a_bridge = False
        for leg in listening_agents(self.switch, self.uuid):
            bridged = leg.bridged_to == self.uuid
            in_a_bridge = in_a_bridge or bridged
            leg.hear_key(digit, as_event=bridged and not sensitive, as_tone=not self.read_muted)
        run = self.current
        if run is not None and run.reads_keys:
            run.inbox.put(press)
        elif run is not None and not in_a_bridge:
            # queued on the channel for the next read; a bridge takes the key (forwarded, or
            # dropped if sensitive), and a channel parked by the socket throws it away
            self.queued_keys.append(press)
        return True

    def take_queued_keys(self, run: "AppRun") -> None:
        """A read starting: the keys queued on the channel go to it first, in order."""
        while self.queued_keys:
            run.inbox.put(self.queued_keys.pop(0))

    def caller_hangup(self, cause: str = "NORMAL_CLEARING") -> None:
        self.hangup(cause, by="caller")

    def _run_caller(self) -> None:
        with gevent.Timeout(self.scaled(self.caller.max_duration), False):
            run_script(self.caller, self)
        if self.up:
            self.hangup("NORMAL_CLEARING", by="caller")

    # ---- the session (dialplan + application queue) -------------------------------------
    def start(self) -> None:
        self.switch.spawn(self._run_session)
        if self.caller.steps:
            self.switch.spawn(self._run_caller)
        else:
            # a caller who only listens has nothing to run but their patience: a timer of the
            # loop's, not a greenlet waiting on it (one a call, ten thousand in a hold)
            self._patience = gevent.get_hub().loop.timer(self.scaled(self.caller.max_duration))
            self._patience.start(self._out_of_patience)

    def _out_of_patience(self) -> None:
        """The silent caller's patience ran out (in the loop's callback: the hang-up, which
        fires events, runs in a greenlet of its own)."""
        if self.up:
            self.switch.spawn(self.caller_hangup)

    def _stop_patience(self) -> None:
        if self._patience is not None:
            self._patience.stop()
            self._patience.close()
            self._patience = None

    def _run_session(self) -> None:
        try:
            self.fire_new("CHANNEL_CREATE")
            deadline = now() + self.scaled(self.caller.answer_after)
            while self.up and now() < deadline:  # ringing: the caller may give up
                gevent.sleep(min(0.05, deadline - now()))
            if not self.up:
                return
            if self.agent_leg is not None and not self._leave_bridge():
                return
            self.set_var("socket_host", str(self.address[0]))
            sock = dial(self.address)
            self.record.sockets.append(("%s:%s" % self.address, sock is not None))
            if sock is None:
                # the `socket` application returns at once and the dialplan goes on
                self.record.errors.append(f"could not connect to {self.address[0]}:{self.address[1]}")
                if self.after_socket:
                    self._run_after_socket()
                else:
                    self._leave("fallback")
                return
            if not self.up:
                sock.close()
                return
            sock.settimeout(None)
            self.record.socket_connected = True
            self.session = OutboundSession(self, sock, self.full, self.async_, self.faults)
            self.switch.add_listener(self.session)
            self.session.start()
            self._app_loop()
            if self.left == "transfer":
                self._after_transfer()
            elif self.left == "fallback" and self.after_socket and self.state != "hangup":
                self._run_after_socket()
        finally:
            self._finish()

    def _leave_bridge(self) -> bool:
        """A call placed bridged to an agent leg stays there until it is transferred (or ends).

        The transfer target's extension (``Switch(extensions=...)``) runs up to its ``socket``
        application: True, with the address to dial; an extension without ``socket`` runs
        and the call leaves our view as after any transfer (False).
        """
        while self.up and self.pending_transfer is None:
            gevent.sleep(0.02)
        if self.pending_transfer is None:
            return False
        from .dialplan import routed
        from .eavesdrop import expand
        extension, dialplan, context = self.pending_transfer
        self.destination = extension
        plan = routed(self.switch.extensions.get(extension, []), self.variables)
        for at, (name, arg) in enumerate(plan):
            if name == "socket":
                host, _, rest = expand(self.switch, self.variables, arg).partition(":")
                self.address = (host, int(rest.split()[0]))
                self.full = "full" in rest.split()[1:]
                self.after_socket = plan[at + 1:]
                return True
            self._execute(AppRequest(name, arg, new_uuid()))
            if not self.up:
                return False
        self.mark_transfer(extension, dialplan, context)
        return False

    def bridge_to_leg(self, leg) -> None:
        """uuid_bridge <this> <leg>: the call leaves the socket application for the bridge."""
        self.record.bridged_to = leg.uuid
        self.set_var("bridge_to", leg.uuid)
        self.set_var("bridge_uuid", leg.uuid)
        self.set_var("signal_bond", leg.uuid)
        leg.bridge_with(self.uuid)
        self.mark_transfer("uuid_bridge", "-", leg.uuid)
        self.interrupt(BREAK)

    def on_connected(self) -> None:
        """`connect` arrived: from here on the channel is parked under socket control."""
        self.connect_seen = True
        # the socket application parks the channel right after connect; on the real switch the
        # event races with the client's `myevents`, here it comes just after a prompt client's
        timer = gevent.get_hub().loop.timer(0.01)
        timer.start(self._park_due, timer)

    def _park_due(self, timer: Any) -> None:
        """The park's moment (in the loop's callback): a greenlet fires the event only when a
        socket takes it or the record keeps it; most clients nixevent it."""
        timer.close()
        if self.up and (self.switch.keep_events or self.switch.may_want("CHANNEL_PARK", self.uuid)):
            self.switch.spawn(self._park_event)

    def _park_event(self) -> None:
        if self.up:
            self.fire_new("CHANNEL_PARK")

    def _app_loop(self) -> None:
        while self.up:
            try:
                item = self._queue.get(timeout=1.0)
            except Empty:
                continue
            if isinstance(item, AppRequest):
                self._pending -= 1
                if self.up:
                    self._execute(item)
                    if self._pending <= 0:
                        # nothing queued behind it: the socket parks the channel, and the park
                        # throws queued keys away (switch_ivr_park, seen on 1.10.12)
                        self.queued_keys.clear()
                item.done.set()
        # After a transfer the real switch keeps the socket attached (it carries the new
        # extension's events) until the client closes it or the call ends.

    def queue_message(self, cmd: Command) -> str:
        """sendmsg: queue an execute, or act on hangup; the reply is always +OK."""
        call_command = cmd.headers.get("call-command", "").strip().lower()
        if call_command == "execute":
            name = cmd.headers.get("execute-app-name", "").strip()
            arg = cmd.headers.get("execute-app-arg", "")
            if not arg and cmd.body and "text/plain" in cmd.headers.get("content-type", ""):
                arg = cmd.body
            try:
                loops = int(cmd.headers.get("loops", "1"))
            except ValueError:
                loops = 1
            req = AppRequest(name, arg, cmd.headers.get("event-uuid", "").strip() or new_uuid(), loops)
            if self.up:
                self._pending += 1
                self._queue.put(req)
                if not self.async_ and not is_true(cmd.headers.get("async")):
                    req.done.wait(timeout=self.scaled(self.caller.max_duration) + 5.0)
        elif call_command == "hangup":
            # parsed by the session after the +OK went out, as a queued private event is
            cause = cmd.headers.get("hangup-cause", "").strip() or "NORMAL_CLEARING"
            self.switch.spawn(self.hangup, cause, "service")
        return "+OK"

    def _execute(self, req: AppRequest) -> None:
        handler = apps.lookup(req.name)
        if handler is None:
            self.record.errors.append(f"invalid application {req.name!r}")
            self.hangup("DESTINATION_OUT_OF_ORDER", by="switch")
            return
        if "${" in req.arg:
            # the switch expands an application's argument before it runs (and the events
            # carry the expanded text): tests/conformance/golden/outbound_setvar_then_execute
            from .eavesdrop import expand
            req.arg = expand(self.switch, self.variables, req.arg)
        for _ in range(max(1, req.loops)):
            if not self.up:
                return
            self.set_var("current_application", req.name)
            self.set_var("current_application_data", req.arg)
            self.unset_var("current_application_response")
            app_headers = _app_headers(req.name, req.arg, req.app_uuid)
            self.fire_new("CHANNEL_EXECUTE", app_headers)
            self.current = AppRun(req.name)
            try:
                response = handler(self, req.arg, self.current)
            finally:
                self.current = None
            if response:
                self.set_var("current_application_response", response)
            response = self.variables.get("current_application_response") or "_none_"
            self.record.apps.append((self.record.elapsed(), req.name, req.arg, response))
            self._complete(self.build_event(
                "CHANNEL_EXECUTE_COMPLETE", _app_headers(req.name, req.arg, req.app_uuid, response)))

    def _complete(self, ev: SimEvent) -> None:
        if self.faults.stale_completion:
            stale = SimEvent(ev.name, [(k, new_uuid() if k == "Application-UUID" else v)
                                       for k, v in ev.headers], ev.body)
            self.fire(stale)
        if self.faults.reverse_completions and self._pending > 0 and self.up:
            self._held.append(ev)
            return
        self.fire(ev)
        self._flush_held()

    def _flush_held(self) -> None:
        while self._held:
            self.fire(self._held.pop())

    # ---- ways a call ends -------------------------------------------------------------
    def interrupt(self, signal: str) -> None:
        if self.current is not None:
            self.current.inbox.put(signal)
        self._queue.put(_WAKE)

    def break_app(self, flush: bool = False) -> None:
        if flush:  # `uuid_break <uuid> all` also drops what was queued behind
            while True:
                try:
                    item = self._queue.get_nowait()
                except Empty:
                    break
                if isinstance(item, AppRequest):
                    self._pending -= 1
                    item.done.set()
        if self.current is not None:
            self.current.inbox.put(BREAK)

    def hangup(self, cause: str = "NORMAL_CLEARING", by: str = "service") -> None:
        if self.state == "hangup" or self.left or self.done.is_set():
            return
        self.state = "hangup"
        self.record.hangup_cause, self.record.hangup_by = cause, by
        self.set_var("hangup_cause", cause)
        self.fire_new("CHANNEL_HANGUP", [("Hangup-Cause", cause)])
        self._run_hangup_hook()
        self.interrupt(HANGUP)
        for leg in listening_agents(self.switch, self.uuid):
            leg.customer_gone(self.uuid)

    def agent_gone(self, leg_uuid: str) -> None:
        """The agent leg bridged to this call hung up: an ``intercept`` waiting on it returns."""
        if self.current is not None and self.current.name == "intercept":
            self.current.inbox.put(BREAK)

    def _run_hangup_hook(self) -> None:
        """api_hangup_hook runs in the hangup state: after CHANNEL_HANGUP, before the
        reporting state's CHANNEL_HANGUP_COMPLETE (switch_core_state_machine.c)."""
        hook = self.variables.get("api_hangup_hook", "").strip()
        if hook:
            expanded = re.sub(r"\$\{([^}]+)\}", lambda m: self.variables.get(m.group(1), ""), hook)
            self.switch.api(expanded)

    def mark_transfer(self, extension: str, dialplan: str, context: str) -> None:
        self.record.transferred_to = f"{extension} {dialplan} {context}"
        self.left = "transfer"
        self.transferred = True
        self.transfer_target = (extension, dialplan, context)

    def transfer_now(self, extension: str, dialplan: str = "XML", context: str = "default") -> None:
        """uuid_transfer: leave the socket at once (or, still in its first bridge, that bridge)."""
        if not self.up:
            return
        if self.agent_leg is not None and self.pending_transfer is None and self.session is None:
            self.pending_transfer = (extension, dialplan, context)
            self.fire_new("CHANNEL_UNBRIDGE", [("Bridge-A-Unique-ID", self.uuid),
                                               ("Bridge-B-Unique-ID", self.agent_leg.uuid),
                                               ("Other-Leg-Unique-ID", self.agent_leg.uuid)])
            self.unset_var("bridge_to")
            self.unset_var("signal_bond")
            self.agent_leg.partner_left(self.uuid)
            return
        self.mark_transfer(extension, dialplan, context)
        self.interrupt(BREAK)

    def _leave(self, how: str) -> None:
        if how == "fallback":
            self.record.fallback_reached = True
        self.left = how
        self.interrupt(BREAK)

    def on_socket_closed(self, session: OutboundSession) -> None:
        """What FreeSWITCH 1.10.12 does when the client closes (checked on a real switch).

        Mid-call, the dialplan goes on to its next action, with or without socket_resume
        (socket_resume only cuts a running prompt short). Closed before ``connect`` without
        socket_resume, the channel sits in silence. Closed after a transfer with
        socket_resume still set, the channel is reset and sits in silence.
        """
        resume = is_true(self.variables.get("socket_resume"))
        if self.transferred:
            if resume and self.transfer_target[0] == "uuid_bridge":
                self._torn_down()
            elif resume:
                self._strand("socket closed after a transfer with socket_resume=true: "
                             "the channel was reset and the transferred call went silent")
        elif self.up:
            if self.connect_seen or resume:
                self._leave("fallback")
            else:
                self._strand("socket closed before connect without socket_resume: "
                             "the channel never reached the next dialplan action")
        if self.done.is_set():
            self.finished.set()

    def _strand(self, why: str) -> None:
        """The caller is left in silence; in the simulator they give up at once."""
        self.record.stranded = True
        self.record.errors.append(why)
        if not self.transferred:
            self.hangup("NORMAL_CLEARING", by="caller")
        elif self.left is None:   # the transferred extension is cut off: silence from here on
            self.left = "transfer"
            self.interrupt(BREAK)

    def _run_after_socket(self) -> None:
        """The socket is gone mid-call (or never connected): the dialplan goes on after
        ``socket`` (the crash fallback of pay_agent, the next instance of
        freeswitch_conf/dialplan/instances.xml), each action's data expanded as the switch
        does; another ``socket`` dials again (``dialplan.py``), a ``transfer`` to an extension
        the switch knows runs that extension's actions."""
        from .dialplan import run_actions
        self._socket_app_returns()
        self.left = None
        run_actions(self, list(self.after_socket))
        if self.up:
            self.hangup("NORMAL_CLEARING", by="switch")

    def socket_again(self, address: Tuple[str, int], full: bool) -> bool:
        """A later ``socket`` action of the dialplan: dial, and if it connects run under it
        until it lets go. True when the dialplan goes on to its next action."""
        self.address, self.full = address, full
        self.set_var("socket_host", str(address[0]))
        sock = dial(address)
        self.record.sockets.append(("%s:%s" % address, sock is not None))
        if sock is None:
            self.record.errors.append(f"could not connect to {address[0]}:{address[1]}")
            return True
        sock.settimeout(None)
        self.record.socket_connected = True
        self.connect_seen = self.socket_returned = False
        self.session = OutboundSession(self, sock, self.full, self.async_, self.faults)
        self.switch.add_listener(self.session)
        self.session.start()
        self._app_loop()
        if self.left == "fallback" and self.state != "hangup":
            self._socket_app_returns()
            self.left = None
            return True
        if self.left == "transfer":
            self._after_transfer()
        return False

    def _torn_down(self) -> None:
        """1.10.12 (docs/stay-on-line.md, S5): the socket closed after ``uuid_bridge`` while
        socket_resume was still set resets the customer leg, which tears the restored bridge
        down and ends every leg. A failure of the service: recorded so that a test sees it."""
        self.record.errors.append("socket closed after uuid_bridge with socket_resume=true: "
                                  "the customer leg was reset and every leg ended")
        self.record.torn_down = True
        self.record.hangup_cause, self.record.hangup_by = "NORMAL_CLEARING", "switch"
        leg = self.switch.channels.get(self.record.bridged_to or "")
        if leg is not None and is_agent_leg(leg):
            leg.bridged_to = None
            leg.hangup("NORMAL_CLEARING", by="switch")

    def _socket_app_returns(self) -> None:
        """The `socket` application ends (hangup or transfer): FreeSWITCH says so on the socket."""
        if self.session is None or not self.connect_seen or self.socket_returned:
            return
        self.socket_returned = True
        self.fire_new("CHANNEL_UNPARK")
        # its response is the last application's, still in the variable (a playback's FILE
        # PLAYED: tests/conformance/golden/outbound_narrow_events.jsonl)
        self.fire_new("CHANNEL_EXECUTE_COMPLETE", _app_headers(
            "socket", "%s:%s async%s" % (self.address[0], self.address[1], " full" if self.full else ""),
            new_uuid(), self.variables.get("current_application_response") or "_none_"))

    def _after_transfer(self) -> None:
        """As on 1.10.12: the socket stays attached and carries the new extension's events.

        The new extension runs what ``Switch(extensions=...)`` says for it, then hangs up; an
        extension the switch was not told about runs nothing and the call stays where it is.
        """
        self._socket_app_returns()
        self.fire_new("CHANNEL_STATE", cs="CS_ROUTING")
        self.fire_new("CHANNEL_STATE", cs="CS_EXECUTE")
        from .dialplan import routed
        extension = (self.record.transferred_to or "").split(" ")[0]
        plan = self.switch.extensions.get(extension)
        if plan is None:
            return
        self.left = None
        for name, arg in routed(plan, self.variables):
            if not self.up:
                break
            self._execute(AppRequest(name, arg, new_uuid()))
        if self.up:
            self.hangup("NORMAL_CLEARING", by="switch")

    def _finish(self) -> None:
        self._stop_patience()
        self._flush_held()
        if self.state == "hangup":
            self._socket_app_returns()
            self.fire_new("CHANNEL_STATE", cs="CS_HANGUP")
            self.fire_new("CHANNEL_STATE", cs="CS_REPORTING")
            self.fire_new("CHANNEL_HANGUP_COMPLETE", [("Hangup-Cause", self.record.hangup_cause or "")],
                          cs="CS_REPORTING")
        self.record.variables = dict(self.variables)
        self.record.ended = self.record.elapsed()
        self.switch.channel_gone(self)
        self.done.set()
        if self.state == "hangup" and self.session is not None:
            self.session.channel_down()   # linger notice or goodbye, after HANGUP_COMPLETE
        if self.session is None or self.session.closed.is_set():
            self.finished.set()

    def show_row(self, hostname: str) -> str:
        app = self.variables.get("current_application", "")
        data = self.variables.get("current_application_data", "").replace(",", " ")
        state = {"ringing": "RINGING", "early": "EARLY", "answered": "ACTIVE"}.get(self.state, "HANGUP")
        fields = [self.uuid, "inbound", time.strftime("%Y-%m-%d %H:%M:%S"), str(self.created_us // 1_000_000),
                  self.name, "CS_EXECUTE", self.caller_id_name, self.caller_id_number, "127.0.0.1",
                  self.destination, app, data, "XML", "default", "PCMU", "8000", "64000", "PCMU", "8000",
                  "64000", "", hostname, "", "", "", state, "", "", "", self.uuid, "", "",
                  self.caller_id_name, self.caller_id_number, "127.0.0.1", self.destination, "XML", "default"]
        return ",".join(fields)
