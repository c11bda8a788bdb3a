"""HTTPS JSON calls out, classified by what a failure says about the request.

A connector must know whether a failed call reached the gateway: a refused connection or a
connect timeout certainly did not (safe to retry), a read timeout or a dropped connection after
sending may have charged the card (outcome unknown). Certificates are always verified; plain
HTTP is allowed only to a loopback address (the local sandbox), checked when the connector is
built. Redirects are not followed (a redirect must not carry card data elsewhere), and proxy
settings from the environment are ignored for the same reason.

An answer is read up to ``MAX_ANSWER_BYTES`` and parsed with a nesting bound
(``orchestrator.bounded_json``): a gateway, hostile or broken, cannot make the process hold an
unbounded body or make the decoder recurse until ``RecursionError``. An answer that is too
large, too deep or not JSON arrives with ``data`` None and says why in ``unreadable``; the
connector decides what that means by the HTTP status, as for any answer it cannot read.
"""
import ipaddress
import os
import urllib.parse
from typing import Any, Mapping, Optional, Union

import certifi
import urllib3
from urllib3.exceptions import (ConnectTimeoutError, HTTPError, NewConnectionError,
                                ReadTimeoutError, SSLError)

from ... import bounded_json

# The most of an answer that is read. A gateway's JSON answer is a few kilobytes; past this it
# is not an answer a connector can use, and reading on would only hold memory for it.
MAX_ANSWER_BYTES = 256 * 1024

# idle keep-alive connections kept per host when the pool is not sized (requests' default)
DEFAULT_POOL = 10
HOSTS = 10      # hosts with a pool of their own (a connector speaks to one or two)
USER_AGENT = "orchestrator"


class GatewayConfigError(ValueError):
    """A gateway's settings are unusable; raised when it is built, not when a caller is waiting."""


class NotReached(Exception):
    """The request certainly did not reach the gateway."""

    def __init__(self, kind: str, detail: str = "", retryable: bool = True) -> None:
        super().__init__(kind, detail)
        self.kind, self.detail, self.retryable = kind, detail, retryable


class OutcomeUnknown(Exception):
    """The request may have reached the gateway and been acted on."""

    def __init__(self, kind: str, detail: str = "", resend_if_idempotent: bool = False) -> None:
        super().__init__(kind, detail)
        self.kind, self.detail = kind, detail
        self.resend_if_idempotent = resend_if_idempotent


def is_loopback(host: str) -> bool:
    if host in ("localhost", "localhost.localdomain"):
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def check_url(url: object, what: str = "url") -> str:
    """HTTPS anywhere; HTTP only to a loopback host. Returns the URL or raises."""
    if not isinstance(url, str) or not url:
        raise GatewayConfigError("%s is required" % what)
    parts = urllib.parse.urlsplit(url)
    if parts.scheme == "https" and parts.hostname:
        return url
    if parts.scheme == "http" and parts.hostname:
        if is_loopback(parts.hostname):
            return url
        raise GatewayConfigError("%s: plain http is allowed only to a loopback sandbox, "
                                 "use https for %s" % (what, parts.hostname))
    raise GatewayConfigError("%s must be an https:// URL" % what)


class Response:
    """An answer: the HTTP status, the parsed JSON body (None if there was none we could read),
    the headers, and ``unreadable``: why a body was not read ("" when it was, or was empty)."""
    __slots__ = ("status", "data", "headers", "unreadable")

    def __init__(self, status: int, data: Any, headers: Mapping[str, str],
                 unreadable: str = "") -> None:
        self.status, self.data, self.headers = status, data, headers
        self.unreadable = unreadable


