"""The outbound server: refusal when full, graceful stop, nothing left behind after calls, a
peer past the frame limits cut off while calls go on."""
import gc
import logging

import gevent
import gevent.event
import greenlet
from gevent import socket

from orchestrator.esl.channel import Prompt
from orchestrator.esl.errors import CallGone
from orchestrator.esl.outbound import OutboundServer
from orchestrator.esl.protocol import FrameLimits
from orchestrator.simulator.caller import CallerScript
from orchestrator.simulator.faults import Faults
from tests.support.call_harness import CallHarness
from tests.support.sockets import tcp_sockets_on_port
from tests.support.waiting import eventually


def test_call_beyond_max_calls_is_closed_at_once_and_reaches_the_fallback():
    harness = CallHarness(max_calls=1).start()
    try:
        release = gevent.event.Event()

        def hold(ch):
            ch.answer()
            release.wait(10)

        first = harness.call(hold, wait=False)
        with gevent.Timeout(5):
            while harness.server.active_calls < 1:
                gevent.sleep(0.01)
        second = harness.switch.place_call(harness.server.address,
                                           caller=CallerScript.silent(max_duration=5))
        refused = second.wait(timeout=5)
        assert refused.fallback_reached
        assert not refused.answered
        assert harness.metrics.registry.get_sample_value(
            "payivr_calls_refused_total", {"reason": "pool-full"}) == 1
        release.set()
        first.wait(timeout=5)
    finally:
        harness.stop()


def test_graceful_stop_lets_the_call_in_progress_finish_and_refuses_new_ones():
    harness = CallHarness().start()
    try:
        def slow(ch):
            ch.answer()
            ch.playback("ivr/one.wav")
            ch.hangup()

        call = harness.call(slow, wait=False, prompt_seconds=5)
        with gevent.Timeout(5):
            while harness.server.active_calls < 1:
                gevent.sleep(0.01)
        stopper = gevent.spawn(harness.server.stop, 10)
        gevent.sleep(0.05)
        late = harness.switch.place_call(harness.server.address,
                                         caller=CallerScript.silent(max_duration=5))
        assert late.wait(timeout=5).fallback_reached
        record = call.wait(timeout=10)
        assert record.hangup_by == "service" and record.heard[0].interrupted_by is None
        stopper.join(timeout=10)
        assert stopper.successful()
    finally:
        harness.switch.stop()


def test_stop_cuts_calls_that_outlive_the_grace_period():
    harness = CallHarness().start()
    try:
        def endless(ch):
            ch.collect_digits([], first_digit_timeout=60)

        call = harness.call(endless, wait=False)
        with gevent.Timeout(5):
            while harness.server.active_calls < 1:
                gevent.sleep(0.01)
        harness.server.stop(grace=0.2)
        assert harness.server.active_calls == 0
        assert call.wait(timeout=5).fallback_reached
    finally:
        harness.switch.stop()


def _live_greenlets():
    gc.collect()
    return {id(o): o for o in gc.get_objects()
            if isinstance(o, greenlet.greenlet) and not o.dead and o is not gevent.getcurrent()
            and o is not gevent.get_hub()}


def _call_sockets(harness):
    """The sockets of the server under test: its listener, each call it accepted and the
    simulator's side of each ({fd: (local port, remote port, state)}); not every descriptor of
    the process, which other tests' leftovers open and close as they please."""
    return tcp_sockets_on_port(harness.server.address[1])


def _wait_for_sockets(harness, expected, timeout=5):
    """The server's sockets once they are ``expected``, or as they are after ``timeout``: the
    last ones close a moment after the call's end is reported."""
    with gevent.Timeout(timeout, False):
        while _call_sockets(harness) != expected:
            gevent.sleep(0.02)
    return _call_sockets(harness)


def test_no_greenlet_or_socket_outlives_a_call():
    harness = CallHarness(reply_timeout=0.5).start()
    try:
        def quick(ch):
            ch.answer()
            ch.playback("ivr/one.wav")

        listening = _call_sockets(harness)
        assert [state for _, _, state in listening.values()] == ["LISTEN"]
        harness.call(quick)  # warm up lazily created machinery
        assert _wait_for_sockets(harness, listening) == listening
        greenlets_before = _live_greenlets()

        def menu(ch):
            ch.answer()
            ch.collect_digits([Prompt("file", "ivr/menu.wav")], max_digits=2, first_digit_timeout=1)
            ch.hangup()

        def unanswered(ch):
            ch.answer()
            ch.playback("ivr/one.wav")

        scenarios = [
            (menu, [{"wait_prompt": 1}, {"press": "12"}], {}),
            (menu, [{"wait": 0.5}, {"hangup": {}}], {}),
            (quick, [], {"faults": Faults(drop_after_seconds=0.1), "prompt_seconds": 10}),
            (unanswered, [], {"faults": Faults(no_reply_to="sendmsg")}),
            (lambda ch: ch.transfer("1000"), [], {}),
        ]
        for handler, script, kwargs in scenarios:
            harness.call(handler, script, **kwargs)
        with gevent.Timeout(5):
            while harness.server.active_calls or harness.switch.channels:
                gevent.sleep(0.02)
        assert _wait_for_sockets(harness, listening) == listening
        # a greenlet finishing its last line is not a leak: give stragglers two seconds
        with gevent.Timeout(2, False):
            while [i for i in _live_greenlets() if i not in greenlets_before]:
                gevent.sleep(0.05)
        born_and_alive = [g for i, g in _live_greenlets().items() if i not in greenlets_before]
        assert born_and_alive == []
    finally:
        harness.stop()


