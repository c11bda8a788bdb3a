"""Record the golden transcripts from a real FreeSWITCH 1.10, with the project's ESL recorder.

Run by hand (never in CI), one switch at a time, everything on 127.0.0.1::

    .venv/bin/python -m tests.conformance.record_golden --freeswitch /path/to/bin/freeswitch
    .venv/bin/python -m tests.conformance.record_golden --freeswitch ... --only outbound_dtmf

It starts the given binary on a copy of ``freeswitch_conf/`` (event socket on a free port, plus
the small ``conformance`` context below), then for each scenario puts the recorder between the
switch and a bare client that plays the orchestrator's part, and writes
``golden/<scenario>.jsonl``. The caller's actions (keys, hangup) are made over a separate inbound
connection and appear in the transcript as ``note`` records, which the replay understands.

The ``outbound_secure_*`` scenarios run ``freeswitch_conf/scripts/pay_secure.lua`` (the copy in
the switch's conf directory) the way docs/secure-entry.md says, on a channel made
``sensitive_dtmf`` over the socket. The keys they press and the line the script writes to its
FIFO are noted with every digit as ``X`` (``press XXXXXXXXXXXXXXXX#``,
``fifo-line ok # XXXXXXXXXXXXXXXX``): no card digit is in a golden. The play scenario needs the
English sound files for ``say`` (``--sounds``).
"""
import argparse
import os
import re
import sys
import tempfile
import uuid as uuidlib

from gevent import monkey

monkey.patch_all()

import gevent  # noqa: E402
import gevent.queue  # noqa: E402
from gevent import socket  # noqa: E402
from gevent.server import StreamServer  # noqa: E402

from orchestrator.esl.outbound import UNREAD_EVENTS  # noqa: E402
from orchestrator.esl.recorder import EslRecorder  # noqa: E402
from tests.support.esl_messages import RawClient  # noqa: E402
from tests.support.live.fsprocess import FreeSwitchProcess, free_port, prepare_conf, wait_event_socket  # noqa: E402
from tests.support.secure_entry import Fifo, encode_segments  # noqa: E402

GOLDEN = os.path.join(os.path.dirname(os.path.abspath(__file__)), "golden")
PASSWORD = "conformance-pw"
PAN, EXPIRY = "4111111111111111", "1228"     # keyed in the secure scenarios, noted as X
DIALPLAN = """<include>
  <context name="conformance">
    <extension name="full"><condition field="destination_number" expression="^full$">
      <action application="set" data="socket_resume=true"/>
      <action application="socket" data="127.0.0.1:%(proxy)d async full"/>
      <action application="playback" data="silence_stream://200"/>
      <action application="hangup" data="NORMAL_CLEARING"/>
    </condition></extension>
    <extension name="notfull"><condition field="destination_number" expression="^notfull$">
      <action application="set" data="socket_resume=true"/>
      <action application="socket" data="127.0.0.1:%(proxy)d async"/>
      <action application="hangup" data="NORMAL_CLEARING"/>
    </condition></extension>
    <extension name="target"><condition field="destination_number" expression="^target$">
      <action application="playback" data="silence_stream://500"/>
      <action application="hangup" data="NORMAL_CLEARING"/>
    </condition></extension>
  </context>
</include>
"""


# ---- what the orchestrator's side does -------------------------------------------------------
def is_reply(m):
    return m.is_reply


def command(client, text, timeout=5.0):
    start = len(client.messages)
    client.send(text)
    return client.messages[client.wait(is_reply, timeout, start, "reply to %r" % text)]


def connect(client):
    client.send("connect")
    return client.messages[client.wait(lambda m: m.get("Reply-Text") == "+OK\n", 5, 0, "connect")]


