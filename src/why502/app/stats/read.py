"""Reading access-log files into a ``StatsAccumulator``: the streaming scan for plain files, the
chunk reader for ``.gz`` and stdin.

Plain files are read by polars' streaming engine (``sources.scan``), which runs the parse plan
while it reads, in parallel; the main thread aggregates its batches ``GROUP_ROWS`` at a time.
``.gz`` and stdin are read by ``sources.byte_chunks`` in byte chunks cut at the last newline
(``.gz`` decompressed as a stream), reduced by two worker threads (polars releases the GIL)
while the main thread merges the results in order.  Either way memory stays flat: only a few
batches or chunks are in flight.  (Measured on a 5M-line log: the streaming scan takes ~25% less
wall time and ~20% less CPU than the chunk reader, which left ~0.5 core idle; bench/README.md.)

When the engine's C scanner is built and runs the log's format (``LineParser.runs_native``),
every file is read by the chunk reader instead, in bigger chunks (``NATIVE_CHUNKS``): each
worker splits and parses its chunk in C (no GIL), then types and aggregates its rows in polars;
BENCHMARKS.md, stop 44.
"""

from __future__ import annotations

import contextvars
import threading
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import TypeVar

import polars as pl

from why502.errors import InputError
from why502.evidence.stats import UNPARSED_SAMPLES, Partial, StatsAccumulator
from why502.evidence.stats.parser import Folded
from why502.evidence.stats.reduce import Deferred
from why502.parsers.log_format import ByteChunk
from why502.sources.byte_chunks import MAX_LINE_BYTES, file_size, head_lines, iter_byte_chunks, lines_of
from why502.sources.logfiles import ByteBatch, iter_batches, iter_numbered_bytes
from why502.sources.opening import note_utf16
from why502.sources.scan import (
    BATCH_ROWS,
    GROUP_ROWS,
    SMALL_GROUP_ROWS,
    is_invalid_utf8,
    numbered_lines,
    probe,
    scan_split,
    scannable,
    small_reader_chunks,
)

ProgressBytes = Callable[[int], None]

# The native reader's chunks are this many times ``chunk_bytes``: the C split's columns take about
# a third of the memory of polars' split, and each chunk's aggregation has a fixed cost (~11 ms
# a chunk, whatever its size: polars plans and runs its queries): 1M lines in 20 MiB chunks
# took 1.5-1.7 CPU-s against 1.7-2.0 in 10 MiB ones (BENCHMARKS.md, stop 44)
NATIVE_CHUNKS = 1.5
# ... and this many once the chunks are cheap to hold: when the C scanner counted nearly every
# row itself (its fold, ``_scan_fold.h``) into few groups, a chunk's bytes are most of what it
# holds, and the fixed cost is paid half as often.  5M lines took 5.0-5.9 CPU-s in 15 MiB
# chunks, 4.5-4.8 in 30 and 3.9-4.3 in 45, at 170, 215 and 239 MB (one size throughout); 45 MiB
# after the first took 255-274 MB, too near issue 28's 300 (BENCHMARKS.md, stop 51).  A log
# whose rows the fold leaves (5xx, retries) or whose groups are as many as its rows (unique
# hosts, random minutes) keeps the small chunks: their columns and groups grow with them.
FOLDED_CHUNKS = 3.0
# chunks (at most) whose rows are aggregated together, and the rows they may hold (``_Deferred``)
DEFERRED_CHUNKS = 4
DEFERRED_ROWS = 60_000  # about the rows of one small chunk: hostile logs hold no more than before


@dataclass
class _Windows:
    """The size of the native reader's next read (``iter_byte_chunks``' ``window``), from how the
    last chunk went (``saw``): big while the fold counts nearly every row into few groups."""

    small: int
    big: int
    size: int = 0

    def __post_init__(self) -> None:
        self.size = self.small

    def __call__(self) -> int:
        return self.size

    def saw(self, part: Partial) -> None:
        groups = part.timeline.height if part.timeline is not None else 0
        if part.deferred is not None and part.deferred.folded is not None:
            groups += part.deferred.folded.timeline.height
        cheap = part.rows > 0 and part.folded * 10 >= part.rows * 9 and groups * 100 <= part.rows
        self.size = self.big if cheap else self.small


