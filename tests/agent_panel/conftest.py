"""Fixtures for the panel's browser tests: one headless Chromium for the session, screenshots
kept in ``test-artifacts/panel/`` (gitignored) for a person to look at."""
import os
import shutil
import tempfile

import pytest

from tests.support.browser import ensure_installed, start_browser

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
ARTIFACTS = os.path.join(ROOT, "test-artifacts", "panel")


@pytest.fixture(scope="session")
def chromium():
    """Paths of Debian's chromium and chromedriver; installs the packages once if missing."""
    pytest.importorskip("selenium", reason="selenium is in the test extra: pip install -e '.[test]'")
    return ensure_installed()


@pytest.fixture(scope="session")
def browser_session(chromium):
    profile = tempfile.mkdtemp(prefix="panel-chromium-")
    driver = start_browser(profile)
    yield driver
    driver.quit()
    shutil.rmtree(profile, ignore_errors=True)


@pytest.fixture
def browser(browser_session):
    """The session's browser on a blank page with nothing stored from an earlier test."""
    driver = browser_session
    yield driver
    try:
        driver.execute_script("try { sessionStorage.clear(); localStorage.clear(); } catch (e) {}")
    finally:
        driver.get("about:blank")


@pytest.fixture(scope="session")
def artifacts():
    os.makedirs(ARTIFACTS, exist_ok=True)
    return ARTIFACTS
