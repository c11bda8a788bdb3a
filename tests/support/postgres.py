"""A real PostgreSQL for tests: found, or started here on loopback, one schema per test.

Where the server comes from, in order:

1. ``PAYIVR_TEST_POSTGRES``, a ``postgresql://`` URL of a server to use (a superuser's, or one
   that may create schemas);
2. a private throwaway server, the default: Debian's ``postgresql`` binaries
   (``/usr/lib/postgresql/<version>/bin``; installed with apt-get when missing and run as
   root, ``apt-get update`` only if the install fails without it), ``initdb`` into a
   temporary folder and ``postgres`` on 127.0.0.1 and a free port, with its socket in that
   folder; run as the ``postgres`` user (or ``nobody``) when the tests run as root, since the
   server refuses root. Stopped and removed when the session ends. Nothing of the machine's
   own clusters is used or touched;
3. a server already answering on 127.0.0.1:5432 (trust authentication, the ``postgres`` user).

When none can be had, the tests are skipped with the reason, except in CI (``CI=true``),
where a skip would hide that nothing was proven: they fail. Each test gets a schema of its own
(``Server.schema_url``), dropped after it.
"""
import glob
import os
import secrets
import shutil
import socket
import subprocess
import tempfile
import time
import urllib.parse
from typing import Optional

import pg8000.native
import pytest

FIND_ENV = "PAYIVR_TEST_POSTGRES"
APT_ENV = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
INSTALL = ["apt-get", "install", "-y", "--no-install-recommends", "postgresql"]
ADMIN = "payivr"              # the private server's superuser
START_TIMEOUT = 30


def unavailable(reason):
    if os.environ.get("CI", "").lower() in ("true", "1", "yes"):
        pytest.fail("PostgreSQL is required in CI: %s" % reason, pytrace=False)
    pytest.skip(reason)


def binaries() -> Optional[str]:
    """The newest ``/usr/lib/postgresql/<version>/bin`` with initdb and postgres, or None."""
    found = [path for path in glob.glob("/usr/lib/postgresql/*/bin")
             if os.path.exists(os.path.join(path, "initdb"))
             and os.path.exists(os.path.join(path, "postgres"))]
    found.sort(key=lambda path: int(path.split("/")[-2]) if path.split("/")[-2].isdigit() else 0)
    return found[-1] if found else None


def install() -> Optional[str]:
    """Debian's postgresql package, when run as root with apt-get; the binaries' folder."""
    if not shutil.which("apt-get") or os.geteuid() != 0:
        return None
    for commands in ([INSTALL], [["apt-get", "update"], INSTALL]):   # update only if needed
        for command in commands:
            if subprocess.run(command, env=APT_ENV, capture_output=True, timeout=900).returncode:
                break
        else:
            return binaries()
    return None


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _answers(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=1):
            return True
    except OSError:
        return False


class Server:
    """A PostgreSQL server the tests may create schemas on; ``url`` is its admin URL."""

    def __init__(self, url: str, origin: str) -> None:
        self.url, self.origin = url, origin
        parts = urllib.parse.urlsplit(url)
        self.host, self.port = parts.hostname or "127.0.0.1", parts.port or 5432

    def connect(self) -> pg8000.native.Connection:
        """A connection of the admin's, for a test to look or to interfere."""
        parts = urllib.parse.urlsplit(self.url)
        return pg8000.native.Connection(
            urllib.parse.unquote(parts.username or ADMIN), host=self.host, port=self.port,
            database=urllib.parse.unquote(parts.path.lstrip("/")) or "postgres",
            password=urllib.parse.unquote(parts.password) if parts.password else None,
            timeout=10, application_name="payivr-tests")

    def create_schema(self) -> str:
        name = "t_%s" % secrets.token_hex(6)
        with self.connect() as con:
            con.run("CREATE SCHEMA %s" % name)
        return name

    def drop_schema(self, name: str) -> None:
        with self.connect() as con:
            con.run("DROP SCHEMA IF EXISTS %s CASCADE" % name)

    def schema_url(self, schema: str, host: Optional[str] = None, port: Optional[int] = None) -> str:
        """The admin URL with ``search_path`` set to ``schema`` and the connections named
        ``payivr-<schema>`` (through ``host:port`` when given: a relay in front of the server)."""
        parts = urllib.parse.urlsplit(self.url)
        netloc = "%s@%s:%d" % (parts.netloc.rpartition("@")[0] or ADMIN,
                               host or self.host, port or self.port)
        query = urllib.parse.urlencode({"options": "-c search_path=%s" % schema,
                                        "application_name": "payivr-%s" % schema})
        return urllib.parse.urlunsplit(("postgresql", netloc, parts.path or "/postgres", query, ""))

    def stop(self) -> None:
        """A found server is not ours to stop."""


