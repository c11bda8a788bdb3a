"""The NOC dashboard and the alert rules, evaluated by a real Prometheus scraping the service.

A Prometheus server (Debian's package, see tests/support/prometheus.py) scrapes the service's own
``/metrics`` every second while simulated calls run through the Service on the simulator, and
evaluates the shipped alert rules every second. Then every expression of the dashboard (panel
queries and template variables) and of the rules is sent to Prometheus's HTTP API: each must
parse and return series with a value.

What is real and what is not, plainly:
  * Calls, outcomes, tenants, step durations, calls in progress, max_calls, refused calls,
    ESL up/down per node, ESL command latency (keepalives on a simulated node), build info and
    ``up`` come from the running service and its scrape, nothing else.
  * Card payments run for real too: card_payment calls key test cards against the sandbox
    gateway (approved, declined, HTTP 500), so the payment series exist through the shipped
    collect_card/authorize steps, and the HTTP 500 card leaves payments unknown and flagged:
    the reconciliation backlog, read from the store. Only their age is set by the test (see
    ``age_the_reconciliation_backlog``). The approved card's caller answers the survey
    (``pay_survey=true``), so the survey ratings come from the survey step.
  * Collections traffic too: a flow asks the sandbox CRM (a real HTTP server on loopback) for
    the caller, so the web service series come from ``call_service``; the shipped
    agent_payment flow texts a confirmation after a card payment and texts a payment link
    (through the sink SMS provider), so the SMS series come from ``send_sms`` and
    ``send_payment_link``; and an unsigned notice to the link webhook is refused (401), so the
    link webhook series come from the webhook itself.
  * Status callbacks too: acme's card payments leave theirs pending (its receiver is down)
    and the test only ages them (``age_the_pending_callbacks``); globex has no calls, so the
    test writes its callbacks through the writer's own event subscriber, and its receiver (a
    real one on loopback) refuses them with 404: given up.
  * But a minute of real traffic cannot make every alert's condition hold: p95 authorization
    above 5 s needs slow answers, and the success-ratio alert needs ten payments. So, as each
    call ends, this test also feeds the service's ``Metrics`` in its own process, through the
    very subscriber the payment steps' events reach (``on_payment_event`` with typed field and
    authorization events), with slow and declined answers. Those samples prove the
    expressions and the alert thresholds, not the payment code.

The scenario is shaped so that every alert's condition holds at the end (a node that never
connects, a scrape target that is down, mostly declined and slow authorizations, gateway
timeouts, a full call pool and a refused call), so each alert expression returns series and
Prometheus reports each alert pending or firing.
"""
import json
import math
import os
import re
import shutil
import subprocess
import time

import gevent
import pytest
import requests
import yaml

from orchestrator.payments.events import (CallRef, FieldAccepted, FieldRejected, FieldStarted,
                                          PaymentApproved, PaymentDeclined, PaymentFailed)
from orchestrator.simulator import CallerScript
from orchestrator.webservices.sandbox_crm import SandboxCrm
from tests.support.callbacks import SECRET, CallbackReceiver
from tests.support.prometheus import PrometheusServer, free_port
from tests.support.service import ServiceOnSimulator

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
DEPLOY = os.path.join(ROOT, "deploy")
RULES = os.path.join(DEPLOY, "prometheus", "rules", "payivr-alerts.yml")
DASHBOARD = os.path.join(DEPLOY, "grafana", "dashboards", "payivr-noc.json")
TRAFFIC_SECONDS = 8.0
# What Grafana would put in for its variables: every value, and windows the data fills.
GRAFANA_SUBSTITUTIONS = {"__rate_interval": "1m", "__range": "5m", "__interval": "15s"}

HOLD_FLOW = """\
flow: hold
language: en
steps:
  - answer: {}
  - collect:
      into: key
      prompt: {speak: Please hold.}
      first_digit_timeout: 100
      max_attempts: 1
      on: {timeout: bye, cancelled: bye, too-many-failed-attempts: bye}
  - id: bye
    hangup: {}
"""

LOOKUP_FLOW = """\
flow: lookup
language: en
steps:
  - answer: {}
  - call_service:
      service: crm
      path: customers/lookup
      body: {phone: "${call.caller_id_number}"}
      map: {customer_id: $.id}
      on: {not-found: bye, error: bye, timeout: bye}
  - id: bye
    hangup: {}
"""
LINK_SECRET = "link-secret-of-sixteen"

