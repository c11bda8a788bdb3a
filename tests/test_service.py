"""The service end to end on the simulator: flow choice, outcomes, metrics, readiness."""
import os

import pytest

from orchestrator.config import ConfigError, load_config
from orchestrator.service import Service

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# an HTTP server, and the amount_due flow for calls to 7002
CONFIG = {"http": {"enabled": True, "host": "127.0.0.1", "port": 0},
          "flows": {"by_destination": {"7002": "amount_due"}}}


def test_pay_flow_variable_chooses_the_flow(service_on_simulator):
    world = service_on_simulator(CONFIG)
    result = world.run_call([{"wait_prompt": 2}, {"press": "2"}], {"pay_flow": "welcome"})
    assert result.flow == "welcome" and result.outcome.result == "transferred"
    assert world.metric("payivr_calls_total", tenant="default", flow="welcome", outcome="transferred") == 1
    assert world.metric("payivr_step_duration_seconds_count", flow="welcome", step="collect") >= 1


def test_destination_number_chooses_the_flow(service_on_simulator):
    world = service_on_simulator(CONFIG)
    result = world.run_call(destination="7002", variables={"pay_amount": "995", "pay_currency": "USD"})
    assert result.flow == "amount_due" and result.outcome.result == "completed"
    assert "flite|kal|9 dollars and 95 cents" in [h.arg for h in result.record.heard]


def test_a_call_with_no_flow_goes_back_to_the_dialplan(service_on_simulator):
    world = service_on_simulator(CONFIG)
    result = world.run_call(destination="9999")
    assert result.outcome is None
    assert result.record.fallback_reached and not result.record.answered
    assert world.metric("payivr_calls_total", tenant="default", flow="none", outcome="no-flow") == 1


def test_a_failing_flow_leaves_the_caller_to_the_fallback(service_on_simulator):
    world = service_on_simulator(CONFIG)
    # amount_due needs pay_amount; without it the flow fails at its first step
    result = world.run_call(destination="7002")
    assert result.outcome.result == "error" and "pay_amount" in result.outcome.detail
    assert result.record.fallback_reached


def test_readiness_follows_the_listener_and_the_nodes(service_on_simulator):
    world = service_on_simulator(CONFIG, node=True)
    service = world.service
    assert service.pool.node("fs1").wait_connected(5)
    assert service.ready()
    service.pool.node("fs1").stop()
    assert not service.ready()
    world.stop()
    assert not service.ready()


def test_unknown_flow_in_destination_map_stops_start_up(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("flows: {directory: %s, by_destination: {'1': nope}}\n" % os.path.join(ROOT, "flows"))
    with pytest.raises(ConfigError, match=r"flows\.by_destination\.1: no flow named 'nope'"):
        Service(load_config(str(path), environ={}))


def test_the_step_limit_reaches_the_engine(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("flows: {directory: %s}\nlimits: {max_step_runs: 7}\nhttp: {enabled: false}\n"
                    % os.path.join(ROOT, "flows"))
    assert Service(load_config(str(path), environ={})).engine_settings.max_step_runs == 7


def test_a_store_that_cannot_be_opened_stops_start_up_saying_why(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("flows: {directory: %s}\nhttp: {enabled: false}\nstore: {path: absent/p.sqlite}\n"
                    % os.path.join(ROOT, "flows"))
    with pytest.raises(ConfigError, match=r"store\.path: cannot open %s: unable to open database file"
                       % os.path.join(str(tmp_path), "absent", "p.sqlite")):
        Service(load_config(str(path), environ={}))


@pytest.mark.skipif(os.geteuid() == 0, reason="root may write any folder")
def test_a_store_in_a_folder_this_user_cannot_write_says_so(tmp_path):
    folder = tmp_path / "read-only"
    folder.mkdir(mode=0o555)
    path = tmp_path / "c.yaml"
    path.write_text("flows: {directory: %s}\nhttp: {enabled: false}\nstore: {path: %s}\n"
                    % (os.path.join(ROOT, "flows"), folder / "p.sqlite"))
    with pytest.raises(ConfigError, match=r"%s is not writable by this user" % folder):
        Service(load_config(str(path), environ={}))


def test_a_flow_whose_gateway_is_not_configured_is_named_at_start_up(tmp_path, caplog):
    path = tmp_path / "c.yaml"
    path.write_text("flows: {directory: %s}\nhttp: {enabled: false}\n" % os.path.join(ROOT, "flows"))
    with caplog.at_level("WARNING", logger="orchestrator.service"):
        Service(load_config(str(path), environ={}))
    warnings = [r.getMessage() for r in caplog.records if r.name == "orchestrator.service"]
    expected = []
    for name in ("agent_payment", "card_payment", "card_payment_menu", "invoice_collection",
                 "invoice_collection_es"):
        flow = os.path.join(ROOT, "flows", name + ".yaml")
        with open(flow, encoding="utf-8") as handle:
            line = [n for n, text in enumerate(handle, 1) if text.strip() == "- authorize:"][0]
        expected.append("flow %s (%s:%d): authorize names gateway 'sandbox', which the "
                        "config does not define (gateways: none): its calls go to the dialplan "
                        "fallback" % (name, flow, line))
    assert [w for w in warnings if "authorize names gateway" in w] == expected
    assert [w.split(": call_service")[0] for w in warnings if "call_service" in w] == [
        "web_services: flow %s (%s:%d)" % (name, os.path.join(ROOT, "flows", name + ".yaml"), line)
        for name in ("invoice_collection", "invoice_collection_es") for line in (13, 28)]
    caplog.clear()
    path.write_text(path.read_text() + "gateways: [{name: sandbox, type: sandbox, url: 'http://127.0.0.1:9'}]\n"
                    "web_services: [{name: crm, url: 'http://127.0.0.1:9'}]\n")
    with caplog.at_level("WARNING", logger="orchestrator.service"):
        Service(load_config(str(path), environ={}))
    assert [r for r in caplog.records if r.name == "orchestrator.service"] == []


def test_each_gateway_keeps_a_connection_for_every_call_the_service_may_hold(tmp_path):
    """An unsized pool keeps ten idle connections a host; every call may wait on the gateway at
    once, so its pool is sized to max_calls (tests/payments/test_transport_pool.py shows the
    reuse)."""
    path = tmp_path / "c.yaml"
    path.write_text("flows: {directory: %s}\nhttp: {enabled: false}\nmax_calls: 37\n"
                    "gateways: [{name: sandbox, type: sandbox, url: 'http://127.0.0.1:9'}]\n"
                    % os.path.join(ROOT, "flows"))
    service = Service(load_config(str(path), environ={}))
    transport = service.gateways["sandbox"].transport
    assert transport.pool_size == 37
    for url in ("http://127.0.0.1:9/pay", "https://gateway.example/pay"):
        assert transport.pools.connection_from_url(url).pool.maxsize == 37
