"""Logging: one line per event, the call's context on each line, and redaction on every handler.

Redaction is defence in depth. The service never passes card digits to a logger, but a
library, an exception message or a future mistake might; so every handler masks whatever may
be a card number (13 to 19 digits passing Luhn, however split: ``orchestrator/card_numbers.py``)
and values of DTMF-digit fields before the line is written, in the message, the traceback and
every structured field. Ids and references stay readable (``sbx_cdda1234567b5421``,
``INV-20261201-0042``, call UUIDs): a log whose ids are masked cannot be followed. Context
(call, flow, step) rides a ``ContextVar``, which gevent keeps per greenlet, so lines from
concurrent calls never mix.
"""
from __future__ import annotations

import contextvars
import json
import logging
import re
import sys
import time
from typing import IO, Any, Dict, Optional, Type, Union

from orchestrator.card_numbers import UUID, mask_cards

_context: "contextvars.ContextVar[Dict[str, Any]]" = contextvars.ContextVar("log_context", default={})

DTMF_FIELD = re.compile(r"(?i)\b(DTMF-Digit|dtmf|digits?)(\s*[=:]\s*\"?)([0-9*#A-D]+)")
CONTEXT_KEYS = ("call", "session", "tenant", "flow", "step", "node")
# ``extra={LOG_FIELDS: {...}}``: structured fields of one line (the audit log's), after the
# context keys, redacted like the message
LOG_FIELDS = "log_fields"


def redact(text: str) -> str:
    """Mask what may be a card number, and DTMF digit values.

    UUIDs (call and payment ids) are left whole: their digit groups are not card digits, and
    a log line whose ids are masked cannot be followed.
    """
    parts = UUID.split(text)
    ids = UUID.findall(text)
    out = []
    for index, part in enumerate(parts):
        part = mask_cards(part)
        out.append(DTMF_FIELD.sub(lambda m: m.group(1) + m.group(2) + "*" * len(m.group(3)), part))
        if index < len(ids):
            out.append(ids[index])
    return "".join(out)


class log_context:
    """Add fields (call, flow, step, ...) to every line logged inside the block.

    A class, not a generator context manager: every call enters it a dozen times (its
    steps among them), and the generator's machinery cost more than the fields."""

    __slots__ = ("_values", "_token")

    def __init__(self, **values: Any) -> None:
        self._values = values

    def __enter__(self) -> None:
        merged = dict(_context.get())
        for key, value in self._values.items():
            if value is not None:
                merged[key] = value
        self._token = _context.set(merged)

    def __exit__(self, *exc: Any) -> None:
        _context.reset(self._token)


def current_context() -> Dict[str, Any]:
    return dict(_context.get())


class RedactingFilter(logging.Filter):
    """Renders the message and any traceback once, redacted, so no formatter sees the raw text."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        if record.exc_info:
            if not record.exc_text:
                record.exc_text = logging.Formatter().formatException(record.exc_info)
            record.exc_info = None
        if record.exc_text:
            record.exc_text = redact(record.exc_text)
        record.msg = redact(message)
        record.args = None
        for key, value in current_context().items():
            if not hasattr(record, key):
                setattr(record, key, value)
        for key in CONTEXT_KEYS + ("esl_peer",):
            value = getattr(record, key, None)
            if isinstance(value, str):
                setattr(record, key, redact(value))
        fields = getattr(record, LOG_FIELDS, None)
        if isinstance(fields, dict):
            setattr(record, LOG_FIELDS, {str(k): redact(str(v)) for k, v in fields.items() if v is not None})
        return True


def _fields(record: logging.LogRecord) -> Dict[str, str]:
    fields = {"ts": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
              + ".%03dZ" % record.msecs,
              "level": record.levelname.lower(), "logger": record.name}
    for key in CONTEXT_KEYS + ("esl_peer",):
        value = getattr(record, key, None)
        if value is not None:
            fields[key] = str(value)
    for key, value in (getattr(record, LOG_FIELDS, None) or {}).items():
        fields.setdefault(key, str(value))
    fields["msg"] = record.getMessage()
    if record.exc_text:
        fields["exc"] = record.exc_text
    return fields


class LogfmtFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        parts = []
        for key, value in _fields(record).items():
            if value == "" or any(c in value for c in ' ="\n'):
                value = '"%s"' % value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
            parts.append("%s=%s" % (key, value))
        return " ".join(parts)


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        return json.dumps(_fields(record), ensure_ascii=False)


FORMATTERS: Dict[str, Type[logging.Formatter]] = {"logfmt": LogfmtFormatter, "json": JsonFormatter}


def ensure_redaction() -> int:
    """Put a ``RedactingFilter`` on every handler that has none: the root's, any a library
    attached to its own logger, and ``logging.lastResort``. Returns how many were added."""
    loggers = [logging.getLogger()] + [
        lg for lg in logging.Logger.manager.loggerDict.values() if isinstance(lg, logging.Logger)]
    handlers = {id(h): h for lg in loggers for h in lg.handlers}
    if logging.lastResort is not None:
        handlers[id(logging.lastResort)] = logging.lastResort
    added = 0
    for handler in handlers.values():
        if not any(isinstance(f, RedactingFilter) for f in handler.filters):
            handler.addFilter(RedactingFilter())
            added += 1
    return added


def setup_logging(level: Union[str, int] = "INFO", fmt: str = "logfmt",
                  stream: Optional[IO[str]] = None) -> logging.Handler:
    """Route the root logger to one stream handler that always redacts (and make sure every
    other handler redacts too)."""
    if fmt not in FORMATTERS:
        raise ValueError("log format must be one of %s" % ", ".join(FORMATTERS))
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(FORMATTERS[fmt]())
    handler.addFilter(RedactingFilter())
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level.upper() if isinstance(level, str) else level)
    ensure_redaction()
    return handler
