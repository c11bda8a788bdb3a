"""The console script as a user runs it: real processes, real sockets, real signals."""
import os
import signal
import socket
import re
import subprocess
import sys
import time

import pytest
import requests

from orchestrator.simulator import CallerScript
from tests.support.waiting import eventually

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def orchestrator(*args, **kwargs):
    return subprocess.run([sys.executable, "-m", "orchestrator", *args], cwd=ROOT,
                          capture_output=True, text=True, timeout=120, **kwargs)


def test_validate_ok_and_errors_with_exit_codes(tmp_path):
    good = orchestrator("validate", "flows/welcome.yaml")
    assert good.returncode == 0 and good.stdout.strip() == "flows/welcome.yaml: OK"
    bad = tmp_path / "bad.yaml"
    bad.write_text("flow: bad\nsteps:\n  - answer: {}\n  - plya: x.wav\n")
    result = orchestrator("validate", str(bad))
    assert result.returncode == 1
    assert result.stdout.startswith("%s:4:5: unknown step 'plya'" % bad)


def test_validate_and_run_refuse_a_flow_past_the_loaders_bounds_naming_the_position(tmp_path):
    flows = tmp_path / "flows"
    flows.mkdir()
    deep = flows / "deep.yaml"
    deep.write_text("flow: deep\nsteps: " + "[" * 100000 + "]" * 100000 + "\n")
    expected = "%s:2:71: nested deeper than 64 levels (a flow needs a handful); not read further" % deep
    result = orchestrator("validate", str(deep))
    assert result.returncode == 1 and result.stdout.strip() == expected
    assert "Traceback" not in result.stderr
    config = tmp_path / "c.yaml"
    config.write_text("listen: {port: 0}\nhttp: {enabled: false}\nflows: {directory: flows}\n"
                      "store: {path: ':memory:'}\n")
    started = orchestrator("run", "--config", str(config))
    assert started.returncode == 2
    assert started.stderr == "flow errors:\n%s\n" % expected


def test_simulate_prints_what_the_caller_heard_and_where_the_call_went():
    result = orchestrator("simulate", "flows/welcome.yaml", "--caller", "examples/callers/agent.yaml")
    assert result.returncode == 0, result.stderr
    assert "switch speaks 'flite|kal|For your account number, press 1." in result.stdout
    assert "caller presses 2" in result.stdout
    assert "call ends: transferred to 1000 XML default" in result.stdout
    assert "flow result: transferred" in result.stdout


def test_simulate_reports_an_invalid_flow(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("flow: bad\nsteps:\n  - goto: nowhere\n")
    result = orchestrator("simulate", str(bad), "--caller", "examples/callers/agent.yaml")
    assert result.returncode == 1
    assert "goto target 'nowhere' is not a step id" in result.stderr


def test_run_refuses_a_bad_config_naming_the_key(tmp_path):
    config = tmp_path / "c.yaml"
    config.write_text("max_calls: 0\n")
    result = orchestrator("run", "--config", str(config))
    assert result.returncode == 2
    assert "max_calls: 0 is less than the minimum of 1" in result.stderr


def test_run_refuses_a_default_flow_that_does_not_exist(tmp_path):
    config = tmp_path / "c.yaml"
    config.write_text("flows: {directory: %s, default: nosuch}\n" % os.path.join(ROOT, "flows"))
    result = orchestrator("run", "--config", str(config))
    assert result.returncode == 2
    assert "flows.default: no flow named 'nosuch'" in result.stderr


def test_run_logs_a_notice_for_a_key_that_moved(tmp_path):
    config = tmp_path / "c.yaml"
    config.write_text("timeouts: {max_step_runs: 40}\nflows: {directory: %s, default: nosuch}\n"
                      % os.path.join(ROOT, "flows"))
    result = orchestrator("run", "--config", str(config))
    assert result.returncode == 2  # the missing flow; the notice came first
    assert "timeouts.max_step_runs is deprecated: write it as limits.max_step_runs" in result.stderr


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_listening(port, proc, timeout=20):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError("service exited: %s" % proc.stderr.read())
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return
        except OSError:
            time.sleep(0.05)
    raise AssertionError("service never listened on %d" % port)


@pytest.mark.switch(time_scale=1.0)   # the service in its own process runs at real time
def test_run_serves_a_call_and_sigterm_lets_it_finish(tmp_path, switch):
    port, http_port = free_port(), free_port()
    config = tmp_path / "c.yaml"
    config.write_text(
        "listen: {host: 127.0.0.1, port: %d}\n"
        "http: {host: 127.0.0.1, port: %d}\n"
        # the flows that need no gateway: run refuses a flow naming one the config lacks
        "flows: {directory: %s, default: welcome, names: [welcome, amount_due]}\n"
        "nodes: [{name: fs1, host: 127.0.0.1, port: %d, password: '${env:FS1_PW}'}]\n"
        "timeouts: {shutdown_grace: 20}\n"
        % (port, http_port, os.path.join(ROOT, "flows"), switch.inbound_address[1]))
    proc = subprocess.Popen([sys.executable, "-m", "orchestrator", "run", "--config", str(config)],
                            cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env=dict(os.environ, FS1_PW=switch.password))
    try:
        wait_listening(port, proc)
        http = "http://127.0.0.1:%d" % http_port
        wait_listening(http_port, proc)  # bound right after the call listener
        assert requests.get(http + "/healthz", timeout=5).json() == {"status": "alive"}
        # the running service can write no core file (a crash mid-entry would hold the card)
        limits = open("/proc/%d/limits" % proc.pid).read()
        assert re.search(r"^Max core file size\s+0\s+0\s", limits, re.M), limits
        assert requests.get(http + "/readyz", timeout=5).status_code in (200, 503)
        assert "payivr_calls_in_progress 0.0" in requests.get(http + "/metrics", timeout=5).text
        # the call asks for an agent after the menu; SIGTERM arrives while the welcome plays
        call = switch.place_call(("127.0.0.1", port), caller=CallerScript.from_data(
            [{"wait_prompt": 2}, {"press": "2"}]))
        # the simulator runs on this thread's hub: wait on it, never block it
        eventually(lambda: call.record.heard, timeout=20, what="the welcome playing")
        proc.send_signal(signal.SIGTERM)
        record = call.wait(timeout=30)
        assert record.transferred_to == "1000 XML default"
        assert proc.wait(timeout=30) == 0
        log = proc.stderr.read()
        assert "node fs1: connected" in log
        assert "stopping: no new calls" in log
        assert "call ended: transferred" in log
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_sandbox_command_serves_the_test_gateway():
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "orchestrator", "sandbox", "--port", str(port)],
                            cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        wait_listening(port, proc)
        import requests
        answer = requests.get("http://127.0.0.1:%d/v1/charges" % port, timeout=5)
        assert answer.status_code == 200 and answer.json() == {"charges": []}
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=10) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_every_command_starts_with_core_dumps_off_and_the_process_not_dumpable():
    code = ("import sys; sys.argv = ['orchestrator', '--version']\n"
            "from orchestrator import cli, hardening\n"
            "before = hardening.hardened()\n"
            "try:\n    cli.main(['--version'])\nexcept SystemExit:\n    pass\n"
            "print(before, hardening.hardened())")
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True,
                            timeout=60)
    assert result.stdout.split()[-2:] == ["False", "True"], result.stdout + result.stderr
