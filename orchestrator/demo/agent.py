"""The demo's agent-assisted payment: an agent starts it through the API while talking to a caller.

A customer's call is already bridged to the agent's leg on the simulated switch. The agent (a
token of the ``acme`` tenant) asks for 12.50 EUR, giving the agent's own channel; the service
finds the caller from it and sends the caller into the payment flow, and bridges them back when
it is done. Twice: in transfer mode the agent is on hold meanwhile; in stay mode the agent's
leg listens (eavesdrop with whisper, docs/stay-on-line.md) and must hear the prompts but no key.
The demo watches the live updates the agent's panel would show, masked, and checks the outcome.
After the transfer-mode payment the agent (whose token may refund) gives 5.00 EUR back, the
request sent twice under one Idempotency-Key as a double click would: refunded once.
A third payment is started with ``"charge": "agent"``: the flow holds the complete card
(``awaiting_charge``) and nothing is charged until the agent's ``POST .../charge``, sent twice
at once as a double click would: charged once, both answers the same.
"""
import json

import gevent
import requests

from orchestrator.config import load_config
from orchestrator.engine import FlowLibrary
from orchestrator.payments.sandbox import SandboxGateway
from orchestrator.service import Service
from orchestrator.simulator import CallerScript, Switch
from orchestrator.simulator.eavesdrop import payments_extensions

TIME_SCALE = 0.1
TOKEN = "demo-agent-alice-token-0001"


class AgentDryRun:
    """Switch, sandbox and a service with the agent API, all on loopback ports of their own."""

    def __init__(self, flows_dir):
        self.sandbox = SandboxGateway().start()
        self.switch = Switch(password="demo-switch", time_scale=TIME_SCALE).start()
        config = load_config(None, environ={})
        config.data.update({
            "listen": {"host": "127.0.0.1", "port": 0}, "linger_seconds": 2,
            "store": {"path": ":memory:"},
            "http": dict(config.data["http"], enabled=True, host="127.0.0.1", port=0),
            "tenants": ["acme"],
            "nodes": [{"name": "sim", "host": "127.0.0.1", "port": self.switch.inbound_address[1],
                       "password": "demo-switch"}],
            "gateways": [{"name": "sandbox", "type": "sandbox", "url": self.sandbox.url}],
            # the collections flows' CRM and texts: defined, though no agent call asks them
            "web_services": [{"name": "crm", "url": "https://crm.example"}],
            "sms_providers": [{"name": "sms", "type": "sink"}],
            "agent_api": dict(config.data["agent_api"],
                              tokens=[{"token": TOKEN, "tenant": "acme", "agent": "alice",
                                       "refund": True}],
                              agents={"alice": {"extension": "1001"}}, hold="music")})
        self.service = Service(config, library=FlowLibrary.from_directory(flows_dir),
                               time_scale=TIME_SCALE)

    def __enter__(self):
        self.service.start()
        # the switch's payments context, as freeswitch_conf/dialplan/payments.xml has it
        self.switch.extensions.update(payments_extensions(self.service.address))
        self.service.pool.nodes["sim"].wait_connected(5)
        self.api = "http://127.0.0.1:%d/api/v1" % self.service.http_address[1]
        return self

    def __exit__(self, *exc):
        self.service.stop(grace=3)
        self.switch.stop()
        self.sandbox.stop()

    def post(self, path, body, **headers):
        return requests.post(self.api + path, data=json.dumps(body), timeout=10,
                             headers=dict({"Authorization": "Bearer " + TOKEN,
                                           "Content-Type": "application/json"}, **headers))


def _watch(url, lines):
    """Read the session's Server-Sent Events as the panel would, one line per update."""
    with requests.get(url, stream=True, timeout=(5, 60)) as reply:
        event = None
        for raw in reply.iter_lines(decode_unicode=True):
            if raw.startswith("event: "):
                event = raw[7:]
            elif raw.startswith("data: ") and event in ("field", "authorization", "state"):
                lines.append((event, json.loads(raw[6:])))


def _describe(event, data):
    if event == "agent":          # what the agent did, in the order it happened
        return data
    if event == "field":
        shown = data.get("masked") or data.get("error_type") or ""
        return "%-13s %-8s %s" % (data.get("field"), data.get("state"), shown)
    if event == "authorization":
        return "authorization %s %s" % (data.get("status"), data.get("decline_reason") or "")
    return "state         %s" % data.get("state")


def run_agent_demo(flows_dir, caller_path, out, timeout=60.0):
    """Print the agent's view of one payment per mode; return ``[(mode, problems)]``
    (no problems: as expected)."""
    results = []
    with AgentDryRun(flows_dir) as rig:
        for number, (mode, charge) in enumerate(PAYMENTS, 1):
            label = mode if charge == "auto" else "%s, the agent charges" % mode
            results.append((label, _one_payment(rig, caller_path, out, timeout, mode, number,
                                                charge)))
    return results


# (mode, charge): the flow charges the complete card, or the agent does (POST .../charge)
PAYMENTS = (("transfer", "auto"), ("stay", "auto"), ("transfer", "agent"))


