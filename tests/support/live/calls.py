"""Placing loopback calls on a real switch and watching what happens to them.

``originate {origination_uuid=A,...}loopback/<ext>/<context> &park()``: the ``-a`` leg (A) is
the caller and stays parked; the ``-b`` leg runs the dialplan and reaches the orchestrator.
Keys are pressed with ``uuid_send_dtmf A <digits>``, which the b-leg receives; the caller
hangs up with ``uuid_kill A``. Every event of a b-leg carries ``other_loopback_leg_uuid = A``,
which is how a test finds its call's events even when the orchestrator never saw the call.
"""
import uuid as uuidlib

from tests.support.live.fsprocess import EventSocket

WATCHED = ("CHANNEL_EXECUTE CHANNEL_EXECUTE_COMPLETE CHANNEL_HANGUP CHANNEL_HANGUP_COMPLETE DTMF "
           "BACKGROUND_JOB")


class Control:
    def __init__(self, live):
        self.live = live
        self.es = EventSocket(live.host, live.port, live.password)
        self.es.command("event plain %s" % WATCHED)
        self.callers = []

    def call(self, variables=None, extension=None, context=None):
        """Start a call; return the caller's (a-leg) uuid."""
        a_leg = str(uuidlib.uuid4())
        pairs = {"origination_uuid": a_leg, **(variables or {})}
        spec = ",".join("%s=%s" % item for item in pairs.items())
        self.es.command("bgapi originate {%s}loopback/%s/%s &park()"
                        % (spec, extension or self.live.extension, context or self.live.context))
        self.callers.append(a_leg)
        return a_leg

    def press(self, a_leg, digits):
        return self.es.api("uuid_send_dtmf %s %s" % (a_leg, digits))

    def hang_up(self, a_leg):
        return self.es.api("uuid_kill %s" % a_leg)

    def api(self, command):
        return self.es.api(command)

    @staticmethod
    def of_call(a_leg):
        """Events of the call's dialplan leg (the b-leg)."""
        return lambda m: m.headers.get("variable_other_loopback_leg_uuid") == a_leg

    def wait(self, a_leg, name, timeout=15.0, **headers):
        """The first event ``name`` of the call's b-leg whose headers have these values."""
        of_call = self.of_call(a_leg)

        def wanted(m):
            return (m.event_name == name and of_call(m)
                    and all(m.headers.get(k.replace("_", "-")) == v for k, v in headers.items()))
        return self.es.wait_for(wanted, timeout, "%s %s for call %s" % (name, headers, a_leg))

    def events(self, a_leg, name=None):
        of_call = self.of_call(a_leg)
        return [m for m in self.es.events if of_call(m) and (name is None or m.event_name == name)]

    def fallback_reached(self, a_leg, timeout=15.0):
        """The dialplan went on past `socket` to the shipped fallback: transfer to the agent."""
        return self.wait(a_leg, "CHANNEL_EXECUTE", timeout, Application="transfer",
                         Application_Data="agent XML default")

    def close(self):
        for a_leg in self.callers:
            try:
                self.es.api("uuid_kill %s" % a_leg)
            except Exception:  # the call may be long gone; cleaning up is best effort
                pass
        self.es.close()
