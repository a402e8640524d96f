"""Plain access-log files read by polars' streaming engine (the fast path of ``why502 stats``).

Why: reading a big log in Python-sized chunks and parsing each with an eager polars call costs a
planning pass and a hand-over per chunk, and leaves about half a core idle on a 2-core machine
(measured, bench/README.md).  ``pl.scan_csv`` splits the file at its quotes in parallel, in
pieces, while the parse plan (``evidence.stats``) runs on each piece as it arrives; the
caller pulls compact batches with ``LazyFrame.collect_batches``.  Only regular, uncompressed files
go this way: ``.gz`` and stdin keep the chunk reader (``sources.byte_chunks``).

Memory: the reader's defaults (large read-ahead chunks, several in flight) took a 1.2 GB log to
~500 MB RSS; 2 MiB chunks with two prefetched keep it flat at ~200 MB for ~5% more CPU
(``POLARS_CSV_CHUNK_SIZE`` / ``POLARS_CSV_CHUNK_PREFETCH_LIMIT``, read by polars when a scan
starts; a value the user set in the environment wins).
"""

from __future__ import annotations

import contextlib
import os
import stat
import threading
from collections.abc import Iterator
from typing import TYPE_CHECKING

from why502.sources import once
from why502.sources.unframe import framing
from why502.textutil import polars_sniffs

if TYPE_CHECKING:
    import polars as pl

READER_ENV = {"POLARS_CSV_CHUNK_SIZE": str(2 << 20), "POLARS_CSV_CHUNK_PREFETCH_LIMIT": "2"}
BATCH_ROWS = 25_000
# rows per aggregation call: each call costs ~10 ms whatever its size (50k: +20% CPU against
# 200k), and a group is held in memory (150k: ~20 MB less peak RSS than 200k for ~2% time).
# 75k (batches of 25k): ~40 MB less peak again, which lets ``stats`` keep freed pages for a
# second (``cli.main.ALLOCATOR``) under the same peak: returning them at once cost 1-4 s of
# kernel time on 1M-4M lines (BENCHMARKS.md, issue 28 item 4)
GROUP_ROWS = 75_000
# rows per group while the groups' keys are as many as their rows (unique hosts): their
# aggregates are as big as the group, so it stays small (``app.stats.read._scan_into``)
SMALL_GROUP_ROWS = 25_000


HEAD_BYTES = 256 << 10  # what ``sources.byte_chunks.head_lines`` guesses a format from


def probe(path: str, limit: int | None) -> tuple[bytes | None, bool]:
    """``(head, has_long_line(path, limit))`` with the file opened once: ``head`` the first
    ``HEAD_BYTES`` of a non-empty regular file, None for stdin, a FIFO, a device, an empty or
    unreadable file (never opened); ``limit`` None: no line length checked, False.  The head
    answers :func:`scannable`, the UTF-16 hint and the bytes per line before a scan; each of
    these questions, and the line length, opened the file again (issue 23 item 3)."""
    if path == "-":
        return None, False
    held = None
    try:
        st = os.stat(path)
        if not stat.S_ISREG(st.st_mode) or st.st_size == 0:
            return None, False
        # the file the run's sniff kept open, when the log was sniffed (sources.once.keep)
        held = once.kept(path)
        fh = held or open(path, "rb")  # noqa: SIM115 - closed below, on every path
    except OSError:
        return None, False
    try:
        head = os.pread(fh.fileno(), HEAD_BYTES, 0)
        return head, limit is not None and _long_line(fh.fileno(), limit)
    except OSError:
        return None, False
    finally:
        if fh is not held:
            fh.close()


def scannable(head: bytes | None) -> bool:
    """True for a non-empty regular file whose first bytes polars would not take for a
    compressed stream (``textutil.polars_sniffs``, by the magic bytes whatever the name): gzip,
    and a text file starting ``x^`` -- the chunk reader reads those: the files ``scan_split``
    can read -- and not a container runtime's file, which the chunk reader unframes
    (``sources.unframe``).  ``head``: the file's, from :func:`probe`."""
    return head is not None and not polars_sniffs(head) and framing(head) is None


