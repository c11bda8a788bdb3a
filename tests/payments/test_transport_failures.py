"""How the HTTPS client tells what a failure says about the request, against real sockets on
127.0.0.1 that fail in each way a gateway's can. The class decides money: ``NotReached`` is
safe to retry (nothing was sent), ``OutcomeUnknown`` may have charged the card and must be
reconciled, never retried as if it had not.

Each server here is a raw socket, not an HTTP library, so it can stop, stall or cut off at
exactly the byte the test names."""
import socket
import ssl

import gevent
import pytest

from orchestrator.payments.gateways.transport import JsonTransport, NotReached, OutcomeUnknown

REQUEST_END = b"\r\n\r\n"


class RawServer:
    """Accepts connections and hands each to ``behave(conn)``; counts requests it read."""

    def __init__(self, behave, tls_files=None, backlog=16):
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(backlog)
        self.port = self.sock.getsockname()[1]
        self.behave, self.requests, self.conns = behave, 0, []
        self.context = None
        if tls_files:
            self.context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            self.context.load_cert_chain(*tls_files)
        self.job = gevent.spawn(self._serve)

    @property
    def url(self):
        return "%s://127.0.0.1:%d/pay" % ("https" if self.context else "http", self.port)

    def _serve(self):
        while True:
            conn, _ = self.sock.accept()
            self.conns.append(conn)
            gevent.spawn(self._one, conn)

    def _one(self, conn):
        try:
            if self.context:
                conn = self.context.wrap_socket(conn, server_side=True)
            self.behave(self, conn)
        except (OSError, ssl.SSLError):
            pass

    def read_request(self, conn):
        data = b""
        while REQUEST_END not in data:
            chunk = conn.recv(4096)
            if not chunk:
                return None
            data += chunk
        head, _, body = data.partition(REQUEST_END)
        length = 0
        for line in head.split(b"\r\n")[1:]:
            name, _, value = line.partition(b":")
            if name.strip().lower() == b"content-length":
                length = int(value)
        while len(body) < length:
            body += conn.recv(4096)
        self.requests += 1
        return head

    def close(self):
        self.job.kill()
        for conn in self.conns:
            conn.close()
        self.sock.close()


@pytest.fixture
def serve():
    servers = []

    def start(behave, **kwargs):
        server = RawServer(behave, **kwargs)
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.close()


def answer(body=b"{}", status=b"200 OK", extra=b""):
    return (b"HTTP/1.1 " + status + b"\r\nContent-Type: application/json\r\nContent-Length: "
            + str(len(body)).encode() + b"\r\n" + extra + b"\r\n" + body)


def client(**kwargs):
    return JsonTransport(connect_timeout=kwargs.pop("connect_timeout", 1.0),
                         read_timeout=kwargs.pop("read_timeout", 0.5), **kwargs)


def test_a_refused_connection_was_not_reached_and_may_be_retried():
    closed = socket.socket()
    closed.bind(("127.0.0.1", 0))
    port = closed.getsockname()[1]
    closed.close()           # nothing listens there now
    with pytest.raises(NotReached) as failure:
        client().call("POST", "http://127.0.0.1:%d/pay" % port, b"{}")
    assert failure.value.kind == "connect" and failure.value.retryable
    assert failure.value.detail == "connection refused or unreachable"


def test_a_connect_that_never_completes_times_out_as_not_reached(serve):
    # a listener that never accepts, its queue full: the kernel drops the next SYNs
    server = serve(lambda self, conn: None, backlog=0)
    server.job.kill()
    fillers = []
    for _ in range(4):
        filler = socket.socket()
        filler.setblocking(False)
        filler.connect_ex(("127.0.0.1", server.port))
        fillers.append(filler)
    gevent.sleep(0.1)
    try:
        with pytest.raises(NotReached) as failure:
            client(connect_timeout=0.3).call("POST", server.url, b"{}")
        assert failure.value.kind == "connect" and failure.value.retryable
        assert failure.value.detail == "connect timeout"
    finally:
        for filler in fillers:
            filler.close()


def test_a_request_sent_and_never_answered_is_an_unknown_outcome(serve):
    def silent(self, conn):
        self.read_request(conn)
        gevent.sleep(5)
    server = serve(silent)
    with pytest.raises(OutcomeUnknown) as failure:
        client(read_timeout=0.3).call("POST", server.url, b'{"amount": 1}')
    assert failure.value.kind == "timeout" and not failure.value.resend_if_idempotent
    assert server.requests == 1


def test_a_connection_dropped_after_the_request_may_have_charged(serve):
    def hang_up(self, conn):
        self.read_request(conn)
        conn.close()
    server = serve(hang_up)
    with pytest.raises(OutcomeUnknown) as failure:
        client().call("POST", server.url, b'{"amount": 1}')
    assert failure.value.kind == "connection" and failure.value.resend_if_idempotent
    assert server.requests == 1


