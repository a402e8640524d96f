"""Read log files as a stream of bounded batches: plain, ``.gz``, rotated sets, stdin.

Logs can be far larger than memory, so nothing here ever holds a whole file: bytes are read in
chunks (1 MiB by default), cut at the last newline, decoded with ``errors="replace"`` (logs carry
client-controlled bytes that are not UTF-8) and handed out as one text block per batch.  A line
longer than ``max_line_bytes`` is cut there (nginx itself caps its lines at ``NGX_MAX_ERROR_STR``
= 2048 bytes, ``src/core/ngx_log.h``), so memory stays bounded even without newlines.
"""

from __future__ import annotations

import glob
import gzip
import io
import mmap
import os
import zlib
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, BinaryIO, TypeVar, cast

from why502.errors import InputError
from why502.sources import once, readahead
from why502.sources.buffers import MappedBuffers
from why502.sources.newlines import newlines, read_cut
from why502.sources.opening import (
    check_named,
    discovered_skip,
    gunzip,
    inflated,
    is_stream,
    log_directory,
    note,
    note_utf16,
)
from why502.sources.replay import replay_source, stream_bytes
from why502.sources.rotation import is_rotated_sibling, order_rotated
from why502.sources.unframe import unframed

B = TypeVar("B")

STDIN = "-"
DEFAULT_BATCH_BYTES = 1024 * 1024  # 1 MiB: ~4k lines; larger batches cost RSS, not speed
DEFAULT_MAX_LINE = 1024 * 1024


@dataclass(frozen=True)
class LineBatch:
    """``text`` holds whole lines joined by ``\\n`` (no trailing newline); ``first_line`` is the
    1-based number of its first line in ``path``; ``count`` the number of lines."""

    path: str
    first_line: int
    text: str
    count: int
    bytes_done: int = 0
    bytes_total: int = 0

    @property
    def lines(self) -> list[str]:
        return self.text.split("\n") if self.count else []


def file_identity(path: Path | str) -> tuple[int, int] | str:
    """What makes two names one file: ``(st_dev, st_ino)`` -- a symlink, a hard link, ``./x`` and
    ``../d/x`` are the file they point at -- else (no such file yet) the real path; ``-`` is stdin.

    Why: ``--error-log error.log --error-log error.log.1`` names ``error.log.1`` once by hand and
    once more as a rotated sibling of ``error.log``; reading both counted every line twice.
    """
    name = str(path)
    if name == STDIN:
        return STDIN
    try:
        st = os.stat(name)
    except OSError:
        return os.path.realpath(name)
    return (st.st_dev, st.st_ino)


def expand_inputs(paths: Iterable[str], rotated: bool = False) -> list[Path]:
    """Expand globs and (with ``rotated``) the rotated siblings of each base name.

    Files of one rotated set are ordered oldest first (``error.log.2.gz error.log.1 error.log``,
    ``error.log-20261120.gz error.log-20261121 error.log``) by ``sources.rotation`` -- the order
    ``stats`` uses too -- whether they were named one by one, by a glob or found with
    ``rotated``; separate sets keep the order given.  Rotated siblings are logrotate's numbered
    and ``dateext`` names (``sources.rotation.is_rotated_sibling``).  ``-`` stands for stdin.
    A file reached twice (named and found as a sibling, matched by two globs, through a symlink
    or a hard link) is kept once, under the first name (``file_identity``).
    Raises ``InputError`` for a pattern or file that matches nothing.
    """
    out: list[Path] = []
    seen: set[tuple[int, int] | str] = set()
    for raw in paths:
        if raw == STDIN:
            out.append(Path(STDIN))
            continue
        if glob.has_magic(raw):
            matches = [Path(p) for p in glob.glob(raw)]
            if not matches:
                raise InputError(f"cannot read {raw}: no file matches this pattern")
        else:
            matches = [Path(raw)]
            if rotated:
                base = Path(raw)
                for cand in base.parent.glob(glob.escape(base.name) + "[.-]*"):
                    if not is_rotated_sibling(str(base), str(cand)):
                        continue
                    if why := discovered_skip(str(cand)):  # found, not named: never a FIFO
                        note(why)
                        continue
                    matches.append(cand)
        for m in matches:
            key = file_identity(m)
            if key not in seen:
                seen.add(key)
                out.append(m)
    # one order for the whole list, like ``stats``: a shell's ``error.log*`` gives the newest
    # file first (``error.log error.log-20261120.gz ...``), nginx wrote them the other way round
    return [Path(p) for p in order_rotated([str(p) for p in out])]