def has_long_line(path: str, limit: int) -> bool:
    """True when a line of ``path`` is longer than ``limit`` bytes.

    Why: polars' reader holds a whole line at once (a 100 MB line took ``stats`` to ~1 GB), so
    such a file goes to the chunk reader, which cuts and counts over-long lines
    (``sources.byte_chunks``).  One backward search per ``limit`` bytes (the last newline of
    each window, read backwards in 64 KiB blocks with ``pread``) checks a 1 GB log in a fraction
    of a second.  Not ``mmap``: the pages it touched stayed mapped, counted in the process's
    RSS (a 1 GB log: 434 MB of file pages, the peak of the whole ``stats`` run)."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return False
    try:
        return _long_line(fd, limit)
    except OSError:  # unreadable: read as before
        return False
    finally:
        os.close(fd)


def _long_line(fd: int, limit: int) -> bool:
    """:func:`has_long_line` on an open file (``OSError`` when it cannot be read)."""
    block = 64 << 10
    size, pos = os.fstat(fd).st_size, 0
    while size - pos > limit:
        end = pos + limit + 1  # the window's last newline, searched from its end
        nl = -1
        while end > pos and nl < 0:
            start = max(pos, end - block)
            found = os.pread(fd, end - start, start).rfind(b"\n")
            if found >= 0:
                nl = start + found
            end = start
        if nl < 0:
            return True
        pos = nl + 1
    return False


def scan_split(path: str, columns: int, *, lossy: bool = False) -> pl.LazyFrame:
    """``path``'s lines split at every ``"`` into ``column_1..column_{columns}`` strings (short
    lines padded with nulls, extra pieces dropped; blank lines are rows of nulls), one row per
    line in order (number them with ``with_row_index`` after the work on them, so the engine
    can do that work in parallel).  With the default escaping nginx never writes a raw ``"`` inside a
    value (``ngx_http_log_escape()``), so the pieces are the format's pieces.

    ``lossy``: bytes that are not UTF-8 become U+FFFD (strict UTF-8 is ~8% cheaper, so the caller
    tries it first and scans again lossily only when polars reports invalid UTF-8)."""
    import polars as pl

    for key, value in READER_ENV.items():
        os.environ.setdefault(key, value)
    return pl.scan_csv(
        path,
        separator='"',
        quote_char=None,
        has_header=False,
        schema={f"column_{i + 1}": pl.String for i in range(columns)},
        missing_columns="insert",
        extra_columns="ignore",
        truncate_ragged_lines=True,
        comment_prefix=None,
        eol_char="\n",
        encoding="utf8-lossy" if lossy else "utf8",
        raise_if_empty=False,
    )


#: the NUL-separated pieces of a line ``numbered_lines`` reads back (a raw NUL is rare: hostile input)
NUL_PIECES = 8


def numbered_lines(path: str, rows: pl.Series) -> pl.LazyFrame:
    """The lines ``rows`` (0-based) of ``path`` as ``_row``, ``line`` (lossy UTF-8), read by a
    streaming scan that stops after the last row wanted: the few lines the quote split
    rejected are needed as text, and a parallel scan that filters by line number is cheaper
    than counting newlines in Python.

    The scan is ``scan_csv`` with a NUL byte as separator: nginx writes a NUL as ``\\x00``
    (default escaping, ``ngx_http_log_escape()``) or ``\\u0000`` (``escape=json``), so a line is
    one field -- but a raw NUL (``escape=none``, a hostile or broken writer) cut the line there,
    and the re-match failed every such line the native scanner reads (the hostile corpus:
    ``stats`` without the scanner read none of its lines, stop 67).  So the pieces between NULs
    are read as up to ``NUL_PIECES`` fields and joined again by NULs: runs of NULs read as one
    (an empty piece is null) and a line of more pieces loses its tail, which the whole-line
    regex of a format's fields does not need.  ``pl.scan_lines`` would do the same but reads
    ahead in chunks that took ~500 MB on a 1.2 GB log (measured); run this inside
    ``small_reader_chunks``."""
    import polars as pl

    for key, value in READER_ENV.items():
        os.environ.setdefault(key, value)
    pieces = [f"_p{k}" for k in range(NUL_PIECES)]
    return (
        pl.scan_csv(
            path,
            separator="\x00",
            quote_char=None,
            has_header=False,
            schema=dict.fromkeys(pieces, pl.String),
            missing_columns="insert",
            extra_columns="ignore",
            truncate_ragged_lines=True,
            comment_prefix=None,
            eol_char="\n",
            encoding="utf8-lossy",
            raise_if_empty=False,
            n_rows=int(rows.max()) + 1 if rows.len() else 0,  # type: ignore[arg-type]
        )
        .with_row_index("_row")
        .filter(pl.col("_row").is_in(rows.implode()))
        .select(pl.col("_row").cast(pl.UInt32),
                pl.concat_str(pieces, separator="\x00", ignore_nulls=True).fill_null("").alias("line"))
    )


#: Open while the process environment may be changed (``small_reader_chunks``).  A pass that
#: runs polars queries on another thread closes it while it runs (``app.diagnose.logfacts``):
#: setenv() may move the environment array while a polars thread reads it with getenv(), which
#: glibc does not lock.
ENV_FREE = threading.Event()
ENV_FREE.set()


@contextlib.contextmanager
def small_reader_chunks(nbytes: int = 256 << 10) -> Iterator[None]:
    """Run a scan with small read chunks: for ``numbered_lines``, whose whole lines are copied
    out of every chunk (2 MiB chunks took that scan to ~350 MB on a 1.2 GB log, 256 KiB to
    ~100 MB, measured).  polars reads the setting when a scan starts, so the scan must be
    started (first batch pulled) inside the block."""
    key = "POLARS_CSV_CHUNK_SIZE"
    ENV_FREE.wait()
    before = os.environ.get(key)
    os.environ[key] = str(nbytes)
    try:
        yield
    finally:
        if before is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = before


def is_invalid_utf8(err: BaseException) -> bool:
    """True when a polars error means the file has bytes that are not UTF-8."""
    return "utf-8" in str(err).lower() or "utf8" in str(err).lower()
