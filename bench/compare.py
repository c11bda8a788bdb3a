"""The comparison bench: the service beside a bare greenswitch app, on the same calls, in one run.

    .venv/bin/python -m bench.compare                 # the full run, 3 runs
    .venv/bin/python -m bench.compare --quick         # a few calls, one short ramp step: a smoke
    .venv/bin/python -m bench.compare --runs 5 --calls 400 --hold 4000

Three processes besides this one, each measured on its own (its user + system CPU read from
``/proc/<pid>/stat`` before and after each load, its resident memory from ``/proc/<pid>/status``):
the project's simulator (``bench.sim_process``, which places the calls and judges them), the
service (``orchestrator run`` on a config written here) and the reference, a bare greenswitch
outbound app (``bench.bare_greenswitch``). This process only runs the sandbox gateway and asks.

Loads: the minimal call (connect, myevents, linger, answer, playback, hangup: the service runs
a three-step flow, the bare app the same exchange by hand), and the card payment
(``flows/card_payment.yaml`` with the sandbox gateway and its approving card; the bare app has
no such thing, its column says ``-``). Per load and client, per run:

- CPU ms per call of the client and of the simulator, over ``--calls`` calls ``--concurrency``
  at once (after a few calls of warm-up);
- events and bytes per call the switch sent the client's socket;
- setup latency p50/p99: from the dial to the first application the client ran;
- the highest rate of a short ramp (calls placed at a fixed rate, ``--ramp-seconds`` a step) at
  which every call was correct, its placing kept to the rate and its median duration within
  ``--max-stretch`` (default 1.10: within 10%) of the unloaded calls' (the measured batch's);
  at that rate, the client's share of a core and its calls per CPU-second (what one core of
  it would carry; the bench's three processes share the machine's cores, so the simulator's
  own cost bounds the rate reached long before the client's does);
- concurrent calls held (``--hold`` calls in their first prompt at once), the client's
  resident memory per held call (its growth over the idle process, divided by the calls) and
  its CPU, in % of a core, over two seconds of holding them with nothing else happening.

Each figure is printed as min / median / max over ``--runs``; ratios (service / bare) are taken
within each run, then summarised. Timings on a shared machine are noisy: read the ratios.
Exit status 0 when every call of every load was correct, 1 otherwise.

``--freeswitch`` (``FREESWITCH_BIN``, sounds from ``FREESWITCH_SOUNDS``): after the simulator's
loads, the minimal call (service and bare app) and the card payment (service) on a real
FreeSWITCH started from ``freeswitch_conf/``, a switch for each client (bench/fs_load.py). Its
table, loads ``freeswitch`` and ``fs-card``, sets each client's CPU ms per call beside the
switch's own for the same calls (the FreeSWITCH process, every thread), with events and bytes
per call the switch sent the client and setup p50/p99 by the switch's clock; then the service's
CPU per call as a share of the switch's, beside the issue's target of at most 10%: a figure,
never asserted. Every call there is judged on the switch's events; one wrong makes the exit 1.

    FREESWITCH_BIN=/usr/bin/freeswitch FREESWITCH_SOUNDS=/usr/share/freeswitch/sounds/en/us/callie \
        .venv/bin/python -m bench.compare --quick --freeswitch
"""
from gevent import monkey

monkey.patch_all()

import argparse  # noqa: E402
import json  # noqa: E402
import os  # noqa: E402
import resource  # noqa: E402
import shutil  # noqa: E402
import signal  # noqa: E402
import statistics  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from dataclasses import dataclass, field  # noqa: E402
from typing import Dict, List, Optional, Sequence  # noqa: E402

import yaml  # noqa: E402

from bench import greenlet_census  # noqa: E402
from bench.fs_load import (SHIPPED_CONF, SwitchFigures, placing_rate, run_on_switch,  # noqa: E402
                           switch_version)
from bench.proc_stats import cpu_seconds, fd_kinds, grown, open_fds, percentile, rss_kib  # noqa: E402
from bench.service_process import REPO, ServiceProcess, free_port  # noqa: E402
from bench.sim_process import MINIMAL_FILE, PASSWORD  # noqa: E402
from orchestrator.payments.sandbox import SandboxGateway  # noqa: E402

