"""EslConnection against a raw peer on loopback: framing, deadlines, losses, log hygiene."""
import logging
from urllib.parse import quote

import gevent
import gevent.event
import pytest
from gevent import socket
from gevent.server import StreamServer

from orchestrator.esl.errors import CommandFailed, CommandTimeout, ConnectionLost
from orchestrator.esl.protocol import CONNECTION_LOST, EslConnection, FrameLimits


def plain_event(headers, body=""):
    lines = "".join("%s: %s\n" % (k, quote(v, safe="")) for k, v in headers.items())
    if body:
        lines += "Content-Length: %d\n\n%s" % (len(body.encode()), body)
    payload = lines.encode()
    return b"Content-Length: %d\nContent-Type: text/event-plain\n\n" % len(payload) + payload


REPLY_OK = b"Content-Type: command/reply\nReply-Text: +OK\n\n"


@pytest.fixture
def peer():
    """A scripted peer: the test gives it a function of the accepted socket."""
    servers, clients = [], []

    def make(script, limits=None, on_limit=None):
        server = StreamServer(("127.0.0.1", 0), lambda sock, addr: script(sock))
        server.start()
        servers.append(server)
        sock = socket.create_connection(server.address, timeout=2)
        sock.settimeout(None)
        conn = EslConnection(sock, reply_timeout=0.5, name="test", limits=limits, on_limit=on_limit)
        conn.start()
        clients.append(conn)
        return conn

    yield make
    for conn in clients:
        conn.close(say_exit=False)
    for server in servers:
        server.stop(timeout=1)


def read_command(sock):
    data = b""
    while not data.endswith(b"\n\n"):
        chunk = sock.recv(1)
        if not chunk:
            return None
        data += chunk
    return data.decode()


def test_reply_is_matched_to_its_command(peer):
    def script(sock):
        assert read_command(sock).startswith("api status")
        body = b"UP 0 years"
        sock.sendall(b"Content-Type: api/response\nContent-Length: %d\n\n%s" % (len(body), body))
        read_command(sock)
        sock.sendall(REPLY_OK)
        gevent.sleep(1)

    conn = peer(script)
    assert conn.send("api status").body == "UP 0 years"
    assert conn.send("myevents").reply_text == "+OK"


def test_no_reply_times_out_and_the_connection_is_given_up(peer):
    def script(sock):
        read_command(sock)
        gevent.sleep(2)

    conn = peer(script)
    with pytest.raises(CommandTimeout):
        conn.send("api status")
    assert conn.lost.is_set()
    with pytest.raises(ConnectionLost):
        conn.send("api status")


def test_peer_closing_fails_the_waiting_command(peer):
    def script(sock):
        read_command(sock)
        sock.close()

    conn = peer(script)
    with pytest.raises(ConnectionLost):
        conn.send("api status", timeout=5)


def test_events_are_decoded_per_value_and_loss_comes_after_them(peer):
    seen = []

    def script(sock):
        sock.sendall(plain_event({"Event-Name": "CHANNEL_ANSWER",
                                  "Caller-Caller-ID-Name": "Eve\nvariable_pay_flow: evil"}))
        sock.sendall(plain_event({"Event-Name": "BACKGROUND_JOB", "Job-UUID": "j1"},
                                 body="+OK done\n"))
        sock.close()

    conn = peer(script)
    conn.add_listener(seen.append)
    assert conn.lost.wait(2)
    gevent.sleep(0.05)
    assert [m.content_type for m in seen][-1] == CONNECTION_LOST
    answer, job = seen[0], seen[1]
    assert answer.headers["Caller-Caller-ID-Name"] == "Eve\nvariable_pay_flow: evil"
    assert "variable_pay_flow" not in answer.headers
    assert job.body == "+OK done\n"


def test_truncated_body_ends_the_connection_instead_of_looping(peer):
    def script(sock):
        sock.sendall(b"Content-Type: text/event-plain\nContent-Length: 500\n\nEvent-Name: X\n")
        sock.close()

    conn = peer(script)
    assert conn.lost.wait(2)


def test_a_raising_listener_logs_no_header_value(peer, caplog):
    def script(sock):
        sock.sendall(plain_event({"Event-Name": "CHANNEL_EXECUTE_COMPLETE",
                                  "variable_secret_probe": "4111111111111111"}))
        gevent.sleep(1)

    def broken(message):
        raise RuntimeError("listener bug")

    with caplog.at_level(logging.DEBUG):
        conn = peer(script)
        conn.add_listener(broken)
        gevent.sleep(0.3)
    assert "RuntimeError" in caplog.text
    assert "4111111111111111" not in caplog.text
    assert "variable_secret_probe" not in caplog.text
    assert not conn.lost.is_set()


