import pytest

from tests.integration.harness import CallHarness


@pytest.fixture
def harness():
    h = CallHarness().start()
    yield h
    h.stop()
