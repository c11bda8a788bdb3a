import logging
import textwrap

import pytest

from orchestrator.engine import EngineSettings, FlowRunner, load_flow_text, validate_text
from tests.engine.fake_channel import FakeChannel


def flow_text(body: str) -> str:
    return textwrap.dedent(body).lstrip("\n")


@pytest.fixture
def problems():
    """problems(yaml) -> ["line:col: message", ...] for a flow given as indented text."""
    def check(body):
        return [f"{p.line}:{p.column}: {p.message}" for p in validate_text(flow_text(body), "t.yaml")]
    return check


@pytest.fixture
def run_flow():
    """run_flow(yaml, channel=None, **settings) -> (outcome, channel)."""
    def run(body, channel=None, **settings):
        flow = load_flow_text(flow_text(body), "t.yaml")
        channel = channel or FakeChannel()
        outcome = FlowRunner(flow, channel, EngineSettings(**settings), logging.getLogger("test.flow")).run()
        return outcome, channel
    return run