# (variables, destination, caller steps) cycled through while traffic runs
CALLS = [
    ({"pay_flow": "welcome", "pay_tenant": "acme"}, "1000", [{"wait_prompt": 2}, {"press": "2"}]),
    ({"pay_amount": "995", "pay_currency": "USD"}, "7002", []),
    ({"pay_flow": "welcome", "pay_tenant": "not-configured"}, "1000",
     [{"wait_prompt": 2}, {"press": "2"}]),
    ({"pay_tenant": "acme"}, "9999", []),
    ({"pay_tenant": "acme"}, "7003", []),
]
PAYMENT = {"pay_flow": "card_payment", "pay_tenant": "acme", "pay_amount": "1250",
           "pay_currency": "EUR", "pay_reference": "INV-1", "pay_survey": "true"}
TEST_CARDS = ("4111111111111111", "4000000000009995", "4000000000005001", "4000000000000002")
# the approved card's caller rates the call: the survey question is its 12th prompt
SURVEY_PROMPT, RATING = 12, "4"


def card_call(pan):
    keying = [{"wait_prompt": 3}, {"press": pan + "#"}, {"wait_prompt": 4},
              {"press": "1230"}, {"wait_prompt": 5}, {"press": "737"}]
    if pan == TEST_CARDS[0]:
        keying += [{"wait_prompt": SURVEY_PROMPT}, {"wait": 0.2}, {"press": RATING}]
    return (PAYMENT, "1000", keying)


TEXTED = dict(PAYMENT, pay_flow="agent_payment", pay_method="card", pay_sms_to="+34600111222")
CARD_CALLS = [card_call(pan) for pan in TEST_CARDS] + [
    (TEXTED, "1000", card_call(TEST_CARDS[0])[2]),            # approved, a confirmation texted
    (dict(TEXTED, pay_method="link"), "1000", []),            # a payment link texted
]


def load_dashboard():
    with open(DASHBOARD, encoding="utf-8") as handle:
        return json.load(handle)


def load_rules():
    with open(RULES, encoding="utf-8") as handle:
        return [rule for group in yaml.safe_load(handle)["groups"] for rule in group["rules"]]


def grafana_to_promql(expr):
    """Replace Grafana's variables the way Grafana would with every value selected."""
    return re.sub(r"\$\{?(\w+)\}?", lambda m: GRAFANA_SUBSTITUTIONS.get(m.group(1), ".*"), expr)


def dashboard_expressions():
    found = []
    for panel in load_dashboard()["panels"]:
        for target in panel.get("targets", []):
            found.append(("%s/%s" % (panel["title"], target["refId"]), target["expr"]))
    for variable in load_dashboard()["templating"]["list"]:
        if variable["type"] != "query":
            continue
        match = re.fullmatch(r"label_values\((.+),\s*(\w+)\)", variable["definition"])
        assert match, "variable %s: only label_values(selector, label) is used" % variable["name"]
        found.append(("variable " + variable["name"],
                      "count by (%s) (%s)" % (match.group(2), match.group(1))))
    return found


def feed_payment_signals(metrics, tenant, index):
    """Test-side samples through the payment events' own subscriber (see module doc): mostly
    declined after slow answers, with gateway timeouts, so every alert's condition holds."""
    call = CallRef("fed-%d" % index, tenant, "card_payment")
    metrics.on_payment_event(call, FieldRejected("number", 1, "invalid-card-number") if index % 2
                             else FieldAccepted("number", 1, "visa 411111******1111", "visa"))
    metrics.on_payment_event(call, FieldAccepted("expiry", 1, "**/**"))
    metrics.on_payment_event(call, PaymentFailed("slowpay", "p%d" % index, "timeout", False, 8.0))
    if index % 4 == 0:
        metrics.on_payment_event(call, PaymentApproved("slowpay", "p%d" % index, "A1", 0.4))
    else:
        reason = ("insufficient_funds", "do_not_honour")[index % 2]
        metrics.on_payment_event(call, PaymentDeclined("slowpay", "p%d" % index, reason,
                                                       "declined", 6.0 + index % 3))


