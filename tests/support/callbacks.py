"""A status callback receiver on loopback: a real gevent WSGI server that answers what the test
says (``status``: a number, or a function of the request), keeps every request, and can be
taken down and brought back on the same port (connections refused meanwhile)."""
import json
import time

import gevent
from orchestrator.wsgi_server import PromptWSGIServer as WSGIServer  # answers unheld by Nagle

from orchestrator.payments.signing import verify
from tests.support.canary import traces

SECRET = "callback-secret-0123456789"


class CallbackReceiver:
    def __init__(self, status=200, secret=SECRET, delay=0.0):
        self.status, self.secret, self.delay = status, secret, delay
        self.requests = []
        self.port = None
        self.server = None

    def start(self):
        self.server = WSGIServer(("127.0.0.1", self.port or 0), self._app, log=None,
                                 error_log=None)
        self.server.start()
        self.port = self.server.server_port
        return self

    def stop(self):
        if self.server is not None:
            self.server.stop(timeout=1)
            self.server = None

    def reserve(self):
        """Take a port and close it: the receiver's URL, refusing connections until start()."""
        self.start()
        self.stop()
        return self

    @property
    def url(self):
        return "http://127.0.0.1:%d/callbacks" % self.port

    def _app(self, environ, start_response):
        body = environ["wsgi.input"].read(int(environ.get("CONTENT_LENGTH") or 0))
        request = {"body": body, "at": time.monotonic(),
                   "event_id": environ.get("HTTP_X_EVENT_ID"),
                   "seq": environ.get("HTTP_X_EVENT_SEQ"),
                   "timestamp": environ.get("HTTP_X_TIMESTAMP"),
                   "signature": environ.get("HTTP_X_SIGNATURE")}
        if self.delay:
            gevent.sleep(self.delay)
        status = self.status(request) if callable(self.status) else self.status
        request["status"] = status
        self.requests.append(request)
        start_response("%d Whatever" % status, [("Content-Length", "0")])
        return [b""]

    # -- what tests look at --------------------------------------------------------------
    def taken(self):
        """The requests answered 2xx."""
        return [r for r in self.requests if 200 <= r["status"] < 300]

    def taken_bodies(self):
        return [json.loads(r["body"]) for r in self.taken()]

    def unsigned(self):
        """Requests whose signature does not verify against the body received."""
        return [r for r in self.requests
                if not verify(self.secret, r["timestamp"], r["signature"], r["body"])]

    def canary_traces(self):
        return [found for r in self.requests for found in traces(r["body"].decode("utf-8"))]
