"""How long a request forwarded between two instances takes over PostgreSQL LISTEN/NOTIFY.

Two relays (``orchestrator/cluster``) on one store, each with its listener; one asks, the other
answers at once with a session-sized body. Prints the round trip's median, 95th and 99th
percentiles and the slowest, and the NOTIFY payload sizes used: what an agent's request to a
call on another instance adds to its answer.

    .venv/bin/python -m bench.relay --url postgresql://user@127.0.0.1:5432/db [--requests 500]
"""
import argparse
import statistics
import sys
import time

from orchestrator.cluster import wire
from orchestrator.cluster.listener import NotificationListener
from orchestrator.cluster.relay import Relay
from orchestrator.store import open_store

SESSION = {"id": "ps_" + "0" * 24, "tenant": "acme", "agent": "alice", "state": "collecting",
           "fields": {name: {"state": "valid", "digits": 0, "masked": "***", "error_type": None,
                             "attempt": 1} for name in ("number", "expiry", "security_code")},
           "amount": 1250, "currency": "EUR", "reference": "INV-1"}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", required=True, help="postgresql:// URL of a store to use")
    parser.add_argument("--requests", type=int, default=500)
    args = parser.parse_args(argv)
    store = open_store(args.url)
    relays, listeners = [], []
    for name in ("bench-asker", "bench-holder"):
        relay = Relay(store.backend, name)
        listener = NotificationListener(store.backend.dedicated_connection, relay.inbox, relay.deliver)
        relay.start()
        listener.start()
        if not listener.listening.wait(10):
            print("the listener did not start", file=sys.stderr)
            return 1
        relays.append(relay)
        listeners.append(listener)
    asker, holder = relays
    holder.serve = lambda message: (200, SESSION)
    seconds = []
    try:
        for _ in range(args.requests):
            started = time.perf_counter()
            asker.ask("bench-holder", {"kind": "request", "method": "GET", "path": "/sessions/x",
                                       "body": {}, "principal": {"tenant": "acme", "agent": None}})
            seconds.append(time.perf_counter() - started)
    finally:
        for part in listeners + relays:
            part.stop()
        store.close()
    seconds.sort()
    reply = len(wire.encode({"kind": "reply", "id": "0" * 16, "status": 200, "body": SESSION}))

    def at(share: float) -> float:
        return seconds[min(len(seconds) - 1, int(share * len(seconds)))] * 1000
    print("forwarded requests: %d, round trip ms: median %.2f, p95 %.2f, p99 %.2f, max %.2f"
          % (len(seconds), statistics.median(seconds) * 1000, at(0.95), at(0.99), seconds[-1] * 1000))
    print("reply payload: %d bytes of at most %d" % (reply, wire.MAX_PAYLOAD))
    return 0


if __name__ == "__main__":
    from gevent import monkey
    monkey.patch_all()    # pg8000's sockets cooperative, as in the service
    sys.exit(main())
