"""``why502 classify``: stream log files through the classify engines and summarise.

Wiring only: ``sources.logfiles`` reads bounded batches (plain, ``.gz``, rotated sets, stdin),
``parsers.errorlog_batch`` classifies each batch column-wise, and this module adds the 1-based
``line``/``file`` columns, applies ``--since`` and keeps running totals for the summary, so
memory stays flat whatever the input size.  The summary (``summarize_paths``) reads raw bytes and
aggregates each batch in a worker thread (``summarize_series``): no per-line records at all.

When the native scanner is built (``parsers.errorlog_native``), the summary and ``--format
jsonl`` (``jsonl_paths``) hand each batch's bytes to it first, on two GIL-free workers: it counts
(or writes) the nginx lines, and only the lines it hands back go through the polars engine --
the same output, byte for byte (``tests/classify/test_classify_native.py``).  ``diagnose`` keeps
the polars engine (``classify_files``): it needs each record's text and captures.
"""

from __future__ import annotations

import array
import contextvars
import datetime as dt
import io
import queue
import threading
from collections import Counter, deque
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, Protocol, TypeVar

from why502.catalog.patterns import EVENT_IDS, NOT_FAILED_REQUESTS, is_failed_request
from why502.parsers import errorlog_native
from why502.parsers.errorlog import FIELD_NAMES
from why502.parsers.linememo import shared_memo
from why502.proxies import ENGINE
from why502.sources.logfiles import (
    DEFAULT_BATCH_BYTES,
    ByteBatch,
    LineBatch,
    ReadBuffers,
    Tolerate,
    ViewBatch,
    discovered,
    expand_inputs,
    iter_batches,
    iter_byte_batches,
    iter_byte_views,
)
from why502.sources.newlines import newlines
from why502.sources.opening import notes_here, notes_into
from why502.textutil import dump_json, json_inert, unsniffed
from why502.timeargs import parse_time_arg

if TYPE_CHECKING:
    import polars as pl

    from why502.findings import results
    from why502.proxies import ClassifyFold, ClassifyJsonl

# polars (and ``parsers.errorlog_batch``, the polars engine) are imported by the functions that
# use them: a summary the native scanner serves alone never needs them, and polars' import is
# ~0.2 s of CPU, a fifth of classifying a 1M-line log (BENCHMARKS.md, issue 28 item 3).

JSONL_COLUMNS: tuple[str, ...] = (
    "line", "file", "source", "symptom", "event", "side", "status", "time", "level", "upstream", "client",
    "server",
    "request", "host", "message",
)

B = TypeVar("B")
R = TypeVar("R")


def is_event(symptom: str) -> bool:
    """True for evidence-event IDs (PHP-FPM, kernel, systemd ...), False for proxy symptoms."""
    return symptom in EVENT_IDS


def count_failures(df: pl.DataFrame) -> int:
    """Records of ``df`` (``classify_paths`` frames) with an upstream-failure symptom, not an
    evidence event: what ``ClassifySummary.failures`` counts, without building the summary."""
    if df.height == 0:
        return 0
    return df.height - int(df.get_column("symptom").is_in(sorted(NOT_FAILED_REQUESTS)).sum())


def _aware_to_local(value: str) -> str | None:
    try:
        parsed = dt.datetime.fromisoformat(value)
    except ValueError:
        return None
    if parsed.tzinfo is not None:
        parsed = parsed.astimezone().replace(tzinfo=None)
    return parsed.isoformat()


def filter_since(df: pl.DataFrame, cutoff: dt.datetime) -> pl.DataFrame:
    """Keep rows at or after ``cutoff``; rows without a time are kept (nothing to judge by).
    Times with a UTC offset (syslog RFC 5424, JSON wrappers) are compared in local time, like
    ``--since``; nginx's own times are local already (``ngx_log_error_core``: ``ngx_cached_err_log_time``)."""
    import polars as pl

    stamp = cutoff.isoformat(timespec="seconds")
    time = pl.col("time")
    aware = time.str.contains(r"T\d\d:\d\d:\d\d(?:\.\d+)?[+-]\d\d:\d\d$")
    local = pl.when(aware).then(
        time.map_elements(_aware_to_local, return_dtype=pl.String)
    ).otherwise(time) if df.filter(aware).height else time
    return df.filter(time.is_null() | (local >= stamp))


def _classify_batch(
    batch: LineBatch, year: int, fields: tuple[str, ...], cutoff: dt.datetime | None,
    with_text: bool = False,
) -> pl.DataFrame:
    import polars as pl

    from why502.parsers.errorlog_batch import classify_series

    # pl.read_lines splits in Rust at ~1/5 the cost of str.split + explode (split_lines)
    data = batch.text.encode("utf-8")
    series = split_lines(data)[0]
    joined = memoryview(data)[:-1] if data.endswith(b"\n") else data  # the lines joined (no copy)
    df = classify_series(series, year=year, fields=fields, may_have_cr=b"\r" in data, joined=joined)
    del data, joined
    extra = [series.gather(df["idx"].cast(pl.UInt32)).alias("text")] if with_text else []
    df = df.with_columns(
        (pl.col("idx").cast(pl.Int64) + batch.first_line).alias("line"),
        pl.lit(batch.path).alias("file"),
        *extra,
    ).select(*JSONL_COLUMNS, "pattern", *(["text", "captures"] if with_text else []))
    if cutoff is not None and df.height:
        df = filter_since(df, cutoff)
    return df


MAX_UPSTREAMS = 5000  # distinct upstreams kept in the summary; the rest are counted as "(other)"


def split_lines(data: bytes) -> tuple[pl.Series, int]:
    """Bytes of whole lines (no trailing newline) -> (one string per line, number of lines).

    ``pl.read_lines`` (polars >= 1.3x, unstable) splits in Rust at half the cost of
    ``str.split`` + ``explode``; it drops a last empty line and one ``\\r`` before each newline,
    neither of which can classify, so only the count is corrected.  It rejects invalid UTF-8:
    such a batch is decoded in Python (``errors="replace"``, as ``sources.logfiles`` does).
    """
    import polars as pl

    read_lines = getattr(pl, "read_lines", None)
    if read_lines is None:  # older polars
        text = pl.Series("line", [data.decode("utf-8", errors="replace")]).str.split("\n").explode()
        return text, text.len()
    guarded, blank = unsniffed(data)  # a first line polars would take for a zlib stream
    try:
        lines = read_lines(guarded).to_series()
    except pl.exceptions.ComputeError:
        lines = read_lines(guarded.decode("utf-8", errors="replace").encode()).to_series()
    lines = lines.slice(blank) if blank else lines
    return lines, lines.len() + (not data or data.endswith(b"\n"))


