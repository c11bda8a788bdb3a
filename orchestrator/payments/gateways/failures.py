"""Failures inside a gateway call, let out without the frames that held the card.

While a connector builds and sends a request inside ``card.reveal()``, its frames hold the
card's digits as plain strings: the revealed card, the values ``_prepare`` builds the body
from, the body itself, the transport's arguments. An exception raised there carries all of
those frames in its traceback (``tb_frame.f_locals``), and so does every exception chained to
it (``__context__``, ``__cause__``): a crash reporter or an error handler that captures locals
would ship the card. So nothing raised inside the reveal leaves as it was raised:

- an ``Exception`` (a connector's bug, ``RecursionError``, ``MemoryError``) becomes a value,
  ``GatewayError("internal", outcome_unknown)``, told by its type and where it was raised,
  never by its message (which may quote a value) nor its locals. ``outcome_unknown`` is True
  once the request may have left: the gateway may have charged the card, so the payment is
  flagged for reconciliation and the caller is told it could not be confirmed.
- anything else (``GreenletExit`` when the call is killed, ``gevent.Timeout``,
  ``KeyboardInterrupt``) must still stop what it stops, so it goes on, the same object (a
  ``Timeout`` is recognised by identity), with no traceback and no chain (``stripped``).

Callers raise the stripped exception after their ``except`` block has ended: raised inside
it, Python would chain the original back on as ``__context__``.
"""
import os
import traceback
from typing import TypeVar

from .results import GatewayError

INTERNAL = "internal"

E = TypeVar("E", bound=BaseException)


def where(error: BaseException) -> str:
    """``"RecursionError at decoder.py:353 (raw_decode)"``: the type and the innermost frame,
    names and numbers from the code only."""
    frames = traceback.StackSummary.extract(traceback.walk_tb(error.__traceback__),
                                            lookup_lines=False)
    if not frames:
        return type(error).__name__
    last = frames[-1]
    return "%s at %s:%s (%s)" % (type(error).__name__, os.path.basename(last.filename),
                                 last.lineno, last.name)


def unexpected(error: Exception, outcome_unknown: bool) -> GatewayError:
    """The GatewayError an unexpected exception in a gateway call stands for."""
    return GatewayError(INTERNAL, outcome_unknown, "unexpected " + where(error))


def stripped(error: E) -> E:
    """``error`` without its traceback and without the exceptions chained to it."""
    error.__traceback__ = None
    error.__context__ = None
    error.__cause__ = None
    error.__suppress_context__ = True
    return error
