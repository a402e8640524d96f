"""Inflate the next ``.gz`` logs on a thread while this one is parsed (issue 28 item 2).

Why: AWS ALB writes one ``.log.gz`` per load-balancer node every five minutes, so a day of
logs is a folder of hundreds or thousands of small gzip files, and ``classify``/``diagnose``
read them one after the other on the thread that parses them: inflating overlapped nothing.
zlib releases the GIL while it inflates, so one thread that reads the files ahead (opening,
inflating, cutting batches: ``sources.logfiles._file_chunks``, the very same code) runs on the
other core while this thread parses.  Measured (BENCHMARKS.md "2026-11-26 (stop 49)", 1M ALB
lines in 158 files, 534 MB inflated): reading is ~1.5 s of CPU; ``classify``'s parsing thread
went from 10.7-14.6 s to 8.5-9.8 s of CPU and waited 0.03-0.06 s in all for the read-ahead
thread, the whole process's CPU the same.  ``stats`` gains nothing yet: it already read the next
batch while a worker converted the one before (``app.stats.lb._in_order``), and the conversion
(~12 of its ~15 CPU-s) is its critical path.  The wall-time gain (at most the reading's share,
~10 % of ``classify`` today) was within the noise of the shared machine (load 4-7 on 2 cores);
it grows as the parsers get faster -- at the 1M lines/s the project aims for (1 s of parsing
per 1M lines against ~1.5 s of reading), overlapping would cut ~40 % of the wall time.

Bounded: the thread stops reading while the batches it holds ahead reach ``budget`` bytes of
inflated text (a file is never inflated whole: it is read a batch at a time, as without this),
so memory ahead is at most ``budget`` plus one batch.  Everything comes out as the sequential
read gives it: the same batches in the same order, each file's notes (``sources.opening.note``)
recorded on the consuming thread at the same place among its batches, and a read error raised
on the consuming thread after the batches before it -- where ``_tolerant`` judges it as before.
A consumer that stops early (``classify | head``, an exception) stops the thread: closing the
iterator closes the file being read and joins the thread.
"""

from __future__ import annotations

import contextvars
import os
import threading
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Generic, TypeVar

from why502.errors import InputError
from why502.sources.opening import note, notes_into

T = TypeVar("T")

# How many batches of inflated text may wait ahead of the consumer.  The thread inflates and cuts
# a 2 MiB ALB batch in ~6 ms, classify's consumer takes ~40 ms over it (1M lines in 158 files,
# 534 MB inflated, ~255 batches: ~1.5 s of reading against ~11 s of the consumer's thread,
# BENCHMARKS.md stop 49), so the queue is full nearly all the time and one batch waiting would
# do; two leave slack for a thread descheduled on a loaded machine.  Each batch held costs RSS:
# classify's peak was 122 MB one file after the other, 129 / 133 / 138 MB with 1 / 2 / 4 batches
# ahead (one run each).
AHEAD_BATCHES = 2


def budget_for(paths: Sequence[Path | str], batch_bytes: int) -> int:
    """The bytes that may be held ahead for reading ``paths`` (0: read them one after the other,
    on this thread, as before): ``AHEAD_BATCHES`` batches when at least two of the inputs are
    ``.gz`` files and none is stdin; ``WHY502_READ_AHEAD=0`` turns it off, a size (bytes or
    K/M/G) sets the budget.  Plain files and a single file keep the sequential read: reading a
    plain file costs little next to parsing it (nothing to overlap)."""
    from why502.parsers.configread import parse_size

    raw = os.environ.get("WHY502_READ_AHEAD", "").strip()
    if raw == "0":
        return 0
    names = [str(p) for p in paths]
    if "-" in names or sum(n.lower().endswith(".gz") for n in names) < 2:
        return 0
    return parse_size(raw, AHEAD_BATCHES * batch_bytes) if raw else AHEAD_BATCHES * batch_bytes