def _summarize_lines(
    lines: pl.Series, year: int, cutoff: dt.datetime | None, raw: bytes | None = None,
) -> pl.DataFrame:
    """One small frame per batch (one row per symptom/status/source/upstream), computed in the
    worker thread: no per-line records, no per-line Python (``summarize_series``).  ``raw``: the
    batch's bytes, searched for a CR or a backslash (one-byte searches are memchr-fast; the
    two-byte ``\\"`` costs ~4 ms per 4 MiB in Python) so clean batches skip those checks."""
    from why502.parsers.errorlog_batch import summarize_series

    since = cutoff.isoformat(timespec="seconds") if cutoff is not None else None
    agg = summarize_series(lines, year=year, since=since,
                           filter_records=None if cutoff is None else partial(filter_since, cutoff=cutoff),
                           may_have_cr=raw is None or b"\r" in raw,
                           may_have_escapes=raw is None or has_escaped_quote(raw))
    # Polars strings are views into the batch's buffers: a copy lets the whole batch be freed
    # instead of pinned by a handful of strings.
    return _compact(agg)


SMALL_EXACT = 256
"""Up to how many lines the native summary sums the records of the lines the scanner handed back
(``aggregate_records(classify_series(...))``, what ``summarize_series`` gives by its contract,
``tests/classify/test_classify_summary.py``) rather than run ``summarize_series``, whose fixed
cost -- the framing peel, the engine's grouping query, the exact mask, then ``classify_series``
of every line that is not a plain nginx line, as most handed-back lines are not -- is the larger
part of a small batch's: 13.4 against 6.9 ms a 3-line batch, 59 against 47 ms at 256 lines of
the edge field corpus' error lines (stop 77).  A file of a few lines is one such batch, and
1,000 of them paid it each.  With ``--since`` too: the records are filtered by ``filter_since``
first, which gives what ``summarize_series`` gives with ``filter_since`` as its record filter
(its fast path compares nginx's raw time; ``tests/classify/test_classify_summary.py`` checks
the two on every real line at times around the cut-off, impossible ones too, in each wrapping).
The polars engine (no C build) keeps ``summarize_series`` for every batch:
``tests/classify/test_classify_native.py`` compares the two."""


def _summarize_handed_back(exact: bytes, year: int, cutoff: dt.datetime | None) -> pl.DataFrame:
    """``_summarize_lines`` of the lines the native scanner handed back (``exact``, whole lines),
    or, for at most ``SMALL_EXACT`` of them, the sum of their records (those at or after
    ``cutoff``)."""
    from why502.parsers.errorlog_batch import aggregate_records, classify_series

    lines = split_lines(exact)[0]
    if lines.len() <= SMALL_EXACT:
        # every field: a batch of a few lines is then read line by line (PER_LINE_BELOW), and
        # the summary reads only the upstream of them
        records = classify_series(lines, year=year)
        return _compact(aggregate_records(records if cutoff is None else filter_since(records, cutoff)))
    return _summarize_lines(lines, year, cutoff, exact)


def has_escaped_quote(raw: bytes, budget: int = 256) -> bool:
    """Whether ``raw`` holds ``\\"`` (a quote escaped by a log shipper: those lines go the exact
    way).  Backslashes are found with ``memchr`` (``bytes.find`` of one byte); a two-byte search
    costs ~4 ms per 4 MiB, and a batch with a backslash but no escaped quote (``\\x01`` in an
    invalid header) would otherwise make the summary check every row (~20 % of its CPU).  After
    ``budget`` backslashes the plain two-byte search answers."""
    at = raw.find(b"\\")
    while at >= 0:
        if raw[at + 1:at + 2] == b'"':
            return True
        budget -= 1
        if budget <= 0:
            return b'\\"' in raw
        at = raw.find(b"\\", at + 1)
    return False


def _summarize_chunk(chunk: ByteBatch, year: int, cutoff: dt.datetime | None) -> tuple[pl.DataFrame, int]:
    lines, count = split_lines(chunk.data)
    return _summarize_lines(lines, year, cutoff, chunk.data), count


def classify_paths(
    paths: Sequence[str],
    since: str | dt.datetime | None = None,
    rotated: bool = False,
    batch_bytes: int = DEFAULT_BATCH_BYTES,
    on_batch: Callable[[LineBatch], None] | None = None,
    fields: Sequence[str] = FIELD_NAMES,
    workers: int = 2,
    notes: list[str] | None = None,
) -> Iterator[pl.DataFrame]:
    """Yield one frame per batch, in input order: ``line`` (1-based in its file), ``file`` + the
    record fields (``fields`` limits the request fields extracted from nginx lines).

    Batches are classified by ``workers`` threads (polars releases the GIL) while the next batch
    is read; at most ``workers + 1`` batches are in flight, so memory stays bounded.  ``paths``
    may hold globs and ``-`` (stdin); none means stdin.  Raises ``InputError`` for unreadable
    inputs and ``UsageError`` for a bad ``since``.
    """
    cutoff = parse_time_arg(since, "--since") if isinstance(since, str) else since
    files = expand_inputs(paths or ["-"], rotated=rotated)
    yield from classify_files(files, since=cutoff, batch_bytes=batch_bytes, on_batch=on_batch,
                              fields=fields, workers=workers,
                              tolerate=_tolerate(paths, rotated, notes))


