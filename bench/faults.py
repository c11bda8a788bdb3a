"""The fault bench: card payments through a real service process under every fault the books
must survive, then the books checked against what the gateway truly charged.

    .venv/bin/python -m bench.faults                       # 1,000 runs, the figures, exit 0/1
    .venv/bin/python -m bench.faults --runs 200 --kills 8 --seed 7

Each run is one simulated call (the FreeSWITCH simulator, in this process) to the service
(``orchestrator run``, a separate process, restarted after each kill) that keys a test card of
the sandbox gateway (in this process): the card picks the gateway's fault (a 500; a load
balancer's 502 after the acquirer charged, or its 504 while the acquirer goes on; a lagging or
slow status endpoint; a connection reset before or after charging; an answer that hangs or
stays pending; plain approvals and declines), and some callers hang up while the gateway is
asked. Meanwhile the service is killed at random moments: SIGKILL at random times, SIGKILL
from inside the gateway's request handler (a death mid-request: the request has left, the
answer never comes back), and SIGTERM with a grace shorter than the slowest gateway. After
each kill it is started again on the same store; now and then ``orchestrator reconcile`` runs
beside it. When the runs are done it is stopped, the gateway's lags are let pass, and a last
``orchestrator reconcile --cancel-after 0`` settles what is left. Then ``books.audit``.

Exit status 0 when the books are exact (``books.Books.exact``), 1 otherwise; the figures are
printed either way. The make-test portion runs it small (tests/bench/test_faults.py).
"""
from gevent import monkey

monkey.patch_all()

import argparse  # noqa: E402
import os  # noqa: E402
import random  # noqa: E402
import shutil  # noqa: E402
import signal  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from collections import Counter  # noqa: E402
from dataclasses import dataclass, field  # noqa: E402
from typing import Dict, List, Optional, Tuple  # noqa: E402

import gevent  # noqa: E402
import gevent.event  # noqa: E402
import gevent.pool  # noqa: E402
import yaml  # noqa: E402

from bench.card_flow import card_flow, keying_steps  # noqa: E402
from bench.books import Books, audit, what_was_heard  # noqa: E402
from bench.service_process import ServiceProcess, free_port, run_reconcile  # noqa: E402
from orchestrator.payments.sandbox import SandboxGateway  # noqa: E402
from orchestrator.payments.sandbox_cards import card_for  # noqa: E402
from orchestrator.simulator import CallerScript, Switch  # noqa: E402
from orchestrator.store import PaymentStore  # noqa: E402

TIME_SCALE = 0.05
# The gateway's faults, by the sandbox card that makes them, and how often each is keyed.
FAULT_MIX: Tuple[Tuple[str, int], ...] = (
    ("approve", 16), ("insufficient_funds", 4), ("slow", 5), ("charge-then-hang", 7),
    ("charge-then-stall", 6), ("http-500", 7), ("charge-then-502", 8), ("504-then-charge", 8),
    ("charge-then-502-lagging-status", 9), ("504-then-charge-lagging-status", 9),
    ("charge-then-502-slow-status", 7), ("charge-then-reset", 7), ("reset-before-charge", 7),
)
# The sandbox's clock for those faults (seconds), and the client's, as the service is configured.
SANDBOX = {"slow_seconds": 0.4, "hang_seconds": 1.2, "acquirer_seconds": 0.3,
           "lag_seconds": 1.5, "status_delay": 1.0}
CLIENT = {"connect_timeout": 2.0, "read_timeout": 0.5, "max_attempts": 2, "backoff": 0.05,
          "status_attempts": 2, "status_interval": 0.2}
SHUTDOWN_GRACE = 0.2
FLOW = card_flow("fault_payment")


@dataclass
class Plan:
    runs: int = 1000
    kills: int = 20              # service deaths: SIGKILL at random, SIGKILL mid-request, SIGTERM
    concurrency: int = 12
    seed: int = 11
    sigterm_share: float = 0.2
    mid_request_share: float = 0.35
    reconcile_every: int = 4     # restarts between two reconcile runs beside the service
    hangup_share: float = 0.1    # callers who hang up while the gateway is asked
    verbose: bool = False


