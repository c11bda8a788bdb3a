"""The outbox bench: a tenant's receiver down for a 10-minute outage, compressed, while calls
pay; the service SIGKILLed halfway and started again; then the receiver comes back.

    .venv/bin/python -m bench.outbox_outage                   # 100x: a 6 s outage, 60 calls
    .venv/bin/python -m bench.outbox_outage --compress 50 --calls 120 --concurrency 6

Time is compressed by ``--compress`` (100 by default): the outage (600 s) and the receiver's
backoff (base 0.5 s, cap 300 s, as the defaults) are divided by it, through the receiver's own
config keys, so the service retries as often, relative to the outage, as it would for real.
The service is ``orchestrator run`` in a process of its own (``bench/service_process.py``) on
an SQLite store; the callers (the FreeSWITCH simulator) and the sandbox gateway are in this
process, and so is the receiver: a gevent WSGI server that checks every signature and keeps
every event id it answered 200 for.

What is printed: events stored (outbox rows), taken (distinct ids answered 200), lost (stored
and never taken, plus gaps in seq: events the service numbered and never stored), re-sent
after delivery (a request for an id already answered 200: at least once delivery, a receiver
de-duplicates them by id), bad signatures, and the drain time (from the receiver's return to
the last pending row delivered). Exit 0 when nothing was lost and every signature held.
"""
from gevent import monkey

monkey.patch_all()

import argparse  # noqa: E402
import json  # noqa: E402
import os  # noqa: E402
import shutil  # noqa: E402
import signal  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from dataclasses import dataclass, field  # noqa: E402
from typing import Dict, List, Optional  # noqa: E402

import gevent  # noqa: E402
import gevent.pool  # noqa: E402
import yaml  # noqa: E402
from orchestrator.wsgi_server import PromptWSGIServer as WSGIServer  # noqa: E402

from bench.card_flow import card_flow, keying_steps  # noqa: E402
from bench.service_process import ServiceProcess, free_port  # noqa: E402
from orchestrator.callbacks.outbox import DELIVERED, PENDING, Outbox  # noqa: E402
from orchestrator.payments.sandbox import SandboxGateway  # noqa: E402
from orchestrator.payments.signing import verify  # noqa: E402
from orchestrator.simulator import CallerScript, Switch  # noqa: E402
from orchestrator.store import PaymentStore  # noqa: E402

SECRET = "outbox-bench-secret-0123456789"
OUTAGE_SECONDS = 600.0
BACKOFF_BASE, BACKOFF_CAP = 0.5, 300.0
TIME_SCALE = 0.05           # the simulated callers' prompts
CARD = ("4111111111111111", "1230", "737")
FLOW = card_flow("outage_payment")


@dataclass
class Plan:
    compress: float = 100.0
    calls: int = 60
    concurrency: int = 4
    drain_within: float = 120.0   # seconds the bench waits for the outbox to empty
    verbose: bool = False

    @property
    def outage(self) -> float:
        return OUTAGE_SECONDS / self.compress


@dataclass
class Figures:
    plan: Plan
    calls_ended: int = 0
    stored: int = 0
    taken: int = 0
    lost: int = 0
    seq_gaps: int = 0
    resent_after_delivery: int = 0
    requests: int = 0
    bad_signatures: int = 0
    pending_left: int = 0
    drain_seconds: Optional[float] = None
    killed_at: float = 0.0
    seconds: float = 0.0

    @property
    def sound(self) -> bool:
        return self.lost == 0 and self.bad_signatures == 0 and self.pending_left == 0

    def lines(self) -> List[str]:
        return [
            "outage                   %.0f s compressed %gx to %.1f s; SIGKILL and restart "
            "%.1f s into it" % (OUTAGE_SECONDS, self.plan.compress, self.plan.outage, self.killed_at),
            "calls paying             %d (%d at once)" % (self.calls_ended, self.plan.concurrency),
            "events stored            %d" % self.stored,
            "events taken             %d  (distinct ids answered 200)" % self.taken,
            "events lost              %d  (stored, never taken: %d; seq gaps: %d)" % (
                self.lost, self.lost - self.seq_gaps, self.seq_gaps),
            "re-sent after delivery   %d  (of %d requests)" % (self.resent_after_delivery,
                                                             self.requests),
            "bad signatures           %d" % self.bad_signatures,
            "drain after the return   %s" % ("%.2f s" % self.drain_seconds
                                             if self.drain_seconds is not None else "not drained"),
            "left pending             %d" % self.pending_left,
            "time                     %.1f s" % self.seconds,
            "outbox                   %s" % ("SOUND" if self.sound else "LOSSY"),
        ]


