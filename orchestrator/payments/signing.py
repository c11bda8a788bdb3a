"""HMAC-SHA256 request signatures for the generic HTTP connector (and the sandbox that checks them).

The signature covers the timestamp and the exact body bytes sent: ``hex(HMAC(secret,
timestamp + "." + body))``, in the ``X-Signature`` header as ``v1=<hex>``, with the Unix time in
``X-Timestamp``. A receiver recomputes it over the bytes it received and refuses a stale
timestamp, so a captured request cannot be replayed later.
"""
import hashlib
import hmac
import time

SIGNATURE_HEADER = "X-Signature"
TIMESTAMP_HEADER = "X-Timestamp"
MAX_SKEW_SECONDS = 300


def sign(secret, timestamp, body):
    message = str(timestamp).encode("ascii") + b"." + (body or b"")
    return "v1=" + hmac.new(_key(secret), message, hashlib.sha256).hexdigest()


def signed_headers(secret, body, now=None):
    timestamp = int(now if now is not None else time.time())
    return {TIMESTAMP_HEADER: str(timestamp), SIGNATURE_HEADER: sign(secret, timestamp, body)}


def verify(secret, timestamp, signature, body, now=None, max_skew=MAX_SKEW_SECONDS):
    """True when the signature matches the body and the timestamp is fresh."""
    try:
        stamp = int(timestamp)
    except (TypeError, ValueError):
        return False
    now = now if now is not None else time.time()
    if abs(now - stamp) > max_skew or not isinstance(signature, str):
        return False
    return hmac.compare_digest(sign(secret, stamp, body), signature)


def _key(secret):
    return secret.encode("utf-8") if isinstance(secret, str) else bytes(secret)
