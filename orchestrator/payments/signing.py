"""HMAC-SHA256 request signatures for the generic HTTP connector (and the sandbox that checks them).

The signature covers the timestamp and the exact body bytes sent: ``hex(HMAC(secret,
timestamp + "." + body))``, in the ``X-Signature`` header as ``v1=<hex>``, with the Unix time in
``X-Timestamp``. A receiver recomputes it over the bytes it received and refuses a stale
timestamp, so a captured request cannot be replayed later.
"""
import hashlib
import hmac
import time
from typing import Dict, Optional, Union

Secret = Union[str, bytes]

SIGNATURE_HEADER = "X-Signature"
TIMESTAMP_HEADER = "X-Timestamp"
MAX_SKEW_SECONDS = 300


def sign(secret: Secret, timestamp: Union[int, str], body: Optional[bytes]) -> str:
    message = str(timestamp).encode("ascii") + b"." + (body or b"")
    return "v1=" + hmac.new(_key(secret), message, hashlib.sha256).hexdigest()


def signed_headers(secret: Secret, body: Optional[bytes],
                   now: Optional[float] = None) -> Dict[str, str]:
    timestamp = int(now if now is not None else time.time())
    return {TIMESTAMP_HEADER: str(timestamp), SIGNATURE_HEADER: sign(secret, timestamp, body)}


def verify(secret: Secret, timestamp: Optional[str], signature: Optional[str],
           body: Optional[bytes], now: Optional[float] = None,
           max_skew: float = MAX_SKEW_SECONDS) -> bool:
    """True when the signature matches the body and the timestamp is fresh."""
    if timestamp is None:
        return False
    try:
        stamp = int(timestamp)
    except (TypeError, ValueError):
        return False
    now = now if now is not None else time.time()
    if abs(now - stamp) > max_skew or not isinstance(signature, str):
        return False
    return hmac.compare_digest(sign(secret, stamp, body), signature)


def _key(secret: Secret) -> bytes:
    return secret.encode("utf-8") if isinstance(secret, str) else bytes(secret)
