"""Reading a cloud load balancer / proxy log for ``stats``, ``classify`` and ``diagnose``.

``sniff_log_type`` tells from the first lines whether the inputs are such a log (and which
family), so every command takes them with no flag; ``--log-type`` forces a family.  A directory
is read whole (AWS writes a folder tree of ``.log.gz`` files, one per node and five minutes),
file names in order -- ALB names end with the end time of the file, so that is time order.
"""

from __future__ import annotations

import datetime as dt
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any, TypeVar

import polars as pl

from why502.app.stats.sniff import expand_paths
from why502.errors import InputError
from why502.evidence.lbstats import LbFrameBuilder, LbStatsAccumulator
from why502.parsers.arrowcols import native_on
from why502.parsers.errorlog import Classified, classify_line
from why502.parsers.lblogs.batch import RECORD_COLUMNS, empty_records
from why502.parsers.lblogs.family import BlockReader, FrameReader
from why502.parsers.lblogs.fold import BlockFold, Counted, FoldPerThread, Raw
from why502.parsers.lblogs.model import LbRecord
from why502.parsers.recognise import lb_reported
from why502.proxies.logfamilies import families
from why502.sources import readahead
from why502.sources.byte_chunks import head_lines
from why502.sources.logfiles import (
    DEFAULT_BATCH_BYTES,
    ByteBatch,
    LineBatch,
    ReadBuffers,
    ViewBatch,
    iter_batches,
    iter_byte_views,
    iter_numbered_bytes,
)
from why502.sources.newlines import newlines
from why502.sources.once import parsed
from why502.textutil import dump_json, json_inert, lines_at

# The vectorised readers pay a fixed cost per batch, and a batch being converted holds ~6x its
# size (the text, its lines, the guards' columns, the reader's buffers) while the one before it
# is counted: 4 MB batches took Traefik JSON's stats 28 MB higher than 2 MB ones on 200k lines
# (BENCHMARKS.md, "2026-11-25 (stop 41)").
VECTOR_BATCH_BYTES = 2 << 20
#: ``diagnose``'s batches are this many of ``stats``': counted together its rows cost a few dozen
#: polars queries a batch (~1 ms each, whatever the batch's size), which on 2 MB batches were
#: most of its time (1M ALB lines: 4.8 s at 2 MB, 2.8 s at 8 MB, 2.2 s at 16 MB; 120, 170 and
#: 232 MB of RSS; BENCHMARKS.md stop 55)
RECORD_BATCHES = 4
#: ... and this many when the family's native pass counts the requests that answered itself
#: (``LogFamily.answers``): a batch's rows are then the quarter that did not, so a batch twice as
#: big holds about what one of ``RECORD_BATCHES`` did, and halves the queries the counting
#: thread makes (ALB, 1M lines: 1.19-1.26 s at 8 MB, 0.96-1.03 s at 16 MB, 161-169 and 200-232
#: MB of RSS; BENCHMARKS.md stop 59)
ANSWERS_RECORD_BATCHES = 8
#: ``diagnose``'s batches are read and split on this many threads: once its counting thread
#: grouped a batch's rows in one query (``evidence.lb_rows.tally``) it waited on the reading
#: thread most of the run.  Two were tried at stop 55, when the counting thread was the slow
#: side: Traefik's common-format log went from 234 to 297 MB, most of it each thread's own glibc
#: arena (diagnose keeps one now: ``cli.main.GLIBC_MALLOPT``); BENCHMARKS.md stop 59
RECORD_WORKERS = 2
#: ... and this many when the lines are decoded (a family with no native block reader, Envoy's
#: JSON: 1M lines 6.4 s at 268 MB with 4, 7.9 s at 192 MB with 2; the bound is 300 MB)
DECODED_RECORD_BATCHES = 2
#: a batch counts its other rows together (``RecordBatch.rows``) from this many on; fewer go
#: through ``LbEvidence.add`` one by one, which costs less than the queries (~6 us a row)
GROUPED_MIN_ROWS = 256


@dataclass
class LbRead:
    """What reading the inputs counted (the rows themselves went to the caller's sink)."""

    family: str
    rows: int
    lines: int
    unparsed: int
    files: list[str]
    samples: list[tuple[str, int, str]]  # (file, line, text) of the first unparsed lines


def iter_records(paths: list[str], family: str | None) -> Iterator[tuple[str, int, str, LbRecord | None]]:
    """(file, line number, text, record or None) for every non-empty line, in file order.  ALB
    lines are converted a batch at a time by the vectorised reader (the same records).
    ``family`` None: each line is read as whichever family it is (a file of several edges)."""
    fams = families()
    vector = fams.frame(family)
    size = VECTOR_BATCH_BYTES if vector is not None else DEFAULT_BATCH_BYTES
    for batch in iter_batches(expand_paths(paths), batch_bytes=size, unframe=True):
        lines = batch.lines
        fast: dict[int, LbRecord] = {}
        if vector is not None and family is not None:
            frame, _rest = vector(pl.Series("text", lines))
            fast = {int(row["idx"]): _record(family, row) for row in frame.iter_rows(named=True)}
        for i, text in enumerate(lines):
            if text.strip():
                rec = fast.get(i) or fams.parse_line(text, family)
                yield batch.path, batch.first_line + i, text, rec


