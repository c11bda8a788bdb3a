"""The live suite's canary searches (tests/support/live/canary.py), on messages and log lines
made here: each kind of leak is found, and what is left out is only the test's own pressing.
The same searches run on real traffic in tests/live/test_canary.py, with controls there."""
from types import SimpleNamespace
from urllib.parse import quote

from tests.support.esl_messages import Message
from tests.support.live.canary import Canary, Secrets

PAN = "4952471286562387"
CALLER, LEG, OTHER = ("11111111-2222-4333-8444-%012d" % n for n in (1, 2, 3))


def plain_event(**headers):
    body = "".join("%s: %s\n" % (name.replace("_", "-"), quote(str(value)))
                   for name, value in headers.items()) + "\n"
    return Message("Content-Length: %d\nContent-Type: text/event-plain\n\n%s" % (len(body), body))


def canary_over(events=(), log_lines=(), cdrs=None, keyed=(PAN + "#", "0829", "073")):
    canary = Canary.__new__(Canary)
    canary.watchers = SimpleNamespace(plain=SimpleNamespace(messages=list(events)),
                                      json=SimpleNamespace(messages=[]),
                                      log=SimpleNamespace(messages=[]),
                                      log_file_lines=lambda: list(log_lines))
    canary.secrets = Secrets()
    canary.callers, canary.sent, canary.leak_expected = set(), set(), None
    canary.cdr_dir, canary.cdr_before = cdrs, set()
    for keys in keyed:
        canary.pressed(CALLER, keys)
    canary.secret("0829", "073")
    return canary


def test_nothing_keyed_anywhere_is_clean():
    events = [plain_event(Event_Name="CHANNEL_EXECUTE", Unique_ID=LEG, variable_pay_last4="2387",
                          variable_pay_bin="495247", Event_Date_Timestamp="1796123456789012")]
    assert canary_over(events, ["%s 2026-12-01 11:08:29.073112 [DEBUG] switch_rtp.c:7943 x" % LEG]
                       ).findings() == {}


def test_the_number_and_a_piece_of_it_are_runs():
    found = canary_over([plain_event(Event_Name="CHANNEL_EXECUTE", variable_x=PAN),
                         plain_event(Event_Name="PLAYBACK_START", variable_y=PAN[:9])]).findings()
    assert {entry[1] for entry in found["runs"]} == {PAN, PAN[:9]}


def test_the_number_split_by_anything_is_found():
    found = canary_over(log_lines=["%s said %s" % (LEG, " ".join(PAN)),
                                   "%s said %s" % (LEG, "-".join(PAN))]).findings()
    assert len(found["split"]) == 2


def test_one_key_per_event_is_found():
    events = [plain_event(Event_Name="DTMF", Unique_ID=LEG, DTMF_Digit=key) for key in PAN + "#"]
    found = canary_over(events).findings()
    assert ("plain", "DTMF-Digit") in {entry[:2] for entry in found["one_per_message"]}


def test_one_key_per_log_line_is_found_by_the_lines_freeswitch_writes():
    lines = ["%s 2026-12-01 11:00:00.%06d [INFO] switch_channel.c:528 RECV DTMF %s:2000"
             % (LEG, n, key) for n, key in enumerate(PAN)]
    found = canary_over(log_lines=lines).findings()
    assert found["one_per_message"][0][0] == "log"


def test_expiry_and_code_as_whole_values_only():
    found = canary_over([plain_event(Event_Name="CUSTOM", variable_a="0829", variable_b="073")]
                        ).findings()
    assert {entry[1] for entry in found["secrets"]} == {"0829", "073"}
    # inside other numbers or a uuid they are not the caller's
    assert canary_over([plain_event(Event_Name="CUSTOM", variable_a="10829", variable_b="a073f",
                                    variable_c="0.073")]).findings() == {}


def test_only_the_tests_own_pressing_is_left_out():
    api = plain_event(Event_Name="API", API_Command="uuid_send_dtmf",
                      API_Command_Argument="%s %s#" % (CALLER, PAN))
    sending = "%s 2026-12-01 11:00:00.000001 [DEBUG] switch_core_io.c:1201 send dtmf digit=4" % CALLER
    canary = canary_over([api], [sending + PAN])
    canary.callers.add(CALLER)
    canary.sent.add("%s %s#" % (CALLER, PAN))
    assert canary.findings() == {}
    # the same from any other leg is found
    other = "%s 2026-12-01 11:00:00.000001 [DEBUG] x %s" % (OTHER, PAN)
    canary = canary_over([plain_event(Event_Name="API", API_Command="uuid_send_dtmf",
                                      API_Command_Argument="%s %s#" % (OTHER, PAN))], [other])
    canary.callers.add(CALLER)
    canary.sent.add("%s %s#" % (CALLER, PAN))
    found = canary.findings()
    assert {entry[0] for entry in found["runs"]} == {"plain", "log file"}


def test_the_cdr_files_of_the_test_are_searched(tmp_path):
    (tmp_path / ("a_%s.cdr.xml" % LEG)).write_text("<cdr><variables><x>%s</x></variables></cdr>" % PAN)
    found = canary_over(cdrs=str(tmp_path)).findings()
    assert found["runs"] == [("cdr a_%s.cdr.xml" % LEG, PAN)]


def test_keys_told_of_a_leg():
    canary = canary_over([plain_event(Event_Name="DTMF", Unique_ID=LEG, DTMF_Digit="5")],
                         ["%s x [DEBUG] switch_ivr_async.c:3820 DTMF DETECTED: [5][640]" % LEG])
    assert canary.keys_told(LEG) == {"dtmf": [("plain", "5")],
                                     "key_lines": ["%s x [DEBUG] switch_ivr_async.c:3820 DTMF "
                                                   "DETECTED: [5][640]" % LEG]}
    assert canary.keys_told(OTHER) == {}