def classify_files(
    files: Sequence[Path | str],
    since: dt.datetime | None = None,
    batch_bytes: int = DEFAULT_BATCH_BYTES,
    on_batch: Callable[[LineBatch], None] | None = None,
    fields: Sequence[str] = FIELD_NAMES,
    workers: int = 2,
    with_text: bool = False,
    year: int | None = None,
    tolerate: Tolerate | None = None,
    side: SideRead | None = None,
) -> Iterator[pl.DataFrame]:
    """``classify_paths`` for inputs already expanded (``expand_inputs``): ``files`` are read as
    named, in order -- no globs, no rotated siblings -- so a caller that handles each file on its
    own (``why502 diagnose``: strict for named files, notes for discovered ones) shares this
    loop instead of copying it.  ``with_text`` adds ``text``, the raw line of each record, and
    ``captures``, the facts its pattern found (pid, process, pool, unit, ...);
    ``year`` fills in BSD syslog stamps (default: this year); ``side``: another reader of the
    same batches (:class:`SideRead`).  Yields only non-empty frames."""
    wanted = tuple(fields)
    stamp_year = dt.date.today().year if year is None else year
    if with_text and on_batch is None and side is None and since is None and wanted == tuple(FIELD_NAMES) \
            and errorlog_native.available():
        yield from _rows_native(files, batch_bytes, workers, stamp_year, tolerate)
        return
    for df in _run(iter_batches(files, batch_bytes=batch_bytes, tolerate=tolerate), on_batch, workers,
                   lambda batch: _classify_batch(batch, stamp_year, wanted, since, with_text), side):
        if df.height:
            yield df


class _RowBook(errorlog_native.RuleBook):
    """The scanner's resolver, its records carrying the rule's ``pattern`` too (the fragment it
    pastes into each record: ``RuleBook.__call__``), as ``classify_files(with_text=True)``'s
    rows do; ``classify --format jsonl`` has no such field."""

    def __call__(self, key: int, errno: int, action: str | None, level: str, detail: int,
                 ) -> tuple[int, bytes, bool] | Literal[False] | None:
        got = super().__call__(key, errno, action, level, detail)
        if got is None or got is False:
            return got
        idx, fragment, failure = got
        pattern = dump_json(self.rules[idx].pattern.id, indent=None).encode("utf-8")
        return idx, fragment + b',"pattern":' + pattern, failure


def _rows_native(files: Sequence[Path | str], batch_bytes: int, workers: int, year: int,
                 tolerate: Tolerate | None) -> Iterator[pl.DataFrame]:
    """``classify_files(with_text=True)`` through the C scanner (``why502 diagnose``'s error
    logs): the same batches (``iter_byte_batches`` cuts as ``iter_batches`` does) and the same
    rows, columns and types, each batch's nginx lines read by the scanner (``classify --format
    jsonl``'s records, which are the polars engine's byte for byte:
    tests/classify/test_classify_native.py) and the lines it hands back by the polars engine, as
    there.  The scanner's rows have no captures (the engine's nginx rows have none either);
    ``text`` is each row's line as the polars path cuts it (``split_lines``).  ~4x less CPU than
    the polars engine on nginx's lines (100 MB host, issue 28 item 1)."""
    import polars as pl

    from why502.parsers.errorlog_batch import CAPTURES_DTYPE, classify_series

    book = _RowBook()
    scanners = errorlog_native.ThreadScanners(book)
    memo = shared_memo()
    schema = {c: (pl.Int64 if c in ("line", "status") else pl.String) for c in (*JSONL_COLUMNS, "pattern")}
    file_json: dict[str, bytes] = {}

    def work(item: tuple[ByteBatch, int]) -> pl.DataFrame:
        chunk, first_line = item
        fj = file_json.get(chunk.path)
        if fj is None:  # the path as polars writes it (its escaping), C1 controls escaped
            fj = file_json[chunk.path] = json_inert(
                pl.DataFrame({"file": [chunk.path]}).write_ndjson())[len('{"file":'):-2].encode("utf-8")
        ascii = chunk.data.isascii()
        lines = split_lines(chunk.data)[0]
        parts = []
        if _handed_back_as_is(chunk.data, ascii) and memo.reads_first(chunk.data):
            # Apache's error lines, which the scanner hands back whole: the per-line path reads
            # them all, its finders from the batch's bytes (``jsonl_paths`` does the same)
            at: pl.Series | None = None
            df = classify_series(lines, year=year, may_have_cr=False, joined=chunk.data)
        else:
            out, _, _, exact, marks = scanners.get().records(chunk.data, first_line, fj, None, ascii)
            if out:
                parts.append(pl.read_ndjson(io.BytesIO(out), schema=schema)
                             .with_columns(pl.lit(None, dtype=CAPTURES_DTYPE).alias("captures")))
            df, at = pl.DataFrame(), None
            if exact is not None and marks:
                pairs = array.array("q")
                pairs.frombytes(marks)
                at = pl.Series(pairs[0::2], dtype=pl.UInt32)
                df = classify_series(lines.gather(at), year=year)
        if df.height:
            idx = df["idx"].cast(pl.UInt32)
            rows = (at.gather(idx) if at is not None else idx).cast(pl.Int64) + first_line
            parts.append(df.with_columns(rows.alias("line"), pl.lit(chunk.path).alias("file"))
                         .select(*JSONL_COLUMNS, "pattern", "captures"))
        if not parts:
            return pl.DataFrame()
        df = pl.concat(parts, how="vertical").sort("line", maintain_order=True)
        text = lines.gather((df["line"] - first_line).cast(pl.UInt32))
        return df.with_columns(text.alias("text")).select(*JSONL_COLUMNS, "pattern", "text", "captures")

    for df in _run(_numbered(files, batch_bytes, tolerate), None, workers, work):
        if df.height:
            yield df


# --format jsonl batches: each batch pays a fixed ~5 ms (query set-up, rule resolution, the
# others' prefilter), so 2 MiB batches classify ~20 % faster than 1 MiB ones; 4 MiB ones cost
# ~70 MiB more peak RSS with two workers (bench/classify_bench.py).
JSONL_BATCH_BYTES = 2 * 1024 * 1024

# Summary batches: 5 MiB (~18k error-log lines).  Each batch has a fixed cost (~4-6 ms of CPU: the
# group query's set-up and regex warm-up, rule resolution, the peel): 1 MiB batches spent ~30 %
# more CPU than 4 MiB ones, and 5 MiB ones 5-10 % less than 4 MiB (BENCHMARKS.md, stop 53).  A
# worker's transient memory is ~10-15x its batch (split buffers, extracted columns), so larger
# batches cost RSS: 5 MiB peaked at 170-190 MiB on framed 1M-line logs, 6 MiB at 201 MiB
# (``--timestamps``), past the 200 MiB target.
SUMMARY_BATCH_BYTES = 5 * 1024 * 1024
# One worker: the streaming query already spreads each batch over polars' threads; a second
# worker bought nothing measurable on a 2-core VM (load ~2.5) and cost ~20 MiB of peak RSS
# (2 x 4 MiB: ~180 MiB on the outage shape).
SUMMARY_WORKERS = 1


