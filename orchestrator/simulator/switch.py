"""The simulated switch: the inbound event socket server, the live channels, event
fan-out to every listener, and the greenlets and sockets it must clean up on stop().
"""
from __future__ import annotations

import fnmatch
import itertools
import time
from collections import deque
from typing import Deque, Dict, Iterable, Optional, Sequence, Set, Tuple, Union

import gevent
from gevent.pool import Group
from gevent.server import StreamServer

from ..tcp import no_delay
from . import commands
from .caller import CallerScript
from .channel import SimChannel
from .legs import AgentLeg, is_agent_leg
from .events import EventFactory, SimEvent
from .faults import Faults
from .inbound import InboundListener
from .record import CallRecord, render_timeline
from .wire import Command

INBOUND_COMMANDS_KEPT = 2000
Leg = Union[SimChannel, AgentLeg]   # what a uuid names: a call's channel or an agent's leg


class Call:
    """Handle on a placed call."""

    def __init__(self, channel: SimChannel):
        self._channel = channel

    @property
    def uuid(self) -> str:
        return self._channel.uuid

    @property
    def record(self) -> CallRecord:
        return self._channel.record

    @property
    def channel(self) -> SimChannel:
        return self._channel

    @property
    def done(self) -> bool:
        return self._channel.finished.is_set()

    def wait(self, timeout: float = 30.0) -> CallRecord:
        """The finished record; TimeoutError if the call and its socket are not over in time."""
        if not self._channel.finished.wait(timeout=timeout):
            rec = self._channel.record
            raise TimeoutError(
                f"simulated call {self.uuid} not finished after {timeout}s "
                f"(state={self._channel.state}, socket_connected={rec.socket_connected}, "
                f"apps run={len(rec.apps)}, last wire={rec.transcript[-1][2][:80]!r})"
                if rec.transcript else
                f"simulated call {self.uuid} not finished after {timeout}s (state={self._channel.state}, "
                f"no wire traffic)")
        return self._channel.record

    def press(self, digits: str) -> None:
        """Press digits now, outside the script (for interactive tests)."""
        for d in digits:
            self._channel.press(d)

    def hangup(self, cause: str = "NORMAL_CLEARING") -> None:
        """The caller hangs up now."""
        self._channel.hangup(cause, by="caller")

    def timeline(self, reveal_digits: bool = False) -> str:
        return render_timeline(self._channel.record, reveal_digits)


class _Legs(Dict[str, Leg]):
    """``Switch.channels``: every live leg by uuid, its agents' legs also apart (``agents``),
    so that what hears a prompt is found among the agents, not by a scan of every call."""

    def __init__(self) -> None:
        super().__init__()
        self.agents: Dict[str, AgentLeg] = {}

    def __setitem__(self, uuid: str, leg: Leg) -> None:
        super().__setitem__(uuid, leg)
        if is_agent_leg(leg):
            self.agents[uuid] = leg
        else:
            self.agents.pop(uuid, None)

    def __delitem__(self, uuid: str) -> None:
        super().__delitem__(uuid)
        self.agents.pop(uuid, None)

    def pop(self, uuid, *default):
        self.agents.pop(uuid, None)
        return super().pop(uuid, *default)

    def clear(self) -> None:
        super().clear()
        self.agents.clear()


