"""What one HTTP client may hold of the service: connections, time and bytes.

Without bounds, 1,100 idle connections under a 1,024 file-descriptor limit left the process no
descriptor for FreeSWITCH's next call socket: a card call heard 25 s of silence, then the
dialplan's fallback. gevent's pywsgi has no connection cap and no timeout on a request's head,
and it reads whatever body a client announces. So the server here (``BoundedWSGIServer``, with
``HttpLimits``, the ``http`` section of the config) bounds each of them:

* ``max_connections``: connections open at once. A newcomer past it takes the place of the
  oldest connection that is not inside a request (idle between requests, or still sending its
  head), which is closed: idle clients cannot lock out ``/healthz``, a scrape or the API. When
  every connection is inside a request (live event streams), the newcomer is answered 503.
  Either way the process keeps its descriptors for calls.
* ``idle_timeout``: a connection waiting for a request (its first, or the next one on a kept-alive
  connection) is closed after this long.
* ``header_timeout``: from a request's first byte to the end of its headers (a slow-loris
  client): 408, closed.
* ``max_header_bytes``: the request line and headers together: 431, closed.
* ``max_body_bytes``: a longer ``Content-Length`` is answered 413 before any route runs, and the
  body is never read; a chunked body (no length to judge) is answered 411.
* ``body_timeout``: from the end of the headers to the end of the body: 408, closed.

A socket that makes no progress at all (a client that stops reading a response) is closed after
the longest of the three timeouts. Every cut-off is logged in one line naming the config key and
counted in ``payivr_limit_rejections_total``; none prints a traceback (pywsgi would print some
to stderr, past the redacting log format).
"""
from __future__ import annotations

import errno
import http.client
import logging
import time
from dataclasses import dataclass
from io import BytesIO
from typing import TYPE_CHECKING, Any, Callable, Dict, Optional, Tuple

import gevent
from gevent import socket
from gevent.pywsgi import MAX_REQUEST_LINE, Input, WSGIHandler, WSGIServer, headers_factory
from gevent.pywsgi import _InvalidClientInput  # the input error pywsgi handles as the client's

from .wsgi_server import PromptWSGIServer

if TYPE_CHECKING:  # pragma: no cover
    from orchestrator.metrics import Metrics

log = logging.getLogger("orchestrator.http")

# descriptors the process needs besides call sockets and HTTP connections: listeners, nodes'
# connections, the store, the gateways' connection pools, log files
DESCRIPTOR_MARGIN = 64


@dataclass(frozen=True)
class HttpLimits:
    """The ``http`` config keys that bound a client (see the module docstring)."""

    max_connections: int = 200
    header_timeout: float = 10.0
    idle_timeout: float = 30.0
    body_timeout: float = 10.0
    max_header_bytes: int = 32 * 1024
    max_body_bytes: int = 64 * 1024

    @property
    def stall_timeout(self) -> float:
        """How long one socket operation may make no progress at all."""
        return max(self.idle_timeout, self.header_timeout, self.body_timeout)


HTTP_LIMIT_KEYS = tuple(HttpLimits.__dataclass_fields__)


def warn_if_descriptors_short(max_calls: int, max_connections: int, nodes: int) -> None:
    """Say at start-up when calls, HTTP connections and a margin for the rest (nodes, the
    store, logs) could need more file descriptors than the process may open: past that
    limit the next call socket cannot be accepted and the caller hears silence."""
    try:
        import resource
        soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    except (ImportError, ValueError, OSError):
        return
    wanted = max_calls + max_connections + nodes + DESCRIPTOR_MARGIN
    if soft != resource.RLIM_INFINITY and wanted > soft:
        log.warning("max_calls (%d) + http.max_connections (%d) + %d for nodes and the rest "
                    "is %d, more than the %d file descriptors this process may open (ulimit -n): "
                    "lower them or raise the limit", max_calls, max_connections,
                    nodes + DESCRIPTOR_MARGIN, wanted, soft)


def _raw_response(status: str, message: str) -> bytes:
    body = ('{"error": "%s", "message": "%s"}' % (status.split(" ", 1)[1].lower().replace(" ", "_"),
                                                   message)).encode("ascii")
    return (b"HTTP/1.1 %s\r\nContent-Type: application/json\r\nContent-Length: %d\r\n"
            b"Connection: close\r\nCache-Control: no-store\r\n\r\n%s"
            % (status.encode("ascii"), len(body), body))


class _HeadTimeout(Exception):
    """The head (request line and headers) did not arrive within ``header_timeout``."""