TIME_SCALE = 0.05
CLIENTS = ("service", "bare")
LOADS = ("minimal", "card")
MINIMAL_FLOW = """\
flow: bench_minimal
language: en
steps:
  - answer: {}
  - play: %s
  - hangup: {}
""" % MINIMAL_FILE
HOLD_IDLE = 2.0             # seconds the held calls are watched doing nothing
BATCH_TIMEOUT = 600.0       # seconds the simulator may take for a batch, plus per round:
BATCH_ROUND_SECONDS = 5.0
SETTLE_WITHIN = 60.0        # seconds a client may take to let a hold's calls go
SOAK_SETTLE = 10.0          # seconds a client may take to close the soak's last calls


@dataclass
class Plan:
    runs: int = 3
    calls: int = 200            # measured calls per load and client, per run
    card_calls: int = 100
    concurrency: int = 10
    warmup: int = 10
    rates: Sequence[float] = (5, 10, 20, 40, 80, 160, 320)
    ramp_seconds: float = 3.0
    max_stretch: float = 1.10   # the bound: durations within 10% of an unloaded call
    hold: int = 1000
    hold_seconds: float = 30.0
    soak: int = 0               # calls of the soak after the hold (0: none)
    soak_concurrency: int = 0   # calls at once in the soak (0: as concurrency)
    verbose: bool = False


QUICK = dict(runs=1, calls=6, card_calls=3, concurrency=3, warmup=1, rates=(4,),
             ramp_seconds=1.0, hold=10, hold_seconds=4.0, soak=20)


class Simulator:
    """``bench.sim_process``: one JSON command a line, one JSON answer a line."""

    def __init__(self, log_path: str) -> None:
        self.log = open(log_path, "ab")
        env = dict(os.environ, PYTHONPATH=REPO + os.pathsep + os.environ.get("PYTHONPATH", ""))
        self.process = subprocess.Popen(
            [sys.executable, "-m", "bench.sim_process", "--time-scale", str(TIME_SCALE)],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self.log, cwd=REPO, env=env)
        self.inbound_port = int(self._answer(timeout=60)["inbound"])

    @property
    def pid(self) -> int:
        return self.process.pid

    def _answer(self, timeout: float) -> dict:
        import gevent
        with gevent.Timeout(timeout, RuntimeError("the simulator did not answer in %.0fs" % timeout)):
            line = self.process.stdout.readline()
        if not line:
            raise RuntimeError("the simulator exited (%s)" % self.process.poll())
        return json.loads(line)

    def ask(self, command: dict, timeout: float = 600.0) -> dict:
        self.process.stdin.write((json.dumps(command) + "\n").encode("utf-8"))
        self.process.stdin.flush()
        return self._answer(timeout)

    def stop(self) -> None:
        try:
            self.ask({"op": "exit"}, timeout=1) if self.process.poll() is None else None
        except Exception:
            pass
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=10)
        self.log.close()


class BareApp:
    def __init__(self, port: int, log_path: str, file: Optional[str] = None,
                 census: Optional[str] = None) -> None:
        self.port = port
        self.log = open(log_path, "ab")
        env = dict(os.environ, PYTHONPATH=REPO + os.pathsep + os.environ.get("PYTHONPATH", ""))
        self.process = subprocess.Popen(
            [sys.executable, "-m", "bench.bare_greenswitch", "--port", str(port)]
            + (["--file", file] if file else []) + (["--census", census] if census else []),
            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=self.log, cwd=REPO, env=env)
        import gevent
        with gevent.Timeout(60, RuntimeError("the bare greenswitch app did not start")):
            if self.process.stdout.readline().strip() != b"ready":
                raise RuntimeError("the bare greenswitch app did not start; see %s" % log_path)

    @property
    def pid(self) -> int:
        return self.process.pid

    def stop(self) -> None:
        self.process.send_signal(signal.SIGKILL)   # it has nothing to save
        self.process.wait(timeout=10)
        self.log.close()


