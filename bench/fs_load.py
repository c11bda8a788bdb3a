"""The comparison bench on a real FreeSWITCH: the same minimal call (and the card payment) placed
on a switch started from the shipped ``freeswitch_conf/``, its ``socket`` pointed at the
service, then at the bare greenswitch app, and each call checked on the switch's own events.

What the simulator cannot say is what the switch itself pays for a call: the point of the issue's
target (the service's CPU per call at most a tenth of the switch's for the same calls). So per
client, per run, over the same calls: the client's CPU ms per call, the switch's (utime + stime
of the FreeSWITCH process, every thread, from ``/proc/<pid>/stat``), the events and bytes the
switch sent the client's outbound socket (counted by a relay in this process between the two,
which also tells when the client has closed every socket), and the setup time by the switch's
own clock (from its ``socket`` application starting to the client's ``answer``).

Each client gets a switch of its own, started on a copy of the shipped configuration changed
only where tests/support/live/fsprocess.py changes it (the event socket's port, and its plain
socket extension added) with ``ORCHESTRATOR_ESL_ADDRESS`` naming the relay. The minimal call
dials that plain extension (7090: ``socket`` with no ``sensitive_dtmf``), so both clients run
the same ``playback``; on 7000 the service would play through the secure-entry script, which the
bare app knows nothing of. The card payment dials 7000 as a site's calls do. The calls are loopback calls
placed and watched over one inbound connection (tests/support/live/calls.py); its events cost
the switch the same for both clients and are in its figure (their count is printed). They are
placed at most ``placing_rate`` a second, under the configuration's ``sessions-per-second``. The card payment keys the sandbox's
approving card with ``uuid_send_dtmf`` at the secure-entry script's prompts, as the live suite
does (tests/support/live/card_entry.py); no digit of it is printed or kept.
"""
import os
import re
import shutil
import subprocess
import tempfile
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Dict, List, Optional

import gevent
import gevent.pool
import yaml
from gevent import socket
from gevent.server import StreamServer

from bench.proc_stats import cpu_seconds, percentile
from bench.service_process import REPO, ServiceProcess, free_port
from orchestrator.payments.sandbox_cards import card_for
from tests.support.live.calls import Control
from tests.support.live.card_entry import key_card
from tests.support.live.fsprocess import (PLAIN_CONTEXT, PLAIN_EXTENSION, PLAIN_SOCKET,
                                          SHIPPED_CONF, FreeSwitchProcess, prepare_conf, wait_event_socket)
from tests.support.live.switches import LiveSwitch, sounds_problem

MINIMAL_FILE = "digits/1.wav"     # under the switch's sound prefix: a real file, under a second
CALL_TIMEOUT = 60.0
CARD_TIMEOUT = 120.0
IDLE_TIMEOUT = 30.0
EVENT_MARK = b"Content-Type: text/event-"
CARD_FLOW_NAME = "card_payment"    # flows/card_payment.yaml, as the simulator's card load


class CountingRelay:
    """Forwards each connection of the switch's ``socket`` application to the client, counting
    what the switch sent (bytes, and events by their Content-Type) and how many are open."""

    def __init__(self, target: tuple) -> None:
        self.target = target
        self.bytes = 0
        self.events = 0
        self.open = 0
        self.server = StreamServer(("127.0.0.1", 0), self._handle)
        self.server.start()

    @property
    def address(self) -> tuple:
        return ("127.0.0.1", self.server.server_port)

    def _handle(self, switch_side, _address) -> None:
        self.open += 1
        try:
            client_side = socket.create_connection(self.target, timeout=10)
        except OSError:
            self.open -= 1
            switch_side.close()
            return
        client_side.settimeout(None)
        back = gevent.spawn(self._pipe, client_side, switch_side, False)
        try:
            self._pipe(switch_side, client_side, True)
        finally:
            back.join(timeout=CALL_TIMEOUT)
            back.kill()
            for side in (switch_side, client_side):
                side.close()
            self.open -= 1

    def _pipe(self, source, sink, counted: bool) -> None:
        tail = b""
        try:
            while True:
                chunk = source.recv(65536)
                if not chunk:
                    break
                if counted:
                    self.bytes += len(chunk)
                    window = tail + chunk     # a mark cut between two reads is counted once
                    self.events += window.count(EVENT_MARK)
                    tail = window[-(len(EVENT_MARK) - 1):]
                sink.sendall(chunk)
        except OSError:
            pass
        finally:
            try:
                sink.shutdown(socket.SHUT_WR)
            except OSError:
                pass

    def wait_closed(self, timeout: float = IDLE_TIMEOUT) -> bool:
        deadline = time.monotonic() + timeout
        while self.open and time.monotonic() < deadline:
            gevent.sleep(0.05)
        return self.open == 0

    def stop(self) -> None:
        self.server.stop(timeout=5)


