"""The live suite: the project against a real FreeSWITCH 1.10, marked ``freeswitch``.

Which switch, by environment variables:

* ``FREESWITCH_ESL_HOST`` / ``FREESWITCH_ESL_PORT`` (8021) / ``FREESWITCH_ESL_PASSWORD``: a
  running switch with ``freeswitch_conf/`` (or a dialplan like it), and
  ``FREESWITCH_SOCKET_ADDRESS`` (127.0.0.1:8084): where its ``socket`` application connects,
  which is where the tests listen. ``FREESWITCH_EXTENSION`` (7000) and
  ``FREESWITCH_CONTEXT`` (default) name the extension that hands calls to that address.
* or only ``FREESWITCH_BIN``: the suite starts that binary itself on a copy of
  ``freeswitch_conf/`` (free ports, loopback only) and stops it at the end.
  ``FREESWITCH_SOUNDS`` optionally sets its sound prefix.

With neither, every test here is skipped, saying which variables to set. Everything the tests
start listens on 127.0.0.1 only.
"""
import os
import tempfile
import uuid as uuidlib
from dataclasses import dataclass

import gevent.event
import pytest

from orchestrator.config import load_config
from orchestrator.payments.sandbox import SandboxGateway
from orchestrator.service import Service
from tests.support.live.agent_call import EXTRA_EVENTS, HOLD_TONE, Agent, write_agent_config
from tests.support.live.fsprocess import (PLAIN_SOCKET, FreeSwitchProcess, free_port, prepare_conf,
                                          wait_event_socket)

SKIP_REASON = ("no FreeSWITCH configured: set FREESWITCH_ESL_HOST, FREESWITCH_ESL_PASSWORD "
               "(and FREESWITCH_ESL_PORT, FREESWITCH_SOCKET_ADDRESS) for a running switch, or "
               "FREESWITCH_BIN to let the suite start one on freeswitch_conf/")




def pytest_collection_modifyitems(config, items):
    configured = os.environ.get("FREESWITCH_ESL_PASSWORD") or os.environ.get("FREESWITCH_BIN")
    here = os.path.dirname(os.path.abspath(__file__))
    for item in items:
        if str(item.fspath).startswith(here):
            item.add_marker(pytest.mark.freeswitch)
            if not configured:
                item.add_marker(pytest.mark.skip(reason=SKIP_REASON))


@dataclass
class LiveSwitch:
    host: str
    port: int
    password: str
    socket_address: tuple      # where the dialplan's `socket` connects: the tests listen here
    extension: str
    context: str
    process: FreeSwitchProcess = None


def _address(text):
    host, _, port = text.rpartition(":")
    return host or "127.0.0.1", int(port)


@pytest.fixture(scope="session")
def live_switch():
    env = os.environ
    if env.get("FREESWITCH_ESL_PASSWORD"):
        yield LiveSwitch(env.get("FREESWITCH_ESL_HOST", "127.0.0.1"),
                         int(env.get("FREESWITCH_ESL_PORT", "8021")), env["FREESWITCH_ESL_PASSWORD"],
                         _address(env.get("FREESWITCH_SOCKET_ADDRESS", "127.0.0.1:8084")),
                         env.get("FREESWITCH_EXTENSION", "7000"),
                         env.get("FREESWITCH_CONTEXT", "default"))
        return
    if not env.get("FREESWITCH_BIN"):
        pytest.skip(SKIP_REASON)
    workdir = tempfile.mkdtemp(prefix="fs-live-")
    esl_port, socket_port = free_port(), free_port()
    password = "live-" + uuidlib.uuid4().hex
    conf = prepare_conf(os.path.join(workdir, "conf"), esl_port, extra_dialplan=PLAIN_SOCKET)
    fs_env = {"FS_ESL_PASSWORD": password,
              "ORCHESTRATOR_ESL_ADDRESS": "127.0.0.1:%d" % socket_port}
    if env.get("FREESWITCH_SOUNDS"):
        fs_env["FS_SOUND_PREFIX"] = env["FREESWITCH_SOUNDS"]
    process = FreeSwitchProcess(env["FREESWITCH_BIN"], conf, workdir, fs_env).start()
    try:
        wait_event_socket("127.0.0.1", esl_port, password, process=process).close()
        yield LiveSwitch("127.0.0.1", esl_port, password, ("127.0.0.1", socket_port), "7000",
                         "default", process)
    finally:
        process.stop()


@pytest.fixture
def control(live_switch):
    """An inbound connection that watches the calls' events and plays the caller."""
    from tests.support.live.calls import Control

    ctl = Control(live_switch)
    yield ctl
    ctl.close()


@pytest.fixture
def agent_service(request, tmp_path, live_switch, control):
    """The Service with the agent API on the live switch (tests/support/live/agent_call.py), as
    alice's ``Agent``; an indirect parameter names the hold music (``HOLD_TONE`` otherwise)."""
    hold_music = getattr(request, "param", HOLD_TONE)
    sandbox = SandboxGateway().start()
    config = write_agent_config(tmp_path, live_switch, sandbox, hold="music",
                                hold_music=hold_music)
    ended = gevent.event.AsyncResult()
    service = Service(load_config(str(config)),
                      on_call_end=lambda channel, flow, outcome: ended.set(outcome))
    handle = service.handle_call
    line = {"replies": [], "in_band": False}

    def watched_line(channel):
        """The flow's own switch commands and their replies are kept (``uuid_bridge``'s text);
        with ``in_band``, the caller's leg detects tones as keys, as a line keying in band."""
        api = channel.api

        def api_kept(command, *args, **kwargs):
            reply = api(command, *args, **kwargs)
            line["replies"].append((command.split(" ", 1)[0], reply))
            return reply
        channel.api = api_kept
        if line["in_band"]:
            line["start_dtmf"] = channel.execute("start_dtmf").get("Application-Response", "")
        handle(channel)

    service.server._handler = watched_line
    control.api("fsctl loglevel debug")
    control.es.command("event plain %s" % EXTRA_EVENTS)
    service.start()
    assert service.pool.nodes["live"].wait_connected(10)
    base = "http://127.0.0.1:%d/api/v1" % service.http_address[1]
    yield Agent(base, service, sandbox, ended, line)
    service.stop(grace=2)
    sandbox.stop()
    control.api("fsctl loglevel info")
