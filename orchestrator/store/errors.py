"""The one error type of the store, apart so that the store and its migrations share it."""


class StoreError(Exception):
    """The store refused a write, or cannot be opened or used; the message says why."""
