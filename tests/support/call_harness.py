"""A switch simulator and the ESL layer's outbound server wired together on loopback, for
tests of the Channel and the server without the Service and its flows (for those, see
``service``). The ``harness`` fixture of tests/integration gives a started one."""
import gevent

from orchestrator.esl.channel import ChannelSettings
from orchestrator.esl.outbound import OutboundServer
from orchestrator.metrics import Metrics
from orchestrator.simulator.caller import CallerScript
from orchestrator.simulator.switch import Switch
from tests.support.switch import PASSWORD, TIME_SCALE


class CallHarness:
    """Runs ``handler(channel)`` on each call the simulator places; keeps what it returned."""

    def __init__(self, max_calls=10, reply_timeout=2.0, linger_seconds=10, app_timeout=10.0):
        self.metrics = Metrics()
        self.switch = Switch(password=PASSWORD, time_scale=TIME_SCALE)
        self.results = {}
        self.handler = None
        self.server = OutboundServer(
            self._run, max_calls=max_calls, linger_seconds=linger_seconds,
            reply_timeout=reply_timeout, metrics=self.metrics,
            channel_settings=ChannelSettings(app_timeout=app_timeout, answer_timeout=5,
                                             hangup_timeout=2))

    def start(self):
        self.switch.start()
        self.server.start()
        return self

    def stop(self):
        self.server.stop(grace=5)
        self.switch.stop()

    def _run(self, channel):
        try:
            self.results[channel.uuid] = ("returned", self.handler(channel))
        except BaseException as exc:  # recorded for the test to assert on
            self.results[channel.uuid] = ("raised", exc)
            raise

    def call(self, handler, script=(), wait=True, timeout=20, **kwargs):
        """Place one call; with ``wait``, return (record, (how, value)) once it is over."""
        self.handler = handler
        caller = script if isinstance(script, CallerScript) else CallerScript.from_data(list(script))
        call = self.switch.place_call(self.server.address, caller=caller, **kwargs)
        if not wait:
            return call
        record = call.wait(timeout=timeout)
        with gevent.Timeout(5):
            while call.uuid not in self.results and self.server.active_calls:
                gevent.sleep(0.01)
        return record, self.results.get(call.uuid)