def _open(path: Path, keep: bool = False, unframe: bool = False,
          ) -> tuple[BinaryIO, BinaryIO, int, bool]:
    """(reader, raw file for progress, total bytes, whether ``raw`` is kept).  Gzip is detected
    by its magic bytes; ``unframe``: a container runtime's file is read as its program's lines
    (``sources.unframe``: the access-log readers; an error log's reader unwraps each line).
    The file is the one the run keeps for ``path`` when there is one (``sources.once``): with
    ``keep`` it stays kept (a sniff of the head: ``raw`` is not the caller's to close), else it
    is taken (the whole read), so a log sniffed then read is opened once."""
    held: io.BufferedReader | None = None
    if str(path) == STDIN or is_stream(str(path)):
        return _open_stream(str(path), unframe)
    try:
        if path.is_dir():
            raise InputError(log_directory(str(path)))
        check_named(str(path))
        held = once.keep(str(path)) if keep else None
        f = held or once.take(str(path)) or open(path, "rb")  # noqa: SIM115
        size = os.fstat(f.fileno()).st_size
        # peek, not read + seek: a FIFO (``<(zcat ...)``) cannot seek
        magic = f.peek(2)[:2]
    except InputError:
        raise
    except OSError as err:
        raise InputError(f"cannot read {path}: {err.strerror or err}") from None
    if magic == b"\x1f\x8b":
        inflated = gunzip(f, str(path))
        return _unframed(inflated, unframe, keep=False), f, size, held is not None
    note_utf16(str(path), f.peek(4096)[:4096])
    return _unframed(f, unframe, keep=held is not None), f, size, held is not None


def _open_stream(path: str, unframe: bool) -> tuple[BinaryIO, BinaryIO, int, bool]:
    """``_open`` of stdin or of a FIFO / device (``<(zcat ...)``, /dev/zero: polled, with
    bounds): through the run's one reader of that stream (``sources.replay``), so the head
    another reader peeked first (``sources.byte_chunks.head_lines``: ``classify --log-type F``
    sizes its batches by it) is read here too instead of lost.  Stdin is never closed here."""
    name = "stdin" if path == STDIN else path
    src = replay_source(path)
    try:
        magic = src.peek(2)[:2]
    except OSError as err:
        raise InputError(f"cannot read {name}: {err.strerror or err}") from None
    raw = cast("BinaryIO", src)
    if magic == b"\x1f\x8b":
        return _unframed(gunzip(raw, name), unframe, keep=False), raw, 0, False
    return _unframed(raw, unframe, keep=path == STDIN), raw, 0, False


def _unframed(reader: IO[bytes], unframe: bool, keep: bool) -> BinaryIO:
    """``reader``, or its program's lines when ``unframe`` and its head is a container runtime's
    framing (``sources.unframe``); ``keep``: closing the lines' reader leaves ``reader`` open."""
    if not unframe:
        return cast("BinaryIO", reader)
    return cast("BinaryIO", unframed(reader, keep_source=keep))


@dataclass(frozen=True)
class ByteBatch:
    """Raw bytes of whole lines (no trailing newline), not yet decoded or counted: for consumers
    that decode and split in their worker threads (the classify summary), so the reading thread
    does no per-byte work beyond finding the last newline."""

    path: str
    data: bytes
    bytes_done: int = 0
    bytes_total: int = 0


