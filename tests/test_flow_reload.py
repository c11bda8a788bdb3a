"""Reloading flows and catalogs in a running service: ``orchestrator run`` as a real process
sent SIGHUP with a call in progress (the call ends on the flow it started with, a new call runs
the new one; a broken flow keeps the old one and the log names its file:line:column), and the
agent API's ``POST /api/v1/admin/reload`` (admin tokens only; the same answer in its body)."""
import os
import signal
import time

import pytest
import requests
import yaml

from bench.service_process import ServiceProcess, free_port
from orchestrator.simulator import CallerScript
from tests.support.switch import start_switch
from tests.support.waiting import eventually

FLOW = """\
flow: reloadable
language: en
steps:
  - answer: {}
  - speak: %(version)s, first
  - collect:
      into: key
      prompt: {speak: "%(version)s, press a key"}
      first_digit_timeout: 30
      max_attempts: 1
      on: {timeout: bye, cancelled: bye, too-many-failed-attempts: bye}
  - speak: %(version)s, last
  - id: bye
    hangup: {}
"""
# line 5, column 5: a step kind that does not exist
BROKEN = FLOW.replace("  - speak: %(version)s, first", "  - speek: %(version)s, first")
ADMIN, AGENT = "admin-token-0123456789", "agent-token-0123456789"


def write_flow(folder, text, version):
    (folder / "reloadable.yaml").write_text(text % {"version": version})


def spoken(record):
    return [h.arg.split("|")[-1] for h in record.heard if h.app in ("speak", "play_and_get_digits")]


def log_text(path):
    with open(path, encoding="utf-8", errors="replace") as handle:
        return handle.read()


@pytest.fixture
def running(tmp_path):
    """``orchestrator run`` on a flow folder of its own, the simulator dialling it."""
    flows = tmp_path / "flows"
    flows.mkdir()
    write_flow(flows, FLOW, "version one")
    listen, http = free_port(), free_port()
    config = tmp_path / "orchestrator.yaml"
    config.write_text(yaml.safe_dump({
        "listen": {"host": "127.0.0.1", "port": listen},
        "http": {"enabled": True, "host": "127.0.0.1", "port": http},
        "flows": {"directory": str(flows), "default": "reloadable"},
        "store": {"path": str(tmp_path / "payments.sqlite")}}))
    service = ServiceProcess(str(config), http, str(tmp_path / "service.log"))
    switch = start_switch()
    service.start()
    try:
        yield service, switch, ("127.0.0.1", listen), flows
    finally:
        if service.pid is not None:
            service.stop(signal.SIGKILL)
        switch.stop()


def test_sighup_gives_new_calls_the_new_flow_and_the_call_in_progress_keeps_its_own(running):
    service, switch, address, flows = running
    # the first caller waits at the key prompt long enough for the reload to happen meanwhile
    first = switch.place_call(address, caller=CallerScript.from_data(
        [{"wait_prompt": 2}, {"wait": 6}, {"press": "1"}]))
    eventually(lambda: "version one, press a key" in spoken(first.record), timeout=20,
               what="the first call at its key prompt")
    write_flow(flows, FLOW, "version two")
    service.send(signal.SIGHUP)
    eventually(lambda: "flows and catalogs reloaded" in log_text(service.log_path), timeout=20,
               what="the reload in the log")
    second = switch.place_call(address, caller=CallerScript.from_data(
        [{"wait_prompt": 2}, {"press": "1"}]))
    second_heard = spoken(second.wait(timeout=30))
    first_heard = spoken(first.wait(timeout=30))
    assert first_heard == ["version one, first", "version one, press a key", "version one, last"]
    assert second_heard == ["version two, first", "version two, press a key", "version two, last"]
    assert service.pid is not None                      # SIGHUP did not end the process
    assert service.metric("payivr_flow_reloads_total", result="reloaded") == 1
    assert service.metric("payivr_flow_reloads_total", result="failed") == 0
    log = log_text(service.log_path)
    assert "reload (SIGHUP): flows and catalogs reloaded: 1 flows (reloadable), catalogs en" in log


