"""A call's channel variables as the service knows them: what the switch's newest event said,
with the service's own writes since.

Every channel event carries every channel variable, about a hundred headers. Most events are
never read for them, so an event is kept as it came and parsed only when all the variables
are asked for; one variable asked by name is looked up in it alone. The service's own writes
(``uuid_setvar``) do not parse it either: a write is newer than the event not yet taken (the
switch answered the write after sending that event), so it is kept beside it and laid over it
when it is taken. An event that comes after a write is newer than it and has the last word.

An event passed over for a newer one is dropped: the newer holds all it held, except a
variable unset between the two, which is then rightly gone. The variable a secret passes
through (``secret_header``) is never taken from an event.
"""
from typing import Dict, Iterable, Mapping, Optional, Tuple

PREFIX = "variable_"


class ChannelVariables:
    def __init__(self, first: Mapping[str, str], secret_header: str) -> None:
        """``first``: the headers of the switch's first word on the call (the connect reply)."""
        self._secret = secret_header
        self._known: Dict[str, str] = self._from(first)
        self._unread: Optional[Mapping[str, str]] = None   # the newest event, not parsed
        self._written: Dict[str, str] = {}                 # our writes since it came

    def _from(self, headers: Mapping[str, str]) -> Dict[str, str]:
        return {name[len(PREFIX):]: value for name, value in headers.items()
                if name.startswith(PREFIX) and name != self._secret}

    def arrived(self, headers: Mapping[str, str]) -> None:
        """A channel event came (the event greenlet: nothing here blocks or parses)."""
        if self._written:        # older than this event: beneath it
            self._known.update(self._written)
            self._written.clear()
        self._unread = headers

    def all(self) -> Dict[str, str]:
        """Every variable: the newest event parsed now if it was not yet, our writes over it."""
        if self._unread is not None:
            self._known.update(self._from(self._unread))
            self._unread = None
        if self._written:
            self._known.update(self._written)
            self._written.clear()
        return self._known

    def get(self, name: str) -> Optional[str]:
        """One variable, as ``all().get(name)`` would give it, without parsing the rest."""
        if name in self._written:
            return self._written[name]
        if self._unread is not None:
            key = PREFIX + name
            value = self._unread.get(key) if key != self._secret else None
            if value is not None:
                return value
        return self._known.get(name)

    def write(self, name: str, value: str) -> None:
        """We set ``name`` on the switch (it answered): newer than any event not yet taken."""
        (self._known if self._unread is None else self._written)[name] = str(value)

    def write_all(self, pairs: Iterable[Tuple[str, str]]) -> None:
        for name, value in pairs:
            self.write(name, value)

    def remove(self, name: str) -> None:
        """We unset ``name`` on the switch; rare, so the newest event is taken first."""
        self.all().pop(name, None)
