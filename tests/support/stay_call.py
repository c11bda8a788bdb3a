"""A stay-on-line payment's call and checks, shared by the agent API tests that pay in stay
mode (tests/agent/test_stay_payment.py, test_agent_charge.py): the customer's call bridged to
an agent and recorded, keys pressed at a prompt, and what the agent and the channel must show."""
import gevent

from orchestrator.simulator import CallerScript
from tests.support.agent import owned_by

RECORDING = "/var/lib/recordings/call.wav"
DECLINED_PAN = "4000000000009995"


def stay_call(rig, steps, max_duration=120):
    """A customer's call bridged to an agent, recorded, the caller pressing 5 before anything."""
    call, agent = rig.switch.place_bridged_call(
        CallerScript.from_data({"steps": [{"press": "5"}] + list(steps), "max_duration": max_duration}),
        **owned_by(variables={"pay_recording_path": RECORDING}))
    call.channel.recordings[RECORDING] = "recording"
    with gevent.Timeout(5):
        while not agent.dtmf_received:      # the key before the payment: forwarded as usual
            gevent.sleep(0.01)
    return call, agent


def start_stay(rig, call):
    reply = rig.start_payment(call.uuid, mode="stay")
    assert reply.status_code == 201, reply.text
    assert reply.json()["mode"] == "stay"
    return reply.json()


def key_after(call, text, digits, nth=1, timeout=30):
    """Press ``digits`` once the ``nth`` prompt containing ``text`` has started."""
    def run():
        with gevent.Timeout(timeout, False):
            while sum(text in h.arg for h in call.record.heard) < nth:
                gevent.sleep(0.01)
            for digit in digits:
                call.press(digit)
                gevent.sleep(0.005)
    return gevent.spawn(run)


def assert_no_key_reached_the_agent(call, agent):
    """Before the payment the agent got the caller's 5 (event and tone); nothing since."""
    assert [d for _, d in agent.dtmf_received] == ["5"]
    assert [d for _, d in agent.tones_heard] == ["5"]
    assert call.record.digits[1:], "the caller keyed nothing: vacuous"
    assert call.record.recorded_keys == [(RECORDING, "5")]     # paused during entry


def assert_restored(record):
    variables = record.variables
    for name in ("sensitive_dtmf", "send_silence_when_idle", "socket_resume"):
        assert variables.get(name) in (None, "false"), name
    assert variables.get("hangup_cause") in (None, record.hangup_cause)   # never a field
    actions = [action for _, action, _ in record.recording_log]
    assert actions[0] == "pause" and actions[-1] == "resume"
