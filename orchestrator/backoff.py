"""How long to wait before trying again: one capped exponential backoff for every retry loop.

Three things retry, each with its own reason for its shape:

- a gateway connector re-sends an authorization a bounded number of times (``max_attempts`` is
  at most 10), ``backoff * 2^(n-1)`` apart, without jitter: the caller is waiting and the
  delays are part of the gateway's configured timing;
- a status callback (``callbacks/sender.py``) is retried ``base * 2^(n-1)`` apart, capped,
  with equal jitter (``jittered``: half the wait fixed, half drawn): instances sharing a store
  and many rows waiting on one receiver that comes back must not all try at one instant, and
  a wait never shrinks to nothing, so a receiver that is down is not hammered;
- an inbound ESL connection to a node that went away is retried with full jitter over a capped
  exponential, so a restarted switch is not hit by every instance at the same instant.

A library (tenacity, stamina) would bring decorators and retry predicates that none of these
loops needs: each decides by itself what is worth retrying (the gateway policy in particular
depends on whether a request may have reached the gateway), and only needs the delay.
"""
import math
from typing import Callable, Iterator, Optional

# Doubling stops here: past 2^64 times the base every cap in use is reached long before, and
# 2^n must stay a float (an unbounded exponent overflows after some 1000 attempts, which a node
# that stays down for hours reaches).
_MAX_DOUBLINGS = 64


def exponential(attempt: int, base: float, cap: float = math.inf) -> float:
    """Seconds to wait after failed attempt ``attempt`` (1, 2, ...): base * 2^(attempt-1), at
    most ``cap``."""
    return min(cap, base * 2.0 ** min(max(attempt - 1, 0), _MAX_DOUBLINGS))


def delays(base: float, cap: float = math.inf,
           jitter: Optional[Callable[[], float]] = None) -> Iterator[float]:
    """The waits after attempts 1, 2, ... forever. With ``jitter`` (a uniform [0, 1) source such
    as ``random.random``), each wait is a full-jitter draw: jitter() * the capped exponential."""
    attempt = 1
    while True:
        delay = exponential(attempt, base, cap)
        yield jitter() * delay if jitter is not None else delay
        attempt += 1



def jittered(attempt: int, base: float, cap: float, draw: Callable[[], float]) -> float:
    """The wait after failed attempt ``attempt``: half the capped exponential, plus ``draw()``
    (uniform [0, 1), such as ``random.random``) times the other half."""
    delay = exponential(attempt, base, cap)
    return delay / 2.0 + draw() * delay / 2.0
