"""Naming what the caller heard by the catalog key it was rendered from.

The switch hears a file, a text or a value; the key (``card.number``) is known only where the
prompt was rendered. So the dry run listens to the catalog's renderings of its call
(``orchestrator.catalog.RENDER_OBSERVERS``) and lines them up with the simulator's record: each
heard prompt takes the key of the oldest rendering not yet heard whose words end what the switch
played (a value said must be said by ``say``). A short value of a rendering never heard (a
digit) could still end an unrelated ``say``; prompts of a flow's own steps have no key at all.
Renderings never heard (a list the caller barged into) are passed over; a rendering of several
segments (``payment_approved``: words, digits, a spelled code) is one prompt heard, as is the
entry prompt of several keys (an error, then the question), which names each of them.
"""
from __future__ import annotations

import re
from typing import Dict, List, Optional, Tuple

from orchestrator import catalog

from .expect import HeardPrompt

_NOT_WORD = re.compile(r"[\W_]+", re.UNICODE)


def _plain(text: str) -> str:
    return _NOT_WORD.sub("", text).lower()


class Renderings:
    """The renderings of one call's prompts, as the catalog made them; a context manager that
    listens while the call runs."""

    def __init__(self) -> None:
        self.by_call: Dict[str, List[Tuple[int, Tuple[str, ...], List[Tuple[str, str]]]]] = {}
        self._count = 0

    def __enter__(self) -> "Renderings":
        catalog.RENDER_OBSERVERS.append(self._heard_of)
        return self

    def __exit__(self, *exc) -> None:
        catalog.RENDER_OBSERVERS.remove(self._heard_of)

    def _heard_of(self, uuid, keys, values) -> None:
        if uuid is None:
            return
        if isinstance(values, str):      # an entry prompt: what play_and_get_digits plays
            texts = [("entry", _plain(values))]
        else:
            texts = [(prompt.kind, _plain(prompt.value)) for prompt in values]
        self._count += 1
        self.by_call.setdefault(uuid, []).append((self._count, keys, texts))

    def name(self, uuid: str, heard) -> Tuple[List[HeardPrompt], Dict[int, str]]:
        """The prompts heard (``record.heard``), one per rendering, keys named where known;
        and the label of each index of ``heard`` for the timeline."""
        pending = list(self.by_call.get(uuid, []))
        prompts: List[HeardPrompt] = []
        labels: Dict[int, str] = {}
        last: Optional[int] = None
        for index, item in enumerate(heard):
            plain = _plain(item.arg)
            found = None
            for position, (serial, keys, texts) in enumerate(pending):
                if any(_carries(item.app, plain, text) for text in texts):
                    found = position
                    break
            if found is None:
                prompts.append(HeardPrompt(None, item.arg, item.number))
                last = None
                continue
            serial, keys, texts = pending[found]
            # a segment heard: the rendering stays pending for its other segments
            texts = [text for text in texts if not _carries(item.app, plain, text)]
            pending = pending[found:] if texts else pending[found + 1:]
            if texts:
                pending[0] = (serial, keys, texts)
            labels[index] = ", ".join(keys)
            if serial != last:
                prompts.extend(HeardPrompt(key, item.arg, item.number) for key in keys)
            last = serial
        return prompts, labels


def _carries(app: str, heard: str, text: Tuple[str, str]) -> bool:
    """Whether what the switch played (``app``, its argument made plain) is this segment: its
    words end the argument (``engine|voice|words``, ``language kind method gender value``,
    ``say:words``), a value said is said by ``say``, and a recording may be one of a
    ``file_string://`` list."""
    kind, plain = text
    if not plain:
        return False
    if kind == "say":
        return app == "say" and heard.endswith(plain)
    if kind == "file":
        return plain in heard
    return heard.endswith(plain)
