"""The Service on the simulator: the one way tests build the world a call runs through.

``ServiceOnSimulator`` starts a simulated switch (or uses one given), optionally the sandbox
gateway, and the Service with a config written to a file and loaded as production loads it
(so it is checked against the schema). The config is a loopback base (call listener on an
ephemeral port, no HTTP server, the shipped flows, a payment store in the harness's folder,
``linger_seconds: 2``) with ``config`` merged over it. Everything runs at the suite's time scale.

    with ServiceOnSimulator(tmp_path, {"tenants": ["acme"]}, node=True) as world:
        result = world.run_call([{"wait_prompt": 2}, {"press": "2"}], {"pay_flow": "welcome"})
        assert result.flow == "welcome" and result.outcome.result == "transferred"

In a test, the ``service_on_simulator`` fixture (tests/conftest.py) takes the same options,
returns the started harness and stops it after the test.
"""
import copy
import os
import shutil
import tempfile
from dataclasses import dataclass
from typing import Any, Optional

import gevent
import yaml

from orchestrator.config import load_config
from orchestrator.payments.sandbox import SandboxGateway
from orchestrator.service import Service
from orchestrator.simulator import CallerScript
from tests.support.switch import TIME_SCALE, start_switch

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
FLOWS = os.path.join(REPO, "flows")
# the gateway client's retries and status polling, short enough for the tests' clock
SANDBOX_CLIENT = {"read_timeout": 1.0, "max_attempts": 2, "backoff": 0.1, "status_attempts": 2,
                  "status_interval": 0.2}
# the sandbox's slow and hanging cards, scaled like the rest (its defaults are 3 s and 30 s)
SANDBOX_SERVER = {"slow_seconds": 0.5, "hang_seconds": 3.0}


@dataclass
class CallResult:
    flow: Optional[str]      # the flow that ran; None when none did
    outcome: Any             # its FlowOutcome; None when no flow ran
    record: Any              # the simulator's CallRecord


def merged(base, override):
    """``override`` over ``base``: mappings merge key by key, anything else replaces."""
    result = copy.deepcopy(base)
    for key, value in (override or {}).items():
        if isinstance(value, dict) and isinstance(result.get(key), dict):
            result[key] = merged(result[key], value)
        else:
            result[key] = copy.deepcopy(value)
    return result


def caller_script(caller):
    """A CallerScript from a script, a list of steps or a mapping (``steps``, ``max_duration``...)."""
    if isinstance(caller, CallerScript):
        return caller
    return CallerScript.from_data(list(caller) if isinstance(caller, (list, tuple)) else caller)