def read_files(
    acc: StatsAccumulator,
    paths: list[str],
    *,
    engine: str,
    chunk_bytes: int,
    workers: int,
    progress: ProgressBytes,
) -> None:
    """Read ``paths`` (in time order) into ``acc``; ``progress`` gets the bytes of ``paths``
    read so far.  ``engine``: ``auto`` (the native reader when the C scanner runs the format,
    else the scan for plain files and chunks for ``.gz`` and stdin), or ``scan`` / ``chunks``
    for every file (tests)."""
    offset = 0
    for path in paths:

        def file_progress(n: int, base: int = offset) -> None:
            progress(base + n)

        # the C split and parse (``LineParser.runs_native``) is the chunk reader's (plain, .gz or
        # stdin: it opens each once and says what it skipped), in the worker threads
        native = engine == "auto" and acc.reducer.parser.runs_native
        # a line longer than the chunk reader's cut would be held whole by polars' reader
        # its head, read once, says whether polars can scan it, the UTF-16 hint and the line length
        head, long_line = probe(path, MAX_LINE_BYTES if engine == "auto" else None) \
            if engine in ("auto", "scan") and not native else (None, False)
        scan = engine == "auto" and not native and scannable(head) and not long_line
        if engine == "scan" or scan:
            # polars opens it; the chunk reader says it itself (sources.byte_chunks)
            note_utf16(path, head[:4096] if head is not None else None)
            _scan_file(acc, path, file_progress, head)
        else:
            size = int(chunk_bytes * NATIVE_CHUNKS) if native else chunk_bytes
            # the native scanner takes views of reads into reused buffers (``_pread_chunks``: ~2
            # chunks' memory held for 2 in use, where new ``bytes`` each time held ~4)
            windows = _Windows(size, int(chunk_bytes * FOLDED_CHUNKS)) if native else None
            chunks = iter_byte_chunks([path], size, None, count_lines=False, views=native, window=windows)
            _feed(acc, _tracked(chunks, file_progress), workers, windows.saw if windows else None)
        offset += file_size(path)
        progress(offset)


def _tracked(chunks: Iterator[ByteChunk], progress: ProgressBytes) -> Iterator[ByteChunk]:
    """``chunks``, reporting the bytes handed out so far to ``progress``."""
    done = 0
    for chunk in chunks:
        done += len(chunk.data)
        progress(done)
        yield chunk
        del chunk  # not held while the next one is read


def bytes_per_line(path: str, head: bytes | None = None, keep: bool = False) -> float:
    """Average line length of ``path``'s first lines (progress of a scan is counted in lines);
    ``head``: its first bytes, already read (a plain file's, not gzip's); ``keep``: the file read
    whole next takes the one opened here (``head_lines``)."""
    sample = lines_of(head) if head is not None and head[:2] != b"\x1f\x8b" else head_lines(path, keep=keep)
    return sum(len(ln.encode("utf-8", "replace")) + 1 for ln in sample) / len(sample) if sample else 200.0


def _scan_file(acc: StatsAccumulator, path: str, progress: ProgressBytes, head: bytes | None = None) -> None:
    """Read one plain file with polars' streaming engine (``sources.scan``) into ``acc``.

    The file is read into its own accumulator, folded into ``acc`` at the end: a file with bytes
    that are not UTF-8 makes the strict reader fail part-way, and is then read again lossily
    (U+FFFD) without counting its first part twice.  Lines the fast split rejected are fetched
    by number after the scan and matched with the whole-line regex."""
    for lossy in (False, True):
        sub = acc.fresh()
        try:
            _scan_into(sub, path, lossy, progress, head)
            _rematch(sub, path)
        except pl.exceptions.ComputeError as err:
            sub.fivexx.close()
            if not lossy and is_invalid_utf8(err):
                continue
            raise InputError(f"{path}: cannot read: {str(err).splitlines()[0]}") from None
        except BaseException:
            sub.fivexx.close()  # its spilled 5xx rows are not run_stats' to remove
            raise
        acc.absorb(sub)
        return


