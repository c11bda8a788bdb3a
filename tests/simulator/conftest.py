"""The simulator's own tests: the stand-in orchestrator listener each test gets (``orch``).
The raw ESL client and the listener are in tests/support/raw_esl.py."""
import pytest

from tests.support.raw_esl import Orchestrator


@pytest.fixture
def orch():
    o = Orchestrator()
    yield o
    o.close()
