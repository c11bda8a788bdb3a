"""A real headless Chromium for the panel tests: Debian's ``chromium`` and ``chromium-driver``.

The session fixture installs both packages when ``/usr/bin/chromium`` or ``/usr/bin/chromedriver``
is missing (as root, with apt-get; ``apt-get update`` only when the install fails without it).
Where that cannot be done the tests are skipped with the reason, except in CI (``CI=true``),
where a skip would hide that nothing was proven, so they fail instead. Selenium is pointed at the
local chromedriver: nothing is downloaded at run time, and the browser runs with a fresh profile
and everything that would reach the internet (sync, component updates, background networking)
turned off.
"""
import os
import subprocess
import tempfile

import pytest

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
APT_ENV = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
INSTALL = ["apt-get", "install", "-y", "--no-install-recommends", "chromium", "chromium-driver"]
WIDTH, HEIGHT = 1366, 768
FLAGS = ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--no-first-run", "--window-size=%d,%d" % (WIDTH, HEIGHT)]


def unavailable(reason):
    if os.environ.get("CI", "").lower() in ("true", "1", "yes"):
        pytest.fail("Chromium is required in CI: %s" % reason, pytrace=False)
    pytest.skip(reason)


def _present():
    return os.access(CHROMIUM, os.X_OK) and os.access(CHROMEDRIVER, os.X_OK)


def ensure_installed():
    """Make sure Debian's Chromium and its driver are there, installing them if need be."""
    if _present():
        return CHROMIUM, CHROMEDRIVER
    if not os.path.exists("/usr/bin/apt-get"):
        unavailable("%s or %s missing and apt-get is not available" % (CHROMIUM, CHROMEDRIVER))
    if os.geteuid() != 0:
        unavailable("%s or %s missing; installing needs root: apt-get install chromium "
                    "chromium-driver" % (CHROMIUM, CHROMEDRIVER))
    attempts = [[INSTALL], [["apt-get", "update"], INSTALL]]  # update only if needed
    errors = []
    for commands in attempts:
        for command in commands:
            try:
                result = subprocess.run(command, env=APT_ENV, capture_output=True, text=True,
                                        timeout=900)
            except subprocess.TimeoutExpired:
                errors.append("%s: timed out" % " ".join(command))
                break
            if result.returncode != 0:
                errors.append("%s: %s" % (" ".join(command), result.stderr.strip()[-500:]))
                break
        else:
            if _present():
                return CHROMIUM, CHROMEDRIVER
    unavailable("could not install Debian's chromium and chromium-driver: %s" % "; ".join(errors))


def start_browser(profile_dir=None):
    """A new headless Chromium driven through the local chromedriver; ``quit()`` it after use."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in FLAGS:
        options.add_argument(flag)
    options.add_argument("--user-data-dir=%s" % (profile_dir or tempfile.mkdtemp(prefix="panel-chromium-")))
    service = Service(executable_path=CHROMEDRIVER)
    driver = webdriver.Chrome(service=service, options=options)
    driver.set_page_load_timeout(20)
    driver.set_script_timeout(20)
    return driver


if __name__ == "__main__":
    print(ensure_installed())
