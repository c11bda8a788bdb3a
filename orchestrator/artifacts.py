"""The files ``orchestrator simulate --artifacts DIR`` leaves for inspection, masked as written.

The simulator's record keeps the wire and the switch's events verbatim (tests need the
truth); these files are for people and tools to read, so they are masked on the way out with
``orchestrator record-esl``'s rules (``orchestrator.esl.transcript``): every digit wherever the
wire carries keyed input, runs of seven digits anywhere else.

* ``wire.txt``: each message, ``--- <t> in|out`` then the raw text ("in": from the service);
* ``switch-events.jsonl``: ``{"t", "event", "headers"}`` a line, each event the channel fired;
* ``payment-events.jsonl``: each typed payment event the service emitted;
* ``metrics.txt``: the service's /metrics page.
"""
import json
import os
from typing import Any, Iterable, Mapping, Optional

from orchestrator.esl.transcript import Conversation, Masker


def write_artifacts(directory: str, record: Any, payment_events: Iterable[Mapping[str, Any]],
                    metrics_page: bytes, masker: Optional[Masker] = None) -> None:
    """Write the four files of one simulated call into ``directory`` (which exists)."""
    masker = masker or Masker()
    conversation = Conversation(masker)
    with open(os.path.join(directory, "wire.txt"), "w", encoding="utf-8") as handle:
        for t, direction, raw in record.transcript:
            masked = conversation.mask(raw, from_switch=direction == "out")
            handle.write("--- %.3f %s\n%s\n" % (t, direction, masked))
    with open(os.path.join(directory, "switch-events.jsonl"), "w", encoding="utf-8") as handle:
        for t, name, headers in record.events:
            handle.write(json.dumps({"t": t, "event": name,
                                     "headers": masker.mask_fields(headers)}) + "\n")
    with open(os.path.join(directory, "payment-events.jsonl"), "w", encoding="utf-8") as handle:
        for event in payment_events:
            handle.write(json.dumps(masker.mask_fields(event)) + "\n")
    with open(os.path.join(directory, "metrics.txt"), "w", encoding="utf-8") as handle:
        handle.write(masker.mask(metrics_page.decode("utf-8", "replace")))
