"""Texts from an agent-assisted payment, through the API, with a real SMS provider on loopback
HTTPS: a confirmation after the caller keys the card (to the number the agent gave, or the
caller's own), a payment link instead of card entry, a provider that fails (the payment stands,
the session says the text failed), and the start refused for a number that is not one or a
site with no SMS provider."""
import json

import gevent
import pytest

from orchestrator.payments.signing import verify
from orchestrator.store.links import LINK_SENT
from tests.support.agent import (PAYING_CALLER, SMS_SECRET, TOKENS, read_stream, sse_events,
                                 texting_rig)
from tests.support.canary import traces
from tests.support.waiting import eventually

TO = "+34600111222"
CALLER_NUMBER = "+34911222333"


@pytest.fixture
def provider(scripted_https):
    return scripted_https([(202, {"id": "msg-1"})])


@pytest.fixture
def texting(tmp_path, provider, tls_files):
    rig = texting_rig(tmp_path, provider, tls_files)
    yield rig
    rig.stop()


def texts(provider):
    """Each text the provider was asked to send, its signature checked."""
    sent = []
    for request in provider.requests:
        headers = request["headers"]
        assert verify(SMS_SECRET, headers["X-Timestamp"], headers["X-Signature"], request["body"])
        sent.append(json.loads(request["body"]))
    return sent


def watch(rig, session_id):
    stream = []
    reader = gevent.spawn(read_stream, "%s/sessions/%s/events?access_token=%s"
                          % (rig.base, session_id, TOKENS["alice"]), stream)
    return stream, reader


def test_a_card_payment_confirmed_by_sms_to_the_number_the_agent_gave(texting, provider, caplog):
    call, agent = texting.call(PAYING_CALLER + [{"wait_prompt": 20}])
    reply = texting.start_payment(call.uuid, sms_to="+34 600 111 222")
    assert reply.status_code == 201, reply.text
    session = reply.json()
    assert session["flow"] == "agent_payment" and session["method"] == "card"
    stream, reader = watch(texting, session["id"])
    record = call.wait(timeout=60)
    reader.join(timeout=15)
    final = texting.request("GET", "/sessions/" + session["id"]).json()
    assert final["result"]["status"] == "approved"
    assert final["sms"] == {"purpose": "confirmation", "result": "sent", "to": "+********222"}

    [payment] = texting.service.store.list()
    assert payment["status"] == "approved" and payment["call_uuid"] == call.uuid
    code = payment["confirmation_code"]
    assert code and len(code) == 6 and code.isdigit()
    [text] = texts(provider)
    assert text["to"] == TO and text["reference"] == payment["id"]
    assert code in text["text"] and "12.50 EUR" in text["text"] and "1111" in text["text"]
    # the caller heard the code, then went back to the agent
    assert record.variables["pay_sms_to"] == TO and record.variables["pay_method"] == "card"
    assert record.bridged_to == agent.uuid

    events = sse_events("".join(stream[1:]))
    assert ("sms", {"purpose": "confirmation", "result": "sent", "to": "+********222"}) in events
    assert [p["state"] for e, p in events if e == "state"][-2:] == ["approved", "ended"]
    # no card digit beyond the last four anywhere: the text, the session, the stream, the log
    outputs = [json.dumps(texts(provider)), json.dumps(final), "".join(stream[1:]), caplog.text,
               json.dumps(texting.service.store.list())]
    for output in outputs:
        assert traces(output) == []
    assert "411111" not in text["text"]
    assert TO not in caplog.text and "600111222" not in json.dumps(final)


def test_the_confirmation_goes_to_the_callers_own_number_when_asked(texting, provider):
    call, _ = texting.call(PAYING_CALLER + [{"wait_prompt": 20}], caller_id_number=CALLER_NUMBER)
    session = texting.start_payment(call.uuid, sms_to="caller").json()
    call.wait(timeout=60)
    [text] = texts(provider)
    assert text["to"] == CALLER_NUMBER
    assert texting.service.store.list()[0]["confirmation_code"] in text["text"]
    final = texting.request("GET", "/sessions/" + session["id"]).json()
    assert final["sms"]["to"] == "+********333"