def _rematch(acc: StatsAccumulator, path: str) -> None:
    """The rows to re-match, and the first few counted-unparsed rows (their text is only wanted
    for the samples): one pass over the file, stopped after the last row wanted."""
    bad = acc.bad_rows.pop(path, [])
    short = acc.short_rows.pop(path, [])
    if not bad and not short:
        return
    counted = pl.concat(short).head(UNPARSED_SAMPLES) if short else None
    wanted = pl.concat(bad + ([counted] if counted is not None else [])).unique().sort()
    lines = numbered_lines(path, wanted)
    with small_reader_chunks():
        for batch in acc.reducer.rematch_plan(lines).collect_batches(chunk_size=BATCH_ROWS):
            acc.merge(acc.reducer.partial_rematched(batch, path, counted))


def _scan_into(acc: StatsAccumulator, path: str, lossy: bool, progress: ProgressBytes,
               head: bytes | None = None) -> None:
    """One streaming pass over ``path``.  The engine hands out small batches; they are
    aggregated ``GROUP_ROWS`` at a time, because each aggregation call has a fixed cost of
    ~10 ms (measured: 50k-row groups took 20% more CPU than 200k-row ones; ``sources.scan``)."""
    size = file_size(path)
    per_line = bytes_per_line(path, head)
    split = scan_split(path, acc.reducer.parser.split_columns, lossy=lossy)
    plan = acc.reducer.scan_plan(split).with_row_index("_row")
    pending: list[pl.DataFrame] = []
    rows = 0
    # The first group is small: a log whose every line has its own host (hostile, or a crawler
    # farm) gives aggregates as big as the group, and a first group of GROUP_ROWS alone took
    # the run to ~400 MB (1 GB of unique hosts: bench/rss_table.py).  Groups grow to
    # GROUP_ROWS once a group shows few distinct (minute, status, host) keys.
    group = SMALL_GROUP_ROWS
    for batch in plan.collect_batches(chunk_size=BATCH_ROWS):
        pending.append(batch)
        rows += batch.height
        if rows >= group:
            part = acc.reducer.partial_batch(pl.concat(pending, rechunk=False), path)
            wide = part.timeline is not None and part.timeline.height > rows // 2
            group = SMALL_GROUP_ROWS if wide else GROUP_ROWS
            acc.merge(part)
            pending, rows = [], 0
            progress(min(size, int(acc.lines * per_line)))
    if pending:
        acc.merge(acc.reducer.partial_batch(pl.concat(pending, rechunk=False), path))


T = TypeVar("T")
R = TypeVar("R")


def pulled_in_order(pool: ThreadPoolExecutor, items: Iterator[T], convert: Callable[[T], R],
                    ahead: int) -> Iterator[R]:
    """``convert(item)`` of each of ``items`` in ``pool``'s workers, yielded in input order, at
    most ``ahead`` in flight.  Each worker takes its own next item (under a lock, so items are
    taken in order): reading an item -- the kernel's copy of a chunk -- happens on the worker's
    core, not the consumer's (with the C scanner that copy was a third of the merging thread's
    work, and the workers waited on it, BENCHMARKS.md stop 51).  ``items`` is advanced in this
    run's context (the files it keeps open, ``sources.once``: a worker's own context has none,
    and opened the log again)."""
    taking = threading.Lock()
    numbered = enumerate(items)
    context = contextvars.copy_context()

    def work() -> tuple[int, R] | None:
        with taking:
            got = context.run(next, numbered, None)
        if got is None:
            return None
        k, item = got
        del got  # (no reference to the item is kept past its conversion)
        return k, convert(item)

    running: deque[Future[tuple[int, R] | None]] = deque(pool.submit(work) for _ in range(max(1, ahead)))
    done: dict[int, R] = {}  # converted ahead of their turn
    turn = 0
    while running:
        result = running.popleft().result()
        if result is None:  # no item left for that worker
            continue
        running.append(pool.submit(work))
        done[result[0]] = result[1]
        while turn in done:
            yield done.pop(turn)
            turn += 1