@dataclass
class RecordBatch:
    """One batch of an edge log as ``diagnose`` counts it (``iter_record_batches``): the
    requests that answered (``answered``: rows of ``evidence.lbstats.COLUMNS`` with their
    ``idx``, counted together, no record built), and every other non-empty line as ``(idx, text,
    record or None)``, in line order."""

    path: str
    first_line: int
    answered: pl.DataFrame
    others: list[tuple[int, str, LbRecord | None]]
    #: with ``grouped``: the rows that did not answer, kept a frame (``evidence.lb_rows.prepared``)
    #: instead of records, and the text of the lines the counting may keep (``sample_rows``)
    rows: pl.DataFrame | None = None
    texts: dict[int, str] = field(default_factory=dict)
    #: rows of ``rows`` left out as ``drop`` said (written before ``--since``): lines, no more
    dropped: int = 0
    #: the answered requests the native pass counted itself, as groups (``_Rows.answers``)
    answers: pl.DataFrame | None = None

    @property
    def lines(self) -> int:
        """Its non-empty lines (a row of the vectorised readers is one)."""
        return (self.counted + self.dropped
                + (int(self.answers["len"].sum()) if self.answers is not None else 0))

    @property
    def counted(self) -> int:
        """The rows and lines its count reads one by one or together (not the answers' groups)."""
        return self.answered.height + len(self.others) + (self.rows.height if self.rows is not None else 0)

    @staticmethod
    def joined(parts: Sequence[RecordBatch]) -> RecordBatch:
        """Consecutive batches of one file as one batch: each later part's ``idx`` (its rows',
        its other lines', its texts' and its answers' groups' ``_first``/``_last``) shifted by
        the lines between its first line and the first part's, so every place stays its line's
        (``first_line + idx``).  What ``diagnose`` counts of a batch does not depend on where
        the batches were cut (``tests/diagnose/test_diagnose_edge_batches.py``), so the joined
        batch is counted as the parts would be, with one set of queries instead of one each."""
        first = parts[0]
        if len(parts) == 1:
            return first
        if any(p.path != first.path or p.first_line < first.first_line for p in parts):
            raise ValueError("only consecutive batches of one file are joined")

        def shifted(frame: pl.DataFrame, columns: Sequence[str], by: int) -> pl.DataFrame:
            if not by or frame.height == 0:
                return frame
            return frame.with_columns((pl.col(c).cast(pl.Int64) + by).cast(frame.schema[c]) for c in columns)

        placed = [(p, p.first_line - first.first_line) for p in parts]
        rows = [shifted(p.rows, ("idx",), by) for p, by in placed if p.rows is not None]
        answers = [shifted(p.answers, ("_first", "_last"), by) for p, by in placed if p.answers is not None]
        return RecordBatch(
            path=first.path, first_line=first.first_line,
            answered=pl.concat([shifted(p.answered, ("idx",), by) for p, by in placed],
                               how="vertical_relaxed"),
            others=[(idx + by, text, rec) for p, by in placed for idx, text, rec in p.others],
            rows=pl.concat(rows, how="vertical_relaxed") if rows else None,
            texts={idx + by: text for p, by in placed for idx, text in p.texts.items()},
            dropped=sum(p.dropped for p in parts),
            answers=pl.concat(answers, how="vertical_relaxed") if answers else None,
        )


# an access line with no 5xx that the proxy did not fail itself: all that ``LbEvidence.add``
# does with one is count it (``evidence.lb_evidence.Answered``)
ANSWERED = ((pl.col("kind") == "access") & (pl.col("status").is_null() | (pl.col("status") < 500))
            & ~((pl.col("made_by") == "lb") & pl.col("failed")))


def iter_record_batches(paths: list[str], family: str, certain: pl.Expr | None = None,
                        grouped: bool = False, batch_bytes: int | None = None, drop: pl.Expr | None = None,
                        ) -> Iterator[RecordBatch]:
    """``iter_records(paths, family)`` a batch at a time, the answered requests left as rows
    (``RecordBatch``); the family must have a vectorised reader.  ``certain``: only answered
    rows where it is true stay rows (the others become records, for a check made line by line).
    Read by ``_each_rows``: raw blocks through a native reader, on a worker thread while the
    caller counts the batch before (``diagnose`` read them one after the other, decoded:
    BENCHMARKS.md "2026-11-26 (stop 53)")."""
    if families().frame(family) is None:
        raise ValueError(f"{family} has no vectorised reader")
    def read(rows: _Rows) -> RecordBatch:
        return _recorded(rows, family, certain, grouped, drop)
    blocks = families().block(family) is not None and native_on()
    # the answered requests counted by the native pass, but for --since (its check of each
    # row's time is made on the rows: ``certain``, ``drop``)
    answering = certain is None and drop is None and _answers_apply(paths, family)
    batches = ANSWERS_RECORD_BATCHES if answering else RECORD_BATCHES if blocks else DECODED_RECORD_BATCHES
    size = batch_bytes or batches * VECTOR_BATCH_BYTES
    yield from _each_rows(paths, family, read, size, RECORD_WORKERS, answering=answering)


def _answers_apply(paths: list[str], family: str) -> bool:
    """Whether the family's answering reader (``LogFamily.answers``) reads the log: its native
    block reader can run (``WHY502_NATIVE``), and its first lines say so -- on a log whose lines
    its passes hand back (Envoy's JSON before its pass counted answers, a format of a user's own:
    Envoy's key=value), a batch is decoded whole, and the answers' 16 MB batches held every row of
    two of them at once (Envoy JSON, 1M lines: 311 MB instead of 227, BENCHMARKS.md stop 59; Envoy
    key=value read with ``--log-type envoy``, 1M lines: 465 MB while a reader that ran at all was
    asked no more, 277 MB since, stop 60)."""
    fams = families()
    reader = fams.answers(family) if fams.block(family) is not None and native_on() else None
    files = expand_paths(paths) if reader is not None else []
    if reader is None or not files:
        return False
    head = head_lines(str(files[0]), 50, keep=True)  # (the read that follows takes the file opened)
    got = reader(("\n".join(head) + "\n").encode("utf-8", "surrogatepass")) if head else None
    return got is not None and _reads_most(*got)


def _reads_most(frame: pl.DataFrame, back: list[int], answers: pl.DataFrame) -> bool:
    """Whether an answering reader took most of a block's lines (as rows or answers): else the
    block is read decoded (``_answers_rows``), and the log in the batches of every row
    (``_answers_apply``)."""
    return len(back) <= frame.height + int(answers["len"].sum())


@dataclass(frozen=True)
class _Rows:
    """One block (or decoded batch) of a log through the family's readers: its rows
    (``frame``, with each line's ``idx``), the text of the lines no reader took (``rest``, by
    ``idx``), and ``texts_of``: the text of lines by ``idx`` (ascending), as a decoded batch
    has it."""

    path: str
    first_line: int
    frame: pl.DataFrame
    rest: dict[int, str]
    texts_of: Callable[[list[int]], list[str]]
    #: the requests the native pass counted instead (``LogFamily.answers``): their groups
    answers: pl.DataFrame | None = None


def _batch_rows(batch: LineBatch, family: str) -> _Rows:
    vector = families().frame(family)
    assert vector is not None  # (_each_rows' callers read such families only)
    series = batch_lines(batch)
    frame, rest = vector(series)
    return _Rows(batch.path, batch.first_line, frame, {i: str(series[i]) for i in rest.to_list()},
                 lambda idxs: [str(series[i]) for i in idxs])


def _block_rows(block: ByteBatch, first_line: int, family: str, answering: bool = False) -> _Rows:
    """Through the family's native reader; decoded when it cannot run or hands back most of
    the block (``_native_rows``).  ``answering``: the requests that answered counted by its
    native pass when it can (``LogFamily.answers``; ``_answers_rows``)."""
    if answering:
        rows = _answers_rows(block, first_line, family)
        if rows is not None:
            return rows
    native = _native_rows(block, family)
    if native is None:
        return _batch_rows(_decoded(block, first_line), family)
    frame, rest, _lines, _folded = native
    return _Rows(block.path, first_line, frame, rest, _texts_of(block))


def _texts_of(block: ByteBatch) -> Callable[[list[int]], list[str]]:
    """``_Rows.texts_of`` of a raw block: its lines by ``idx``, decoded."""
    def texts_of(idxs: list[int]) -> list[str]:
        return [(b or b"").decode("utf-8", errors="replace") for b in lines_at(block.data, idxs)]
    return texts_of


