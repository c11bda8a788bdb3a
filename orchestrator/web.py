"""The service's own HTTP server: a small WSGI router on gevent.pywsgi.

It serves ``/metrics``, ``/healthz`` and ``/readyz`` today; the REST API mounts itself under a
prefix (``/api/v1``) on the same server with ``mount``. Everything pywsgi would write to
stderr goes through ``logging`` instead, so the redaction filter sees it like any other line.
The access log names the route, never the query string (which may carry a reference), and
logs probe and scrape requests at DEBUG so a 15 s scrape does not flood the INFO log. A route
that raises is logged here and answered 500, because gevent would print its traceback raw.
What a client may hold of the server (connections, time, bytes) is bounded by
``http_limits.py``; ``json_bodies_only`` answers 415 to a body that is not JSON.
"""
from __future__ import annotations

import json
import logging
import time
from typing import TYPE_CHECKING, Any, Callable, Dict, Iterable, List, Mapping, Optional, Tuple

from gevent.pywsgi import LoggingLogAdapter

from orchestrator.http_limits import BodyTimeout, BoundedWSGIServer, HttpLimits

if TYPE_CHECKING:  # pragma: no cover
    from _typeshed import OptExcInfo

    from orchestrator.metrics import Metrics
    from wsgiref.types import StartResponse, WSGIApplication, WSGIEnvironment

log = logging.getLogger("orchestrator.http")
access_log = logging.getLogger("orchestrator.http.access")


def json_response(start_response: "StartResponse", status: str, body: Mapping[str, Any],
                  headers: Iterable[Tuple[str, str]] = ()) -> List[bytes]:
    """Send ``body`` (a dict) as JSON with an HTTP ``status`` like ``"200 OK"``."""
    data = json.dumps(body, sort_keys=True).encode("utf-8")
    start_response(status, [("Content-Type", "application/json"),
                            ("Content-Length", str(len(data))),
                            ("Cache-Control", "no-store"), *headers])
    return [data]


def _not_found(environ: "WSGIEnvironment", start_response: "StartResponse") -> List[bytes]:
    return json_response(start_response, "404 Not Found", {"error": "not found"})


class Router:
    """Exact paths first, then the longest mounted prefix; anything else is 404."""

    def __init__(self) -> None:
        self._exact: Dict[str, Tuple["WSGIApplication", bool]] = {}
        self._prefixes: List[Tuple[str, "WSGIApplication", bool]] = []

    def route(self, path: str, app: "WSGIApplication", quiet: bool = False) -> None:
        """Serve ``path`` exactly with the WSGI ``app``; ``quiet`` logs its requests at DEBUG."""
        self._exact[path] = (app, quiet)

    def mount(self, prefix: str, app: "WSGIApplication", quiet: bool = False) -> None:
        """Serve every path under ``prefix`` with ``app``; ``SCRIPT_NAME``/``PATH_INFO`` are
        split as WSGI expects, so the app sees paths relative to its prefix."""
        prefix = "/" + prefix.strip("/")
        self._prefixes.append((prefix, app, quiet))
        self._prefixes.sort(key=lambda item: len(item[0]), reverse=True)

    def resolve(self, environ: "WSGIEnvironment") -> Tuple["WSGIApplication", str, bool]:
        """Return ``(app, route_label, quiet)`` and adjust the environ for a mounted app."""
        path = environ.get("PATH_INFO") or "/"
        if path in self._exact:
            app, quiet = self._exact[path]
            return app, path, quiet
        for prefix, app, quiet in self._prefixes:
            if path == prefix or path.startswith(prefix + "/"):
                environ["SCRIPT_NAME"] = environ.get("SCRIPT_NAME", "") + prefix
                environ["PATH_INFO"] = path[len(prefix):] or "/"
                return app, prefix + "/*", quiet
        return _not_found, "unmatched", False

    def __call__(self, environ: "WSGIEnvironment", start_response: "StartResponse") -> Iterable[bytes]:
        app, label, quiet = self.resolve(environ)
        started = time.monotonic()
        status_seen: List[str] = []

        def recording_start_response(status: str, headers: List[Tuple[str, str]],
                                     exc_info: Optional["OptExcInfo"] = None) -> Callable[[bytes], object]:
            status_seen.append(status)
            return start_response(status, headers, exc_info)

        try:
            return app(environ, recording_start_response)
        except BodyTimeout:
            # the rest of the body is not waited for: the connection is not kept
            return json_response(recording_start_response, "408 Request Timeout",
                                 {"error": "request_timeout",
                                  "message": "the request body did not arrive in time"},
                                 headers=[("Connection", "close")])
        except Exception:
            # Caught here, not left to pywsgi: gevent would print the traceback, unredacted,
            # straight to stderr.
            log.exception("http %s %s failed", environ.get("REQUEST_METHOD", "-"), label)
            return json_response(recording_start_response, "500 Internal Server Error",
                                 {"error": "internal error"})
        finally:
            code = status_seen[-1].split(" ", 1)[0] if status_seen else "-"
            level = logging.WARNING if code.startswith("5") else (
                logging.DEBUG if quiet else logging.INFO)
            access_log.log(level, "http %s %s %s %.1fms", environ.get("REQUEST_METHOD", "-"),
                           label, code, (time.monotonic() - started) * 1000)


