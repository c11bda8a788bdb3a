import pytest

from tests.support.call_harness import CallHarness


@pytest.fixture
def harness():
    """The simulator and an outbound server on loopback (tests/support/call_harness.py)."""
    h = CallHarness().start()
    yield h
    h.stop()
