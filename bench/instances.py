"""The instances bench: card payments through one or two real service processes, on SQLite and
on PostgreSQL, and how fast the store records them, all measured in one run.

    .venv/bin/python -m bench.instances                       # 300 calls a configuration
    .venv/bin/python -m bench.instances --calls 1000 --concurrency 24
    .venv/bin/python -m bench.instances --postgres-url postgresql://user@host/db
    .venv/bin/python -m bench.instances --pool-size 16        # store.pool_size of each instance

Each configuration gets a fresh store and fresh ``orchestrator run`` processes (the services,
separate processes as an operator runs them), each with a simulated FreeSWITCH of its own (in
this process: the node its inbound connection goes to, and the switch whose dialplan sends it
its calls). The calls are split between the instances in turn; each keys the sandbox gateway's
approving test card through the card-paying flow (collect the card, authorize, announce). The
configurations: SQLite with one instance; PostgreSQL with one instance; PostgreSQL with two
instances sharing one database. SQLite with two instances is not a supported configuration
(``SQLITE_SHARED`` says why): it is named, not measured.

Figures, per configuration: calls placed, callers who heard the approval, approved records in
the store, calls per second (calls over the time from the first call placed to the last one
ended), and the store's write latency, p50 and p99, read from the services' own
``payivr_store_write_seconds`` histogram (scraped from ``/metrics`` once the calls are done, all
instances summed): the time from a write's transaction start to its commit, for each payment
its number, its pending row (``begin``) and its outcome (``finish``). The quantiles are
interpolated within the histogram's buckets, as Prometheus's ``histogram_quantile`` does.

PostgreSQL: ``--postgres-url`` (or ``PAYIVR_TEST_POSTGRES``) names a server to use, on which
each configuration gets a schema of its own, dropped after; else a private throwaway server is
started the way the tests start theirs (tests/support/postgres.py) and removed after. Without
either, the PostgreSQL configurations print why they were not run.

Exit status 0 when every call of every configuration run is accounted for (heard approved and
recorded approved), 1 otherwise. The make-test portion runs it small (tests/bench/test_instances.py).
"""
from gevent import monkey

monkey.patch_all()

import argparse  # noqa: E402
import math  # noqa: E402
import os  # noqa: E402
import shutil  # noqa: E402
import signal  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from collections import Counter  # noqa: E402
from dataclasses import dataclass, field  # noqa: E402
from typing import Dict, List, Optional, Sequence, Tuple  # noqa: E402

import gevent  # noqa: E402
import gevent.pool  # noqa: E402
import requests  # noqa: E402
import yaml  # noqa: E402
from prometheus_client.parser import text_string_to_metric_families  # noqa: E402

from bench.card_flow import card_flow, keying_steps  # noqa: E402
from bench.books import what_was_heard  # noqa: E402
from bench.service_process import ServiceProcess, free_port  # noqa: E402
from orchestrator.payments.sandbox import SandboxGateway  # noqa: E402
from orchestrator.payments.sandbox_cards import card_for  # noqa: E402
from orchestrator.simulator import CallerScript, Switch  # noqa: E402
from orchestrator.store import PaymentStore, open_store  # noqa: E402

TIME_SCALE = 0.05            # the simulated prompts, 20 times faster than a real caller hears
CALL_TIMEOUT = 120.0
WRITES = ("number", "begin", "finish")     # a payment's writes, in the order the store makes them
SQLITE_SHARED = (
    "sqlite, 2 instances: not a supported configuration, not measured: one SQLite file is for "
    "one instance on one host (orchestrator/store/sqlite.py). Its calls do not yield to other "
    "greenlets, so while one process holds the file's write lock every call of the other waits "
    "with its whole event loop stopped (ESL keepalives and prompts included), up to the lock "
    "timeout; and a file shared between hosts needs a network filesystem, where SQLite's "
    "locking is not to be trusted. Several instances share PostgreSQL (store.url).")
FLOW = card_flow("bench_payment")


@dataclass
class Plan:
    calls: int = 300           # per configuration
    concurrency: int = 16      # calls in flight at once, over all instances
    postgres_url: Optional[str] = None
    pool_size: Optional[int] = None    # PostgreSQL's store.pool_size; None: the service's default
    verbose: bool = False


Buckets = List[Tuple[float, float]]     # (upper bound, cumulative count), +Inf last