def _answers_rows(block: ByteBatch, first_line: int, family: str) -> _Rows | None:
    """The rows of ``block`` through the family's answering reader (the answered requests'
    groups in ``answers``), decoded when it hands back most of the block (as ``_native_rows``
    would say of the same lines: its reader is not run again), or None when it has none that
    can run."""
    fams = families()
    reader, vector = fams.answers(family), fams.frame(family)
    if reader is None or vector is None:
        return None
    data = bytes(block.data) if not isinstance(block.data, bytes) else block.data
    got = reader(data)
    if got is None:
        return None
    frame, back, answers = got
    rest: dict[int, str] = {}
    if back:
        if not _reads_most(frame, back, answers):
            return _batch_rows(_decoded(block, first_line), family)
        frame, rest, _lines = _read_back_lines(data, frame, back, vector)
    return _Rows(block.path, first_line, frame, rest, _texts_of(block), answers)


def _each_rows(paths: list[str], family: str, use: Callable[[_Rows], T],
               batch_bytes: int | None = None, workers: int = 1, answering: bool = False) -> Iterator[T]:
    """``use`` of each block of ``paths`` read as ``family`` (a family with a vectorised
    reader), in file order: raw blocks when it has a native block reader (no decoding, split or
    join of the lines it takes), else decoded batches; read and used on ``workers`` threads, at
    most that many ahead of the caller (diagnose's batches: ``RECORD_WORKERS``).  ``answering``:
    see ``_block_rows``."""
    items: Iterator[tuple[Any, ...]]
    batch_bytes = batch_bytes or VECTOR_BATCH_BYTES
    if families().block(family) is not None and native_on():
        read: Callable[..., _Rows] = partial(_block_rows, answering=answering)
        items = _blocks(expand_paths(paths), family, batch_bytes)
    else:
        read = _batch_rows
        batches = iter_batches(expand_paths(paths), batch_bytes=batch_bytes, unframe=True)
        items = ((batch, family) for batch in batches)

    def work(item: tuple[Any, ...]) -> T:
        return use(read(*item))

    from why502.app.stats.read import pulled_in_order

    # the worker takes its next block itself: the kernel's copy of the file's pages is made on
    # its core (read here, it was a fifth of diagnose's counting thread, BENCHMARKS.md stop 55).
    # One block more in flight than workers: a worker done with a later block before the one
    # the counting thread waits on takes the next at once instead of waiting for its turn to be
    # handed one (diagnose, 1M lines of every family: 6-14 % less wall time, 0-20 MB more peak;
    # BENCHMARKS.md stop 62)
    with ThreadPoolExecutor(max_workers=workers) as pool:
        yield from pulled_in_order(pool, items, work, workers + 1)


def _recorded(rows: _Rows, family: str, certain: pl.Expr | None, grouped: bool = False,
              drop: pl.Expr | None = None) -> RecordBatch:
    """A block's rows split: the answered ones stay rows; the others become records with their
    text, and of the lines the readers did not take the non-empty ones are read by the family's
    parser.  ``grouped``: the others stay rows too (``RecordBatch.rows``, counted together by
    ``evidence.lb_rows``) when the batch allows it -- no line the readers left is a request,
    and with ``certain`` every such row's time is one it judges."""
    answered = ANSWERED if certain is None else ANSWERED & certain
    mask = rows.frame.select(answered.fill_null(False).alias("a"))["a"]
    # the lines the readers left, read once by the parser (whichever way the others go)
    parse = families().parse_line
    left = [(idx, text, parse(text, family)) for idx, text in sorted(rows.rest.items()) if text.strip()]
    if grouped:
        together = _grouped(rows, family, mask, left, certain, drop)
        if together is not None:
            return together
    recorded = {int(row["idx"]): _record(family, row)
                for row in rows.frame.filter(~mask).iter_rows(named=True)}
    idxs = sorted(recorded)
    recs: dict[int, tuple[str, LbRecord | None]] = {
        idx: (text, recorded[idx]) for idx, text in zip(idxs, rows.texts_of(idxs), strict=True)}
    recs.update((idx, (text, rec)) for idx, text, rec in left)
    others = [(idx, *recs[idx]) for idx in sorted(recs)]
    return RecordBatch(rows.path, rows.first_line, rows.frame.filter(mask), others, answers=rows.answers)


def _grouped(rows: _Rows, family: str, mask: pl.Series, left: list[tuple[int, str, LbRecord | None]],
             certain: pl.Expr | None, drop: pl.Expr | None = None) -> RecordBatch | None:
    """``_recorded``'s batch with the other rows kept a frame -- with them the lines only the
    family's parser reads (``left``: each with its record, or None), as rows -- or None when
    they must be records: too few to be worth the queries (``GROUPED_MIN_ROWS``), a line the
    parser reads as another family's, or (with ``certain``) a row whose time only the
    line-by-line check can judge."""
    from why502.evidence import lb_rows  # diagnose's counting (issue 28)

    others = rows.frame.filter(~mask)
    if others.height < GROUPED_MIN_ROWS:
        return None
    read = [(idx, rec) for idx, _text, rec in left if rec is not None]
    if any(rec.family != family for _idx, rec in read):
        return None
    if read:  # the lines only the parser reads, as rows among the others (in idx order)
        others = pl.concat([others, pl.DataFrame(
            [(idx, *(rec.failed if c == "failed" else getattr(rec, c) for c in RECORD_COLUMNS))
             for idx, rec in read], schema=others.schema, orient="row")])
    if certain is not None and not others.select(certain.fill_null(False).all()).item():
        return None
    dropped = 0
    if drop is not None:  # (every row's time is one ``certain`` judges: ``drop`` is never null)
        kept = others.filter(~drop)
        dropped, others = others.height - kept.height, kept
    ready = lb_rows.prepared(others)
    idxs = lb_rows.sample_rows(ready)
    from_block = [i for i in idxs if i not in rows.rest]
    texts = dict(zip(from_block, rows.texts_of(from_block), strict=True))
    texts.update({i: rows.rest[i] for i in idxs if i in rows.rest})
    return RecordBatch(rows.path, rows.first_line, rows.frame.filter(mask),
                       [(idx, text, rec) for idx, text, rec in left if rec is None], ready, texts,
                       dropped=dropped, answers=rows.answers)


def _record(family: str, row: dict[str, Any]) -> LbRecord:
    return LbRecord(family=family, **{k: row[k] for k in RECORD_COLUMNS if k != "failed"})


T = TypeVar("T")

