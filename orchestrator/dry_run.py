"""Dry runs: the service, the FreeSWITCH simulator, the sandbox gateway, the sandbox CRM and an
SMS sink in one process.

``DryRun`` is the rig the demo and the tests place calls on; ``simulate`` is the
``orchestrator simulate`` command on top of it: one flow, one scripted caller, a readable
story. The service and the simulated switch talk over real loopback sockets, exactly as they
would against FreeSWITCH; only the clock is faster.
"""
import copy
import dataclasses
import io
import logging
import os
import sys
import time
import urllib.request
from dataclasses import dataclass

import gevent

from orchestrator.artifacts import write_artifacts
from orchestrator.config import DEFAULTS, ConfigError, load_config
from orchestrator.engine import FlowError, FlowLibrary, load_flow
from orchestrator.engine.loader import Position
from orchestrator.flowtests.expect import CallFacts, check
from orchestrator.flowtests.heard import Renderings
from orchestrator.flowtests.report import Finding, ScriptResult, github, junit, result_lines, summary
from orchestrator.flowtests.script import TestScriptError, load_script
from orchestrator.logs import setup_logging
from orchestrator.payments.sandbox import SandboxGateway
from orchestrator.service import Service
from orchestrator.simulator import Switch, render_timeline
from orchestrator.store import StoreError
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
                 http_port=None, config=None, real_sms=False):
        """``config`` (a loaded service config) replaces the sandboxes with what it names: its
        gateways, web services, payment links, prompts (catalogs, languages, audio) and TTS
        voices, as ``run`` would use them (see ``_site_config``)."""
        self.outcomes = {}
        self.switch = Switch(password="dry-run", time_scale=time_scale)
        self.sandbox = self.crm = None
        if config is None:
            config = self._sandbox_config()
        else:
            config = _site_config(config, real_sms)
        config.data["listen"] = {"host": "127.0.0.1", "port": 0}
        config.data["flows"] = dict(config.data["flows"], default=default_flow, by_destination={})
        config.data["linger_seconds"] = 2
        config.data["store"] = {"path": store_path}
        # on loopback: the payment link webhooks come to it (the canary test reads /metrics)
        config.data["http"] = dict(config.data["http"], enabled=True, host="127.0.0.1",
                                   port=http_port or 0)
        self.service = Service(config, library=library, time_scale=time_scale,
                               on_call_end=self._ended)

    def _sandbox_config(self):
        """Everything on loopback: the sandbox gateway, the sandbox CRM, an SMS sink."""
        self.sandbox = SandboxGateway(slow_seconds=0.5, hang_seconds=3.0, link_secret=LINK_SECRET)
        config = load_config(None, environ={})
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
        return config

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
        if self.sandbox is not None:
            self.sandbox.links.webhook_url = "http://%s:%d/webhooks/links/paylink" % (host, port)
        return self

    def __exit__(self, *exc):
        self.service.stop(grace=5)
        self.switch.stop()
        for peer in (self.sandbox, self.crm):
            if peer is not None:
                peer.stop()

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


def _site_config(config, real_sms=False):
    """A site's config made fit for a dry run: the same gateways, web services, payment links,
    prompts and voices, reached as ``run`` reaches them (one that cannot be reached fails the
    call as it would in service); but no switch nodes nor secure entry script and FIFOs of its
    own (the simulator is the switch), no
    cluster, no tenants (the call is the default tenant's), no status callbacks (a CRM is not
    told of a dry run's payments), and each SMS provider a sink of the same name, which keeps
    the texts, unless ``real_sms``."""
    data = copy.deepcopy(config.data)
    data["nodes"] = []
    data["secure_entry"] = copy.deepcopy(DEFAULTS["secure_entry"])   # the simulator's, not a host's
    data["cluster"] = dict(data.get("cluster") or {}, name="")
    data["tenants"] = {} if isinstance(data.get("tenants"), dict) else []
    data["agent_api"] = dict(data["agent_api"], webhooks={})
    if not real_sms:
        data["sms_providers"] = [{"name": provider["name"], "type": "sink"}
                                 for provider in data.get("sms_providers") or []]
    return dataclasses.replace(config, data=data)