class ReadAhead(Generic[T]):
    """``chunks(path)`` of each of ``paths``, read on one thread ahead of the consumer, at most
    ``budget`` bytes (``size`` of each item) held; ``files()`` hands them out in order.  Use it
    as a context manager: leaving it stops and joins the thread."""

    def __init__(self, paths: Sequence[Path | str], chunks: Callable[[Path | str], Iterator[T]],
                 size: Callable[[T], int], budget: int) -> None:
        self.paths = list(paths)
        self.chunks, self.size, self.budget = chunks, size, max(1, budget)
        self.held = 0  # bytes of the items waiting in ``_items``
        self.peak = 0  # the most ever held (tests: the bound)
        self._items: deque[tuple[str, object, int]] = deque()  # (kind, value, size)
        self._cond = threading.Condition()
        self._stop = False
        self._done = False  # the thread has ended
        self._thread: threading.Thread | None = None

    def __enter__(self) -> ReadAhead[T]:
        self._thread = threading.Thread(target=contextvars.copy_context().run, args=(self._produce,),
                                         name="why502-read-ahead", daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Stop the thread (it closes the file it reads) and wait for it."""
        with self._cond:
            self._stop = True
            self._items.clear()
            self.held = 0
            self._cond.notify_all()
        if self._thread is not None:
            self._thread.join()
            self._thread = None

    def files(self) -> Iterator[tuple[Path | str, Iterator[T]]]:
        """(path, its items) in input order; each file's items must be read to their end before
        the next file's (as ``iter_batches`` does).  A read error of a file is raised by its
        items' iterator, after the items before it."""
        for p in self.paths:
            yield p, self._file_items()

    def _file_items(self) -> Iterator[T]:
        while True:
            kind, value, _size = self._take()
            if kind == "item":
                yield value  # type: ignore[misc]
            elif kind == "note":
                note(str(value))
            elif kind == "error":
                assert isinstance(value, BaseException)
                raise value
            else:  # "end"
                return

    def _take(self) -> tuple[str, object, int]:
        with self._cond:
            while not self._items:
                if self._done:  # cannot happen: the thread ends each file with "end" or "error"
                    raise RuntimeError("the read-ahead thread ended before its inputs")
                self._cond.wait()
            kind, value, size = self._items.popleft()
            self.held -= size
            self._cond.notify_all()
        return kind, value, size

    def _put(self, kind: str, value: object, size: int = 0) -> None:
        with self._cond:
            if self._stop:
                return
            self._items.append((kind, value, size))
            self.held += size
            self.peak = max(self.peak, self.held)
            self._cond.notify_all()

    def _room(self) -> bool:
        """Wait until another item may be read (what is held leaves room for one more, or
        nothing is held); False once the consumer has stopped."""
        with self._cond:
            while not self._stop and self.held and self.held >= self.budget:
                self._cond.wait()
            return not self._stop

    def _produce(self) -> None:
        notes: list[str] = []  # the notes of a read, handed on before what the read gave
        try:
            with notes_into(notes):
                for p in self.paths:
                    if not self._read(p, notes):
                        return
        except BaseException as err:  # raised on the consumer's thread
            self._put("error", err)
        finally:
            with self._cond:
                self._done = True
                self._cond.notify_all()

    def _read(self, p: Path | str, notes: list[str]) -> bool:
        """Read ``p``'s items into the queue; False when the consumer has stopped.  A file's read
        error (``InputError``) is queued in its place; any other error ends the thread
        (``_produce`` queues it)."""
        items = self.chunks(p)
        try:
            while True:
                if not self._room():
                    return False
                try:
                    item = next(items)
                except StopIteration:
                    self._notes(notes)
                    self._put("end", None)
                    return True
                except InputError as err:  # the file's: the consumer may tolerate it, go on
                    self._notes(notes)
                    self._put("error", err)
                    return True
                self._notes(notes)
                self._put("item", item, self.size(item))
        finally:
            close = getattr(items, "close", None)
            if close is not None:
                close()  # the file being read, when the consumer stopped early

    def _notes(self, notes: list[str]) -> None:
        for text in notes:
            self._put("note", text)
        notes.clear()
