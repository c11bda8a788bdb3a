"""The outbox bench, small: a receiver down for the whole (compressed) outage while calls pay
through a real ``orchestrator run`` process, which is SIGKILLed halfway and started again; once
the receiver is back, every stored event is taken, none lost, no seq gap, every signature good.

The full bench (``python -m bench.outbox_outage``) prints the figures; this is the same code,
compressed further and with fewer calls, so that every ``make test`` proves the outbox."""
from bench.outbox_outage import Plan, run


def test_an_outage_and_a_sigkill_lose_no_status_callback(tmp_path):
    figures = run(Plan(compress=200, calls=16, concurrency=4), str(tmp_path))
    report = "\n".join(figures.lines())
    assert figures.sound, report
    assert figures.calls_ended == 16 and figures.stored >= 16, report   # several per payment
    assert figures.taken == figures.stored and figures.lost == figures.seq_gaps == 0, report
    assert figures.bad_signatures == 0 and figures.pending_left == 0, report
    assert figures.drain_seconds is not None, report
    # the receiver was down while the service died: no 2xx was in flight to be sent again
    assert figures.resent_after_delivery == 0, report
