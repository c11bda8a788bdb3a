"""The ESL recorder relays both ways untouched and writes whole, masked messages."""
import json

import gevent
from gevent import socket

from orchestrator.cli import main
from orchestrator.esl.channel import ChannelSettings
from orchestrator.esl.outbound import OutboundServer
from orchestrator.esl.recorder import EslRecorder, parse_address
from orchestrator.esl.transcript import Masker, read_transcript
from orchestrator.simulator import CallerScript
from tests.support.esl_messages import Message, RawClient
from tests.support.waiting import eventually

CARD = "4111111111111111"


def test_masker_hides_digit_runs_and_digit_headers_but_keeps_uuids_clocks_and_lengths():
    masker = Masker(masked_variables=("account",))
    text = ("Event-Name: DTMF\nDTMF-Digit: 5\nUnique-ID: 12345678-1234-4234-8234-123456789012\n"
            "Event-Date-Timestamp: 1700000000000000\nvariable_note: card 4111111111111111 ok\n"
            "variable_account: 1234\nexecute-app-arg: en NUMBER pronounced FEMININE 12\n"
            "Caller-Channel-Created-Time: 1700000000000000\n")
    masked = masker.mask(text)
    assert len(masked) == len(text)
    assert "DTMF-Digit: X\n" in masked
    assert "12345678-1234-4234-8234-123456789012" in masked
    assert "Event-Date-Timestamp: 1700000000000000" in masked
    assert "Caller-Channel-Created-Time: 1700000000000000" in masked
    assert "card XXXXXXXXXXXXXXXX ok" in masked
    assert "variable_account: XXXX" in masked
    assert "FEMININE 12" in masked


def test_masker_handles_json_events():
    masked = Masker().mask('{"Event-Name":"DTMF","DTMF-Digit":"7","variable_x":"5555555555554444"}')
    assert '"DTMF-Digit":"X"' in masked and "5555555555554444" not in masked


def test_outbound_call_is_recorded_both_ways_with_digits_masked(switch, tmp_path):
    keyed = []

    def handler(channel):
        channel.answer()
        keyed.append(channel.collect_digits(max_digits=20, first_digit_timeout=5,
                                            inter_digit_timeout=2))
        channel.hangup()

    server = OutboundServer(handler, linger_seconds=0, channel_settings=ChannelSettings(
        answer_timeout=5, hangup_timeout=2))
    server.start()
    out = tmp_path / "call.jsonl"
    recorder = EslRecorder(("127.0.0.1", 0), server.address, str(out)).start()
    try:
        call = switch.place_call(recorder.address, caller=CallerScript.silent(max_duration=60))
        # Keys pressed before the handler's `myevents` went through would be lost, so the caller
        # keys once the handler has answered: its events are subscribed by then, and keys that
        # arrive before collect_digits starts count.
        eventually(lambda: call.record.answered, what="the call answered through the recorder")
        call.press(CARD + "#")
        call.wait(10)
        with gevent.Timeout(5):
            while server.active_calls:
                gevent.sleep(0.02)
    finally:
        recorder.stop()
        server.stop(grace=1)
    assert keyed and keyed[0].digits == CARD           # the relay changed nothing
    text = out.read_text()
    assert CARD not in text and CARD[:7] not in text
    records = read_transcript(str(out))
    assert records[0]["dir"] == "meta" and records[0]["format"] == "esl-transcript/1"
    sent = [r for r in records if r["dir"] == "c2s"]
    got = [Message(r["raw"]) for r in records if r["dir"] == "s2c"]
    assert sent[0]["raw"] == "connect\n\n"
    assert got[0].get("Reply-Text") == "+OK\n"          # the connect reply, whole
    dtmf = [m for m in got if m.event_name == "DTMF"]
    assert len(dtmf) == len(CARD) + 1     # "#" is URL-encoded on the wire, so "XXX"
    assert {m.get("DTMF-Digit").strip("X") for m in dtmf} == {""}
    assert any("call-command: hangup" in r["raw"] for r in sent)
    assert got[-1].content_type == "text/disconnect-notice"
    times = [r["t"] for r in records]
    assert times == sorted(times)
    assert [r for r in records if r["dir"] == "close"]
    for line in text.splitlines():
        json.loads(line)


def test_inbound_client_is_recorded_with_the_switch_told_apart(switch, tmp_path):
    out = tmp_path / "inbound.jsonl"
    recorder = EslRecorder(("127.0.0.1", 0), switch.inbound_address, str(out)).start()
    try:
        client = RawClient(socket.create_connection(recorder.address, timeout=5))
        client.wait(lambda m: m.content_type == "auth/request", 5)
        client.send("auth %s" % switch.password)
        client.wait(lambda m: m.get("Reply-Text") == "+OK accepted", 5)
        client.send("api uuid_getvar 00000000-0000-4000-8000-000000000000 x")
        client.wait(lambda m: m.content_type == "api/response", 5)
        client.send("exit")
        client.wait_closed(5)
        client.close()
        gevent.sleep(0.1)
    finally:
        recorder.stop()
    records = [r for r in read_transcript(str(out)) if r["dir"] in ("c2s", "s2c")]
    assert [r["dir"] for r in records] == ["s2c", "c2s", "s2c", "c2s", "s2c", "c2s", "s2c", "s2c"]
    assert records[0]["raw"].startswith("Content-Type: auth/request")
    assert records[1]["raw"] == "auth %s\n\n" % switch.password


def test_record_esl_command_rejects_a_bad_address(capsys):
    assert main(["record-esl", "--listen", "nowhere", "--forward", "127.0.0.1:1",
                 "--out", "/dev/null"]) == 2
    assert "HOST:PORT" in capsys.readouterr().err
    assert parse_address("127.0.0.1:8021") == ("127.0.0.1", 8021)
