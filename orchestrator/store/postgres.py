"""The PostgreSQL backend: the system of record when several instances share the work.

The driver is pg8000, pure Python over the standard ``socket`` and ``ssl`` modules, which
gevent's monkey patching makes cooperative: a query waiting on the server is one greenlet
waiting, and every other call goes on (a C driver such as psycopg2 blocks the whole process
unless a wait callback is installed, and psycopg 3's gevent support depends on the order of
imports). Every wait is bounded: the server cancels a statement past ``timeout``
(``statement_timeout``, a lock held elsewhere included), and the socket gives up a little
after that (a server that went silent).

Connections come from a small pool (``pool_size``): a slow statement holds one, the other
calls' payments take the others; a call finding none free within ``timeout`` gets a
``StoreTimeout``. A connection that is lost (the server restarted, the connection killed,
the network gone) is dropped and the transaction run again on a new one, at most ``retries``
times in all, waiting ``backoff.exponential`` between attempts; then ``StoreUnavailable``.
Each failure is reported to ``health`` (``/readyz``, ``payivr_store_up``,
``payivr_store_errors_total``).

``store.url`` is a libpq-style URL: ``postgresql://user:password@host:port/database``, with
``sslmode`` (disable, require, verify-ca, verify-full), ``application_name`` and ``options``
(``-c search_path=name`` for a schema of one's own) and ``connect_timeout`` (how long the
socket waits for the server; ``timeout`` + 2 s by default) understood; the password may be
percent-encoded, and the config may take it from the environment (``${env:...}``).
"""
import dataclasses
import logging
import ssl
import threading
import time
import urllib.parse
from dataclasses import dataclass, field
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple, TypeVar

import pg8000.native
from pg8000.exceptions import DatabaseError, InterfaceError

from ..backoff import exponential
from .backend import Row, StoreHealth, Transaction
from .errors import (StoreCannotOpen, StoreConflict, StoreError, StoreTimeout,
                     StoreUnavailable)
from .migrations import migrate
from .postgres_migrations import MIGRATIONS, POSTGRES

log = logging.getLogger(__name__)
T = TypeVar("T")

SCHEMES = ("postgresql", "postgres")
SSL_MODES = ("disable", "require", "verify-ca", "verify-full")
URL_PARAMETERS = ("sslmode", "application_name", "options", "connect_timeout")
APPLICATION_NAME = "payivr-orchestrator"
# The socket waits this much longer than the server's statement_timeout: the server's cancel
# comes first, and the connection survives it; the socket's is for a server gone silent.
SOCKET_MARGIN = 2.0
# SQLSTATEs: a key taken; a statement cancelled (statement_timeout) or a lock not had;
# the server shutting down or unable to take us; class 08 (connection exceptions) too.
CONFLICT = "23505"
TIMED_OUT = ("57014", "55P03")
SERVER_GONE = ("57P01", "57P02", "57P03")


@dataclass(frozen=True)
class ConnectSettings:
    host: str
    port: int
    user: str
    database: str
    password: Optional[str] = field(default=None, repr=False)
    sslmode: str = "disable"
    application_name: str = APPLICATION_NAME
    options: Optional[str] = None
    connect_timeout: Optional[float] = None

    @property
    def display(self) -> str:
        """The URL as messages show it: never the password."""
        return "postgresql://%s@%s:%d/%s" % (self.user, self.host, self.port, self.database)


def is_postgres_url(location: str) -> bool:
    return urllib.parse.urlsplit(location).scheme in SCHEMES


def parse_url(url: str) -> ConnectSettings:
    """``ConnectSettings`` from a ``postgresql://`` URL; StoreError saying what is wrong
    (the message never holds the password)."""
    try:
        parts = urllib.parse.urlsplit(url)
        port = parts.port or 5432
    except ValueError as error:
        raise StoreError("store.url: not a PostgreSQL URL: %s" % error) from None
    if parts.scheme not in SCHEMES:
        raise StoreError("store.url: the scheme must be postgresql://, not %s://" % parts.scheme)
    if not parts.hostname:
        raise StoreError("store.url: no host (postgresql://user@host:port/database)")
    database = urllib.parse.unquote(parts.path.lstrip("/"))
    user = urllib.parse.unquote(parts.username or "")
    if not user or not database:
        raise StoreError("store.url: name the user and the database "
                         "(postgresql://user@host:port/database)")
    query: Dict[str, str] = {}
    for name, values in urllib.parse.parse_qs(parts.query, keep_blank_values=True).items():
        if name not in URL_PARAMETERS:
            raise StoreError("store.url: unknown parameter %r (known: %s)"
                             % (name, ", ".join(URL_PARAMETERS)))
        query[name] = values[-1]
    sslmode = query.get("sslmode", "disable")
    if sslmode not in SSL_MODES:
        raise StoreError("store.url: sslmode must be one of %s" % ", ".join(SSL_MODES))
    connect_timeout = None
    if "connect_timeout" in query:
        try:
            connect_timeout = float(query["connect_timeout"])
        except ValueError:
            raise StoreError("store.url: connect_timeout must be a number of seconds") from None
    password = parts.password
    return ConnectSettings(
        host=parts.hostname, port=port, user=user, database=database,
        password=urllib.parse.unquote(password) if password is not None else None,
        sslmode=sslmode, application_name=query.get("application_name") or APPLICATION_NAME,
        options=query.get("options") or None, connect_timeout=connect_timeout)