class PrivateServer(Server):
    """initdb + postgres in a temporary folder, on loopback and a free port."""

    def __init__(self, bindir: str) -> None:
        self.bindir = bindir
        self.folder = tempfile.mkdtemp(prefix="payivr-pg-")
        self.data = os.path.join(self.folder, "data")
        self.log = os.path.join(self.folder, "server.log")
        self.user = self._unprivileged_user()
        if self.user is not None:
            os.chown(self.folder, *self.user[1:])
        port = free_port()
        self._as_user([os.path.join(bindir, "initdb"), "-D", self.data, "-U", ADMIN,
                       "-A", "trust", "-E", "UTF8", "--no-sync", "--no-instructions"])
        # fsync off: a throwaway server; a crash loses nothing a test needs
        self._as_user([os.path.join(bindir, "pg_ctl"), "-D", self.data, "-l", self.log, "-w",
                       "-t", str(START_TIMEOUT), "-o",
                       "-h 127.0.0.1 -p %d -k %s -c fsync=off -c full_page_writes=off "
                       "-c max_connections=200" % (port, self.folder), "start"])
        super().__init__("postgresql://%s@127.0.0.1:%d/postgres" % (ADMIN, port), "private")

    @staticmethod
    def _unprivileged_user():
        if os.geteuid() != 0:
            return None
        import pwd
        for name in ("postgres", "nobody"):
            try:
                entry = pwd.getpwnam(name)
                return name, entry.pw_uid, entry.pw_gid
            except KeyError:
                continue
        raise RuntimeError("running as root and no postgres or nobody user to run the server")

    def _as_user(self, command, check=True):
        if self.user is not None:
            command = ["runuser", "-u", self.user[0], "--"] + command
        result = subprocess.run(command, capture_output=True, text=True, timeout=START_TIMEOUT + 30,
                                cwd=self.folder)
        if check and result.returncode != 0:
            log = open(self.log).read()[-2000:] if os.path.exists(self.log) else ""
            raise RuntimeError("%s failed: %s %s %s" % (command[-1], result.stdout[-1000:],
                                                         result.stderr[-1000:], log))
        return result

    def restart(self) -> None:
        """A real restart (``pg_ctl restart -m fast``): every connection is cut."""
        # -l again: without it the new server writes to pg_ctl's output, held open forever
        self._as_user([os.path.join(self.bindir, "pg_ctl"), "-D", self.data, "-l", self.log,
                       "-w", "-m", "fast", "-t", str(START_TIMEOUT), "restart"])

    def stop(self) -> None:
        self._as_user([os.path.join(self.bindir, "pg_ctl"), "-D", self.data, "-m", "immediate",
                       "-w", "stop"], check=False)
        shutil.rmtree(self.folder, ignore_errors=True)


def start_or_find() -> Server:
    """The server the suite uses (the module docstring says which); unavailable() if none."""
    given = os.environ.get(FIND_ENV)
    if given:
        return Server(given, FIND_ENV)
    bindir = binaries() or install()
    if bindir is not None:
        started = time.monotonic()
        server = PrivateServer(bindir)
        server.started_in = time.monotonic() - started
        return server
    if _answers("127.0.0.1", 5432):
        return Server("postgresql://postgres@127.0.0.1:5432/postgres", "127.0.0.1:5432")
    unavailable("no PostgreSQL: set %s to a server's URL, or install Debian's postgresql "
                "package (the tests install it themselves when run as root)" % FIND_ENV)
    raise AssertionError("unreachable")


class Schema:
    """A test's own schema on ``server``: ``url`` for ``store.url``; the store's connections
    carry ``application_name``, so a test can find them (``terminate``) and the teardown ends
    them before the schema is dropped."""

    def __init__(self, server: Server) -> None:
        self.server = server
        self.name = server.create_schema()
        self.application_name = "payivr-%s" % self.name
        self.url = server.schema_url(self.name)

    def url_through(self, host: str, port: int) -> str:
        return self.server.schema_url(self.name, host, port)

    def terminate(self) -> int:
        """Kill every connection of this schema's stores: how many there were."""
        return terminate_connections(self.server, self.application_name)

    def drop(self) -> None:
        terminate_connections(self.server, self.application_name)
        self.server.drop_schema(self.name)


def terminate_connections(server: Server, application_name: str) -> int:
    """Kill every connection of ``application_name`` (pg_terminate_backend): how many."""
    with server.connect() as con:
        rows = con.run("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                       "WHERE application_name = :name", name=application_name)
    return sum(1 for (killed,) in rows if killed)
