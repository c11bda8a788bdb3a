"""Placing loopback calls on a real switch and watching what happens to them.

``originate {origination_uuid=A,...}loopback/<ext>/<context> &park()``: the ``-a`` leg (A) is
the caller and stays parked; the ``-b`` leg runs the dialplan and reaches the orchestrator.
Keys are pressed with ``uuid_send_dtmf A <digits>``, which the b-leg receives; the caller
hangs up with ``uuid_kill A``. Every event of a b-leg carries ``other_loopback_leg_uuid = A``,
which is how a test finds its call's events even when the orchestrator never saw the call.

Over SIP (``call(..., sip=caller)``) the caller is a channel on a second switch (``SipCaller``)
that calls the switch under test on its SIP profile, with RFC 2833 for the keys; its leg
uuid rides in an ``X-Pay-Test-Leg`` header, which the switch under test keeps as
``sip_h_X-Pay-Test-Leg`` on the leg that reaches the orchestrator. Keys and hang-ups go to the
switch the caller is on. Every key pressed is told to the test's canary
(tests/support/live/canary.py).
"""
import uuid as uuidlib
from collections import defaultdict

from tests.support.live.fsprocess import EventSocket

WATCHED = ("CHANNEL_EXECUTE CHANNEL_EXECUTE_COMPLETE CHANNEL_HANGUP CHANNEL_HANGUP_COMPLETE DTMF "
           "BACKGROUND_JOB")


class SipCaller:
    """A second switch that places SIP calls to the switch under test (its phone)."""

    def __init__(self, es, profile, target_port):
        self.es, self.profile, self.target_port = es, profile, target_port

    def dial_string(self, extension):
        return "sofia/%s/%s@127.0.0.1:%d" % (self.profile, extension, self.target_port)


class Control:
    def __init__(self, live, canary=None):
        self.live = live
        self.canary = canary
        self.es = EventSocket(live.host, live.port, live.password)
        # each call's events filed as they come: a wait looks at its own call's, not at every
        # event of the run (the bench's card calls scanned them all for each prompt, and its
        # process, the relay beside them, fell seconds behind the switch)
        self._by_call = defaultdict(list)
        self.es.conn.add_listener(self._file)
        self.es.command("event plain %s" % WATCHED)
        self.callers = []
        self.remote = {}         # caller leg -> the SipCaller switch it is on

    def call(self, variables=None, extension=None, context=None, sip=None):
        """Start a call; return the caller's (a-leg) uuid. With ``sip`` (a SipCaller) the
        call comes over SIP to the switch's profile, whose context is the dialplan's."""
        a_leg = str(uuidlib.uuid4())
        pairs = {"origination_uuid": a_leg, **(variables or {})}
        extension = extension or self.live.extension
        if sip is None:
            spec = ",".join("%s=%s" % item for item in pairs.items())
            self.es.command("bgapi originate {%s}loopback/%s/%s &park()"
                            % (spec, extension, context or self.live.context))
        else:
            pairs.update({"sip_h_X-Pay-Test-Leg": a_leg, "absolute_codec_string": "PCMU"})
            spec = ",".join("%s=%s" % item for item in pairs.items())
            sip.es.command("bgapi originate {%s}%s &park()" % (spec, sip.dial_string(extension)))
            self.remote[a_leg] = sip
        self.callers.append(a_leg)
        return a_leg

    def _switch_of(self, a_leg):
        caller = self.remote.get(a_leg)
        return caller.es if caller else self.es

    def press(self, a_leg, digits):
        if self.canary is not None:
            self.canary.pressed(a_leg, digits, local=a_leg not in self.remote)
        return self._switch_of(a_leg).api("uuid_send_dtmf %s %s" % (a_leg, digits))

    def hang_up(self, a_leg):
        return self._switch_of(a_leg).api("uuid_kill %s" % a_leg)

    def api(self, command):
        return self.es.api(command)

    @staticmethod
    def callers_of(message):
        """The caller legs whose call's dialplan leg (the b-leg, or the SIP leg of a SIP
        caller) sent ``message``."""
        headers = message.headers
        return {headers.get("variable_other_loopback_leg_uuid"),
                headers.get("variable_sip_h_X-Pay-Test-Leg")} - {None}

    def _file(self, message):
        for a_leg in self.callers_of(message):
            self._by_call[a_leg].append(message)

    def wait_call(self, a_leg, predicate, timeout, what):
        """The first event of the call's b-leg (already received or to come) that
        ``predicate`` accepts; each event is offered to it once, in order."""
        return self.es.wait_for(predicate, timeout, what, events=self._by_call[a_leg])

    @classmethod
    def of_call(cls, a_leg):
        """Events of the call's dialplan leg (the b-leg, or the SIP leg of a SIP caller)."""
        return lambda m: a_leg in cls.callers_of(m)

    def wait(self, a_leg, name, timeout=15.0, **headers):
        """The first event ``name`` of the call's b-leg whose headers have these values."""
        def wanted(m):
            return (m.event_name == name
                    and all(m.headers.get(k.replace("_", "-")) == v for k, v in headers.items()))
        return self.wait_call(a_leg, wanted, timeout, "%s %s for call %s" % (name, headers, a_leg))

    def events(self, a_leg, name=None):
        return [m for m in self._by_call[a_leg] if name is None or m.event_name == name]

    def fallback_reached(self, a_leg, timeout=15.0):
        """The dialplan went on past `socket` to the shipped fallback: transfer to the agent."""
        return self.wait(a_leg, "CHANNEL_EXECUTE", timeout, Application="transfer",
                         Application_Data="agent XML default")

    def close(self):
        for a_leg in self.callers:
            try:
                self._switch_of(a_leg).api("uuid_kill %s" % a_leg)
            except Exception:  # the call may be long gone; cleaning up is best effort
                pass
        self.es.close()