class _HeadTooLarge(ValueError):
    """The head is longer than ``max_header_bytes``."""


class _Refused(Exception):
    """The request is answered ``response`` before any route runs, and the connection closed."""

    def __init__(self, limit: str, response: bytes) -> None:
        super().__init__(limit)
        self.limit, self.response = limit, response


class _Evicted(Exception):
    """The connection gave its place to a newer one while it was between requests."""


class BodyTimeout(_InvalidClientInput):
    """The body did not arrive within ``body_timeout``; the router answers 408.

    An ``_InvalidClientInput`` because that is what pywsgi treats as the client's fault when
    it meets it draining a body after the route (closing the connection, no traceback)."""


class DeadlineInput(Input):
    """``wsgi.input`` whose every read ends at one deadline (``body_timeout`` after the head)."""

    __slots__ = ("deadline", "on_timeout")

    def __init__(self, rfile: Any, content_length: Optional[int], deadline: float,
                 on_timeout: Callable[[], None], socket: Any = None) -> None:
        """``on_timeout()`` is called once, the first time the deadline is met."""
        super().__init__(rfile, content_length, socket=socket)
        self.deadline = deadline
        self.on_timeout: Optional[Callable[[], None]] = on_timeout

    def _bounded(self, read: Any, size: Optional[int]) -> bytes:
        try:
            remaining = self.deadline - time.monotonic()
            if remaining <= 0:
                raise BodyTimeout("body not complete in time")
            with gevent.Timeout(remaining, BodyTimeout("body not complete in time")):
                return bytes(read(size))
        except BodyTimeout:
            # met by the route's read, then again by pywsgi draining the rest: one count
            told, self.on_timeout = self.on_timeout, None
            if told is not None:
                told()
            raise

    def read(self, length: Optional[int] = None) -> bytes:
        return self._bounded(super().read, length)

    def readline(self, size: Optional[int] = None) -> bytes:
        return self._bounded(super().readline, size)