def execute(client, app, arg="", wait=True, timeout=20.0, lock=False):
    app_uuid = str(uuidlib.uuid4())
    lines = ["sendmsg", "call-command: execute", "execute-app-name: %s" % app]
    if arg:
        lines.append("execute-app-arg: %s" % arg)
    lines.append("event-uuid: %s" % app_uuid)
    if lock:
        lines.append("event-lock: true")
    command(client, "\n".join(lines))
    if wait:
        wait_complete(client, app_uuid, timeout)
    return app_uuid


def wait_complete(client, app_uuid, timeout=20.0):
    return client.wait(lambda m: m.event_name == "CHANNEL_EXECUTE_COMPLETE"
                       and m.get("Application-UUID") == app_uuid, timeout, 0, "completion")


def wait_started(client, app_uuid, timeout=20.0):
    return client.wait(lambda m: m.event_name == "CHANNEL_EXECUTE"
                       and m.get("Application-UUID") == app_uuid, timeout, 0, "execute")


def settle(seconds=0.5):
    gevent.sleep(seconds)


# ---- scenarios: outbound (the switch dials the client) ------------------------------------------
def outbound_connect(client, call):
    connect(client)
    command(client, "myevents")
    command(client, "linger 5")
    command(client, "nolinger")
    command(client, "linger")
    command(client, "getvar socket_resume")
    settle()
    command(client, "exit")
    client.wait_closed(5)


def outbound_not_full(client, call):
    connect(client)
    command(client, "myevents")
    command(client, "api status")
    command(client, "bgapi status")
    command(client, "linger 10")
    command(client, "event plain ALL")
    settle()
    command(client, "exit")
    client.wait_closed(5)


def outbound_apps_media(client, call):
    connect(client)
    command(client, "myevents")
    command(client, "linger 5")
    execute(client, "answer")
    execute(client, "playback", "tone_stream://%(300,0,440)")
    execute(client, "playback", "silence_stream://300")
    execute(client, "playback", "/nonexistent/conformance.wav")
    execute(client, "speak", "flite|kal|Hello.")
    execute(client, "say", "en NUMBER pronounced FEMININE 12")
    app_uuid = execute(client, "playback", "silence_stream://5000", wait=False)
    settle(0.5)
    command(client, "api uuid_break %s" % call.uuid)
    wait_complete(client, app_uuid)
    settle()
    command(client, "exit")
    client.wait_closed(5)


def outbound_apps_variables(client, call):
    connect(client)
    command(client, "myevents")
    execute(client, "set", "conformance_var=one")
    command(client, "api uuid_getvar %s conformance_var" % call.uuid)
    execute(client, "unset", "conformance_var")
    command(client, "api uuid_getvar %s conformance_var" % call.uuid)
    command(client, "getvar conformance_var")
    settle()
    command(client, "exit")
    client.wait_closed(5)


def outbound_bridge_fail(client, call):
    connect(client)
    command(client, "myevents")
    execute(client, "answer")
    execute(client, "set", "continue_on_fail=true")
    execute(client, "bridge", "loopback/nowhere/conformance")
    settle()
    command(client, "exit")
    client.wait_closed(5)


def outbound_transfer(client, call):
    connect(client)
    command(client, "myevents")
    execute(client, "answer")
    execute(client, "unset", "socket_resume")
    execute(client, "transfer", "target XML conformance")
    # the socket stays attached: the target extension's events and its hangup come here
    client.wait(lambda m: m.content_type == "text/disconnect-notice", 15, 0, "disconnect")
    client.wait_closed(5)


def outbound_dtmf(client, call):
    connect(client)
    command(client, "myevents")
    execute(client, "answer")
    settle()
    call.press("5")
    client.wait(lambda m: m.event_name == "DTMF", 5, 0, "DTMF")
    app_uuid = execute(client, "playback", "silence_stream://4000", wait=False)
    settle(0.5)
    call.press("*")
    wait_complete(client, app_uuid)
    execute(client, "set", "sensitive_dtmf=true")
    call.press("7")
    settle(1.0)
    command(client, "exit")
    client.wait_closed(5)