def test_an_answer_cut_off_mid_body_is_an_unknown_outcome(serve):
    def cut(self, conn):
        self.read_request(conn)
        whole = answer(b'{"status": "approved", "padding": "' + b"x" * 200 + b'"}')
        conn.sendall(whole[:len(whole) - 50])
        conn.close()
    server = serve(cut)
    with pytest.raises(OutcomeUnknown) as failure:
        client().call("POST", server.url, b"{}")
    assert failure.value.kind == "connection" and failure.value.resend_if_idempotent


def test_an_answer_that_stalls_mid_body_times_out_as_an_unknown_outcome(serve):
    def stall(self, conn):
        self.read_request(conn)
        whole = answer(b'{"status": "approved", "padding": "' + b"x" * 200 + b'"}')
        conn.sendall(whole[:len(whole) - 50])
        gevent.sleep(5)
    server = serve(stall)
    with pytest.raises(OutcomeUnknown) as failure:
        client(read_timeout=0.3).call("POST", server.url, b"{}")
    assert failure.value.kind == "timeout"


def test_an_untrusted_certificate_is_not_reached_and_not_retried(serve, tls_files,
                                                                  other_tls_files):
    server = serve(lambda self, conn: self.read_request(conn), tls_files=tls_files)
    with pytest.raises(NotReached) as failure:
        client(verify=other_tls_files[0]).call("POST", server.url, b"{}")
    assert failure.value.kind == "tls" and not failure.value.retryable
    assert server.requests == 0


def test_a_certificate_for_another_name_is_refused(serve, tmp_path):
    from tests.support.tls import make_certificate
    files = make_certificate(tmp_path, common_name="gateway.example")   # and 127.0.0.1
    server = serve(lambda self, conn: self.read_request(conn), tls_files=files)
    url = server.url.replace("127.0.0.1", "localhost")     # neither of its names
    with pytest.raises(NotReached) as failure:
        client(verify=files[0]).call("POST", url, b"{}")
    assert failure.value.kind == "tls"


def test_a_trusted_certificate_is_answered_and_the_connection_kept(serve, tls_files):
    ports = []

    def keep_alive(self, conn):
        ports.append(conn.getpeername()[1])
        while self.read_request(conn) is not None:
            conn.sendall(answer(b'{"status": "approved"}'))
    server = serve(keep_alive, tls_files=tls_files)
    transport = client(verify=tls_files[0])
    for _ in range(3):
        reply = transport.call("POST", server.url, b"{}", {"Content-Type": "application/json"})
        assert (reply.status, reply.data, reply.unreadable) == (200, {"status": "approved"}, "")
    assert server.requests == 3 and len(ports) == 1


def test_a_redirect_is_returned_as_it_is_never_followed(serve):
    def redirect(self, conn):
        self.read_request(conn)
        conn.sendall(answer(b"", b"302 Found", b"Location: http://127.0.0.1:9/elsewhere\r\n"))
    server = serve(redirect)
    reply = client().call("POST", server.url, b'{"card": "kept here"}')
    assert reply.status == 302 and reply.data is None
    assert reply.headers["location"] == "http://127.0.0.1:9/elsewhere"   # any case
    assert server.requests == 1


def test_a_proxy_in_the_environment_is_ignored(serve, monkeypatch):
    monkeypatch.setenv("HTTP_PROXY", "http://127.0.0.1:9")
    monkeypatch.setenv("http_proxy", "http://127.0.0.1:9")
    monkeypatch.delenv("NO_PROXY", raising=False)
    monkeypatch.delenv("no_proxy", raising=False)

    def ok(self, conn):
        self.read_request(conn)
        conn.sendall(answer())
    server = serve(ok)
    assert client().call("POST", server.url, b"{}").status == 200


def test_a_cut_answer_does_not_spoil_the_next_call(serve):
    calls = []

    def first_cut_then_whole(self, conn):
        while self.read_request(conn) is not None:
            calls.append(1)
            whole = answer(b'{"n": %d}' % len(calls))
            if len(calls) == 1:
                conn.sendall(whole[:-3])
                conn.close()
                return
            conn.sendall(whole)
    server = serve(first_cut_then_whole)
    transport = client()
    with pytest.raises(OutcomeUnknown):
        transport.call("POST", server.url, b"{}")
    assert transport.call("POST", server.url, b"{}").data == {"n": 2}


def test_a_gzip_answer_is_decoded(serve):
    import gzip

    def zipped(self, conn):
        self.read_request(conn)
        conn.sendall(answer(gzip.compress(b'{"status": "approved"}'),
                            extra=b"Content-Encoding: gzip\r\n"))
    server = serve(zipped)
    assert client().call("POST", server.url, b"{}").data == {"status": "approved"}
