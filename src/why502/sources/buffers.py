"""Reusable read buffers: anonymous mappings handed out to a reader and back by its consumer.

Why: reading each batch or chunk of a log into a new ``bytes`` costs a fresh allocation each
time -- its pages faulted in and zeroed, then unmapped (``classify``'s batches, BENCHMARKS.md
stop 48) or left in an allocator arena as a hole the next, slightly bigger one does not fit
(``stats``' chunks, stop 51).  A buffer is an anonymous ``mmap``: its pages are touched only as
far as reads reach.  ``take`` never waits: with no buffer free it makes a new one, so a consumer
that keeps one costs memory, never a hang; ``give`` keeps at most ``keep`` of them.  Used by
``sources.logfiles.ReadBuffers`` (one size) and ``sources.byte_chunks`` (a size per read).
"""

from __future__ import annotations

import contextlib
import mmap
import queue


class MappedBuffers:
    """A pool of anonymous mappings of at least ``size`` bytes (``take``'s default);
    ``private``: ``MAP_PRIVATE`` (plain anonymous memory) rather than ``mmap``'s shared default."""

    def __init__(self, size: int = 0, keep: int = 4, private: bool = False) -> None:
        self.size = size
        self.keep = keep
        self.private = private
        self._free: queue.SimpleQueue[mmap.mmap] = queue.SimpleQueue()

    def take(self, size: int | None = None) -> mmap.mmap:
        """A free buffer of at least ``size`` bytes (default ``self.size``), else a new one; a
        free one too small for it is closed."""
        want = self.size if size is None else size
        while True:
            try:
                buf = self._free.get_nowait()
            except queue.Empty:
                return mmap.mmap(-1, want, flags=mmap.MAP_PRIVATE) if self.private else mmap.mmap(-1, want)
            if len(buf) >= want:
                return buf
            close(buf)

    def give(self, buf: mmap.mmap) -> None:
        """``buf`` back in the pool (its consumer no longer reads it), or closed past ``keep``."""
        if self._free.qsize() < self.keep:
            self._free.put(buf)
        else:
            close(buf)


def close(buf: mmap.mmap) -> None:
    """Unmap ``buf`` now; while a view of it is still held, the collector does it later."""
    with contextlib.suppress(BufferError):
        buf.close()