def outbound_narrow_events(client, call):
    """The service's subscription (esl/outbound.py): myevents, then nixevent of what a call
    never reads, then linger, the three in one write (EslConnection.send_all), each answered
    in turn. What is left: completions, keys and the hang-up."""
    connect(client)
    start = len(client.messages)
    client.send("myevents\n\nnixevent %s\n\nlinger 2" % " ".join(UNREAD_EVENTS))
    for _ in range(3):
        start = client.wait(is_reply, 5, start, "the set-up replies") + 1
    execute(client, "answer")
    execute(client, "set", "conformance_var=one")
    app_uuid = execute(client, "playback", "silence_stream://4000", wait=False)
    settle(0.5)
    call.press("5")
    client.wait(lambda m: m.event_name == "DTMF", 5, 0, "DTMF")
    wait_complete(client, app_uuid)
    settle()
    call.hangup()
    client.wait(lambda m: m.header("Content-Disposition") == "linger", 5, 0, "linger notice")
    client.wait_closed(6)


def outbound_setvar_then_execute(client, call):
    """What Channel.start sends for a secure read (esl/channel.py): the variables the
    application reads, set with ``uuid_setvar_multi`` and ``uuid_setvar`` (a value holding
    ``;`` and ``=``), and the ``sendmsg`` that reads them, all in one write. The switch
    answers each in turn, and the application sees every variable (the ``set`` copies them
    into ``conformance_copy``)."""
    connect(client)
    command(client, "myevents")
    execute(client, "answer")
    start = len(client.messages)
    app_uuid = str(uuidlib.uuid4())
    client.send("api uuid_setvar_multi %s conformance_a=one;conformance_b=two\n\n"
                "api uuid_setvar %s conformance_c x=1;y\n\n"
                "sendmsg\ncall-command: execute\nexecute-app-name: set\n"
                "execute-app-arg: conformance_copy=${conformance_a}/${conformance_b}/${conformance_c}\n"
                "event-uuid: %s\nevent-lock: true" % (call.uuid, call.uuid, app_uuid))
    for _ in range(3):
        start = client.wait(is_reply, 5, start, "the replies in turn") + 1
    wait_complete(client, app_uuid)
    command(client, "exit")
    client.wait_closed(5)


def outbound_hangup_nolinger(client, call):
    connect(client)
    command(client, "myevents")
    execute(client, "answer")
    command(client, "sendmsg\ncall-command: hangup\nhangup-cause: USER_BUSY")
    client.wait_closed(5)


def outbound_hangup_linger(client, call):
    connect(client)
    command(client, "myevents")
    command(client, "linger 2")
    execute(client, "answer")
    settle()
    call.hangup()
    client.wait(lambda m: m.header("Content-Disposition") == "linger", 5, 0, "linger notice")
    client.wait_closed(6)


def outbound_client_dies(client, call):
    connect(client)
    command(client, "myevents")
    command(client, "linger 5")
    execute(client, "answer")
    execute(client, "playback", "silence_stream://5000", wait=False)
    settle(0.5)
    call.note("client-abort")
    client.close(abrupt=True)


# ---- scenarios: the card-entry script (docs/secure-entry.md) -----------------------------------
def secure_session(client):
    """The orchestrator's start of a secure call: sensitive_dtmf before any key, TTS voice for
    the say: prompts; every execute with event-lock."""
    connect(client)
    command(client, "myevents")
    execute(client, "answer", lock=True)
    execute(client, "set", "sensitive_dtmf=true", lock=True)
    execute(client, "set", "tts_engine=flite", lock=True)
    execute(client, "set", "tts_voice=kal", lock=True)


def secure_read(client, call, fifo, minimum, maximum, prompt, first_ms=5000, inter_ms=3000,
                wait=True):
    command(client, "api uuid_setvar %s pay_secure_prompt %s" % (call.uuid, prompt))
    app_uuid = execute(client, "lua", "%s read %s %d %d %d %d #*" % (
        call.script, fifo.path, minimum, maximum, first_ms, inter_ms), wait=False, lock=True)
    if wait:
        wait_started(client, app_uuid)
    return app_uuid