def _feed(acc: StatsAccumulator, chunks: Iterator[ByteChunk], workers: int,
          saw: Callable[[Partial], None] | None = None) -> None:
    """Parse chunks in ``workers`` threads, merge in input order (at most ``workers + 1`` in
    flight: a worker reads its next chunk when it is done with the last); ``saw`` is shown each
    chunk's aggregates once merged.  The chunks' rows are aggregated a few chunks at a time
    (``_Deferred``), in this thread.

    Why one more than the workers: while this thread aggregates (~40 % of its time on 5M nginx
    lines), both workers finished their chunk and waited for it to take the next -- a worker was
    idle a quarter of the read (py-spy, BENCHMARKS.md stop 71); the one queued ahead keeps them
    busy, for one more chunk held in flight: ~10-30 MB more peak RSS (5M lines 243 -> 253 MB,
    ``diagnose`` of the 100 MB host 214 -> 242 MB; BENCHMARKS.md stop 71)."""
    batch = _Deferred(acc)
    if workers <= 1:
        for chunk in chunks:
            batch.merge(_partial(acc, chunk), saw)
        batch.flush()
        return
    with ThreadPoolExecutor(max_workers=workers) as pool:
        for part in pulled_in_order(pool, chunks, lambda chunk: _partial(acc, chunk), workers + 1):
            batch.merge(part, saw)
    batch.flush()


def _partial(acc: StatsAccumulator, chunk: ByteChunk) -> Partial:
    """The chunk's aggregates, its rows deferred (``_Deferred``); its bytes then go back to the
    reader (a view's buffer, ``sources.byte_chunks``)."""
    try:
        return acc.reducer.partial(chunk, defer=True)
    finally:
        chunk.done()


class _Deferred:
    """Chunks' rows left to aggregate (``Partial.deferred``), aggregated together once there are
    ``DEFERRED_CHUNKS`` chunks of them or ``DEFERRED_ROWS`` rows (or another file, or the end):
    each aggregation has a fixed cost (~15 ms: polars plans and runs its queries), and with the
    C scanner's fold a chunk leaves few rows (four 30 MiB chunks' rows: 32 ms in one aggregation,
    70 in four; BENCHMARKS.md stop 51).
    Each chunk's rows are numbered in its file as it is merged, so the aggregates are those of
    the chunks taken together."""

    def __init__(self, acc: StatsAccumulator) -> None:
        self.acc = acc
        self.path = ""
        self.held: list[tuple[int, Deferred]] = []
        self.rows = 0

    def merge(self, part: Partial, saw: Callable[[Partial], None] | None) -> None:
        first = self.acc.merge(part)
        if saw is not None:
            saw(part)
        deferred, part.deferred = part.deferred, None
        if deferred is None:
            return
        if part.path != self.path:
            self.flush()
            self.path = part.path
        self.held.append((first - 1, deferred))
        self.rows += deferred.size
        if len(self.held) >= DEFERRED_CHUNKS or self.rows >= DEFERRED_ROWS:
            self.flush()

    def flush(self) -> None:
        if self.held:
            self.acc.merge(self.acc.reducer.aggregate_deferred(self.path, self.held))
        self.held, self.rows = [], 0


#: a proxy's stats plug-in's reader of its own log (``Hooks.stats``, ``access_frames``): a batch of
#: lines (a ``String`` series) and the 0-based number of its first line in its file -> the
#: ``Reducer.partial_fields`` rows of its requests (lines that are no request left out)
FrameReader = Callable[[pl.Series, int], pl.DataFrame]
#: ... and its reader of raw blocks, when it has a native pass (``ProxiedInput.blocks``): the
#: undecoded bytes of whole lines, the 0-based number of the first one in its file and whether it
#: may count the rows the engine only counts itself (``Reducer.folds_fields``) -> the rows as
#: ``FrameReader`` gives them and those it counted (``Folded``: None, none), or None when it
#: cannot read the block (not built, turned off): its lines then go to the ``FrameReader``
BlockReader = Callable[[bytes, int, bool], "tuple[pl.DataFrame, Folded | None] | None"]


@dataclass(frozen=True)
class FramedLog:
    """Another proxy's access log as ``diagnose`` reads it (``Hooks.access_log``): the user's
    files, read once in this order as one set, the plug-in's reader of their lines into the
    engine's columns (None: no file to read) and the engine's format whose variables it fills;
    ``source``: what the user's format is called (the run's notes and errors say it, not the
    engine's format)."""

    paths: list[str]
    frames: FrameReader | None
    log_format: str
    source: str | None = None


