"""The lines of watch's window, kept in memory: what an incident is diagnosed from.

Every block of whole lines a follower hands out is kept here, per followed log, with the second
it was read, until it leaves the window (``Rules.window`` seconds).  When an incident opens,
these lines -- not the logs on disk, not a ``--since`` cut of them by their timestamps -- are
what ``why502 diagnose`` reads (``diagnosis``), so ``watch`` and ``diagnose`` give the same
cause on the same window by construction: the same lines through the same pipeline.

Memory is bounded by bytes, not by lines: ``budget`` bytes per log (default ``WINDOW_BYTES``);
past it the oldest blocks go first, so at a high line rate the window holds its most recent
part (at 200k lines/s of ~190 bytes, 8 MiB is the last ~0.2 s; a failure burst is diagnosed
from its latest lines, which are the ones that say what is failing now).  How much was left out
is said (``dropped_lines``) and goes into the diagnosis' notes.
"""

from __future__ import annotations

from collections import deque

__all__ = ["WINDOW_BYTES", "LogWindow"]

WINDOW_BYTES = 8 << 20
"""Bytes of window kept per followed log (the agent's memory bound for its window)."""


class LogWindow:
    """The last ``seconds`` seconds of one log's lines, at most ``budget`` bytes."""

    def __init__(self, seconds: float, budget: int = WINDOW_BYTES) -> None:
        self.seconds = seconds
        self.budget = budget
        self.blocks: deque[tuple[float, bytes, int]] = deque()  # (read at, lines, line count)
        self.size = 0
        self.lines = 0
        self.dropped_lines = 0  # lines of the window left out by the budget since the last clear
        # while an incident is open: blocks read at or after this moment stay (up to the
        # budget) when they leave the window, so the diagnosis at the close reads the whole
        # incident, not only its last ``seconds`` (``Watch._hold``)
        self.hold_from: float | None = None

    def add(self, now: float, data: bytes, count: int) -> None:
        """Keep a block of whole lines read at ``now`` (monotonic seconds)."""
        if not data:
            return
        if len(data) > self.budget:
            # one block bigger than the budget: its last whole lines that fit
            cut = data.find(b"\n", len(data) - self.budget - 1) + 1
            kept = data.count(b"\n", cut)
            self.dropped_lines += count - kept
            data, count = data[cut:], kept
        self.blocks.append((now, data, count))
        self.size += len(data)
        self.lines += count
        self.trim(now)

    def trim(self, now: float) -> None:
        """Drop the blocks older than the window, then the oldest ones past the budget."""
        while self.blocks and ((self.blocks[0][0] <= now - self.seconds
                                and (self.hold_from is None or self.blocks[0][0] < self.hold_from))
                               or self.size > self.budget):
            at, data, count = self.blocks.popleft()
            self.size -= len(data)
            self.lines -= count
            if at > now - self.seconds:
                self.dropped_lines += count

    def snapshot(self) -> bytes:
        """The window's lines, oldest first."""
        return b"".join(data for _at, data, _n in self.blocks)
