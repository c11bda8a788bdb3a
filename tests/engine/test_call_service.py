"""``call_service`` in a flow, against a scripted web service on loopback: the request built
from flow variables, the answer mapped (lists too), each branch, and what validate reports."""
import json
import logging
import textwrap

import pytest

from orchestrator.engine import FlowRunner, load_flow_text
from orchestrator.engine.services import CallServices
from orchestrator.webservices import ServiceLimits, WebService
from tests.engine.fake_channel import FakeChannel
from tests.support.web_service import ScriptedService

FLOW = """
flow: lookup
vars: {phone: "600 111/222?x=1"}
steps:
  - call_service:
      service: crm
      path: customers/${phone}
      body: {phone: "${phone}", channel: ivr, attempt: 1}
      map: {name: $.name, invoices: "$.lines[*].invoices[*]"}
      on: {not-found: unknown, error: sorry, timeout: slow}
  - set: {found: "${name} has ${invoices.count}: ${invoices.2.number}"}
  - hangup: {}
  - id: unknown
    set: {found: not-found}
  - hangup: {}
  - id: sorry
    set: {found: error}
  - hangup: {}
  - id: slow
    set: {found: timeout}
  - hangup: {}
"""
ANSWER = {"name": "Ana", "lines": [{"number": "600111222",
                                    "invoices": [{"number": "F-1", "amount": 1250, "due": "2026-12-15"}]},
                                   {"number": "910000000",
                                    "invoices": [{"number": "F-2", "amount": 300, "due": "2027-01-05"}]}]}


@pytest.fixture
def crm():
    started = []

    def start(answers):
        service = ScriptedService(answers).start()
        started.append(service)
        return service
    yield start
    for service in started:
        service.stop()


def run(answers_service, flow=FLOW, **settings):
    options = dict(read_timeout=0.5, max_attempts=1, backoff=0.0)
    options.update(settings)
    limits = options.pop("limits", ServiceLimits())
    service = WebService(name="crm", url=answers_service.url, limits=limits, **options)
    runner = FlowRunner(load_flow_text(textwrap.dedent(flow).lstrip("\n"), "t.yaml"), FakeChannel(),
                        log=logging.getLogger("test.flow"),
                        services=CallServices(web_services={"crm": service}))
    outcome = runner.run()
    return outcome, runner


def test_the_request_is_built_from_variables_and_the_answer_mapped(crm):
    service = crm([(200, ANSWER)])
    outcome, runner = run(service)
    assert outcome.result == "completed", outcome.detail
    [request] = service.requests
    assert request["path"] == "/customers/600%20111%2F222%3Fx%3D1"     # one quoted segment
    assert json.loads(request["body"]) == {"phone": "600 111/222?x=1", "channel": "ivr", "attempt": 1}
    variables = runner.context.variables
    assert variables["found"] == "Ana has 2: F-2"
    assert (variables["invoices.1.amount"], variables["invoices.2.due"]) == ("1250", "2027-01-05")


@pytest.mark.parametrize("answers,branch", [
    ([(404, {})], "not-found"),
    ([(500, {})], "error"),
    ([(200, b"not json")], "error"),
    ([(200, {"lines": []})], "error"),                 # no name: a path it does not fill
    ([("slow", 5.0, (200, ANSWER))], "timeout"),
])
def test_each_way_a_lookup_fails_takes_its_branch(crm, answers, branch):
    outcome, runner = run(crm(answers))
    assert outcome.result == "completed" and runner.context.variables["found"] == branch


def test_a_list_over_the_limit_takes_the_error_branch(crm):
    many = {"name": "Ana", "lines": [{"invoices": [{"number": str(n)} for n in range(6)]}]}
    outcome, runner = run(crm([(200, many)]), limits=ServiceLimits(max_list_items=5))
    assert runner.context.variables["found"] == "error"


def test_a_second_lookup_leaves_no_item_of_the_first_behind(crm):
    two = """
    flow: twice
    steps:
      - call_service: {service: crm, map: {invoices: "$.invoices[*]"}}
      - call_service: {service: crm, map: {invoices: "$.invoices[*]"}}
      - hangup: {}
    """
    service = crm([(200, {"invoices": [{"n": 1}, {"n": 2}]}), (200, {"invoices": [{"n": 3}]})])
    outcome, runner = run(service, two)
    variables = runner.context.variables
    assert variables["invoices.count"] == "1" and variables["invoices.1.n"] == "3"
    assert "invoices.2.n" not in variables


def test_an_outcome_without_a_branch_ends_the_flow_with_an_error(crm):
    bare = """
    flow: bare
    steps:
      - call_service: {service: crm, map: {name: $.name}}
      - hangup: {}
    """
    outcome, _ = run(crm([(404, {})]), bare)
    assert outcome.result == "error" and "not-found" in outcome.detail


def test_a_service_the_config_does_not_name_ends_the_flow_before_anything_runs():
    flow = load_flow_text("flow: x\nsteps:\n  - answer: {}\n  - call_service: {service: nobody}\n", "t.yaml")
    channel = FakeChannel()
    outcome = FlowRunner(flow, channel, log=logging.getLogger("test.flow"),
                         services=CallServices(tenant="acme", withheld_web_services=frozenset({"nobody"}))).run()
    assert outcome.result == "error" and "not granted to tenant acme" in outcome.detail
    assert channel.calls == []


def test_validate_reports_bad_paths_and_unknown_variables(problems):
    assert problems("""
        flow: x
        steps:
          - call_service:
              service: crm
              map: {name: name, invoices: "$.lines[*]", channel.x: $.a}
          - set: {said: "${nmae} ${invoices.count}"}
    """) == [
        "5:19: call_service: a path starts with $ (the answer), e.g. $.name or $.lines[*].number",
        "5:60: call_service: 'channel.x': map into flow variables only",
    ]
    assert problems("""
        flow: x
        steps:
          - call_service: {service: crm, map: {name: $.name, invoices: "$.lines[*]"}}
          - set: {said: "${nmae} ${invoices.count}"}
    """) == ["4:17: unknown variable 'nmae' (did you mean 'name'?); "
             "flow variables come from vars:, set: and collect into:"]


def test_the_callers_number_is_a_call_fact_a_lookup_can_send(crm, problems):
    by_number = """
    flow: by_number
    steps:
      - call_service: {service: crm, body: {phone: "${call.caller_id_number}"}, map: {name: $.name}}
      - hangup: {}
    """
    service = crm([(200, {"name": "Ana"})])
    outcome, runner = run(service, by_number)
    assert json.loads(service.requests[0]["body"]) == {"phone": "5551234"}   # FakeChannel's caller
    assert problems("""
        flow: x
        steps:
          - set: {call.x: "1"}
    """) == ["3:19: set: 'call.x': call.* is kept by the engine and cannot be set"]
    assert problems("""
        flow: x
        steps:
          - set: {a: "${call.caller_number}"}
    """) == ["3:14: '${call.caller_number}': the call's facts are caller_id_number, destination_number"]
