"""Calls on the simulator with PostgreSQL as the store: a payment is recorded there, masked; a
payment waiting on a slow database holds up no other call (nor /readyz); a database that goes
away is shown (/readyz, payivr_store_up, payivr_store_errors_total), its payments are not
charged unrecorded, and once it is back the service records payments again by itself; a
connection killed under the service is replaced without losing a payment."""
import time

import gevent
import requests

from tests.support.canary import traces
from tests.support.cards import CARD
from tests.support.raw_relay import RawRelay
from tests.support.waiting import eventually

PAYMENT = {"pay_amount": "1250", "pay_currency": "EUR", "pay_reference": "INV-PG",
           "pay_flow": "card_payment"}
PAYING = [{"wait_prompt": 3}, {"press": CARD["visa"] + "#"}, {"wait_prompt": 4},
          {"press": "1230"}, {"wait_prompt": 5}, {"press": "737"}]
MENU = ([{"wait_prompt": 2}, {"press": "2"}], {"pay_flow": "welcome"})


def on_postgres(service_on_simulator, url, **store):
    return service_on_simulator({"store": dict({"url": url, "check_interval": 0.2}, **store),
                                 "http": {"enabled": True, "port": 0}}, sandbox=True)


def readyz(world):
    response = requests.get("http://%s:%d/readyz" % world.http_address, timeout=5)
    return response.status_code, response.json()


def everything_in(schema):
    """Every value of every row of the schema's tables, as text."""
    with schema.server.connect() as con:
        tables = [t for (t,) in con.run("SELECT table_name FROM information_schema.tables "
                                        "WHERE table_schema = :s", s=schema.name)]
        return "\n".join(str(row) for table in tables
                         for row in con.run("SELECT * FROM %s.%s" % (schema.name, table)))


def test_a_payment_is_recorded_in_postgresql_masked(service_on_simulator, postgres_schema):
    world = on_postgres(service_on_simulator, postgres_schema.url)
    result = world.run_call(PAYING, PAYMENT, timeout=60)
    assert result.outcome.result != "error", result.outcome
    [payment] = world.service.store.list()
    assert (payment["status"], payment["amount_minor"], payment["card"]) == \
        ("approved", 1250, "411111******1111")
    assert payment["auth_code"] == world.sandbox.charges[0]["auth_code"]
    assert traces(everything_in(postgres_schema)) == []
    assert readyz(world)[1]["store"]["backend"] == "postgresql"


def test_a_payment_waiting_on_a_slow_database_holds_up_no_other_call(service_on_simulator,
                                                                    postgres_schema):
    world = on_postgres(service_on_simulator, postgres_schema.url, timeout=30)
    baseline = time.monotonic()
    world.run_call(*MENU)
    menu_alone = time.monotonic() - baseline
    with postgres_schema.server.connect() as holder:
        # another client holds the payment counter: the payment's next_number waits on it
        holder.run("BEGIN")
        holder.run("SELECT value FROM %s.counters FOR UPDATE" % postgres_schema.name)
        paying = world.place(PAYING, PAYMENT)
        eventually(lambda: waiting_on_a_lock(postgres_schema), timeout=30,
                   what="the payment waiting on the database")
        started = time.monotonic()
        menu = world.run_call(*MENU)
        menu_seconds = time.monotonic() - started
        status, body = readyz(world)
        still_waiting = waiting_on_a_lock(postgres_schema)
        holder.run("COMMIT")
    assert menu.outcome.result == "transferred" and still_waiting
    assert status == 200 and body["calls_in_progress"] == 1      # the payment, waiting
    # in its normal time: not held for the database (a blocking driver would hold it all)
    assert menu_seconds < menu_alone * 2 + 1.0, (menu_seconds, menu_alone)
    paid = world.finish(paying, 60)
    assert paid.outcome.result != "error"
    [payment] = world.service.store.list()
    assert payment["status"] == "approved" and len(world.sandbox.charges) == 1


def waiting_on_a_lock(schema):
    with schema.server.connect() as con:
        return bool(con.run("SELECT 1 FROM pg_stat_activity WHERE application_name = :name "
                            "AND wait_event_type = 'Lock'", name=schema.application_name))


def test_a_database_gone_is_shown_charges_nothing_and_is_found_again(service_on_simulator,
                                                                     postgres_schema):
    server = postgres_schema.server
    relay = RawRelay((server.host, server.port)).start()
    port = relay.address[1]
    world = on_postgres(service_on_simulator, postgres_schema.url_through("127.0.0.1", port),
                        timeout=1, retries=3)
    assert readyz(world)[0] == 200 and world.metric("payivr_store_up") == 1
    relay.stop()
    eventually(lambda: readyz(world)[0] == 503, timeout=10, what="/readyz not ready")
    status, body = readyz(world)
    assert body["store"]["up"] is False and body["store"]["reason"]
    assert world.metric("payivr_store_up") == 0
    assert world.metric("payivr_store_errors_total", kind="connection") >= 1
    lost = world.run_call(PAYING, PAYMENT, timeout=60)
    # no record could be written before the gateway: the payment is not sent at all
    assert lost.outcome.result == "error" and world.sandbox.charges == []
    relay = RawRelay((server.host, server.port), listen=("127.0.0.1", port)).start()
    try:
        eventually(lambda: readyz(world)[0] == 200, timeout=10, what="/readyz ready again")
        assert world.metric("payivr_store_up") == 1
        paid = world.run_call(PAYING, PAYMENT, timeout=60)
        assert paid.outcome.result != "error"
        [payment] = world.service.store.list()
        assert payment["status"] == "approved" and len(world.sandbox.charges) == 1
    finally:
        relay.stop()


def test_a_connection_killed_under_the_service_loses_no_payment(service_on_simulator,
                                                                postgres_schema):
    world = on_postgres(service_on_simulator, postgres_schema.url)
    first = world.run_call(PAYING, PAYMENT, timeout=60)
    assert postgres_schema.terminate() >= 1
    second = world.run_call(PAYING, dict(PAYMENT, pay_reference="INV-PG2"), timeout=60)
    assert first.outcome.result != "error" and second.outcome.result != "error"
    rows = world.service.store.list()
    assert [r["status"] for r in rows] == ["approved", "approved"]
    assert sorted(r["auth_code"] for r in rows) == sorted(c["auth_code"] for c in world.sandbox.charges)
    assert world.metric("payivr_store_errors_total", kind="connection") >= 1
    assert readyz(world)[0] == 200


def test_a_database_that_cannot_be_reached_stops_start_up_saying_so(tmp_path):
    import gevent.socket
    import pytest
    import yaml

    from orchestrator.config import ConfigError, load_config
    from orchestrator.service import Service
    from tests.support.service import FLOWS

    with gevent.socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]
    path = tmp_path / "orchestrator.yaml"
    path.write_text(yaml.safe_dump({
        "listen": {"host": "127.0.0.1", "port": 0}, "http": {"enabled": False},
        "flows": {"directory": FLOWS},
        "store": {"url": "postgresql://payivr@127.0.0.1:%d/payivr" % port,
                  "password": "${env:DB_PASSWORD}", "timeout": 1}}))
    with pytest.raises(ConfigError) as raised:
        Service(load_config(str(path), environ={"DB_PASSWORD": "hunter2"}))
    message = str(raised.value)
    assert "store.url: cannot open postgresql://payivr@127.0.0.1:%d/payivr" % port in message
    assert "refused" in message.lower() and "hunter2" not in message