# Batches converted at once in other threads (polars runs outside the GIL, so conversion
# overlaps the counting in this thread), and at most this many batches' rows alive besides the
# one being counted.  One: two converting threads took the data segment to ~360-420 MB with
# short spikes that failed runs under an 800 MiB RLIMIT_DATA (one thread: ~300 MB, passes;
# BENCHMARKS.md), for no CPU saved on a loaded 2-core machine.
WORKERS = 1
#: workers of a read whose fold counts all but the edge's own failures and odd lines
#: (``read_lb(codes_only=True)``): two threads of so few rows are not the memory two threads of
#: every row were; a fold each (``FoldPerThread``)
FOLD_WORKERS = 2


@dataclass
class _Converted:
    path: str
    frame: pl.DataFrame  # evidence.lbstats.COLUMNS
    lines: int  # non-empty lines
    unparsed: list[tuple[int, str]]  # (line number, whole text) of the lines no parser took
    folded: int = 0  # rows the native pass counted in its fold instead (none of them in ``frame``)
    counted: Counted | None = None  # the fold's groups, when they were taken after this block
    #: with ``_convert_view``: the block's lines (its newlines + 1), its line numbers counted from
    #: 1 -- the reader numbers them (``read_lb``: ``_renumbered``); 0: numbered in its file
    count: int = 0
    file_no: int = 0  # (with ``count``) which of the inputs, in order, the block is of


# The fold's groups are taken (and counted) once its largest table holds this many groups (a
# JSON fold: its tables together, ``JsonFold.size``), or this many rows were counted (its counts
# are uint32).  A take costs per group (each decided, joined, summed: ~40 polars queries a
# take), and a table emptied by a take fills again with the
# same groups: Envoy JSON's 1M lines hold 28k per-target groups, taken 16k at a time they were
# decided again and again (1.72 s; 1.20 s with 64k-group takes, BENCHMARKS.md stop 56).  Until
# stop 58 a table whose groups were nearly its rows was taken at 16k groups: Cloudflare's and
# Traefik's nanosecond timings made a group of nearly every line, and a bigger table only held
# more.  Counted at the 0.1 ms the accumulator counts them at (``_jsonscan.c`` ``tenth_ms``),
# their groups repeat; taken at 16k (1.3 lines a group in each take) they were taken 746k times
# for 1M lines, at 128k ~240k times: 2.2 -> 1.4 s (BENCHMARKS.md stop 58).  The price is on a
# log whose groups never repeat (600k ALB lines, a distinct target on each): 430 -> 513 MB, past
# the 300 MB bound either way (its accumulator keeps every target).  A table of 128k groups is
# ~15-30 MB by estimate (its keys, ~100-200 bytes a group), not measured alone.
FOLD_TAKE_GROUPS = 1 << 17
#: ... and in a read that wants only the codes (``classify``'s summary, ``BlockFold.codes_only``):
#: a text fold keeps its full tables there (their groups are decided into codes at each take),
#: and a day's Traefik common-format log -- each value in many minutes -- filled two folds of
#: 128k groups to 333-342 MB of peak RSS (past the 300 MB bound); taken at 32k, 163-167 MB and
#: 0.92 -> 0.81 s, the other families' summaries the same (BENCHMARKS.md stop 72)
FOLD_TAKE_CODES_GROUPS = 1 << 15
FOLD_TAKE_ROWS = 1 << 30
# ``stats`` counts on a second lane (a fold of its own) once this many rows were counted: a
# small log is read before a second thread would pay for itself.  (Until stop 58 not when a take
# had been dense -- Cloudflare's timings: the accumulator, summing ~1 group a row, was the slow
# side, and two lanes held 284-295 MB instead of 277; counted at 0.1 ms it is not.)
FOLD_WIDEN_ROWS = 1 << 16


def take_now(groups: int, rows: int, codes_only: bool = False) -> bool:
    """Whether a fold holding ``groups`` groups (``BlockFold.size``) for ``rows`` rows since
    its last take is taken now (``FOLD_TAKE_GROUPS``, ``FOLD_TAKE_ROWS``; a read of the codes
    only: ``FOLD_TAKE_CODES_GROUPS``)."""
    return rows >= FOLD_TAKE_ROWS or groups >= (FOLD_TAKE_CODES_GROUPS if codes_only else FOLD_TAKE_GROUPS)


def _convert(batch: LineBatch, family: str) -> _Converted:
    """One batch -> its rows: the vectorised reader when the family has one, the lines its regex
    or schema does not take through the per-line parser (the same rows either way)."""
    vector = families().frame(family)
    if vector is None:  # every line through the parsers
        texts = batch.lines
        lines = sum(1 for text in texts if text.strip())
        return _finish(batch.path, batch.first_line, family, empty_records(), texts, list(range(len(texts))),
                       lines)
    series = batch_lines(batch)
    frame, rest = vector(series)
    lines = int(series.str.contains(r"\S").sum())  # non-empty: strip_chars() != "", without the copy
    return _finish(batch.path, batch.first_line, family, frame, series, rest.to_list(), lines)


def _convert_block(block: ByteBatch | ViewBatch, first_line: int, family: str, fold: BlockFold | None = None,
                   codes_only: bool = False) -> _Converted:
    """One block of raw lines -> its rows, through the family's native block reader: no
    decoding, split or join of the lines it takes (~1.5 of the ~5.6 us a line cost around
    the ALB pass, BENCHMARKS.md "2026-11-26 (stop 49)"); the lines it hands back are decoded
    as ``iter_batches`` decodes them and go through the vectorised reader, then the parsers.
    With ``fold``, the rows ``stats`` only counts are counted in it instead (``folded``), and
    its groups taken here once they are many (``counted``; ``codes_only``: a read that wants
    only the codes, ``take_now``)."""
    native = _native_rows(block, family, fold)
    if native is None:  # not built or turned off: the decoded path
        return _convert(_decoded(block, first_line), family)
    frame, texts, lines, folded = native
    if folded and not frame.height and not texts:  # every line counted in the fold: no row
        done = _Converted(block.path, _NO_ROWS, lines, [], folded)
    else:
        done = _finish(block.path, first_line, family, frame, texts, list(texts), lines)
        done.folded = folded
    if fold is not None and take_now(*fold.size(), codes_only):
        done.counted = fold.take()
    return done


_NO_ROWS = LbFrameBuilder().frame()


def _decoded(block: ByteBatch | ViewBatch, first_line: int) -> LineBatch:
    text = str(block.data, "utf-8", "replace")
    return LineBatch(block.path, first_line, text, text.count("\n") + 1)


