"""The live suite: the project against a real FreeSWITCH 1.10, marked ``freeswitch``.

Which switch, by environment variables:

* ``FREESWITCH_ESL_HOST`` / ``FREESWITCH_ESL_PORT`` (8021) / ``FREESWITCH_ESL_PASSWORD``: a
  running switch with ``freeswitch_conf/`` (or a dialplan like it), and
  ``FREESWITCH_SOCKET_ADDRESS`` (127.0.0.1:8084): where its ``socket`` application connects,
  which is where the tests listen. ``FREESWITCH_EXTENSION`` (7000) and
  ``FREESWITCH_CONTEXT`` (default) name the extension that hands calls to that address.
* or only ``FREESWITCH_BIN``: the suite starts that binary itself on a copy of
  ``freeswitch_conf/`` (free ports, loopback only) and stops it at the end.
  ``FREESWITCH_SOUNDS`` optionally sets its sound prefix. That switch also has a SIP profile
  on 127.0.0.1 (RFC 2833) and writes XML CDR files (tests/support/live/live_conf.py); SIP
  callers come from a second switch the suite starts from the same binary when a test asks.

Every test runs under the canary (tests/support/live/canary.py): extra clients on ``event
plain ALL`` and ``event json ALL`` and on the log stream, the log at DEBUG, the CDR files; at
the end of the test none may hold what its callers keyed.

With neither, every test here is skipped, saying which variables to set. Everything the tests
start listens on 127.0.0.1 only.
"""
import os
import tempfile
import uuid as uuidlib

import gevent.event
import pytest

from orchestrator.config import load_config
from orchestrator.payments.sandbox import SandboxGateway
from orchestrator.service import Service
from tests.support.live.agent_call import EXTRA_EVENTS, HOLD_TONE, Agent, write_agent_config
from tests.support.live.calls import SipCaller
from tests.support.live.canary import Canary
from tests.support.live.fsprocess import FreeSwitchProcess, free_port, prepare_conf, wait_event_socket
from tests.support.live.live_conf import add_sip_profile, set_rtp_ports
from tests.support.live.switches import DEFAULT_SOUNDS, running_switch, sounds_problem, start_switch

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


@pytest.fixture(scope="session")
def live_switch():
    env = os.environ
    if env.get("FREESWITCH_ESL_PASSWORD"):
        yield running_switch(env)
        return
    if not env.get("FREESWITCH_BIN"):
        pytest.skip(SKIP_REASON)
    problem = sounds_problem(env.get("FREESWITCH_SOUNDS", DEFAULT_SOUNDS))
    if problem:
        pytest.fail(problem)
    with start_switch(env["FREESWITCH_BIN"], env.get("FREESWITCH_SOUNDS")) as switch:
        yield switch


@pytest.fixture(scope="session")
def sip_caller(live_switch):
    """A second switch, the callers' phones: it calls the switch under test over SIP."""
    if live_switch.process is None or not live_switch.sip_port:
        pytest.skip("SIP callers need the switch the suite starts itself (FREESWITCH_BIN): a "
                    "running switch's SIP profiles are the site's")
    workdir = tempfile.mkdtemp(prefix="fs-caller-")
    esl_port = free_port()
    conf = prepare_conf(os.path.join(workdir, "conf"), esl_port)
    add_sip_profile(conf, "caller", free_port())
    set_rtp_ports(conf, 40000, 44999)
    process = FreeSwitchProcess(live_switch.process.binary, conf, workdir,
                                dict(live_switch.fs_env, ORCHESTRATOR_ESL_ADDRESS="127.0.0.1:9")).start()
    try:
        es = wait_event_socket("127.0.0.1", esl_port, live_switch.fs_env["FS_ESL_PASSWORD"],
                               process=process)
        yield SipCaller(es, "caller", live_switch.sip_port)
        es.close()
    finally:
        process.stop()


@pytest.fixture
def canary(live_switch):
    """The eavesdroppers of this test; at its end nothing they got may hold a keyed digit."""
    watch = Canary(live_switch)
    yield watch
    try:
        if watch.leak_expected is None:
            watch.assert_clean()
    finally:
        watch.close()


@pytest.fixture
def control(live_switch, canary):
    """An inbound connection that watches the calls' events and plays the caller."""
    from tests.support.live.calls import Control

    ctl = Control(live_switch, canary)
    ctl.api("fsctl loglevel debug")        # what the canary searches is the log at its fullest
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
            control.canary.in_band_line(control)
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
