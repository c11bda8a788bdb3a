"""Metrics: each one is defined as documented, and moves as calls run on the simulator
(card payments included, through the card_payment flow and the sandbox gateway)."""

import pytest

from orchestrator import __version__
from orchestrator import metrics as metrics_module
from orchestrator.metrics import AUTHORIZATION_BUCKETS, STEP_BUCKETS, Metrics
from orchestrator.payments.events import (
    Authorizing, CallRef, CardComplete, FieldAccepted, FieldRejected, FieldStarted,
    PaymentApproved, PaymentDeclined, PaymentFailed,
)
from orchestrator.simulator import CallerScript
from orchestrator.tenants import resolve_tenant
from tests.support.waiting import eventually

EXPECTED = {
    # name: (type, label names)
    "payivr_build": ("info", ()),
    "payivr_calls_in_progress": ("gauge", ()),
    "payivr_max_calls": ("gauge", ()),
    "payivr_calls_refused": ("counter", ("reason",)),
    "payivr_calls": ("counter", ("tenant", "flow", "outcome")),
    "payivr_step_duration_seconds": ("histogram", ("flow", "step")),
    "payivr_esl_connection_up": ("gauge", ("node",)),
    "payivr_esl_reconnects": ("counter", ("node",)),
    "payivr_esl_command_duration_seconds": ("histogram", ("node", "kind")),
    "payivr_node_calls_in_progress": ("gauge", ("node",)),
    "payivr_node_calls": ("counter", ("node",)),
    "payivr_node_secure_entry_reachable": ("gauge", ("node",)),
    "payivr_payments": ("counter", ("tenant", "gateway", "result")),
    "payivr_payment_declines": ("counter", ("tenant", "gateway", "reason")),
    "payivr_authorization_duration_seconds": ("histogram", ("gateway",)),
    "payivr_gateway_errors": ("counter", ("gateway", "kind")),
    "payivr_web_service_requests": ("counter", ("tenant", "service", "outcome")),
    "payivr_web_service_duration_seconds": ("histogram", ("service",)),
    "payivr_sms": ("counter", ("tenant", "provider", "result")),
    "payivr_survey_ratings": ("counter", ("tenant", "rating")),
    "payivr_refunds": ("counter", ("tenant", "kind", "result")),
    "payivr_flow_reloads": ("counter", ("result",)),
    "payivr_flows_loaded": ("gauge", ()),
    "payivr_payment_link_webhooks": ("counter", ("link", "code")),
    "payivr_payment_links_expired": ("counter", ("tenant",)),
    "payivr_card_field_attempts": ("counter", ("tenant", "field")),
    "payivr_card_field_errors": ("counter", ("tenant", "field", "error")),
    "payivr_outbox_delivered": ("counter", ("tenant",)),
    "payivr_outbox_retries": ("counter", ("tenant",)),
    "payivr_outbox_given_up": ("counter", ("tenant", "reason")),
    "payivr_outbox_dropped": ("counter", ("tenant",)),
    "payivr_relay_requests": ("counter", ("outcome",)),
    "payivr_relay_pushes_dropped": ("counter", ()),
    "payivr_relay_listening": ("gauge", ()),
    "payivr_instances": ("gauge", ("state",)),
    "payivr_instance_takeovers": ("counter", ()),
    "payivr_takeover_payments": ("counter", ("outcome",)),
    "payivr_limit_rejections": ("counter", ("limit",)),
    "payivr_tenant_refusals": ("counter", ("tenant", "resource")),
    "payivr_store_up": ("gauge", ()),
    "payivr_store_errors": ("counter", ("kind",)),
    "payivr_store_write_seconds": ("histogram", ("operation",)),
}


def value(metrics, name, **labels):
    return metrics.registry.get_sample_value(name, labels) or 0