def _native_rows(block: ByteBatch | ViewBatch, family: str, fold: BlockFold | None = None,
                 ) -> tuple[pl.DataFrame, dict[int, str], int, int] | None:
    """The family's native block reader on ``block`` (``fold``'s, which counts some rows
    itself), the lines it hands back through the vectorised reader: (the rows, by ``idx``; the
    text of the lines neither took, by ``idx``; the non-empty lines; the rows counted in
    ``fold``), or None when the family has no native reader that can run, or it handed back
    most of the block (never once ``fold`` counted a row of it)."""
    fams = families()
    reader, vector = fams.block(family), fams.frame(family)
    folded = 0
    if vector is None:
        return None
    data: Raw = block.data
    if fold is not None:
        frame, back, folded = fold.block(data)
        if back:  # the lines handed back are read by bytes' own methods (a view has none)
            data = bytes(data) if not isinstance(data, bytes) else data
            if reader is not None:
                frame, back = _read_back(data, frame, back, reader)
    else:
        data = bytes(data) if not isinstance(data, bytes) else data
        native = reader(data) if reader is not None else None
        if native is None:
            return None
        frame, back = native
    if not back:
        return frame, {}, frame.height + folded, folded
    if len(back) > frame.height + folded and not folded:
        # mostly lines it does not read (Traefik's CLF lines): the decoded batch is cheaper than
        # cutting them out one by one (traefik-clf stats took 5.7 s instead of 4.9 that way)
        return None
    assert isinstance(data, bytes)  # (made bytes above once a line came back)
    frame, rest, lines = _read_back_lines(data, frame, back, vector)
    return frame, rest, lines + folded, folded


def _read_back_lines(data: bytes, frame: pl.DataFrame, back: list[int], vector: FrameReader,
                     ) -> tuple[pl.DataFrame, dict[int, str], int]:
    """The lines a native reader handed back (``back``, of ``data``) through the vectorised
    reader: (``frame`` with its rows, by ``idx``; the text of the lines neither took, by
    ``idx``; the non-empty lines, every row of ``frame`` one)."""
    back_lines = pl.Series("text", [(b or b"").decode("utf-8", errors="replace")
                                    for b in lines_at(data, back)], dtype=pl.String)
    lines = frame.height + int(back_lines.str.contains(r"\S").sum())  # every line it took is one
    more, rest = vector(back_lines)
    if more.height:
        back_idx = pl.Series("idx", back, dtype=pl.UInt32)
        frame = pl.concat([frame, more.with_columns(back_idx.gather(more["idx"]).alias("idx"))],
                          how="vertical_relaxed")
    return frame, {back[i]: str(back_lines[i]) for i in rest.to_list()}, lines


def _read_back(data: bytes, frame: pl.DataFrame, back: list[int], reader: BlockReader,
               ) -> tuple[pl.DataFrame, list[int]]:
    """The lines a fold handed back (``back``, of ``data``) through the family's block reader:
    (``frame`` with the rows it read, the lines it hands back in turn).  A fold counts one format
    of a family's log (Traefik's: its JSON lines); the reader may read another natively
    (Traefik's common format) that the decoded reader would cut with a regex."""
    got = reader(b"\n".join(line or b"" for line in lines_at(data, back)))
    if got is None:
        return frame, back
    more, left = got
    if more.height:
        more = more.with_columns(pl.Series("idx", back, dtype=pl.UInt32).gather(more["idx"]).alias("idx"))
        frame = pl.concat([frame, more], how="vertical_relaxed") if frame.height else more
    return frame, [back[i] for i in left if i < len(back)]


def _finish(path: str, first_line: int, family: str, frame: pl.DataFrame,
            texts: pl.Series | dict[int, str] | list[str], rest: list[int], lines: int) -> _Converted:
    """The rows of a batch: the vectorised readers' ``frame``, and the lines ``rest`` (their
    ``idx``; ``texts`` by ``idx``) read one by one by the family's parsers."""
    fams = families()
    builder = LbFrameBuilder()
    unparsed: list[tuple[int, str]] = []
    for idx in rest:
        text = str(texts[idx])
        if not text.strip():
            continue
        rec = fams.parse_line(text, family)
        if rec is None:
            unparsed.append((first_line + idx, text))
        else:
            builder.add(rec, path, first_line + idx)
    builder.add_frame(frame.with_columns(
        (pl.col("idx").cast(pl.Int64) + first_line).alias("line"), pl.lit(path).alias("file")))
    return _Converted(path, builder.frame().sort("line"), lines, unparsed)


def batch_lines(batch: LineBatch) -> pl.Series:
    """The lines of ``batch`` as a column: Python's ``str.split`` then one copy into polars took
    ~60 % of the CPU of ``str.split("\\n").explode()`` on the column of the whole text (the same
    strings; BENCHMARKS.md "2026-11-25 (stop 42)")."""
    return pl.Series("text", batch.text.split("\n"), dtype=pl.String)


class Lanes:
    """The threads a read converts its batches on, and how many batches it converts ahead of its
    consumer (``_in_order``): one thread each (a ``FoldPerThread`` fold each), of which the
    first ``n`` take the batches in turn; the consumer may widen ``n`` while reading."""

    def __init__(self, n: int, most: int) -> None:
        self.n = n
        self.pools = [ThreadPoolExecutor(max_workers=1) for _ in range(most)]
        self.turn = 0

    def submit(self, convert: Callable[..., T], *item: Any) -> Future[T]:
        self.turn = (self.turn + 1) % self.n
        return self.pools[self.turn].submit(convert, *item)

    def widen(self) -> None:
        self.n = len(self.pools)

    def shutdown(self) -> None:
        for pool in self.pools:
            pool.shutdown()


def _in_order(lanes: Lanes, convert: Callable[..., T], items: Iterator[tuple[Any, ...]]) -> Iterator[T]:
    """``convert(*item)`` of each item on ``lanes``, in input order, at most ``lanes.n`` of the
    consumer (``Executor.map`` would submit every batch of the input at once and hold all their
    rows)."""
    pending: deque[Future[T]] = deque()
    for item in items:
        pending.append(lanes.submit(convert, *item))
        while len(pending) > lanes.n:
            yield pending.popleft().result()
    while pending:
        yield pending.popleft().result()


def _blocks(files: Sequence[Path | str], family: str, batch_bytes: int,
            *fold: BlockFold) -> Iterator[tuple[Any, ...]]:
    """(block, number of its first line, family[, fold]) of ``files`` (``expand_paths``' answer)
    read as raw bytes (an ALB folder's ``.gz`` files inflated ahead on a thread,
    ``sources.readahead``): the input of ``_convert_block``."""
    for block, line, _count in iter_numbered_bytes(files, batch_bytes=batch_bytes, unframe=True):
        yield block, line, family, *fold


def _view_blocks(files: Sequence[Path | str], family: str, buffers: ReadBuffers, fold: BlockFold,
                 ) -> Iterator[tuple[Any, ...]]:
    """``_blocks``' items for a fold, each block a view of a read buffer that ``buffers`` reuses
    (``sources.logfiles.iter_byte_views``: the same blocks, cut at the same places): the
    converter hands the buffer back (``_convert_view``).  Reading each block into a new
    ``bytes`` and copying it once more at its last newline cost the reading thread ~0.4 s per
    500 MB, while the workers waited for it (Envoy JSON's 1M lines, BENCHMARKS.md stop 57).
    Each block is numbered from 1 and its lines counted by its converter; the reader numbers
    them in the file (``_renumbered``): counting 500 MB of newlines here was ~0.2 s more of
    the thread the workers wait for."""
    for file_no, path in enumerate(files):
        for block in iter_byte_views([path], buffers, unframe=True):
            yield block, 1, family, fold, file_no