@dataclass
class Figures:
    plan: Plan
    books: Books
    seconds: float
    sigkills: int = 0
    mid_request_kills: int = 0
    sigterms: int = 0
    restarts: int = 0
    reconcile_runs: int = 0
    by_fault: Counter = field(default_factory=Counter)
    heard: Counter = field(default_factory=Counter)
    cut_by_a_kill: int = 0
    backlog_metric: Optional[float] = None    # the service's gauge, before the last reconcile
    backlog_store: int = 0                    # what the store said then

    def lines(self) -> List[str]:
        b = self.books
        return [
            "fault runs               %d  (%d concurrent; seed %d)" % (
                self.plan.runs, self.plan.concurrency, self.plan.seed),
            "service deaths           %d SIGKILL (%d of them mid-request), %d SIGTERM past a "
            "%.1fs grace; %d restarts; %d reconcile runs beside it, 1 after" % (
                self.sigkills, self.mid_request_kills, self.sigterms, SHUTDOWN_GRACE,
                self.restarts, self.reconcile_runs),
            "calls cut by a death     %d" % self.cut_by_a_kill,
            "gateway faults keyed     " + ", ".join("%s %d" % kv for kv in sorted(self.by_fault.items())),
            "callers heard            " + ", ".join("%s %d" % kv for kv in sorted(self.heard.items())),
            "backlog before the last reconcile: metric %s, store %d" % (
                "n/a" if self.backlog_metric is None else "%d" % self.backlog_metric,
                self.backlog_store),
            "gateway charges          %d (%d standing, %d reversed by a cancel)" % (
                b.charges, b.standing, b.reversed),
            "approved records         %d  (records by status: %s)" % (
                b.approved, ", ".join("%s %d" % kv for kv in sorted(b.statuses.items()))),
            "charges per approved     %.3f" % b.charges_per_approved,
            "double charges           %d" % b.double_charges,
            "hidden charges           %d  (records saying not charged, or none, over a charge)"
            % b.hidden_charges,
            "approved, not charged    %d" % b.approved_not_charged,
            "callers told wrong       %d" % b.told_wrong,
            "left flagged / pending   %d / %d" % (b.still_flagged, b.still_pending),
            "time                     %.1f s" % self.seconds,
            "books                    %s" % ("EXACT" if b.exact else "WRONG"),
        ] + ["  " + p for p in b.problems[:20]]