def test_every_metric_has_its_documented_name_type_labels_and_help():
    metrics = Metrics()
    found = {m._name: m for m in vars(metrics).values() if hasattr(m, "_labelnames")}
    assert set(found) == set(EXPECTED)
    for name, (kind, labels) in EXPECTED.items():
        assert found[name]._type == kind, name
        assert tuple(found[name]._labelnames) == labels, name
        assert len(found[name]._documentation) > 20, name
    assert value(metrics, "payivr_build_info", version=__version__,
                 python=next(iter(metrics.build_info.collect())).samples[0].labels["python"]) == 1


def test_histogram_buckets_fit_ivr_and_gateway_timing():
    assert STEP_BUCKETS[0] == 0.05 and STEP_BUCKETS[-1] == 120
    assert AUTHORIZATION_BUCKETS[0] == 0.05 and AUTHORIZATION_BUCKETS[-1] >= 30
    metrics = Metrics()
    metrics.step_duration.labels("f", "collect").observe(0.07)
    metrics.record_authorization("default", "sandbox", "approved", 2.5)
    assert value(metrics, "payivr_step_duration_seconds_bucket", flow="f", step="collect", le="0.1") == 1
    assert value(metrics, "payivr_step_duration_seconds_bucket", flow="f", step="collect", le="0.05") == 0
    assert value(metrics, "payivr_authorization_duration_seconds_bucket", gateway="sandbox", le="3.0") == 1
    assert value(metrics, "payivr_authorization_duration_seconds_bucket", gateway="sandbox", le="2.0") == 0


def test_payment_record_calls_count_and_keep_label_values_bounded():
    metrics = Metrics()
    metrics.record_authorization("acme", "sandbox", "declined", 0.3, decline_reason="do_not_honour")
    metrics.record_authorization("acme", "sandbox", "declined", 0.3, decline_reason="card 4111 lost")
    metrics.record_authorization("acme", "sandbox", "weird", 0.3)
    metrics.record_gateway_error("sandbox", "timeout")
    metrics.record_gateway_error("sandbox", "ECONNRESET 10.0.0.1")
    metrics.record_field_attempt("acme", "number")
    metrics.record_field_error("acme", "number", "invalid-card-number")
    metrics.record_field_error("acme", "pin", "whatever")
    assert value(metrics, "payivr_payments_total", tenant="acme", gateway="sandbox", result="declined") == 2
    assert value(metrics, "payivr_payments_total", tenant="acme", gateway="sandbox", result="other") == 1
    assert value(metrics, "payivr_payment_declines_total", tenant="acme", gateway="sandbox",
                 reason="do_not_honour") == 1
    assert value(metrics, "payivr_payment_declines_total", tenant="acme", gateway="sandbox", reason="other") == 1
    assert value(metrics, "payivr_authorization_duration_seconds_count", gateway="sandbox") == 3
    assert value(metrics, "payivr_gateway_errors_total", gateway="sandbox", kind="timeout") == 1
    assert value(metrics, "payivr_gateway_errors_total", gateway="sandbox", kind="other") == 1
    assert value(metrics, "payivr_card_field_attempts_total", tenant="acme", field="number") == 1
    assert value(metrics, "payivr_card_field_errors_total", tenant="acme", field="number",
                 error="invalid-card-number") == 1
    assert value(metrics, "payivr_card_field_errors_total", tenant="acme", field="other", error="other") == 1


@pytest.mark.parametrize("variables,expected", [
    ({}, "default"), ({"pay_tenant": ""}, "default"), ({"pay_tenant": "default"}, "default"),
    ({"pay_tenant": "acme"}, "acme"), ({"pay_tenant": "Acme"}, "unknown"),
    ({"pay_tenant": "4111111111111111"}, "unknown"),
])
def test_tenant_is_a_configured_name_default_or_unknown(variables, expected):
    assert resolve_tenant(variables, frozenset({"acme"})) == expected


# -- moving with calls on the simulator ------------------------------------------------------

@pytest.fixture
def running(service_on_simulator, make_switch):
    dead = make_switch()  # a node address where nothing will answer
    dead_port = dead.inbound_address[1]
    dead.stop()
    world = service_on_simulator({
        "max_calls": 1, "tenants": ["acme"], "timeouts": {"keepalive": 0.2},
        "nodes": [{"name": "fs2", "host": "127.0.0.1", "port": dead_port, "password": dead.password}]},
        node=True, start=False)
    service = world.service
    assert value(service.metrics, "payivr_max_calls") == 1
    assert value(service.metrics, "payivr_esl_connection_up", node="fs1") == 0
    world.start()
    return world.switch, service