def _ssl_context(mode: str) -> Optional[ssl.SSLContext]:
    if mode == "disable":
        return None
    context = ssl.create_default_context()
    if mode in ("require", "verify-ca"):
        context.check_hostname = False
    if mode == "require":
        context.verify_mode = ssl.CERT_NONE
    return context


def _sqlstate(error: DatabaseError) -> str:
    details = error.args[0] if error.args and isinstance(error.args[0], dict) else {}
    return str(details.get("C", ""))


def _words(error: BaseException) -> str:
    """What the server or the socket said, without the driver's dict."""
    if isinstance(error, DatabaseError) and error.args and isinstance(error.args[0], dict):
        details = error.args[0]
        return "%s (%s)" % (details.get("M", "error"), details.get("C", "?"))
    cause = error.__cause__ or error.__context__
    text = str(error) or type(error).__name__
    return "%s: %s" % (text, cause) if cause is not None and str(cause) else text


class _Lost(Exception):
    """The connection is gone (or never came): run the transaction again on a new one."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def _placeholders(sql: str) -> Tuple[str, int]:
    """``?`` -> ``:p0, :p1, ...`` (pg8000's native style), outside quoted text."""
    out: List[str] = []
    count, quoted = 0, False
    for char in sql:
        if char == "'":
            quoted = not quoted
        if char == "?" and not quoted:
            out.append(":p%d" % count)
            count += 1
        else:
            out.append(char)
    return "".join(out), count


def _execute(con: Any, sql: str, args: Sequence[object]) -> List[Row]:
    statement, count = _placeholders(sql)
    if count != len(args):
        raise StoreError("%d placeholders and %d values" % (count, len(args)))
    rows = con.run(statement, **{"p%d" % i: value for i, value in enumerate(args)})
    return [tuple(row) for row in rows or []]


class _Transaction:
    def __init__(self, con: Any) -> None:
        self._con = con
        self.rowcount = 0

    def execute(self, sql: str, args: Sequence[object] = ()) -> List[Row]:
        try:
            rows = _execute(self._con, sql, args)
        except DatabaseError as error:
            if _sqlstate(error) == CONFLICT:
                raise StoreConflict(_words(error)) from None
            raise
        self.rowcount = max(0, self._con.row_count or 0)
        return rows


class _Rows:
    def __init__(self, rows: List[Row]) -> None:
        self._rows = rows

    def fetchone(self) -> Any:
        return self._rows[0] if self._rows else None

    def fetchall(self) -> List[Any]:
        return self._rows


class _MigrationConnection:
    """What ``migrations.migrate`` needs, over a pg8000 connection."""

    def __init__(self, con: Any) -> None:
        self._con = con

    def execute(self, sql: str, args: Sequence[Any] = ()) -> _Rows:
        return _Rows(_execute(self._con, sql, list(args)))


class PostgresBackend:
    kind = "postgresql"

    def __init__(self, url: str, password: Optional[str] = None, pool_size: int = 4,
                 timeout: float = 5.0, retries: int = 3, retry_backoff: float = 0.2,
                 migrations: Sequence[Any] = MIGRATIONS) -> None:
        self.settings = parse_url(url)
        if password is not None:
            self.settings = dataclasses.replace(self.settings, password=password)
        self.where = "payment store %s" % self.settings.display
        self.timeout, self.retries, self.retry_backoff = timeout, max(1, retries), retry_backoff
        self.health = StoreHealth(self.kind)
        self._slots = threading.BoundedSemaphore(pool_size)
        self._idle: List[Any] = []
        self._closed = False
        try:
            con = self._connect()
        except _Lost as lost:
            raise StoreCannotOpen(self.settings.display, lost.reason) from None
        except StoreError as error:
            raise StoreCannotOpen(self.settings.display, str(error)) from None
        try:
            self.migrations_applied = migrate(_MigrationConnection(con), self.where,
                                              migrations=migrations, dialect=POSTGRES)
        except StoreError:
            _close_quietly(con)
            raise
        except (DatabaseError, InterfaceError, OSError) as error:
            _close_quietly(con)
            raise StoreError("%s cannot be used: %s" % (self.where, _words(error))) from None
        self._idle.append(con)

    # -- connections ---------------------------------------------------------------------
    def _connect(self) -> Any:
        settings = self.settings
        startup = {"options": settings.options} if settings.options else None
        try:
            con = pg8000.native.Connection(
                settings.user, host=settings.host, port=settings.port,
                database=settings.database, password=settings.password,
                timeout=settings.connect_timeout or self.timeout + SOCKET_MARGIN,
                ssl_context=_ssl_context(settings.sslmode),
                application_name=settings.application_name, startup_params=startup)
        except DatabaseError as error:
            code = _sqlstate(error)
            if code.startswith("08") or code in SERVER_GONE:
                raise _Lost(_words(error)) from None
            # refused for good (a password, a database that is not there): no retry helps
            raise StoreUnavailable("%s: %s" % (self.where, _words(error))) from None
        except (InterfaceError, OSError) as error:
            raise _Lost(_words(error)) from None
        try:
            milliseconds = int(self.timeout * 1000)
            con.run("SET statement_timeout = %d" % milliseconds)
            # a connection that dies in a transaction must not hold its locks for long
            con.run("SET idle_in_transaction_session_timeout = %d" % (milliseconds * 2))
        except (DatabaseError, InterfaceError, OSError) as error:
            _close_quietly(con)
            raise _Lost(_words(error)) from None
        return con

    def dedicated_connection(self) -> Any:
        """A pg8000 connection outside the pool, with the pool's settings, for one owner to
        hold as long as it runs (the cluster relay's listener); StoreUnavailable when none."""
        try:
            return self._connect()
        except _Lost as lost:
            raise StoreUnavailable("%s: %s" % (self.where, lost.reason)) from None

    def _take(self) -> Any:
        if self._closed:
            raise StoreError("%s is closed" % self.where)
        if not self._slots.acquire(timeout=self.timeout):
            self.health.failed("busy", "no connection free")
            raise StoreTimeout("%s: no connection free within %.1fs (every one of the pool is "
                               "busy: a slow database?)" % (self.where, self.timeout))
        try:
            return self._idle.pop() if self._idle else self._connect()
        except BaseException:
            self._slots.release()
            raise

    def _give_back(self, con: Any, broken: bool) -> None:
        if broken or self._closed:
            _close_quietly(con)
        else:
            self._idle.append(con)
        self._slots.release()

    # -- transactions --------------------------------------------------------------------
    def run(self, work: Callable[[Transaction], T]) -> T:
        attempt = 0
        while True:
            attempt += 1
            try:
                result = self._once(work)
            except _Lost as lost:
                self.health.failed("connection", lost.reason, reachable=False)
                if attempt >= self.retries:
                    raise StoreUnavailable("%s: unreachable after %d attempts: %s" % (
                        self.where, attempt, lost.reason)) from None
                log.warning("%s: connection lost (%s); trying again (%d of %d)",
                            self.where, lost.reason, attempt + 1, self.retries)
                # the pool's other idle connections went to the same server: likely gone too
                self._drop_idle()
                if attempt > 1:   # a connection killed while idle: the first retry at once
                    time.sleep(exponential(attempt - 1, self.retry_backoff, cap=2.0))
                continue
            self.health.succeeded()
            return result

    def _once(self, work: Callable[[Transaction], T]) -> T:
        con = self._take()
        broken = True
        try:
            try:
                con.run("BEGIN")
                result = work(_Transaction(con))
                con.run("COMMIT")
                broken = False
                return result
            except StoreConflict:
                broken = not self._rollback(con)
                self.health.failed("conflict", "a unique key already taken")
                raise
            except StoreError:
                broken = not self._rollback(con)
                raise
            except DatabaseError as error:
                code = _sqlstate(error)
                if code.startswith("08") or code in SERVER_GONE:
                    raise _Lost(_words(error)) from None
                broken = not self._rollback(con)
                kind = "timeout" if code in TIMED_OUT else "query"
                self.health.failed(kind, _words(error))
                raise (StoreTimeout if kind == "timeout" else StoreError)(
                    "%s: %s" % (self.where, _words(error))) from None
            except (InterfaceError, OSError) as error:
                if _timed_out(error):
                    # the server went silent past its own timeout: the statement may still
                    # run there; the connection is dropped, the statement not sent again
                    self.health.failed("timeout", _words(error))
                    raise StoreTimeout("%s: no answer within %.1fs" % (
                        self.where, self.timeout + SOCKET_MARGIN)) from None
                raise _Lost(_words(error)) from None
        finally:
            self._give_back(con, broken)

    @staticmethod
    def _rollback(con: Any) -> bool:
        try:
            con.run("ROLLBACK")
            return True
        except Exception:
            return False

    def _drop_idle(self) -> None:
        while self._idle:
            _close_quietly(self._idle.pop())

    def close(self) -> None:
        self._closed = True
        self._drop_idle()


def _timed_out(error: BaseException) -> bool:
    seen: Optional[BaseException] = error
    while seen is not None:
        if isinstance(seen, TimeoutError):
            return True
        seen = seen.__cause__ or seen.__context__
    return False


def _close_quietly(con: Any) -> None:
    try:
        con.close()
    except Exception:
        pass