def summarize_paths(
    paths: Sequence[str],
    since: str | dt.datetime | None = None,
    rotated: bool = False,
    batch_bytes: int | None = None,
    on_batch: Callable[[ByteBatch | ViewBatch], None] | None = None,
    workers: int = SUMMARY_WORKERS,
    notes: list[str] | None = None,
) -> ClassifySummary:
    """The summary of ``classify_paths`` without materialising per-line records (the default
    ``why502 classify`` output).  With the native scanner, two workers each read a batch and
    scan it (``_summarize_native``); without it, this thread reads raw bytes ahead, the worker
    decodes, splits and aggregates each batch (``summarize_series``).  The totals merge small
    frames."""
    cutoff = parse_time_arg(since, "--since") if isinstance(since, str) else since
    year = dt.date.today().year
    summary = ClassifySummary()

    def seen(chunk: ByteBatch | ViewBatch) -> None:
        summary.add_file(chunk.path)
        if on_batch is not None:
            on_batch(chunk)

    files = expand_inputs(paths or ["-"], rotated=rotated)
    for f in files:  # in order, and an empty file (no batch at all) is named too
        summary.add_file(str(f))
    native = errorlog_native.available()
    if native:
        buffers = ReadBuffers(batch_bytes or NATIVE_BATCH_BYTES, keep=NATIVE_WORKERS + 2)
        views = iter_byte_views(files, buffers, tolerate=_tolerate(paths, rotated, notes))
        _summarize_native(views, buffers, seen, year, cutoff, summary)
    else:
        batches = iter_byte_batches(files, batch_bytes=batch_bytes or SUMMARY_BATCH_BYTES,
                                    tolerate=_tolerate(paths, rotated, notes))
        for agg, count in _run(batches, seen, workers, lambda chunk: _summarize_chunk(chunk, year, cutoff)):
            summary.lines_read += count
            summary.add_aggregate(agg)
    summary.finish()
    return summary


# The native scanner releases the GIL for its whole pass (and so does reading): two workers
# each read a batch and scan it (``_pull``), one per core (bench/classify_bench.py).
NATIVE_WORKERS = 2
# Its batches: the lines it hands back go through the polars engine at ~15x their size in memory
# (all of them, on a log every line of which is wrapped by docker): 2 MiB keeps two workers under
# the 200 MiB of RSS where 4 MiB went past it (BENCHMARKS.md); on plain nginx logs the size
# hardly matters (a batch costs the scanner nothing fixed).
NATIVE_BATCH_BYTES = 2 * 1024 * 1024


def _summarize_native(
    batches: Iterator[ViewBatch], buffers: ReadBuffers, seen: Callable[[ViewBatch], None], year: int,
    cutoff: dt.datetime | None, summary: ClassifySummary,
) -> None:
    """The summary through the C scanner (``parsers.errorlog_native``): each worker thread's
    scanner counts its batches' nginx lines per (rule, upstream peer); the lines it hands back
    (not ASCII, escaped quotes, other programs ...) are summarised by the polars engine in the
    same worker.  The groups are read once, at the end.  A batch is a view into one of
    ``buffers`` (``sources.logfiles.iter_byte_views``), handed back as soon as the scanner has
    read it (its exact lines are a copy).  The scanner checks each line for non-ASCII bytes
    itself, without the GIL (no ``ascii`` argument), where ``bytes.isascii`` ran over each batch
    under the GIL (~4 % of the CPU, BENCHMARKS.md)."""
    book = errorlog_native.RuleBook()
    scanners = errorlog_native.ThreadScanners(book, max_groups=_NATIVE_GROUPS)
    since = errorlog_native.engine_since(_since_iso(cutoff))

    from why502.proxies import classify_folds

    folds = classify_folds()  # each proxy's counter by group (Hooks.classify_fold), --since handed over
    memo = shared_memo()  # (parsers.linememo: the registry installed the proxies' memo)
    since_stamp = cutoff.isoformat(timespec="seconds") if cutoff is not None else None  # filter_since's

    def work(chunk: ViewBatch) -> tuple[pl.DataFrame | None, int]:
        kept: list[tuple[Any, ...]] | None = None  # the memo's rows, when it read the batch first
        exact: bytes | None
        try:
            whole = _fold_reads(folds, chunk.data, since_stamp)
            if whole is not None:  # a proxy's log (HAProxy's): its fold reads the whole batch first
                count, exact = newlines(whole) + 1, whole
            elif cutoff is None and memo.reads_first(bytes(chunk.data[:2])):  # (its first two bytes)
                # httpd's error lines, which the scanner hands back whole (``LineMemo.reads_first``,
                # as ``watch`` reads them): the memo's keys first, the scanner the lines it hands back
                data = bytes(chunk.data)
                count = newlines(data) + 1
                kept, back = memo.summary_of_block(data)
                exact = scanners.get().summarize(back, since)[1] if back else None
            else:
                count, exact = scanners.get().summarize(chunk.data, since)
        finally:
            chunk.data.release()
            buffers.give(chunk.buffer)
        rows: list[tuple[Any, ...]] = []
        if exact:
            for fold in folds:
                got, exact = fold(exact, since_stamp)
                rows += got
        if kept is not None:  # (after the folds' rows, as when the memo read the scanner's lines)
            rows += kept
        elif cutoff is None and exact:  # a proxy's memo counts the lines of its keys (Apache's)
            got, exact = memo.summary_of_block(exact)
            rows += got
        agg = _summarize_handed_back(exact, year, cutoff) if exact else None
        if rows:
            agg = _with_rows(agg, rows)
        return agg, count

    for agg, count in _pull(batches, seen, NATIVE_WORKERS, work):
        summary.lines_read += count
        if agg is not None:
            summary.add_aggregate(agg)
    _fold_native_groups(summary, book, scanners)


def _handed_back_as_is(data: bytes, ascii: bool) -> bool:
    """Whether the nginx scanner would hand each line of ``data`` it does not read back exactly as
    it is (an exact line), so that another reader may take the batch before it: ``ascii``
    (``data.isascii()``, which the callers have for the scanner too) and no CR (the scanner cuts
    one from a line's end).  Batches with other bytes keep the scanner first: that it hands
    their lines back unchanged was not checked line for line."""
    return ascii and b"\r" not in data


