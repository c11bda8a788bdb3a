"""What the comparison bench reads of a process it did not start in-line: its own CPU time and
resident memory from ``/proc``, so each of the bench's processes (simulator, service, bare app,
FreeSWITCH) is measured apart; and the percentile the tables print."""
import os
from typing import Optional, Sequence

TICKS = os.sysconf("SC_CLK_TCK")
PAGE_KIB = os.sysconf("SC_PAGE_SIZE") // 1024


def cpu_seconds(pid: int) -> float:
    """User + system CPU of one process so far, every thread of it (not its children's)."""
    with open("/proc/%d/stat" % pid) as handle:
        fields = handle.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS


def rss_kib(pid: int) -> int:
    with open("/proc/%d/statm" % pid) as handle:
        return int(handle.read().split()[1]) * PAGE_KIB


def open_fds(pid: int) -> int:
    """Descriptors the process has open now (its sockets among them)."""
    return len(os.listdir("/proc/%d/fd" % pid))


def percentile(values: Sequence[float], q: float) -> Optional[float]:
    if not values:
        return None
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]