# -- a peer past the frame limits, while calls go on -------------------------------------------
def _flood_with_header_lines(address, total, sent, failed):
    """Connect as the switch would, wait for ``connect``, then send header lines without end."""
    sock = socket.create_connection(address, timeout=5)
    try:
        sock.settimeout(10)
        assert sock.recv(64).startswith(b"connect")
        line = b"X-Flood: " + b"a" * 90 + b"\n"
        chunk = line * 1000
        while sum(sent) < total:
            sock.sendall(chunk)
            sent.append(len(chunk))
    except OSError:
        failed.append(True)
    finally:
        sock.close()


def test_a_peer_sending_50_mb_of_header_lines_is_cut_off_while_a_call_is_served(
        service_on_simulator, caplog):
    world = service_on_simulator()
    limits = world.service.server.frame_limits
    assert limits == FrameLimits()               # the shipped defaults, not test-sized ones
    sent, failed = [], []
    with caplog.at_level(logging.WARNING, logger="orchestrator.esl.protocol"):
        call = world.place([{"wait_prompt": 2}, {"press": "2"}], {"pay_flow": "welcome"})
        flood = gevent.spawn(_flood_with_header_lines, world.address, 50 * 1024 * 1024,
                             sent, failed)
        result = world.finish(call)
        flood.join(timeout=20)
    assert result.flow == "welcome" and result.outcome.result == "transferred"
    assert flood.dead and failed, "the flood was never cut off"
    # what got into the sockets' buffers before the flood saw the close, far short of 50 MB
    assert sum(sent) < 20 * 1024 * 1024, sum(sent)
    # 100-byte lines: the line count is the bound crossed first
    assert ("esl connection closed: a frame passed %d header lines "
            "(limits.esl.max_header_lines)" % limits.max_header_lines) in caplog.text
    assert world.metric("payivr_limit_rejections_total", limit="limits.esl.max_header_lines") == 1
    # and the next call is served as well
    after = world.run_call([{"wait_prompt": 2}, {"press": "2"}], {"pay_flow": "welcome"})
    assert after.outcome.result == "transferred"


def test_a_peer_flooding_a_call_with_events_it_does_not_read_is_cut_off(caplog):
    """Events for the call pile up in its inbox while its flow is busy elsewhere: past
    ``max_queued_events`` the socket is closed and the flow sees the call gone."""
    uuid = "7f0c1a3e-1111-4222-8333-444455556666"
    seen = []
    busy = gevent.event.Event()

    def handler(channel):
        busy.wait(5)                      # not reading its inbox, as a flow inside a gateway call
        try:
            channel.answer()
        except Exception as exc:          # the test asserts on what the flow met
            seen.append(exc)

    server = OutboundServer(handler, reply_timeout=2.0, linger_seconds=0,
                            frame_limits=FrameLimits(max_queued_events=100))
    server.start()
    sock = socket.create_connection(server.address, timeout=5)
    try:
        sock.settimeout(5)
        assert sock.recv(64).startswith(b"connect")
        sock.sendall(b"Content-Type: command/reply\nReply-Text: +OK\nUnique-ID: %s\n\n" % uuid.encode())
        setup = b""
        while setup.count(b"\n\n") < 2:       # myevents and nixevent, in one write
            setup += sock.recv(4096)
        assert setup.startswith(b"myevents\n\nnixevent CHANNEL_EXECUTE ")
        sock.sendall(b"Content-Type: command/reply\nReply-Text: +OK\n\n" * 2)
        payload = ("Event-Name: DTMF\nUnique-ID: %s\nDTMF-Digit: 5\n\n" % uuid).encode()
        event = b"Content-Length: %d\nContent-Type: text/event-plain\n\n%s" % (len(payload), payload)
        with caplog.at_level(logging.WARNING, logger="orchestrator.esl.protocol"):
            try:
                for _ in range(1000):
                    sock.sendall(event)
            except OSError:
                pass
            gevent.sleep(0.2)
            busy.set()
            eventually(lambda: seen, what="the flow meeting the closed call")
        [met] = seen
        assert isinstance(met, CallGone)                 # the engine's "the call is gone"
        assert [r.getMessage() for r in caplog.records if r.name == "orchestrator.esl.protocol"] == [
            "esl connection closed: more than 100 events for the call not yet handled "
            "(limits.esl.max_queued_events)"]
    finally:
        busy.set()
        sock.close()
        server.stop(grace=2)


def test_a_burst_of_calls_waits_in_the_kernel_while_the_service_is_busy():
    """The listen queue holds a connection for each call the service could take: 400 calls
    dialling while it accepts none all connect at once (gevent's default queue held 128, and
    the rest waited for the switch's retries, a second and more each, or gave up)."""
    server = OutboundServer(lambda channel: None, max_calls=1000)
    server.start()
    server._server.stop_accepting()          # busy: nothing is taken off the queue
    dialled = []
    try:
        for _ in range(400):
            sock = socket.socket()
            sock.settimeout(0.5)
            try:
                sock.connect(server.address)
            except OSError:
                sock.close()
                break
            dialled.append(sock)
        assert len(dialled) == 400
    finally:
        for sock in dialled:
            sock.close()
        server.stop(grace=1)
