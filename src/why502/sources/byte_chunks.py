"""Read access logs as whole-line byte chunks: plain files, ``.gz``, rotated sets, stdin.

Why a second reader next to ``sources.logfiles``: that one hands out decoded text lines (the
classify engines want ``str``), while the access-log statistics hand the raw bytes straight to
polars (``evidence.stats.parser.LineParser``), so decoding every line in Python first would only
cost time.  Both keep memory flat the same way: read ``chunk_bytes`` at a time, cut at the last
newline, carry the rest into the next chunk.  ``.gz`` files (and gzip on stdin) are detected by
their magic bytes and decompressed as a stream.

Rotated sets are ordered oldest first by ``sources.rotation`` (re-exported here as
``order_rotated``/``rotated_base``; the classify reader uses the same order): numbered suffixes
count up with age (``access.log.2.gz`` < ``access.log.1`` < ``access.log``) and ``dateext``
suffixes (``-YYYYMMDD``, the rotation date) count down, the bare name being the newest.
"""

from __future__ import annotations

import io
import mmap
import os
import stat
import zlib
from collections.abc import Callable, Generator, Iterator
from typing import IO, cast

from why502.errors import InputError, not_found
from why502.parsers.log_format import ByteChunk
from why502.sources import once
from why502.sources.buffers import MappedBuffers
from why502.sources.newlines import newlines
from why502.sources.opening import check_named, gunzip, is_stream, log_directory, note, note_utf16
from why502.sources.replay import replay_source
from why502.sources.rotation import order_rotated, rotated_base
from why502.sources.unframe import framing, unframe_block, unframed

__all__ = [
    "CHUNK_BYTES",
    "ByteChunk",
    "Progress",
    "file_size",
    "head_lines",
    "head_tail_lines",
    "iter_byte_chunks",
    "open_bytes",
    "order_rotated",
    "rotated_base",
]

# 10 MiB: fewer per-chunk planning passes than 8 MiB (-6 % wall on the 5 M-line bench log) for
# ~+40 MB RSS at three chunks in flight; 12 MiB took the error-log run past 400 MB
CHUNK_BYTES = 10 << 20
# A line that runs on past this many bytes without a newline is cut there (the rest up to its
# newline is skipped) and counted in a note: a 100 MB line held whole took stats to 1 GB.
# Same bound as the classify reader (``sources.logfiles.DEFAULT_MAX_LINE``).
MAX_LINE_BYTES = 1 << 20

Progress = Callable[[int, int], None]


def _is_stream(path: str) -> bool:
    """True for a path that cannot be read twice: a FIFO or a character device."""
    return is_stream(path)


def open_bytes(path: str) -> IO[bytes]:
    """A binary reader of ``path`` (``-`` = stdin), gunzipping when it starts with gzip's magic.
    The caller reads it whole and closes it: a file the run kept open since its head was read
    (``sources.once``) is taken, not opened again.

    Raises ``InputError`` with one line for a missing, unreadable or directory path."""
    return _open_bytes(path, keep=False)[0]


def _open_bytes(path: str, keep: bool) -> tuple[IO[bytes], io.BufferedReader | None]:
    """(reader, the run's kept file under it or None): ``keep``, the file stays kept for the
    reader to come (a head read; closing the reader leaves a kept file open, as ``gunzip``'s
    does), else a kept file is taken (``open_bytes``)."""
    if path == "-" or _is_stream(path):
        src = replay_source(path)
        if src.peek(256 << 10)[:2] == b"\x1f\x8b":
            inflated = gunzip(cast("IO[bytes]", src), "stdin" if path == "-" else path)
            return unframed(inflated), None
        return unframed(cast("IO[bytes]", src)), None
    fh: io.BufferedReader | None = None
    check_named(path)  # a socket, a block device, our own stdout: one line, exit 3
    held = once.keep(path) if keep else None
    try:
        fh = held or once.take(path) or open(path, "rb")  # noqa: SIM115 - closed by the caller
        # peek, not read + seek: a FIFO cannot seek, and a read error (EIO) is an input error
        head = fh.peek(2)[:2]
    except FileNotFoundError:
        raise InputError(not_found(path)) from None
    except IsADirectoryError:
        raise InputError(log_directory(path)) from None
    except PermissionError:
        raise InputError(f"{path}: permission denied") from None
    except OSError as err:
        if fh is not None and fh is not held:
            fh.close()
        raise InputError(f"{path}: cannot read: {err.strerror or err}") from None
    if head == b"\x1f\x8b":
        inflated = gunzip(fh, path)
        return unframed(inflated), held
    note_utf16(path, fh.peek(4096)[:4096])
    # a container runtime's file (docker's json-file, CRI): its program's lines (sources.unframe)
    return unframed(fh, keep_source=held is not None), held


