"""A real Prometheus server for tests: Debian's ``prometheus`` package, run by hand on loopback.

The session fixture installs the package when ``prometheus``/``promtool`` are missing (as
root, with apt-get); where that cannot be done the tests are skipped with the reason, except
in CI (``CI=true``), where a skip would hide that nothing was proven, so they fail instead.
The Debian service is never used: each test run starts its own server with a temporary config
and data directory on 127.0.0.1 and a free port, and stops it.
"""
import os
import shutil
import socket
import subprocess
import time

import pytest
import requests

APT_ENV = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
INSTALL = ["apt-get", "install", "-y", "--no-install-recommends", "prometheus"]


def unavailable(reason):
    if os.environ.get("CI", "").lower() in ("true", "1", "yes"):
        pytest.fail("Prometheus is required in CI: %s" % reason, pytrace=False)
    pytest.skip(reason)


def _binaries():
    return shutil.which("prometheus"), shutil.which("promtool")


def ensure_installed():
    """Paths of ``prometheus`` and ``promtool``, installing Debian's package if need be."""
    prometheus, promtool = _binaries()
    if prometheus and promtool:
        return prometheus, promtool
    if not shutil.which("apt-get"):
        unavailable("prometheus/promtool not found and apt-get is not available")
    if os.geteuid() != 0:
        unavailable("prometheus/promtool not found; installing needs root: apt-get install prometheus")
    attempts = [[INSTALL], [["apt-get", "update"], INSTALL]]  # update only if needed
    errors = []
    for commands in attempts:
        for command in commands:
            result = subprocess.run(command, env=APT_ENV, capture_output=True, text=True,
                                    timeout=600)
            if result.returncode != 0:
                errors.append("%s: %s" % (" ".join(command), result.stderr.strip()[-500:]))
                break
        else:
            prometheus, promtool = _binaries()
            if prometheus and promtool:
                return prometheus, promtool
    unavailable("could not install Debian's prometheus package: %s" % "; ".join(errors))


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class PrometheusServer:
    def __init__(self, binary, workdir, config_text):
        self.port = free_port()
        self.url = "http://127.0.0.1:%d" % self.port
        self.config_path = os.path.join(workdir, "prometheus.yml")
        with open(self.config_path, "w", encoding="utf-8") as handle:
            handle.write(config_text)
        self.log_path = os.path.join(workdir, "prometheus.log")
        self._log = open(self.log_path, "w", encoding="utf-8")
        self.process = subprocess.Popen(
            [binary, "--config.file=%s" % self.config_path,
             "--storage.tsdb.path=%s" % os.path.join(workdir, "data"),
             "--web.listen-address=127.0.0.1:%d" % self.port,
             "--storage.tsdb.retention.time=1h"],
            stdout=self._log, stderr=subprocess.STDOUT)

    def wait_ready(self, timeout=20):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise AssertionError("prometheus exited: %s" % self.log())
            try:
                if requests.get(self.url + "/-/ready", timeout=1).status_code == 200:
                    return
            except requests.RequestException:
                pass
            time.sleep(0.2)
        raise AssertionError("prometheus not ready within %ss: %s" % (timeout, self.log()))

    def api(self, path, **params):
        response = requests.get(self.url + "/api/v1/" + path, params=params, timeout=10)
        body = response.json()
        if body.get("status") != "success":
            raise AssertionError("%s %s: %s %s" % (path, params, body.get("errorType"),
                                                   body.get("error")))
        return body["data"]

    def query(self, expr):
        """Instant query; returns the result list (raises on a parse or evaluation error)."""
        return self.api("query", query=expr)["result"]

    def log(self):
        with open(self.log_path, encoding="utf-8") as handle:
            return handle.read()[-3000:]

    def stop(self):
        self.process.terminate()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=5)
        self._log.close()
