"""A payment call made secure by the dialplan (sensitive_dtmf before the socket), on the simulator.

Every prompt and every read goes through the secure-entry script (docs/secure-entry.md): no DTMF
event, no dptools prompt application that would log and take the keys, keys typed over an
announcement kept for the read that follows, menus read the same way, and the card's digits on
no byte of the wire.
"""
import shutil

from orchestrator.engine import FlowLibrary, load_flow
from tests.support.canary import traces
from tests.support.cards import CARD

SECURE = {"sensitive_dtmf": "true", "digits_dialed_filter": "(.+)"}
AMOUNT = {"pay_amount": "1250", "pay_currency": "EUR", "pay_reference": "INV-7"}
DPTOOLS_PROMPTS = ("playback", "speak", "say", "play_and_get_digits")
FLOW = """
flow: t
vars:
  amount: ${channel.pay_amount}
  currency: ${channel.pay_currency}
  reference: ${channel.pay_reference}
steps:
  - answer: {}
  - announce: amount_due
  - id: card
    collect_card:
      on: {cancelled: out, too-many-failed-attempts: out}
  - authorize:
      gateway: sandbox
      on: {declined: out, error: out}
  - announce: payment_approved
  - id: out
    transfer_back: {to: dialplan}
"""
MENU = """
flow: m
steps:
  - answer: {}
  - play: ivr/welcome.wav
  - id: menu
    collect:
      into: choice
      prompt: {speak: "For an agent press 2."}
      choices: [1, 2]
      on: {timeout: out, cancelled: out, too-many-failed-attempts: out}
  - branch: {if: "${choice} == 2", then: agent}
  - id: out
    hangup: {}
  - id: agent
    transfer: {extension: "1000"}
"""

# prompts: 1-2 the amount (words, then the amount said), 3 the number, 4 the expiry, 5 the code
TYPED_AHEAD = [{"wait_prompt": 1}, {"press": CARD["visa"] + "#"}, {"wait_prompt": 4},
               {"press": "1230"}, {"wait_prompt": 5}, {"press": "737"}]


def apps(run):
    return [app for _, app, _, _ in run.record.apps]


def test_keys_typed_over_the_amount_are_the_card_number_and_nothing_sees_them(pay):
    run = pay(FLOW, TYPED_AHEAD, variables=SECURE)
    assert run.outcome.result == "completed"
    assert [p["status"] for p in run.payments] == ["approved"] and len(run.charges) == 1
    assert [name for _, name, _ in run.record.events if name == "DTMF"] == []
    assert not set(apps(run)) & set(DPTOOLS_PROMPTS), apps(run)
    assert "lua" in apps(run)
    # the number was keyed while the amount was announced, before the card number was asked
    number_asked = next(h.t for h in run.record.heard if "card number" in h.arg.lower())
    assert run.record.pressed[0].t < number_asked
    wire = "".join(raw for _, _, raw in run.record.transcript)
    assert traces(wire) == []          # the canary card: number, expiry 1230, code 737


def test_without_the_dialplan_s_secure_call_the_same_keys_are_taken_by_the_announcement(pay):
    """The negative control: dptools' prompts take (and, on the switch, log) keys typed over
    them, so the number typed ahead is lost and the caller is asked again."""
    run = pay(FLOW, TYPED_AHEAD)
    assert "say" in apps(run) or "speak" in apps(run) or "playback" in apps(run)
    assert [p["status"] for p in run.payments] != ["approved"]
    assert [name for _, name, _ in run.record.events if name == "DTMF"] != []


def test_a_menu_on_a_secure_call_reads_its_key_through_the_script(pay):
    run = pay(MENU, [{"wait_prompt": 2}, {"press": "2"}], variables=SECURE)
    assert run.outcome.result == "transferred"
    assert run.record.transferred_to == "1000 XML default"
    assert [name for _, name, _ in run.record.events if name == "DTMF"] == []
    assert not set(apps(run)) & set(DPTOOLS_PROMPTS), apps(run)


def test_a_cancel_key_typed_ahead_cancels_the_entry(pay):
    run = pay(FLOW, [{"wait_prompt": 1}, {"press": "*"}], variables=SECURE)
    assert run.payments == [] and run.charges == []
    assert run.outcome.step == "out"


def test_a_secure_entry_folder_removed_between_calls_is_made_again(service_on_simulator, tmp_path):
    """The folder is made once, not before every read; one removed since (a temp cleaner, an
    operator) is made again by the next read, and its card is still taken."""
    folder = tmp_path / "fifos"
    flow = load_flow(FLOW, source_name="test.yaml")
    world = service_on_simulator({"flows": {"default": flow.name},
                                  "secure_entry": {"fifo_dir": str(folder)}},
                                 sandbox=True, library=FlowLibrary({flow.name: flow}))
    keying = [{"wait_prompt": 3}, {"press": CARD["visa"] + "#"}, {"wait_prompt": 4},
              {"press": "1230"}, {"wait_prompt": 5}, {"press": "737"}]
    outcomes = []
    for _ in range(2):
        result = world.finish(world.place(keying, dict(AMOUNT)), 60)
        outcomes.append(result.outcome.result)
        assert folder.is_dir()
        shutil.rmtree(folder)
    assert outcomes == ["completed", "completed"]
    assert [p["status"] for p in world.service.store.list()] == ["approved", "approved"]
    world.stop()