def run_traffic(switch, service, seconds):
    """Two callers' worth of traffic (max_calls=2): card payments on one line, the other
    flows on the other; returns how many calls ended."""
    deadline = time.monotonic() + seconds
    ended = []

    def line(calls):
        index = 0
        # every call of the line at least once, however slow the machine; then until the deadline
        while time.monotonic() < deadline or index < len(calls):
            variables, destination, steps = calls[index % len(calls)]
            # this line's last call has left the pool (max_calls=2, a call for each line):
            # a call placed before the service has let the last one go is refused, and the
            # traffic it stood for (a texted payment link, say) never happens
            with gevent.Timeout(10, AssertionError("the service kept a finished call's place")):
                while service.server.active_calls >= 2:
                    gevent.sleep(0.01)
            call = switch.place_call(service.address, caller=CallerScript.from_data(steps),
                                     destination=destination, variables=variables)
            call.wait(timeout=30)
            for attempt in range(3):  # enough volume for the rates and thresholds
                feed_payment_signals(service.metrics, "acme", len(ended) * 3 + attempt)
            # globex has no calls here: its callbacks come through the writer's own subscriber
            service.callbacks.writer.on_payment_event(
                CallRef("fed-globex-%d" % len(ended), "globex", "card_payment"),
                FieldStarted("number", 1))
            ended.append(call)
            index += 1

    gevent.joinall([gevent.spawn(line, CARD_CALLS), gevent.spawn(line, CALLS)], raise_error=True)
    return len(ended)


@pytest.fixture(scope="module")
def live(prometheus_binaries, tmp_path_factory):
    """A service under traffic, scraped by Prometheus, ending with a full call pool."""
    prometheus_binary, _ = prometheus_binaries
    workdir = tmp_path_factory.mktemp("prometheus")
    flows = tmp_path_factory.mktemp("flows")
    for name in ("welcome.yaml", "amount_due.yaml", "card_payment.yaml", "agent_payment.yaml"):
        shutil.copy(os.path.join(ROOT, "flows", name), str(flows / name))
    (flows / "hold.yaml").write_text(HOLD_FLOW)
    (flows / "lookup.yaml").write_text(LOOKUP_FLOW)
    refusing = CallbackReceiver(status=404).start()
    crm = SandboxCrm().start()
    world = ServiceOnSimulator(workdir, {
        "http": {"enabled": True, "host": "127.0.0.1", "port": 0},
        "max_calls": 2, "tenants": ["acme", "globex"], "timeouts": {"keepalive": 0.3},
        # acme's receiver is down (its callbacks wait); globex's refuses them (given up)
        "agent_api": {"webhooks": {
            "acme": {"url": "http://127.0.0.1:%d/callbacks" % free_port(), "secret": SECRET},
            "globex": {"url": refusing.url, "secret": SECRET}}},
        "flows": {"directory": str(flows), "by_destination": {"7002": "amount_due", "7100": "hold",
                                                              "7003": "lookup"}},
        "web_services": [{"name": "crm", "url": "http://127.0.0.1:%d" % crm.port,
                          "max_attempts": 1}],
        "sms_providers": [{"name": "sms", "type": "sink"}],
        "payment_links": {"paylink": {"type": "template", "url": "https://pay.example/p/{token}",
                                      "secret": LINK_SECRET}},
        # fs1 is the simulator; fs2 a node that never connects
        "nodes": [{"name": "fs2", "host": "127.0.0.1", "port": free_port(), "password": "s3cret"}]},
        node=True, sandbox=True)
    switch, service = world.switch, world.service
    prometheus = PrometheusServer(prometheus_binary, str(workdir), yaml.safe_dump({
        "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
        "rule_files": [RULES],
        "scrape_configs": [{"job_name": "payivr", "static_configs": [{"targets": [
            "127.0.0.1:%d" % service.http_address[1],
            "127.0.0.1:%d" % free_port(),  # an instance that is down, for PayivrInstanceDown
        ]}]}]}))
    try:
        prometheus.wait_ready()
        wait_for(prometheus, 'payivr_build_info{job="payivr"}')
        calls = run_traffic(switch, service, TRAFFIC_SECONDS)
        assert calls >= 5, "too few calls for rates: %d" % calls
        age_the_reconciliation_backlog(service.store.backend)
        wait_for(prometheus, 'payivr_reconciliation_backlog_oldest_seconds{job="payivr"} > 1800')
        age_the_pending_callbacks(service.store.backend)
        wait_for(prometheus, 'payivr_outbox_oldest_pending_seconds{job="payivr"} > 900')
        wait_for(prometheus, 'increase(payivr_outbox_given_up_total{reason="refused"}[1m]) > 0')
        # a notice no gateway signed: refused, and counted by the webhook itself
        refused_notice = requests.post(
            "http://127.0.0.1:%d/webhooks/links/paylink" % service.http_address[1],
            data=b'{"token": "x", "event": "paid"}', timeout=5,
            headers={"Content-Type": "application/json"})
        assert refused_notice.status_code == 401, refused_notice.text
        wait_for(prometheus, 'payivr_payment_link_webhooks_total{code="401"} > 0')
        wait_for(prometheus, 'payivr_sms_total{result="sent"} > 1')
        wait_for(prometheus, 'payivr_web_service_requests_total{service="crm"} > 0')
        for _ in range(2):  # two calls that hold the pool (max_calls=2) until the end
            switch.place_call(service.address, caller=CallerScript.silent(max_duration=300),
                              destination="7100")
        with gevent.Timeout(10):
            while service.server.active_calls < 2:
                gevent.sleep(0.05)
        refused = switch.place_call(service.address, caller=CallerScript.silent(max_duration=5))
        assert refused.wait(timeout=10).fallback_reached
        wait_for(prometheus, 'payivr_calls_in_progress{job="payivr"} == 2')
        wait_for(prometheus, 'increase(payivr_calls_refused_total{reason="pool-full"}[1m]) > 0')
        yield prometheus
    finally:
        prometheus.stop()
        world.stop(grace=0.5)
        refusing.stop()
        crm.stop()


