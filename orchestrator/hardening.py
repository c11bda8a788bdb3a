"""What the process does about itself before it can hold a card: no core dump, no ptrace.

A card number lives in this process's memory for the seconds between the caller keying it
and the gateway answering (``CardData`` wipes it then), and a crash in that window would write
it to disk in a core file (a 57 MB core of a running service held 4 to 7 copies of a card). So
at start: the core size limit goes to 0, hard and soft (a child cannot raise it again), and the
process is marked not dumpable, which also keeps other processes of the same user from
attaching a debugger or reading ``/proc/<pid>/mem``. Both are Linux facts; elsewhere only the
limit is set.
"""
from __future__ import annotations

import ctypes
import ctypes.util
import logging
import resource
import sys

log = logging.getLogger(__name__)

PR_GET_DUMPABLE = 3
PR_SET_DUMPABLE = 4


def _prctl(option: int, value: int = 0) -> int:
    libc = ctypes.CDLL(ctypes.util.find_library("c") or None, use_errno=True)
    return int(libc.prctl(option, value, 0, 0, 0))


def harden_process() -> None:
    """No core dumps and not dumpable; a failure is logged, never fatal (the check below tells)."""
    try:
        resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    except (ValueError, OSError) as exc:
        log.warning("could not turn core dumps off: %s", exc)
    if sys.platform.startswith("linux"):
        try:
            if _prctl(PR_SET_DUMPABLE, 0) != 0:
                log.warning("could not mark the process not dumpable (errno %d)", ctypes.get_errno())
        except (OSError, AttributeError) as exc:
            log.warning("could not mark the process not dumpable: %s", exc)


def hardened() -> bool:
    """Whether this process can write no core dump (and, on Linux, is not dumpable)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_CORE)
    if (soft, hard) != (0, 0):
        return False
    return not sys.platform.startswith("linux") or _prctl(PR_GET_DUMPABLE) == 0