def quantile(q: float, buckets: Buckets) -> Optional[float]:
    """The ``q`` quantile of a histogram's cumulative buckets, interpolated linearly within the
    bucket it falls in (Prometheus's ``histogram_quantile``); None when it holds nothing."""
    if not buckets or buckets[-1][1] == 0:
        return None
    rank = q * buckets[-1][1]
    lower, below = 0.0, 0.0
    for bound, count in buckets:
        if count >= rank:
            if math.isinf(bound):
                return lower       # past the last finite bound: that bound, as Prometheus says
            if count == below:
                return bound
            return lower + (bound - lower) * (rank - below) / (count - below)
        lower, below = bound, count
    return lower


def write_buckets(metrics_text: str) -> Dict[str, Buckets]:
    """``{operation: buckets}`` of ``payivr_store_write_seconds`` in a /metrics page."""
    found: Dict[str, Dict[float, float]] = {}
    for family in text_string_to_metric_families(metrics_text):
        if family.name != "payivr_store_write_seconds":
            continue
        for sample in family.samples:
            if sample.name.endswith("_bucket"):
                found.setdefault(sample.labels["operation"], {})[
                    float(sample.labels["le"])] = sample.value
    return {op: sorted(bounds.items()) for op, bounds in found.items()}


def summed(histograms: Sequence[Buckets]) -> Buckets:
    """Histograms with the same bounds, added bucket by bucket."""
    total: Dict[float, float] = {}
    for buckets in histograms:
        for bound, count in buckets:
            total[bound] = total.get(bound, 0.0) + count
    return sorted(total.items())


@dataclass
class Result:
    name: str
    instances: int
    calls: int
    seconds: float
    heard: Counter = field(default_factory=Counter)
    records: Counter = field(default_factory=Counter)      # store rows by status
    per_instance: List[int] = field(default_factory=list)  # calls each instance took
    writes: Dict[str, Buckets] = field(default_factory=dict)

    @property
    def calls_per_second(self) -> float:
        return self.calls / self.seconds if self.seconds > 0 else 0.0

    @property
    def accounted_for(self) -> bool:
        """Every call heard its approval and has exactly one approved record."""
        return (self.heard["approved"] == self.calls == self.records["approved"]
                == sum(self.records.values()))

    def latency(self, q: float, operations: Sequence[str] = WRITES) -> Optional[float]:
        return quantile(q, summed([self.writes[op] for op in operations if op in self.writes]))

    def written(self, operations: Sequence[str] = WRITES) -> int:
        return int(sum(self.writes[op][-1][1] for op in operations if op in self.writes))


def _ms(seconds: Optional[float]) -> str:
    return "n/a" if seconds is None else "%.2f ms" % (seconds * 1000)


HEADER = "%-26s %6s %6s %6s %8s %10s %10s %10s %10s %10s" % (
    "configuration", "calls", "heard", "stored", "calls/s", "write p50", "write p99",
    "number p99", "begin p99", "finish p99")


def result_line(result: Result) -> str:
    return "%-26s %6d %6d %6d %8.1f %10s %10s %10s %10s %10s" % (
        result.name, result.calls, result.heard["approved"], result.records["approved"],
        result.calls_per_second, _ms(result.latency(0.5)), _ms(result.latency(0.99)),
        _ms(result.latency(0.99, ["number"])), _ms(result.latency(0.99, ["begin"])),
        _ms(result.latency(0.99, ["finish"])))


