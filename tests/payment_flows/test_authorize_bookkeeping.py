"""The authorize step's bookkeeping on the simulator with the sandbox gateway: a key per payment
attempt (so a second payment on one call, in a second flow run or after the store was lost,
charges once and is recorded with its own answer), and a payment in flight when the service's
shutdown grace ends marked for reconciliation, never left pending."""
import signal
import time

import gevent
import gevent.event
import yaml

from bench.service_process import ServiceProcess, free_port
from orchestrator.payments.gateways import build_gateway
from orchestrator.payments.sandbox import SandboxGateway
from orchestrator.payments.sandbox_cards import card_for
from orchestrator.reconcile import reconcile
from orchestrator.simulator import CallerScript
from orchestrator.store import PaymentStore
from tests.support.cards import CARD
from tests.support.service import FLOWS, ServiceOnSimulator
from tests.support.switch import start_switch
from tests.support.waiting import eventually

PAYMENT = {"pay_amount": "1250", "pay_currency": "EUR", "pay_reference": "INV-9",
           "pay_flow": "card_payment"}


def paying(number):
    return [{"wait_prompt": 3}, {"press": number + "#"}, {"wait_prompt": 4}, {"press": "1230"},
            {"wait_prompt": 5}, {"press": "737"}]


def test_two_flow_runs_on_one_call_each_charge_once_under_their_own_keys(tmp_path):
    world = ServiceOnSimulator(tmp_path, sandbox=True)
    try:
        first = world.run_call(paying(CARD["visa"]), PAYMENT, timeout=60)
        # the same channel handed to the socket again: a second payment on the call
        second = world.finish(world.place(paying(CARD["mastercard"]), dict(PAYMENT, pay_amount="990"),
                                          uuid=first.record.uuid), 60)
        assert second.record.uuid == first.record.uuid
        assert first.outcome.result == second.outcome.result == "completed"   # goodbye
        payments = world.service.store.list()
        assert [p["call_uuid"] for p in payments] == [first.record.uuid] * 2
        assert [(p["status"], p["amount_minor"], p["card"]) for p in payments] == [
            ("approved", 1250, "411111******1111"), ("approved", 990, "555555******4444")]
        keys = [p["idempotency_key"] for p in payments]
        assert len(set(keys)) == 2 and [p["number"] for p in payments] == [1, 2]
        charges = world.sandbox.charges
        assert [(c["idempotency_key"], c["amount"]) for c in charges] == [(keys[0], 1250), (keys[1], 990)]
        assert [p["auth_code"] for p in payments] == [c["auth_code"] for c in charges]
    finally:
        world.stop()


def test_a_second_payment_after_the_store_was_lost_is_its_own_payment(tmp_path):
    """Before: a key of <call uuid>:1 again, the gateway's 409, and reconcile giving the second
    payment the first one's authorization code. Now the second run's key is new."""
    (tmp_path / "one").mkdir()
    (tmp_path / "two").mkdir()
    first_world = ServiceOnSimulator(tmp_path / "one", sandbox=True)
    try:
        first = first_world.run_call(paying(CARD["visa"]), PAYMENT, timeout=60)
        first_world.service.stop(grace=1)
        first_world.started = False
        # a new service with an empty store, against the same gateway
        second_world = ServiceOnSimulator(
            tmp_path / "two", {"gateways": [{"name": "sandbox", "type": "sandbox",
                                             "url": first_world.sandbox.url}]},
            switch=first_world.switch)
        try:
            second = second_world.finish(second_world.place(
                paying(CARD["visa"]), dict(PAYMENT, pay_amount="990"), uuid=first.record.uuid), 60)
            [paid] = second_world.service.store.list()
        finally:
            second_world.stop()
        [before] = first_world.service.store.list()
        assert second.record.uuid == first.record.uuid
        assert paid["status"] == "approved" and paid["amount_minor"] == 990
        assert paid["idempotency_key"] != before["idempotency_key"]
        charges = first_world.sandbox.charges
        assert [c["amount"] for c in charges] == [1250, 990]
        assert paid["auth_code"] == charges[1]["auth_code"] != before["auth_code"]
    finally:
        first_world.stop()


def test_a_payment_in_flight_when_the_grace_ends_is_marked_for_reconciliation(tmp_path):
    world = ServiceOnSimulator(tmp_path, sandbox=True, sandbox_options={"slow_seconds": 0.8})
    try:
        arrived = gevent.event.Event()
        world.sandbox.on_authorization = lambda key: arrived.set()
        call = world.place(paying(card_for("slow")), PAYMENT)
        assert arrived.wait(timeout=30), "the authorization never reached the gateway"
        world.service.stop(grace=0.1)       # SIGTERM's stop, with a grace shorter than the gateway
        world.started = False
        call.wait(timeout=30)
        [payment] = world.service.store.list()
        assert payment["status"] == "unknown" and payment["needs_reconciliation"] == 1
        assert payment["error_kind"] == "interrupted"
        assert payment["reconcile_note"] == \
            "interrupted: the service stopped before the gateway answered"
        # the gateway went on and charged; reconciliation finds it under the payment's key
        eventually(lambda: world.sandbox.charges, what="the slow card's charge", timeout=5)
        gateway = build_gateway("sandbox", {"type": "sandbox", "url": world.sandbox.url})
        [done] = reconcile(world.service.store, {"sandbox": gateway}, older_than=0,
                           now=time.time() + 1)
        assert done.status == "approved"
        assert world.service.store.get(payment["id"])["auth_code"] == world.sandbox.charges[0]["auth_code"]
    finally:
        world.stop()


def test_sigterm_to_the_service_process_flags_the_payment_it_was_waiting_on(tmp_path):
    """The same through ``orchestrator run`` and a real SIGTERM: its signal handler, its stop
    with ``timeouts.shutdown_grace``, its exit, and the record it leaves behind."""
    sandbox = SandboxGateway(slow_seconds=3.0).start()
    switch = start_switch()
    arrived = gevent.event.Event()
    sandbox.on_authorization = lambda key: arrived.set()
    listen, http = free_port(), free_port()
    config = tmp_path / "orchestrator.yaml"
    config.write_text(yaml.safe_dump({
        "listen": {"host": "127.0.0.1", "port": listen}, "timeouts": {"shutdown_grace": 0.2},
        "http": {"enabled": True, "host": "127.0.0.1", "port": http},
        # the flows that need only the sandbox gateway (run refuses one naming what it lacks)
        "flows": {"directory": FLOWS, "names": ["welcome", "card_payment"]},
        "store": {"path": "payments.sqlite"},
        "gateways": [{"name": "sandbox", "type": "sandbox", "url": sandbox.url,
                      "read_timeout": 10}]}))
    service = ServiceProcess(str(config), http, str(tmp_path / "service.log"))
    try:
        service.start()
        call = switch.place_call(("127.0.0.1", listen), caller=CallerScript.from_data(
            paying(card_for("slow"))), variables=PAYMENT)
        assert arrived.wait(timeout=30), "the authorization never reached the gateway"
        assert service.stop(signal.SIGTERM, within=20) == 0
        call.wait(timeout=30)
    finally:
        if service.pid is not None:
            service.stop(signal.SIGKILL)
        switch.stop()
        sandbox.stop()
    [payment] = PaymentStore(str(tmp_path / "payments.sqlite")).list()
    assert (payment["status"], payment["needs_reconciliation"], payment["error_kind"]) == \
        ("unknown", 1, "interrupted")
