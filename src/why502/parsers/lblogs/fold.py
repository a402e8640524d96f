"""The rows of an edge log a native pass counted itself instead of handing them over as columns
(issue 28 item 2): what ``stats`` does with a row is count it by a few of its values (and, for a
failure the proxy made itself, keep its code's first and last time), so the pass groups the rows
by exactly those values, across the blocks of a read, and hands the groups over as four small
frames (:class:`Counted`).  ``LbStatsAccumulator.add_counted`` sums them with the
expressions it applies to rows, weighted by the counts, so every view comes out as if the rows
had been handed over (``tests/stats/test_lb_fold.py``).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    import polars as pl

#: a block of raw lines as a fold reads it: bytes, or a view of a read buffer (``app.stats.lb``
#: reads a plain file into buffers it reuses; the native passes take any contiguous buffer)
Raw = bytes | memoryview

#: the columns of each frame of :class:`Counted` (``n``: the rows of the group)
TIMELINE_KEYS = ("minute", "status", "made_by", "retries")
PER_KEYS = ("status", "made_by", "retries", "upstream_ms")


@dataclass(frozen=True)
class Counted:
    """Rows counted by a native pass, as groups: ``timeline`` by (minute: the time's first 16
    characters, status, made_by, retries), ``target`` and ``group`` by (that key, status,
    made_by, retries, upstream_ms); each with its rows ``n``, every row in each of the three;
    ``codes`` the rows the proxy made the status of by (code, status, made_by) with their
    ``symptom``, ``proxy_status``, ``cause``, ``failed`` and ``kind`` as the family's reader
    decides them, their least and greatest time (``first``, ``last``) and ``n``."""

    rows: int
    timeline: pl.DataFrame
    target: pl.DataFrame
    group: pl.DataFrame
    codes: pl.DataFrame


class BlockFold(Protocol):
    """A native block reader that counts rows across the blocks of one read (one per read: a
    block and a ``take`` must not run at once)."""

    def block(self, data: Raw) -> tuple[pl.DataFrame, list[int], int]:
        """``BlockReader``'s answer on ``data`` (the rows it hands over, the ``idx`` of the lines
        it hands back) and how many rows it counted instead."""

    def size(self) -> tuple[int, int]:
        """(groups of its largest table -- of its tables together, ``JsonFold``'s -- and rows
        counted) since the last ``take``."""

    def take(self) -> Counted | None:
        """The groups counted since the last ``take`` (None: no row), and the tables emptied."""

    def codes_only(self) -> None:
        """From now on only ``Counted.codes`` is wanted (``classify``'s summary): a fold may
        leave its other tables empty.  Called before the first block."""

    def share(self, other: BlockFold) -> None:
        """Decide groups with the decisions ``other`` -- another fold of the same read, made by
        the same maker (``FoldPerThread``) -- keeps, and it with this one's: a fold that keeps
        none does nothing.  Called before the first block."""


class FoldPerThread:
    """A ``BlockFold`` that is one fold per thread that reads blocks: each worker counts into its
    own (a fold serves one block at a time), and ``take_all`` takes every one once the blocks
    are done.  The groups of several folds sum like those of one (``Counted`` is counts, and
    least/greatest times): what lets ``classify``'s summary run its native pass on two cores."""

    def __init__(self, make: Callable[[], BlockFold | None], codes_only: bool = False) -> None:
        self.make, self.wants_codes_only = make, codes_only
        self.local = threading.local()
        self.lock = threading.Lock()
        self.folds: list[BlockFold] = []

    def _mine(self) -> BlockFold:
        fold: BlockFold | None = getattr(self.local, "fold", None)
        if fold is None:
            fold = self.make()
            if fold is None:  # the first was made, so the pass is there: no other answer
                raise RuntimeError("the native pass went away during a read")
            if self.wants_codes_only:
                fold.codes_only()
            self.local.fold = fold
            with self.lock:
                if self.folds:
                    fold.share(self.folds[0])
                self.folds.append(fold)
        return fold

    def block(self, data: Raw) -> tuple[pl.DataFrame, list[int], int]:
        return self._mine().block(data)

    def size(self) -> tuple[int, int]:
        return self._mine().size()

    def take(self) -> Counted | None:
        """The calling thread's groups (a worker's, when its fold is large)."""
        return self._mine().take()

    def codes_only(self) -> None:
        self.wants_codes_only = True

    def share(self, other: BlockFold) -> None:
        """Its folds share their decisions among themselves (``_mine``), not with another read's."""

    def take_all(self) -> list[Counted]:
        """Every thread's groups: call once no block is being read."""
        with self.lock:
            folds = list(self.folds)
        return [got for fold in folds if (got := fold.take()) is not None]
