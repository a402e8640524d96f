"""The newlines of a block of bytes: ``_lines.count_newlines`` (sixteen bytes at a time, ~5x
``bytes.count``) when it was built and the native passes are not turned off
(``WHY502_NATIVE=0``), else ``bytes.count``.  Every reader numbers its blocks' lines with it
(``logfiles._numbered``), and ``watch``'s follower counts the lines it hands out
(``follow.hand_out``)."""

from __future__ import annotations

import os
from collections.abc import Callable

from why502.parsers.extensions import native_module

Block = bytes | bytearray | memoryview
_LINES = "why502.sources._lines"


def _counter(native: str) -> Callable[[Block], int]:
    """The counter for the value of ``WHY502_NATIVE`` (and the build)."""
    module = native_module(_LINES, native)
    count: Callable[[Block], int] = module.count_newlines if module is not None else _count_bytes
    return count


def _count_bytes(data: Block) -> int:
    return (bytes(data) if isinstance(data, memoryview) else data).count(b"\n")


def newlines(data: Block) -> int:
    """``data.count(b"\\n")``."""
    return _counter(os.environ.get("WHY502_NATIVE", "1"))(data)


#: ``_lines.read_cut``: (readinto, carry, size) -> (block or None, rest, bytes read)
ReadCut = Callable[[Callable[[memoryview], int | None], bytes, int], tuple[bytes | None, bytes, int]]


def read_cut() -> ReadCut | None:
    """``_lines.read_cut`` (a reader's next block of whole lines read in place: no copy of the
    block at its last newline) when it was built and the native passes are not turned off, else
    None: ``logfiles._chunks`` reads and slices."""
    got: ReadCut | None = getattr(native_module(_LINES), "read_cut", None)
    return got