def iter_byte_chunks(
    paths: list[str],
    chunk_bytes: int = CHUNK_BYTES,
    progress: Progress | None = None,
    *,
    count_lines: bool = True,
    views: bool = False,
    window: Callable[[], int] | None = None,
) -> Iterator[ByteChunk]:
    """Whole-line byte chunks of each file in turn (``.gz`` streamed, ``-`` = stdin).

    Each chunk ends at a newline (a last line without one gets it added) and knows the 1-based
    number of its first line; ``progress(bytes_done, bytes_total)`` is called after each chunk
    (compressed bytes for ``.gz``, nothing known for stdin).

    ``count_lines=False`` skips counting the newlines of every chunk (a pass over all the bytes
    in the reading thread) for a consumer that counts rows anyway: the first chunk of each file
    then has ``first_line`` 1 and the following ones 0, meaning "continues the previous chunk
    of this file" (``StatsAccumulator.merge`` numbers them from its row counts).

    ``views=True``: a plain file's chunks are ``memoryview``s of reads of ``chunk_bytes`` each
    into reused buffers (``_pread_chunks``' fixed windows), for a consumer that takes any buffer
    (the native scanner) and calls each chunk's ``done`` when it has read it; the others are
    ``bytes`` as without it.  ``window``: with ``views``, the size of
    each next read of a plain file, asked before each one (a consumer that finds its chunks
    cheap to hold asks for bigger ones); ``chunk_bytes`` stays the size of the other reads."""
    total = sum(file_size(p) for p in paths)
    done = 0
    pool = MappedBuffers(private=True)  # the views' buffers (``_pread_chunks``)
    for path in paths:
        fh = open_bytes(path)
        raw = getattr(fh, "fileobj", None) or fh
        line = 1
        carry = b""
        cut_lines = 0
        skipping = False  # inside an over-long line whose head was already kept
        try:
            # a plain file: positioned reads, no joined copy (a FIFO, e.g. <(zcat ...), reads on)
            if raw is fh and path != "-" and fh.seekable():
                pread = _pread_chunks(fh.fileno(), path, chunk_bytes, views, window, pool)
                while True:
                    try:
                        whole, pos = next(pread)
                    except StopIteration as stop:
                        fh.seek(stop.value)  # EOF, or a line longer than a chunk: go on below
                        break
                    following = line + newlines(whole) if count_lines else 0
                    # the chunk is the consumer's from here: no reference kept while the next
                    # is read (a consumer that frees chunks as it goes holds one fewer)
                    release = _releaser(pool, whole) if isinstance(whole, memoryview) else None
                    chunk, whole = ByteChunk(path, line, whole, release), b""
                    yield chunk
                    del chunk
                    line = following
                    if progress is not None:
                        progress(done + pos, total)
            while True:
                try:
                    block = fh.read(chunk_bytes)
                except (OSError, EOFError) as err:
                    raise InputError(f"{path}: cannot read: {err}") from None
                if not block:
                    break
                if skipping:  # drop the rest of an over-long line, up to its newline
                    nl = block.find(b"\n")
                    if nl < 0:
                        continue
                    block, skipping = block[nl + 1 :], False
                cut = block.rfind(b"\n")
                # (the carry never holds more of a line than its cut needs: carried whole and
                # grown by each next block, it held two blocks more at the peak, BENCHMARKS.md
                # stop 63)
                if cut < 0:
                    carry += memoryview(block)[: MAX_LINE_BYTES + 1 - len(carry)]
                else:
                    # one copy of the block at most (chunks are megabytes; copies cost real time)
                    if carry:
                        whole = b"".join((carry, memoryview(block)[: cut + 1]))
                    elif cut == len(block) - 1:
                        whole = block
                    else:
                        whole = block[: cut + 1]
                    carry = block[cut + 1 : cut + 2 + MAX_LINE_BYTES]
                    yield ByteChunk(path, line, whole)
                    line = line + newlines(whole) if count_lines else 0
                if len(carry) > MAX_LINE_BYTES:  # an over-long line: its head given, the rest skipped
                    cut_lines += 1
                    carry = carry[:MAX_LINE_BYTES]  # (the longer one freed before the head is made)
                    head, carry, skipping = carry + b"\n", b"", True
                    yield ByteChunk(path, line, head)
                    del head  # (the consumer's: not held while the next block is read)
                    line = line + 1 if count_lines else 0
                if cut < 0:
                    continue
                if progress is not None and path != "-":
                    try:
                        pos = raw.tell()
                    except (OSError, ValueError):
                        pos = 0
                    progress(done + pos, total)
            if carry:
                yield ByteChunk(path, line, carry + b"\n")
        finally:
            fh.close()
        if cut_lines:
            note(f"{path}: {cut_lines} line(s) longer than {MAX_LINE_BYTES >> 20} MiB cut to their first "
                 f"{MAX_LINE_BYTES >> 20} MiB")
        done += file_size(path)
        if progress is not None:
            progress(done, total)