def test_call_metrics_move_as_calls_run(running):
    switch, service = running
    m = service.metrics
    agent = [{"wait_prompt": 2}, {"press": "2"}]
    call = switch.place_call(service.address, caller=CallerScript.from_data(agent),
                             variables={"pay_flow": "welcome", "pay_tenant": "acme"})
    eventually(lambda: value(m, "payivr_calls_in_progress") == 1)
    refused = switch.place_call(service.address, caller=CallerScript.silent(max_duration=5))
    assert refused.wait(timeout=10).fallback_reached
    assert value(m, "payivr_calls_refused_total", reason="pool-full") == 1
    assert value(m, "payivr_calls_refused_total", reason="shutting-down") == 0
    call.wait(timeout=20)
    eventually(lambda: value(m, "payivr_calls_in_progress") == 0)
    assert value(m, "payivr_calls_total", tenant="acme", flow="welcome", outcome="transferred") == 1
    assert value(m, "payivr_step_duration_seconds_count", flow="welcome", step="collect") >= 1
    assert value(m, "payivr_step_duration_seconds_count", flow="welcome", step="answer") == 1

    switch.place_call(service.address, destination="9999",
                      variables={"pay_tenant": "nobody-configured"}).wait(timeout=10)
    eventually(lambda: value(m, "payivr_calls_total", tenant="unknown", flow="none", outcome="no-flow") == 1)
    # the one slot (max_calls 1) is free once the service has let go of that call, which can
    # be a moment after the switch saw it go
    eventually(lambda: value(m, "payivr_calls_in_progress") == 0)
    switch.place_call(service.address, caller=CallerScript.from_data([{"wait_prompt": 1}, {"hangup": {}}]),
                      variables={"pay_flow": "welcome"}).wait(timeout=10)
    eventually(lambda: value(m, "payivr_calls_total", tenant="default", flow="welcome",
                             outcome="caller-hung-up") == 1)


def test_esl_metrics_follow_the_nodes(running):
    switch, service = running
    m = service.metrics
    eventually(lambda: value(m, "payivr_esl_connection_up", node="fs1") == 1)
    assert value(m, "payivr_esl_connection_up", node="fs2") == 0
    # keepalives every 0.2 s are ESL commands: their latency is observed
    eventually(lambda: value(m, "payivr_esl_command_duration_seconds_count", node="fs1", kind="api") >= 2)
    # the node that never answers is retried with backoff, each retry counted
    eventually(lambda: value(m, "payivr_esl_reconnects_total", node="fs2") >= 1, timeout=8)
    service.pool.node("fs1").stop()
    assert value(m, "payivr_esl_connection_up", node="fs1") == 0


# -- the payment events count through on_payment_event ------------------------------------------

def test_vocabularies_are_the_payment_codes_own():
    from orchestrator.payments.gateways import DECLINE_TEXTS
    from orchestrator.payments.gateways.results import DECLINE_REASONS, GATEWAY_ERROR_KINDS
    from orchestrator.payments.validation import FIELD_ERROR_TYPES, FIELDS, NUMBER_CONFIRMATION

    assert set(DECLINE_REASONS) == set(DECLINE_TEXTS) | {"other"}
    assert set(metrics_module.DECLINE_REASONS) == set(DECLINE_REASONS) | {"other"}
    assert set(metrics_module.FIELD_ERRORS) == set(FIELD_ERROR_TYPES) | {"other"}
    assert set(metrics_module.GATEWAY_ERROR_KINDS) == set(GATEWAY_ERROR_KINDS) | {"other"}
    assert set(metrics_module.CARD_FIELDS) == set(FIELDS) | {NUMBER_CONFIRMATION}