class JsonTransport:
    """Keep-alive connections per host; bounded connect and read timeouts on every call.

    It speaks urllib3 directly rather than through requests: requests added its session,
    adapter and hooks machinery to every call, nearly half of the client's CPU a request
    (``bench/http_client.py``), for nothing a connector uses. What a
    failure means is the same either way; ``tests/payments/test_transport_failures.py``
    fails each way on real sockets."""

    def __init__(self, verify: Union[bool, str] = True, connect_timeout: float = 3.0,
                 read_timeout: float = 20.0, max_answer_bytes: int = MAX_ANSWER_BYTES,
                 max_depth: int = bounded_json.MAX_DEPTH) -> None:
        """``verify`` is True (the CA bundle requests trusts, certifi's) or the path of a CA
        file or folder. ``max_answer_bytes`` and ``max_depth`` bound what is read of an answer
        (a web service's answers are smaller and flatter than the gateways' defaults allow)."""
        if verify is False:
            raise GatewayConfigError("certificate verification cannot be turned off")
        self.verify = verify
        self.max_answer_bytes, self.max_depth = int(max_answer_bytes), int(max_depth)
        self.timeout = (float(connect_timeout), float(read_timeout))
        self._timeout = urllib3.Timeout(connect=self.timeout[0], read=self.timeout[1])
        self.pool_size = DEFAULT_POOL
        self.pools = self._pools(DEFAULT_POOL)

    def _pools(self, size: int) -> urllib3.PoolManager:
        # no proxy from the environment (a PoolManager reads none), no retries, no redirects:
        # each of them could send a card somewhere, or twice
        trust: dict = {"cert_reqs": "CERT_REQUIRED"}
        where = certifi.where() if self.verify is True else str(self.verify)
        trust["ca_cert_dir" if os.path.isdir(where) else "ca_certs"] = where
        return urllib3.PoolManager(num_pools=HOSTS, maxsize=size, block=False, retries=False,
                                   **trust)

    def size_pool(self, connections: int) -> None:
        """Keep up to ``connections`` idle keep-alive connections per host (10 unless sized).
        Sized to ``max_calls`` by the service: every call may be waiting on the gateway at
        once, and past the pool each one's connection was opened for one request and thrown
        away, a TCP and TLS handshake more per payment just when the gateway is busiest."""
        if connections < 1:
            raise GatewayConfigError("a connection pool holds at least one connection")
        self.pools.clear()
        self.pool_size = int(connections)
        self.pools = self._pools(self.pool_size)

    def call(self, method: str, url: str, body: Optional[bytes] = None,
             headers: Optional[Mapping[str, str]] = None) -> Response:
        """Send; return a Response whose ``data`` is the parsed JSON (None if unreadable)."""
        sent = {"User-Agent": USER_AGENT, **(headers or {})}
        try:
            reply = self.pools.urlopen(method, url, body=body, headers=sent,
                                       timeout=self._timeout, redirect=False, retries=False,
                                       preload_content=False)
        except NewConnectionError:
            # before ConnectTimeoutError: urllib3 makes a refused connect a kind of it
            raise NotReached("connect", "connection refused or unreachable") from None
        except ConnectTimeoutError:
            raise NotReached("connect", "connect timeout") from None
        except SSLError:
            raise NotReached("tls", "TLS handshake or certificate check failed",
                             retryable=False) from None
        except ReadTimeoutError:
            raise OutcomeUnknown("timeout", "no answer within %.1fs" % self.timeout[1]) from None
        except HTTPError as error:
            # ProtocolError and the rest: the connection broke once the request was on it
            raise OutcomeUnknown("connection", "connection lost after sending (%s)"
                                 % type(error).__name__, resend_if_idempotent=True) from None
        whole = False
        try:
            content = _read_bounded(reply, self.max_answer_bytes)
            whole = content is not None
        except ReadTimeoutError:
            # the request was sent and the answer had begun: whatever broke, it may have acted
            raise OutcomeUnknown("timeout", "answer stalled for %.1fs" % self.timeout[1]) \
                from None
        except (HTTPError, OSError) as error:
            raise OutcomeUnknown("connection", "answer cut off (%s)" % type(error).__name__,
                                 resend_if_idempotent=True) from None
        finally:
            if not whole:
                reply.close()      # a cut or oversized answer's connection is not kept
            reply.release_conn()   # an answer read to the end keeps its connection
        status, got = reply.status, reply.headers
        if content is None:
            return Response(status, None, got, "larger than %d bytes" % self.max_answer_bytes)
        if not content:
            return Response(status, None, got)
        try:
            data = bounded_json.loads(content, self.max_depth)
        except bounded_json.TooDeep as error:
            return Response(status, None, got, str(error))
        except ValueError:
            return Response(status, None, got, "not JSON")
        return Response(status, data, got)

    def close(self) -> None:
        self.pools.clear()


def _read_bounded(reply: urllib3.BaseHTTPResponse, limit: int) -> Optional[bytes]:
    """The body, decoded, or None as soon as it is longer than ``limit`` bytes."""
    chunks, size = [], 0
    for chunk in reply.stream(16 * 1024):
        size += len(chunk)
        if size > limit:
            return None
        chunks.append(chunk)
    return b"".join(chunks)
