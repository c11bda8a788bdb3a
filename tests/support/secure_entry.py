"""The orchestrator's side of ``freeswitch_conf/scripts/pay_secure.lua`` (docs/secure-entry.md),
as the tests play it: the FIFO the script writes its one line to, the one-time names of those
FIFOs, and the ``pay_secure_play`` encoding. Used on the real switch (tests/live) and by the
conformance replay against the simulator."""
import os
import secrets
import stat
import string
import time
from urllib.parse import quote

import gevent

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SCRIPT = os.path.join(REPO, "freeswitch_conf", "scripts", "pay_secure.lua")


def token():
    """A one-time FIFO name: letters only, so no run of digits is ever in a path on the wire."""
    return "t" + "".join(secrets.choice(string.ascii_lowercase) for _ in range(24))


def encode_segments(*segments):
    """``pay_secure_play`` from segments given as tuples of fields (docs/secure-entry.md):
    fields percent-encoded (RFC 3986 unreserved characters kept), joined by ``,`` and ``&``."""
    return "&".join(",".join(quote(str(field), safe="") for field in segment)
                    for segment in segments)


class Fifo:
    """A FIFO made and opened for reading the way the orchestrator does it: ``mkfifo`` 0620,
    ``O_RDONLY|O_NONBLOCK`` before the execute."""

    def __init__(self, directory, name=None, open_reader=True):
        self.path = os.path.join(directory, name or token())
        os.mkfifo(self.path, 0o620)
        self.fd = None
        if open_reader:
            self.open()

    def open(self):
        self.fd = os.open(self.path, os.O_RDONLY | os.O_NONBLOCK)
        return self

    def is_fifo(self):
        return stat.S_ISFIFO(os.lstat(self.path).st_mode)

    def line(self, timeout):
        """The first line written, or None when none came within ``timeout`` seconds. Empty
        reads (no writer yet, or a writer gone) are not the end: only the deadline is."""
        deadline = time.monotonic() + timeout
        data = b""
        while b"\n" not in data:
            try:
                data += os.read(self.fd, 4096)
            except BlockingIOError:
                pass
            if b"\n" in data:
                break
            if time.monotonic() >= deadline:
                return None
            gevent.sleep(0.02)
        return data.split(b"\n", 1)[0].decode("ascii") + "\n"

    def close(self):
        if self.fd is not None:
            os.close(self.fd)
            self.fd = None
        if os.path.lexists(self.path):
            os.unlink(self.path)
