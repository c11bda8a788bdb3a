"""The agent API on a running service: real HTTP on loopback, the simulator, the sandbox gateway.

``Rig`` is a ServiceOnSimulator whose switch's dialplan ``pay`` extension hands a call to the
service's socket (as freeswitch_conf/dialplan/payments.xml does), with the agent API, the
simulator as inbound node, the sandbox gateway, and a webhook receiver (a gevent WSGI server).
The agent API tests and the panel's end-to-end tests both run on it.
"""
import json

import gevent
import requests
from orchestrator.wsgi_server import PromptWSGIServer as WSGIServer  # answers unheld by Nagle

from orchestrator.simulator import CallerScript
from orchestrator.simulator.eavesdrop import payments_extensions
from tests.support.service import ServiceOnSimulator

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
                                          "X-Signature": environ.get("HTTP_X_SIGNATURE"),
                                          "X-Event-Id": environ.get("HTTP_X_EVENT_ID")},
                              "body": body})
        failing = len(self.requests) <= self.fail_first
        start_response("500 Internal Server Error" if failing else "200 OK", [("Content-Length", "0")])
        return [b""]

    @property
    def url(self):
        return "http://127.0.0.1:%d/hook" % self.server.server_port


# where complete may send each tenant's callers (agent_api.destinations)
DESTINATIONS = {"acme": [{"extension": "2001", "context": "default"},
                         {"pattern": "^30[0-9]{2}$", "context": "queues"}],
                "globex": [{"extension": "5000", "context": "globex"}]}


def agent_api_config(receiver_url, hold):
    """Two tenants, four tokens (two agents of acme, acme's supervisor, globex), alice's phone,
    acme's webhook, each tenant's complete destinations."""
    return {
        "http": {"enabled": True, "host": "127.0.0.1", "port": 0},
        "tenants": ["acme", "globex"],
        "agent_api": {
            "tokens": [{"token": TOKENS["alice"], "tenant": "acme", "agent": "alice"},
                       {"token": TOKENS["bob"], "tenant": "acme", "agent": "bob"},
                       {"token": TOKENS["acme"], "tenant": "acme"},
                       {"token": TOKENS["other"], "tenant": "globex"}],
            "agents": {"alice": {"extension": "1001", "context": "default"}},
            "destinations": DESTINATIONS,
            "webhooks": {"acme": {"url": receiver_url, "secret": SECRET, "timeout": 2,
                                  "backoff_base": 0.05}},
            "hold": hold, "hold_music": "local_stream://moh"}}


def owned_by(tenant="acme", agent="alice", variables=None):
    """The switch-side marks of a bridged call, as ``place_bridged_call`` keywords: the dialplan's
    ``pay_tenant`` (exported: on both legs) and the directory's ``pay_agent_id`` on the agent's
    leg (None leaves one unset)."""
    caller = dict(variables or {})
    agent_leg = {}
    if tenant is not None:
        caller["pay_tenant"] = agent_leg["pay_tenant"] = tenant
    if agent is not None:
        agent_leg["pay_agent_id"] = agent
    return {"variables": caller, "agent_variables": agent_leg}


