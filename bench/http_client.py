"""What one gateway request costs the service's own process: CPU microseconds per request of
``JsonTransport.call`` beside a plain ``requests.Session`` doing the same request the way the
transport did before it spoke urllib3 directly (stream, no redirects, no proxies from the
environment, the answer read in bounded chunks and parsed).

The server runs in a process of its own, so only the client's CPU is counted; both clients
send the same body to the same keep-alive server, alternately, ``--rounds`` times each.

Then the wall time of a request on a kept-alive connection to a pywsgi server as pywsgi comes
and as the project's servers run it (``orchestrator/wsgi_server.py``, Nagle's algorithm off):
pywsgi writes an answer's head and body apart, and the body waits for the client's delayed ACK.

    .venv/bin/python -m bench.http_client [--requests 2000] [--rounds 3]
"""
import argparse
import json
import os
import resource
import select
import statistics
import subprocess
import sys
import time
from typing import Callable, Dict, List, Optional

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPO)

ANSWER = json.dumps({"status": "approved", "auth_code": "A1B2C3", "transaction_id": "tx-1",
                     "amount": 1000, "currency": "EUR"}).encode()
BODY = json.dumps({"amount": 1000, "currency": "EUR", "reference": "B-1",
                   "card": {"number": "x" * 16, "expiry": "1230", "cvc": "000"}}).encode()
START_WITHIN = 30.0     # seconds an answering server may take to say its port
HEADERS = {"Content-Type": "application/json", "Accept": "application/json",
           "Idempotency-Key": "bench-key"}

SERVER = """
import sys
from gevent.server import StreamServer
body = sys.stdin.buffer.read()
size = int(sys.argv[1])
answer = (b"HTTP/1.1 200 OK\\r\\nContent-Type: application/json\\r\\nContent-Length: %d\\r\\n\\r\\n"
          % len(body)) + body

def serve(conn, address):
    # keep-alive, each answer in one write: an HTTP library's server writes the head and the
    # body apart, and the second write waits for the client's delayed ACK (40 ms a request)
    data = b""
    while True:
        while b"\\r\\n\\r\\n" not in data:
            chunk = conn.recv(65536)
            if not chunk:
                return
            data += chunk
        data = data.partition(b"\\r\\n\\r\\n")[2]
        while len(data) < size:          # every body is the bench's own, of a known size
            data += conn.recv(65536)
        data = data[size:]
        conn.sendall(answer)

server = StreamServer(("127.0.0.1", 0), serve)
server.start()
print(server.server_port, flush=True)
server.serve_forever()
"""


WSGI_SERVER = """
import sys
from gevent.pywsgi import WSGIServer
from orchestrator.wsgi_server import PromptWSGIServer
answer = sys.stdin.buffer.read()
def app(environ, start_response):
    environ["wsgi.input"].read(int(environ.get("CONTENT_LENGTH") or 0))
    start_response("200 OK", [("Content-Type", "application/json"),
                              ("Content-Length", str(len(answer)))])
    return [answer]
kind = PromptWSGIServer if sys.argv[1] == "prompt" else WSGIServer
server = kind(("127.0.0.1", 0), app, log=None, error_log=None)
server.start()
print(server.server_port, flush=True)
server.serve_forever()
"""


class AnsweringServer:
    """One of the servers above in a process of its own; ``url`` once it listens."""

    def __init__(self, source: str, *args: str) -> None:
        env = dict(os.environ, PYTHONPATH=REPO + os.pathsep + os.environ.get("PYTHONPATH", ""))
        self.process = subprocess.Popen([sys.executable, "-c", source, *args], cwd=REPO, env=env,
                                        stdin=subprocess.PIPE, stdout=subprocess.PIPE)
        self.process.stdin.write(ANSWER)
        self.process.stdin.close()
        ready, _, _ = select.select([self.process.stdout], [], [], START_WITHIN)
        line = self.process.stdout.readline() if ready else b""
        if not line:
            self.stop()
            raise SystemExit("the answering server did not start within %.0f s" % START_WITHIN)
        self.url = "http://127.0.0.1:%d/pay" % int(line)

    def stop(self) -> None:
        self.process.kill()
        self.process.wait(timeout=10)


def wall_ms(one: Callable[[], None], count: int) -> float:
    one()
    began = time.monotonic()
    for _ in range(count):
        one()
    return (time.monotonic() - began) / count * 1000


def cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def with_transport(url: str) -> Callable[[], None]:
    from orchestrator.payments.gateways.transport import JsonTransport
    transport = JsonTransport(connect_timeout=3, read_timeout=20)

    def one() -> None:
        reply = transport.call("POST", url, BODY, HEADERS)
        assert reply.status == 200 and reply.data["status"] == "approved"
    return one


def with_requests(url: str) -> Callable[[], None]:
    import requests
    from orchestrator import bounded_json
    session = requests.Session()
    session.trust_env = False

    def one() -> None:
        reply = session.request("POST", url, data=BODY, headers=HEADERS, timeout=(3, 20),
                                verify=True, allow_redirects=False, stream=True)
        try:
            content = b"".join(reply.iter_content(chunk_size=16 * 1024))
        finally:
            reply.close()
        assert reply.status_code == 200
        assert bounded_json.loads(content, bounded_json.MAX_DEPTH)["status"] == "approved"
    return one


def measure(one: Callable[[], None], count: int) -> float:
    """CPU microseconds of this process per request."""
    for _ in range(20):
        one()      # the connection made, the code paths warm
    began = cpu()
    for _ in range(count):
        one()
    return (cpu() - began) / count * 1e6


def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.http_client")
    parser.add_argument("--requests", type=int, default=2000, help="requests a round")
    parser.add_argument("--rounds", type=int, default=3, help="rounds of each client")
    parser.add_argument("--latency-requests", type=int, default=100,
                        help="requests timed against each kind of server")
    args = parser.parse_args(argv)
    server = AnsweringServer(SERVER, str(len(BODY)))
    try:
        clients = {"JsonTransport (urllib3)": with_transport(server.url),
                   "requests.Session": with_requests(server.url)}
        figures: Dict[str, List[float]] = {name: [] for name in clients}
        for _ in range(args.rounds):
            for name, one in clients.items():
                figures[name].append(measure(one, args.requests))
    finally:
        server.stop()
    print("http client: CPU us per request, %d requests a round, %d rounds "
          "(min / median / max)" % (args.requests, args.rounds))
    for name, values in figures.items():
        print("  %-26s %7.1f / %7.1f / %7.1f" % (name, min(values), statistics.median(values),
                                                 max(values)))
    print("  ratio (transport / requests): %.2f" % (
        statistics.median(figures["JsonTransport (urllib3)"])
        / statistics.median(figures["requests.Session"])))
    print("wall ms a request on a kept-alive connection, %d requests:" % args.latency_requests)
    for kind, label in (("pywsgi", "pywsgi's WSGIServer"), ("prompt", "PromptWSGIServer")):
        answering = AnsweringServer(WSGI_SERVER, kind)
        try:
            print("  %-26s %7.2f" % (label, wall_ms(with_transport(answering.url),
                                                    args.latency_requests)))
        finally:
            answering.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