def test_sighup_with_a_broken_flow_keeps_the_old_one_and_names_file_line_column(running):
    service, switch, address, flows = running
    write_flow(flows, BROKEN, "version two")
    service.send(signal.SIGHUP)
    eventually(lambda: "reload (SIGHUP) failed" in log_text(service.log_path), timeout=20,
               what="the refused reload in the log")
    log = log_text(service.log_path)
    where = "%s:5:5: " % os.path.join(str(flows), "reloadable.yaml")
    assert where in log and "speek" in log, log[-2000:]
    call = switch.place_call(address, caller=CallerScript.from_data(
        [{"wait_prompt": 2}, {"press": "1"}]))
    assert spoken(call.wait(timeout=30)) == [
        "version one, first", "version one, press a key", "version one, last"]
    assert service.metric("payivr_flow_reloads_total", result="failed") == 1
    assert service.metric("payivr_flow_reloads_total", result="reloaded") == 0
    # fixed, it is taken on the next SIGHUP
    write_flow(flows, FLOW, "version three")
    service.send(signal.SIGHUP)
    eventually(lambda: "flows and catalogs reloaded" in log_text(service.log_path), timeout=20,
               what="the reload in the log")
    call = switch.place_call(address, caller=CallerScript.from_data(
        [{"wait_prompt": 2}, {"press": "1"}]))
    assert spoken(call.wait(timeout=30))[0] == "version three, first"


# ---- the agent API ---------------------------------------------------------------------------

@pytest.fixture
def with_api(service_on_simulator, tmp_path):
    flows = tmp_path / "api-flows"
    flows.mkdir()
    write_flow(flows, FLOW, "version one")
    world = service_on_simulator({
        "http": {"enabled": True, "port": 0},
        "flows": {"directory": str(flows), "default": "reloadable"},
        "agent_api": {"tokens": [{"token": ADMIN, "admin": True}, {"token": AGENT}]}})
    return world, flows


def reload_request(world, token):
    return requests.post("http://%s:%d/api/v1/admin/reload" % world.http_address[:2],
                         headers={"Authorization": "Bearer " + token}, timeout=10)


def test_the_api_reloads_for_an_admin_token_only(with_api):
    world, flows = with_api
    write_flow(flows, FLOW, "version two")
    refused = reload_request(world, AGENT)
    assert refused.status_code == 403 and refused.json()["error"] == "forbidden"
    assert reload_request(world, "not-a-token-at-all-0000").status_code == 401
    heard = spoken(world.run_call([{"wait_prompt": 2}, {"press": "1"}]).record)
    assert heard[0] == "version one, first"             # nothing reloaded yet
    answer = reload_request(world, ADMIN)
    assert answer.status_code == 200
    assert answer.json() == {"reloaded": True, "trigger": "api", "flows": ["reloadable"],
                             "catalogs": ["en"], "problems": [], "warnings": []}
    heard = spoken(world.run_call([{"wait_prompt": 2}, {"press": "1"}]).record)
    assert heard[0] == "version two, first"
    assert world.metric("payivr_flow_reloads_total", result="reloaded") == 1


def test_the_api_answers_a_broken_flow_with_its_file_line_column_and_keeps_the_old(with_api):
    world, flows = with_api
    write_flow(flows, BROKEN, "version two")
    answer = reload_request(world, ADMIN)
    assert answer.status_code == 422
    body = answer.json()
    assert body["reloaded"] is False and body["flows"] == []
    [problem] = body["problems"]
    assert problem.startswith("%s:5:5: " % (flows / "reloadable.yaml")) and "speek" in problem
    heard = spoken(world.run_call([{"wait_prompt": 2}, {"press": "1"}]).record)
    assert heard[0] == "version one, first"
    assert world.metric("payivr_flow_reloads_total", result="failed") == 1


