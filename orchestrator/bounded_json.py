"""JSON from a peer, parsed with a bound on how deeply it may nest.

Python's ``json`` decoder recurses once per nested array or object. A document nested a few
thousand levels deep (a few kilobytes of ``[``) makes it raise ``RecursionError``, which is
not a ``ValueError``: it escapes the handlers that expect a parse error, and its traceback
holds the frames of whoever was parsing, a gateway connector with the request body (card
number, expiry, security code) among its locals included. Nothing a gateway, the sandbox's
clients or the agent API's clients send needs more than a few levels, so ``loads`` counts the
nesting before decoding and refuses anything deeper than ``MAX_DEPTH`` with ``TooDeep``, a
``ValueError``: every caller already treats that as "not a document we can read".

The count reads the text once with a regular expression that skips string literals (a
bracket inside a string is not nesting). For valid JSON it is exact; for invalid JSON it can
only count more than the decoder would reach, never less, so the decoder never recurses past
the bound either way. How much is read (the size bound) is the reader's business: the
transport, the sandbox and the agent API each cap the body before it gets here.
"""
import json
import re
from typing import Any, Union

# Deeper than any answer a gateway or a client of ours sends (they use three or four levels),
# far below the interpreter's recursion limit.
MAX_DEPTH = 32

# A string literal (skipped whole, escapes included), or one bracket.
_STRUCTURE = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*"|[\[\]{}]', re.S)


class TooDeep(ValueError):
    """The document nests arrays and objects deeper than allowed; it was not decoded."""

    def __init__(self, limit: int) -> None:
        super().__init__("JSON nested deeper than %d levels" % limit)
        self.limit = limit


def depth_exceeds(text: str, limit: int = MAX_DEPTH) -> bool:
    """Whether ``text`` opens more than ``limit`` arrays or objects inside one another."""
    if text.count("[") + text.count("{") <= limit:
        return False   # too few brackets to get there: no need to look closer
    depth = 0
    for match in _STRUCTURE.finditer(text):
        token = match.group()
        if token in ("[", "{"):
            depth += 1
            if depth > limit:
                return True
        elif token in ("]", "}"):
            depth -= 1
    return False


def loads(document: Union[str, bytes, bytearray], max_depth: int = MAX_DEPTH) -> Any:
    """``json.loads`` that raises ``TooDeep`` (a ValueError) instead of nesting past
    ``max_depth``; bytes are decoded as ``json.loads`` would (UTF-8, -16 or -32)."""
    if isinstance(document, (bytes, bytearray)):
        document = bytes(document).decode(json.detect_encoding(document), "surrogatepass")
    if depth_exceeds(document, max_depth):
        raise TooDeep(max_depth)
    return json.loads(document)