def simulate(flow_path, caller_path, destination=None, variables=None, timeout=120.0,
             verbose=False, out=sys.stdout, log_level=None, artifacts=None, config=None,
             real_sms=False, fmt="text", output=None):
    """Dry-run calls and check what each script expects; the exit code of ``simulate``.

    ``caller_path`` is a test script, a folder of them (``*.yaml``, in name order) or a list
    of those; ``flow_path`` the flow every script runs, or None for the flow each one names
    (``flow:``). ``config`` is a service config file whose gateways, catalogs, voices, web
    services and SMS providers the calls use (``DryRun``). ``artifacts`` (a directory)
    receives what a run produced besides its output: the payment store, the simulator's wire
    transcript and events, the payment events the service emitted and the /metrics page, for
    inspection (and for the canary), masked as ``orchestrator.artifacts`` says (one folder per
    script when there are several); the printed timeline masks the keys of secure entry.
    ``fmt`` is text, junit or github (``flowtests.report``); ``output`` a file for the JUnit
    report, else it goes to ``out`` instead of the stories.

    0: every call ran and met its expectations (without any, did not end in error); 1: one did
    not, or a flow is invalid; 2: a script or the config cannot be used."""
    setup_logging(log_level or ("INFO" if verbose else "WARNING"), "logfmt")
    site = None
    if config is not None:
        try:
            site = load_config(config)
        except ConfigError as exc:
            print("configuration error:\n%s" % exc, file=sys.stderr)
            return 2
    try:
        sources = script_paths(caller_path)
    except TestScriptError as exc:
        print(exc, file=sys.stderr)
        return 2
    story_out = out if fmt != "junit" or output else io.StringIO()
    results, code = [], 0
    for source in sources:
        where = None
        if artifacts:
            where = artifacts if len(sources) == 1 else os.path.join(
                artifacts, os.path.splitext(os.path.basename(source))[0])
            os.makedirs(where, exist_ok=True)
        result, script_code = _run_script(source, flow_path, destination, variables or {}, timeout,
                                          where, site, real_sms)
        results.append(result)
        code = max(code, script_code)
        if result.story:
            print(result.story, file=story_out)
        for line in result_lines(result):
            print(line, file=story_out if result.story else sys.stderr)
    if len(results) > 1 or any(r.checks for r in results):
        print(summary(results), file=story_out)
    if fmt == "github":
        for line in github(results):
            print(line, file=out)
    elif fmt == "junit":
        document = junit(results)
        if output:
            try:
                with open(output, "w", encoding="utf-8") as handle:
                    handle.write(document)
            except OSError as exc:
                print("simulate: cannot write %s: %s" % (output, exc.strerror), file=sys.stderr)
                return 2
        else:
            out.write(document)
    return code


def script_paths(paths):
    """The scripts named: files as given, folders as their ``*.yaml`` / ``*.yml`` files."""
    found = []
    for path in [paths] if isinstance(paths, str) else list(paths):
        if os.path.isdir(path):
            inside = sorted(name for name in os.listdir(path) if name.endswith((".yaml", ".yml")))
            if not inside:
                raise TestScriptError(path, Position(1, 1), "no caller scripts (*.yaml) in this folder")
            found.extend(os.path.join(path, name) for name in inside)
        else:
            found.append(path)
    return found