def test_close_releases_socket_and_greenlets(peer):
    def script(sock):
        while read_command(sock):
            sock.sendall(b"Content-Type: command/reply\nReply-Text: +OK bye\n\n")

    conn = peer(script)
    conn.close()
    assert conn._receive_events_greenlet.dead and conn._process_events_greenlet.dead
    assert conn.sock.fileno() == -1


# -- frame limits: past a bound the connection is closed, with one line naming it --------------
SMALL = FrameLimits(max_header_lines=20, max_header_bytes=2048, max_body_bytes=4096,
                    max_queued_events=50)


def headers_frame(count, width=10):
    lines = "".join("X-Header-%d: %s\n" % (n, "v" * width) for n in range(count))
    return ("Content-Type: text/event-plain\n" + lines + "\n").encode()


def limit_lines(caplog):
    return [r.getMessage() for r in caplog.records if r.getMessage().startswith("esl connection closed")]


def test_a_frame_at_the_header_line_bound_is_read_and_one_line_more_closes(peer, caplog):
    crossed = []

    def at_the_bound(sock):
        sock.sendall(headers_frame(SMALL.max_header_lines - 1))   # + its Content-Type line
        gevent.sleep(1)

    seen = []
    conn = peer(at_the_bound, limits=SMALL)
    conn.add_listener(seen.append)
    gevent.sleep(0.2)
    assert not conn.lost.is_set() and len(seen) == 1

    def one_more(sock):
        sock.sendall(headers_frame(SMALL.max_header_lines))
        gevent.sleep(1)

    with caplog.at_level(logging.WARNING, logger="orchestrator.esl.protocol"):
        conn = peer(one_more, limits=SMALL, on_limit=crossed.append)
        assert conn.lost.wait(2)
    assert limit_lines(caplog) == ["esl connection closed: a frame passed 20 header lines "
                                   "(limits.esl.max_header_lines)"]
    assert crossed == ["max_header_lines"]


def test_endless_header_lines_are_cut_off_after_the_bound_not_held(peer, caplog):
    sent, failed = [], []

    def flood(sock):          # header lines without end, never the blank line that ends a frame
        line = b"X-Flood: " + b"a" * 90 + b"\n"
        try:
            while sum(sent) < 50 * 1024 * 1024:
                sock.sendall(line * 100)
                sent.append(len(line) * 100)
        except OSError:
            failed.append(True)

    with caplog.at_level(logging.WARNING, logger="orchestrator.esl.protocol"):
        conn = peer(flood, limits=SMALL)
        assert conn.lost.wait(5)
        gevent.sleep(0.2)
    assert limit_lines(caplog) == ["esl connection closed: a frame's headers passed 2048 bytes "
                                   "(limits.esl.max_header_bytes)"]
    # the peer could not push 50 MB: the connection was closed once the bound was crossed
    # what the peer got into the sockets' buffers before it saw the close is kernel memory
    # (a few MB on loopback), far short of the 50 MB it meant to send
    assert failed and sum(sent) < 20 * 1024 * 1024, sum(sent)


def test_one_line_longer_than_the_header_block_closes(peer, caplog):
    def long_line(sock):
        sock.sendall(b"Content-Type: text/event-plain\nX-Long: " + b"a" * 10000 + b"\n\n")
        gevent.sleep(1)

    with caplog.at_level(logging.WARNING, logger="orchestrator.esl.protocol"):
        conn = peer(long_line, limits=SMALL)
        assert conn.lost.wait(2)
    assert limit_lines(caplog) == ["esl connection closed: a frame's headers passed 2048 bytes "
                                   "(limits.esl.max_header_bytes)"]


def test_a_body_announced_past_the_bound_is_not_read(peer, caplog):
    def big_body(sock):
        sock.sendall(b"Content-Type: api/response\nContent-Length: 4097\n\n")
        gevent.sleep(1)            # nothing follows: the length alone must close it

    with caplog.at_level(logging.WARNING, logger="orchestrator.esl.protocol"):
        conn = peer(big_body, limits=SMALL)
        assert conn.lost.wait(2)
    assert limit_lines(caplog) == ["esl connection closed: a frame announced a body of 4097 "
                                   "bytes, more than 4096 (limits.esl.max_body_bytes)"]