class Rig:
    """``configure(config)`` may change the service config (a dict) before the service is built."""

    def __init__(self, tmp_path, hold="music", fail_first=1, configure=None):
        self.receiver = WebhookReceiver(fail_first)
        self.receiver.server.start()
        config = agent_api_config(self.receiver.url, hold)
        if configure is not None:
            configure(config)
        try:
            self.world = ServiceOnSimulator(tmp_path, config, node=True, sandbox=True, start=False)
        except BaseException:
            self.receiver.server.stop(timeout=1)
            raise
        self.switch, self.service, self.sandbox = self.world.switch, self.world.service, self.world.sandbox
        self.world.start()
        # the payments context as freeswitch_conf/dialplan/payments.xml has it
        self.switch.extensions.update(payments_extensions(self.service.address))
        assert self.service.pool.nodes["fs1"].wait_connected(5)
        self.base = "http://127.0.0.1:%d/api/v1" % self.service.http_address[1]

    def stop(self):
        self.world.stop(grace=3)
        self.receiver.server.stop(timeout=1)

    def call(self, steps=(), max_duration=120, tenant="acme", agent="alice",
             caller_id_number="+15551230000"):
        """A customer's call answered by an agent: (Call, AgentLeg); by default acme's call on
        alice's leg (``owned_by``), from ``caller_id_number``."""
        return self.switch.place_bridged_call(
            CallerScript.from_data({"steps": list(steps), "max_duration": max_duration}),
            caller_id_number=caller_id_number, **owned_by(tenant, agent))

    def request(self, method, path, who="alice", body=None, token=None, **kwargs):
        headers = {} if body is None else {"Content-Type": "application/json"}
        token = TOKENS.get(who) if token is None else token
        if token:
            headers["Authorization"] = "Bearer " + token
        return requests.request(method, self.base + path, headers=headers,
                                data=None if body is None else json.dumps(body), timeout=10, **kwargs)

    def start_payment(self, call_uuid, who="alice", token=None, **extra):
        body = dict({"call_uuid": call_uuid, "amount": 1250, "currency": "EUR",
                     "reference": "INV-1", "mode": "transfer"}, **extra)
        body = {k: v for k, v in body.items() if v is not None}
        return self.request("POST", "/sessions", who, body, token=token)

    def wait_state(self, session_id, state, timeout=30, who="alice"):
        with gevent.Timeout(timeout, AssertionError("session never reached %s" % state)):
            while True:
                current = self.request("GET", "/sessions/" + session_id, who).json()
                if current["state"] == state:
                    return current
                gevent.sleep(0.05)


def listed_while_declined(rig):
    """The sessions alice's list would hold at each moment a session becomes declined
    (``visible_to``, what GET /sessions answers from), recorded by a registry listener."""
    from orchestrator.agent.settings import Principal
    seen = []
    registry = rig.service.agent.registry

    def listener(session, event, payload):
        if event == "state" and payload["state"] == "declined":
            seen.append([s.id for s in registry.visible_to(Principal("acme", "alice"))])
    registry.listeners.append(listener)
    return seen


def states_seen(rig):
    """Every state any session enters, in order, with the session as it was then (a copy of
    what GET /sessions/{id} answers), recorded by a registry listener: a state held only an
    instant (expired, just before ended) is seen, where polling can miss it."""
    seen = []
    registry = rig.service.agent.registry

    def listener(session, event, payload):
        if event == "state":
            seen.append((session.id, payload["state"], session.to_json()))
    registry.listeners.append(listener)
    return seen


def read_stream(url, into):
    """Append the Content-Type of the event stream at ``url``, then each chunk, until it ends."""
    with requests.get(url, stream=True, timeout=(5, 30)) as reply:
        into.append(reply.headers.get("Content-Type", ""))
        for chunk in reply.iter_content(chunk_size=None):
            into.append(chunk.decode("utf-8"))


def sse_events(text):
    """[(event, data), ...] of a server-sent event stream's text."""
    events = []
    for block in text.split("\n\n"):
        lines = dict(line.split(": ", 1) for line in block.splitlines() if ": " in line and not line.startswith(":"))
        if "event" in lines:
            events.append((lines["event"], json.loads(lines["data"])))
    return events


def sse_ids(text):
    """[(event, id or None), ...] of a server-sent event stream's text."""
    ids = []
    for block in text.split("\n\n"):
        lines = dict(line.split(": ", 1) for line in block.splitlines() if ": " in line and not line.startswith(":"))
        if "event" in lines:
            ids.append((lines["event"], int(lines["id"]) if "id" in lines else None))
    return ids


SMS_SECRET = "sms-secret-of-sixteen-bytes"
LINK_SECRET = "link-secret-of-sixteen"


def texting_rig(tmp_path, provider, tls_files, links=True):
    """A ``Rig`` whose texts go to ``provider`` (an HTTPS ScriptedService on loopback, the
    generic signed provider named ``sms``) and, with ``links``, whose payment links are made
    by a URL template (``paylink``): what ``flows/agent_payment.yaml`` needs."""
    def configure(config):
        config["sms_providers"] = [{"name": "sms", "type": "http", "url": provider.url + "/send",
                                    "secret": SMS_SECRET, "verify": tls_files[0],
                                    "read_timeout": 2, "max_attempts": 1}]
        if links:
            config["payment_links"] = {"paylink": {"type": "template", "secret": LINK_SECRET,
                                                   "url": "https://pay.example/p/{token}",
                                                   "expires_after": 900}}
    return Rig(tmp_path, configure=configure)
