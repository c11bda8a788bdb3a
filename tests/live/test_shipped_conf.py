"""``freeswitch_conf/`` as shipped: FreeSWITCH 1.10 starts with it, loads what the flows
need, and routes calls to the orchestrator's address. Needs ``FREESWITCH_BIN``.

The copy differs from the shipped files only in the event socket's port (a free one, so a
switch already on 8021 is not disturbed); the orchestrator's address and the password come
from the environment variables the configuration documents.
"""
import os
import re
import tempfile
import uuid as uuidlib

import gevent
import gevent.queue
import pytest
from gevent.server import StreamServer

from tests.support.esl_messages import RawClient
from tests.support.live.fsprocess import (
    SHIPPED_CONF, FreeSwitchProcess, free_port, prepare_conf, wait_event_socket)


def shipped_modules():
    with open(os.path.join(SHIPPED_CONF, "autoload_configs", "modules.conf.xml")) as handle:
        text = re.sub(r"<!--.*?-->", "", handle.read(), flags=re.S)
    return re.findall(r'<load module="([^"]+)"/>', text)


@pytest.fixture
def shipped_switch():
    binary = os.environ.get("FREESWITCH_BIN")
    if not binary:
        pytest.skip("set FREESWITCH_BIN to the freeswitch binary to start it on freeswitch_conf/")
    workdir = tempfile.mkdtemp(prefix="fs-conf-")
    esl_port = free_port()
    accepted = gevent.queue.Queue()
    listener = StreamServer(("127.0.0.1", 0), lambda s, p: (accepted.put(s), gevent.sleep(10)))
    listener.start()
    password = "conf-" + uuidlib.uuid4().hex
    process = FreeSwitchProcess(binary, prepare_conf(os.path.join(workdir, "conf"), esl_port),
                                workdir, {"FS_ESL_PASSWORD": password,
                                          "ORCHESTRATOR_ESL_ADDRESS": "%s:%d" % listener.address})
    process.start()
    try:
        control = wait_event_socket("127.0.0.1", esl_port, password, process=process)
        yield process, control, accepted
        control.close()
    finally:
        process.stop()
        listener.stop(timeout=1)


def test_freeswitch_starts_with_the_shipped_conf_and_routes_calls_to_the_orchestrator(
        shipped_switch):
    process, control, accepted = shipped_switch
    modules = shipped_modules()
    assert "mod_event_socket" in modules and "mod_sofia" not in modules
    for module in modules:
        assert control.api("module_exists %s" % module).strip() == "true", module
    assert "[ERR]" not in process.log_text() and "[CRIT]" not in process.log_text()
    for extension, flow in (("7000", None), ("7001", "amount_due")):
        control.conn.send("bgapi originate loopback/%s/default &park()" % extension)
        client = RawClient(accepted.get(timeout=10))
        client.send("connect")
        reply = client.messages[client.wait(lambda m: m.get("Reply-Text") == "+OK\n", 5)]
        assert reply.get("Caller-Destination-Number") == extension
        assert reply.get("Control") == "full" and reply.get("Socket-Mode") == "async"
        assert reply.get("variable_socket_resume") == "true"
        assert reply.get("variable_pay_flow") == flow
        client.send("sendmsg\ncall-command: hangup\nhangup-cause: NORMAL_CLEARING")
        client.wait_closed(5)
        client.close()
