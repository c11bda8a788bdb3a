"""A gateway that declines with hostile text: a ``${system(...)}`` expansion and the card number.

Neither may reach the switch: the decline is spoken and set on the channel in our own words by
normalised code, and the gateway's free text is kept nowhere (not in the store either). The
proof reads the raw bytes between the simulated switch and the service through a relay that
keeps them unchanged; its negative control shows the same search finds the text when a step
does put it on the wire.
"""
import json
import pytest

from orchestrator.engine import FlowLibrary, load_flow
from orchestrator.engine.steps import transfer_back
from tests.support.canary import CODE, EXPIRY, PAN, traces
from tests.support.hostile_gateway import HostileGateway, hostile_flow
from tests.support.raw_relay import RawRelay
from tests.support.service import caller_script

EXPANSION = "${system(touch /tmp/payivr-hostile-gateway)}"
FLOW = hostile_flow("transfer_back: {to: dialplan}")
CALLER = [{"wait_prompt": 1}, {"press": PAN + "#"}, {"wait_prompt": 2}, {"press": EXPIRY},
          {"wait_prompt": 3}, {"press": CODE}]
VARIABLES = {"pay_amount": "1250", "pay_currency": "EUR", "pay_reference": "INV-66",
             "sensitive_dtmf": "true"}


@pytest.fixture
def hostile_gateway():
    """A loopback HTTP gateway declining every card with the expansion as its reason code and
    the card number in its words."""
    gateway = HostileGateway(PAN, EXPANSION).start()
    yield gateway.url
    gateway.stop()


def declined_call(service_on_simulator, url):
    flow = load_flow(FLOW, source_name="hostile.yaml")
    world = service_on_simulator(
        {"flows": {"default": "hostile"},
         "gateways": [{"name": "hostile", "type": "http", "url": url,
                       "secret": "a-secret-of-sixteen-bytes", "max_attempts": 1}]},
        library=FlowLibrary({flow.name: flow}))
    relay = RawRelay(world.address).start()
    try:
        call = world.switch.place_call(relay.address, caller=caller_script(CALLER),
                                       variables=VARIABLES)
        result = world.finish(call, 60)
        relay.wait_closed(10)
    finally:
        relay.stop()
    rows = world.service.store.list()
    world.stop()
    return result, relay.raw.decode("latin-1"), rows


def test_a_hostile_decline_reaches_neither_the_switch_nor_the_store(service_on_simulator,
                                                                    hostile_gateway):
    result, wire, rows = declined_call(service_on_simulator, hostile_gateway)
    assert [row["status"] for row in rows] == ["declined"]
    [row] = rows
    assert (row["decline_code"], row["gateway_code"]) == ("other", "")   # not a code we keep
    assert "system(" not in json.dumps(row) and traces(json.dumps(row)) == []
    assert "system(" not in wire and "${" not in wire.replace("$${", "")
    assert traces(wire) == []
    said = [h.arg for h in result.record.heard]
    assert any("not authorized" in arg for arg in said), said      # our words for "other"
    # the one wording of the English catalog: what the caller heard is what the dialplan gets
    assert result.record.variables.get("pay_decline_reason") == "The payment was not authorized."
    assert any(arg.endswith("|The payment was not authorized.") for arg in said), said


def test_the_search_finds_the_hostile_text_when_a_step_lets_it_through(service_on_simulator,
                                                                       hostile_gateway, monkeypatch):
    """The negative control: a hand-back that sets the gateway's text on the channel."""
    real_run = transfer_back.TransferBack.run

    def careless(self, ctx):
        ctx.channel.set_variable("careless_reason", "card %s %s" % (PAN, "system(touch)"))
        return real_run(self, ctx)
    monkeypatch.setattr(transfer_back.TransferBack, "run", careless)
    _, wire, _ = declined_call(service_on_simulator, hostile_gateway)
    assert "system(" in wire and traces(wire) != []