def _releaser(pool: MappedBuffers, view: memoryview) -> Callable[[], None]:
    """What ``ByteChunk.release`` calls for ``view``: the view let go, its buffer given back.
    Reading each chunk into a new ``bytes`` instead, where the chunks are read by the threads
    that parse them (``app.stats.read._feed``), each thread's allocator arena kept its own freed
    ones: 269-299 MB peak on 5M lines, 252-264 with the pool (240-249 with one glibc arena as
    well: ``cli.main.GLIBC_MALLOPT``; ``stats``, BENCHMARKS.md stop 51)."""
    buf = view.obj
    assert isinstance(buf, mmap.mmap)

    def release() -> None:
        view.release()
        pool.give(buf)

    return release


def _pread_chunks(fd: int, path: str, chunk_bytes: int, views: bool = False,
                  window: Callable[[], int] | None = None, pool: MappedBuffers | None = None,
                  ) -> Generator[tuple[bytes | memoryview, int], None, int]:
    """Whole-line chunks of a plain file by positioned reads (``os.pread``, the kernel's copy
    with the GIL released).  Reading a block and cutting it (``iter_byte_chunks``' general path)
    copies each chunk once more while holding the GIL, which stalled the parsing threads.
    Yields (chunk, offset after it); returns the offset where the general path must go on (the
    last, short window, or a line longer than ``chunk_bytes``).

    Exact chunks (``bytes``): the last newline is found in a small read at the window's end,
    then the chunk is read exactly.  ``views`` (with ``pool``): the whole window is read into one
    of ``pool``'s buffers and the chunk is a view of it up to its last newline (the rest is read
    again with the next window).  Exact chunks differ by a few bytes, and a freed one too small
    for the next left a hole each time: ~3.8 chunks' memory held for ~2 in use (``stats``,
    BENCHMARKS.md stop 51).  ``window()``: the size of each next window (else ``chunk_bytes``)."""
    probe_len = min(64 << 10, chunk_bytes)
    pos = 0
    while True:
        at = pos + chunk_bytes - probe_len
        try:
            if views and pool is not None:
                size = max(window(), probe_len) if window is not None else chunk_bytes
                buf = pool.take(size)
                view = memoryview(buf)[:size]
                got = os.preadv(fd, [view], pos)
                cut = buf.rfind(b"\n", max(0, got - probe_len), got)
                if got < size or cut < 0:
                    view.release()
                    pool.give(buf)
                    return pos
                whole: bytes | memoryview = view[: cut + 1]
                view.release()
                pos += cut + 1
                yield whole, pos
                del whole
                continue
            probe = os.pread(fd, probe_len, at)
            cut = probe.rfind(b"\n")
            if len(probe) < probe_len or cut < 0:
                return pos
            end = at + cut + 1
            whole = os.pread(fd, end - pos, pos)
        except OSError as err:
            raise InputError(f"{path}: cannot read: {err}") from None
        if len(whole) != end - pos or not whole.endswith(b"\n"):  # the file changed under us
            return pos
        pos = end
        yield whole, pos
        del whole  # the consumer's: not held while the next chunk is read


