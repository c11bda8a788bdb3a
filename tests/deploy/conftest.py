import pytest

from tests.support.prometheus import ensure_installed


@pytest.fixture(scope="session")
def prometheus_binaries():
    """``(prometheus, promtool)`` paths; installs Debian's package once if they are missing."""
    return ensure_installed()
