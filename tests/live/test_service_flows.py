"""The shipped flows run by the project's Service on a real switch, and the ways a call
falls back to the dialplan: the orchestrator killed mid-call, the pool full."""
import os
import signal
import socket as stdsocket
import subprocess
import sys
import time

import gevent
import gevent.event
import pytest
import yaml

from orchestrator.config import load_config
from orchestrator.service import Service
from tests.support.live.card_entry import is_field_read, prompt_text
from tests.support.live.fsprocess import REPO


def write_config(tmp_path, live_switch, **overrides):
    host, port = live_switch.socket_address
    data = {"listen": {"host": host, "port": port}, "max_calls": 10, "linger_seconds": 2,
            "timeouts": {"app": 30, "shutdown_grace": 2},
            # the flows that need only the sandbox gateway: run refuses a flow naming a web
            # service or SMS provider the config lacks (orchestrator/flow_names.py)
            "flows": {"directory": os.path.join(REPO, "flows"), "default": "welcome",
                      "names": ["welcome", "amount_due", "card_payment"]},
            # free ports and the test's own folder only: another program may hold 8080, and a
            # store in the working directory would outlive the test
            "http": {"enabled": True, "host": "127.0.0.1", "port": 0},
            "store": {"path": str(tmp_path / "payments.sqlite")}}
    data.update(overrides)
    path = tmp_path / "orchestrator.yaml"
    path.write_text(yaml.safe_dump(data))
    return str(path)


@pytest.fixture
def service(tmp_path, live_switch):
    started = []

    def start(**overrides):
        ended = gevent.event.AsyncResult()
        svc = Service(load_config(write_config(tmp_path, live_switch, **overrides)),
                      on_call_end=lambda channel, flow, outcome: ended.set((flow, outcome)))
        svc.start()
        started.append(svc)
        return svc, ended

    yield start
    for svc in started:
        svc.stop(grace=2)


def menu_started(control, a_leg, timeout=20):
    """The menu's read has begun (the shipped 7000 is a secure call: the script reads it)."""
    return control.es.wait_for(lambda m: m.event_name == "CHANNEL_EXECUTE" and control.of_call(a_leg)(m)
                               and (m.headers.get("Application") == "speak" or is_field_read(m)),
                               timeout, "the menu")


def test_caller_keys_digits_then_hangs_up_mid_flow(service, control):
    svc, ended = service()
    a_leg = control.call()
    menu_started(control, a_leg)
    control.press(a_leg, "1")                          # account number, please
    control.es.wait_for(lambda m: m.event_name == "CHANNEL_EXECUTE"
                        and control.of_call(a_leg)(m)
                        and "pound key" in prompt_text(m), 20,
                        "the account number prompt")
    control.press(a_leg, "12")
    gevent.sleep(1.0)
    control.hang_up(a_leg)                             # mid-entry
    flow, outcome = ended.get(timeout=20)
    assert flow == "welcome" and outcome.result == "caller-hung-up"
    assert outcome.step and "account" in outcome.step
    with gevent.Timeout(10):                           # the socket is let go of, too
        while svc.server.active_calls:
            gevent.sleep(0.1)


def test_orchestrator_killed_mid_call_caller_reaches_the_dialplan_fallback(tmp_path, live_switch,
                                                                          control):
    # run refuses a flow naming a gateway its config lacks: this config serves the menu alone
    config = write_config(tmp_path, live_switch,
                          flows={"directory": os.path.join(REPO, "flows"), "default": "welcome",
                                 "names": ["welcome"]})
    process = subprocess.Popen([sys.executable, "-m", "orchestrator", "run", "--config", config],
                               cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        _wait_listening(live_switch.socket_address, process)
        a_leg = control.call()
        menu_started(control, a_leg)
        process.send_signal(signal.SIGKILL)            # no goodbye: sockets die with it
        process.wait(timeout=10)
        control.fallback_reached(a_leg)
        control.wait(a_leg, "CHANNEL_EXECUTE", 15, Application="speak",
                     Application_Data="flite|kal|Payments are not available right now. "
                                      "Please call again later. Goodbye.")
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(timeout=10)


def test_pool_full_refuses_the_second_call_to_the_dialplan_fallback(service, control):
    svc, ended = service(max_calls=1)
    first = control.call()
    menu_started(control, first)
    second = control.call()
    control.fallback_reached(second)
    assert svc.server.active_calls == 1
    assert not [m for m in control.events(first, "CHANNEL_EXECUTE")
                if m.headers.get("Application") == "transfer"]
    control.hang_up(first)
    flow, outcome = ended.get(timeout=20)
    assert outcome.result == "caller-hung-up"


def _wait_listening(address, process, timeout=20):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError("orchestrator exited with %s" % process.returncode)
        try:
            stdsocket.create_connection(address, timeout=1).close()
            return
        except OSError:
            gevent.sleep(0.2)
    raise TimeoutError("orchestrator not listening on %s:%s" % address)