def _convert_view(buffers: ReadBuffers, block: ViewBatch, first_line: int, family: str, fold: BlockFold,
                  file_no: int, codes_only: bool = False) -> _Converted:
    """``_convert_block`` of a block read into one of ``buffers``, handed back once converted
    (the rows and texts it gives are copies: no view of the buffer outlives the call)."""
    try:
        count = newlines(block.data) + 1
        done = _convert_block(block, first_line, family, fold, codes_only)
        done.count, done.file_no = count, file_no
        return done
    finally:
        buffers.give(block.buffer)


def _renumbered(done: _Converted, first: dict[int, int]) -> None:
    """A block ``_convert_view`` numbered from 1, numbered in its file: ``first`` holds the
    number of each input's next line (the blocks of an input come in order)."""
    start = first.get(done.file_no, 1)
    first[done.file_no] = start + done.count
    if start == 1:
        return
    done.unparsed = [(n + start - 1, text) for n, text in done.unparsed]
    if done.frame.height:
        done.frame = done.frame.with_columns(pl.col("line") + (start - 1))


def read_lb(paths: list[str], family: str, sink: Callable[[pl.DataFrame], None],
            batch_bytes: int = VECTOR_BATCH_BYTES, counted: Callable[[Counted], None] | None = None,
            unread: Callable[[list[tuple[int, str]]], None] | None = None, codes_only: bool = False,
            ) -> LbRead:
    """Every line of ``paths`` as ``family`` rows, a batch at a time into ``sink`` (the frame of
    ``evidence.lbstats.COLUMNS``, in file order), and what was counted on the way.  Memory is
    bounded by ``WORKERS`` + 1 batches (``FOLD_WORKERS`` + 1, ``codes_only``) whatever the size of
    the input.  A family with a native block reader gets the raw bytes (``_convert_block``).
    With ``counted``, a family whose native pass has a fold (``parsers.lblogs.fold``) counts
    the rows ``stats`` only counts itself, and they go to ``counted`` as groups instead of to
    ``sink`` as rows.  ``unread`` gets the (line number, text) of the lines no parser of the
    family took, a batch at a time (what ``classify`` reads with its rules instead).
    ``codes_only``: of the groups, only their ``Counted.codes`` is wanted
    (``BlockFold.codes_only``)."""
    read = LbRead(family, 0, 0, 0, [], [])
    fams = families()
    size = batch_bytes if fams.frame(family) is not None else min(batch_bytes, DEFAULT_BATCH_BYTES)
    items: Iterator[tuple[Any, ...]]
    files = expand_paths(paths)  # (a folder walked once)
    # the pass on two cores (FOLD_WORKERS), a fold each: the rows it counts are few to keep.
    # For stats, the second lane once FOLD_WIDEN_ROWS rows were counted.  (A fold is made first
    # to learn the pass can run.)
    fold = (FoldPerThread(lambda: fams.fold(family), codes_only=codes_only)
            if counted is not None and native_on() and fams.fold(family) is not None else None)
    workers = WORKERS if fold is None else FOLD_WORKERS
    if fold is not None and not readahead.budget_for(files, size):
        # a plain file, or one .gz: read into buffers the workers hand back (``_view_blocks``)
        buffers = ReadBuffers(size, keep=workers + 2)
        convert: Callable[..., _Converted] = partial(_convert_view, buffers, codes_only=codes_only)
        items = _view_blocks(files, family, buffers, fold)
    elif (fams.block(family) is not None and native_on()) or fold is not None:
        convert = partial(_convert_block, codes_only=codes_only)
        items = _blocks(files, family, size, *(() if fold is None else (fold,)))
    else:
        convert = _convert
        items = ((batch, family) for batch in iter_batches(files, batch_bytes=size, unframe=True))
    stats_fold = fold is not None and not codes_only
    lanes, folded = Lanes(1 if stats_fold else workers, workers), 0
    first: dict[int, int] = {}  # (``_renumbered``)
    try:
        for done in _in_order(lanes, convert, items):
            if done.count:
                _renumbered(done, first)
            folded += done.folded
            if stats_fold and lanes.n == 1 and folded >= FOLD_WIDEN_ROWS:
                lanes.widen()
            if not read.files or read.files[-1] != done.path:
                read.files.append(done.path)
            read.lines += done.lines
            read.unparsed += len(done.unparsed)
            for n, text in done.unparsed[: max(0, 3 - len(read.samples))]:
                read.samples.append((done.path, n, text[:300]))
            read.rows += done.frame.height + done.folded
            if unread is not None and done.unparsed:
                unread(done.unparsed)
            sink(done.frame)
            if done.counted is not None and counted is not None:
                counted(done.counted)
    finally:
        lanes.shutdown()  # (waits for the blocks still converting)
    if fold is not None and counted is not None:
        for groups in fold.take_all():  # every block is done: no worker uses a fold
            counted(groups)
    return read


def _window(df: pl.DataFrame, since: dt.datetime | None, until: dt.datetime | None) -> pl.DataFrame:
    """Rows within ``--since``/``--until``, compared in UTC (every family here logs UTC; a naive
    ``--since`` is taken as this machine's local time); rows without a time are kept."""
    if since is None and until is None:
        return df
    parsed = pl.col("time").str.to_datetime(time_zone="UTC", strict=False, ambiguous="earliest")
    keep = pl.col("time").is_null() | parsed.is_null()
    cond = pl.lit(True)
    if since is not None:
        cond = cond & (parsed >= _utc(since))
    if until is not None:
        cond = cond & (parsed <= _utc(until))
    return df.filter(keep | cond)


def _utc(t: dt.datetime) -> dt.datetime:
    aware = t if t.tzinfo is not None else t.astimezone()
    return aware.astimezone(dt.timezone.utc)


def lb_stats(
    paths: list[str], family: str, *, since: dt.datetime | None = None, until: dt.datetime | None = None,
    timeout_s: float | None = None, top: int = 10, batch_bytes: int = VECTOR_BATCH_BYTES,
) -> dict[str, object]:
    """``why502 stats`` on a load-balancer log: read, window, compute."""
    acc = LbStatsAccumulator(family, timeout_s, "--lb-timeout" if timeout_s is not None else None)
    # a row the fold counts is never windowed: with --since/--until every row is handed over
    windowed = since is not None or until is not None
    read = read_lb(paths, family, lambda frame: acc.add(_window(frame, since, until)), batch_bytes,
                   counted=None if windowed else acc.add_counted)
    if read.rows == 0:
        raise no_request_line(family, paths, read.samples)
    return acc.result(lines=read.lines, unparsed=read.unparsed, files=read.files, top=top)