_HEAD_PEEK = 1 << 14  # the bytes of a batch ``_fold_reads`` looks for its first line in


def _fold_reads(folds: Sequence[ClassifyFold], data: memoryview, since: str | None) -> bytes | None:
    """The batch's bytes when a proxy's fold (``Hooks.classify_fold``) reads its first line (it
    hands none of it back) and the nginx scanner would hand every line of it back untouched (it
    is ASCII, with no CR), else None.  Then the batch is that proxy's log (HAProxy's: every line
    a session line), and the summary hands the folds the whole batch, not the lines the scanner
    hands back -- every line of it, after a pass that read each (~0.8 CPU-s per 1M HAProxy lines,
    a quarter of the command's: BENCHMARKS.md, stop 76).  The same counts either way: the
    scanner counts no such line, and the lines no fold takes go to the per-line path either
    way.  (A copy of the batch: the folds keep no view of a buffer handed back.)"""
    if not folds:
        return None
    peek = bytes(data[:_HEAD_PEEK])
    line = _head_line(peek)
    if len(line) == len(peek) < len(data):
        return None  # a first line longer than the peek: the scanner's turn
    if not line or not any(not fold(line, since)[1] for fold in folds):
        return None
    whole = bytes(data)
    return whole if _handed_back_as_is(whole, whole.isascii()) else None


def _with_rows(agg: pl.DataFrame | None, rows: list[tuple[Any, ...]]) -> pl.DataFrame:
    """A batch's summary frame with a fold's rows added (``SUMMARY_SCHEMA``'s columns): the
    totals take them as they take the rules', so the upstreams' order and ``MAX_UPSTREAMS``
    cut come out the same."""
    import polars as pl

    from why502.parsers.errorlog_batch import SUMMARY_SCHEMA

    frame = pl.DataFrame(rows, schema=SUMMARY_SCHEMA, orient="row")
    return frame if agg is None else pl.concat([agg.select(*SUMMARY_SCHEMA), frame], how="vertical_relaxed")


def _fold_native_groups(summary: ClassifySummary, book: errorlog_native.RuleBook,
                        scanners: errorlog_native.ThreadScanners) -> None:
    """The scanners' (rule, peer) groups into the summary: times are compared as nginx wrote them
    and turned into ISO once per rule; on an outage log of 600 peers the groups are ~20k, and a
    per-group ``add_rows`` cost ~0.4 s.  The scanners' groups are summed per (peer, rule) first
    and handed to ``add_upstream`` in the order each pair was first seen: each name comes first
    where it came first before, so the same names get places under ``MAX_UPSTREAMS`` and the
    same sums -- in half the calls (two scanners hold mostly the same pairs).  This runs after
    the last batch, on one thread, so its time is the run's (~30 ms on the outage log before)."""
    per_rule: dict[int, list[Any]] = {}  # rule -> [n, first, last] (raw nginx times)
    per_peer: dict[tuple[bytes | bool, int], int] = {}  # (peer, rule) -> n, in first-seen order
    for scanner in scanners.all:
        for rule_idx, peer, n, first, last in scanner.groups():
            span = per_rule.get(rule_idx)
            if span is None:
                per_rule[rule_idx] = [n, first, last]
            else:
                span[0] += n
                if first < span[1]:
                    span[1] = first
                if last > span[2]:
                    span[2] = last
            if peer is not None:
                key = (peer, rule_idx)
                per_peer[key] = per_peer.get(key, 0) + n
    symptoms = [rule.symptom for rule in book.rules]
    for (peer, rule_idx), n in per_peer.items():
        name = peer.decode("ascii") if isinstance(peer, bytes) else "(other)"
        summary.add_upstream(name, symptoms[rule_idx], n)
    for rule_idx, (n, first, last) in per_rule.items():
        rule = book.rules[rule_idx]
        summary.add_symptom(rule.symptom, rule.status, ENGINE, n, errorlog_native.iso_time(first),
                            errorlog_native.iso_time(last))


# (rule, peer) groups a scanner keeps before further peers are counted as "(other)": the
# summary shows MAX_UPSTREAMS of them at most, and this bounds memory on hostile input.
_NATIVE_GROUPS = 50_000


def _since_iso(cutoff: dt.datetime | None) -> str | None:
    return cutoff.isoformat(timespec="seconds") if cutoff is not None else None


def jsonl_paths(
    paths: Sequence[str],
    since: str | dt.datetime | None = None,
    rotated: bool = False,
    on_batch: Callable[[LineBatch | ByteBatch], None] | None = None,
    notes: list[str] | None = None,
    batch_bytes: int | None = None,
) -> Iterator[tuple[bytes, int]]:
    """``classify --format jsonl``: (UTF-8 JSON lines, upstream failures among them) per batch,
    in input order -- what ``classify_paths`` + ``write_ndjson`` give, byte for byte.  nginx
    lines go through the C scanner when it is built, the rest (and everything without it)
    through the polars engine."""
    import polars as pl

    cutoff = parse_time_arg(since, "--since") if isinstance(since, str) else since
    files = expand_inputs(paths or ["-"], rotated=rotated)
    tolerate = _tolerate(paths, rotated, notes)
    if not errorlog_native.available():
        for df in classify_files(files, since=cutoff, batch_bytes=batch_bytes or JSONL_BATCH_BYTES,
                                 on_batch=on_batch, tolerate=tolerate):
            yield json_inert(df.select(*JSONL_COLUMNS).write_ndjson()).encode("utf-8"), count_failures(df)
        return
    book = errorlog_native.RuleBook()
    scanners = errorlog_native.ThreadScanners(book)
    since_raw = errorlog_native.engine_since(_since_iso(cutoff))
    since_iso = cutoff.isoformat(timespec="seconds") if cutoff is not None else None  # filter_since's
    stamp_year = dt.date.today().year
    file_json: dict[str, bytes] = {}
    from why502.proxies import classify_jsonls

    writers = classify_jsonls()
    memo = shared_memo()  # (its ``reads_first``: Apache's error lines, which the scanner hands back)

    def work(item: tuple[ByteBatch, int]) -> tuple[bytes, int]:
        chunk, first_line = item
        fj = file_json.get(chunk.path)
        if fj is None:  # the path as polars writes it (its escaping), C1 controls escaped
            fj = file_json[chunk.path] = json_inert(
                pl.DataFrame({"file": [chunk.path]}).write_ndjson())[len('{"file":'):-2].encode("utf-8")
        ascii = chunk.data.isascii()
        if _handed_back_as_is(chunk.data, ascii) and (memo.reads_first(chunk.data) or _writer_reads(
                writers, _head_line(chunk.data), first_line, fj, since_iso, stamp_year)):
            # a proxy's log the scanner would hand back whole: the writers, then the per-line path
            lines = chunk.data[:-1] if chunk.data.endswith(b"\n") else chunk.data
            return _splice_exact(b"", lines, _unplaced(newlines(lines) + 1), chunk.path, first_line,
                                 stamp_year, cutoff, 0, fj)
        out, _, failures, exact, marks = scanners.get().records(chunk.data, first_line, fj, since_raw, ascii)
        if exact is None:
            return out, failures
        return _splice_exact(out, exact, marks, chunk.path, first_line, stamp_year, cutoff, failures, fj)

    def seen(item: tuple[ByteBatch, int]) -> None:
        if on_batch is not None:
            on_batch(item[0])

    numbered = _numbered(files, batch_bytes or NATIVE_BATCH_BYTES, tolerate)
    yield from _run(numbered, seen, NATIVE_WORKERS, work)