def test_a_body_at_the_bound_is_read(peer):
    body = b"x" * SMALL.max_body_bytes

    def script(sock):
        read_command(sock)
        sock.sendall(b"Content-Type: api/response\nContent-Length: %d\n\n%s" % (len(body), body))
        gevent.sleep(1)

    conn = peer(script, limits=SMALL)
    assert conn.send("api status").body == body.decode()


def test_events_faster_than_they_are_handled_close_past_the_queue_bound(peer, caplog):
    release = gevent.event.Event()

    def slow(message):         # the dispatching greenlet is held: events pile up behind it
        release.wait(3)

    def flood(sock):
        try:
            for n in range(SMALL.max_queued_events * 4):
                sock.sendall(plain_event({"Event-Name": "CUSTOM", "Seq": str(n)}))
        except OSError:
            pass
        gevent.sleep(1)

    with caplog.at_level(logging.WARNING, logger="orchestrator.esl.protocol"):
        conn = peer(flood, limits=SMALL)
        conn.add_listener(slow)
        assert conn.lost.wait(3)
        release.set()
    assert limit_lines(caplog) == ["esl connection closed: more than 50 events received and not "
                                   "yet handled (limits.esl.max_queued_events)"]


def test_a_json_event_nested_deep_ends_the_read_without_a_traceback(peer, caplog, capfd):
    deep = ("[" * 100000 + "]" * 100000).encode()

    def script(sock):
        sock.sendall(b"Content-Type: text/event-json\nContent-Length: %d\n\n%s" % (len(deep), deep))
        gevent.sleep(1)

    with caplog.at_level(logging.INFO, logger="orchestrator.esl.protocol"):
        conn = peer(script)
        assert conn.lost.wait(2)
    assert "esl read ended: TooDeep" in caplog.text
    assert "Traceback" not in capfd.readouterr().err


def test_an_idle_connection_dispatcher_sleeps_until_a_message_and_ends_with_the_peer(peer):
    """No once-a-second wake-up per connection (thousands of held calls paid for it), and
    still a bounded end: the peer closing ends the dispatcher at once."""
    import greenlet

    closing = gevent.event.Event()

    def script(sock):
        closing.wait(timeout=10)
        sock.close()

    conn = peer(script)
    gevent.sleep(0.1)                       # both greenlets running and waiting
    woken = []

    def trace(event, args):
        if event in ("switch", "throw") and args[1] is conn._process_events_greenlet:
            woken.append(event)

    previous = greenlet.settrace(trace)
    try:
        gevent.sleep(1.5)                   # idle: a polling loop would have woken here
    finally:
        greenlet.settrace(previous)
    assert woken == []
    closing.set()
    conn._process_events_greenlet.join(timeout=1)
    assert conn._process_events_greenlet.dead and conn.lost.is_set()


def test_header_values_decode_exactly_as_unquote_one_by_one():
    """The one-pass decoder gives ``unquote``'s answer for every block, FreeSWITCH's own
    encoding and anything a peer could send instead."""
    import random
    from urllib.parse import unquote

    from orchestrator.esl.protocol import parse_header_block
    from orchestrator.simulator.wire import url_encode

    def reference(text):
        headers = {}
        for line in text.split("\n"):
            name, sep, value = line.partition(":")
            if sep:
                headers[name.strip()] = unquote(value.strip())
        return headers

    pieces = ["a", "Z", " ", "%", "%2", "%0A", "%0a", "%25", "%E2%82%AC", "%E2%82", "%FF", "%C3",
              "\\", "\\x41", "\\n", "é", "€", ":", "=", "+", "%5C", "%5Cx41", "%G1", "\t", "1",
              "%00", "\x00"]
    chance = random.Random(15)
    for _ in range(3000):
        lines = []
        for index in range(chance.randint(1, 6)):
            value = "".join(chance.choice(pieces) for _ in range(chance.randint(0, 6)))
            if chance.random() < 0.5:
                value = url_encode(value)        # what FreeSWITCH writes
            lines.append("H%d: %s" % (index, value))
        text = "\n".join(lines)
        assert parse_header_block(text) == reference(text), repr(text)
    # an encoded newline stays inside its value, never a header of its own
    forged = parse_header_block("Caller-Caller-ID-Name: x%0AVariable-Secret: 4111\nB: c")
    assert forged == {"Caller-Caller-ID-Name": "x\nVariable-Secret: 4111", "B": "c"}