def status_vars(client, call):
    command(client, "api uuid_getvar %s pay_secure_status" % call.uuid)
    command(client, "api uuid_getvar %s read_terminator_used" % call.uuid)


def outbound_secure_read(client, call):
    secure_session(client)
    fifo = call.fifo()
    app_uuid = secure_read(client, call, fifo, 16, 19, "say:Please enter your card number.")
    call.press_secret(PAN + "#")
    call.fifo_line(fifo, "ok # %s\n" % PAN)
    wait_complete(client, app_uuid)
    status_vars(client, call)
    settle()
    command(client, "exit")
    client.wait_closed(5)


def outbound_secure_cancel(client, call):
    secure_session(client)
    fifo = call.fifo()
    app_uuid = secure_read(client, call, fifo, 16, 19, "silence")
    call.press_secret(PAN[:6] + "*")
    call.fifo_line(fifo, "cancel * -\n")
    wait_complete(client, app_uuid)
    status_vars(client, call)
    # the next field: not taken for cancelled by the '*' before it
    fifo = call.fifo()
    app_uuid = secure_read(client, call, fifo, 4, 4, "silence")
    call.press_secret(EXPIRY)
    call.fifo_line(fifo, "ok - %s\n" % EXPIRY)
    wait_complete(client, app_uuid)
    status_vars(client, call)
    settle()
    command(client, "exit")
    client.wait_closed(5)


PLAY_SEGMENTS = (("file", "tone_stream://%(1500,0,440)"),
                 ("speak", "flite", "kal", "The amount due, today, is twelve euros & fifty cents."),
                 ("say", "en", "NUMBER", "pronounced", "", "1250"),
                 ("say", "en", "CURRENCY", "pronounced", "", "12.50"))


def outbound_secure_play(client, call):
    """Keys typed over a play reach the read queued behind it (event-lock)."""
    secure_session(client)
    fifo = call.fifo()
    command(client, "api uuid_setvar %s pay_secure_play %s"
            % (call.uuid, encode_segments(*PLAY_SEGMENTS)))
    play_uuid = execute(client, "lua", "%s play" % call.script, wait=False, lock=True)
    read_uuid = secure_read(client, call, fifo, 16, 19, "silence", wait=False)
    wait_started(client, play_uuid)
    settle(0.3)
    call.press_secret(PAN + "#")
    wait_complete(client, play_uuid, 40)
    call.fifo_line(fifo, "ok # %s\n" % PAN)
    wait_complete(client, read_uuid)
    status_vars(client, call)
    command(client, "api uuid_getvar %s pay_secure_play" % call.uuid)
    settle()
    command(client, "exit")
    client.wait_closed(5)


def outbound_secure_hangup(client, call):
    """The caller goes during the read. With linger, as the orchestrator asks for it, the lua
    application's completion comes before the socket closes (without, it races the close)."""
    secure_session(client)
    command(client, "linger 5")
    fifo = call.fifo()
    app_uuid = secure_read(client, call, fifo, 16, 19, "silence")
    call.press_secret(PAN[:6])
    settle(1.0)
    call.hangup()
    call.fifo_line(fifo, "hangup - -\n")
    wait_complete(client, app_uuid)
    client.wait(lambda m: m.header("Content-Disposition") == "linger", 10, 0, "linger notice")
    client.wait_closed(8)


# ---- scenarios: inbound (a client dials the switch) -----------------------------------------------
def wait_auth(client):
    client.wait(lambda m: m.content_type == "auth/request", 5, 0, "auth/request")


def inbound_auth_good(client, call):
    wait_auth(client)
    command(client, "auth %s" % PASSWORD)
    command(client, "exit")
    client.wait_closed(5)


def inbound_auth_bad(client, call):
    wait_auth(client)
    command(client, "api status")
    command(client, "auth wrong-password")
    client.wait_closed(5)