def write_service_config(folder: str, sim_port: int, sandbox_url: str, plan: Plan) -> dict:
    flows = os.path.join(folder, "flows")
    os.makedirs(flows, exist_ok=True)
    with open(os.path.join(flows, "bench_minimal.yaml"), "w", encoding="utf-8") as handle:
        handle.write(MINIMAL_FLOW)
    shutil.copy(os.path.join(REPO, "flows", "card_payment.yaml"), flows)
    listen, http = free_port(), free_port()
    config = {
        "listen": {"host": "127.0.0.1", "port": listen},
        "max_calls": max(2000, plan.hold * 2), "linger_seconds": 1,
        "flows": {"directory": "flows", "default": "bench_minimal"},
        "http": {"enabled": True, "host": "127.0.0.1", "port": http},
        "nodes": [{"name": "sim", "host": "127.0.0.1", "port": sim_port, "password": PASSWORD}],
        "gateways": [{"name": "sandbox", "type": "sandbox", "url": sandbox_url}],
        "store": {"path": "payments.sqlite"},
        "prompts": {"audio": "never"},
        "logging": {"level": "INFO" if plan.verbose else "WARNING"},
    }
    path = os.path.join(folder, "orchestrator.yaml")
    with open(path, "w", encoding="utf-8") as handle:
        yaml.safe_dump(config, handle)
    return {"path": path, "listen": listen, "http": http}


@dataclass
class Figures:
    """One load on one client in one run."""
    client_ms: float = 0.0
    sim_ms: float = 0.0
    events: float = 0.0
    kbytes: float = 0.0
    setup_p50: Optional[float] = None
    setup_p99: Optional[float] = None
    rate: float = 0.0
    rate_cores: Optional[float] = None    # % of a core the client used at that rate
    rate_per_core: Optional[float] = None  # its calls a CPU-second at that rate
    held: int = 0
    rss_per_call: Optional[float] = None
    hold_cpu: Optional[float] = None      # % of a core while the calls were held
    hold_placing: Optional[float] = None  # seconds the held calls took to place
    soak_fds: Optional[int] = None        # descriptors more after the soak than before (the
    #                                       gateway pool's connections up to its calls at once apart)
    soak_pool: Optional[int] = None       # connections kept alive to the gateway after the soak
    soak_rss: Optional[float] = None      # KiB resident after the soak, less before it
    soak_greenlets: Optional[int] = None  # greenlets alive after the soak, less before it
    calls: int = 0
    correct: int = 0
    hold_wanted: int = 0
    problems: List[str] = field(default_factory=list)


def reasons(calls: List[dict]) -> str:
    """Why the wrong calls of a batch were wrong, counted, with the timeline of the first call
    of each kind: `` (3: hung up by ... [0.045:answer ...])``."""
    counts: Dict[str, int] = {}
    example: Dict[str, str] = {}
    for call in calls:
        if not call["ok"]:
            why = call.get("why") or "?"
            counts[why] = counts.get(why, 0) + 1
            example.setdefault(why, call.get("timeline") or "")
    return tally({"%s [%s]" % (why, example[why]) if example[why] else why: n
                  for why, n in counts.items()})


def tally(counts: Dict[str, int]) -> str:
    if not counts:
        return ""
    ranked = sorted(counts.items(), key=lambda item: -item[1])
    return " (%s)" % "; ".join("%d: %s" % (n, why) for why, n in ranked)


def settled(pid: int, within: float = SETTLE_WITHIN) -> int:
    """Wait until ``pid``'s descriptors have not changed for a second (calls just hung up
    are still closing), at most ``within`` seconds; the count then."""
    deadline = time.monotonic() + within
    last, since = open_fds(pid), time.monotonic()
    while time.monotonic() < deadline and time.monotonic() - since < 1.0:
        time.sleep(0.1)
        now = open_fds(pid)
        if now != last:
            last, since = now, time.monotonic()
    return last


