"""The comparison bench's switch: held calls stay in their prompt however long the placing and
the watching take, until they are released; a hold is counted, never assumed."""
import gevent

from bench.compare import BareApp
from bench.service_process import free_port
from bench.sim_process import Bench


def test_held_calls_stay_in_their_prompt_past_the_hold_seconds_until_released(tmp_path):
    port = free_port()
    bare = BareApp(port, str(tmp_path / "bare.log"))
    bench = Bench(time_scale=0.05)
    try:
        answer = bench.hold({"address": ["127.0.0.1", port], "kind": "minimal", "calls": 20,
                             "seconds": 1.0})
        assert answer["held"] == 20, answer
        assert answer["placing"] >= 0 and answer["seconds"] >= answer["placing"], answer
        # what the bench does next (the memory read, the watching) may take longer than the
        # hold's seconds: the prompt's clock did not start at each call's placing
        gevent.sleep(3.0)
        assert bench._in_prompt() == 20
        bench.switch.forget(bench.held[0])            # still up: kept
        assert len(bench.switch.calls) == 20
        assert bench.release() == {"released": 20}
        assert bench._in_prompt() == 0
        assert bench.switch.calls == {}               # their records let go once ended
    finally:
        bench.switch.stop()
        bare.stop()


def test_a_wrong_call_says_how_it_ended_and_what_was_heard_without_a_key(tmp_path):
    from orchestrator.payments.sandbox_cards import card_for
    port = free_port()
    bare = BareApp(port, str(tmp_path / "bare.log"))   # it plays one file and hangs up: no card
    bench = Bench(time_scale=0.05)
    try:
        answer = bench.calls({"address": ["127.0.0.1", port], "kind": "card", "calls": 2,
                              "concurrency": 2})
        for call in answer["calls"]:
            assert not call["ok"]
            assert call["why"].startswith("hung up by service (NORMAL_CLEARING), heard no result"), call
            assert "minimal.wav" in call["why"] and "0 keys pressed" in call["why"], call
            assert "answer" in call["timeline"] and "playback" in call["timeline"]
            assert card_for("approve")[-4:] not in call["timeline"]
            assert card_for("approve")[-4:] not in call["why"]
        assert bench.switch.calls == {}      # summed up, then let go: a soak's memory stays flat
    finally:
        bench.switch.stop()
        bare.stop()
