"""The shipped failover dialplan (extension 7100: the first instance, then the second, then a
person) on a real FreeSWITCH, with real services on one PostgreSQL store. It needs the switch
binary (FREESWITCH_BIN): the switch is started here with both instance addresses in its
environment (ORCHESTRATOR_ESL_ADDRESS, ORCHESTRATOR_ESL_ADDRESS_2), which a running switch the
suite did not start may not have. The simulator's run of the same XML is
tests/cluster/test_failover_dialplan.py. Also here: the pay extension's choice of socket
(pay_socket_target in payments.xml), a call naming its instance and one naming none."""
import os
import shutil
import uuid as uuidlib

import gevent
import pytest
import yaml

from orchestrator.config import load_config
from orchestrator.service import Service
from tests.support.live.fsprocess import FreeSwitchProcess, free_port, prepare_conf, wait_event_socket
from tests.support.service import FLOWS
from tests.support.waiting import eventually

pytestmark = pytest.mark.skipif(not os.environ.get("FREESWITCH_BIN"),
                                reason="the failover test starts its own switch: set FREESWITCH_BIN")
CLUSTER = {"heartbeat_interval": 0.5, "dead_after": 4.0, "request_timeout": 5.0}


@pytest.fixture
def failover_switch(tmp_path):
    first, second, esl_port = free_port(), free_port(), free_port()
    password = "live-" + uuidlib.uuid4().hex
    conf = prepare_conf(str(tmp_path / "conf"), esl_port)
    environment = {"FS_ESL_PASSWORD": password,
                   "ORCHESTRATOR_ESL_ADDRESS": "127.0.0.1:%d" % first,
                   "ORCHESTRATOR_ESL_ADDRESS_2": "127.0.0.1:%d" % second}
    if os.environ.get("FREESWITCH_SOUNDS"):
        environment["FS_SOUND_PREFIX"] = os.environ["FREESWITCH_SOUNDS"]
    process = FreeSwitchProcess(os.environ["FREESWITCH_BIN"], conf, str(tmp_path), environment).start()
    try:
        es = wait_event_socket("127.0.0.1", esl_port, password, process=process)
        es.command("event plain CHANNEL_EXECUTE CHANNEL_HANGUP")
        yield es, first, second
        es.close()
    finally:
        process.stop()


def service_on(folder, port, url, name, flows=FLOWS):
    folder.mkdir()
    path = folder / "orchestrator.yaml"
    path.write_text(yaml.safe_dump({
        "listen": {"host": "127.0.0.1", "port": port}, "http": {"enabled": False},
        "flows": {"directory": flows}, "store": {"url": url},
        "cluster": dict(CLUSTER, name=name), "timeouts": {"shutdown_grace": 1.0}}))
    taken = []
    service = Service(load_config(str(path), environ={}),
                      on_call_end=lambda channel, flow, outcome: taken.append(channel.uuid))
    service.start()
    return service, taken


def call_7100(es):
    a_leg = str(uuidlib.uuid4())
    es.command("bgapi originate {origination_uuid=%s,pay_reference=INV-LIVE}loopback/7100/default "
               "&park()" % a_leg)
    return a_leg


def of_call(a_leg):
    return lambda m: m.headers.get("variable_other_loopback_leg_uuid") == a_leg


def test_the_second_instance_takes_a_call_the_first_cannot(tmp_path, failover_switch, postgres_schema):
    es, first, second = failover_switch                       # nothing listens on `first`
    service, taken = service_on(tmp_path / "b", second, postgres_schema.url, "b")
    try:
        a_leg = call_7100(es)
        eventually(lambda: service.server.active_calls > 0 or taken, timeout=30,
                   what="the second instance's call")
        es.api("uuid_kill %s" % a_leg)
        eventually(lambda: taken, timeout=30, what="the call's end on the second instance")
    finally:
        service.stop(grace=1)


def test_a_call_the_first_took_and_lost_goes_to_a_person(tmp_path, failover_switch,
                                                         postgres_schema):
    es, first, second = failover_switch
    only_welcome = tmp_path / "flows"
    only_welcome.mkdir()
    shutil.copy(os.path.join(FLOWS, "welcome.yaml"), str(only_welcome))
    # the first instance lacks the flow 7100 names: it marks the call taken and lets it go
    a, _ = service_on(tmp_path / "a", first, postgres_schema.url, "a", flows=str(only_welcome))
    b, taken_by_b = service_on(tmp_path / "b", second, postgres_schema.url, "b")
    try:
        a_leg = call_7100(es)
        es.wait_for(lambda m: m.event_name == "CHANNEL_EXECUTE" and of_call(a_leg)(m)
                    and m.headers.get("Application") == "speak", timeout=30,
                    what="the agent extension's announcement")
        gevent.sleep(1)
        assert taken_by_b == [] and b.server.active_calls == 0
        es.api("uuid_kill %s" % a_leg)
    finally:
        b.stop(grace=1)
        a.stop(grace=1)


def pay_call(es, variables):
    a_leg = str(uuidlib.uuid4())
    extra = "".join(",%s=%s" % item for item in variables.items())
    es.command("bgapi originate {origination_uuid=%s,pay_flow=welcome%s}loopback/pay/payments "
               "&park()" % (a_leg, extra))
    return a_leg


def socket_dialled(es, a_leg):
    message = es.wait_for(lambda m: m.event_name == "CHANNEL_EXECUTE" and of_call(a_leg)(m)
                          and m.headers.get("Application") == "socket", timeout=30,
                          what="the pay extension's socket")
    return message.headers.get("Application-Data", "")


def test_a_call_naming_its_instance_reaches_that_socket_not_the_first(tmp_path, failover_switch,
                                                                      postgres_schema):
    """payments.xml's pay_socket_target on the real switch: a call that carries
    pay_socket_address (an instance sets it with an agent's payment) is sent to that socket,
    though the dialplan's first instance comes first; one that carries none, to the first."""
    es, first, second = failover_switch                       # nothing listens on `first`
    service, taken = service_on(tmp_path / "b", second, postgres_schema.url, "b")
    try:
        a_leg = pay_call(es, {"pay_socket_address": "127.0.0.1:%d" % second})
        assert socket_dialled(es, a_leg) == "127.0.0.1:%d async full" % second
        eventually(lambda: taken, timeout=30, what="the call on the instance it named")
        es.api("uuid_kill %s" % a_leg)

        a_leg = pay_call(es, {})
        assert socket_dialled(es, a_leg) == "127.0.0.1:%d async full" % first
        es.api("uuid_kill %s" % a_leg)
        assert len(taken) == 1
    finally:
        service.stop(grace=1)