def iter_batches(
    paths: Iterable[Path | str],
    batch_bytes: int = DEFAULT_BATCH_BYTES,
    max_line_bytes: int = DEFAULT_MAX_LINE,
    tolerate: Tolerate | None = None,
    ahead: int | None = None,
    unframe: bool = False,
) -> Iterator[LineBatch]:
    """Yield ``LineBatch`` es for each input in order; memory is bounded by ``batch_bytes`` plus
    one (cut) line.  Raises ``InputError`` (one line) for unreadable or corrupt inputs.

    Several ``.gz`` inputs (an ALB folder) are read ahead on a thread, at most ``ahead`` bytes of
    inflated text held (``sources.readahead``: the same batches, notes and errors); ``ahead``
    None: ``readahead.budget_for`` decides, 0: one file after the other on this thread.
    ``unframe``: a container runtime's file is read as its program's lines (``_open``)."""
    for chunk, line_no, count in iter_numbered_bytes(paths, batch_bytes, max_line_bytes, tolerate, ahead,
                                                     unframe):
        text = chunk.data.decode("utf-8", errors="replace")
        yield LineBatch(chunk.path, line_no, text, count, chunk.bytes_done, chunk.bytes_total)


def iter_numbered_bytes(
    paths: Iterable[Path | str],
    batch_bytes: int = DEFAULT_BATCH_BYTES,
    max_line_bytes: int = DEFAULT_MAX_LINE,
    tolerate: Tolerate | None = None,
    ahead: int | None = None,
    unframe: bool = False,
) -> Iterator[tuple[ByteBatch, int, int]]:
    """``iter_batches``' batches undecoded, read ahead alike: (the raw batch, the number of its
    first line in its file, its number of lines).  For the readers that take raw bytes (the
    edge logs' native passes, ``app.stats.lb``) and decode only the lines they hand back."""
    paths = list(paths)
    budget = readahead.budget_for(paths, batch_bytes) if ahead is None else ahead
    if budget <= 0:
        for p in paths:
            yield from _numbered(_tolerant(p, _file_chunks(p, batch_bytes, max_line_bytes, unframe=unframe),
                                           tolerate))
        return

    def chunks(p: Path | str) -> Iterator[ByteBatch]:
        return _file_chunks(p, batch_bytes, max_line_bytes, unframe=unframe)

    with readahead.ReadAhead(paths, chunks, _chunk_size, budget) as ahead_of:
        for p, items in ahead_of.files():
            yield from _numbered(_tolerant(p, items, tolerate))


def _chunk_size(chunk: ByteBatch) -> int:
    return len(chunk.data)


def _numbered(chunks: Iterator[ByteBatch]) -> Iterator[tuple[ByteBatch, int, int]]:
    """One input's byte batches, each with the number of its first line and its line count (a
    newline is one byte in UTF-8 and in the replacement decoding alike)."""
    line_no = 1
    for chunk in chunks:
        count = newlines(chunk.data) + 1
        yield chunk, line_no, count
        line_no += count


def iter_byte_batches(
    paths: Iterable[Path | str],
    batch_bytes: int = DEFAULT_BATCH_BYTES,
    max_line_bytes: int = DEFAULT_MAX_LINE,
    tolerate: Tolerate | None = None,
) -> Iterator[ByteBatch]:
    """Like ``iter_batches`` (same cuts, same over-long line handling) but undecoded bytes."""
    for p in paths:
        yield from _tolerant(p, _file_chunks(p, batch_bytes, max_line_bytes), tolerate)


def _tolerant(p: Path | str, chunks: Iterator[B], tolerate: Tolerate | None) -> Iterator[B]:
    """``chunks`` of ``p``; when ``p`` is one of the files why502 found by itself (``tolerate``:
    rotated siblings nobody named) a read error ends that file with a note instead of the run:
    a truncated ``error.log.3.gz`` from a rotation cut short must not hide today's errors.  The
    lines read before the damage are kept."""
    try:
        yield from chunks
    except InputError as err:
        if tolerate is None or str(p) not in tolerate.paths:
            raise
        tolerate.notes.append(f"{err} (found with --rotated; the lines before the damage were read)")