class Run:
    def __init__(self, sim: Simulator, addresses: Dict[str, tuple], pids: Dict[str, int],
                 plan: Plan, censuses: Optional[Dict[str, str]] = None,
                 gateway_port: Optional[int] = None) -> None:
        self.sim, self.addresses, self.pids, self.plan = sim, addresses, pids, plan
        self.censuses = censuses or {}     # client: the file its greenlet census is written to
        # the sandbox gateway's port: the client's connections to it are its keep-alive pool
        self.gateway = None if gateway_port is None else "tcp ESTABLISHED to :%d" % gateway_port

    def batch(self, client: str, kind: str, calls: int, concurrency: int,
              rate: Optional[float] = None) -> dict:
        # the simulator answers once every call is over: a long batch (a 10,000-call soak) is
        # given time in proportion, a call's few seconds for each round of `concurrency`
        timeout = BATCH_TIMEOUT + BATCH_ROUND_SECONDS * calls / max(1, concurrency)
        return self.sim.ask({"op": "calls", "address": self.addresses[client], "kind": kind,
                             "calls": calls, "concurrency": concurrency, "rate": rate},
                            timeout=timeout)

    def measure(self, client: str, kind: str) -> Figures:
        plan, figures = self.plan, Figures()
        calls = plan.calls if kind == "minimal" else plan.card_calls
        warm = self.batch(client, kind, plan.warmup, plan.concurrency)["calls"]
        pid = self.pids[client]
        client_before, sim_before = cpu_seconds(pid), cpu_seconds(self.sim.pid)
        result = self.batch(client, kind, calls, plan.concurrency)["calls"]
        figures.client_ms = (cpu_seconds(pid) - client_before) * 1000 / calls
        figures.sim_ms = (cpu_seconds(self.sim.pid) - sim_before) * 1000 / calls
        every = warm + result
        figures.calls, figures.correct = len(every), sum(1 for c in every if c["ok"])
        figures.events = statistics.mean(c["events"] for c in result)
        figures.kbytes = statistics.mean(c["bytes"] for c in result) / 1000
        setups = [c["setup"] for c in result if c["setup"] is not None]
        figures.setup_p50, figures.setup_p99 = percentile(setups, 0.5), percentile(setups, 0.99)
        unloaded = statistics.median(c["duration"] for c in result)
        figures.rate = self.ramp(client, kind, unloaded, figures)
        figures.hold_wanted = plan.hold
        figures.held, figures.rss_per_call = self.hold(client, kind, figures)
        if self.plan.soak:
            self.soak(client, kind, figures)
        return figures

    def soak(self, client: str, kind: str, figures: Figures) -> None:
        """``plan.soak`` calls one after another (``soak_concurrency`` at once), then what the client
        kept: descriptors (sockets, files), greenlets and resident memory, against before the
        soak. A descriptor left per call is a leaked socket; the memory is read after the
        client has had a moment to let the calls go.

        The connections kept to the gateway are its keep-alive pool, not a leak, as long as
        there are no more of them than calls at once: the pool grows to the most requests that
        were ever out together, which a run cannot fix in advance. More than that is a leak."""
        pid = self.pids[client]
        at_once = self.plan.soak_concurrency or self.plan.concurrency
        settled(pid)     # the hold's calls let go first: their teardown is not the soak's
        fds_before, rss_before, kinds_before = open_fds(pid), rss_kib(pid), fd_kinds(pid)
        greenlets_before = self._greenlets(client)
        result = self.batch(client, kind, self.plan.soak, at_once)["calls"]
        wrong = sum(1 for c in result if not c["ok"])
        figures.calls += len(result)
        figures.correct += len(result) - wrong
        deadline = time.monotonic() + SOAK_SETTLE
        while self._left(pid, kinds_before, at_once) and time.monotonic() < deadline:
            time.sleep(0.2)
        left = self._left(pid, kinds_before, at_once)
        figures.soak_fds = sum(left.values())
        figures.soak_pool = fd_kinds(pid).get(self.gateway, 0) if self.gateway else None
        figures.soak_rss = float(rss_kib(pid) - rss_before)
        if greenlets_before is not None:
            after = self._greenlets(client)
            while after is not None and after > greenlets_before and time.monotonic() < deadline:
                time.sleep(0.2)
                after = self._greenlets(client)
            figures.soak_greenlets = None if after is None else after - greenlets_before
            if figures.soak_greenlets and figures.soak_greenlets > 0:
                figures.problems.append("soak: %+d greenlets alive after it" % figures.soak_greenlets)
        if figures.soak_fds > 0:
            figures.problems.append("soak: %d descriptors left open%s" % (
                figures.soak_fds, tally(left)))
        if wrong:
            figures.problems.append("soak: %d of %d calls not correct%s" % (
                wrong, len(result), reasons(result)))

    def _left(self, pid: int, before: Dict[str, int], at_once: int) -> Dict[str, int]:
        """The descriptors there are more of than before the soak, the gateway pool's
        connections up to ``at_once`` apart."""
        now = fd_kinds(pid)
        more = grown(before, now)
        if self.gateway in more:
            within = min(more[self.gateway], max(0, at_once - before.get(self.gateway, 0)))
            more[self.gateway] -= within
            if not more[self.gateway]:
                del more[self.gateway]
        return more

    def _greenlets(self, client: str) -> Optional[int]:
        path = self.censuses.get(client)
        return None if path is None else greenlet_census.ask(self.pids[client], path)

    def ramp(self, client: str, kind: str, unloaded: float, figures: Figures) -> float:
        best = 0.0
        pid = self.pids[client]
        for rate in self.plan.rates:
            count = max(2, int(rate * self.plan.ramp_seconds))
            started, cpu_before = time.monotonic(), cpu_seconds(pid)
            answer = self.batch(client, kind, count, count, rate=rate)
            result = answer["calls"]
            cpu, wall = cpu_seconds(pid) - cpu_before, time.monotonic() - started
            wrong = sum(1 for c in result if not c["ok"])
            stretched = statistics.median(c["duration"] for c in result) > unloaded * self.plan.max_stretch
            behind = max(c["late"] for c in result) > max(0.1, 1.0 / rate)
            if wrong or stretched or behind:
                # past the client's capacity calls fail or stretch: that ends the ramp (the
                # step is named, its calls are not counted among the load's correct calls)
                figures.problems.append("ramp ended at %g/s: %d of %d calls not correct%s%s%s" % (
                    rate, wrong, len(result), ", durations stretched" if stretched else "",
                    ", placing fell behind (the simulator's longest garbage collection: %.0f ms)"
                    % (answer.get("gc", 0.0) * 1000) if behind else "", reasons(result)))
                break
            figures.calls += len(result)
            figures.correct += len(result)
            best = rate
            # what a core of the client would take at this rate: its calls over its CPU-seconds
            # (the step's wall time holds the last calls' tails, so the share is a lower bound)
            figures.rate_cores = 100 * cpu / wall if wall > 0 else None
            figures.rate_per_core = len(result) / cpu if cpu > 0 else None
        return best

    def hold(self, client: str, kind: str, figures: Figures):
        pid = self.pids[client]
        idle = rss_kib(pid)
        answer = self.sim.ask({"op": "hold", "address": self.addresses[client], "kind": kind,
                               "calls": self.plan.hold, "seconds": self.plan.hold_seconds})
        held, figures.hold_placing = int(answer["held"]), float(answer["placing"])
        during = rss_kib(pid)
        before, began = cpu_seconds(pid), time.monotonic()
        time.sleep(HOLD_IDLE)      # every call in its prompt: what holding alone costs
        figures.hold_cpu = (cpu_seconds(pid) - before) / (time.monotonic() - began) * 100
        self.sim.ask({"op": "release"})
        if held < self.plan.hold:
            figures.problems.append("held %d of %d calls%s" % (
                held, self.plan.hold, tally(answer.get("why") or {})))
        return held, (during - idle) / held if held else None


