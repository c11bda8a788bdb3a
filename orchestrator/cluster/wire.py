"""What instances say to each other over PostgreSQL notifications, and how big it may be.

Each message is one JSON object sent with ``pg_notify(channel, text)``. PostgreSQL refuses a
payload of 8000 bytes or more (``NOTIFY``: "must be shorter than 8000 bytes" in the default
build), so ``encode`` refuses one at ``MAX_PAYLOAD`` with a clear error before the database
would: a forwarded request or a reply that does not fit is answered as too large, never cut.
What is sent is what the agent API shows (masked values only) and request bodies the API has
already refused card-like values in.

Kinds: ``request`` (an agent API call for the holder to run: method, path, body, principal),
``reply`` (its status and body), ``watch``/``unwatch`` (follow a session's changes), ``event``
(one change of a watched session) and ``end`` (the watched session ended).
"""
import hashlib
import json
from typing import Any, Dict

MAX_PAYLOAD = 7999          # bytes of UTF-8: PostgreSQL's limit is "shorter than 8000"
KINDS = ("request", "reply", "watch", "unwatch", "event", "end")
Message = Dict[str, Any]


class TooLarge(ValueError):
    """A message that does not fit in one notification."""


class Malformed(ValueError):
    """A notification that is not one of ours."""


def inbox_of(instance: str) -> str:
    """The channel ``instance`` listens on: a plain identifier whatever the name holds (a
    host name, a process id), short of PostgreSQL's 63 bytes."""
    return "payivr_" + hashlib.sha256(instance.encode("utf-8")).hexdigest()[:24]


def encode(message: Message) -> str:
    text = json.dumps(message, sort_keys=True, separators=(",", ":"))
    size = len(text.encode("utf-8"))
    if size > MAX_PAYLOAD:
        raise TooLarge("a %s of %d bytes does not fit in one notification (at most %d)"
                       % (message.get("kind", "message"), size, MAX_PAYLOAD))
    return text


def decode(text: str) -> Message:
    try:
        message = json.loads(text)
    except ValueError:
        raise Malformed("not JSON") from None
    if not isinstance(message, dict) or message.get("kind") not in KINDS:
        raise Malformed("not a relay message")
    return message
