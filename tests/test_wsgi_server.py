"""Every HTTP server of the project answers with Nagle's algorithm off: pywsgi writes an
answer's head and body apart, and with Nagle on the body waited for the client's delayed ACK,
40 ms an answer on a kept-alive connection (bench/http_client.py prints both)."""
import socket

import requests
from gevent.pywsgi import WSGIHandler, WSGIServer

from orchestrator.http_limits import BoundedHandler, BoundedWSGIServer, HttpLimits
from orchestrator.loopback_server import LoopbackServer
from orchestrator.wsgi_server import PromptWSGIServer


def app(environ, start_response):
    start_response("200 OK", [("Content-Type", "application/json"), ("Content-Length", "2")])
    return [b"{}"]


def recording(base):
    """A handler class that notes whether its connection has TCP_NODELAY set."""
    seen = []

    class Noting(base):
        def handle(self):
            seen.append(self.socket.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY))
            return super().handle()
    return Noting, seen


def ask_twice(port):
    with requests.Session() as session:
        for _ in range(2):
            assert session.get("http://127.0.0.1:%d/" % port, timeout=5).status_code == 200


def test_the_service_s_own_server_turns_nagle_off():
    handler, seen = recording(BoundedHandler)
    server = BoundedWSGIServer(("127.0.0.1", 0), app, limits=HttpLimits(), log=None,
                               handler_class=handler)
    server.start()
    try:
        ask_twice(server.server_port)
    finally:
        server.stop(timeout=1)
    assert seen and all(seen)


def test_the_sandbox_peers_server_turns_nagle_off():
    import logging
    handler, seen = recording(WSGIHandler)
    server = LoopbackServer("127.0.0.1", 0)
    port = server.start(app, 4, logging.getLogger("test"), handler_class=handler)
    try:
        ask_twice(port)
    finally:
        server.stop(timeout=1)
    assert seen and all(seen)


def test_control_a_plain_pywsgi_server_leaves_nagle_on():
    handler, seen = recording(WSGIHandler)
    server = WSGIServer(("127.0.0.1", 0), app, log=None, handler_class=handler)
    server.start()
    try:
        ask_twice(server.server_port)
    finally:
        server.stop(timeout=1)
    assert seen and not any(seen)


def test_a_server_on_a_unix_socket_still_serves(tmp_path):
    path = str(tmp_path / "api.sock")
    listener = socket.socket(socket.AF_UNIX)
    listener.bind(path)
    listener.listen(4)
    server = PromptWSGIServer(listener, app, log=None)
    server.start()
    try:
        client = socket.socket(socket.AF_UNIX)
        client.settimeout(5)
        client.connect(path)
        client.sendall(b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        answer = b""
        while not answer.endswith(b"{}"):
            chunk = client.recv(4096)
            if not chunk:
                break
            answer += chunk
        client.close()
        assert answer.startswith(b"HTTP/1.1 200") and answer.endswith(b"{}")
    finally:
        server.stop(timeout=1)
