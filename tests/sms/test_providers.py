"""The SMS connectors against real HTTPS servers on loopback: the generic signed JSON provider,
Twilio's documented Messages API shape, and the sink; slow, down and refusing providers."""
import base64
import json
import socket
import urllib.parse

import pytest

from orchestrator.config import ConfigError, load_config
from orchestrator.payments import signing
from orchestrator.payments.gateways.transport import GatewayConfigError
from orchestrator.sms import HttpSmsProvider, SinkSmsProvider, TwilioSmsProvider, build_providers

SECRET = "sms-secret-of-sixteen-bytes"
SID, TOKEN = "AC" + "0123456789abcdef" * 2, "twilio-auth-token-0123"


def test_the_generic_provider_posts_signed_json(scripted_provider, tls_files):
    provider = scripted_provider([(202, {"id": "msg-77"})])
    sms = HttpSmsProvider("sms", provider.url + "/send", secret=SECRET, verify=tls_files[0])
    result = sms.send("+34600111222", "Payment received", "pay-1")
    assert (result.outcome, result.message_id) == ("sent", "msg-77")
    [request] = provider.requests
    assert request["path"] == "/send"
    assert json.loads(request["body"]) == {"to": "+34600111222", "text": "Payment received",
                                           "reference": "pay-1"}
    headers = request["headers"]
    assert signing.verify(SECRET, headers["X-Timestamp"], headers["X-Signature"], request["body"])


def test_twilio_gets_its_documented_form_post_with_basic_auth(scripted_provider, tls_files):
    provider = scripted_provider([(201, {"sid": "SM" + "a" * 32, "status": "queued"})])
    sms = TwilioSmsProvider("twilio", SID, TOKEN, base_url=provider.url, verify=tls_files[0],
                            **{"from": "+15005550006"})
    result = sms.send("+34600111222", "Payment received", "pay-1")
    assert (result.outcome, result.message_id) == ("sent", "SM" + "a" * 32)
    [request] = provider.requests
    assert request["path"] == "/2010-04-01/Accounts/%s/Messages.json" % SID
    assert request["headers"]["Content-Type"] == "application/x-www-form-urlencoded"
    assert urllib.parse.parse_qs(request["body"].decode("ascii")) == {
        "To": ["+34600111222"], "From": ["+15005550006"], "Body": ["Payment received"]}
    scheme, token = request["headers"]["Authorization"].split(" ")
    assert scheme == "Basic" and base64.b64decode(token).decode() == "%s:%s" % (SID, TOKEN)


def test_twilio_takes_a_messaging_service_instead_of_a_sender(scripted_provider, tls_files):
    provider = scripted_provider([(201, {"sid": "SM1"})])
    sms = TwilioSmsProvider("twilio", SID, TOKEN, base_url=provider.url, verify=tls_files[0],
                            messaging_service_sid="MG" + "b" * 32)
    sms.send("+34600111222", "x", "r")
    assert urllib.parse.parse_qs(provider.requests[0]["body"].decode())["MessagingServiceSid"] == ["MG" + "b" * 32]
    with pytest.raises(GatewayConfigError, match="exactly one"):
        TwilioSmsProvider("twilio", SID, TOKEN)


def test_a_refusal_is_an_error_and_is_not_sent_again(scripted_provider, tls_files):
    provider = scripted_provider([(400, {"code": 21211, "message": "Invalid 'To' Phone Number"})])
    sms = HttpSmsProvider("sms", provider.url, verify=tls_files[0], max_attempts=3)
    assert sms.send("+34600111222", "x", "r").outcome == "error"
    assert len(provider.requests) == 1


def test_a_slow_provider_is_a_timeout_and_the_text_is_never_sent_twice(scripted_provider, tls_files):
    provider = scripted_provider([("slow", 5.0, (200, {}))])
    sms = HttpSmsProvider("sms", provider.url, verify=tls_files[0], read_timeout=0.3, max_attempts=3)
    result = sms.send("+34600111222", "x", "r")
    assert result.outcome == "timeout" and "not sent again" in result.detail
    assert len(provider.requests) == 1


def test_a_provider_that_is_down_is_tried_again_then_an_error(tls_files):
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    sms = HttpSmsProvider("sms", "https://127.0.0.1:%d" % port, verify=tls_files[0], max_attempts=2)
    assert sms.send("+34600111222", "x", "r").outcome == "error"


def test_a_garbage_or_oversized_answer_still_counts_as_sent_without_an_id(scripted_provider, tls_files):
    provider = scripted_provider([(200, b"<html>ok</html>"), (200, {"id": "x" * 65})])
    sms = HttpSmsProvider("sms", provider.url, verify=tls_files[0])
    assert sms.send("+34600111222", "x", "r").message_id == ""
    assert sms.send("+34600111222", "x", "r").message_id == ""      # an id longer than 64 is not kept


def test_the_sink_keeps_a_bounded_number_of_messages():
    sink = SinkSmsProvider("sink", keep=2)
    for n in range(3):
        assert sink.send("+34600111222", "text %d" % n, "r").outcome == "sent"
    assert [m.text for m in sink.messages] == ["text 1", "text 2"]


def test_providers_come_from_the_config_and_bad_ones_are_refused(tmp_path):
    (tmp_path / "flows").mkdir()
    path = tmp_path / "orchestrator.yaml"
    path.write_text("flows: {directory: flows}\nsms_providers:\n"
                    "  - {name: sink, type: sink}\n"
                    "  - {name: tw, type: twilio, account_sid: %s, auth_token: %s, from: '+15005550006'}\n"
                    % (SID, TOKEN))
    config = load_config(str(path), environ={})
    assert set(build_providers(config["sms_providers"])) == {"sink", "tw"}
    path.write_text("flows: {directory: flows}\nsms_providers: [{name: tw, type: twilio, account_sid: AC1,"
                    " auth_token: %s}]\n" % TOKEN)
    with pytest.raises(ConfigError, match="account_sid"):
        load_config(str(path), environ={})
    with pytest.raises(GatewayConfigError, match="https"):
        build_providers([{"name": "x", "type": "http", "url": "http://sms.example.com"}])