def rows_changed(backend, sql):
    """``sql`` run through the service's own store (a second connection in this process would
    wait for the file's write lock with the whole process asleep, the service's commit among
    what it stops); the rows it changed."""
    def change(tx):
        tx.execute(sql)
        return tx.rowcount
    return backend.run(change)


def age_the_reconciliation_backlog(backend):
    """The HTTP 500 card's payments are in the backlog for real (unknown, flagged); the alert
    wants one waiting for half an hour, which a minute of traffic cannot make, so this ages
    those records in the store the service reads at each scrape. It proves the expression and
    the threshold; what put the payments there is the payment code."""
    aged = rows_changed(backend, "UPDATE payments SET created = created - 3600 "
                                 "WHERE needs_reconciliation = 1")
    assert aged >= 1, "no payment was left flagged by the HTTP 500 card"


def age_the_pending_callbacks(backend):
    """acme's card payments left their status callbacks pending for real (its receiver is
    down); the alert wants one waiting a quarter of an hour, so this ages them, as above."""
    aged = rows_changed(backend, "UPDATE outbox SET created = created - 3600 "
                                 "WHERE state = 'pending'")
    assert aged >= 1, "no status callback was left pending by acme's receiver being down"


def wait_for(prometheus, expr, timeout=20):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if prometheus.query(expr):
            return
        time.sleep(0.25)
    raise AssertionError("Prometheus never returned series for %s: %s" % (expr, prometheus.log()))


def assert_series(result, name, expr):
    assert result, "%s: no series for %s" % (name, expr)
    values = [float(item["value"][1]) for item in result]
    assert any(math.isfinite(v) for v in values), "%s: only NaN/Inf for %s" % (name, expr)


def test_real_card_payments_reached_prometheus(live):
    """The sandbox series come from the shipped payment steps, not from this test."""
    results = {item["metric"]["result"] for item in
               live.query('payivr_payments_total{gateway="sandbox", tenant="acme"} > 0')}
    assert {"approved", "declined"} <= results
    assert live.query('payivr_card_field_attempts_total{tenant="acme", field="security_code"} > 0')


@pytest.mark.parametrize("name,expr", dashboard_expressions(), ids=[n for n, _ in dashboard_expressions()])
def test_dashboard_expression_returns_series(live, name, expr):
    promql = grafana_to_promql(expr)
    assert_series(live.query(promql), name, promql)


@pytest.mark.parametrize("rule", load_rules(), ids=[r["alert"] for r in load_rules()])
def test_alert_expression_returns_series(live, rule):
    assert_series(live.query(rule["expr"]), rule["alert"], rule["expr"])


def test_prometheus_loaded_every_rule_and_each_alert_is_active(live):
    names = {rule["alert"] for rule in load_rules()}
    deadline = time.monotonic() + 15
    while True:
        loaded = [r for g in live.api("rules")["groups"] for r in g["rules"]]
        active = {a["labels"]["alertname"] for a in live.api("alerts")["alerts"]
                  if a["state"] in ("pending", "firing")}
        if names <= active or time.monotonic() > deadline:
            break
        time.sleep(0.5)
    assert {r["name"] for r in loaded} == names
    assert all(r["health"] == "ok" for r in loaded), [(r["name"], r.get("lastError")) for r in loaded]
    assert names <= active, "never pending or firing: %s" % sorted(names - active)


def test_promtool_accepts_the_rules_and_the_scrape_config(prometheus_binaries):
    _, promtool = prometheus_binaries
    for args in (["check", "rules", RULES],
                 ["check", "config", os.path.join(DEPLOY, "prometheus", "prometheus.yml")]):
        result = subprocess.run([promtool, *args], capture_output=True, text=True, timeout=60)
        assert result.returncode == 0, result.stdout + result.stderr
