"""``orchestrator simulate``: one flow, one scripted caller, the simulator, a readable story.

The service and the simulated switch run in this process on ephemeral loopback ports, over
real sockets, exactly as they would against FreeSWITCH; only the clock is faster.
"""
import logging
import sys
from dataclasses import dataclass

import gevent

from orchestrator.config import load_config
from orchestrator.engine import FlowError, FlowLibrary, load_flow
from orchestrator.logs import setup_logging
from orchestrator.service import Service
from orchestrator.simulator import CallerScript, ScriptError, Switch, render_timeline

TIME_SCALE = 0.1


@dataclass
class CallResult:
    flow: str
    outcome: object      # FlowOutcome, or None when no flow ran
    record: object       # the simulator's CallRecord


class DryRun:
    """A simulated switch and an in-process service sharing one flow library."""

    def __init__(self, library, default_flow=None, time_scale=TIME_SCALE):
        config = load_config(None, environ={})
        config.data["listen"] = {"host": "127.0.0.1", "port": 0}
        config.data["flows"]["default"] = default_flow
        config.data["linger_seconds"] = 2
        self.outcomes = {}
        self.switch = Switch(password="dry-run", time_scale=time_scale)
        self.service = Service(config, library=library, time_scale=time_scale,
                               on_call_end=self._ended)

    def _ended(self, channel, flow_name, outcome):
        self.outcomes[channel.uuid] = (flow_name, outcome)

    def __enter__(self):
        self.switch.start()
        self.service.start()
        return self

    def __exit__(self, *exc):
        self.service.stop(grace=5)
        self.switch.stop()

    def place(self, caller, variables=None, destination="1000"):
        return self.switch.place_call(self.service.address, caller=caller,
                                      destination=destination, variables=variables or {})

    def finish(self, call, timeout):
        record = call.wait(timeout=timeout)
        with gevent.Timeout(5, False):
            while call.uuid not in self.outcomes and self.service.server.active_calls:
                gevent.sleep(0.01)
        flow, outcome = self.outcomes.get(call.uuid, (None, None))
        return CallResult(flow, outcome, record)


def simulate(flow_path, caller_path, destination="1000", variables=None, timeout=120.0,
             verbose=False, out=sys.stdout):
    setup_logging("INFO" if verbose else "WARNING", "logfmt")
    try:
        flow = load_flow(flow_path)
    except FlowError as exc:
        print(exc, file=sys.stderr)
        return 1
    try:
        caller = CallerScript.from_yaml(caller_path)
    except (ScriptError, OSError) as exc:
        print("%s: %s" % (caller_path, exc), file=sys.stderr)
        return 2
    with DryRun(FlowLibrary({flow.name: flow}), default_flow=flow.name) as run:
        result = run.finish(run.place(caller, variables, destination), timeout)
    print("flow %s, caller %s" % (flow.name, caller_path), file=out)
    print(render_timeline(result.record, key_gap=TIME_SCALE * 0.5), file=out)
    outcome = result.outcome
    if outcome is None:
        print("flow result: none (the flow did not run)", file=out)
        return 1
    detail = (" (%s)" % outcome.detail) if outcome.detail else ""
    print("flow result: %s at step %s%s" % (outcome.result, outcome.step, detail), file=out)
    return 0 if outcome.result != "error" else 1


logging.getLogger(__name__).addHandler(logging.NullHandler())
