"""A gateway that declines with hostile text, on a real FreeSWITCH with everyone listening.

The gateway (HTTP on loopback) declines every card with ``${system(touch FILE)}`` as its reason
code and the card number and the expansion in its reason text. The switch logs at DEBUG
(``switch_core_session_exec`` logs every application's expanded argument there) and the
canary's clients take every event. Neither the expansion nor the number may reach the switch:
the file is never made, the text is in no event, log line or CDR, and the caller hears the
decline in the flow's own words. The control shows the same search finding the text once a
careless step does put it on the channel.
"""
import os

import gevent.event
import pytest
import yaml

from orchestrator.config import load_config
from orchestrator.service import Service
from tests.support.hostile_gateway import HostileGateway, hostile_flow
from tests.support.live.card_entry import key_card

PAN, EXPIRY, CODE = "4952471286562387", "0829", "073"
FLOW = hostile_flow("hangup: {}", amount="1250", currency="EUR", reference="INV-LIVE-66")


@pytest.fixture
def hostile(tmp_path, live_switch, control, canary):
    """The Service with the hostile gateway; (service, ended, the file the expansion makes)."""
    marker = str(tmp_path / "expanded-by-the-switch")
    gateway = HostileGateway(PAN, "${system(touch %s)}" % marker).start()
    flows = tmp_path / "flows"
    flows.mkdir()
    (flows / "hostile.yaml").write_text(FLOW)
    host, port = live_switch.socket_address
    config = tmp_path / "orchestrator.yaml"
    config.write_text(yaml.safe_dump({
        "listen": {"host": host, "port": port}, "linger_seconds": 2, "http": {"enabled": False},
        "flows": {"directory": str(flows), "default": "hostile"},
        "store": {"path": str(tmp_path / "payments.sqlite")},
        "gateways": [gateway.config()]}))
    ended = gevent.event.AsyncResult()
    service = Service(load_config(str(config)),
                      on_call_end=lambda channel, flow, outcome: ended.set(outcome))
    canary.secret(EXPIRY, CODE)
    service.start()
    yield service, ended, marker
    service.stop(grace=2)
    gateway.stop()


def declined_call(control, hostile):
    service, ended, marker = hostile
    caller = control.call()
    key_card(control, caller, PAN, EXPIRY, CODE)
    ended.get(timeout=60)
    control.hang_up(caller)
    return caller


def test_a_hostile_decline_reaches_nothing_on_the_switch(hostile, control, canary):
    service, _, marker = hostile
    caller = declined_call(control, hostile)
    [row] = service.store.list()
    assert (row["status"], row["decline_code"], row["gateway_code"]) == ("declined", "other", "")
    canary.assert_clean()                  # the echoed number included
    assert canary.text_found("system(") == []
    assert not os.path.exists(marker)
    spoken = [m.headers.get("variable_pay_secure_play", "") for m in
              control.events(caller, "CHANNEL_EXECUTE")]
    assert any("not%20authorized" in s or "not authorized" in s for s in spoken), spoken


def test_control_the_same_search_finds_the_text_once_it_is_on_the_channel(hostile, control,
                                                                          canary):
    """What a careless step would do with the gateway's words (set them on the channel), done
    by the test: the searches above find both the text and the number."""
    canary.expect_leak("the gateway's words set on the channel")
    service, ended, marker = hostile
    caller = control.call()
    key_card(control, caller, PAN, EXPIRY, CODE)
    leg = control.wait(caller, "CHANNEL_EXECUTE").headers["Unique-ID"]
    assert control.api("uuid_setvar %s careless_reason card_%s_system(x)" % (leg, PAN)).startswith("+OK")
    ended.get(timeout=60)
    control.hang_up(caller)
    canary.settle()
    assert {"plain", "json"} <= set(canary.text_found("system(")), canary.text_found("system(")
    assert {"plain", "json"} <= {entry[0] for entry in canary.findings()["runs"]}
