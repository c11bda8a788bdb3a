"""The agent API on a running service: real HTTP on loopback, the simulator, the sandbox gateway.

``rig`` starts a simulated switch whose dialplan ``pay`` extension hands a call to the service's
socket (as freeswitch_conf/dialplan/payments.xml does), the service with the agent API and one
inbound node on that switch, the sandbox gateway, and a webhook receiver (a gevent WSGI server).
"""
import json
import os

import gevent
import pytest
import requests
from gevent.pywsgi import WSGIServer

from orchestrator.config import load_config
from orchestrator.engine import FlowLibrary
from orchestrator.payments.sandbox import SandboxGateway
from orchestrator.service import Service
from orchestrator.simulator import CallerScript, Switch
from orchestrator.simulator.eavesdrop import payments_extensions

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SCALE = 0.1
TOKENS = {"alice": "alice-token-0123456789", "bob": "bob-token-0123456789ab",
          "acme": "acme-supervisor-token-01", "other": "other-tenant-token-0123"}
SECRET = "webhook-secret-acme-0123456789"
PAN, CODE = "4111111111111111", "737"
PAYING_CALLER = [{"wait_prompt": 3}, {"press": PAN + "#"}, {"wait_prompt": 4}, {"press": "1230"},
                 {"wait_prompt": 5}, {"press": CODE}]


class WebhookReceiver:
    """Answers 500 to the first ``fail_first`` requests, then 200; keeps every request."""

    def __init__(self, fail_first=0):
        self.fail_first, self.requests = fail_first, []
        self.server = WSGIServer(("127.0.0.1", 0), self._app, log=None, error_log=None)

    def _app(self, environ, start_response):
        body = environ["wsgi.input"].read(int(environ.get("CONTENT_LENGTH") or 0))
        self.requests.append({"headers": {"X-Timestamp": environ.get("HTTP_X_TIMESTAMP"),
                                          "X-Signature": environ.get("HTTP_X_SIGNATURE")},
                              "body": body})
        failing = len(self.requests) <= self.fail_first
        start_response("500 Internal Server Error" if failing else "200 OK", [("Content-Length", "0")])
        return [b""]

    @property
    def url(self):
        return "http://127.0.0.1:%d/hook" % self.server.server_port


class Rig:
    def __init__(self, tmp_path, hold="music", fail_first=1):
        self.sandbox = SandboxGateway(slow_seconds=0.5, hang_seconds=3.0)
        self.sandbox.start()
        self.receiver = WebhookReceiver(fail_first)
        self.receiver.server.start()
        self.switch = Switch(password="sim-secret", time_scale=SCALE).start()
        config = load_config(None, environ={})
        config.data.update({
            "listen": {"host": "127.0.0.1", "port": 0}, "linger_seconds": 2,
            "store": {"path": str(tmp_path / "payments.sqlite")},
            "http": {"enabled": True, "host": "127.0.0.1", "port": 0},
            "tenants": ["acme", "globex"],
            "nodes": [{"name": "sim", "host": "127.0.0.1", "port": self.switch.inbound_address[1],
                       "password": "sim-secret"}],
            "gateways": [{"name": "sandbox", "type": "sandbox", "url": self.sandbox.url,
                          "read_timeout": 1.0, "max_attempts": 2, "backoff": 0.1,
                          "status_attempts": 2, "status_interval": 0.2}],
            "agent_api": {
                "tokens": [{"token": TOKENS["alice"], "tenant": "acme", "agent": "alice"},
                           {"token": TOKENS["bob"], "tenant": "acme", "agent": "bob"},
                           {"token": TOKENS["acme"], "tenant": "acme"},
                           {"token": TOKENS["other"], "tenant": "globex"}],
                "agents": {"alice": {"extension": "1001", "context": "default"}},
                "webhooks": {"acme": {"url": self.receiver.url, "secret": SECRET, "timeout": 2}},
                "hold": hold, "hold_music": "local_stream://moh"}})
        self.service = Service(config, library=FlowLibrary.from_directory(os.path.join(ROOT, "flows")),
                               time_scale=SCALE)
        self.service.agent.webhooks.base_delay = 0.05
        self.service.start()
        # the payments context as freeswitch_conf/dialplan/payments.xml has it
        self.switch.extensions.update(payments_extensions(self.service.address))
        assert self.service.pool.nodes["sim"].wait_connected(5)
        self.base = "http://127.0.0.1:%d/api/v1" % self.service.http_address[1]

    def stop(self):
        self.service.stop(grace=3)
        self.switch.stop()
        self.sandbox.stop()
        self.receiver.server.stop(timeout=1)

    def call(self, steps=(), max_duration=120):
        """A customer's call answered by an agent: (Call, AgentLeg)."""
        return self.switch.place_bridged_call(
            CallerScript.from_data({"steps": list(steps), "max_duration": max_duration}))

    def request(self, method, path, who="alice", body=None, token=None, **kwargs):
        headers = {}
        token = TOKENS.get(who) if token is None else token
        if token:
            headers["Authorization"] = "Bearer " + token
        return requests.request(method, self.base + path, headers=headers,
                                data=None if body is None else json.dumps(body), timeout=10, **kwargs)

    def start_payment(self, call_uuid, who="alice", **extra):
        body = dict({"call_uuid": call_uuid, "amount": 1250, "currency": "EUR",
                     "reference": "INV-1", "mode": "transfer"}, **extra)
        body = {k: v for k, v in body.items() if v is not None}
        return self.request("POST", "/sessions", who, body)

    def wait_state(self, session_id, state, timeout=30, who="alice"):
        with gevent.Timeout(timeout, AssertionError("session never reached %s" % state)):
            while True:
                current = self.request("GET", "/sessions/" + session_id, who).json()
                if current["state"] == state:
                    return current
                gevent.sleep(0.05)


@pytest.fixture
def rig(tmp_path):
    rig = Rig(tmp_path)
    yield rig
    rig.stop()