class Switch:
    def __init__(self, password: str = "ClueCon", host: str = "127.0.0.1", port: int = 0,
                 time_scale: float = 1.0, faults: Optional[Faults] = None, prompt_seconds: float = 2.0,
                 prompt_durations: Optional[Dict[str, float]] = None, missing_files: Iterable[str] = (),
                 hostname: str = "sim-freeswitch", extensions: Optional[Dict[str, list]] = None,
                 keep_events: bool = True):
        """``keep_events``: every channel keeps each event it fires in its record (what tests
        and ``simulate --artifacts`` read). A load driver that judges calls by what was heard
        and sent turns it off, and an event no socket subscribed to is then never built: most
        of a call's events, each with every header and variable."""
        if time_scale < 0:
            raise ValueError("time_scale must not be negative")
        if host not in ("127.0.0.1", "localhost", "::1"):
            raise ValueError("the simulator only listens on loopback")
        self.password = password
        self.host, self.port = host, port
        self.time_scale = time_scale
        self.faults = faults
        self.prompt_seconds = prompt_seconds
        self.prompt_durations = dict(prompt_durations or {})
        self.missing_files = tuple(missing_files)
        self.hostname = hostname
        # what a transfer target runs, as [(app, arg), ...]; unknown targets run nothing
        self.extensions = {name: list(apps) for name, apps in (extensions or {}).items()}
        self.event_factory = EventFactory(hostname)
        self.keep_events = keep_events
        self.channels = _Legs()
        # what inbound clients asked (api/bgapi arguments), newest last: which node a command
        # reached, for tests of several nodes; bounded, as the demo runs for hours
        self.inbound_commands: Deque[str] = deque(maxlen=INBOUND_COMMANDS_KEPT)
        self.calls: Dict[str, Call] = {}
        self.started_at = time.monotonic()
        self.sessions_since_startup = 0
        self.sessions_peak = 0
        self._listeners: Set = set()
        # who may want an event: listeners tied to one channel (``myevents``) are filed under
        # its uuid, so an event is offered to its channel's listeners and the untied ones
        # only, not to every call's socket (each offer scanned the event's headers)
        self._untied: Set = set()
        self._tied: Dict[str, Set] = {}
        self._group = Group()
        self._server: Optional[StreamServer] = None

    # ---- lifecycle -----------------------------------------------------------
    def start(self) -> "Switch":
        self._server = StreamServer((self.host, self.port), self._accept, spawn=self._group.spawn)
        self._server.start()
        self.started_at = time.monotonic()
        return self

    @property
    def inbound_address(self) -> Tuple[str, int]:
        if self._server is None:
            raise RuntimeError("Switch.start() has not been called")
        return self._server.server_host, self._server.server_port

    def stop(self, timeout: float = 5.0) -> None:
        """Close every socket and end every greenlet the switch started."""
        for listener in list(self._listeners):
            listener.kill()
        self._listeners.clear()
        self._untied.clear()
        self._tied.clear()
        if self._server is not None:
            self._server.stop(timeout=0)
            self._server = None
        for channel in list(self.channels.values()):
            channel.done.set()
            channel.finished.set()
        self._group.kill(block=True, timeout=timeout)
        self.channels.clear()

    def __enter__(self) -> "Switch":
        return self.start() if self._server is None else self

    def __exit__(self, *exc) -> None:
        self.stop()

    def forget(self, call: Call) -> None:
        """Drop a finished call from ``calls``: a load driver placing tens of thousands keeps
        what it measured and lets the records go (each holds the call's whole wire text)."""
        if self.calls.get(call.uuid) is call and call.done:
            del self.calls[call.uuid]

    def spawn(self, func, *args):
        return self._group.spawn(func, *args)

    def spawn_later(self, seconds: float, func, *args):
        def later():
            gevent.sleep(seconds)
            func(*args)
        return self._group.spawn(later)

    # ---- inbound -----------------------------------------------------------------
    def _accept(self, sock, address) -> None:
        no_delay(sock)
        listener = InboundListener(self, sock, self.faults)
        self.add_listener(listener)
        listener.start()
        while not listener.closed.wait(timeout=5.0):  # the server closes the socket when this returns
            pass

    def add_listener(self, listener) -> None:
        self._listeners.add(listener)
        self._file(listener, listener.myevents_uuid)

    def listener_closed(self, listener) -> None:
        self._listeners.discard(listener)
        self._unfile(listener, listener.myevents_uuid)

    def listener_moved(self, listener, old: Optional[str], new: Optional[str]) -> None:
        """A listener's ``myevents`` channel changed: file it again."""
        if listener in self._listeners:
            self._unfile(listener, old)
            self._file(listener, new)

    def _file(self, listener, uuid: Optional[str]) -> None:
        if uuid:
            self._tied.setdefault(uuid, set()).add(listener)
        else:
            self._untied.add(listener)

    def _unfile(self, listener, uuid: Optional[str]) -> None:
        if uuid:
            tied = self._tied.get(uuid)
            if tied is not None:
                tied.discard(listener)
                if not tied:
                    del self._tied[uuid]
        else:
            self._untied.discard(listener)

    # ---- calls ---------------------------------------------------------------------
    def place_call(self, orchestrator_address, caller: Optional[CallerScript] = None, destination: str = "1000",
                   variables: Optional[dict] = None, full: bool = True, async_: bool = True,
                   faults: Optional[Faults] = None, caller_id_number: str = "+15551230000",
                   caller_id_name: str = "Simulated Caller", socket_resume: bool = True,
                   prompt_seconds: Optional[float] = None, uuid: Optional[str] = None,
                   after_socket: Sequence[Tuple[str, str]] = ()) -> Call:
        """Start a call whose dialplan runs `socket <orchestrator_address> async full`.

        ``uuid``: the channel's UUID, new by default. Given the UUID of a call that has left
        the socket, it stands for that call handed to the socket again (the dialplan, or an
        agent's transfer, sends it back to the payment extension): the service sees a second
        connection for the same channel, as it would from FreeSWITCH."""
        host = orchestrator_address[0]
        if host not in ("127.0.0.1", "localhost", "::1"):
            raise ValueError("the simulator only dials loopback addresses")
        if uuid is not None and uuid in self.channels:
            raise ValueError("channel %s is still up: one call at a time per UUID" % uuid)
        merged = {"socket_resume": "true" if socket_resume else "false"}
        merged.update(variables or {})
        self.sessions_since_startup += 1
        channel = SimChannel(self, orchestrator_address, caller, destination, caller_id_number,
                             caller_id_name, merged, full, async_, faults, prompt_seconds, uuid)
        self.channels[channel.uuid] = channel
        self.sessions_peak = max(self.sessions_peak, len(self.channels))
        call = Call(channel)
        self.calls[channel.uuid] = call
        channel.after_socket = list(after_socket)
        channel.start()
        return call

    def place_call_to(self, extension: str, caller: Optional[CallerScript] = None,
                      variables: Optional[dict] = None, **options) -> Call:
        """A call routed to ``extension`` of ``self.extensions`` (``dialplan.extensions_from_xml``
        reads them from the shipped XML): its ``set``/``unset`` actions before the first
        ``socket`` become the channel's variables (as written: ``${uuid}`` is not expanded
        there, and ``variables`` given here win over them), the socket is dialled, and what
        follows it runs when the socket returns (``dialplan.run_actions``)."""
        from .dialplan import routed
        found = self.extensions.get(extension)
        if found is None:
            raise ValueError("no extension %r" % extension)
        plan = routed(found, variables or {})
        merged: dict = {}
        for at, (name, arg) in enumerate(plan):
            if name == "socket":
                break
            if name == "set" and "=" in arg:
                key, _, value = arg.partition("=")
                merged[key] = value
            elif name == "unset":
                merged.pop(arg, None)
            else:
                raise ValueError("%s: %s before the socket is not emulated" % (extension, name))
        else:
            raise ValueError("extension %r has no socket" % extension)
        merged.update(variables or {})
        from .eavesdrop import expand
        words = expand(self, merged, plan[at][1]).split()
        host, _, port = words[0].rpartition(":")
        resume = merged.pop("socket_resume", "false") == "true"
        return self.place_call((host, int(port)), caller, destination=extension, variables=merged,
                               full="full" in words[1:], socket_resume=resume,
                               after_socket=plan[at + 1:], **options)

    def place_bridged_call(self, caller: Optional[CallerScript] = None, agent_extension: str = "1001",
                           variables: Optional[dict] = None, caller_id_number: str = "+15551230000",
                           agent_variables: Optional[dict] = None):
        """A customer's call already answered and bridged to an agent's leg, outside any
        socket (as after ``bridge user/1001``); ``uuid_transfer`` to an extension whose plan
        has ``("socket", "host:port async full")`` hands it to that socket. ``variables`` are
        the caller's channel's (``pay_tenant``, as the dialplan sets it), ``agent_variables``
        the agent's leg's (``pay_agent_id``, as the directory sets it). -> (Call, AgentLeg)"""
        agent = AgentLeg(self, agent_extension)
        for name, value in (agent_variables or {}).items():
            agent.set_var(name, value)
        self.sessions_since_startup += 2
        channel = SimChannel(self, ("127.0.0.1", 0), caller, agent_extension, caller_id_number,
                             "Simulated Caller", dict(variables or {}), True, True, None, None)
        channel.state, channel.answered_us = "answered", int(time.time() * 1_000_000)
        channel.agent_leg = agent
        for leg, other in ((channel, agent), (agent, channel)):
            leg.set_var("bridge_to", other.uuid)
            leg.set_var("bridge_uuid", other.uuid)
            leg.set_var("signal_bond", other.uuid)
        agent.bridged_to = channel.uuid
        self.channels[agent.uuid] = agent
        self.channels[channel.uuid] = channel
        self.sessions_peak = max(self.sessions_peak, len(self.channels))
        call = Call(channel)
        self.calls[channel.uuid] = call
        channel.start()
        return call, agent

    def channel_gone(self, channel: Leg) -> None:
        self.channels.pop(channel.uuid, None)

    # ---- used by listeners and channels ------------------------------------------
    def fire(self, ev: SimEvent) -> None:
        """Offer ``ev`` to every listener that could want it (``Listener.wants`` decides): the
        untied ones, and those tied to its channel (``Unique-ID``) or owning its job
        (``Job-Owner-UUID``), which is all a ``myevents`` listener ever gets."""
        targets = list(self._untied)
        if self._tied:
            owner = ev.get("Job-Owner-UUID")
            for uuid in (ev.get("Unique-ID"), owner):
                if uuid and uuid in self._tied:
                    targets.extend(self._tied[uuid])
            if owner:
                targets = list(dict.fromkeys(targets))
        for listener in targets:
            listener.deliver(ev)

    def may_want(self, name: str, uuid: str) -> bool:
        """Whether any listener ``fire`` would offer it to could take channel ``uuid``'s own
        event called ``name`` (``Listener.may_want``)."""
        return any(listener.may_want(name)
                   for listener in itertools.chain(self._untied, self._tied.get(uuid, ())))

    def api(self, text: str) -> str:
        return commands.execute(self, text)

    def send_message(self, uuid: str, cmd: Command) -> str:
        channel = self.channels.get(uuid)
        if channel is None:
            return f"-ERR invalid session id [{uuid}]"
        if is_agent_leg(channel):   # a simulated agent leg has no application queue
            return f"-ERR the simulator runs no applications on agent leg [{uuid}]"
        return channel.queue_message(cmd)

    def file_missing(self, path: str) -> bool:
        return any(fnmatch.fnmatch(path, pattern) for pattern in self.missing_files)