class BoundedHandler(WSGIHandler):
    """pywsgi's handler with the bounds of the server's ``HttpLimits``."""

    server: "BoundedWSGIServer"
    _head_timer: Optional[gevent.Timeout] = None
    _evicted = False
    in_request = False       # inside a route (not to be evicted), or between requests

    def handle(self) -> None:
        self.socket.settimeout(self.server.limits.stall_timeout)
        self.server.connections[id(self)] = self
        try:
            super().handle()
        finally:
            self.server.connections.pop(id(self), None)

    def evict(self) -> None:
        """Close this connection now: it is waiting for, or reading, a request's head."""
        self._evicted = True
        try:
            self.socket.shutdown(socket.SHUT_RDWR)   # its reader sees the end of the stream
        except (OSError, AttributeError):
            pass

    # -- the head -----------------------------------------------------------------------------
    def handle_one_request(self) -> Any:
        self.in_request = False
        try:
            return super().handle_one_request()
        except _Evicted:
            return None
        except _Refused as refused:
            self.server.refused(refused.limit, self.client_address)
            return refused.limit, refused.response
        finally:
            self._stop_head_timer()

    def read_requestline(self) -> str:
        limits = self.server.limits
        first = None
        with gevent.Timeout(limits.idle_timeout, False):
            first = self.rfile.peek(1)       # b"" at the end of the stream
        if first is None:
            log.debug("http connection idle for %.1fs closed (http.idle_timeout)",
                      limits.idle_timeout)
            return ""
        if not first:
            return ""
        self._head_timer = gevent.Timeout(limits.header_timeout, _HeadTimeout())
        self._head_timer.start()
        try:
            return str(self.rfile.readline(MAX_REQUEST_LINE).decode("latin-1"))
        except _HeadTimeout:
            self._answer_now("http.header_timeout", "408 Request Timeout",
                             "the request head did not arrive in time")
            return ""

    def MessageClass(self, fp: Any, *args: Any) -> Any:
        """The headers, read no further than ``max_header_bytes`` (request line included)."""
        room = self.server.limits.max_header_bytes - len(self.requestline or "")
        lines = []
        while True:
            line = fp.readline(max(room, 0) + 1)
            room -= len(line)
            if room < 0:
                raise _HeadTooLarge("headers longer than allowed")
            lines.append(line)
            if line in (b"\r\n", b"\n", b""):
                break
        return headers_factory(BytesIO(b"".join(lines)))

    def _handle_client_error(self, ex: BaseException) -> Tuple[str, bytes]:
        """A bad head, logged in one line (pywsgi prints some of these as tracebacks)."""
        if isinstance(ex, _HeadTimeout):
            self.server.refused("http.header_timeout", self.client_address)
            return "408", _raw_response("408 Request Timeout", "the request head did not arrive in time")
        if isinstance(ex, (_HeadTooLarge, http.client.HTTPException)):   # HTTPException: >100 headers
            self.server.refused("http.max_header_bytes", self.client_address)
            return "431", _raw_response("431 Request Header Fields Too Large",
                                        "the request head is too long")
        if not isinstance(ex, BodyTimeout):      # counted where it was met (DeadlineInput)
            log.info("http bad request from %s: %s", self._peer(), type(ex).__name__)
        return "400", _raw_response("400 Bad Request", "malformed request")

    def _answer_now(self, limit: str, status: str, message: str) -> None:
        self.server.refused(limit, self.client_address)
        try:
            self.socket.sendall(_raw_response(status, message))
        except OSError:
            pass
        self.close_connection = True

    def _stop_head_timer(self) -> None:
        if self._head_timer is not None:
            self._head_timer.close()
            self._head_timer = None

    def _peer(self) -> str:
        address = self.client_address
        return str(address[0]) if isinstance(address, tuple) else str(address)

    # -- from the head to the route -------------------------------------------------------------
    def get_environ(self) -> Dict[str, Any]:
        """The head is complete: the last checks before a route runs, and the body's deadline."""
        self._stop_head_timer()
        if self._evicted:
            raise _Evicted()
        limits = self.server.limits
        if self.headers.get("transfer-encoding", "").lower() == "chunked":
            raise _Refused("http.max_body_bytes", _raw_response(
                "411 Length Required", "send the body with a Content-Length"))
        if (self.content_length or 0) > limits.max_body_bytes:
            raise _Refused("http.max_body_bytes", _raw_response(
                "413 Payload Too Large", "the body is larger than %d bytes" % limits.max_body_bytes))
        environ = super().get_environ()
        if not self._connection_upgrade_requested():
            self.wsgi_input = DeadlineInput(
                self.rfile, self.content_length, time.monotonic() + limits.body_timeout,
                lambda: self.server.refused("http.body_timeout", self.client_address),
                socket=self.socket if environ.get("HTTP_EXPECT") == "100-continue" else None)
            environ["wsgi.input"] = self.wsgi_input
        self.in_request = True
        return environ

    def handle_error(self, t: Any, v: Any, tb: Any) -> None:
        """A client that stopped reading its answer is closed, not reported as our error."""
        if isinstance(v, socket.timeout) or (isinstance(v, OSError) and v.errno == errno.ETIMEDOUT):
            log.info("http client %s stopped reading; connection closed", self._peer())
            self.close_connection = True
            return
        super().handle_error(t, v, tb)


class BoundedWSGIServer(PromptWSGIServer):
    """pywsgi's server with ``limits``; ``connections`` are the open ones, oldest first."""

    handler_class = BoundedHandler

    def __init__(self, listener: Any, application: Any, *, limits: HttpLimits,
                 metrics: Optional["Metrics"] = None, **kwargs: Any) -> None:
        super().__init__(listener, application, **kwargs)
        self.limits = limits
        self.metrics = metrics
        self.connections: Dict[int, BoundedHandler] = {}

    def handle(self, sock: Any, address: Any) -> None:
        if len(self.connections) >= self.limits.max_connections and not self._make_room():
            self.refused("http.max_connections", address)
            log.warning("http connection refused: %d open, all inside requests "
                        "(http.max_connections)", len(self.connections))
            try:
                sock.settimeout(1.0)
                sock.sendall(_raw_response("503 Service Unavailable",
                                           "too many connections; try again"))
            except OSError:
                pass
            return          # the server closes the socket
        super().handle(sock, address)

    def _make_room(self) -> bool:
        """Close the oldest connection that is not inside a request; False when there is none."""
        for key, handler in self.connections.items():
            if not handler.in_request:
                del self.connections[key]
                handler.evict()
                self.refused("http.max_connections", None)
                log.info("http connection between requests closed to make room "
                         "(http.max_connections=%d)", self.limits.max_connections)
                return True
        return False

    def refused(self, limit: str, address: Any) -> None:
        """Count a cut-off; log the ones that are a client's doing, with its address."""
        if self.metrics is not None:
            self.metrics.record_limit(limit)
        if address is not None and limit != "http.max_connections":
            peer = address[0] if isinstance(address, tuple) else address
            log.info("http request from %s cut off (%s)", peer, limit)
