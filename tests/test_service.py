"""The service end to end on the simulator: flow choice, outcomes, metrics, readiness."""
import os

import gevent
import pytest

from orchestrator.config import ConfigError, load_config
from orchestrator.service import Service
from orchestrator.simulator import CallerScript, Switch

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SCALE = 0.1


@pytest.fixture
def switch():
    sw = Switch(password="s3cret", time_scale=SCALE)
    sw.start()
    yield sw
    sw.stop()


def make_service(tmp_path, switch, extra=""):
    path = tmp_path / "c.yaml"
    path.write_text(
        "listen: {host: 127.0.0.1, port: 0}\n"
        "linger_seconds: 2\n"
        "http: {host: 127.0.0.1, port: 0}\n"
        "flows:\n  directory: %s\n  by_destination: {'7002': amount_due}\n%s"
        % (os.path.join(ROOT, "flows"), extra))
    outcomes = {}
    service = Service(load_config(str(path), environ={}), time_scale=SCALE,
                      on_call_end=lambda ch, flow, outcome: outcomes.__setitem__(ch.uuid, (flow, outcome)))
    service.start()
    return service, outcomes


def place(switch, service, outcomes, steps=(), **kwargs):
    call = switch.place_call(service.address, caller=CallerScript.from_data(list(steps)), **kwargs)
    record = call.wait(timeout=20)
    with gevent.Timeout(5, False):
        while call.uuid not in outcomes and service.server.active_calls:
            gevent.sleep(0.01)
    return record, outcomes.get(call.uuid)


def sample(service, name, labels=None):
    return service.metrics.registry.get_sample_value(name, labels or {}) or 0


def test_pay_flow_variable_chooses_the_flow(tmp_path, switch):
    service, outcomes = make_service(tmp_path, switch)
    try:
        record, (flow, outcome) = place(switch, service, outcomes, [{"wait_prompt": 2}, {"press": "2"}],
                                        variables={"pay_flow": "welcome"})
        assert flow == "welcome" and outcome.result == "transferred"
        assert sample(service, "payivr_calls_total", {"tenant": "default", "flow": "welcome",
                                                     "outcome": "transferred"}) == 1
        assert sample(service, "payivr_step_duration_seconds_count",
                      {"flow": "welcome", "step": "collect"}) >= 1
    finally:
        service.stop(grace=1)


def test_destination_number_chooses_the_flow(tmp_path, switch):
    service, outcomes = make_service(tmp_path, switch)
    try:
        record, (flow, outcome) = place(switch, service, outcomes, destination="7002",
                                        variables={"pay_amount": "995", "pay_currency": "USD"})
        assert flow == "amount_due" and outcome.result == "completed"
        assert "en CURRENCY pronounced FEMININE 9.95" in [h.arg for h in record.heard]
    finally:
        service.stop(grace=1)


def test_a_call_with_no_flow_goes_back_to_the_dialplan(tmp_path, switch):
    service, outcomes = make_service(tmp_path, switch)
    try:
        record, result = place(switch, service, outcomes, destination="9999")
        assert result is None
        assert record.fallback_reached and not record.answered
        assert sample(service, "payivr_calls_total", {"tenant": "default", "flow": "none",
                                                     "outcome": "no-flow"}) == 1
    finally:
        service.stop(grace=1)


def test_a_failing_flow_leaves_the_caller_to_the_fallback(tmp_path, switch):
    service, outcomes = make_service(tmp_path, switch)
    try:
        # amount_due needs pay_amount; without it the flow fails at its first step
        record, (flow, outcome) = place(switch, service, outcomes, destination="7002")
        assert outcome.result == "error" and "pay_amount" in outcome.detail
        assert record.fallback_reached
    finally:
        service.stop(grace=1)


def test_readiness_follows_the_listener_and_the_nodes(tmp_path, switch):
    extra = "nodes: [{name: fs1, host: 127.0.0.1, port: %d, password: s3cret}]\n" % switch.inbound_address[1]
    service, _ = make_service(tmp_path, switch, extra)
    try:
        assert service.pool.node("fs1").wait_connected(5)
        assert service.ready()
        service.pool.node("fs1").stop()
        assert not service.ready()
    finally:
        service.stop(grace=1)
    assert not service.ready()


def test_unknown_flow_in_destination_map_stops_start_up(tmp_path, switch):
    path = tmp_path / "c.yaml"
    path.write_text("flows: {directory: %s, by_destination: {'1': nope}}\n" % os.path.join(ROOT, "flows"))
    with pytest.raises(ConfigError, match=r"flows\.by_destination\.1: no flow named 'nope'"):
        Service(load_config(str(path), environ={}))


def test_the_step_limit_reaches_the_engine(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("flows: {directory: %s}\nlimits: {max_step_runs: 7}\nhttp: {enabled: false}\n"
                    % os.path.join(ROOT, "flows"))
    assert Service(load_config(str(path), environ={})).engine_settings.max_step_runs == 7