def _run_script(source, flow_path, destination, variables, timeout, artifacts, site, real_sms):
    """One script's call: (ScriptResult, exit code)."""
    started = time.monotonic()
    result = ScriptResult(source, os.path.splitext(os.path.basename(source))[0])
    try:
        script = load_script(source)
    except TestScriptError as exc:
        result.error = Finding(exc.source, exc.position, exc.message)
        return result, 2
    path = flow_path or script.flow
    if path is None:
        result.error = Finding(source, Position(1, 1), "no flow: name one with 'flow: FILE' in the "
                               "script, or run `simulate FLOW --caller SCRIPT`")
        return result, 2
    try:
        flow = load_flow(path)
    except FlowError as exc:
        problems = list(getattr(exc, "problems", None) or [])
        if not problems:
            result.error = Finding(path, Position(1, 1), str(exc))
        else:
            first = problems[0]
            result.error = Finding(first.file or path, Position(first.line, first.column),
                                   first.message, "\n".join(map(str, problems[1:])))
        return result, 1
    try:
        run = DryRun(FlowLibrary({flow.name: flow}), default_flow=flow.name,
                     store_path=os.path.join(artifacts, "payments.sqlite") if artifacts else ":memory:",
                     http_port=0 if artifacts else None, config=site, real_sms=real_sms)
    except (ConfigError, FlowError, StoreError) as exc:
        result.error = Finding(site.source if site else path, Position(1, 1),
                               "the dry run cannot start: %s" % exc)
        return result, 2
    channel_variables = dict(script.variables, **variables)
    with Renderings() as renderings, run:
        events = []
        run.service.events.subscribe(lambda call, event: events.append(
            {"call": call.uuid, "kind": type(event).__name__, **dataclasses.asdict(event)}))
        call = run.place(script.caller, channel_variables, destination or script.destination,
                         caller_id_number=script.caller_id)
        outcome = run.finish(call, timeout)
        if artifacts:
            _write_artifacts(artifacts, run, outcome, events)
        payments = run.service.store.list()
    prompts, labels = renderings.name(outcome.record.uuid, outcome.record.heard)
    lines = ["flow %s, caller %s" % (flow.name, source),
             render_timeline(outcome.record, key_gap=TIME_SCALE * 0.5, labels=labels)]
    done = outcome.outcome
    if done is None:
        lines.append("flow result: none (the flow did not run)")
    else:
        detail = (" (%s)" % done.detail) if done.detail else ""
        lines.append("flow result: %s at step %s%s" % (done.result, done.step, detail))
    for row in payments:
        lines.append("payment %s: %s %s %s %s %s%s" % (
            row["id"], row["status"], row["amount_minor"], row["currency"], row["brand"],
            row["card"], " (needs reconciliation)" if row["needs_reconciliation"] else ""))
    result.story = "\n".join(lines)
    facts = CallFacts(
        prompts=prompts, outcome=outcome.record.variables.get("pay_result") or "none",
        flow_result=done.result if done is not None else "none",
        variables=dict(outcome.record.variables),
        charges=[dict(row) for row in payments if row["status"] == "approved"],
        payments=[row["status"] for row in payments])
    result.checks = len(script.expect.items)
    for failure in check(script.expect, facts):
        result.failures.append(Finding(
            source, script.marks.key_position(failure.path),
            "expect.%s: expected %s, got %s" % (failure.key, failure.expected, failure.actual)))
    judged = any(item.key == "flow_result" for item in script.expect.items)
    if done is None or (done.result == "error" and not judged and not result.failures):
        # a call that ended in an error fails the script, unless it says it expects one
        result.failures.append(Finding(source, Position(1, 1), (
            "the flow did not run" if done is None else
            "the flow ended in an error (%s); write expect: {flow_result: error} if it should"
            % (done.detail or done.step))))
    result.seconds = time.monotonic() - started
    return result, 1 if result.failures else 0


def _write_artifacts(directory, run, result, events):
    host, port = run.service.http_address
    with urllib.request.urlopen("http://%s:%d/metrics" % (host, port), timeout=5) as page:
        metrics = page.read()
    write_artifacts(directory, result.record, events, metrics)


logging.getLogger(__name__).addHandler(logging.NullHandler())