def run(plan: Plan, workdir: Optional[str] = None) -> Dict[str, Dict[str, List[Figures]]]:
    """Every run of every load on every client: ``{load: {client: [Figures per run]}}``."""
    own = workdir is None
    folder = workdir or tempfile.mkdtemp(prefix="compare-bench-")
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))   # the children inherit it
    sandbox = SandboxGateway()
    sandbox.max_connections = 512
    sandbox.start()
    sim = service = bare = None
    results: Dict[str, Dict[str, List[Figures]]] = {load: {c: [] for c in CLIENTS} for load in LOADS}
    try:
        sim = Simulator(os.path.join(folder, "simulator.log"))
        config = write_service_config(folder, sim.inbound_port, sandbox.url, plan)
        censuses = {client: os.path.join(folder, "%s.greenlets" % client) for client in CLIENTS}
        service = ServiceProcess(config["path"], config["http"], os.path.join(folder, "service.log"),
                                 launcher=["-m", "bench.greenlet_census", censuses["service"]])
        service.start(ready_within=60)
        bare_port = free_port()
        bare = BareApp(bare_port, os.path.join(folder, "bare.log"), census=censuses["bare"])
        addresses = {"service": ("127.0.0.1", config["listen"]), "bare": ("127.0.0.1", bare_port)}
        pids = {"service": service.pid, "bare": bare.pid}
        measuring = Run(sim, addresses, pids, plan, censuses, gateway_port=sandbox.port)
        for _ in range(plan.runs):
            for load in LOADS:
                for client in CLIENTS:
                    if load == "card" and client == "bare":
                        continue
                    results[load][client].append(measuring.measure(client, load))
    finally:
        if bare is not None:
            bare.stop()
        if service is not None and service.pid is not None:
            try:
                service.stop(signal.SIGTERM)
            except Exception:
                service.stop(signal.SIGKILL)
        if sim is not None:
            sim.stop()
        sandbox.stop()
        if own:
            shutil.rmtree(folder, ignore_errors=True)
    return results