def test_no_sms_to_no_text(texting, provider):
    call, _ = texting.call(PAYING_CALLER + [{"wait_prompt": 20}])
    session = texting.start_payment(call.uuid).json()
    assert session["flow"] == "card_payment"
    call.wait(timeout=60)
    assert provider.requests == [] and texting.service.store.list()[0]["status"] == "approved"


def test_a_failing_provider_loses_no_payment_and_the_session_says_so(tmp_path, scripted_https,
                                                                     tls_files, caplog):
    provider = scripted_https([(503, {"error": "down"})])
    rig = texting_rig(tmp_path, provider, tls_files)
    try:
        call, agent = rig.call(PAYING_CALLER + [{"wait_prompt": 20}])
        session = rig.start_payment(call.uuid, sms_to=TO).json()
        record = call.wait(timeout=60)
        final = rig.request("GET", "/sessions/" + session["id"]).json()
        assert final["result"]["status"] == "approved"
        assert final["sms"] == {"purpose": "confirmation", "result": "error", "to": "+********222"}
        [payment] = rig.service.store.list()
        assert payment["status"] == "approved"
        assert len(provider.requests) == 1
        assert record.bridged_to == agent.uuid          # back to the agent all the same
        assert any("send_sms sms: error" in r.getMessage() for r in caplog.records)
        metrics = rig.service.metrics.registry.get_sample_value(
            "payivr_sms_total", {"tenant": "acme", "provider": "sms", "result": "error"})
        assert metrics == 1
    finally:
        rig.stop()


def test_stay_mode_texts_the_confirmation_too(texting, provider):
    call, agent = texting.call(PAYING_CALLER + [{"wait_prompt": 20}])
    session = texting.start_payment(call.uuid, mode="stay", sms_to=TO).json()
    assert session["mode"] == "stay" and session["flow"] == "agent_payment"
    call.wait(timeout=60)
    [text] = texts(provider)
    assert text["to"] == TO and texting.service.store.list()[0]["confirmation_code"] in text["text"]
    final = texting.request("GET", "/sessions/" + session["id"]).json()
    assert final["result"]["status"] == "approved" and final["sms"]["result"] == "sent"


def test_the_session_shows_only_a_masked_number_and_known_words():
    """The last guard: a text event whose number is not masked, or whose words are not the
    vocabulary's, never reaches the session as it came."""
    from orchestrator.agent.sessions import SessionRegistry
    from orchestrator.payments.events import CallRef, TextSent
    from orchestrator.payments.money import Money

    registry = SessionRegistry()
    session = registry.create("acme", "alice", "call-1", "transfer", "agent_payment",
                              Money.parse(1250, "EUR"), "INV-1", method="link", sms_to="caller")
    changes = []
    registry.listeners.append(lambda s, event, payload: changes.append((event, payload)))
    call = CallRef("call-1", "acme", "agent_payment", session.id)
    registry.on_payment_event(call, TextSent("link", "sent", "+34600111222"))
    assert session.sms == {"purpose": "link", "result": "sent", "to": "***"}
    assert session.state == "link_sent"
    registry.on_payment_event(call, TextSent("a secret", "sent", "+********222"))
    registry.on_payment_event(call, TextSent("link", "perhaps", "+********222"))
    assert [e for e, _ in changes] == ["sms", "state"]
    assert session.to_json()["sms"] == {"purpose": "link", "result": "sent", "to": "***"}