def _head_line(data: bytes) -> bytes:
    """The first line of a batch (a line is cut at its newline)."""
    end = data.find(b"\n")
    return data if end < 0 else data[:end]


def _writer_reads(writers: Sequence[ClassifyJsonl], line: bytes, first_line: int, file_json: bytes,
                  since: str | None, year: int) -> bool:
    """Whether a proxy's jsonl writer (``Hooks.classify_jsonl``) takes ``line``, a batch's first
    line: hands no row of it back.  Then the batch is that proxy's log (HAProxy's: every line a
    session line), and ``jsonl_paths`` hands the writers the whole batch first, not the lines the
    nginx scanner hands back -- which were every line of it, after a pass that read each
    (~0.8 CPU-s per 1M HAProxy lines, a quarter of the command's: BENCHMARKS.md, stop 76).
    (Apache's error lines, which no writer takes, are its memo's: ``LineMemo.reads_first`` says
    why the scanner hands such lines back untouched.)
    The same records either way: the scanner reads no such line (it hands it back untouched,
    as an exact line), and the lines no writer takes go to the per-line path either way."""
    for write in writers if line else ():
        got = write(line, _ONE_PLACE, first_line, file_json, since, year)
        if got is not None and not got[2]:
            return True
    return False


_ONE_PLACE = array.array("q", (0, 0)).tobytes()  # a mark: line 0 of a batch, its records at offset 0


def _unplaced(lines: int) -> bytes:
    """``_splice_exact``'s marks of a batch of ``lines`` lines none of which the scanner read:
    each line's index, and offset 0 in its (empty) output -- the same for every batch, so cut
    from one kept for the longest batch yet (made anew, ``array`` from a ``range`` was ~4 % of
    the command's CPU on HAProxy's log)."""
    global _UNPLACED
    if len(_UNPLACED) < 16 * lines:
        marks = array.array("q", bytes(16 * lines))
        marks[0::2] = array.array("q", range(lines))
        _UNPLACED = marks.tobytes()
    return _UNPLACED[:16 * lines]


_UNPLACED = b""  # ``_unplaced``'s marks of the longest batch yet (workers may race: both are right)


def _numbered(files: Sequence[Path | str], batch_bytes: int, tolerate: Tolerate | None,
              ) -> Iterator[tuple[ByteBatch, int]]:
    """Each file's byte batches with the 1-based number of their first line in that file."""
    for f in files:
        line_no = 1
        for chunk in iter_byte_batches([f], batch_bytes=batch_bytes, tolerate=tolerate):
            yield chunk, line_no
            line_no += newlines(chunk.data) + 1