class Bench:
    def __init__(self, plan: Plan, workdir: str) -> None:
        self.plan = plan
        self.random = random.Random(plan.seed)
        self.workdir = workdir
        self.log_path = os.path.join(workdir, "service.log")
        self.sandbox = SandboxGateway(on_authorization=self._authorization_arrives, **SANDBOX)
        self.sandbox.max_connections = 512
        self.switch = Switch(password="fault-bench", time_scale=TIME_SCALE)
        self.listen_port, self.http_port = free_port(), free_port()
        self.config_path = os.path.join(workdir, "orchestrator.yaml")
        self.service = ServiceProcess(self.config_path, self.http_port, self.log_path)
        self.up = gevent.event.Event()
        self.kill_mid_request = False
        self.killed_mid_request = gevent.event.Event()
        self.heard: Dict[str, List[str]] = {}
        self.placed = 0
        self.figures_so_far = Counter()

    # -- the world ---------------------------------------------------------------------------
    def _write_config(self) -> None:
        flows = os.path.join(self.workdir, "flows")
        os.makedirs(flows, exist_ok=True)
        with open(os.path.join(flows, "fault_payment.yaml"), "w", encoding="utf-8") as handle:
            handle.write(FLOW)
        config = {
            "listen": {"host": "127.0.0.1", "port": self.listen_port},
            "max_calls": self.plan.concurrency * 2, "linger_seconds": 1,
            "timeouts": {"shutdown_grace": SHUTDOWN_GRACE},
            "flows": {"directory": "flows", "default": "fault_payment"},
            "http": {"enabled": True, "host": "127.0.0.1", "port": self.http_port},
            "gateways": [dict(CLIENT, name="sandbox", type="sandbox", url=self.sandbox.url)],
            "store": {"path": "payments.sqlite"},
            "prompts": {"audio": "never"},
            "logging": {"level": "INFO" if self.plan.verbose else "WARNING"},
        }
        with open(self.config_path, "w", encoding="utf-8") as handle:
            yaml.safe_dump(config, handle)

    def _authorization_arrives(self, key: str) -> None:
        """The sandbox heard an authorization: when armed, the service dies right now, with
        the request sent and its answer never to be read."""
        if self.kill_mid_request:
            self.kill_mid_request = False
            self.service.send(signal.SIGKILL)
            self.killed_mid_request.set()

    # -- the runs -------------------------------------------------------------------------------
    def _caller(self, number: str) -> CallerScript:
        steps = keying_steps(number)
        if self.random.random() < self.plan.hangup_share:
            steps += [{"wait": self.random.uniform(0, 10)}, {"hangup": {}}]
        return CallerScript.from_data({"steps": steps, "max_duration": 2000})

    def _one_run(self, index: int) -> None:
        fault = self.random.choices([f for f, _ in FAULT_MIX], [w for _, w in FAULT_MIX])[0]
        self.figures_so_far["fault:" + fault] += 1
        reference = "FAULT-%05d" % index
        variables = {"pay_amount": str(self.random.randint(100, 99999)), "pay_currency": "EUR",
                     "pay_reference": reference}
        call = self.switch.place_call(("127.0.0.1", self.listen_port),
                                      caller=self._caller(card_for(fault)), variables=variables)
        record = call.wait(timeout=120)
        heard = [h.arg for h in record.heard]
        self.heard[reference] = heard
        self.figures_so_far["heard:" + what_was_heard(heard)] += 1
        if record.fallback_reached:
            self.figures_so_far["cut"] += 1

    def _place_all(self) -> None:
        slots = gevent.pool.Pool(self.plan.concurrency)
        for index in range(1, self.plan.runs + 1):
            slots.wait_available()
            self.up.wait()          # no call is placed while the service is being restarted
            slots.spawn(self._one_run, index)
            self.placed = index
        slots.join(raise_error=True)

    # -- the deaths -----------------------------------------------------------------------------
    def _kinds_of_death(self) -> List[str]:
        """Which death each kill is, in a shuffled order: the shares of the plan, each kind at
        least once when there are three kills or more."""
        kills = self.plan.kills
        mid = max(1 if kills >= 3 else 0, round(kills * self.plan.mid_request_share))
        term = max(1 if kills >= 3 else 0, round(kills * self.plan.sigterm_share))
        kinds = ["mid-request"] * mid + ["sigterm"] * term
        kinds = (kinds + ["sigkill"] * kills)[:kills]
        self.random.shuffle(kinds)
        return kinds

    def _kill_and_restart(self, kills_done: int, kind: str) -> None:
        if kind == "mid-request":
            self.killed_mid_request.clear()
            self.kill_mid_request = True
            if not self.killed_mid_request.wait(timeout=10):
                self.kill_mid_request = False     # no authorization came: die at this moment
                self.service.send(signal.SIGKILL)
            else:
                self.figures_so_far["mid-request"] += 1
            self.up.clear()
            self.service.stop(signal.SIGKILL)
            self.figures_so_far["sigkill"] += 1
        elif kind == "sigterm":
            self.up.clear()
            self.service.stop(signal.SIGTERM)
            self.figures_so_far["sigterm"] += 1
        else:
            self.up.clear()
            self.service.stop(signal.SIGKILL)
            self.figures_so_far["sigkill"] += 1
        self.service.start()
        self.figures_so_far["restarts"] += 1
        self.up.set()
        if (kills_done + 1) % self.plan.reconcile_every == 0:
            # beside the running service: only what cannot be in flight any more
            run_reconcile(self.config_path, older_than=10, cancel_after=3600,
                          log_path=self.log_path)
            self.figures_so_far["reconcile"] += 1

    def _deaths(self, placing: gevent.Greenlet) -> None:
        """The kills, spread at random over the runs (each once that many calls were placed,
        then a random moment later, so that calls are caught at every stage)."""
        last = max(1, self.plan.runs - self.plan.concurrency)
        points = sorted(self.random.sample(range(1, last + 1), min(self.plan.kills, last)))
        kinds = self._kinds_of_death()
        for done, point in enumerate(points):
            while self.placed < point and not placing.dead:
                gevent.sleep(0.02)
            if placing.dead:
                break
            gevent.sleep(self.random.uniform(0, 1.0))
            self._kill_and_restart(done, kinds[done])

    # -- the whole bench ------------------------------------------------------------------------
    def run(self) -> Figures:
        started = time.monotonic()
        self.sandbox.start()
        self.switch.start()
        try:
            self._write_config()
            self.service.start()
            self.up.set()
            placing = gevent.spawn(self._place_all)
            deaths = gevent.spawn(self._deaths, placing)
            placing.join()
            deaths.join()          # it stops once the runs are placed and its last restart is done
            for greenlet in (placing, deaths):
                if not greenlet.successful():
                    raise RuntimeError("the bench failed: %r" % (greenlet.exception,))
            backlog_metric = self.service.metric("payivr_reconciliation_backlog_payments",
                                                 state="unknown")
            backlog_store = len(PaymentStore(os.path.join(self.workdir, "payments.sqlite"))
                                .list(needs_reconciliation=True))
            self.service.stop(signal.SIGTERM)
            # every lag, hang and late charge of the gateway is over before the last look
            gevent.sleep(max(SANDBOX.values()) + 1.0)
            run_reconcile(self.config_path, older_than=0, cancel_after=0, log_path=self.log_path)
            store = PaymentStore(os.path.join(self.workdir, "payments.sqlite"))
            books = audit(self.sandbox.charges, store.list(), self.heard)
            store.close()
        finally:
            if self.service.pid is not None:
                self.service.stop(signal.SIGKILL)
            self.switch.stop()
            self.sandbox.stop()
        so_far = self.figures_so_far
        return Figures(
            self.plan, books, time.monotonic() - started, sigkills=so_far["sigkill"],
            mid_request_kills=so_far["mid-request"], sigterms=so_far["sigterm"],
            restarts=so_far["restarts"], reconcile_runs=so_far["reconcile"],
            by_fault=Counter({k[6:]: v for k, v in so_far.items() if k.startswith("fault:")}),
            heard=Counter({k[6:]: v for k, v in so_far.items() if k.startswith("heard:")}),
            cut_by_a_kill=so_far["cut"], backlog_metric=backlog_metric,
            backlog_store=backlog_store)


def run(plan: Plan, workdir: Optional[str] = None) -> Figures:
    """Run the bench in ``workdir`` (a temporary folder, removed after, when None)."""
    own = workdir is None
    folder = workdir or tempfile.mkdtemp(prefix="fault-bench-")
    try:
        return Bench(plan, folder).run()
    finally:
        if own:
            shutil.rmtree(folder, ignore_errors=True)


def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.faults", description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=Plan.runs)
    parser.add_argument("--kills", type=int, default=Plan.kills)
    parser.add_argument("--concurrency", type=int, default=Plan.concurrency)
    parser.add_argument("--seed", type=int, default=Plan.seed)
    parser.add_argument("--keep", metavar="DIR", help="work in DIR and keep it (store, config, log)")
    parser.add_argument("--verbose", action="store_true", help="the service logs at INFO")
    args = parser.parse_args(argv)
    plan = Plan(runs=args.runs, kills=args.kills, concurrency=args.concurrency, seed=args.seed,
                verbose=args.verbose)
    if args.keep:
        os.makedirs(args.keep, exist_ok=True)
    figures = run(plan, args.keep)
    print("\n".join(figures.lines()), flush=True)
    return 0 if figures.books.exact else 1


if __name__ == "__main__":
    sys.exit(main())