ROWS = [   # (label, attribute, format)
    ("client CPU ms/call", "client_ms", "%.2f"),
    ("simulator CPU ms/call", "sim_ms", "%.2f"),
    ("events/call from switch", "events", "%.1f"),
    ("KB/call from switch", "kbytes", "%.1f"),
    ("setup p50 ms", "setup_p50", "ms"),
    ("setup p99 ms", "setup_p99", "ms"),
    ("max rate all correct /s", "rate", "%.0f"),
    ("% core at max rate", "rate_cores", "%.0f"),
    ("calls/s a core at max rate", "rate_per_core", "%.0f"),
    ("calls held", "held", "%d"),
    ("RSS KiB/held call", "rss_per_call", "%.1f"),
    ("CPU % core while holding", "hold_cpu", "%.1f"),
    ("s to place the held calls", "hold_placing", "%.1f"),
    ("fds left after soak", "soak_fds", "%d"),
    ("gateway conns after soak", "soak_pool", "%d"),
    ("RSS KiB grown after soak", "soak_rss", "%.0f"),
    ("greenlets left after soak", "soak_greenlets", "%d"),
]


def _fmt(value: Optional[float], form: str) -> str:
    if value is None:
        return "n/a"
    if form == "ms":
        return "%.1f" % (value * 1000)
    return form % value


def spread(values: List[Optional[float]], form: str) -> str:
    """min / median / max of the runs' values; one value when there was one run."""
    known = [v for v in values if v is not None]
    if not known:
        return "-" if not values else "n/a"
    if len(known) == 1:
        return _fmt(known[0], form)
    return " / ".join(_fmt(v, form) for v in (min(known), statistics.median(known), max(known)))


def report(plan: Plan, results: Dict[str, Dict[str, List[Figures]]]) -> List[str]:
    lines = ["compare bench: %d run(s); per run and load %d measured calls (card %d), %d at once; "
             "ramp %s calls/s, %g s a step, durations within %.0f%%; %d calls held; %d cores, "
             "load average %.1f"
             % (plan.runs, plan.calls, plan.card_calls, plan.concurrency,
                ",".join("%g" % r for r in plan.rates), plan.ramp_seconds,
                (plan.max_stretch - 1) * 100, plan.hold,
                os.cpu_count() or 0, os.getloadavg()[0]),
             "figures: min / median / max over the runs; ratio = service / bare, within each run",
             "%-8s %-26s %-26s %-26s %-20s" % ("load", "figure", "service", "bare greenswitch",
                                               "ratio")]
    for load in LOADS:
        service, bare = results[load]["service"], results[load]["bare"]
        for label, attribute, form in ROWS:
            mine = [getattr(f, attribute) for f in service]
            theirs = [getattr(f, attribute) for f in bare]
            ratios = [a / b for a, b in zip(mine, theirs) if a is not None and b]
            lines.append("%-8s %-26s %-26s %-26s %-20s" % (
                load, label, spread(mine, form), spread(theirs, form) if bare else "-",
                spread(ratios, "%.2f") if ratios else "-"))
    for load in LOADS:
        for client in CLIENTS:
            for index, figures in enumerate(results[load][client]):
                lines.append("correct: %s %s run %d: %d of %d calls" % (
                    load, client, index + 1, figures.correct, figures.calls))
                lines += ["  %s" % problem for problem in figures.problems]
    return lines


