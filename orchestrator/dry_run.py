"""Dry runs: the service, the FreeSWITCH simulator, the sandbox gateway, the sandbox CRM and an
SMS sink in one process.

``DryRun`` is the rig the demo and the tests place calls on; ``simulate`` is the
``orchestrator simulate`` command on top of it: one flow, one scripted caller, a readable
story. The service and the simulated switch talk over real loopback sockets, exactly as they
would against FreeSWITCH; only the clock is faster.
"""
import dataclasses
import logging
import os
import sys
import urllib.request
from dataclasses import dataclass

import gevent

from orchestrator.artifacts import write_artifacts
from orchestrator.config import load_config
from orchestrator.engine import FlowError, FlowLibrary, load_flow
from orchestrator.logs import setup_logging
from orchestrator.payments.sandbox import SandboxGateway
from orchestrator.service import Service
from orchestrator.simulator import CallerScript, ScriptError, Switch, render_timeline
from orchestrator.webservices.sandbox_crm import SandboxCrm

TIME_SCALE = 0.1
CRM_SECRET = "dry-run-crm-secret-0123"   # the sandbox CRM checks every request's signature
LINK_SECRET = "dry-run-link-secret-0123"  # the sandbox's hosted pages and their webhooks


@dataclass
class CallResult:
    flow: str
    outcome: object      # FlowOutcome, or None when no flow ran
    record: object       # the simulator's CallRecord


class DryRun:
    """A simulated switch, the sandbox gateway, the sandbox CRM (web service ``crm``, and the
    receiver of the default tenant's status callbacks: ``crm.notices``), an SMS sink (provider
    ``sms``, read ``texts``) and an in-process service sharing one flow library: everything a
    payment call touches, on loopback, in one process."""

    def __init__(self, library, default_flow=None, time_scale=TIME_SCALE, store_path=":memory:",
                 http_port=None):
        self.sandbox = SandboxGateway(slow_seconds=0.5, hang_seconds=3.0, link_secret=LINK_SECRET)
        config = load_config(None, environ={})
        config.data["listen"] = {"host": "127.0.0.1", "port": 0}
        config.data["flows"]["default"] = default_flow
        config.data["linger_seconds"] = 2
        config.data["store"] = {"path": store_path}
        # on loopback: the payment link webhooks come to it (the canary test reads /metrics)
        config.data["http"] = dict(config.data["http"], enabled=True, host="127.0.0.1",
                                   port=http_port or 0)
        self.outcomes = {}
        self.switch = Switch(password="dry-run", time_scale=time_scale)
        self.sandbox.start()
        self.crm = SandboxCrm(secret=CRM_SECRET, slow_seconds=5.0).start()
        config.data["web_services"] = [{"name": "crm", "url": self.crm.url, "secret": CRM_SECRET,
                                        "read_timeout": 1.0, "max_attempts": 2, "backoff": 0.1}]
        config.data["sms_providers"] = [{"name": "sms", "type": "sink"}]
        # pay by link: the sandbox makes a hosted page; its webhook comes to the service
        config.data["payment_links"] = {"paylink": {"type": "hosted_page", "url": self.sandbox.url,
                                                    "secret": LINK_SECRET}}
        # the CRM hears of every payment: the status callbacks of the default tenant, signed,
        # from the outbox (it reactivates the lines of the invoices a collections call paid)
        config.data["agent_api"] = dict(config.data["agent_api"], webhooks={"default": {
            "url": self.crm.callbacks_url, "secret": CRM_SECRET, "timeout": 2,
            "backoff_base": 0.1, "backoff_cap": 1.0}})
        config.data["gateways"] = [{"name": "sandbox", "type": "sandbox", "url": self.sandbox.url,
                                    "read_timeout": 1.0, "max_attempts": 2, "backoff": 0.1,
                                    "status_attempts": 2, "status_interval": 0.2}]
        self.service = Service(config, library=library, time_scale=time_scale,
                               on_call_end=self._ended)

    @property
    def texts(self):
        """What the SMS sink was given: (to, text, reference, message_id), oldest first."""
        return list(self.service.sms_providers["sms"].messages)

    def _ended(self, channel, flow_name, outcome):
        self.outcomes[channel.uuid] = (flow_name, outcome)

    def __enter__(self):
        self.switch.start()
        self.service.start()
        host, port = self.service.http_address[:2]
        self.sandbox.links.webhook_url = "http://%s:%d/webhooks/links/paylink" % (host, port)
        return self

    def __exit__(self, *exc):
        self.service.stop(grace=5)
        self.switch.stop()
        self.sandbox.stop()
        self.crm.stop()

    def place(self, caller, variables=None, destination="1000", caller_id_number=None):
        options = {"caller_id_number": caller_id_number} if caller_id_number else {}
        return self.switch.place_call(self.service.address, caller=caller,
                                      destination=destination, variables=variables or {}, **options)

    def finish(self, call, timeout):
        record = call.wait(timeout=timeout)
        with gevent.Timeout(5, False):
            while call.uuid not in self.outcomes and self.service.server.active_calls:
                gevent.sleep(0.01)
        flow, outcome = self.outcomes.get(call.uuid, (None, None))
        return CallResult(flow, outcome, record)


