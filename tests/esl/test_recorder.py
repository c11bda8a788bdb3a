"""The ESL recorder relays both ways untouched and writes whole, masked messages: every digit
wherever the wire carries keyed input, runs of seven digits anywhere else."""
import json

import gevent
import pytest
from gevent import socket

from orchestrator.cli import main
from orchestrator.esl.channel import ChannelSettings
from orchestrator.esl.outbound import OutboundServer
from orchestrator.esl.recorder import EslRecorder, parse_address
from orchestrator.esl.channel import SECRET_VARIABLE
from orchestrator.esl.transcript import KEYED_VARIABLES, Conversation, Masker, read_transcript
from orchestrator.simulator import CallerScript
from tests.support.canary import traces
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
    spaced = Masker().mask('{"Event-Name": "CHANNEL_EXECUTE_COMPLETE", "variable_hangup_cause": "737"}')
    assert '"variable_hangup_cause": "XXX"' in spaced


UUID = "5b1c4e2a-3d4f-4a5b-8c6d-7e8f90a1b2c3"
# one message per place the wire carries keyed input, each holding the expiry and the code
KEYED_PLACES = {
    "the variable play_and_get_digits reads into (plain event)":
        "Event-Name: CHANNEL_EXECUTE_COMPLETE\nvariable_hangup_cause: 737\n",
    "the keys history (plain event)": "Event-Name: CHANNEL_HANGUP\nvariable_digits_dialed: 1230%23737\n",
    "a JSON event": '{"Event-Name":"CHANNEL_HANGUP","variable_digits_dialed":"1230#737"}',
    "an XML event": "<event><headers><variable_hangup_cause>1230</variable_hangup_cause>"
                    "<DTMF-Digit>7</DTMF-Digit></headers></event>",
    "a uuid_dump body": "Content-Type: api/response\nContent-Length: 52\n\n"
                        "Channel-State: CS_EXECUTE\nvariable_hangup_cause: 737\n",
    "set, sent by a client": "sendmsg\ncall-command: execute\nexecute-app-name: set\n"
                             "execute-app-arg: hangup_cause=1230\n\n",
    "set, on the events that follow": "Application: set\nApplication-Data: digits_dialed%3D737\n"
                                      "variable_current_application: set\n"
                                      "variable_current_application_data: digits_dialed%3D737\n",
    "uuid_setvar over api": "api uuid_setvar %s hangup_cause 737\n\n" % UUID,
    "uuid_setvar_multi over bgapi": "bgapi uuid_setvar_multi %s hangup_cause=1230\n\n" % UUID,
    "uuid_setvar, on the API event": "Event-Name: API\nAPI-Command: uuid_setvar\n"
                                     "API-Command-Argument: %s%%20hangup_cause%%20737\n" % UUID,
    "keys sent to a leg": "api uuid_recv_dtmf %s 737\n\n" % UUID,
    "keys sent, on the API event": "Event-Name: API\nAPI-Command: uuid_send_dtmf\n"
                                   "API-Command-Argument: %s%%201230\n" % UUID,
    "a background read of a keyed variable": "Event-Name: BACKGROUND_JOB\nJob-Command: uuid_getvar\n"
                                             "Job-Command-Arg: %s%%20hangup_cause\n"
                                             "Content-Length: 3\n\n737" % UUID,
    "a site's own read variable (--mask-var)": "Event-Name: CHANNEL_EXECUTE_COMPLETE\n"
                                               "variable_account_pin: 1230\n",
}


@pytest.mark.parametrize("place", sorted(KEYED_PLACES))
def test_masker_masks_every_digit_where_the_wire_carries_keys(place):
    text = KEYED_PLACES[place]
    assert traces(text)                           # the fields really are in it
    masked = Masker(masked_variables=("account_pin",)).mask(text)
    assert len(masked) == len(text)
    assert traces(masked) == [], masked
    assert UUID in masked or UUID not in text     # and the ids stay readable


def test_masker_keeps_what_is_not_keyed_input_readable():
    text = ("Event-Name: CHANNEL_EXECUTE_COMPLETE\nUnique-ID: %s\nEvent-Sequence: 737\n"
            "Content-Length: 1230\nEvent-Date-Timestamp: 1700000001230000\n"
            "variable_hangup_cause: NORMAL_CLEARING\nvariable_read_terminator_used: %%23\n"
            "variable_pay_amount: 1250\nApplication: play_and_get_digits\n"
            "Application-Data: 3%%203%%201%%2010000%%20%%23*%%20silence%%20hangup_cause%%20''%%205000\n"
            % UUID)
    assert Masker().mask(text) == text


def test_masker_covers_the_variable_the_channel_reads_card_fields_into():
    assert SECRET_VARIABLE in KEYED_VARIABLES


def test_a_reply_to_a_read_of_a_keyed_variable_is_masked_like_the_variable():
    conversation = Conversation(Masker())
    sent = "api uuid_getvar %s hangup_cause\n\n" % UUID
    assert conversation.mask(sent, from_switch=False) == sent
    # an event in between is no reply: the answer is still the next api/response
    event = "Content-Type: text/event-plain\nContent-Length: 20\n\nEvent-Name: HEARTBEAT\n"
    assert conversation.mask(event, from_switch=True) == event
    reply = "Content-Type: api/response\nContent-Length: 3\n\n737"
    assert conversation.mask(reply, from_switch=True) == "Content-Type: api/response\nContent-Length: 3\n\nXXX"
    # a read of any other variable is answered in clear
    conversation.mask("api uuid_getvar %s pay_amount\n\n" % UUID, from_switch=False)
    other = "Content-Type: api/response\nContent-Length: 4\n\n1250"
    assert conversation.mask(other, from_switch=True) == other
    # outbound mode: getvar is answered in the Reply-Text
    conversation.mask("getvar digits_dialed\n\n", from_switch=False)
    masked = conversation.mask("Content-Type: command/reply\nReply-Text: 1230\n\n", from_switch=True)
    assert masked == "Content-Type: command/reply\nReply-Text: XXXX\n\n"


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