def _one_payment(rig, caller_path, out, timeout, mode, number, charge="auto"):
    problems = []
    charges_before = len(rig.sandbox.charges)
    # the switch marks whose call it is: the dialplan's pay_tenant, the directory's pay_agent_id
    call, agent = rig.switch.place_bridged_call(CallerScript.from_yaml(caller_path),
                                                variables={"pay_tenant": "acme"},
                                                agent_variables={"pay_agent_id": "alice"})
    reply = rig.post("/sessions", {"agent_uuid": agent.uuid, "amount": 1250, "currency": "EUR",
                                   "reference": "DEMO-%d" % number, "mode": mode,
                                   "charge": charge})
    if reply.status_code != 201:
        return ["the API refused the payment: %s" % reply.text]
    session = reply.json()
    print("\nagent alice asks the caller for %s (%s mode%s)"
          % (session["amount_text"], mode,
             ", charged when the agent says so" if charge == "agent" else ""), file=out)
    lines = []
    watcher = gevent.spawn(_watch, "%s/sessions/%s/events?access_token=%s"
                           % (rig.api, session["id"], TOKEN), lines)
    if charge == "agent":
        problems += _agent_charges(rig, session, lines, charges_before, timeout)
    call.wait(timeout=timeout)
    watcher.join(timeout=15)
    for event, data in lines:
        print("  " + _describe(event, data), file=out)
    final = _get_session(rig, session["id"])
    print("  the caller is back with agent alice: %s" % (agent.bridged_to == call.uuid), file=out)
    if mode == "stay":
        print("  the agent heard %d prompts, %d key tones and %d key events during the payment"
              % (len(agent.prompts_heard), len(agent.tones_heard), len(agent.dtmf_received)), file=out)
        if not agent.prompts_heard or not agent.listened_in:
            problems.append("the agent did not listen in")
        if agent.tones_heard or agent.dtmf_received:
            problems.append("a key reached the agent")
    if final.get("state") != "ended" or (final.get("result") or {}).get("status") != "approved":
        problems.append("session ended %s" % final.get("state"))
    if agent.bridged_to != call.uuid:
        problems.append("the caller was not bridged back to the agent")
    if call.record.errors:
        problems.append("; ".join(call.record.errors))
    if len(rig.sandbox.charges) - charges_before != 1:
        problems.append("%d charges, expected 1" % (len(rig.sandbox.charges) - charges_before))
    if mode == "transfer" and charge == "auto" and not problems:
        problems += _refund_part(rig, out, (final.get("result") or {}).get("payment_id"))
    return problems


def _get_session(rig, session_id):
    return requests.get("%s/sessions/%s" % (rig.api, session_id), timeout=10,
                        headers={"Authorization": "Bearer " + TOKEN}).json()


def _agent_charges(rig, session, lines, charges_before, timeout):
    """The card is complete and held: the agent sees "awaiting charge" with nothing charged,
    then presses Charge twice at once (a double click); one charge, the same answer twice."""
    waiting = {}
    with gevent.Timeout(timeout, False):
        while waiting.get("state") != "awaiting_charge":
            waiting = _get_session(rig, session["id"])
            if waiting.get("state") in ("ended", "cancelled", "failed", "error", "expired"):
                break
            gevent.sleep(0.1)
    if waiting.get("state") != "awaiting_charge":
        return ["the session never awaited the agent's charge (%s)" % waiting.get("state")]
    gevent.sleep(0.5)        # the card waits: nothing reaches the bank meanwhile
    held = len(rig.sandbox.charges) - charges_before
    lines.append(("agent", "awaiting charge: %s, card %s; charges so far: %d" % (
        waiting["amount_text"], waiting["fields"]["number"]["masked"], held)))
    lines.append(("agent", "agent alice presses Charge twice at once (a double click)"))
    clicks = [gevent.spawn(rig.post, "/sessions/%s/charge" % session["id"],
                           {"attempt": waiting["charge_attempt"]}) for _ in range(2)]
    gevent.joinall(clicks, timeout=timeout)
    answers = [click.value for click in clicks]
    if any(answer is None or answer.status_code != 200 for answer in answers):
        return ["the charge was answered %s" % ", ".join(
            "no answer" if a is None else a.text for a in answers)]
    results = [answer.json()["result"] or {} for answer in answers]
    charged = len(rig.sandbox.charges) - charges_before
    lines.append(("agent", "both answered %s (auth code %s); charged %s" % (
                      " and ".join(r.get("status", "?") for r in results),
                      results[0].get("auth_code", "-"),
                      "once" if charged == 1 else "%d times" % charged)))
    problems = []
    if held:
        problems.append("%d charges before the agent charged" % held)
    if results[0] != results[1] or results[0].get("status") != "approved":
        problems.append("the two answers were %s" % results)
    return problems


def _refund_part(rig, out, payment_id):
    """The agent refunds 5.00 EUR of the payment, the request sent twice under one key."""
    if not payment_id:
        return ["the session's result names no payment"]
    before = len(rig.sandbox.reversals.refunds)
    answers = [rig.post("/payments/%s/refund" % payment_id, {"amount": 500, "reason": "demo"},
                        **{"Idempotency-Key": "demo-refund-0001"}) for _ in range(2)]
    if any(answer.status_code != 200 for answer in answers):
        return ["the refund was answered %s" % ", ".join(a.text for a in answers)]
    payment = answers[-1].json()["payment"]
    done = len(rig.sandbox.reversals.refunds) - before
    print("  agent alice refunds 5.00 EUR (asked twice, one Idempotency-Key): refunded %s; "
          "the payment is %s, %.2f EUR left to refund"
          % ("once" if done == 1 else "%d times" % done, payment["status"],
             payment["refundable_minor"] / 100), file=out)
    if done != 1 or payment["status"] != "partially_refunded":
        return ["%d refunds, payment %s" % (done, payment["status"])]
    return []
