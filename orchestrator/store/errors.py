"""The error types of the store, apart so that the store, its backends and its migrations
share them.

Callers catch ``StoreError`` alone: whatever the backend, a write that could not be made is
one (the ``authorize`` step then ends the call on its error path before the gateway is called,
or leaves the payment ``pending`` for reconciliation after). The subclasses say why, for a
start-up message, a metric or a retry: ``StoreConflict`` (a key or a number already taken),
``StoreTimeout`` (the database did not answer in time) and ``StoreUnavailable`` (it could not
be reached, however many times it was tried).
"""


class StoreError(Exception):
    """The store refused a write, or cannot be opened or used; the message says why."""


class StoreCannotOpen(StoreError):
    """The store cannot be opened at all (a folder the user cannot write, a path off its volume,
    a database server that refuses us): ``reason`` is the backend's own words, for a start-up
    message that can add why."""

    def __init__(self, path: str, reason: str) -> None:
        super().__init__("payment store %s cannot be opened: %s" % (path, reason))
        self.path, self.reason = path, reason


class StoreConflict(StoreError):
    """A row with that key is there already (a unique column): nothing was written."""


class StoreTimeout(StoreError):
    """The database did not answer within the store's timeout (a lock held elsewhere, a slow
    server); the statement was cancelled and nothing of it was written."""


class StoreUnavailable(StoreError):
    """The database could not be reached, or the connection was lost, on every attempt."""
