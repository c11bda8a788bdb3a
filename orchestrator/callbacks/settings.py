"""A receiver's settings: what ``tenants.<name>.webhook`` (or ``agent_api.webhooks.<name>``)
says, with the defaults for what it leaves out.

The config loader has checked the types (``agent/settings.py`` holds the schema); this only
fills defaults and names them, so the sender and the writer read one typed value.
"""
from dataclasses import dataclass, field
from typing import Any, Dict, Mapping, Optional

DEFAULT_TIMEOUT = 5.0          # seconds a request may take, connect and answer
DEFAULT_QUEUE_SIZE = 10000     # rows waiting for one tenant's receiver; past it: dropped
DEFAULT_WORKERS = 2            # requests at once to one receiver, per instance
DEFAULT_MAX_AGE = 86400.0      # a row not delivered after this long is given up
DEFAULT_BACKOFF_BASE = 0.5     # the first retry's wait (before jitter)
DEFAULT_BACKOFF_CAP = 300.0    # the longest wait between two attempts
DEFAULT_MAX_BODY = 65536       # bytes: a body longer than this is never stored


@dataclass(frozen=True)
class ReceiverSettings:
    url: str
    secret: str = field(repr=False)
    timeout: float = DEFAULT_TIMEOUT
    max_attempts: Optional[int] = None    # None: retried until max_age
    queue_size: int = DEFAULT_QUEUE_SIZE
    workers: int = DEFAULT_WORKERS
    max_age: float = DEFAULT_MAX_AGE
    backoff_base: float = DEFAULT_BACKOFF_BASE
    backoff_cap: float = DEFAULT_BACKOFF_CAP
    max_body: int = DEFAULT_MAX_BODY

    @classmethod
    def of(cls, receiver: Mapping[str, Any]) -> "ReceiverSettings":
        known = {name: receiver[name] for name in cls.__dataclass_fields__ if name in receiver}
        return cls(**known)


def receivers_of(config_receivers: Optional[Mapping[str, Mapping[str, Any]]]
                 ) -> Dict[str, ReceiverSettings]:
    """Each tenant's receiver, from ``agent_api.webhooks`` as the config loader leaves it (the
    tenant blocks' ``webhook`` included)."""
    return {tenant: ReceiverSettings.of(receiver)
            for tenant, receiver in (config_receivers or {}).items()}
