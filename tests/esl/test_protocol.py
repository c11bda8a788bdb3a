"""EslConnection against a raw peer on loopback: framing, deadlines, losses, log hygiene."""
import logging
from urllib.parse import quote

import gevent
import pytest
from gevent import socket
from gevent.server import StreamServer

from orchestrator.esl.errors import CommandTimeout, ConnectionLost
from orchestrator.esl.protocol import CONNECTION_LOST, EslConnection


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

    def make(script):
        server = StreamServer(("127.0.0.1", 0), lambda sock, addr: script(sock))
        server.start()
        servers.append(server)
        sock = socket.create_connection(server.address, timeout=2)
        sock.settimeout(None)
        conn = EslConnection(sock, reply_timeout=0.5, name="test")
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