class Receiver:
    """The tenant's receiver: down (its port closed) until ``up()``, then 200 to everything."""

    def __init__(self) -> None:
        self.port = free_port()
        self.server: Optional[WSGIServer] = None
        self.answered: Dict[str, int] = {}     # event id -> 200s given
        self.requests = 0
        self.bad_signatures = 0
        self.resent_after_delivery = 0

    @property
    def url(self) -> str:
        return "http://127.0.0.1:%d/callbacks" % self.port

    def up(self) -> None:
        self.server = WSGIServer(("127.0.0.1", self.port), self._app, log=None, error_log=None)
        self.server.start()

    def down(self) -> None:
        if self.server is not None:
            self.server.stop(timeout=1)

    def _app(self, environ, start_response):   # type: ignore[no-untyped-def]
        body = environ["wsgi.input"].read(int(environ.get("CONTENT_LENGTH") or 0))
        self.requests += 1
        if not verify(SECRET, environ.get("HTTP_X_TIMESTAMP"), environ.get("HTTP_X_SIGNATURE"),
                      body):
            self.bad_signatures += 1
            start_response("401 Unauthorized", [("Content-Length", "0")])
            return [b""]
        event_id = json.loads(body)["event_id"]
        if event_id in self.answered:
            self.resent_after_delivery += 1
        self.answered[event_id] = self.answered.get(event_id, 0) + 1
        start_response("200 OK", [("Content-Length", "0")])
        return [b""]