def inbound_api(client, call):
    wait_auth(client)
    command(client, "auth %s" % PASSWORD)
    command(client, "api status")
    command(client, "api uuid_exists 00000000-0000-4000-8000-000000000000")
    command(client, "api uuid_getvar 00000000-0000-4000-8000-000000000000 x")
    command(client, "api uuid_break 00000000-0000-4000-8000-000000000000")
    command(client, "api no_such_command")
    command(client, "api show channels")
    command(client, "exit")
    client.wait_closed(5)


def inbound_bgapi(client, call):
    wait_auth(client)
    command(client, "auth %s" % PASSWORD)
    command(client, "event plain BACKGROUND_JOB")
    command(client, "bgapi uuid_exists 00000000-0000-4000-8000-000000000000")
    client.wait(lambda m: m.event_name == "BACKGROUND_JOB", 5, 0, "BACKGROUND_JOB")
    command(client, "exit")
    client.wait_closed(5)


def inbound_events(client, call):
    wait_auth(client)
    command(client, "auth %s" % PASSWORD)
    command(client, "event plain NO_SUCH_EVENT")
    command(client, "event json BACKGROUND_JOB CHANNEL_CREATE")
    command(client, "bgapi status")
    client.wait(lambda m: m.event_name == "BACKGROUND_JOB", 5, 0, "BACKGROUND_JOB")
    command(client, "nixevent CHANNEL_CREATE")
    command(client, "filter Event-Name BACKGROUND_JOB")
    command(client, "filter delete Event-Name BACKGROUND_JOB")
    command(client, "noevents")
    command(client, "noevents")
    command(client, "exit")
    client.wait_closed(5)


OUTBOUND = {f.__name__: f for f in (
    outbound_connect, outbound_not_full, outbound_apps_media, outbound_apps_variables,
    outbound_bridge_fail, outbound_transfer, outbound_dtmf, outbound_narrow_events,
    outbound_setvar_then_execute, outbound_hangup_nolinger,
    outbound_hangup_linger, outbound_client_dies, outbound_secure_read, outbound_secure_cancel,
    outbound_secure_play, outbound_secure_hangup)}
NEEDS_SOUNDS = {"outbound_secure_play"}
EXTENSION = {"outbound_not_full": "notfull"}
INBOUND = {f.__name__: f for f in (
    inbound_auth_good, inbound_auth_bad, inbound_api, inbound_bgapi, inbound_events)}


class CallerSide:
    """The caller's leg (the loopback a-leg), driven over the control connection, and where the
    secure scenarios find the script (``script``) and make their FIFOs (``fifo_dir``)."""

    def __init__(self, control, recorder, a_leg, script=None, fifo_dir=None):
        self.control, self.recorder, self.a_leg = control, recorder, a_leg
        self.script, self.fifo_dir = script, fifo_dir
        self.uuid = None  # the controlled leg, learned from the connect reply
        self.fifos = []

    def note(self, text):
        self.recorder.note(text)

    def press(self, digits):
        self.note("press %s" % digits)
        self.control.api("uuid_send_dtmf %s %s" % (self.a_leg, digits))

    def press_secret(self, keys):
        """Keys of a card field: noted with each digit as X, so the golden holds none."""
        self.note("press %s" % re.sub(r"\d", "X", keys))
        self.control.api("uuid_send_dtmf %s %s" % (self.a_leg, keys))

    def fifo(self):
        fifo = Fifo(self.fifo_dir)
        self.fifos.append(fifo)
        return fifo

    def fifo_line(self, fifo, expected, timeout=20.0):
        """The script's line, noted with each digit as X; a recording that did not get the
        line the scenario is about stops here rather than write a misleading golden."""
        line = fifo.line(timeout)
        if line != expected:
            raise AssertionError("the script wrote %r to its FIFO, not the expected line"
                                 % re.sub(r"\d", "X", line or ""))
        self.note("fifo-line %s" % re.sub(r"\d", "X", line.rstrip("\n")))

    def close(self):
        for fifo in self.fifos:
            fifo.close()

    def hangup(self):
        self.note("caller-hangup")
        self.control.api("uuid_kill %s" % self.a_leg)