def _splice_exact(
    out: bytes, exact: bytes, marks: bytes, path: str, first_line: int, year: int,
    cutoff: dt.datetime | None, failures: int, file_json: bytes = b"",
) -> tuple[bytes, int]:
    """The scanner's records with the records of the lines it handed back (``exact``, one per
    mark: its index in the batch and where its records go in ``out``, int64 pairs) put in their
    places: first those a proxy writes itself (``Hooks.classify_jsonl``: HAProxy's session lines,
    in runs that each go in one place), then the per-line path's of the lines left."""
    import polars as pl

    from why502.parsers.errorlog_batch import classify_series
    from why502.proxies import classify_jsonls

    where = array.array("q")
    where.frombytes(marks)
    rows = range(len(where) // 2)  # the exact lines left: their rows among ``exact``'s
    pieces: list[tuple[int, int, bytes]] = []  # (row, offset in out, records)
    left, left_marks = exact, marks
    since = cutoff.isoformat(timespec="seconds") if cutoff is not None else None  # filter_since's
    for write in classify_jsonls() if file_json else ():
        got = write(left, left_marks, first_line, file_json, since, year)
        if got is None:
            continue
        blob, runs, back, left, written = got
        failures += written
        spans = array.array("q")
        spans.frombytes(runs)
        pieces += [(rows[spans[k]], spans[k + 2], blob[spans[k + 3]:spans[k + 4]])
                   for k in range(0, len(spans), 5)]
        kept = array.array("I")
        kept.frombytes(back)
        rows = [rows[i] for i in kept]  # type: ignore[assignment]
        left_marks = array.array("q", (v for r in rows for v in (where[2 * r], where[2 * r + 1]))).tobytes()
        left = left[:-1] if left.endswith(b"\n") else left
        if not rows:
            break
    if rows:
        text = left.decode("utf-8", errors="replace")
        df = classify_series(pl.Series("line", text.split("\n"), dtype=pl.String), year=year)
        if df.height:
            taken = [rows[i] for i in df.get_column("idx").to_list()]
            numbers = [first_line + where[2 * r] for r in taken]
            df = df.with_columns(pl.Series("line", numbers, dtype=pl.Int64), pl.lit(path).alias("file"),
                                 pl.Series("_row", taken, dtype=pl.Int64))
            if cutoff is not None:
                df = filter_since(df, cutoff)
            if df.height:
                failures += count_failures(df)
                kept_rows = df.get_column("_row").to_list()
                lines = _ndjson_lines(df)
                pieces += [(r, where[2 * r + 1], line) for r, line in zip(kept_rows, lines, strict=True)]
    if not pieces:
        return out, failures
    pieces.sort(key=lambda p: p[0])
    joined: list[bytes] = []
    at = 0
    for _row, offset, records in pieces:
        joined += [out[at:offset], records]
        at = offset
    joined.append(out[at:])
    return b"".join(joined), failures


def _ndjson_lines(df: pl.DataFrame) -> list[bytes]:
    text = json_inert(df.select(*JSONL_COLUMNS).write_ndjson())
    return [line.encode("utf-8") + b"\n" for line in text.splitlines()]


def _tolerate(paths: Sequence[str], rotated: bool, notes: list[str] | None) -> Tolerate | None:
    """With ``notes``, the rotated siblings classify found by itself are read leniently: a
    damaged one becomes a note in ``notes`` (files named by the user stay strict, exit 3)."""
    if notes is None or not rotated:
        return None
    tol = Tolerate(discovered(paths or ["-"], rotated))
    tol.notes = notes
    return tol


class SideRead(Protocol):
    """A second reader of the batches ``classify_files`` reads (diagnose's HAProxy access-log
    feed: HAProxy writes one log, read once as both logs).  ``read`` runs in the classifying
    workers next to the batch's classification (it must touch no shared state), ``take`` in the
    caller's thread, in input order, with what ``read`` gave.  As ``on_batch`` in the reading
    thread the feed's native pass and the batch's encoding were ~20 % of the thread the whole run
    waits on (BENCHMARKS.md stop 62)."""

    def read(self, batch: LineBatch) -> object: ...

    def take(self, batch: LineBatch, got: object) -> None: ...


def _run(
    batches: Iterator[B], on_batch: Callable[[B], None] | None, workers: int,
    work: Callable[[B], R], side: SideRead | None = None,
) -> Iterator[R]:
    """Read batches in this thread, run ``work`` (and ``side.read``) on ``workers`` threads
    (polars releases the GIL), yield results in input order (``side.take`` of each batch just
    before its result) with at most ``workers + 1`` batches in flight."""
    limit = max(1, workers)

    def job(batch: B) -> tuple[R, object]:
        return work(batch), (side.read(batch) if side is not None else None)  # type: ignore[arg-type]

    def done() -> R:
        batch, future = pending.popleft()
        result, got = future.result()
        if side is not None:
            side.take(batch, got)  # type: ignore[arg-type]
        return result

    with ThreadPoolExecutor(max_workers=limit) as pool:
        pending: deque[tuple[B, Future[tuple[R, object]]]] = deque()
        for batch in batches:
            if on_batch is not None:
                on_batch(batch)
            pending.append((batch, pool.submit(job, batch)))
            if len(pending) > limit:
                yield done()
        while pending:
            yield done()


def _pull(
    batches: Iterator[B], on_batch: Callable[[B], None] | None, workers: int, work: Callable[[B], R],
) -> Iterator[R]:
    """``_run`` without a reading thread: each of ``workers`` threads takes the next batch itself
    (one thread at a time advances ``batches``, under a lock) and works on it.  The batch is then
    read into the cache of the core that scans it, and no thread only reads: on 2 cores the
    native summary of the outage log took ~15 % less wall time and ~6 % less CPU than with
    ``_run``'s reader plus two workers (BENCHMARKS.md stop 48).  Results come in input order;
    ``on_batch`` runs here, in this thread and in input order, as each batch's result comes
    (after its work: it must only read the batch's path and progress, not its data).  A worker
    holds one batch at a time, so at most ``workers`` batches are in flight; an exception in a
    worker (reading or working) is raised here once the others have finished their batch.
    Workers read as this thread would: in a copy of its context (the run's open files,
    ``sources.once``, are a ContextVar: a worker without them opened each log a second time) and
    recording their notes where this thread's go (``sources.opening.notes_into``)."""
    lock = threading.Lock()
    notes = notes_here()
    taken = [0]  # batches handed out so far: the next one's index
    stop = threading.Event()
    done: queue.SimpleQueue[tuple[str, int, Any, Any]] = queue.SimpleQueue()

    def loop() -> None:
        with notes_into(notes):
            work_batches()

    def work_batches() -> None:
        try:
            while True:
                with lock:
                    if stop.is_set():
                        break
                    batch = next(batches, None)
                    if batch is None:
                        break
                    index = taken[0]
                    taken[0] += 1
                done.put(("result", index, batch, work(batch)))
        except BaseException as err:  # handed to the consumer, raised there
            stop.set()
            done.put(("error", -1, None, err))
        finally:
            done.put(("end", -1, None, None))

    threads = [threading.Thread(target=contextvars.copy_context().run, args=(loop,),
                                name=f"why502-classify-{i}", daemon=True)
               for i in range(max(1, workers))]
    for t in threads:
        t.start()
    ready: dict[int, tuple[B, R]] = {}
    next_index, running = 0, len(threads)
    try:
        while running:
            kind, index, batch, value = done.get()
            if kind == "end":
                running -= 1
            elif kind == "error":
                raise value
            else:
                ready[index] = (batch, value)
                while next_index in ready:
                    batch, result = ready.pop(next_index)
                    next_index += 1
                    if on_batch is not None:
                        on_batch(batch)
                    yield result
    finally:
        stop.set()
        for t in threads:
            t.join()


@dataclass
class SymptomStats:
    count: int = 0
    statuses: Counter[int] = field(default_factory=Counter)
    sources: Counter[str] = field(default_factory=Counter)
    first: str | None = None
    last: str | None = None


@dataclass
class UpstreamStats:
    count: int = 0
    symptoms: Counter[str] = field(default_factory=Counter)


@dataclass
class ClassifySummary:
    """Running totals over all batches (small: one entry per symptom and per upstream)."""

    symptoms: dict[str, SymptomStats] = field(default_factory=dict)
    upstreams: dict[str, UpstreamStats] = field(default_factory=dict)
    lines_read: int = 0
    bytes_read: int = 0
    files: list[str] = field(default_factory=list)
    _pending: list[pl.DataFrame] = field(default_factory=list, repr=False)

    def add_batch(self, batch: LineBatch) -> None:
        self.lines_read += batch.count
        self.add_file(batch.path)

    def add_file(self, path: str) -> None:
        if path not in self.files:
            self.files.append(path)

    def add(self, df: pl.DataFrame) -> None:
        """Fold one classified (per-line) frame into the totals."""
        import polars as pl

        from why502.parsers.errorlog_batch import aggregate_records

        agg = aggregate_records(df)
        self.add_aggregate(pl.DataFrame(agg.to_dict(as_series=False), schema=agg.schema))

    def add_aggregate(self, agg: pl.DataFrame) -> None:
        """Queue one aggregated frame (``SUMMARY_KEYS`` + n, first, last); queued frames
        are re-aggregated in polars every ``_COMPACT_EVERY`` frames, so the Python loop below
        runs over a few hundred rows once, not once per batch."""
        from why502.parsers.errorlog_batch import SUMMARY_KEYS

        self._pending.append(agg.select(*SUMMARY_KEYS, "n", "first", "last"))
        if len(self._pending) >= _COMPACT_EVERY:
            self._pending = [_reaggregate(self._pending)]

    def finish(self) -> None:
        """Fold the queued aggregates into ``symptoms`` and ``upstreams`` (idempotent)."""
        if not self._pending:
            return
        agg = _reaggregate(self._pending)
        self._pending = []
        self.add_rows(agg.iter_rows())

    def add_rows(self, rows: Iterable[tuple[str, int | None, str, str | None, int, str | None, str | None]],
                 ) -> None:
        """Fold summary rows (symptom, status, source, upstream, n, first, last) into the totals."""
        for sym, status, source, upstream, n, first, last in rows:
            self.add_symptom(sym, status, source, n, first, last)
            if upstream is not None:
                self.add_upstream(upstream, sym, n)

    def add_symptom(self, sym: str, status: int | None, source: str, n: int, first: str | None,
                    last: str | None) -> None:
        """Count ``n`` lines of ``sym`` (``status``: when the rule gives one), seen ``first`` to ``last``."""
        st = self.symptoms.get(sym)
        if st is None:
            st = self.symptoms[sym] = SymptomStats()
        st.count += n
        if first is not None and (st.first is None or first < st.first):
            st.first = first
        if last is not None and (st.last is None or last > st.last):
            st.last = last
        if status is not None:
            st.statuses[status] += n
        st.sources[source] += n

    def add_upstream(self, upstream: str, sym: str, n: int) -> None:
        """Count ``n`` lines of ``sym`` against ``upstream`` (past ``MAX_UPSTREAMS`` names: ``(other)``)."""
        us = self.upstreams.get(upstream)
        if us is None:
            if len(self.upstreams) >= MAX_UPSTREAMS:
                upstream = "(other)"
            us = self.upstreams.get(upstream)
            if us is None:
                us = self.upstreams[upstream] = UpstreamStats()
        us.count += n
        us.symptoms[sym] += n

    @property
    def recognised(self) -> int:
        self.finish()
        return sum(s.count for s in self.symptoms.values())

    def failures(self) -> int:
        """Lines with an upstream-failure symptom or a proxy's own error reply (not other
        evidence events)."""
        self.finish()
        return sum(s.count for k, s in self.symptoms.items() if is_failed_request(k))

    def ranked(self) -> list[tuple[str, SymptomStats]]:
        """Symptoms first (most lines first), then evidence events."""
        self.finish()
        return sorted(self.symptoms.items(), key=lambda kv: (is_event(kv[0]), -kv[1].count, kv[0]))

    def summary(self, top: int | None = None) -> results.ClassifySummary:
        """The typed result of ``classify --format json`` (``schemas/classify.schema.json``):
        totals, then symptoms and evidence events ranked as the tables show them, then upstreams
        (``top`` rows each when given).  Strings are log content: the writer keeps them inert."""
        from why502.findings import results  # the command's result types: not diagnose's (issue 28)

        self.finish()
        symptoms = [results.ClassifySymptom(
                        id=sym, kind="event" if is_event(sym) else "symptom", lines=st.count,
                        statuses={str(k): v for k, v in sorted(st.statuses.items())},
                        sources=dict(sorted(st.sources.items())), first=st.first, last=st.last)
                    for sym, st in self.ranked()[:top]]
        ranked = sorted(self.upstreams.items(), key=lambda kv: (-kv[1].count, kv[0]))[:top]
        # ties by name: the counts may come from a hash-ordered group-by (polars), and the same
        # log must give the same JSON under every PYTHONHASHSEED
        upstreams = [results.ClassifyUpstream(upstream=up, lines=us.count,
                                              symptoms=dict(sorted(us.symptoms.items(),
                                                                   key=lambda kv: (-kv[1], kv[0]))))
                     for up, us in ranked]
        return results.ClassifySummary(files=list(self.files), lines_read=self.lines_read,
                                       recognised=self.recognised, failures=self.failures(),
                                       symptoms=symptoms, upstreams=upstreams)

    def to_dict(self, top: int | None = None) -> dict[str, Any]:
        """``summary(top)``'s JSON document."""
        return self.summary(top).to_dict()


# Queued batch aggregates before they are folded into one.  On an outage log with hundreds of
# peers a batch aggregates to ~3k rows: 64 queued frames (and their fold) held ~50 MiB, 16 ~12.
_COMPACT_EVERY = 16


def _reaggregate(frames: list[pl.DataFrame]) -> pl.DataFrame:
    """One frame for many; its strings are copied out (``_compact``) so the result does not keep
    the buffers of every frame before it alive (on an outage log, with thousands of rows per
    batch, that chain grew peak RSS by ~60 MiB over 2M lines)."""
    import polars as pl

    from why502.parsers.errorlog_batch import SUMMARY_KEYS

    return _compact(pl.concat(frames, how="vertical").group_by(*SUMMARY_KEYS, maintain_order=True).agg(
        pl.col("n").sum(), pl.col("first").min(), pl.col("last").max(),
    ))


_COMPACT_BY_VALUE = 64
"""Up to how many rows ``_compact`` copies through Python values: a small file's summary is a
few rows, and the IPC round trip costs ~1.2-1.8 ms whatever the size (0.34 ms by value for two
rows, stop 78)."""


def _compact(df: pl.DataFrame) -> pl.DataFrame:
    """A copy of ``df`` that shares no buffer with it (polars strings are views into buffers):
    through Arrow IPC bytes, not Python objects, which cost ~20 % of the CPU on thousands of rows;
    a frame of a few rows by value."""
    import polars as pl

    if df.height <= _COMPACT_BY_VALUE:
        return pl.DataFrame(df.to_dict(as_series=False), schema=df.schema)
    return pl.read_ipc(df.write_ipc(None).getvalue())