@dataclass
class Tolerate:
    """Files whose read errors are notes (``paths``), and the notes written so far."""

    paths: frozenset[str]
    notes: list[str] = field(default_factory=list)


def discovered(paths: Iterable[str], rotated: bool) -> frozenset[str]:
    """The files ``expand_inputs(paths, rotated)`` adds as rotated siblings (nobody named them)."""
    if not rotated:
        return frozenset()
    named = {str(p) for p in expand_inputs(paths, rotated=False)}
    return frozenset(str(p) for p in expand_inputs(paths, rotated=True) if str(p) not in named)


def holds_lines(path: str) -> bool | None:
    """Did the log ``path``, as this run read it, hold anything -- False: not one byte (after
    inflating a ``.gz``), True: some, None: not known (not read, gone since, a directory).

    Why: a log that was just rotated is empty, and a run that read only empty logs has seen
    nothing at all; it must not answer as if it had seen a host without failures (``diagnose``'s
    "no evidence" outcome, ``app.diagnose.judged``).  Asked after the run without opening the
    file again (each log is opened once: tests/project/test_read_once.py): a regular file by its
    size, a stream (stdin, a FIFO) by what its one reader had from it (``sources.replay``), and a
    gzip'ed one of either by whether it inflated to a byte when it was read
    (``sources.opening.inflated``).  A file of blank lines holds lines, as ``classify`` counts."""
    if path == STDIN or is_stream(path):
        got = stream_bytes(path)
        if not got:
            return None if got is None else False
        gave = inflated("stdin" if path == STDIN else path)
        return True if gave is None else gave
    try:
        if not os.path.isfile(path):
            return None
        if os.path.getsize(path) == 0:
            return False
    except OSError:
        return None
    gave = inflated(path)
    return True if gave is None else gave


def head_batch(path: Path | str, batch_bytes: int) -> LineBatch | None:
    """The first batch ``iter_batches([path], batch_bytes)`` gives (None: no line), read from
    the file the run keeps open for ``path`` (``sources.once.keep``), so that the reader that
    reads it whole next takes that file rather than opening it again.  A container runtime's
    file is read as its program's lines (``sources.unframe``): the sniffs ask what it wrote."""
    for chunk in _file_chunks(path, batch_bytes, DEFAULT_MAX_LINE, keep=True, unframe=True):
        text = chunk.data.decode("utf-8", errors="replace")
        return LineBatch(chunk.path, 1, text, text.count("\n") + 1, chunk.bytes_done, chunk.bytes_total)
    return None


def _file_chunks(p: Path | str, batch_bytes: int, max_line_bytes: int,
                 keep: bool = False, unframe: bool = False) -> Iterator[ByteBatch]:
    """One input's batches; the file is closed when the generator ends (``keep``: not the file
    the run keeps, ``_open``)."""
    def cut(reader: BinaryIO, cuts: list[int]) -> Iterator[bytes]:
        return _chunks(reader, batch_bytes, max_line_bytes, cuts)

    for name, body, done, total in _file_bodies(p, max_line_bytes, cut, keep, unframe):
        yield ByteBatch(name, body, done, total)


T = TypeVar("T")