def test_payment_events_are_counted_by_tenant_from_the_call():
    metrics = Metrics()
    acme = CallRef("call-1", "acme", "card_payment")
    for event in (FieldStarted("number", 1),
                  FieldRejected("number", 1, "invalid-card-number"),
                  FieldAccepted("number", 2, "visa 411111******1111", "visa"),
                  FieldAccepted("number-confirmation", 1, "visa 411111******1111", "visa"),
                  FieldRejected("expiry", 1, "no-such-error"),
                  CardComplete("visa", "visa 411111******1111"),
                  Authorizing("sandbox", "p1", "visa", "1111"),
                  PaymentApproved("sandbox", "p1", "A1B2C3", 0.2),
                  PaymentDeclined("sandbox", "p2", "do_not_honour", "Do not honour.", 0.3),
                  PaymentDeclined("sandbox", "p3", "0190", "declined", 0.3),
                  PaymentFailed("sandbox", "p4", "timeout", True, 20.0)):
        metrics.on_payment_event(acme, event)
    assert value(metrics, "payivr_card_field_attempts_total", tenant="acme", field="number") == 2
    assert value(metrics, "payivr_card_field_attempts_total", tenant="acme",
                 field="number-confirmation") == 1
    assert value(metrics, "payivr_card_field_errors_total", tenant="acme", field="number",
                 error="invalid-card-number") == 1
    assert value(metrics, "payivr_card_field_errors_total", tenant="acme", field="expiry",
                 error="other") == 1
    for result in ("approved", "error"):
        assert value(metrics, "payivr_payments_total", tenant="acme", gateway="sandbox",
                     result=result) == 1
    assert value(metrics, "payivr_payments_total", tenant="acme", gateway="sandbox",
                 result="declined") == 2
    assert value(metrics, "payivr_payment_declines_total", tenant="acme", gateway="sandbox",
                 reason="do_not_honour") == 1
    assert value(metrics, "payivr_payment_declines_total", tenant="acme", gateway="sandbox",
                 reason="other") == 1
    assert value(metrics, "payivr_gateway_errors_total", gateway="sandbox", kind="timeout") == 1
    assert value(metrics, "payivr_authorization_duration_seconds_count", gateway="sandbox") == 4
    assert value(metrics, "payivr_authorization_duration_seconds_sum", gateway="sandbox") == \
        pytest.approx(20.8)
    assert value(metrics, "payivr_payments_total", tenant="default", gateway="sandbox",
                 result="approved") == 0


def card_caller(pan):
    return CallerScript.from_data([{"wait_prompt": 3}, {"press": pan + "#"}, {"wait_prompt": 4},
                                   {"press": "1230"}, {"wait_prompt": 5}, {"press": "737"}])


def test_card_payments_on_the_simulator_move_the_payment_metrics(service_on_simulator):
    payment = {"pay_flow": "card_payment", "pay_amount": "1250", "pay_currency": "EUR",
               "pay_reference": "INV-1"}
    world = service_on_simulator(sandbox=True)
    for pan in ("4111111111111111", "4000000000009995", "4000000000005001"):
        world.run_call(card_caller(pan), payment, timeout=60)
    m = world.metrics
    result = {r: value(m, "payivr_payments_total", tenant="default", gateway="sandbox", result=r)
              for r in ("approved", "declined", "error")}
    assert result == {"approved": 1, "declined": 1, "error": 1}
    assert value(m, "payivr_payment_declines_total", tenant="default", gateway="sandbox",
                 reason="insufficient_funds") == 1
    assert value(m, "payivr_gateway_errors_total", gateway="sandbox", kind="http") == 1
    assert value(m, "payivr_authorization_duration_seconds_count", gateway="sandbox") == 3
    # each payment's number, pending row and outcome, timed as the store recorded them
    for operation in ("number", "begin", "finish"):
        assert value(m, "payivr_store_write_seconds_count", operation=operation) == 3, operation
        assert value(m, "payivr_store_write_seconds_sum", operation=operation) > 0, operation
    assert value(m, "payivr_card_field_attempts_total", tenant="default", field="number") >= 3
    assert value(m, "payivr_card_field_attempts_total", tenant="default", field="security_code") >= 3
    # the server error left its payment unknown and flagged: the backlog, read from the store
    assert value(m, "payivr_reconciliation_backlog_payments", state="unknown") == 1
    assert value(m, "payivr_reconciliation_backlog_payments", state="pending") == 0
    [flagged] = world.service.store.list(needs_reconciliation=True)
    assert 0 < value(m, "payivr_reconciliation_backlog_oldest_seconds") < 60
    world.service.store.finish(flagged["id"], "error", error_kind="cancelled")   # reconciled
    assert value(m, "payivr_reconciliation_backlog_payments", state="unknown") == 0
    assert value(m, "payivr_reconciliation_backlog_oldest_seconds") == 0