LB_JSONL_COLUMNS: tuple[str, ...] = (
    "line", "file", "source", "symptom", "status", "time", "level", "upstream", "client", "server",
    "request", "host", "message", "made_by", "code", "proxy_status", "cause", "group",
)


def _failure(rec: LbRecord | None, text: str) -> LbRecord | Classified | None:
    """What ``classify`` reports of one line: the family's record when the proxy failed the
    request itself (``lb_reported``), else, for a line the family does not read, what the
    classify rules read in it (None: nothing to report)."""
    if rec is not None:
        return rec if lb_reported(rec) else None
    return classify_line(text) if text.strip() else None


def _lb_failures(paths: list[str], family: str) -> Iterator[tuple[str, int, LbRecord | Classified]]:
    """(file, line number, record) of each request the proxy failed itself (``lb_reported``), in
    file order.  With a vectorised reader only those rows become records: the others were
    converted for nothing (a row per line, ~4 µs each, most of classify's time on ALB).  A line
    the family's parser does not read (a pasted log mixes the proxy's lines with an error page,
    another program's line) is read by the classify rules, as it would be in a file of its own
    (``parsers.recognise``), instead of being dropped.  Batches are read on a worker thread
    (at most ``WORKERS`` ahead), as raw blocks when the family has a native reader."""
    fams = families()
    seen = False
    if fams.frame(family) is None:
        for path, n, text, rec in iter_records(paths, family):
            seen = seen or rec is not None
            if (failure := _failure(rec, text)) is not None:
                seen = True
                yield path, n, failure
    else:
        def use(rows: _Rows) -> tuple[list[_Found], bool]:
            return _failures_of(rows, family), _requests(rows)

        for found, requests in _each_rows(paths, family, use):
            seen = seen or requests or bool(found)
            yield from found
    if not seen:
        raise no_request_line(family, paths)


def no_request_line(family: str, paths: Sequence[str], samples: Sequence[tuple[str, int, str]] = (),
                    ) -> InputError:
    """The error of an input in which ``family``'s readers found no request (and, for
    ``classify``, the classify rules no failure): the wrong ``--log-type``, or no log at all --
    one wording for ``stats``, ``classify`` and ``diagnose`` (exit 3).  ``samples``: (file, line,
    text) of the first lines no reader took, shown shortened (hostile text: ``repr``); ``family``
    ``a+b``: several families were looked for, none named by the user."""
    named = ", ".join(paths) or "the input"
    shown = "; ".join(f"{f}:{n}: {t[:120]!r}" for f, n, t in samples)
    ask = "" if "+" in family else f": is --log-type {family} the log's format?"
    seen = f" (first lines: {shown})" if shown else ""
    return InputError(f"no {family} request line in {named}{seen}{ask}")


def _requests(rows: _Rows) -> bool:
    """Whether a block held a request of the family: a row, or one the native pass counted."""
    return bool(rows.frame.height) or (rows.answers is not None and bool(rows.answers.height))


_Found = tuple[str, int, "LbRecord | Classified"]
_FAILED = (pl.col("made_by") == "lb") & pl.col("failed")


def _failures_of(rows: _Rows, family: str) -> list[_Found]:
    """The failed rows of a block as records, and of the lines no reader took what the
    family's parser or the classify rules read, in line order."""
    found: dict[int, LbRecord | Classified] = {
        int(row["idx"]): _record(family, row) for row in rows.frame.filter(_FAILED).iter_rows(named=True)}
    found.update(_rest_failures(rows, family))
    return [(rows.path, rows.first_line + idx, found[idx]) for idx in sorted(found)]


def _rest_failures(rows: _Rows, family: str) -> dict[int, LbRecord | Classified]:
    """Of a block's lines no reader took, the failures the family's parser or the classify rules
    read in them (``_failure``), by ``idx``."""
    fams = families()
    found: dict[int, LbRecord | Classified] = {}
    for idx, text in rows.rest.items():
        rec = fams.parse_line(text, family) if text.strip() else None
        if (failure := _failure(rec, text)) is not None:
            found[idx] = failure
    return found


def _row(path: str, n: int, rec: LbRecord | Classified) -> dict[str, object]:
    """A ``classify --format jsonl`` row of one failure (``classify_lb``'s fields)."""
    if isinstance(rec, Classified):
        return {"line": n, "file": path, **rec.to_dict()}
    return {
        "line": n, "file": path, "source": rec.family, "symptom": rec.symptom, "status": rec.status,
        "time": rec.time, "level": None, "upstream": rec.target, "client": rec.client, "server": None,
        "request": rec.request, "host": rec.host, "message": rec.detail, "made_by": rec.made_by,
        "code": rec.code, "proxy_status": rec.proxy_status, "cause": rec.cause, "group": rec.group,
    }


def _before(rec: LbRecord | Classified, cutoff: dt.datetime | None) -> bool:
    """Whether the family's record ``rec`` was written before ``cutoff`` (a classified line of
    another program, or a record with no readable time, is not: nothing says it is older)."""
    if cutoff is None or isinstance(rec, Classified) or not rec.time:
        return False
    try:
        when = dt.datetime.fromisoformat(rec.time.replace("Z", "+00:00"))
    except ValueError:
        return False
    when = when if when.tzinfo else when.replace(tzinfo=dt.timezone.utc)
    return when < cutoff


def classify_lb(paths: list[str], family: str, since: dt.datetime | None = None,
                ) -> Iterator[dict[str, object]]:
    """``why502 classify`` rows for a load-balancer log: one per request the load balancer /
    proxy failed itself (its own 5xx, or a failure flag on another status), in the ``classify
    --format jsonl`` fields plus ``made_by``, ``code`` (the proxy's word), ``proxy_status``
    (RFC 9209), ``cause`` and ``group``."""
    cutoff = _utc(since) if since is not None else None
    for path, n, rec in _lb_failures(paths, family):
        if not _before(rec, cutoff):
            yield _row(path, n, rec)


def classify_lb_jsonl(paths: list[str], family: str) -> Iterator[tuple[bytes, int]]:
    """``classify_lb(paths, family)``'s rows as ``classify --format jsonl`` writes them
    (``dump_json(row, indent=None)``, a line each: UTF-8, C1 controls escaped), a block at a
    time: (their text, how many).  A block's failed rows are written by polars in the reading
    worker (``_jsonl_of``): a dict, a ``dump_json`` and a write per row in the main thread were
    ~20 us a failure, 0.2M lines/s on every edge family's failure-dense log (BENCHMARKS.md
    stop 64).  The same bytes: ``tests/stats/test_lb_jsonl.py``."""
    if families().frame(family) is None:  # every line through the parser: the rows one by one
        for path, n, rec in _lb_failures(paths, family):
            yield (dump_json(_row(path, n, rec), indent=None) + "\n").encode("utf-8"), 1
        return
    # as diagnose reads them: the requests that answered counted by the native pass, never a
    # row (none of them is a failure the proxy made: ``ANSWERED``), on ``RECORD_WORKERS`` threads
    answering = _answers_apply(paths, family)
    seen = False
    for (text, count), requests in _each_rows(
            paths, family, lambda rows: (_jsonl_of(rows, family), _requests(rows)), _jsonl_batch(paths),
            RECORD_WORKERS, answering=answering):
        seen = seen or requests or bool(count)
        if count:
            yield text, count
    if not seen:
        raise no_request_line(family, paths)


