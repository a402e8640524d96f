"""Kept 5xx rows parked on disk while a big log is read (``why502 stats``).

Why: every 5xx request is kept for the per-request join with the error log, and during an
outage a log can hold hundreds of thousands of them; held in memory they made the reading
phase grow with the file (+60 MB for 59k rows on the 5M-line benchmark log).  Rows are
written in blocks to Arrow IPC files in a private temporary directory and read back once, for
the join, after the reading phase has freed its buffers.  ``close()`` removes the directories
(the app calls it in a ``finally``); whatever a run that is cut short leaves is removed with
the run's scratch directory (``sources.scratch``).
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from typing import TYPE_CHECKING

from why502.sources.scratch import scratch_dir

if TYPE_CHECKING:
    import polars as pl

SPILL_ROWS = 20_000


class DiskFrames:
    """An append-only list of frames with the same columns, kept on disk in blocks of about
    ``block_rows`` rows (the ``evidence.stats.frames.FrameStore`` protocol)."""

    def __init__(self, block_rows: int = SPILL_ROWS) -> None:
        self.block_rows = block_rows
        self.rows = 0
        self._pending: list[pl.DataFrame] = []
        self._pending_rows = 0
        self._files: list[str] = []
        self._dirs: list[str] = []
        self.in_memory = False  # set when the disk refused a block

    def new(self) -> DiskFrames:
        """An empty store of the same kind (for another accumulator)."""
        return DiskFrames(self.block_rows)

    def add(self, frame: pl.DataFrame) -> None:
        self._pending.append(frame)
        self._pending_rows += frame.height
        self.rows += frame.height
        if self._pending_rows >= self.block_rows:
            self._flush()

    def take(self, other: DiskFrames) -> None:
        """Move ``other``'s frames, in order, to the end of this list."""
        self._flush()
        other._flush()
        if self._pending:  # this store could not write: the rest must follow in memory
            for frame in other.blocks():
                self._pending.append(frame)
                self._pending_rows += frame.height
            self.rows += other.rows
            other.close()
            return
        self._files.extend(other._files)
        self._dirs.extend(other._dirs)
        self._pending, self._pending_rows = other._pending, other._pending_rows
        self.in_memory = other.in_memory
        self.rows += other.rows
        other._files, other._dirs, other._pending, other._pending_rows, other.rows = [], [], [], 0, 0

    def blocks(self) -> Iterator[pl.DataFrame]:
        """The frames one block at a time, in order (one file in memory at once)."""
        import polars as pl

        for f in self._files:
            yield pl.read_ipc(f)
        if self._pending:
            yield pl.concat(self._pending, how="vertical_relaxed")

    def close(self) -> None:
        for d in self._dirs:
            shutil.rmtree(d, ignore_errors=True)
        self._dirs, self._files, self._pending, self.rows = [], [], [], 0

    def _flush(self) -> None:
        if not self._pending or self.in_memory:
            return
        import polars as pl

        block = pl.concat(self._pending, how="vertical_relaxed")
        try:
            if not self._dirs:
                self._dirs.append(scratch_dir("5xx-"))
            path = os.path.join(self._dirs[0], f"{len(self._files):05d}-{id(self):x}.arrow")
            block.write_ipc(path)
        except OSError:
            # no writable temporary directory, or a full disk: keep the rows in memory (the
            # answer is the same, only the memory bound is lost); read-only is not an error
            self.in_memory = True
            self._pending = [block]
            return
        self._files.append(path)
        self._pending, self._pending_rows = [], 0
