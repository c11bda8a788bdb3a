"""Every Prometheus metric of the service, defined once.

Metrics live on an instance with its own ``CollectorRegistry`` rather than on the global
registry, so each test (and each service in one process, as the demo runs) counts alone.
Labels are bounded sets only: tenant, flow, step, outcome, node, error kind. Never a call UUID,
a reference, an amount or a digit.
"""
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, Info

from orchestrator import __version__

PREFIX = "payivr"
STEP_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 20, 30, 60, 120)
ESL_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5)


class Metrics:
    def __init__(self, registry=None):
        self.registry = registry or CollectorRegistry()
        r = self.registry
        self.build_info = Info(f"{PREFIX}_build", "Version of the running service", registry=r)
        self.build_info.info({"version": __version__})
        self.calls_in_progress = Gauge(
            f"{PREFIX}_calls_in_progress", "Calls whose flow is running now", registry=r)
        self.calls_refused = Counter(
            f"{PREFIX}_calls_refused_total",
            "Calls closed at once because max_calls were in progress (the dialplan fallback took them)",
            registry=r)
        self.calls = Counter(
            f"{PREFIX}_calls_total", "Calls that ended, by flow and outcome",
            ["flow", "outcome"], registry=r)
        self.step_duration = Histogram(
            f"{PREFIX}_step_duration_seconds", "Time a flow step took",
            ["flow", "step"], buckets=STEP_BUCKETS, registry=r)
        self.esl_up = Gauge(
            f"{PREFIX}_esl_connection_up", "1 when the inbound ESL connection to a node is up",
            ["node"], registry=r)
        self.esl_reconnects = Counter(
            f"{PREFIX}_esl_reconnects_total", "Inbound ESL connection attempts after a loss",
            ["node"], registry=r)
        self.esl_command_seconds = Histogram(
            f"{PREFIX}_esl_command_duration_seconds", "Time from an ESL api/bgapi to its answer",
            ["node", "kind"], buckets=ESL_BUCKETS, registry=r)