def _file_bodies(p: Path | str, max_line_bytes: int, cut: Callable[[BinaryIO, list[int]], Iterator[T]],
                 keep: bool = False, unframe: bool = False) -> Iterator[tuple[str, T, int, int]]:
    """(name, batch body, bytes read so far, file size) for one input, its batches cut by
    ``cut(reader, cuts)``: the opening, closing, error wording and over-long line note that
    ``iter_byte_batches`` and ``iter_byte_views`` share."""
    path = Path(p)
    name = STDIN if str(path) == STDIN else str(path)
    reader, raw, total, kept = _open(path, keep, unframe)
    cuts = [0]
    try:
        for body in cut(reader, cuts):
            yield name, body, _tell(raw), total
    except (OSError, EOFError, zlib.error, gzip.BadGzipFile) as err:
        raise InputError(f"cannot read {name}: {err}") from None
    finally:
        if name != STDIN:
            if reader is not raw or not kept:
                reader.close()  # a gunzip reader over a kept file leaves the file open
            if not kept:
                raw.close()
        if cuts[0]:
            note(f"{name}: {cuts[0]} line(s) longer than {max_line_bytes} bytes cut to their first "
                 f"{max_line_bytes} bytes")


def _chunks(reader: BinaryIO, batch_bytes: int, max_line: int, cuts: list[int]) -> Iterator[bytes]:
    """Whole lines joined by ``\\n`` (no trailing newline), about ``batch_bytes`` at a time;
    ``cuts[0]`` counts the lines cut at ``max_line``."""
    carry = b""
    skipping = False  # inside an over-long line whose head was already kept
    readinto = getattr(reader, "readinto", None)
    cut_in_place = read_cut() if readinto is not None else None
    while True:
        if cut_in_place is not None and readinto is not None and not skipping:
            # the block read after the carry and cut at its last newline in place (``_lines``:
            # the slice below copied every byte once more); the same blocks as below
            block, rest, got = cut_in_place(readinto, carry, batch_bytes)
            if not got:
                break
            carry = rest
            if block is not None:
                yield block
            elif len(carry) > max_line:  # no newline yet: an over-long line's head, as below
                yield carry[:max_line]
                carry, skipping = b"", True
                cuts[0] += 1
            continue
        chunk = reader.read(batch_bytes)
        if not chunk:
            break
        if skipping:
            nl = chunk.find(b"\n")
            if nl < 0:
                continue
            chunk = chunk[nl + 1:]
            skipping = False
        cut = chunk.rfind(b"\n")
        if cut < 0:
            carry += chunk
            if len(carry) > max_line:
                yield carry[:max_line]
                carry, skipping = b"", True
                cuts[0] += 1
            continue
        # one copy of the batch: the carried head of its first line + the chunk up to the cut
        yield b"".join((carry, memoryview(chunk)[:cut])) if carry else chunk[:cut]
        carry = chunk[cut + 1:]
    if carry:
        yield carry[:max_line]


@dataclass(frozen=True)
class ViewBatch:
    """A ``ByteBatch`` whose bytes are a view into one of ``buffers``' buffers (``iter_byte_views``):
    the consumer hands ``buffer`` back (``ReadBuffers.give``) once it is done with ``data``."""

    path: str
    data: memoryview
    buffer: mmap.mmap
    bytes_done: int = 0
    bytes_total: int = 0


class ReadBuffers(MappedBuffers):
    """Reusable read buffers for ``iter_byte_views`` (``sources.buffers``), each of room for a
    batch and its carried head.

    Why: reading each batch into a new ``bytes`` (``iter_byte_batches``) and copying it once more
    at its last newline cost the reading thread -- the one that starts the workers' batches --
    about a third of its CPU on a 540 MiB log: page faults and zeroing of fresh 2 MiB
    allocations, their unmapping (TLB shoot-downs on the other core) and the copy (``perf``,
    BENCHMARKS.md stop 48).  The rest of a buffer's room, for an over-long line, stays unmapped."""

    def __init__(self, batch_bytes: int, max_line_bytes: int = DEFAULT_MAX_LINE, keep: int = 4) -> None:
        self.batch_bytes = batch_bytes
        self.max_line_bytes = max_line_bytes
        # the carry before a read is at most max(max_line, batch - 1) bytes (_view_chunks)
        super().__init__(max(batch_bytes, max_line_bytes) + batch_bytes, keep)