def run_outbound(name, scenario, control, proxy_port, script, fifo_dir):
    accepted = gevent.queue.Queue()
    orchestrator = StreamServer(("127.0.0.1", 0), lambda s, p: (accepted.put(s), gevent.sleep(60)))
    orchestrator.start()
    out = os.path.join(GOLDEN, name + ".jsonl")
    recorder = EslRecorder(("127.0.0.1", proxy_port), orchestrator.address, out, mode="outbound")
    recorder.start()
    a_leg = str(uuidlib.uuid4())
    call = CallerSide(control, recorder, a_leg, script, fifo_dir)
    try:
        control.conn.send("bgapi originate {origination_uuid=%s}loopback/%s/conformance &park()"
                          % (a_leg, EXTENSION.get(name, "full")))
        client = RawClient(accepted.get(timeout=10))
        scenario_with_uuid(scenario, client, call)
        client.wait_closed(12)
        client.close()
        gevent.sleep(0.5)
    finally:
        control.api("uuid_kill %s" % a_leg)
        gevent.sleep(0.5)
        recorder.stop()
        orchestrator.stop(timeout=1)
        call.close()
    print("recorded", out)


def scenario_with_uuid(scenario, client, call):
    """Learn the controlled leg's uuid from the connect reply, which the scenario asks for."""
    def learn():
        index = client.wait(lambda m: m.get("Reply-Text") == "+OK\n", 10, 0, "connect reply")
        call.uuid = client.messages[index].get("Unique-ID")
    gevent.spawn(learn)
    scenario(client, call)


def run_inbound(name, scenario, esl_port):
    out = os.path.join(GOLDEN, name + ".jsonl")
    recorder = EslRecorder(("127.0.0.1", 0), ("127.0.0.1", esl_port), out, mode="inbound").start()
    try:
        client = RawClient(socket.create_connection(recorder.address, timeout=5))
        scenario(client, None)
        client.close()
        gevent.sleep(0.5)
    finally:
        recorder.stop()
    print("recorded", out)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--freeswitch", required=True, help="the freeswitch binary")
    parser.add_argument("--only", action="append", help="scenario name (repeatable)")
    parser.add_argument("--sounds", default="", help="FS_SOUND_PREFIX for say (optional)")
    args = parser.parse_args(argv)
    wanted = set(args.only or list(OUTBOUND) + list(INBOUND))
    if wanted & NEEDS_SOUNDS and not args.sounds:
        parser.error("%s need --sounds (say)" % ", ".join(sorted(wanted & NEEDS_SOUNDS)))
    workdir = tempfile.mkdtemp(prefix="fs-golden-")
    esl_port, proxy_port = free_port(), free_port()
    conf = prepare_conf(os.path.join(workdir, "conf"), esl_port, DIALPLAN % {"proxy": proxy_port})
    env = {"FS_ESL_PASSWORD": PASSWORD, "ORCHESTRATOR_ESL_ADDRESS": "127.0.0.1:%d" % proxy_port}
    if args.sounds:
        env["FS_SOUND_PREFIX"] = args.sounds
    switch = FreeSwitchProcess(args.freeswitch, conf, workdir, env).start()
    script = os.path.join(conf, "scripts", "pay_secure.lua")    # where a site installs it
    fifo_dir = tempfile.mkdtemp(prefix="pay-fifo-")
    try:
        control = wait_event_socket("127.0.0.1", esl_port, PASSWORD, process=switch)
        for name, scenario in INBOUND.items():
            if name in wanted:
                run_inbound(name, scenario, esl_port)
        for name, scenario in OUTBOUND.items():
            if name in wanted:
                run_outbound(name, scenario, control, proxy_port, script, fifo_dir)
        control.close()
    finally:
        switch.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
