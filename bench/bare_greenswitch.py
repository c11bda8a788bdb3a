"""The comparison bench's reference: a bare greenswitch outbound app doing the minimal call.

    python -m bench.bare_greenswitch --port 8099 [--linger 1]

Exactly the minimal call's exchange, written the way greenswitch's README writes an app:
``connect`` (the server sends it), ``myevents``, ``linger``, ``answer``, ``playback`` (waiting
for its CHANNEL_EXECUTE_COMPLETE), ``hangup``; then greenswitch's own ``stop`` says ``exit``.
No flow, no store, no metrics, no timeouts of its own: what it costs is the floor a greenswitch
app pays per call on this machine, to set the service's cost beside. It prints ``ready`` on
stdout once listening. It runs only against the simulator or a lab switch; its file path is the
one ``bench.sim_process`` checks, or ``--file`` (a real switch plays a file it has).
"""
from gevent import monkey

monkey.patch_all()

import argparse  # noqa: E402
import logging  # noqa: E402
import sys  # noqa: E402
from typing import List, Optional  # noqa: E402

import gevent  # noqa: E402
from greenswitch.esl import OutboundESLServer  # noqa: E402

MINIMAL_FILE = "bench/minimal.wav"


class MinimalCall:
    linger = 1
    file = MINIMAL_FILE

    def __init__(self, session) -> None:
        self.session = session

    def run(self) -> None:
        session = self.session
        session.myevents()
        session.linger(self.linger)
        session.answer()
        session.playback(self.file, block=True)
        session.hangup()


def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.bare_greenswitch")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--linger", type=int, default=1)
    parser.add_argument("--file", default=MINIMAL_FILE,
                        help="what to play (a real switch: a file under its sound prefix)")
    parser.add_argument("--max-connections", type=int, default=20000)
    parser.add_argument("--census", metavar="PATH",
                        help="on SIGUSR2, write the live greenlets' count here (bench.greenlet_census)")
    args = parser.parse_args(argv)
    if args.census:
        from bench.greenlet_census import install
        install(args.census)
    logging.basicConfig(level=logging.WARNING)
    MinimalCall.linger = args.linger
    MinimalCall.file = args.file
    server = OutboundESLServer(bind_address="127.0.0.1", bind_port=args.port,
                               application=MinimalCall, max_connections=args.max_connections)
    listening = gevent.spawn(server.listen)
    while server.bound_port is None and not listening.dead:
        gevent.sleep(0.01)
    print("ready", flush=True)
    listening.join()
    return 0


if __name__ == "__main__":
    sys.exit(main())