def test_the_agent_offers_a_link_texted_instead_of_card_entry(texting, provider):
    call, agent = texting.call([{"wait_prompt": 20}], caller_id_number=CALLER_NUMBER)
    reply = texting.start_payment(call.uuid, method="link")
    assert reply.status_code == 201, reply.text
    session = reply.json()
    assert session["method"] == "link" and session["flow"] == "agent_payment"
    record = call.wait(timeout=60)
    [payment] = texting.service.store.list()
    assert payment["status"] == LINK_SENT and payment["amount_minor"] == 1250
    assert payment["reference"] == "INV-1"
    [text] = texts(provider)
    assert text["to"] == CALLER_NUMBER and "https://pay.example/p/" in text["text"]
    assert "12.50 EUR" in text["text"]
    final = texting.request("GET", "/sessions/" + session["id"]).json()
    assert final["sms"] == {"purpose": "link", "result": "sent", "to": "+********333"}
    assert final["state"] == "ended" and final["fields"]["number"]["state"] == "pending"
    # the caller keyed nothing and is back with the agent
    assert record.bridged_to == agent.uuid
    # the session reached link_sent before it ended
    assert eventually(lambda: any(
        json.loads(r["body"]).get("data", {}).get("state") == "link_sent"
        for r in texting.receiver.requests), timeout=15)


@pytest.mark.parametrize("sms_to", ["12345", "+34 600 abc", "(34) 600-111", "", 34600111222,
                                    "+9999999999999999", "callers", "+34600111222\n",
                                    "+34600111222;pay_flow=x", ["+34600111222"]])
def test_a_recipient_that_is_not_a_phone_number_is_422(texting, provider, sms_to):
    call, _ = texting.call()
    reply = texting.start_payment(call.uuid, sms_to=sms_to)
    assert reply.status_code == 422, reply.text
    assert reply.json()["error"] == "invalid_phone" and reply.json()["field"] == "sms_to"
    assert "pay_session" not in call.channel.variables and len(texting.service.agent.registry) == 0
    call.hangup()


@pytest.mark.parametrize("sms_to", ["4111111111111111", "+4111 1111 1111 1111", "378282246310005"])
def test_a_recipient_that_may_be_a_card_number_is_422_card_like_never_repeated(texting, sms_to):
    call, _ = texting.call()
    reply = texting.start_payment(call.uuid, sms_to=sms_to)
    assert reply.status_code == 422 and reply.json()["error"] == "card_like", reply.text
    assert reply.json()["field"] == "sms_to" and "1111" not in reply.text and "0005" not in reply.text
    call.hangup()


def test_a_bad_method_is_400(texting):
    call, _ = texting.call()
    reply = texting.start_payment(call.uuid, method="cash")
    assert reply.status_code == 400 and reply.json()["field"] == "method"
    call.hangup()


def test_texts_asked_of_a_flow_that_sends_none_are_refused(texting):
    call, _ = texting.call()
    reply = texting.start_payment(call.uuid, sms_to=TO, flow="card_payment")
    assert reply.status_code == 409 and reply.json()["error"] == "sms_unavailable", reply.text
    assert "card_payment" in reply.json()["message"] and "pay_session" not in call.channel.variables
    call.hangup()


def test_a_site_without_an_sms_provider_refuses_texts_but_takes_cards(rig):
    call, _ = rig.call()
    reply = rig.start_payment(call.uuid, sms_to=TO)
    assert reply.status_code == 409 and reply.json()["field"] == "sms_to", reply.text
    assert "its SMS providers: none" in reply.json()["message"]
    reply = rig.start_payment(call.uuid, method="link")
    assert reply.status_code == 409 and reply.json()["field"] == "method", reply.text
    assert "pay_session" not in call.channel.variables
    assert rig.start_payment(call.uuid).status_code == 201
    call.hangup()


def test_a_site_without_payment_links_refuses_a_link(tmp_path, provider, tls_files):
    rig = texting_rig(tmp_path, provider, tls_files, links=False)
    try:
        call, _ = rig.call()
        reply = rig.start_payment(call.uuid, method="link")
        assert reply.status_code == 409 and "payment links: none" in reply.json()["message"]
        assert rig.start_payment(call.uuid, sms_to=TO).status_code == 201   # a confirmation still
        call.hangup()
    finally:
        rig.stop()
