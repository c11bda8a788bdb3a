"""The agent API tests run on ``rig`` (tests/support/agent.py): the service with the agent API,
the simulator, the sandbox gateway and a webhook receiver that fails its first request."""
import pytest

from tests.support.agent import Rig


@pytest.fixture
def rig(tmp_path):
    rig = Rig(tmp_path)
    yield rig
    rig.stop()