class Instance:
    """One ``orchestrator run`` with a simulated FreeSWITCH of its own."""

    def __init__(self, name: str, workdir: str, store: dict, sandbox_url: str,
                 plan: Plan) -> None:
        self.name = name
        self.folder = os.path.join(workdir, name)
        os.makedirs(os.path.join(self.folder, "flows"), exist_ok=True)
        self.switch = Switch(password="instances-bench", time_scale=TIME_SCALE,
                             hostname="sim-%s" % name).start()
        self.listen_port, self.http_port = free_port(), free_port()
        self.config_path = os.path.join(self.folder, "orchestrator.yaml")
        with open(os.path.join(self.folder, "flows", "bench_payment.yaml"), "w",
                  encoding="utf-8") as handle:
            handle.write(FLOW)
        config = {
            "listen": {"host": "127.0.0.1", "port": self.listen_port},
            "max_calls": plan.concurrency * 2, "linger_seconds": 1,
            "flows": {"directory": "flows", "default": "bench_payment"},
            "http": {"enabled": True, "host": "127.0.0.1", "port": self.http_port},
            "nodes": [{"name": "fs-%s" % name, "host": "127.0.0.1",
                       "port": self.switch.inbound_address[1], "password": "instances-bench"}],
            "gateways": [{"name": "sandbox", "type": "sandbox", "url": sandbox_url}],
            "store": store,
            "prompts": {"audio": "never"},
            "logging": {"level": "INFO" if plan.verbose else "WARNING"},
        }
        with open(self.config_path, "w", encoding="utf-8") as handle:
            yaml.safe_dump(config, handle)
        self.service = ServiceProcess(self.config_path, self.http_port,
                                      os.path.join(self.folder, "service.log"))
        self.calls = 0

    def metrics_text(self) -> str:
        return requests.get("http://127.0.0.1:%d/metrics" % self.http_port, timeout=10).text

    def stop(self) -> None:
        if self.service.pid is not None:
            try:
                self.service.stop(signal.SIGTERM)
            except Exception:
                self.service.stop(signal.SIGKILL)
        self.switch.stop()


def _caller() -> CallerScript:
    return CallerScript.from_data({"steps": keying_steps(card_for("approve")),
                                   "max_duration": 600})


def run_configuration(name: str, instances: int, store: dict, plan: Plan, workdir: str,
                      sandbox: SandboxGateway) -> Result:
    """``plan.calls`` card payments through ``instances`` services on ``store``."""
    folder = os.path.join(workdir, name.replace(" ", "-").replace(",", ""))
    started: List[Instance] = []
    try:
        for letter in "ab"[:instances]:
            instance = Instance(letter, folder, store, sandbox.url, plan)
            started.append(instance)
            instance.service.start(ready_within=60)
        heard: Counter = Counter()

        def one_call(index: int) -> None:
            instance = started[index % len(started)]
            instance.calls += 1
            call = instance.switch.place_call(
                ("127.0.0.1", instance.listen_port), caller=_caller(),
                variables={"pay_amount": str(1000 + index), "pay_currency": "EUR",
                           "pay_reference": "BENCH-%05d" % index})
            record = call.wait(timeout=CALL_TIMEOUT)
            heard[what_was_heard([h.arg for h in record.heard])] += 1

        slots = gevent.pool.Pool(plan.concurrency)
        began = time.monotonic()
        for index in range(plan.calls):
            slots.spawn(one_call, index)
        slots.join(raise_error=True)
        seconds = time.monotonic() - began
        histograms = [write_buckets(instance.metrics_text()) for instance in started]
        writes = {op: summed([h[op] for h in histograms if op in h])
                  for op in set().union(*histograms)}
        per_instance = [instance.calls for instance in started]
    finally:
        for instance in started:
            instance.stop()
    records = _records(store, folder)
    return Result(name, instances, plan.calls, seconds, heard, records, per_instance, writes)


def _records(store: dict, folder: str) -> Counter:
    """The store's payments by status, read once the services have stopped."""
    if "url" in store:
        journal = open_store(store["url"])
    else:
        journal = PaymentStore(os.path.join(folder, "a", store["path"]))
    try:
        return Counter(row["status"] for row in journal.list())
    finally:
        journal.close()


class Postgres:
    """Where the PostgreSQL configurations get their database: a schema of its own each, on the
    server named, or on a private throwaway one (tests/support/postgres.py's)."""

    def __init__(self, url: Optional[str]) -> None:
        from tests.support import postgres as support   # pg8000 and the test support's server
        self.support = support
        self.server = None
        self.why_not = ""
        self.schemas: list = []
        url = url or os.environ.get(support.FIND_ENV)
        if url:
            self.server = support.Server(url, "given")
            return
        bindir = support.binaries() or support.install()
        if bindir is None:
            self.why_not = ("no PostgreSQL: give --postgres-url or %s, or install Debian's "
                            "postgresql package" % support.FIND_ENV)
            return
        self.server = support.PrivateServer(bindir)

    @property
    def origin(self) -> str:
        return "" if self.server is None else self.server.origin

    def new_schema_url(self) -> str:
        schema = self.support.Schema(self.server)
        self.schemas.append(schema)
        return schema.url

    def close(self) -> None:
        for schema in self.schemas:
            try:
                schema.drop()
            except Exception as error:     # the server may have gone; say so, go on
                print("schema %s not dropped: %s" % (schema.name, error), file=sys.stderr)
        if self.server is not None:
            self.server.stop()             # a server that was given is not stopped