class FrameFeed:
    """Batches of another proxy's lines, each turned into the engine's columns by its ``frames``
    and aggregated into ``acc`` a group of rows at a time (a call's fixed cost: ``_scan_into``).
    Each row keeps its file and its line there (``_row``), so a 5xx row names the user's file."""

    def __init__(self, acc: StatsAccumulator, frames: FrameReader,
                 pool: ThreadPoolExecutor | None = None) -> None:
        self.acc, self.frames = acc, frames
        # ``pool``: each group of rows aggregated in a worker (``Reducer`` touches no shared
        # state), merged in order here (``drain``); at most ``PARTS_AHEAD`` groups in flight
        self._pool = pool
        self._parts: deque[Future[Partial]] = deque()
        self._pending: list[pl.DataFrame] = []
        self._folded: list[tuple[int, Folded]] = []
        self._held, self._path = 0, ""
        # the non-blank lines handed to ``frames``, and the first of them: lines it leaves out
        # are no request (HAProxy's own event lines), but when it leaves out every line the
        # format is not the log's, and the run says so instead of "0 lines" (``unread``).
        # Raw blocks (``add_block``) are counted until the first row: that message is all it is for
        self.seen = 0
        self.first: tuple[str, int, str] | None = None
        self.rows = 0  # rows read so far (folded ones included)

    def add(self, path: str, first_line: int, lines: pl.Series, rows: pl.DataFrame | None = None) -> None:
        """The lines of ``path`` from its line ``first_line`` (1-based) on; ``rows``: their
        ``frames`` already (read in a worker: ``read_frames``)."""
        self._note(path, first_line, lines)
        self._hold(path, self.frames(lines, first_line - 1) if rows is None else rows, None)

    def add_block(self, path: str, first_line: int, data: bytes, rows: pl.DataFrame,
                  folded: Folded | None) -> None:
        """The rows (and the counted groups, ``folded``) a ``BlockReader`` read of ``data``, the
        undecoded lines of ``path`` from its line ``first_line`` on."""
        self.add_read(path, first_line, lambda: _lines(data), rows, folded)

    def add_read(self, path: str, first_line: int, lines: Callable[[], pl.Series], rows: pl.DataFrame,
                 folded: Folded | None) -> None:
        """``add_block`` of a block read elsewhere, ``lines()`` its lines (decoded as
        ``iter_batches`` decodes them), asked only until the first row."""
        if not self.rows:
            self._note(path, first_line, lines())
        self._hold(path, rows, folded)

    def _note(self, path: str, first_line: int, lines: pl.Series) -> None:
        blank = ~lines.str.contains(r"\S")
        self.seen += lines.len() - int(blank.sum())
        if self.first is None and self.seen:
            k = int(blank.arg_min() or 0)
            self.first = (path, first_line + k, str(lines[k]))

    def _hold(self, path: str, rows: pl.DataFrame, folded: Folded | None) -> None:
        if path != self._path:
            self.flush()
            self._path = path
        # rows are aggregated GROUP_ROWS at a time, the folded ones counted as the rows they stand
        # for (their groups are fewer): the 5xx rows then reach the accumulator in the same parts
        # with the fold as without it, and its bounded tables (``StatsAccumulator``: 5xx by
        # client) prune at the same points -- the same answer, to the byte
        if folded is not None:
            self._folded.append((0, folded))
            self._held += folded.rows
            self.rows += folded.rows
        if rows.height:
            self._pending.append(rows)
            self._held += rows.height
            self.rows += rows.height
        if self._held >= GROUP_ROWS:
            self.flush()

    def flush(self) -> None:
        if self._pending or self._folded:
            rows = (pl.concat(self._pending, rechunk=False) if self._pending else
                    self.frames(pl.Series("line", [], dtype=pl.String), 0))
            folded = Folded.together(self._folded)
            if self._pool is None:
                self.acc.merge(self.acc.reducer.partial_fields(rows, self._path, folded))
            else:
                reducer = self.acc.reducer
                self._parts.append(self._pool.submit(reducer.partial_fields, rows, self._path, folded))
                self.drain(PARTS_AHEAD)
        self._pending, self._folded, self._held = [], [], 0

    def drain(self, keep: int = 0) -> None:
        """Merge the groups aggregated in the pool, in order, until ``keep`` are left in flight."""
        while len(self._parts) > keep:
            self.acc.merge(self._parts.popleft().result())


