"""A tiny stand-in for the agent API, for testing the panel's own logic in the browser.

It speaks the contract's shapes (sessions, errors, SSE events) and records every request, so a
test can see exactly what the page sent; the test pushes SSE events itself. It is no proof that
the panel works with the real backend: the end-to-end tests do that.
"""
import json
import secrets
from urllib.parse import parse_qs

import gevent
from gevent.queue import Empty, Queue

from orchestrator.agent.panel import panel_app
from orchestrator.web import HttpServer, json_response

TOKEN = "fake-agent-token-0123456789"
FIELDS = ("number", "expiry", "security_code")


def new_session(body):
    return {"id": "ps_" + secrets.token_hex(6), "tenant": "acme", "agent": "alice",
            "call_uuid": body.get("call_uuid"), "mode": body.get("mode", "transfer"),
            "flow": "card_payment", "amount": body.get("amount"), "currency": body.get("currency"),
            "amount_text": "%s %s" % (body.get("amount"), body.get("currency")),
            "reference": body.get("reference"), "state": "created",
            "fields": {f: {"state": "pending", "digits": 0, "masked": None, "error_type": None,
                           "attempt": 0} for f in FIELDS},
            "result": None, "charge": body.get("charge", "auto"), "charge_attempt": 0,
            "awaiting_decision": False, "version": 0,
            "created": "2025-01-01T00:00:00Z", "updated": "2025-01-01T00:00:00Z"}


class FakeApi:
    def __init__(self):
        self.requests = []          # dicts: method, path, query, body, authorization
        self.sessions = {}
        self.streams = {}           # session id -> Queue of (event, data) or None to end
        self.start_error = None     # (status, body) answered to the next POST /sessions
        self.charge_answers = Queue()   # (status, body) for each POST .../charge, as the test says

    def push(self, session_id, event, data):
        """An event on the session's stream, numbered as the service numbers them: the session's
        ``version`` is one more, and the event's SSE id."""
        session = self.sessions.get(session_id)
        version = None
        if session is not None:
            session["version"] = version = session["version"] + 1
        self.streams.setdefault(session_id, Queue()).put((event, data, version))

    def end(self, session_id):
        self.streams.setdefault(session_id, Queue()).put(None)

    def __call__(self, environ, start_response):
        method, path = environ["REQUEST_METHOD"], environ["PATH_INFO"]
        query = parse_qs(environ.get("QUERY_STRING", ""))
        length = int(environ.get("CONTENT_LENGTH") or 0)
        raw = environ["wsgi.input"].read(length) if length else b""
        body = json.loads(raw) if raw else None
        authorization = environ.get("HTTP_AUTHORIZATION", "")
        self.requests.append({"method": method, "path": path, "query": query, "body": body,
                              "authorization": authorization})
        token = authorization[7:] if authorization.startswith("Bearer ") else None
        if path.endswith("/events"):
            token = (query.get("access_token") or [None])[0]
        if token != TOKEN:
            return json_response(start_response, "401 Unauthorized",
                                 {"error": "unauthorized", "message": "unknown token"})
        parts = path.strip("/").split("/")
        if parts == ["sessions"] and method == "GET":
            return json_response(start_response, "200 OK",
                                 {"sessions": [s for s in self.sessions.values()
                                               if s["state"] not in ("approved", "declined")]})
        if parts == ["sessions"] and method == "POST":
            if self.start_error:
                (status, answer), self.start_error = self.start_error, None
                return json_response(start_response, status, answer)
            session = new_session(body)
            self.sessions[session["id"]] = session
            return json_response(start_response, "201 Created", session)
        session = self.sessions.get(parts[1]) if len(parts) > 1 else None
        if session is None:
            return json_response(start_response, "404 Not Found",
                                 {"error": "not_found", "message": "no such session"})
        if len(parts) == 2:
            return json_response(start_response, "200 OK", session)
        if parts[2] in ("cancel", "recapture") and method == "POST":
            if parts[2] == "cancel":
                session["state"] = "cancelled"
                self.push(session["id"], "state", {"state": "cancelled"})
                self.push(session["id"], "state", {"state": "ended"})
                self.end(session["id"])
            return json_response(start_response, "200 OK", session)
        if parts[2] == "charge" and method == "POST":
            status, answer = self.charge_answers.get(timeout=30)
            return json_response(start_response, status, answer)
        if parts[2] == "events":
            return self._events(session, start_response)
        return json_response(start_response, "404 Not Found", {"error": "not_found", "message": path})

    def _events(self, session, start_response):
        start_response("200 OK", [("Content-Type", "text/event-stream"),
                                  ("Cache-Control", "no-store")])
        queue = self.streams.setdefault(session["id"], Queue())

        def stream():
            yield ("event: snapshot\ndata: %s\n\n" % json.dumps(session)).encode()
            while True:
                try:
                    item = queue.get(timeout=30)
                except Empty:
                    return
                if item is None:
                    return
                event, data, version = item
                head = "" if version is None else "id: %d\n" % version
                yield ("%sevent: %s\ndata: %s\n\n" % (head, event, json.dumps(data))).encode()
        return stream()


class FakeServer:
    """The panel and the fake API on one loopback server, as the service would serve them."""

    def __init__(self):
        self.api = FakeApi()
        self.http = HttpServer("127.0.0.1", 0)
        self.http.router.mount("/panel", panel_app())
        self.http.router.mount("/api/v1", self.api)

    def __enter__(self):
        self.http.start()
        self.url = "http://127.0.0.1:%d" % self.http.address[1]
        return self

    def __exit__(self, *exc):
        for session_id in list(self.api.streams):
            self.api.end(session_id)
        gevent.sleep(0)
        self.http.stop(timeout=1)