@contextmanager
def shipped_switch(binary: str, sounds: Optional[str], socket_address: tuple):
    """A switch on a copy of ``freeswitch_conf/`` (its event socket on a free port), its
    ``socket`` application connecting to ``socket_address``; stopped on leaving, whatever
    happened."""
    workdir = tempfile.mkdtemp(prefix="compare-fs-")
    esl_port = free_port()
    password = "bench-" + os.urandom(8).hex()
    conf = prepare_conf(os.path.join(workdir, "conf"), esl_port, extra_dialplan=PLAIN_SOCKET)
    env = {"FS_ESL_PASSWORD": password, "ORCHESTRATOR_ESL_ADDRESS": "%s:%d" % socket_address}
    if sounds:
        env["FS_SOUND_PREFIX"] = sounds
    process = FreeSwitchProcess(binary, conf, workdir, env).start()
    try:
        wait_event_socket("127.0.0.1", esl_port, password, process=process).close()
        live = LiveSwitch("127.0.0.1", esl_port, password, socket_address, "7000", "default",
                          process)
        live.placing_rate = placing_rate(conf)
        yield live
    finally:
        process.stop()
        shutil.rmtree(workdir, ignore_errors=True)


def placing_rate(conf: str) -> float:
    """Calls a second the switch takes from this configuration: its ``sessions-per-second``
    (the shipped 30) counts both legs of a loopback call, and a burst over it is refused
    ("Over Session Rate", the call failing DESTINATION_OUT_OF_ORDER); a fifth is left spare."""
    with open(os.path.join(conf, "autoload_configs", "switch.conf.xml"), encoding="utf-8") as f:
        found = re.search(r'name="sessions-per-second" value="(\d+)"', f.read())
    return (int(found.group(1)) if found else 30) / 2 * 0.8


@dataclass
class SwitchFigures:
    """One load on one client through a real switch in one run."""
    client_ms: float = 0.0
    switch_ms: float = 0.0
    events: float = 0.0
    kbytes: float = 0.0
    watched: float = 0.0      # events a call sent the bench's watching connection
    setup_p50: Optional[float] = None
    setup_p99: Optional[float] = None
    calls: int = 0
    correct: int = 0
    problems: List[str] = field(default_factory=list)

    @property
    def share(self) -> Optional[float]:
        """The client's CPU per call over the switch's, for the same calls."""
        return self.client_ms / self.switch_ms if self.switch_ms else None


def _timestamp(message) -> float:
    return int(message.headers.get("Event-Date-Timestamp", "0")) / 1e6