def iter_byte_views(
    paths: Iterable[Path | str],
    buffers: ReadBuffers,
    tolerate: Tolerate | None = None,
    unframe: bool = False,
) -> Iterator[ViewBatch]:
    """``iter_byte_batches(paths, buffers.batch_bytes, buffers.max_line_bytes)``'s batches, the
    same bytes cut at the same places (``_view_chunks``), each a view into a reused buffer
    instead of a new ``bytes``: the consumer must hand each batch's buffer back
    (``ReadBuffers.give``) when it no longer reads ``data`` -- never before."""
    def cut(reader: BinaryIO, cuts: list[int]) -> Iterator[tuple[memoryview, mmap.mmap]]:
        return _view_chunks(reader, buffers, cuts)

    for p in paths:
        bodies = _file_bodies(p, buffers.max_line_bytes, cut, unframe=unframe)
        for name, (data, buffer), done, total in _tolerant(p, bodies, tolerate):
            yield ViewBatch(name, data, buffer, done, total)


def _view_chunks(reader: BinaryIO, buffers: ReadBuffers, cuts: list[int],
                 ) -> Iterator[tuple[memoryview, mmap.mmap]]:
    """``_chunks`` over reused buffers: the same reads (``read(batch_bytes)``, or ``readinto`` of
    as many bytes, which loops the same way on a buffered file: CPython ``_io/bufferedio.c``
    ``_buffered_readinto_generic``), the same cuts, so the same batches.  A batch is a view of
    the buffer it was read into; what follows its last newline (the carry: no newline in it) is
    copied to the front of the next buffer -- a line, not the batch."""
    batch, max_line = buffers.batch_bytes, buffers.max_line_bytes
    readinto = reader.readinto if isinstance(reader, (io.BufferedReader, io.FileIO)) else None
    buf = buffers.take()
    owned = True  # buf is this reader's (not yet handed out with a batch)
    view = memoryview(buf)
    start = end = 0  # the carry: buf[start:end]
    skipping = False  # inside an over-long line whose head was already kept
    try:
        while True:
            if end + batch > buffers.size:  # no room after the carry: move it to the front
                view[:end - start] = view[start:end]
                start, end = 0, end - start
            if readinto is not None:
                n = readinto(view[end:end + batch]) or 0
            else:
                data = reader.read(batch) or b""
                n = len(data)
                view[end:end + n] = data
            if not n:
                break
            lo, end = end, end + n  # this read: buf[lo:end]
            if skipping:
                nl = buf.find(b"\n", lo, end)
                if nl < 0:
                    start = end = 0  # the carry is empty while skipping
                    continue
                start = lo = nl + 1
                skipping = False
            last = buf.rfind(b"\n", lo, end)
            if last < 0:
                if end - start > max_line:
                    out, handed = view[start:start + max_line], buf
                    buf, view = _fresh(buffers, view, 0, 0)
                    start = end = 0
                    skipping = True
                    cuts[0] += 1
                    yield out, handed
                continue
            # the next buffer (the carry at its front) is taken before the batch is handed out:
            # from then on the batch's buffer is the consumer's alone
            out, handed = view[start:last], buf
            buf, view = _fresh(buffers, view, last + 1, end)
            start, end = 0, end - (last + 1)
            yield out, handed
        if end > start:
            owned = False
            yield view[start:min(end, start + max_line)], buf
    finally:
        view.release()
        if owned:
            buffers.give(buf)


def _fresh(buffers: ReadBuffers, view: memoryview, start: int, end: int) -> tuple[mmap.mmap, memoryview]:
    """A buffer for the next read, ``view[start:end]`` (the carry) copied to its front; the one
    ``view`` shows now belongs to the batch just handed out."""
    buf = buffers.take()
    fresh = memoryview(buf)
    fresh[:end - start] = view[start:end]
    view.release()
    return buf, fresh


def _tell(raw: BinaryIO) -> int:
    try:
        return raw.tell()
    except (OSError, ValueError, io.UnsupportedOperation):
        return 0