def all_correct(results: Dict[str, Dict[str, List[Figures]]]) -> bool:
    """Every call correct, every call held, and nothing left behind by the soak."""
    return all(f.correct == f.calls and f.held == f.hold_wanted and (f.soak_fds or 0) <= 0
               and (f.soak_greenlets or 0) <= 0
               for load in results.values() for runs in load.values() for f in runs)


def run_freeswitch(plan: Plan, binary: str, sounds: Optional[str],
                   workdir: Optional[str] = None) -> Dict[str, Dict[str, List[SwitchFigures]]]:
    """The minimal call and the card payment on a real FreeSWITCH (bench/fs_load.py):
    ``{load: {client: [SwitchFigures per run]}}``, the bare app's card list empty."""
    own = workdir is None
    folder = workdir or tempfile.mkdtemp(prefix="compare-bench-fs-")
    sandbox = SandboxGateway()
    sandbox.max_connections = 512
    sandbox.start()
    try:
        return run_on_switch(plan, folder, sandbox.url, binary, sounds, BareApp)
    finally:
        sandbox.stop()
        if own:
            shutil.rmtree(folder, ignore_errors=True)


FS_LOADS = (("minimal", "freeswitch"), ("card", "fs-card"))    # (load, its label in the table)
FS_ROWS = [
    ("client CPU ms/call", "client_ms", "%.2f"),
    ("switch CPU ms/call", "switch_ms", "%.2f"),
    ("client/switch CPU", "share", "%.3f"),
    ("events/call from switch", "events", "%.1f"),
    ("KB/call from switch", "kbytes", "%.1f"),
    ("events/call to watcher", "watched", "%.1f"),
    ("setup p50 ms", "setup_p50", "ms"),
    ("setup p99 ms", "setup_p99", "ms"),
]
FS_TARGET = 0.10     # the issue's: the service's CPU per call at most 10% of the switch's


def report_freeswitch(plan: Plan, results: Dict[str, Dict[str, List[SwitchFigures]]],
                      version: str = "") -> List[str]:
    lines = ["on FreeSWITCH %s: %d run(s); per run %d minimal calls (card %d), %d at once, placed "
             "at most %g a second (the conf's sessions-per-second), each client on a switch of "
             "its own; load average %.1f"
             % (version or "(version unknown)", plan.runs, plan.calls, plan.card_calls,
                plan.concurrency, placing_rate(SHIPPED_CONF), os.getloadavg()[0]),
             "switch CPU = the FreeSWITCH process's (every thread) over the same calls; "
             "ratio = service / bare, within each run",
             "%-10s %-24s %-26s %-26s %-20s" % ("load", "figure", "service", "bare greenswitch",
                                                "ratio")]
    for load, label in FS_LOADS:
        service, bare = results[load]["service"], results[load]["bare"]
        for name, attribute, form in FS_ROWS:
            mine = [getattr(f, attribute) for f in service]
            theirs = [getattr(f, attribute) for f in bare]
            ratios = [a / b for a, b in zip(mine, theirs) if a is not None and b]
            lines.append("%-10s %-24s %-26s %-26s %-20s" % (
                label, name, spread(mine, form), spread(theirs, form) if bare else "-",
                spread(ratios, "%.2f") if ratios else "-"))
    for load, label in FS_LOADS:
        shares = [f.share for f in results[load]["service"] if f.share is not None]
        if shares:
            lines.append("%s: the service's CPU per call is %s%% of the switch's (target <= %d%%)"
                         % (label, spread([s * 100 for s in shares], "%.1f"), FS_TARGET * 100))
    for load, label in FS_LOADS:
        for client in CLIENTS:
            for index, figures in enumerate(results[load][client]):
                lines.append("correct: %s %s run %d: %d of %d calls" % (
                    label, client, index + 1, figures.correct, figures.calls))
                lines += ["  %s" % problem for problem in figures.problems]
    return lines


