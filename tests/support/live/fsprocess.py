"""Start a real FreeSWITCH on a copy of ``freeswitch_conf/``, and talk to its event socket.

Used by the live suite (``-m freeswitch``) to prove the shipped configuration loads, and by
``tests/conformance/record_golden.py`` to record the golden transcripts. The copy differs from
the shipped files in two places only, both said here: the inbound event socket port (so a
test never collides with a switch already on 8021) and, when asked, one extra dialplan file.
Nothing here builds or ships FreeSWITCH: it runs the binary it is given.
"""
import os
import shutil
import signal
import socket as stdsocket
import subprocess
import time

import gevent
import gevent.event
from gevent import socket

from orchestrator.esl.protocol import EslConnection

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
SHIPPED_CONF = os.path.join(REPO, "freeswitch_conf")


# A hand-off to the socket as a site's non-payment IVR would have it: no sensitive_dtmf, so
# keys are DTMF events (the Channel's plain path); the payment extensions are the shipped ones.
PLAIN_CONTEXT, PLAIN_EXTENSION = "live_plain", "7090"
# (FreeSWITCH's pre-processor wants <include> and </include> on lines of their own)
PLAIN_SOCKET = """<include>
<context name="%s">
  <extension name="plain_socket"><condition field="destination_number" expression="^%s$">
    <action application="set" data="socket_resume=true"/>
    <action application="socket" data="$${orchestrator_esl_address} async full"/>
  </condition></extension>
</context>
</include>
""" % (PLAIN_CONTEXT, PLAIN_EXTENSION)


def free_port():
    with stdsocket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def prepare_conf(dest, esl_port, extra_dialplan=None):
    """Copy the shipped configuration to ``dest`` with the event socket on ``esl_port``."""
    shutil.copytree(SHIPPED_CONF, dest)
    path = os.path.join(dest, "autoload_configs", "event_socket.conf.xml")
    with open(path, encoding="utf-8") as handle:
        text = handle.read()
    needle = '<param name="listen-port" value="8021"/>'
    if needle not in text:
        raise AssertionError("event_socket.conf.xml no longer sets listen-port 8021")
    with open(path, "w", encoding="utf-8") as handle:
        handle.write(text.replace(needle, '<param name="listen-port" value="%d"/>' % esl_port))
    if extra_dialplan:
        with open(os.path.join(dest, "dialplan", "zz_test.xml"), "w", encoding="utf-8") as handle:
            handle.write(extra_dialplan)
    return dest


class FreeSwitchProcess:
    """One FreeSWITCH process in the foreground, its state under ``workdir``."""

    def __init__(self, binary, conf_dir, workdir, env):
        self.binary = binary
        self.conf_dir = conf_dir
        self.workdir = workdir
        self.env = env
        self.process = None
        self.log_path = os.path.join(workdir, "log", "freeswitch.log")

    def start(self):
        dirs = {name: os.path.join(self.workdir, name) for name in ("log", "db", "run")}
        for path in dirs.values():
            os.makedirs(path, exist_ok=True)
        env = dict(os.environ, **self.env)
        self.process = subprocess.Popen(
            [self.binary, "-nonat", "-nf", "-nc", "-conf", self.conf_dir, "-log", dirs["log"],
             "-db", dirs["db"], "-run", dirs["run"],
             # the shipped scripts (pay_secure.lua) where the lua application looks for them
             "-scripts", os.path.join(self.conf_dir, "scripts")],
            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        return self

    def log_text(self):
        try:
            with open(self.log_path, encoding="utf-8", errors="replace") as handle:
                return handle.read()
        except OSError:
            return ""

    def stop(self, timeout=20.0):
        if self.process is None or self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=5)


class EventSocket:
    """An authenticated inbound connection, with every event it receives kept in order."""

    def __init__(self, host, port, password, timeout=5.0):
        sock = socket.create_connection((host, port), timeout=timeout)
        sock.settimeout(None)
        self.conn = EslConnection(sock, reply_timeout=timeout, name="live-test")
        self.events = []
        self.changed = gevent.event.Event()
        self.conn.add_listener(self._on_message)
        self.conn.start()
        if not self.conn._auth_request_event.wait(timeout=timeout):
            raise TimeoutError("no auth/request from %s:%s" % (host, port))
        reply = self.conn.send("auth %s" % password)
        if reply.reply_text.strip() != "+OK accepted":
            raise PermissionError("event socket refused the password: %s" % reply.reply_text)

    def _on_message(self, message):
        self.events.append(message)
        self.changed.set()

    def api(self, command, timeout=10.0):
        return self.conn.send("api %s" % command, timeout=timeout).body

    def command(self, text):
        return self.conn.command(text).reply_text

    def wait_for(self, predicate, timeout=10.0, what="an event", events=None):
        """The first event (already received or to come) that ``predicate`` accepts, each
        offered to it once, in order. ``events``: a list this socket's listeners fill (one
        call's, say) to look in instead of every event."""
        events = self.events if events is None else events
        deadline = time.monotonic() + timeout
        seen = 0
        while True:
            for message in events[seen:]:
                if predicate(message):
                    return message
            seen = len(events)
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError("no %s within %.0fs" % (what, timeout))
            self.changed.clear()
            self.changed.wait(min(remaining, 0.2))

    def close(self):
        self.conn.close()


def wait_event_socket(host, port, password, timeout=30.0, process=None):
    """Connect once the switch is up; fail early if the process has died."""
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        if process is not None and process.process.poll() is not None:
            raise RuntimeError("FreeSWITCH exited with %s" % process.process.returncode)
        try:
            return EventSocket(host, port, password)
        except (OSError, TimeoutError) as exc:
            last = exc
            gevent.sleep(0.3)
    raise TimeoutError("event socket %s:%s not up within %.0fs (%s)" % (host, port, timeout, last))