def test_a_catalog_that_does_not_load_refuses_the_reload(with_api, tmp_path):
    world, flows = with_api
    write_flow(flows, FLOW.replace("language: en", "language: xx"), "version two")
    answer = reload_request(world, ADMIN)
    assert answer.status_code == 422
    assert any("no prompt catalog for language 'xx'" in p for p in answer.json()["problems"])
    assert world.service.library["reloadable"].language == "en"


def test_an_admin_token_names_no_tenant_and_no_agent():
    from orchestrator.agent.settings import config_problems
    problems = config_problems({"tokens": [{"token": ADMIN, "admin": True, "agent": "a1"},
                                           {"token": AGENT, "admin": True, "tenant": "acme"},
                                           {"token": "fine-admin-token-000", "admin": True}]},
                               ["acme"])
    assert problems == [
        "agent_api.tokens[0].admin: an admin token reloads every tenant's flows, so it names "
        "no tenant and no agent",
        "agent_api.tokens[1].admin: an admin token reloads every tenant's flows, so it names "
        "no tenant and no agent"]


CATALOG_FLOW = """\
flow: reloadable
language: en
steps:
  - answer: {}
  - announce: goodbye
  - collect:
      into: key
      prompt: {speak: "press a key"}
      first_digit_timeout: 30
      max_attempts: 1
      on: {timeout: bye, cancelled: bye, too-many-failed-attempts: bye}
  - announce: goodbye
  - id: bye
    hangup: {}
"""


def test_a_reloaded_catalog_is_heard_by_new_calls_and_not_by_the_call_in_progress(
        service_on_simulator, tmp_path):
    from orchestrator.catalog import HERE
    flows, catalogs = tmp_path / "flows", tmp_path / "catalogs"
    flows.mkdir()
    catalogs.mkdir()
    (flows / "reloadable.yaml").write_text(CATALOG_FLOW)
    with open(os.path.join(HERE, "en.yaml"), encoding="utf-8") as handle:
        shipped = handle.read()
    (catalogs / "en.yaml").write_text(shipped)
    world = service_on_simulator({
        "http": {"enabled": True, "port": 0}, "prompts": {"catalog_dir": str(catalogs)},
        "flows": {"directory": str(flows), "default": "reloadable"},
        "agent_api": {"tokens": [{"token": ADMIN, "admin": True}]}})
    old, new = "Thank you for calling. Goodbye.", "Farewell, and thank you."
    assert old in shipped
    in_progress = world.place([{"wait_prompt": 2}, {"wait": 2}, {"press": "1"}])
    eventually(lambda: "press a key" in " ".join(spoken(in_progress.record)), timeout=20,
               what="the call at its key prompt")
    (catalogs / "en.yaml").write_text(shipped.replace(old, new))
    answer = reload_request(world, ADMIN)
    assert answer.status_code == 200 and answer.json()["catalogs"] == ["%s/en" % catalogs]
    after = spoken(world.run_call([{"wait_prompt": 2}, {"press": "1"}]).record)
    before = spoken(world.finish(in_progress, 30).record)
    assert [line for line in before if "thank" in line.lower()] == [old, old]
    assert [line for line in after if "thank" in line.lower()] == [new, new]


def test_a_failure_inside_the_reload_keeps_the_flows_and_the_service(with_api, monkeypatch,
                                                                     caplog):
    world, flows = with_api

    def broken_loader(config):
        raise RuntimeError("disk on fire")
    monkeypatch.setattr("orchestrator.flow_reload.load_library", broken_loader)
    answer = reload_request(world, ADMIN)
    assert answer.status_code == 422
    assert answer.json()["problems"] == ["internal error while reloading: RuntimeError"]
    heard = spoken(world.run_call([{"wait_prompt": 2}, {"press": "1"}]).record)
    assert heard[0] == "version one, first"
    assert world.metric("payivr_flow_reloads_total", result="failed") == 1
