"""Starting the switches of the live suite: the switch under test, and more switches like it.

``start_switch`` is the one start-up of a suite-started switch (``FREESWITCH_BIN``): a copy of
the shipped ``freeswitch_conf/`` in a folder of its own, the event socket on a free port with a
password of its own, the plain socket extension (``PLAIN_SOCKET``), a SIP profile on loopback
and XML CDR files (tests/support/live/live_conf.py), its ``socket`` application pointed at
``socket_address`` (where the test's Service listens). The ``live_switch`` fixture is the
first such switch; tests/live/test_two_nodes.py starts a second one as another node of the
same Service. Each has its own Core-UUID, drawn by FreeSWITCH at start-up.
"""
import os
import tempfile
import uuid as uuidlib
from contextlib import contextmanager
from dataclasses import dataclass

from tests.support.live.fsprocess import (PLAIN_SOCKET, FreeSwitchProcess, free_port, prepare_conf,
                                          wait_event_socket)
from tests.support.live.live_conf import add_sip_profile, add_xml_cdr, set_rtp_ports

DEFAULT_SOUNDS = "/usr/share/freeswitch/sounds/en/us/callie"


@dataclass
class LiveSwitch:
    host: str
    port: int
    password: str
    socket_address: tuple      # where the dialplan's `socket` connects: the tests listen here
    extension: str
    context: str
    process: FreeSwitchProcess = None
    sip_port: int = None       # its SIP profile (a suite-started switch only)
    cdr_dir: str = None        # where mod_xml_cdr writes (a suite-started switch only)
    fs_env: dict = None


def _address(text):
    host, _, port = text.rpartition(":")
    return host or "127.0.0.1", int(port)


def running_switch(env):
    """The switch the FREESWITCH_ESL_* variables name (one the suite does not start)."""
    return LiveSwitch(env.get("FREESWITCH_ESL_HOST", "127.0.0.1"),
                      int(env.get("FREESWITCH_ESL_PORT", "8021")), env["FREESWITCH_ESL_PASSWORD"],
                      _address(env.get("FREESWITCH_SOCKET_ADDRESS", "127.0.0.1:8084")),
                      env.get("FREESWITCH_EXTENSION", "7000"),
                      env.get("FREESWITCH_CONTEXT", "default"))


def sounds_problem(prefix):
    """Why the switch cannot play the shipped flows' prompts from ``prefix``, or None."""
    if os.path.exists(os.path.join(prefix, "digits", "1.wav")):
        return None
    # say then fails on every file, and a file the switch cannot open flushes the keys typed
    # ahead (freeswitch_conf/scripts/pay_secure.lua): the calls would not be the calls a site has
    return ("the sound prefix %s has no digits/1.wav: set FREESWITCH_SOUNDS to a folder with the "
            "English sounds mod_say_en plays (digits/, currency/), such as "
            "freeswitch-sounds-en-us-callie at 8000 Hz" % prefix)


@contextmanager
def start_switch(binary, sounds=None, socket_address=None, prefix="fs-live-", rtp_ports=None,
                 env=None):
    """A switch on the shipped configuration, as a ``LiveSwitch``; stopped on leaving.

    ``socket_address`` (host, port): where its dialplan's ``socket`` connects (a free port when
    None). ``rtp_ports`` (start, end): an RTP range of its own, for a switch that places SIP
    calls beside another on this host. ``env``: more environment for the switch (the
    configuration's ``FS_SOUND_PREFIX_ES``...)."""
    workdir = tempfile.mkdtemp(prefix=prefix)
    esl_port = free_port()
    socket_address = socket_address or ("127.0.0.1", free_port())
    password = "live-" + uuidlib.uuid4().hex
    conf = prepare_conf(os.path.join(workdir, "conf"), esl_port, extra_dialplan=PLAIN_SOCKET)
    sip_port, cdr_dir = free_port(), os.path.join(workdir, "cdr")
    add_sip_profile(conf, "pay_in", sip_port)
    add_xml_cdr(conf, cdr_dir)
    if rtp_ports:
        set_rtp_ports(conf, *rtp_ports)
    fs_env = {"FS_ESL_PASSWORD": password,
              "ORCHESTRATOR_ESL_ADDRESS": "%s:%d" % tuple(socket_address)}
    if sounds:
        fs_env["FS_SOUND_PREFIX"] = sounds
    fs_env.update(env or {})
    process = FreeSwitchProcess(binary, conf, workdir, fs_env).start()
    try:
        wait_event_socket("127.0.0.1", esl_port, password, process=process).close()
        yield LiveSwitch("127.0.0.1", esl_port, password, tuple(socket_address), "7000",
                         "default", process, sip_port, cdr_dir, fs_env)
    finally:
        process.stop()
