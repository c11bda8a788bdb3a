"""The one error type of the store, apart so that the store and its migrations share it."""


class StoreError(Exception):
    """The store refused a write, or cannot be opened or used; the message says why."""


class StoreCannotOpen(StoreError):
    """The file cannot be opened at all (a folder the user cannot write, a path off its volume):
    ``reason`` is SQLite's own words, for a start-up message that can add why."""

    def __init__(self, path: str, reason: str) -> None:
        super().__init__("payment store %s cannot be opened: %s" % (path, reason))
        self.path, self.reason = path, reason
