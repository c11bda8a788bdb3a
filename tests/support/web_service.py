"""A web service on loopback that answers what a test scripts: the CRM a flow asks.

``ScriptedService(answers)`` answers each request with the next of ``answers`` (the last one
repeats): ``(status, body)`` where body is a JSON-able value, or bytes sent as they are;
``("slow", seconds, (status, body))`` waits first. Every request is kept (path, headers, body) for the test to check the signature and
what was sent. Served over HTTPS with the test certificate, or plain HTTP to loopback.
"""
import json

import gevent
from gevent.pywsgi import WSGIHandler

from orchestrator.wsgi_server import PromptWSGIServer as WSGIServer  # answers unheld by Nagle

from tests.support.tls import https_server


class RawPathHandler(WSGIHandler):
    """Puts the request's path as it came (still quoted) into ``RAW_PATH``."""

    def get_environ(self):
        environ = super().get_environ()
        environ["RAW_PATH"] = self.path
        return environ


class ScriptedService:
    def __init__(self, answers, tls_files=None):
        self.answers = list(answers)
        self.requests = []
        self.tls_files = tls_files
        self.server = None

    def start(self):
        if self.tls_files:
            self.server = https_server(self._app, self.tls_files, RawPathHandler)
        else:
            self.server = WSGIServer(("127.0.0.1", 0), self._app, log=None, error_log=None,
                                     handler_class=RawPathHandler)
            self.server.start()
        return self

    def stop(self):
        if self.server is not None:
            self.server.stop(timeout=0.5)

    @property
    def url(self):
        scheme = "https" if self.tls_files else "http"
        return "%s://127.0.0.1:%d" % (scheme, self.server.server_port)

    def _next(self):
        index = min(len(self.requests) - 1, len(self.answers) - 1)
        return self.answers[index]

    def _app(self, environ, start_response):
        body = environ["wsgi.input"].read(int(environ.get("CONTENT_LENGTH") or 0))
        headers = {key[5:].replace("_", "-").title(): value for key, value in environ.items()
                   if key.startswith("HTTP_")}
        headers["Content-Type"] = environ.get("CONTENT_TYPE", "")
        self.requests.append({"path": environ["RAW_PATH"], "body": body, "headers": headers})
        answer = self._next()
        if answer[0] == "slow":
            gevent.sleep(answer[1])
            answer = answer[2]
        status, payload = answer
        data = payload if isinstance(payload, bytes) else json.dumps(payload).encode("utf-8")
        start_response("%d %s" % (status, "OK" if status < 400 else "Scripted"),
                       [("Content-Type", "application/json"), ("Content-Length", str(len(data)))])
        return [data]
