"""The service as the fault bench runs it: ``orchestrator run --config FILE``, a real process
that is killed (SIGKILL, SIGTERM) and started again on the same ports and the same store, and
``orchestrator reconcile`` run beside it, each as an operator would run them."""
import os
import signal
import socket
import subprocess
import sys
import time
from typing import List, Optional

import requests

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _environment() -> dict:
    environment = dict(os.environ)
    environment["PYTHONPATH"] = REPO + os.pathsep + environment.get("PYTHONPATH", "")
    return environment


class ServiceProcess:
    """One ``orchestrator run`` at a time on ``config_path``; its stderr appended to ``log_path``."""

    def __init__(self, config_path: str, http_port: int, log_path: str,
                 launcher: Optional[List[str]] = None) -> None:
        self.config_path, self.http_port, self.log_path = config_path, http_port, log_path
        # what runs ``orchestrator``'s arguments: the console script's module, unless a bench
        # wraps it (bench.greenlet_census counts the greenlets the calls leave)
        self.launcher = launcher or ["-m", "orchestrator"]
        self.process: Optional[subprocess.Popen] = None
        self.starts = 0

    @property
    def pid(self) -> Optional[int]:
        return self.process.pid if self.process is not None and self.process.poll() is None else None

    def start(self, ready_within: float = 30.0) -> None:
        with open(self.log_path, "ab") as log:
            self.process = subprocess.Popen(
                [sys.executable] + self.launcher + ["run", "--config", self.config_path],
                stdin=subprocess.DEVNULL, stdout=log, stderr=log, cwd=REPO, env=_environment())
        self.starts += 1
        deadline = time.monotonic() + ready_within
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError("the service exited with %s at start; see %s"
                                   % (self.process.returncode, self.log_path))
            try:
                if requests.get("http://127.0.0.1:%d/readyz" % self.http_port,
                                timeout=0.5).status_code == 200:
                    return
            except requests.RequestException:
                pass
            time.sleep(0.05)
        raise RuntimeError("the service was not ready within %.0fs; see %s"
                           % (ready_within, self.log_path))

    def send(self, signum: int) -> None:
        """Send ``signum`` now (from anywhere, a gateway's request handler included)."""
        pid = self.pid
        if pid is not None:
            os.kill(pid, signum)

    def stop(self, signum: int = signal.SIGTERM, within: float = 30.0) -> int:
        """Send ``signum`` unless it has already gone, and wait for the process to end."""
        assert self.process is not None
        if self.process.poll() is None:
            self.process.send_signal(signum)
        return self.process.wait(timeout=within)

    def metric(self, name: str, **labels: str) -> Optional[float]:
        """One sample from the running service's /metrics; None when it has none."""
        text = requests.get("http://127.0.0.1:%d/metrics" % self.http_port, timeout=5).text
        wanted = name + ("{%s}" % ",".join('%s="%s"' % kv for kv in sorted(labels.items()))
                         if labels else "")
        for line in text.splitlines():
            if line.startswith(wanted + " "):
                return float(line.rsplit(" ", 1)[1])
        return None


def run_reconcile(config_path: str, older_than: float, cancel_after: float,
                  log_path: str) -> List[str]:
    """``orchestrator reconcile`` on the same config; its output lines."""
    result = subprocess.run(
        [sys.executable, "-m", "orchestrator", "reconcile", "--config", config_path,
         "--older-than", str(older_than), "--cancel-after", str(cancel_after)],
        capture_output=True, text=True, timeout=300, cwd=REPO, env=_environment())
    with open(log_path, "a", encoding="utf-8") as log:
        log.write(result.stderr)
    if result.returncode != 0:
        raise RuntimeError("reconcile exited with %d: %s" % (result.returncode, result.stderr[-2000:]))
    return result.stdout.splitlines()