class ServiceOnSimulator:
    """The simulator, the Service with ``config``, and on request the sandbox gateway.

    ``directory``: where the config file and the payment store go (a temporary folder, removed
    on stop, when None). ``switch``: a started switch to use (not stopped here); otherwise one
    is started with ``switch_options``. ``node=True`` adds that switch as the inbound node
    ``fs1``, ahead of any ``nodes`` in ``config``. ``sandbox=True`` starts the sandbox gateway
    (``sandbox_options`` for it) and configures it as the gateway ``sandbox``. ``library``: a
    FlowLibrary instead of the config's flow directory. ``start=False`` builds everything but
    leaves the Service to ``start()`` (to look at it before it runs).

    What each call's flow ended with is kept by call uuid (``outcomes``) for ``finish``.
    """

    def __init__(self, directory=None, config=None, *, switch=None, switch_options=None, node=False,
                 sandbox=False, sandbox_options=None, library=None, time_scale=TIME_SCALE,
                 start=True):
        self.directory = str(directory) if directory is not None else tempfile.mkdtemp(prefix="service-")
        self._own_directory = directory is None
        self.time_scale = time_scale
        self.outcomes = {}
        self.switch = None
        self.sandbox = None
        self.service = None
        self._own_switch = switch is None
        self.started = False
        try:
            self.switch = switch or start_switch(time_scale=time_scale, **(switch_options or {}))
            if sandbox:
                self.sandbox = SandboxGateway(**dict(SANDBOX_SERVER, **(sandbox_options or {})))
                self.sandbox.start()
            self.config_path = os.path.join(self.directory, "orchestrator.yaml")
            with open(self.config_path, "w", encoding="utf-8") as handle:
                yaml.safe_dump(self._config(config or {}, node), handle)
            self.service = Service(load_config(self.config_path, environ={}), library=library,
                                   time_scale=time_scale, on_call_end=self._ended)
        except BaseException:
            self.stop()
            raise
        if start:
            try:
                self.start()
            except BaseException:
                self.stop()
                raise

    def _config(self, config, node):
        base = {"listen": {"host": "127.0.0.1", "port": 0}, "linger_seconds": 2,
                "http": {"enabled": False}, "flows": {"directory": FLOWS},
                "store": {"path": os.path.join(self.directory, "payments.sqlite")}}
        if self.sandbox is not None:
            base["gateways"] = [dict(SANDBOX_CLIENT, name="sandbox", type="sandbox", url=self.sandbox.url)]
        data = merged(base, config)
        if node:
            data["nodes"] = [{"name": "fs1", "host": "127.0.0.1", "port": self.switch.inbound_address[1],
                              "password": self.switch.password}] + list(data.get("nodes", []))
        return data

    def _ended(self, channel, flow_name, outcome):
        self.outcomes[channel.uuid] = (flow_name, outcome)

    # ---- lifecycle ------------------------------------------------------------------------
    def start(self):
        self.started = True      # from here on, stop() stops the Service, even half started
        self.service.start()
        return self

    def stop(self, grace=5):
        """Stop the Service (calls in progress get ``grace`` seconds), then whatever was started
        for it; safe to call twice."""
        if self.service is not None and self.started:
            self.service.stop(grace=grace)
            self.started = False
        if self.switch is not None and self._own_switch:
            self.switch.stop()
            self._own_switch = False
        if self.sandbox is not None:
            self.sandbox.stop()
        if self._own_directory:
            shutil.rmtree(self.directory, ignore_errors=True)
            self._own_directory = False

    def __enter__(self):
        return self if self.started else self.start()

    def __exit__(self, *exc):
        self.stop()

    # ---- what tests look at ---------------------------------------------------------------
    @property
    def address(self):
        return self.service.address

    @property
    def http_address(self):
        return self.service.http_address

    @property
    def metrics(self):
        return self.service.metrics

    @property
    def store_path(self):
        return os.path.join(self.directory, "payments.sqlite")

    def metric(self, name, **labels):
        """The service's sample ``name`` with ``labels``; 0 when it has none."""
        return self.service.metrics.registry.get_sample_value(name, labels) or 0

    def record_payment_events(self):
        """A list that gets each typed payment event (payments/events.py) of the calls to come;
        the bus's other subscribers (metrics, the agent API's sessions) still get them."""
        events = []
        self.service.events.subscribe(lambda call, event: events.append(event))
        return events

    # ---- calls ----------------------------------------------------------------------------
    def place(self, caller=(), variables=None, destination="1000", **options):
        """Place one call to the service; ``caller`` as ``caller_script`` takes it. -> Call"""
        return self.switch.place_call(self.service.address, caller=caller_script(caller),
                                      destination=destination, variables=variables or {}, **options)

    def finish(self, call, timeout=30):
        """Wait for ``call`` to end and for its flow's outcome to be reported. -> CallResult"""
        record = call.wait(timeout=timeout)
        # the outcome is reported just after the switch's side ends; a call no flow ran has none
        with gevent.Timeout(5, False):
            while call.uuid not in self.outcomes and self.service.server.active_calls:
                gevent.sleep(0.01)
        flow, outcome = self.outcomes.get(call.uuid, (None, None))
        return CallResult(flow, outcome, record)

    def run_call(self, caller=(), variables=None, destination="1000", timeout=30, **options):
        """``place`` then ``finish``. -> CallResult"""
        return self.finish(self.place(caller, variables, destination, **options), timeout)

    def wait_idle(self, timeout=5):
        """Until the service has no call in progress."""
        with gevent.Timeout(timeout, AssertionError("calls still in progress after %ss" % timeout)):
            while self.service.server.active_calls:
                gevent.sleep(0.01)


class ServiceFactory:
    """``factory(config=None, **options)`` -> a ServiceOnSimulator in its own folder under
    ``directory``; ``stop_all()`` stops each one made."""

    def __init__(self, directory):
        self.directory = directory
        self.made = []

    def __call__(self, config=None, **options):
        folder = os.path.join(str(self.directory), "service-%d" % (len(self.made) + 1))
        os.makedirs(folder)
        world = ServiceOnSimulator(folder, config, **options)
        self.made.append(world)
        return world

    def stop_all(self):
        while self.made:
            self.made.pop().stop()