class SwitchCalls:
    """Places calls on one switch and judges each on the events of its dialplan leg."""

    def __init__(self, live: LiveSwitch) -> None:
        self.control = Control(live)
        self.serial = 0
        self.gap = 1.0 / live.placing_rate
        self.next_at = 0.0
        self.watched = 0       # events the watching connection got, the switch's work too

    def _variables(self, kind: str) -> dict:
        self.serial += 1
        if kind == "minimal":
            return {}
        return {"pay_flow": CARD_FLOW_NAME, "pay_amount": str(1000 + self.serial % 9000),
                "pay_currency": "EUR", "pay_reference": "FSC-%06d" % self.serial}

    def one(self, kind: str) -> dict:
        """One call to its end: ``ok``, ``setup`` (seconds, or None) and what went wrong."""
        control = self.control
        wait = self.next_at - time.monotonic()
        self.next_at = max(self.next_at, time.monotonic()) + self.gap
        if wait > 0:
            gevent.sleep(wait)
        if kind == "minimal":
            a_leg = control.call(self._variables(kind), PLAIN_EXTENSION, PLAIN_CONTEXT)
        else:
            a_leg = control.call(self._variables(kind))
        try:
            if kind == "card":
                key_card(control, a_leg, card_for("approve"))
            done = control.wait(a_leg, "CHANNEL_HANGUP_COMPLETE",
                                CARD_TIMEOUT if kind == "card" else CALL_TIMEOUT)
        except TimeoutError as exc:
            control.hang_up(a_leg)
            return {"ok": False, "setup": None, "why": str(exc)}
        return self._judge(kind, a_leg, done)

    def _judge(self, kind: str, a_leg: str, done) -> dict:
        executed = self.control.events(a_leg, "CHANNEL_EXECUTE")
        finished = self.control.events(a_leg, "CHANNEL_EXECUTE_COMPLETE")
        apps = [m.headers.get("Application") for m in executed]
        handed = [m for m in executed if m.headers.get("Application") == "socket"]
        answered = [m for m in executed if m.headers.get("Application") == "answer"]
        setup = (_timestamp(answered[0]) - _timestamp(handed[0])
                 if handed and answered else None)
        cause = done.headers.get("variable_hangup_cause") or done.headers.get("Hangup-Cause")
        why = []
        if cause != "NORMAL_CLEARING":
            why.append("hung up %s" % cause)
        # the client hung up: the channel went down while its socket application still ran; a
        # client that only closed its socket would see the dialplan go on and end the call,
        # also NORMAL_CLEARING, after the socket application had completed
        order = [(m.event_name, m.headers.get("Application"))
                 for m in self.control.events(a_leg)
                 if m.event_name in ("CHANNEL_HANGUP", "CHANNEL_EXECUTE_COMPLETE")]
        if ("CHANNEL_HANGUP", None) not in order or (
                ("CHANNEL_EXECUTE_COMPLETE", "socket") in order
                and order.index(("CHANNEL_EXECUTE_COMPLETE", "socket"))
                < order.index(("CHANNEL_HANGUP", None))):
            why.append("not hung up by the client")
        if "transfer" in apps:
            why.append("reached the dialplan's fallback")
        if not answered:
            why.append("never answered by the client")
        if kind == "minimal":
            played = [m for m in finished if m.headers.get("Application") == "playback"]
            if ([m.headers.get("Application-Response") for m in played] != ["FILE PLAYED"]
                    or not played[0].headers.get("Application-Data", "").endswith(MINIMAL_FILE)):
                why.append("playback %s" % [(m.headers.get("Application-Data"),
                                             m.headers.get("Application-Response"))
                                            for m in played])
        elif done.headers.get("variable_pay_result") != "approved":
            why.append("pay_result %s" % done.headers.get("variable_pay_result"))
        return {"ok": not why, "setup": setup, "why": "; ".join(why)}

    def batch(self, kind: str, calls: int, concurrency: int) -> List[dict]:
        slots = gevent.pool.Pool(concurrency)
        results: List[dict] = []
        for _ in range(calls):
            slots.wait_available(timeout=CARD_TIMEOUT)
            slots.spawn(lambda: results.append(self.one(kind)))
        if not slots.join(timeout=CARD_TIMEOUT * 2):
            slots.kill(timeout=5)
        results += [{"ok": False, "setup": None, "why": "not finished"}] * (calls - len(results))
        return results

    def wait_idle(self, timeout: float = IDLE_TIMEOUT) -> bool:
        """No channel left on the switch (the parked callers' legs go with their calls)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.control.api("show channels count").strip().startswith("0 total"):
                self.watched += len(self.control.es.events)
                self.control.es.events.clear()     # judged already: the list stays short
                return True
            gevent.sleep(0.1)
        return False

    def close(self) -> None:
        self.control.close()


def write_fs_service_config(folder: str, live: LiveSwitch, listen: int, http: int,
                            sandbox_url: str, verbose: bool) -> str:
    """The service as a site runs it on this switch: the minimal flow as the default (7000
    names no flow), the card flow named by ``pay_flow``, the sandbox gateway, a store here."""
    flows = os.path.join(folder, "flows")
    os.makedirs(flows, exist_ok=True)
    with open(os.path.join(flows, "bench_minimal.yaml"), "w", encoding="utf-8") as handle:
        handle.write("flow: bench_minimal\nlanguage: en\nsteps:\n  - answer: {}\n"
                     "  - play: %s\n  - hangup: {}\n" % MINIMAL_FILE)
    shutil.copy(os.path.join(REPO, "flows", CARD_FLOW_NAME + ".yaml"), flows)
    config = {
        "listen": {"host": "127.0.0.1", "port": listen}, "linger_seconds": 1,
        "flows": {"directory": "flows", "default": "bench_minimal"},
        "http": {"enabled": True, "host": "127.0.0.1", "port": http},
        "nodes": [{"name": "fs", "host": live.host, "port": live.port, "password": live.password}],
        "gateways": [{"name": "sandbox", "type": "sandbox", "url": sandbox_url}],
        "store": {"path": "payments.sqlite"},
        "logging": {"level": "INFO" if verbose else "WARNING"},
    }
    path = os.path.join(folder, "orchestrator.yaml")
    with open(path, "w", encoding="utf-8") as handle:
        yaml.safe_dump(config, handle)
    return path


def measure(calls: SwitchCalls, relay: CountingRelay, switch_pid: int, client_pid: int,
            kind: str, count: int, concurrency: int, warmup: int) -> SwitchFigures:
    figures = SwitchFigures()
    every = calls.batch(kind, warmup, concurrency) if warmup else []
    if not (relay.wait_closed() and calls.wait_idle()):
        figures.problems.append("the switch or the client was not idle after the warm-up")
    client_before, switch_before = cpu_seconds(client_pid), cpu_seconds(switch_pid)
    bytes_before, events_before, watched_before = relay.bytes, relay.events, calls.watched
    result = calls.batch(kind, count, concurrency)
    # what a call costs includes its teardown: the client's socket closed, no channel left
    if not relay.wait_closed():
        figures.problems.append("the client kept %d sockets open" % relay.open)
    if not calls.wait_idle():
        figures.problems.append("channels left on the switch")
    figures.client_ms = (cpu_seconds(client_pid) - client_before) * 1000 / count
    figures.switch_ms = (cpu_seconds(switch_pid) - switch_before) * 1000 / count
    figures.events = (relay.events - events_before) / count
    figures.kbytes = (relay.bytes - bytes_before) / count / 1000
    figures.watched = (calls.watched - watched_before) / count
    every += result
    figures.calls, figures.correct = len(every), sum(1 for c in every if c["ok"])
    wrong = sorted({c["why"] for c in every if not c["ok"]})
    figures.problems += ["not correct: %s" % why for why in wrong]
    setups = [c["setup"] for c in result if c["setup"] is not None]
    figures.setup_p50, figures.setup_p99 = percentile(setups, 0.5), percentile(setups, 0.99)
    return figures


def run_on_switch(plan, folder: str, sandbox_url: str, binary: str, sounds: Optional[str],
                  bare_app_class) -> Dict[str, Dict[str, List[SwitchFigures]]]:
    """Every run of the minimal call (service, bare) and the card payment (service) on a real
    switch: ``{load: {client: [SwitchFigures per run]}}``."""
    problem = sounds_problem(sounds) if sounds else None
    if problem:
        raise RuntimeError(problem)
    results: Dict[str, Dict[str, List[SwitchFigures]]] = {
        "minimal": {"service": [], "bare": []}, "card": {"service": [], "bare": []}}
    for index in range(plan.runs):
        minimal, card = _service_run(plan, os.path.join(folder, "fs-service-%d" % (index + 1)),
                                     sandbox_url, binary, sounds)
        results["minimal"]["service"].append(minimal)
        results["card"]["service"].append(card)
        results["minimal"]["bare"].append(_bare_run(plan, os.path.join(
            folder, "fs-bare-%d" % (index + 1)), binary, sounds, bare_app_class))
    return results


def _service_run(plan, folder: str, sandbox_url: str, binary: str, sounds: Optional[str]):
    os.makedirs(folder, exist_ok=True)
    listen, http = free_port(), free_port()
    relay = CountingRelay(("127.0.0.1", listen))
    try:
        with shipped_switch(binary, sounds, relay.address) as live:
            config = write_fs_service_config(folder, live, listen, http, sandbox_url, plan.verbose)
            service = ServiceProcess(config, http, os.path.join(folder, "service.log"))
            calls = None
            try:
                service.start(ready_within=60)
                calls = SwitchCalls(live)
                pids = (live.process.process.pid, service.pid)
                minimal = measure(calls, relay, *pids, "minimal", plan.calls, plan.concurrency,
                                  plan.warmup)
                card = measure(calls, relay, *pids, "card", plan.card_calls, plan.concurrency,
                               min(plan.warmup, 1))
                return minimal, card
            finally:
                if calls is not None:
                    calls.close()
                if service.pid is not None:
                    try:
                        service.stop()
                    except Exception:
                        service.stop(9)
    finally:
        relay.stop()


def _bare_run(plan, folder: str, binary: str, sounds: Optional[str], bare_app_class):
    os.makedirs(folder, exist_ok=True)
    port = free_port()
    bare = bare_app_class(port, os.path.join(folder, "bare.log"), file=MINIMAL_FILE)
    relay = CountingRelay(("127.0.0.1", port))
    try:
        with shipped_switch(binary, sounds, relay.address) as live:
            calls = SwitchCalls(live)
            try:
                return measure(calls, relay, live.process.process.pid, bare.pid, "minimal",
                               plan.calls, plan.concurrency, plan.warmup)
            finally:
                calls.close()
    finally:
        relay.stop()
        bare.stop()


def switch_version(binary: str) -> str:
    """``1.10.12-release~64bit`` as the binary says it, for the table's heading."""
    try:
        out = subprocess.run([binary, "-version"], capture_output=True, text=True, timeout=20)
    except (OSError, subprocess.TimeoutExpired):
        return ""
    text = (out.stdout or out.stderr).strip()
    return text.split("version:", 1)[-1].strip().split(" ")[0] if text else ""
