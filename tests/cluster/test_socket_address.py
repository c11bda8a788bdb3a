"""Two instances connected to one switch whose payments dialplan names A first: a payment an
agent starts on B puts B's own socket on the call (``pay_socket_address``), so the dialplan
(freeswitch_conf/dialplan/payments.xml, ``pay_socket_target``) brings the caller to B, where the
session is. Without it the caller reaches A, which holds no such session."""
import pytest

from orchestrator.simulator.eavesdrop import payments_extensions
from tests.support.agent import PAYING_CALLER
from tests.support.instances import TwoInstances
from tests.support.waiting import eventually


@pytest.fixture
def pair(tmp_path, postgres_schema):
    instances = TwoInstances(tmp_path, postgres_schema.url)
    # B's switch routes the payments context to A first, as one shared dialplan would
    instances.b.switch.extensions.update(payments_extensions(instances.a.service.address))
    yield instances
    instances.stop()


def calls_taken(rig):
    return sum(sample.value for metric in rig.service.metrics.calls.collect()
               for sample in metric.samples if sample.name.endswith("_total"))


def test_a_payment_started_on_b_brings_the_caller_to_b(pair):
    a, b = pair.a, pair.b
    call, agent = b.call(PAYING_CALLER)
    reply = b.start_payment(call.uuid)
    assert reply.status_code == 201, reply.text
    session = reply.json()
    record = call.wait(timeout=60)
    final = b.wait_state(session["id"], "ended")
    assert final["result"]["status"] == "approved"
    assert record.variables["pay_socket_address"] == "%s:%d" % b.service.address
    assert record.variables["pay_socket_target"] == "%s:%d" % b.service.address
    assert len(b.sandbox.charges) == 1 and not a.sandbox.charges
    assert calls_taken(a) == 0 and calls_taken(b) == 1


def test_without_its_address_the_caller_reaches_the_dialplans_first_instance(pair):
    """The control: B names no socket of its own, and the dialplan's default, A, takes the
    caller; A knows no such session, and B's session is never bound."""
    a, b = pair.a, pair.b
    b.service.agent.control.socket_address = None
    call, agent = b.call(PAYING_CALLER)
    session = b.start_payment(call.uuid).json()
    eventually(lambda: calls_taken(a) == 1, timeout=30, what="the caller on A")
    record = call.wait(timeout=60)
    assert record.variables["pay_socket_target"] == "%s:%d" % a.service.address
    assert "pay_socket_address" not in record.variables
    assert b.request("GET", "/sessions/" + session["id"]).json()["state"] == "created"
    assert not b.sandbox.charges