def json_bodies_only(app: "WSGIApplication") -> "WSGIApplication":
    """Wrap ``app`` so that a request body that is not ``application/json`` (or ``+json``)
    answers 415 before ``app`` reads it; requests without a body pass."""
    def wrapped(environ: "WSGIEnvironment", start_response: "StartResponse") -> Iterable[bytes]:
        if int(environ.get("CONTENT_LENGTH") or 0) > 0:
            media = environ.get("CONTENT_TYPE", "").split(";", 1)[0].strip().lower()
            if media != "application/json" and not (media.startswith("application/")
                                                    and media.endswith("+json")):
                return json_response(start_response, "415 Unsupported Media Type",
                                     {"error": "unsupported_media_type",
                                      "message": "the request body must be application/json"})
        return app(environ, start_response)
    return wrapped


def only_get(app: "WSGIApplication") -> "WSGIApplication":
    """Wrap ``app`` so that anything but GET/HEAD answers 405."""
    def wrapped(environ: "WSGIEnvironment", start_response: "StartResponse") -> Iterable[bytes]:
        if environ.get("REQUEST_METHOD") not in ("GET", "HEAD"):
            start_response("405 Method Not Allowed", [("Allow", "GET, HEAD"),
                                                       ("Content-Length", "0")])
            return [b""]
        return app(environ, start_response)
    return wrapped


def liveness_app(environ: "WSGIEnvironment", start_response: "StartResponse") -> List[bytes]:
    """``/healthz``: the process answers HTTP, so it is alive."""
    return json_response(start_response, "200 OK", {"status": "alive"})


def readiness_app(check: Callable[[], Tuple[bool, Mapping[str, Any]]]) -> "WSGIApplication":
    """``/readyz``: ``check()`` returns ``(ready, details)``; 200 when ready, else 503."""
    def app(environ: "WSGIEnvironment", start_response: "StartResponse") -> List[bytes]:
        ready, details = check()
        status = "200 OK" if ready else "503 Service Unavailable"
        return json_response(start_response, status,
                             {"status": "ready" if ready else "not ready", **details})
    return app


class HttpServer:
    """A gevent WSGI server around a ``Router``; port 0 picks a free port (tests)."""

    def __init__(self, host: str = "127.0.0.1", port: int = 0, router: Optional[Router] = None,
                 limits: Optional[HttpLimits] = None, metrics: Optional["Metrics"] = None) -> None:
        self.router = router or Router()
        self._bind = (host, port)
        self.limits = limits or HttpLimits()
        self._metrics = metrics
        self._server: Optional[BoundedWSGIServer] = None

    @property
    def address(self) -> Optional[Tuple[str, int]]:
        return self._server.address if self._server else None

    def start(self) -> None:
        # log=None: the router writes the access log; errors go through logging, redacted.
        self._server = BoundedWSGIServer(self._bind, self.router, limits=self.limits,
                                         metrics=self._metrics, log=None,
                                         error_log=LoggingLogAdapter(log, logging.ERROR))
        self._server.start()
        log.info("http server listening on %s:%s", *self._server.address[:2])

    def stop(self, timeout: float = 2.0) -> None:
        if self._server is not None:
            self._server.stop(timeout=timeout)