def simulate(flow_path, caller_path, destination="1000", variables=None, timeout=120.0,
             verbose=False, out=sys.stdout, log_level=None, artifacts=None):
    """Dry-run one call. ``artifacts`` (a directory) receives what the run produced besides
    its output: the payment store, the simulator's wire transcript and events, the payment
    events the service emitted and the /metrics page, for inspection (and for the canary),
    masked as ``orchestrator.artifacts`` says; the printed timeline masks the keys of secure
    entry."""
    setup_logging(log_level or ("INFO" if verbose else "WARNING"), "logfmt")
    try:
        flow = load_flow(flow_path)
    except FlowError as exc:
        print(exc, file=sys.stderr)
        return 1
    try:
        caller = CallerScript.from_yaml(caller_path)
    except (ScriptError, OSError) as exc:
        print("%s: %s" % (caller_path, exc), file=sys.stderr)
        return 2
    store = os.path.join(artifacts, "payments.sqlite") if artifacts else ":memory:"
    with DryRun(FlowLibrary({flow.name: flow}), default_flow=flow.name, store_path=store,
                http_port=0 if artifacts else None) as run:
        events = []
        run.service.events.subscribe(lambda call, event: events.append(
            {"call": call.uuid, "kind": type(event).__name__, **dataclasses.asdict(event)}))
        result = run.finish(run.place(caller, variables, destination), timeout)
        if artifacts:
            _write_artifacts(artifacts, run, result, events)
    print("flow %s, caller %s" % (flow.name, caller_path), file=out)
    print(render_timeline(result.record, key_gap=TIME_SCALE * 0.5), file=out)
    outcome = result.outcome
    if outcome is None:
        print("flow result: none (the flow did not run)", file=out)
        return 1
    detail = (" (%s)" % outcome.detail) if outcome.detail else ""
    print("flow result: %s at step %s%s" % (outcome.result, outcome.step, detail), file=out)
    for row in run.service.store.list():
        print("payment %s: %s %s %s %s %s%s" % (
            row["id"], row["status"], row["amount_minor"], row["currency"], row["brand"],
            row["card"], " (needs reconciliation)" if row["needs_reconciliation"] else ""), file=out)
    return 0 if outcome.result != "error" else 1


def _write_artifacts(directory, run, result, events):
    host, port = run.service.http_address
    with urllib.request.urlopen("http://%s:%d/metrics" % (host, port), timeout=5) as page:
        metrics = page.read()
    write_artifacts(directory, result.record, events, metrics)


logging.getLogger(__name__).addHandler(logging.NullHandler())
