"""gevent's own error reports, through ``logging`` (and so through redaction) instead of stderr.

When a greenlet dies of an exception nobody waits for, or a callback of the event loop fails,
gevent's hub prints the traceback and the greenlet's repr straight to ``sys.stderr``. That
bypasses the log format and, worse, its redaction: an exception message holding a card number
would reach the terminal, a container log or a journal in clear. The greenlet's repr names its
function and arguments, which may be anything; so the report here names only the function.

``route_hub_errors`` replaces ``Hub.print_exception`` (for every hub, in every thread) with one
``logging`` record at ERROR on ``orchestrator.greenlet``, traceback attached, which every
handler's ``RedactingFilter`` masks before it is written. Nothing else of the hub's error
handling changes: system errors (``KeyboardInterrupt``, ``SystemExit``) still go to the main
greenlet.
"""
from __future__ import annotations

import logging
from typing import Any

from gevent.hub import Hub

from orchestrator.logs import ensure_redaction

log = logging.getLogger("orchestrator.greenlet")

_ORIGINAL = Hub.print_exception


def _describe(context: Any) -> str:
    """What failed, without the repr (a greenlet's shows its arguments)."""
    if context is None:
        return "the event loop"
    if isinstance(context, dict):        # pywsgi reports a request's failure with its environ
        return "an HTTP request"
    run = getattr(context, "_run", None) or getattr(context, "run", None)
    name = getattr(run, "__qualname__", None) or getattr(run, "__name__", None)
    if name:
        return "greenlet running %s" % name
    return type(context).__name__


def _log_exception(hub: Hub, context: Any, t: Any, v: Any, tb: Any) -> None:
    try:
        log.error("uncaught %s in %s", getattr(t, "__name__", "error"), _describe(context),
                  exc_info=(t, v, tb))
    except Exception:  # logging itself failed: the hub must not raise here
        pass


def route_hub_errors() -> None:
    """From now on, the hub's error reports are log records (idempotent); every handler there
    is now, ``logging.lastResort`` included, redacts them."""
    ensure_redaction()
    Hub.print_exception = _log_exception


def restore_hub_errors() -> None:
    """Back to gevent's printing (for tests that check the difference)."""
    Hub.print_exception = _ORIGINAL
