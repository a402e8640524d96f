"""Where the kept 5xx rows wait until the end of a run: the ``FrameStore`` protocol and its
in-memory form.

Why a protocol: the rows are needed only at the end (the error-log join, ``breakdown``), and
during an outage a log holds hundreds of thousands of them; the app passes a store on disk
(``sources.spill.DiskFrames``) so the reading phase does not grow with the file, while this
layer stays pure (it may not import ``sources``).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, Protocol

import polars as pl

if TYPE_CHECKING:
    from typing_extensions import Self


class FrameStore(Protocol):
    """An append-only list of frames with the same columns, read back block by block."""

    rows: int

    def new(self) -> Self:
        """An empty store of the same kind (for another accumulator)."""
        ...

    def add(self, frame: pl.DataFrame) -> None: ...

    def take(self, other: Self) -> None:
        """Move ``other``'s frames, in order, to the end of this store."""
        ...

    def blocks(self) -> Iterator[pl.DataFrame]: ...

    def close(self) -> None: ...


class MemoryFrames:
    """A ``FrameStore`` in memory."""

    def __init__(self) -> None:
        self.rows = 0
        self._frames: list[pl.DataFrame] = []

    def new(self) -> MemoryFrames:
        return MemoryFrames()

    def add(self, frame: pl.DataFrame) -> None:
        self._frames.append(frame)
        self.rows += frame.height

    def take(self, other: MemoryFrames) -> None:
        for frame in other.blocks():
            self.add(frame)
        other.close()

    def blocks(self) -> Iterator[pl.DataFrame]:
        yield from self._frames

    def close(self) -> None:
        self._frames, self.rows = [], 0