class Bench:
    def __init__(self, plan: Plan, workdir: str) -> None:
        self.plan, self.workdir = plan, workdir
        self.receiver = Receiver()
        self.sandbox = SandboxGateway()
        self.switch = Switch(password="outbox-bench", time_scale=TIME_SCALE)
        self.listen_port, self.http_port = free_port(), free_port()
        self.config_path = os.path.join(workdir, "orchestrator.yaml")
        self.store_path = os.path.join(workdir, "payments.sqlite")
        self.service = ServiceProcess(self.config_path, self.http_port,
                                      os.path.join(workdir, "service.log"))
        self.up = gevent.event.Event()
        self.ended = 0

    def _write_config(self) -> None:
        flows = os.path.join(self.workdir, "flows")
        os.makedirs(flows, exist_ok=True)
        with open(os.path.join(flows, "outage_payment.yaml"), "w", encoding="utf-8") as handle:
            handle.write(FLOW)
        compress = self.plan.compress
        config = {
            "listen": {"host": "127.0.0.1", "port": self.listen_port},
            "max_calls": self.plan.concurrency * 2, "linger_seconds": 1,
            "flows": {"directory": "flows", "default": "outage_payment"},
            "http": {"enabled": True, "host": "127.0.0.1", "port": self.http_port},
            "gateways": [{"name": "sandbox", "type": "sandbox", "url": self.sandbox.url}],
            "store": {"path": "payments.sqlite"},
            "prompts": {"audio": "never"},
            "tenants": ["acme"],
            "agent_api": {"webhooks": {"acme": {
                "url": self.receiver.url, "secret": SECRET, "timeout": 2.0,
                "backoff_base": BACKOFF_BASE / compress, "backoff_cap": BACKOFF_CAP / compress}}},
            "logging": {"level": "INFO" if self.plan.verbose else "WARNING"},
        }
        with open(self.config_path, "w", encoding="utf-8") as handle:
            yaml.safe_dump(config, handle)

    def _one_call(self, index: int) -> None:
        number, expiry, code = CARD
        steps = keying_steps(number, expiry, code, spacing=0.02)
        call = self.switch.place_call(
            ("127.0.0.1", self.listen_port),
            caller=CallerScript.from_data({"steps": steps, "max_duration": 600}),
            variables={"pay_amount": str(1000 + index), "pay_currency": "EUR",
                       "pay_reference": "OUT-%04d" % index, "pay_tenant": "acme"})
        call.wait(timeout=120)
        self.ended += 1

    def _calls(self, until: float) -> None:
        """Calls placed one after another, ``concurrency`` at once, spread over the outage."""
        slots = gevent.pool.Pool(self.plan.concurrency)
        gap = self.plan.outage / max(1, self.plan.calls)
        for index in range(self.plan.calls):
            self.up.wait()
            slots.wait_available()
            slots.spawn(self._one_call, index)
            gevent.sleep(max(0.0, min(gap, until - time.monotonic())))
        slots.join(raise_error=True)

    def _pending(self) -> int:
        store = PaymentStore(self.store_path)
        try:
            return sum(1 for row in Outbox(store.backend).rows() if row.state == PENDING)
        finally:
            store.close()

    def run(self) -> Figures:
        figures = Figures(self.plan)
        started = time.monotonic()
        self.sandbox.start()
        self.switch.start()
        try:
            self._write_config()
            self.service.start()
            self.up.set()
            outage_starts = time.monotonic()
            outage_ends = outage_starts + self.plan.outage
            calling = gevent.spawn(self._calls, outage_ends)
            gevent.sleep(self.plan.outage / 2)
            self.up.clear()                     # no call placed while it is down
            self.service.stop(signal.SIGKILL)
            figures.killed_at = time.monotonic() - outage_starts
            self.service.start()
            self.up.set()
            gevent.sleep(max(0.0, outage_ends - time.monotonic()))
            calling.join()
            if not calling.successful():
                raise RuntimeError("the calls failed: %r" % (calling.exception,))
            back = time.monotonic()
            self.receiver.up()
            deadline = back + self.plan.drain_within
            while time.monotonic() < deadline:
                if self._pending() == 0:
                    figures.drain_seconds = time.monotonic() - back
                    break
                gevent.sleep(0.05)
            gevent.sleep(0.5)                   # a late second send, if any, would come now
            self.service.stop(signal.SIGTERM)
        finally:
            if self.service.pid is not None:
                self.service.stop(signal.SIGKILL)
            self.receiver.down()
            self.switch.stop()
            self.sandbox.stop()
        store = PaymentStore(self.store_path)
        rows = Outbox(store.backend).rows()
        store.close()
        seqs = sorted(row.seq for row in rows)
        figures.calls_ended = self.ended
        figures.stored = len(rows)
        taken = set(self.receiver.answered)
        figures.taken = len(taken & {row.id for row in rows})
        figures.seq_gaps = (seqs[-1] - len(seqs)) if seqs else 0
        figures.lost = sum(1 for row in rows if row.id not in taken) + figures.seq_gaps
        figures.pending_left = sum(1 for row in rows if row.state == PENDING)
        figures.resent_after_delivery = self.receiver.resent_after_delivery
        figures.requests = self.receiver.requests
        figures.bad_signatures = self.receiver.bad_signatures
        figures.seconds = time.monotonic() - started
        assert all(row.state in (PENDING, DELIVERED) or row.last_error for row in rows)
        return figures


def run(plan: Plan, workdir: Optional[str] = None) -> Figures:
    own = workdir is None
    folder = workdir or tempfile.mkdtemp(prefix="outbox-bench-")
    try:
        return Bench(plan, folder).run()
    finally:
        if own:
            shutil.rmtree(folder, ignore_errors=True)


def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.outbox_outage",
                                     description=__doc__.split("\n")[0])
    parser.add_argument("--compress", type=float, default=Plan.compress)
    parser.add_argument("--calls", type=int, default=Plan.calls)
    parser.add_argument("--concurrency", type=int, default=Plan.concurrency)
    parser.add_argument("--keep", metavar="DIR", help="work in DIR and keep it (store, config, log)")
    parser.add_argument("--verbose", action="store_true", help="the service logs at INFO")
    args = parser.parse_args(argv)
    if args.compress <= 0 or args.calls < 1 or args.concurrency < 1:
        parser.error("--compress must be above 0, --calls and --concurrency at least 1")
    plan = Plan(compress=args.compress, calls=args.calls, concurrency=args.concurrency,
                verbose=args.verbose)
    if args.keep:
        os.makedirs(args.keep, exist_ok=True)
    figures = run(plan, args.keep)
    print("\n".join(figures.lines()), flush=True)
    return 0 if figures.sound else 1


if __name__ == "__main__":
    sys.exit(main())
