"""A session whose caller never reaches the payment socket: it ends as an error after
``BIND_TIMEOUT``, the agent is given the call back; and a watch still waiting when the service
stops does nothing afterwards (it would act for a service that is gone)."""
import gevent
import pytest

from orchestrator.agent import control
from tests.support.agent import Rig


@pytest.fixture
def rig(tmp_path, monkeypatch):
    monkeypatch.setattr(control, "BIND_TIMEOUT", 1.0)
    rig = Rig(tmp_path)
    rig.switch.extensions.pop("pay")       # the transfer leads nowhere: no payment socket
    yield rig
    rig.stop()


def test_a_caller_who_never_reaches_the_flow_ends_the_session_as_an_error(rig):
    call, agent = rig.call([{"silence": 30}])
    reply = rig.start_payment(call.uuid)
    assert reply.status_code == 201, reply.text
    session = reply.json()
    gevent.sleep(0.5)
    assert rig.request("GET", "/sessions/" + session["id"]).json()["state"] == "created"
    ended = rig.wait_state(session["id"], "ended", timeout=10)
    assert ended["result"] is None


def test_a_bind_watch_does_nothing_once_the_service_has_stopped(rig):
    call, agent = rig.call([{"silence": 30}])
    session = rig.start_payment(call.uuid).json()
    live = rig.service.agent.registry.get(session["id"])
    rig.service.agent.stop()
    gevent.sleep(1.5)
    assert live.state == "created"