def test_the_reconciliation_backlog_counts_flagged_and_abandoned_pending_payments():
    from orchestrator.metrics import PENDING_AFTER
    from orchestrator.store import PaymentStore
    from tests.support.cards import make_card

    store = PaymentStore()
    metrics = Metrics()
    metrics.watch_reconciliation_backlog(store, pending_after=0.05)
    assert value(metrics, "payivr_reconciliation_backlog_payments", state="unknown") == 0
    assert value(metrics, "payivr_reconciliation_backlog_oldest_seconds") == 0
    pending = store.begin(amount_minor=1250, currency="EUR", gateway="sandbox",
                          idempotency_key="key-metric-001", summary=make_card().summary)
    flagged = store.begin(amount_minor=990, currency="EUR", gateway="sandbox",
                          idempotency_key="key-metric-002", summary=make_card().summary)
    store.finish(flagged, "unknown", needs_reconciliation=True, note="timeout: no answer")
    assert value(metrics, "payivr_reconciliation_backlog_payments", state="unknown") == 1
    eventually(lambda: value(metrics, "payivr_reconciliation_backlog_payments", state="pending") == 1,
               what="the pending payment to count as left behind")
    assert value(metrics, "payivr_reconciliation_backlog_oldest_seconds") >= 0.05
    assert PENDING_AFTER >= 300 and store.get(pending)["status"] == "pending"


def test_store_writes_are_timed_by_operation_and_a_failing_observer_never_reaches_a_payment():
    from orchestrator.store import PaymentStore, StoreError
    from tests.support.cards import make_card

    store = PaymentStore()
    metrics = Metrics()
    metrics.watch_store(store)
    assert value(metrics, "payivr_store_write_seconds_count", operation="flag") == 0
    number = store.next_number()
    payment = store.begin(amount_minor=1250, currency="EUR", gateway="sandbox", number=number,
                          idempotency_key="key-write-001", summary=make_card().summary)
    store.flag(payment, "timeout: no answer")
    store.finish(payment, "approved", auth_code="A1")
    with pytest.raises(StoreError):     # a write that failed (the key is taken) is not timed
        store.begin(amount_minor=990, currency="EUR", gateway="sandbox",
                    idempotency_key="key-write-001", summary=make_card().summary)
    counts = {op: value(metrics, "payivr_store_write_seconds_count", operation=op)
              for op in ("number", "begin", "finish", "flag")}
    assert counts == {"number": 1, "begin": 1, "finish": 1, "flag": 1}
    assert value(metrics, "payivr_store_write_seconds_bucket", operation="begin", le="+Inf") == 1

    def broken(operation, seconds):
        raise RuntimeError("a metric fault")
    store.on_write = broken
    store.finish(payment, "declined", decline_code="do_not_honour")
    assert store.get(payment)["status"] == "declined"


def test_tenant_refusals_keep_their_resource_vocabulary():
    metrics = Metrics()
    metrics.record_tenant_refusal("acme", "flow")
    metrics.record_tenant_refusal("acme", "a-gateway-called-4111111111111111")
    assert value(metrics, "payivr_tenant_refusals_total", tenant="acme", resource="flow") == 1
    assert value(metrics, "payivr_tenant_refusals_total", tenant="acme", resource="other") == 1