#: the lines of a ``classify_lb_jsonl`` batch, about: a batch costs ~4 ms of polars queries
#: whatever its size (Cloudflare's 1M lines, 2 MiB batches: 3.4 s, 16 MiB: 1.3 s) and holds its
#: rows' columns (Envoy's text log, 5M lines, 16 MiB batches of ~96k short lines: 307 MB, 8 MiB:
#: 203 MB), so a batch is sized by its lines, not its bytes (BENCHMARKS.md stop 64)
JSONL_BATCH_LINES = 1 << 15


def _jsonl_batch(paths: list[str]) -> int:
    """The bytes of ``JSONL_BATCH_LINES`` lines of the log (its first file's first lines), in
    blocks of ``VECTOR_BATCH_BYTES``: one at least, ``ANSWERS_RECORD_BATCHES`` at most."""
    from why502.app.stats.read import bytes_per_line

    files = expand_paths(paths)
    per_line = bytes_per_line(str(files[0]), keep=True) if files else 200.0
    blocks = round(JSONL_BATCH_LINES * per_line / VECTOR_BATCH_BYTES)
    return min(ANSWERS_RECORD_BATCHES, max(1, blocks)) * VECTOR_BATCH_BYTES


#: ``_row``'s fields of a record column, in its order: (field, column or None); a field without
#: a column is the line's number, its file, the family (``source``) or null
_ROW_FIELDS = (("line", None), ("file", None), ("source", None), ("symptom", "symptom"), ("status", "status"),
               ("time", "time"), ("level", None), ("upstream", "target"), ("client", "client"),
               ("server", None), ("request", "request"), ("host", "host"), ("message", "detail"),
               ("made_by", "made_by"), ("code", "code"), ("proxy_status", "proxy_status"), ("cause", "cause"),
               ("group", "group"))


def _json_value(column: str) -> pl.Expr:
    """Each value of a string column as ``dump_json`` writes it before ``json_inert`` (Python's
    encoder with ``ensure_ascii=False``; null: ``null``): polars' JSON encoder escapes the same
    characters the same way (``"``, ``\\``, the controls below 0x20 as ``\\b \\t \\n \\f \\r`` or
    ``\\u00xx``; nothing else), checked on every character below 0x3000 and random ones above
    (tests/stats/test_lb_jsonl.py).  Strict as ``dump_json`` is: a row holds only strings, integers
    and nulls (no float to write as NaN), and the text goes through ``json_inert``."""
    return pl.struct(pl.col(column).cast(pl.String).alias("v")).struct.json_encode().str.slice(5).str.head(-1)


def _jsonl_of(rows: _Rows, family: str) -> tuple[bytes, int]:
    """``classify_lb_jsonl``'s text of one block: its failed rows (``_FAILED``) written by polars
    in ``_row``'s order of fields, with ``dump_json``'s separators, and the lines no reader took
    that are failures too (read by the family's parser or the classify rules: ``_failure``)
    written one by one, all in the order of their lines (``_failures_of``'s)."""
    rest = [(idx, dump_json(_row(rows.path, rows.first_line + idx, found), indent=None))
            for idx, found in sorted(_rest_failures(rows, family).items())]
    failed = rows.frame.filter(_FAILED).sort("idx")
    if not failed.height and not rest:
        return b"", 0
    parts: list[pl.Expr] = []
    for k, (name, column) in enumerate(_ROW_FIELDS):
        parts.append(pl.lit(("{" if k == 0 else ", ") + dump_json(name, indent=None) + ": "))
        if name == "line":
            parts.append((pl.col("idx").cast(pl.Int64) + rows.first_line).cast(pl.String))
        elif name == "file":
            parts.append(pl.lit(dump_json(rows.path, indent=None)))
        elif name == "source":
            parts.append(pl.lit(dump_json(family, indent=None)))
        elif column is None:
            parts.append(pl.lit("null"))
        elif failed.schema[column].is_integer():
            parts.append(pl.col(column).cast(pl.String).fill_null("null"))
        else:
            parts.append(_json_value(column))
    parts.append(pl.lit("}"))
    row = pl.concat_str(parts)
    if not rest:
        text = failed.select((row + "\n").str.join("")).item()
    else:  # (a few lines a block at most: merged in Python)
        written = failed.select(pl.col("idx").cast(pl.Int64), row).rows() if failed.height else []
        text = "".join(line + "\n" for _idx, line in sorted([*written, *rest], key=lambda r: r[0]))
    return json_inert(text).encode("utf-8"), failed.height + len(rest)


@dataclass(frozen=True)
class OwnLog:
    """A proxy's own log read once in its family (``diagnose`` with Caddy's error log): its
    failures, each ``(file, line, record)`` as ``classify_lb`` finds them (no ``--since``
    applied), and the proxy's error lines that name a request (what
    ``evidence.lb_evidence.ErrorJoin`` joins access lines to)."""

    failures: tuple[tuple[str, int, LbRecord | Classified], ...]
    request_errors: tuple[LbRecord, ...]

    def rows(self, since: dt.datetime | None = None) -> Iterator[dict[str, object]]:
        """``classify_lb([path], family, since)``'s rows, without reading the log again."""
        cutoff = _utc(since) if since is not None else None
        return (_row(path, n, rec) for path, n, rec in self.failures if not _before(rec, cutoff))


def own_log(path: str, family: str) -> OwnLog:
    """``path`` read once per run in ``family`` (``sources.once``): ``diagnose`` joins a proxy's
    error lines to its access lines (``app.diagnose.lb``) and counts its failures with the
    other logs' (``app.diagnose.logs``), and each read the whole file (issue 23 item 3,
    ``tests/project/test_read_once.py``).  The failures are ``_lb_failures``': the family's own
    (``lb_reported``) and the lines it does not read that the classify rules do."""
    def read() -> OwnLog:
        failures: list[tuple[str, int, LbRecord | Classified]] = []
        errors: list[LbRecord] = []
        for file, n, text, rec in iter_records([path], family):
            if rec is not None and rec.kind == "error" and rec.made_by == "lb" and rec.request:
                errors.append(rec)
            if (failure := _failure(rec, text)) is not None:
                failures.append((file, n, failure))
        return OwnLog(tuple(failures), tuple(errors))

    return parsed("own-log", path, read, variant=family)
