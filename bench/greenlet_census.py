"""How many greenlets a bench's client process has alive, asked from outside it.

A greenlet left behind by a call (waiting on something that never comes) costs no descriptor
and little memory, so the soak's descriptor and RSS figures would not show it: it is counted.

The client installs the census at start (``install(path)``): on SIGUSR2 it writes the number
of live greenlets, found by a walk of the garbage collector's objects, to ``path``. The walk
costs tens of milliseconds at thousands of calls, so it runs only when asked, between loads.
``python -m bench.greenlet_census PATH ARGS...`` runs ``orchestrator ARGS...`` with it installed.
"""
import gc
import os
import signal
import sys
import time
from typing import List, Optional

ASK_TIMEOUT = 10.0


def live_greenlets() -> int:
    """Greenlets started and not yet finished, the hub and the main greenlet left out."""
    import greenlet
    import gevent
    hub = gevent.get_hub()
    return sum(1 for obj in gc.get_objects()
               if isinstance(obj, greenlet.greenlet) and obj is not hub and obj.parent is not None
               and not obj.dead and bool(obj))


def install(path: str) -> None:
    import gevent

    def census() -> None:
        count = live_greenlets()
        with open(path + ".part", "w", encoding="ascii") as handle:
            handle.write("%d\n" % count)
        os.replace(path + ".part", path)

    gevent.signal_handler(signal.SIGUSR2, census)


def ask(pid: int, path: str, timeout: float = ASK_TIMEOUT) -> int:
    """Signal ``pid`` and read the count it writes to ``path``."""
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass
    os.kill(pid, signal.SIGUSR2)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with open(path, encoding="ascii") as handle:
                return int(handle.read())
        except (FileNotFoundError, ValueError):
            time.sleep(0.05)
    raise RuntimeError("process %d gave no greenlet count within %.0fs" % (pid, timeout))


def main(argv: Optional[List[str]] = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if not args:
        sys.stderr.write("usage: python -m bench.greenlet_census PATH ORCHESTRATOR-ARGS...\n")
        return 2
    from orchestrator.cli import main as orchestrator
    install(args[0])
    return int(orchestrator(args[1:]) or 0)


if __name__ == "__main__":
    sys.exit(main())