def read_frames(acc: StatsAccumulator, paths: Iterable[str], frames: FrameReader,
                progress: ProgressBytes, blocks: BlockReader | None = None, workers: int = 2) -> FrameFeed:
    """Read another proxy's access log ``paths`` (plain or ``.gz``, in the order given) once,
    in batches of lines (``sources.logfiles.iter_batches``), each turned into the engine's
    columns by the proxy's ``frames`` and aggregated into ``acc``: no rewritten copy, no second
    parse (before: its lines were rewritten as nginx text into a scratch file that this engine
    parsed again, issue 23 item 3).

    With ``blocks`` (the plug-in's native pass) the same batches are handed over undecoded, and
    the pass counts the rows the engine only counts itself when the run allows it
    (``Reducer.folds_fields``): decoding, splitting and joining the lines again for the pass,
    then typing and grouping every row, was most of HAProxy's ``stats`` (BENCHMARKS.md, stop
    52).  (The batches keep ``iter_batches``' size: the rows are aggregated in the same parts
    either way, ``FrameFeed._hold``.)"""
    if blocks is None:
        # the plug-in's reader of each batch (Apache's ``LogFormat`` regex in polars' string
        # kernels, run one batch at a time) in the workers, the aggregation behind them as in
        # the block path: on the main thread alone it was two thirds of Apache's ``stats``
        # (py-spy, BENCHMARKS.md stop 58)
        def framed(item: tuple[str, int, pl.Series]) -> tuple[str, int, pl.Series, pl.DataFrame]:
            name, first, lines = item
            return name, first, lines, frames(lines, first - 1)

        with ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
            feed = FrameFeed(acc, frames, pool)
            for name, first, lines, rows in pulled_in_order(pool, batches_of(paths, progress), framed,
                                                            BLOCKS_AHEAD):
                feed.add(name, first, lines, rows)
            feed.flush()
            feed.drain()
        return feed
    fold = acc.reducer.folds_fields
    Read = tuple[ByteBatch, int, "tuple[pl.DataFrame, Folded | None] | None"]

    def work(item: tuple[ByteBatch, int]) -> Read:
        # the pass (no GIL) and its frames (polars, no GIL) in the worker, while this thread
        # aggregates the blocks before it, in input order (as ``_feed`` does)
        batch, first = item
        return batch, first, blocks(batch.data, first - 1, fold)

    def take(batch: ByteBatch, first: int, read: tuple[pl.DataFrame, Folded | None] | None) -> None:
        if read is None:
            feed.add(batch.path, first, _lines(batch.data))
        else:
            feed.add_block(batch.path, first, batch.data, *read)

    with ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
        feed = FrameFeed(acc, frames, pool)
        for read in pulled_in_order(pool, _raw_batches(paths, progress), work, BLOCKS_AHEAD):
            take(*read)
        feed.flush()
        feed.drain()
    return feed


# raw blocks (1 MiB each) read and passed in the workers at a time, ahead of the aggregation,
# and groups of rows (``GROUP_ROWS``) being aggregated there while this thread takes more
BLOCKS_AHEAD = 3
PARTS_AHEAD = 1



def _raw_batches(paths: Iterable[str], progress: ProgressBytes | None = None
                 ) -> Iterator[tuple[ByteBatch, int]]:
    """``batches_of``' batches undecoded (``sources.logfiles.iter_numbered_bytes``): (the batch,
    the number of its first line)."""
    try:
        for batch, first, count in iter_numbered_bytes(paths, unframe=True):
            if count:
                yield batch, first
            if progress is not None:
                progress(batch.bytes_done)
    except OSError as err:
        raise InputError(f"cannot read {err.filename}: {err.strerror or err}") from None


def _lines(data: bytes) -> pl.Series:
    """A raw batch's lines as ``batches_of`` gives them (``iter_batches``' decoding)."""
    return pl.Series("line", [data.decode("utf-8", errors="replace")]).str.split("\n").explode()


def batches_of(paths: Iterable[str], progress: ProgressBytes | None = None
               ) -> Iterator[tuple[str, int, pl.Series]]:
    """``paths`` (plain or ``.gz``) read once, in batches of whole lines
    (``sources.logfiles.iter_batches``): (path, number of the first line, the lines);
    ``progress`` gets the bytes of the current file read so far."""
    try:
        for batch in iter_batches(paths, unframe=True):
            if batch.count:
                yield batch.path, batch.first_line, pl.Series("line", [batch.text]).str.split("\n").explode()
            if progress is not None:
                progress(batch.bytes_done)
    except OSError as err:
        raise InputError(f"cannot read {err.filename}: {err.strerror or err}") from None
