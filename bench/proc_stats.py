"""What the comparison bench reads of a process it did not start in-line: its own CPU time and
resident memory from ``/proc``, so each of the bench's processes (simulator, service, bare app,
FreeSWITCH) is measured apart; and the percentile the tables print."""
import os
from typing import Dict, Optional, Sequence

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


def fd_kinds(pid: int) -> Dict[str, int]:
    """The process's descriptors counted by what they are: a TCP socket by its state and the
    port at its far end (``tcp ESTABLISHED to :8443``), a listening one by its own port, other
    sockets, pipes and files by kind or path. Two snapshots' difference names what was left
    behind, which a bare count cannot (a pool's kept connections are not a leak)."""
    inodes = _tcp_sockets(pid)
    counts: Dict[str, int] = {}
    for fd in os.listdir("/proc/%d/fd" % pid):
        try:
            target = os.readlink("/proc/%d/fd/%s" % (pid, fd))
        except OSError:
            continue       # closed while being read
        if target.startswith("socket:["):
            kind = inodes.get(target[8:-1], "socket (not tcp)")
        elif target.startswith("pipe:"):
            kind = "pipe"
        else:
            kind = target
        counts[kind] = counts.get(kind, 0) + 1
    return counts


_TCP_STATES = {"01": "ESTABLISHED", "06": "TIME_WAIT", "08": "CLOSE_WAIT", "0A": "LISTEN",
               "04": "FIN_WAIT1", "05": "FIN_WAIT2", "09": "LAST_ACK", "0B": "CLOSING",
               "02": "SYN_SENT", "03": "SYN_RECV", "07": "CLOSE"}


def _tcp_sockets(pid: int) -> Dict[str, str]:
    """inode: ``tcp STATE to :PORT`` (or ``tcp LISTEN on :PORT``) from the process's net table."""
    found: Dict[str, str] = {}
    for table in ("tcp", "tcp6"):
        try:
            with open("/proc/%d/net/%s" % (pid, table)) as handle:
                rows = handle.read().splitlines()[1:]
        except OSError:
            continue
        for row in rows:
            fields = row.split()
            local, remote, state, inode = fields[1], fields[2], fields[3], fields[9]
            name = _TCP_STATES.get(state, state)
            if name == "LISTEN":
                found[inode] = "tcp LISTEN on :%d" % int(local.rsplit(":", 1)[1], 16)
            else:
                found[inode] = "tcp %s to :%d" % (name, int(remote.rsplit(":", 1)[1], 16))
    return found


def grown(before: Dict[str, int], after: Dict[str, int]) -> Dict[str, int]:
    """The kinds of descriptor there are more of in ``after``, by how many more."""
    return {kind: n - before.get(kind, 0) for kind, n in after.items() if n > before.get(kind, 0)}


def percentile(values: Sequence[float], q: float) -> Optional[float]:
    if not values:
        return None
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]