def run(plan: Plan, workdir: Optional[str] = None) -> Tuple[List[Result], List[str]]:
    """Every configuration: the results of those run, and lines saying what was not run."""
    own = workdir is None
    folder = workdir or tempfile.mkdtemp(prefix="instances-bench-")
    results: List[Result] = []
    notes: List[str] = []
    sandbox = SandboxGateway()
    sandbox.max_connections = 512
    sandbox.start()
    postgres: Optional[Postgres] = None
    try:
        results.append(run_configuration("sqlite, 1 instance", 1, {"path": "payments.sqlite"},
                                         plan, folder, sandbox))
        notes.append(SQLITE_SHARED)
        postgres = Postgres(plan.postgres_url)
        if postgres.server is None:
            notes.append("postgresql: not measured: " + postgres.why_not)
        else:
            if postgres.origin == "private":
                notes.append("postgresql: a private throwaway server (tests/support/postgres.py) "
                             "with fsync off: its commits do not wait for the disk, SQLite's do "
                             "(WAL, synchronous FULL); give --postgres-url for a real server's")
            for name, count in (("postgresql, 1 instance", 1), ("postgresql, 2 instances", 2)):
                store = {"url": postgres.new_schema_url()}
                if plan.pool_size is not None:
                    store["pool_size"] = plan.pool_size
                results.append(run_configuration(name, count, store, plan, folder, sandbox))
    finally:
        if postgres is not None:
            postgres.close()
        sandbox.stop()
        if own:
            shutil.rmtree(folder, ignore_errors=True)
    return results, notes


def report(plan: Plan, results: List[Result], notes: List[str]) -> List[str]:
    lines = ["instances bench: %d card payments per configuration, %d at once, the sandbox "
             "gateway, one simulated node per instance, PostgreSQL pool %s per instance; %d "
             "cores here, shared by this process, the services and PostgreSQL" % (
                 plan.calls, plan.concurrency,
                 plan.pool_size if plan.pool_size is not None else "default",
                 os.cpu_count() or 0),
             HEADER]
    lines += [result_line(result) for result in results]
    for result in results:
        if result.instances > 1:
            lines.append("%s: calls per instance %s" % (
                result.name, " / ".join(str(n) for n in result.per_instance)))
    lines += notes
    lines.append("write = a payment's number, pending row (begin) and outcome (finish), from "
                 "transaction start to commit: payivr_store_write_seconds of every instance, "
                 "quantiles interpolated within its buckets; writes timed: %s" % ", ".join(
                     "%s %d" % (r.name, r.written()) for r in results))
    for result in results:
        if not result.accounted_for:
            lines.append("%s: NOT ALL CALLS ACCOUNTED FOR: heard %s; records %s" % (
                result.name, dict(result.heard), dict(result.records)))
    return lines


def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.instances",
                                     description=(__doc__ or "").split("\n")[0])
    parser.add_argument("--calls", type=int, default=Plan.calls,
                        help="calls per configuration (default %(default)s)")
    parser.add_argument("--concurrency", type=int, default=Plan.concurrency,
                        help="calls at once, over all instances (default %(default)s)")
    parser.add_argument("--postgres-url", help="a PostgreSQL server to use (a schema is "
                        "created on it for each configuration and dropped after)")
    parser.add_argument("--pool-size", type=int, help="PostgreSQL connections per instance "
                        "(store.pool_size; default the service's)")
    parser.add_argument("--keep", metavar="DIR", help="work in DIR and keep it (configs, logs)")
    parser.add_argument("--verbose", action="store_true", help="the services log at INFO")
    args = parser.parse_args(argv)
    if args.calls < 1 or args.concurrency < 1 or (args.pool_size is not None
                                                  and args.pool_size < 1):
        parser.error("--calls, --concurrency and --pool-size must be at least 1")
    plan = Plan(calls=args.calls, concurrency=args.concurrency, postgres_url=args.postgres_url,
                pool_size=args.pool_size, verbose=args.verbose)
    if args.keep:
        os.makedirs(args.keep, exist_ok=True)
    results, notes = run(plan, args.keep)
    print("\n".join(report(plan, results, notes)), flush=True)
    return 0 if all(result.accounted_for for result in results) else 1


if __name__ == "__main__":
    sys.exit(main())
