"""The one reader of each stream a run reads (stdin, a FIFO such as ``<(zcat ...)``, a
character device), its first bytes peeked and replayed to the reads that follow.

Why: a stream can be read once, and a run looks at its head before reading it whole (a gzip
magic, a container runtime's framing, the log's format for the edge readers'
``app.stats.lb`` batch sizes and answering pass: ``sources.byte_chunks.head_lines``).  Both log
readers (``sources.byte_chunks`` and ``sources.logfiles``) used to hold stdin each their own way:
the first kept what it peeked in a replay of its own, the second read ``sys.stdin.buffer``
directly, so when a sniff through the first came before a read through the second (``classify
--log-type caddy --format jsonl -``: its batch size and answering pass sniff the head), the 256
KiB the sniff had taken were lost to the read -- the rows of the log's first ~500 lines, and all
of a gzip'ed stdin (its magic was in the lost head).  Every reader
of a stream now goes through :func:`replay_source`, so a head peeked by any of them is read by
whichever reads the stream next.
"""

from __future__ import annotations

import io
import sys
from typing import BinaryIO

from why502.sources.opening import open_stream

STDIN = "-"


class Replay:
    """A stream that cannot seek, with the bytes peeked from it (to guess the format, to spot
    gzip) replayed to the reads after.  ``peek(n)`` reads more of the stream when fewer than
    ``n`` bytes are held (the first peek of two bytes, for gzip's magic, must not make a later
    peek of 256 KiB, for the format, see two)."""

    def __init__(self, stream: BinaryIO, owned: bool) -> None:
        self.stream = stream
        self.owned = owned  # opened here (a FIFO): closed with the reader; stdin stays open
        self.head = b""  # peeked, not yet read
        self.ended = False  # the stream gave no more bytes to a peek
        # bytes the stream gave (peeked or read): 0 after a whole read is an empty stream, which
        # ``diagnose`` must not take for a log that showed nothing wrong (``stream_bytes``)
        self.got = 0

    def peek(self, n: int) -> bytes:
        """The bytes held, at least the next ``n`` (fewer at the end of the stream), not
        consumed (as a buffered reader's ``peek``, which may give more than asked)."""
        while len(self.head) < n and not self.ended:
            more = self.stream.read(n - len(self.head))
            if not more:
                self.ended = True
            self.got += len(more)
            self.head += more
        return self.head

    def read(self, n: int = -1) -> bytes:
        if not self.head:
            data = self.stream.read(n)
            self.got += len(data or b"")
            return data
        if n < 0:
            more = self.stream.read()
            self.got += len(more)
            out, self.head = self.head + more, b""
            return out
        out, self.head = self.head[:n], self.head[n:]
        return out

    def readinto(self, b: memoryview | bytearray) -> int:
        """As a raw reader's: one read, the peeked bytes first (``sources.logfiles._chunks``
        reads through it in place)."""
        if not self.head:
            readinto = getattr(self.stream, "readinto", None)
            if readinto is not None:
                got: int | None = readinto(b)
                self.got += got or 0
                return got or 0
            data = self.stream.read(len(b))
            self.got += len(data)
        else:
            data, self.head = self.head[:len(b)], self.head[len(b):]
        b[:len(data)] = data
        return len(data)

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return False

    def tell(self) -> int:
        raise io.UnsupportedOperation("a stream has no position")

    def close(self) -> None:
        if self.owned:
            self.stream.close()


_replays: dict[str, Replay] = {}


def replay_source(path: str) -> Replay:
    """The run's one reader of stdin (``-``) or of the stream at ``path`` (opened with bounds:
    a FIFO nobody writes or /dev/zero must not hang, ``sources.opening.open_stream``), so a
    head peeked by one reader is not lost to the reader that reads the stream next."""
    src = _replays.get(path)
    if path == STDIN:
        if src is None or src.stream is not sys.stdin.buffer:  # (a test's own stdin: a new one)
            src = _replays[path] = Replay(sys.stdin.buffer, owned=False)
        return src
    if src is None or src.stream.closed:
        src = _replays[path] = Replay(open_stream(path), owned=True)
    return src


def stream_bytes(path: str) -> int | None:
    """How many bytes the run's reader of the stream ``path`` (stdin: ``-``) has had from it so
    far, or None when nothing read it.  Why: a stream cannot be looked at again once read, so
    whether a piped log held anything at all (``: | why502 diagnose --error-log -``) is known
    only from its one reader; an empty one is no evidence (``sources.logfiles.holds_lines``)."""
    src = _replays.get(path)
    if src is None or (path == STDIN and src.stream is not sys.stdin.buffer):
        return None
    return src.got