def file_size(path: str) -> int:
    """Bytes on disk (0 for stdin or an unreadable path): the progress total."""
    try:
        return os.path.getsize(path) if path != "-" else 0
    except OSError:
        return 0


def all_empty(paths: list[str]) -> bool:
    """Every path is a regular file of 0 bytes (no stdin, no pipe, no device): nothing to read,
    so nothing needs to be prepared for the lines (the config's location model)."""
    for path in paths:
        try:
            st = os.stat(path) if path != "-" else None
        except OSError:
            return False
        if st is None or not stat.S_ISREG(st.st_mode) or st.st_size:
            return False
    return True


def head_lines(path: str, n: int = 200, keep: bool = False) -> list[str]:
    """The first ``n`` non-blank lines (of the first 256 KiB, decompressed), to guess a format.
    For stdin the bytes are peeked and replayed later by ``iter_byte_chunks``.  ``keep``: a
    reader of the whole file comes next in this run, and takes the file opened here
    (``sources.once.keep``); not for a file that is only followed (``watch``), whose kept file
    would stay open, a rotated log's space held, until the agent stops."""
    if path == "-" or _is_stream(path):
        data = replay_source(path).peek(256 << 10)
        if data[:2] == b"\x1f\x8b":
            try:
                data = zlib.decompressobj(31).decompress(data, 1 << 20)
            except zlib.error:
                return []
        kind = framing(data)  # as the reader to come unframes it (_open_bytes)
        if kind is not None:
            data = unframe_block(data[:data.rfind(b"\n")], kind)[0]
    else:
        fh, held = _open_bytes(path, keep=keep)
        try:
            data = fh.read(256 << 10)
        except (OSError, EOFError) as err:  # a truncated or corrupt .gz, as iter_byte_chunks says
            raise InputError(f"{path}: cannot read: {err}") from None
        finally:
            if fh is not held:
                fh.close()  # a gunzip reader over a kept file leaves that file open
    return lines_of(data, n)


def lines_of(data: bytes, n: int = 200) -> list[str]:
    """The first ``n`` non-blank lines of ``data`` (a file's head), as :func:`head_lines` gives."""
    return [ln.decode("utf-8", "replace").rstrip("\r") for ln in data.split(b"\n")[:n] if ln.strip()]


def head_tail_lines(path: str, n: int = 20, window: int = 64 << 10) -> tuple[list[str], list[str]] | None:
    """Up to ``n`` non-blank lines from the start and from the end of a plain file (its first and
    last ``window`` bytes), so a caller can tell which time span a file covers without reading
    it.  ``None`` for stdin, ``.gz`` (not seekable cheaply) or an unreadable file."""
    if path == "-" or path.endswith(".gz"):
        return None
    try:
        if not stat.S_ISREG(os.stat(path).st_mode):  # a FIFO read here would lose its head
            return None
        held = once.keep(path)  # kept for the run's reader of the whole file (sources.once)
        fh = held or open(path, "rb")  # noqa: SIM115 - closed below unless kept
        try:
            head = fh.read(window)
            if head[:2] == b"\x1f\x8b":
                return None
            size = fh.seek(0, os.SEEK_END)
            fh.seek(max(0, size - window))
            tail = fh.read()
        finally:
            if fh is not held:
                fh.close()
    except OSError:
        return None
    first = [ln for ln in head.split(b"\n")[:n] if ln.strip()]
    last = [ln for ln in tail.split(b"\n")[-n:] if ln.strip()]
    return (
        [ln.decode("utf-8", "replace").rstrip("\r") for ln in first],
        [ln.decode("utf-8", "replace").rstrip("\r") for ln in last],
    )