def test_an_encoded_newline_is_decoded_in_the_one_pass_not_value_by_value(monkeypatch):
    """The connect reply's Reply-Text is ``+OK%0A``: it once sent every value of every
    connect reply (a hundred on a real switch) through ``unquote`` one by one."""
    from orchestrator.esl import protocol

    slow = []
    monkeypatch.setattr(protocol, "unquote", lambda value: slow.append(value) or value)
    text = "Reply-Text: %2BOK%0A\nCaller-Caller-ID-Name: Ana%20Lopez\nvariable_x: a%25b"
    assert protocol.parse_header_block(text) == {
        "Reply-Text": "+OK\n", "Caller-Caller-ID-Name": "Ana Lopez", "variable_x": "a%b"}
    assert slow == []


def test_several_commands_go_in_one_write_and_their_replies_come_back_in_order():
    """EslConnection.send_all: the set-up of a call (myevents, nixevent, linger) is one write;
    each reply goes to its own command, and a refusal among them raises once all have come."""
    server, client = socket.socketpair()
    conn = EslConnection(client, reply_timeout=2.0, name="peer")
    conn.start()
    try:
        result = gevent.spawn(conn.send_all, ["myevents", "nixevent TALK", "linger 3"])
        first = server.recv(4096)
        assert first == b"myevents\n\nnixevent TALK\n\nlinger 3\n\n"     # one write
        server.sendall(b"Content-Type: command/reply\nReply-Text: +OK Events Enabled\n\n"
                       b"Content-Type: command/reply\nReply-Text: +OK events nixed\n\n"
                       b"Content-Type: command/reply\nReply-Text: +OK will linger 3 seconds\n\n")
        assert [r.reply_text for r in result.get(timeout=5)] == [
            "+OK Events Enabled", "+OK events nixed", "+OK will linger 3 seconds"]
        refused = gevent.spawn(conn.commands, ["myevents", "nixevent NOPE"])
        server.recv(4096)
        server.sendall(b"Content-Type: command/reply\nReply-Text: -ERR aready enabled.\n\n"
                       b"Content-Type: command/reply\nReply-Text: -ERR no keywords supplied\n\n")
        with pytest.raises(CommandFailed, match="aready enabled"):
            refused.get(timeout=5)
    finally:
        conn.close()
        server.close()


def test_a_peer_that_stops_reading_makes_a_write_time_out_and_the_line_closed():
    """What the kernel will not take at once waits under the reply deadline, no longer."""
    server, client = socket.socketpair()
    conn = EslConnection(client, reply_timeout=0.5, name="peer")
    conn.start()
    try:
        began = gevent.get_hub().loop.now()
        with pytest.raises(CommandTimeout):
            conn.send("api echo " + "x" * (8 * 1024 * 1024))   # far beyond the socket buffers
        assert gevent.get_hub().loop.now() - began < 2.0
        assert conn.lost.is_set()
    finally:
        conn.close(say_exit=False)
        server.close()


def test_a_write_the_kernel_takes_in_parts_is_finished_once_the_peer_reads():
    server, client = socket.socketpair()
    conn = EslConnection(client, reply_timeout=5.0, name="peer")
    conn.start()
    command = "api echo " + "y" * (2 * 1024 * 1024)

    def peer():
        gevent.sleep(0.2)                  # the first part fills the buffers meanwhile
        got = b""
        while not got.endswith(b"\n\n"):
            got += server.recv(1 << 20)
        server.sendall(b"Content-Type: api/response\nContent-Length: 3\n\n+OK")
        return got

    reading = gevent.spawn(peer)
    try:
        assert conn.send(command).body == "+OK"
        assert reading.get(timeout=5) == command.encode() + b"\n\n"
    finally:
        conn.close(say_exit=False)
        server.close()


def test_an_esl_connection_turns_nagle_off_as_the_switch_does_on_its_side():
    """Each write is whole commands; with Nagle on, a command written while the one before was
    unacknowledged waited for the switch's delayed ACK."""
    import socket as plain
    listener = plain.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(1)
    client = plain.create_connection(listener.getsockname())
    server, _ = listener.accept()
    try:
        assert not client.getsockopt(plain.IPPROTO_TCP, plain.TCP_NODELAY)
        EslConnection(client)
        assert client.getsockopt(plain.IPPROTO_TCP, plain.TCP_NODELAY)
    finally:
        for sock in (client, server, listener):
            sock.close()
