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
import urllib.parse
from typing import Any, Mapping, Optional, Union

import requests
import requests.adapters
from urllib3.exceptions import NewConnectionError, ConnectTimeoutError, ReadTimeoutError

from ... import bounded_json

# The most of an answer that is read. A gateway's JSON answer is a few kilobytes; past this it
# is not an answer a connector can use, and reading on would only hold memory for it.
MAX_ANSWER_BYTES = 256 * 1024


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
    """One keep-alive session; bounded connect and read timeouts on every call."""

    def __init__(self, verify: Union[bool, str] = True, connect_timeout: float = 3.0,
                 read_timeout: float = 20.0, max_answer_bytes: int = MAX_ANSWER_BYTES,
                 max_depth: int = bounded_json.MAX_DEPTH) -> None:
        """``max_answer_bytes`` and ``max_depth`` bound what is read of an answer (a web
        service's answers are smaller and flatter than the gateways' defaults allow)."""
        if verify is False:
            raise GatewayConfigError("certificate verification cannot be turned off")
        self.verify = verify
        self.max_answer_bytes, self.max_depth = int(max_answer_bytes), int(max_depth)
        self.timeout = (float(connect_timeout), float(read_timeout))
        self.session = requests.Session()
        self.session.trust_env = False

    def size_pool(self, connections: int) -> None:
        """Keep up to ``connections`` idle keep-alive connections per host (requests keeps 10).
        Sized to ``max_calls`` by the service: every call may be waiting on the gateway at
        once, and past the pool each one's connection was opened for one request and thrown
        away, a TCP and TLS handshake more per payment just when the gateway is busiest."""
        if connections < 1:
            raise GatewayConfigError("a connection pool holds at least one connection")
        for prefix in ("https://", "http://"):
            self.session.mount(prefix, requests.adapters.HTTPAdapter(
                pool_connections=10, pool_maxsize=int(connections), max_retries=0))

    def call(self, method: str, url: str, body: Optional[bytes] = None,
             headers: Optional[Mapping[str, str]] = None) -> Response:
        """Send; return a Response whose ``data`` is the parsed JSON (None if unreadable)."""
        try:
            reply = self.session.request(method, url, data=body, headers=headers,
                                         timeout=self.timeout, verify=self.verify,
                                         allow_redirects=False, stream=True)
        except requests.exceptions.ConnectTimeout:
            raise NotReached("connect", "connect timeout") from None
        except requests.exceptions.SSLError:
            raise NotReached("tls", "TLS handshake or certificate check failed",
                             retryable=False) from None
        except requests.exceptions.ReadTimeout:
            raise OutcomeUnknown("timeout", "no answer within %.1fs" % self.timeout[1]) from None
        except requests.exceptions.ConnectionError as error:
            if _before_sending(error):
                raise NotReached("connect", "connection refused or unreachable") from None
            raise OutcomeUnknown("connection", "connection lost after sending",
                                 resend_if_idempotent=True) from None
        except requests.exceptions.RequestException as error:
            raise OutcomeUnknown("protocol", type(error).__name__) from None
        try:
            content = _read_bounded(reply, self.max_answer_bytes)
        except requests.exceptions.RequestException as error:
            # the request was sent and the answer had begun: whatever broke, it may have acted
            if isinstance(error.args[0] if error.args else None, ReadTimeoutError):
                raise OutcomeUnknown("timeout", "answer stalled for %.1fs" % self.timeout[1]) \
                    from None
            raise OutcomeUnknown("connection", "answer cut off (%s)" % type(error).__name__,
                                 resend_if_idempotent=True) from None
        finally:
            reply.close()   # an answer read to the end keeps its connection; a cut one does not
        if content is None:
            return Response(reply.status_code, None, reply.headers,
                            "larger than %d bytes" % self.max_answer_bytes)
        if not content:
            return Response(reply.status_code, None, reply.headers)
        try:
            data = bounded_json.loads(content, self.max_depth)
        except bounded_json.TooDeep as error:
            return Response(reply.status_code, None, reply.headers, str(error))
        except ValueError:
            return Response(reply.status_code, None, reply.headers, "not JSON")
        return Response(reply.status_code, data, reply.headers)

    def close(self) -> None:
        self.session.close()


def _read_bounded(reply: requests.Response, limit: int) -> Optional[bytes]:
    """The body, decoded, or None as soon as it is longer than ``limit`` bytes."""
    chunks, size = [], 0
    for chunk in reply.iter_content(chunk_size=16 * 1024):
        size += len(chunk)
        if size > limit:
            return None
        chunks.append(chunk)
    return b"".join(chunks)


def _before_sending(error: requests.exceptions.ConnectionError) -> bool:
    reason = getattr(error.args[0], "reason", None) if error.args else None
    return isinstance(reason, (NewConnectionError, ConnectTimeoutError))