def all_correct_freeswitch(results: Dict[str, Dict[str, List[SwitchFigures]]]) -> bool:
    return all(f.calls > 0 and f.correct == f.calls
               for load in results.values() for runs in load.values() for f in runs)


def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.compare",
                                     description=(__doc__ or "").split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="a few calls of each: a smoke run")
    parser.add_argument("--runs", type=int, help="repeated runs (default 3; quick 1)")
    parser.add_argument("--calls", type=int, help="measured minimal calls per run (default 200)")
    parser.add_argument("--card-calls", type=int, help="measured card payments per run (default 100)")
    parser.add_argument("--concurrency", type=int, help="calls at once while measuring (default 10)")
    parser.add_argument("--rates", help="the ramp's rates, comma separated (default 5,...,320)")
    parser.add_argument("--ramp-seconds", type=float, help="seconds a ramp step (default 3)")
    parser.add_argument("--max-stretch", type=float, help="a ramp step's median call duration "
                        "may be at most this times an unloaded call's (default 1.10)")
    parser.add_argument("--hold", type=int, help="calls held at once (default 1000)")
    parser.add_argument("--hold-seconds", type=float, help="how long after the last held call is "
                        "placed every one may take to be in its prompt (default 30); each is held "
                        "until all are measured")
    parser.add_argument("--soak", type=int, help="then this many calls one batch after another, "
                        "and the descriptors and memory each client kept (default none; quick 20)")
    parser.add_argument("--soak-concurrency", type=int,
                        help="calls at once in the soak (default: --concurrency)")
    parser.add_argument("--freeswitch", action="store_true",
                        help="then the minimal call and the card payment on a real FreeSWITCH "
                             "(FREESWITCH_BIN, sounds from FREESWITCH_SOUNDS)")
    parser.add_argument("--keep", metavar="DIR", help="work in DIR and keep it (configs, logs)")
    parser.add_argument("--verbose", action="store_true", help="the service logs at INFO")
    args = parser.parse_args(argv)
    settings = dict(QUICK) if args.quick else {}
    for name in ("runs", "calls", "card_calls", "concurrency", "ramp_seconds", "hold",
                 "hold_seconds", "soak", "soak_concurrency"):
        value = getattr(args, name)
        if value is not None:
            if value <= 0:
                parser.error("--%s must be positive" % name.replace("_", "-"))
            settings[name] = value
    if args.max_stretch is not None:
        if args.max_stretch < 1:
            parser.error("--max-stretch must be at least 1")
        settings["max_stretch"] = args.max_stretch
    if args.rates:
        try:
            settings["rates"] = tuple(float(r) for r in args.rates.split(","))
        except ValueError:
            parser.error("--rates: numbers separated by commas, such as 5,10,20")
        if any(r <= 0 for r in settings["rates"]):
            parser.error("--rates must be positive")
    binary = os.environ.get("FREESWITCH_BIN")
    if args.freeswitch and not binary:
        parser.error("--freeswitch needs FREESWITCH_BIN (the freeswitch binary to start)")
    plan = Plan(verbose=args.verbose, **settings)
    if args.keep:
        os.makedirs(args.keep, exist_ok=True)
    results = run(plan, args.keep)
    lines = report(plan, results)
    print("\n".join(lines), flush=True)
    correct = all_correct(results)
    if args.freeswitch:
        fs_results = run_freeswitch(plan, binary, os.environ.get("FREESWITCH_SOUNDS"), args.keep)
        fs_lines = report_freeswitch(plan, fs_results, switch_version(binary))
        print("\n".join(fs_lines), flush=True)
        correct = correct and all_correct_freeswitch(fs_results)
    return 0 if correct else 1


if __name__ == "__main__":
    sys.exit(main())
