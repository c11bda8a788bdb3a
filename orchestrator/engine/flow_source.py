"""Reading a flow file: at most ``MAX_FLOW_BYTES`` of it, whatever its size on disk.

A 27 MB file was read whole and then not validated in a minute; a file past the bound is
now one problem at 1:1 without reading more than one byte past the bound (a FIFO or a device
named as a flow cannot make the reader wait for, or hold, more). ``validate``, ``load_flow``
and the flow library all read through here, so they give the same answer for a file.
"""
from __future__ import annotations

import os
from typing import Union

from .loader import MAX_FLOW_BYTES
from .problems import FlowError, Problem


def read_flow_file(path: Union[str, "os.PathLike[str]"], source_name: str = "") -> str:
    """The text of the flow file at ``path``; ``FlowError`` (one problem at 1:1) when it cannot
    be read, is not UTF-8, or is larger than ``MAX_FLOW_BYTES``."""
    name = source_name or os.fspath(path)
    try:
        with open(path, "rb") as handle:
            data = handle.read(MAX_FLOW_BYTES + 1)
    except OSError as exc:
        raise FlowError([Problem(name, 1, 1, f"cannot read the file: {exc.strerror or exc}")])
    if len(data) > MAX_FLOW_BYTES:
        raise FlowError([Problem(name, 1, 1, f"the file is larger than {MAX_FLOW_BYTES} bytes "
                                             "(1 MiB), the most a flow may be; not read")])
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise FlowError([Problem(name, 1, 1, f"cannot read the file: {exc}")])
