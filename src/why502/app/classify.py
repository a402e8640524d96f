"""``why502 classify``: stream log files through the classify engines and summarise.

Wiring only: ``sources.logfiles`` reads bounded batches (plain, ``.gz``, rotated sets, stdin),
``parsers.errorlog_batch`` classifies each batch column-wise, and this module adds the 1-based
``line``/``file`` columns, applies ``--since`` and keeps running totals for the summary, so
memory stays flat whatever the input size.
"""

from __future__ import annotations

import datetime as dt
import re
from collections import Counter, deque
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field

import polars as pl

from why502.errors import UsageError
from why502.parsers.errorlog import FIELD_NAMES
from why502.parsers.errorlog_batch import classify_series
from why502.sources.logfiles import DEFAULT_BATCH_BYTES, LineBatch, expand_inputs, iter_batches

JSONL_COLUMNS: tuple[str, ...] = (
    "line", "file", "source", "symptom", "status", "time", "level", "upstream", "client", "server",
    "request", "host", "message",
)

# Evidence events of causes.md (+ the ones agreed with the catalog): not upstream failures by
# themselves, so they do not make ``classify`` exit 1.
EVENT_IDS: frozenset[str] = frozenset({
    "fpm-max-children", "worker-crashed", "worker-timeout", "oom-kill", "unit-restart", "unit-failed",
    "listen-failed", "selinux-avc", "upstream-marked-down", "slow-request", "listen-queue-full",
})

_RELATIVE = re.compile(r"^(\d+)\s*([smhdw])$")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


def is_event(symptom: str) -> bool:
    """True for evidence-event IDs (PHP-FPM, kernel, systemd ...), False for proxy symptoms."""
    return symptom in EVENT_IDS


def parse_since(value: str, now: dt.datetime | None = None) -> dt.datetime:
    """``2h``, ``30m``, ``1d`` or an ISO 8601 time -> a naive local datetime.

    nginx writes local time without a zone (``src/core/ngx_times.c``), so comparisons are done
    in naive local time; an ISO value with an offset is converted to local time first.
    """
    now = now or dt.datetime.now()
    text = value.strip()
    m = _RELATIVE.match(text)
    if m:
        return now - dt.timedelta(seconds=int(m.group(1)) * _UNITS[m.group(2)])
    try:
        parsed = dt.datetime.fromisoformat(text.replace("Z", "+00:00").replace("/", "-"))
    except ValueError:
        raise UsageError(
            f"--since: cannot read {value!r} (use e.g. 2h, 30m, 1d or 2024-05-01T12:00:00)"
        ) from None
    if parsed.tzinfo is not None:
        parsed = parsed.astimezone().replace(tzinfo=None)
    return parsed


def _aware_to_local(value: str) -> str | None:
    try:
        parsed = dt.datetime.fromisoformat(value)
    except ValueError:
        return None
    if parsed.tzinfo is not None:
        parsed = parsed.astimezone().replace(tzinfo=None)
    return parsed.isoformat()


def _filter_since(df: pl.DataFrame, cutoff: dt.datetime) -> pl.DataFrame:
    """Keep rows at or after ``cutoff``; rows without a time are kept (nothing to judge by)."""
    stamp = cutoff.isoformat(timespec="seconds")
    time = pl.col("time")
    aware = time.str.contains(r"T\d\d:\d\d:\d\d(?:\.\d+)?[+-]\d\d:\d\d$")
    local = pl.when(aware).then(
        time.map_elements(_aware_to_local, return_dtype=pl.String)
    ).otherwise(time) if df.filter(aware).height else time
    return df.filter(time.is_null() | (local >= stamp))


def _classify_batch(batch: LineBatch, year: int, fields: tuple[str, ...]) -> pl.DataFrame:
    series = pl.Series("line", [batch.text]).str.split("\n").explode()
    df = classify_series(series, year=year, fields=fields)
    return df.with_columns(
        (pl.col("idx").cast(pl.Int64) + batch.first_line).alias("line"),
        pl.lit(batch.path).alias("file"),
    ).select(*JSONL_COLUMNS, "pattern")


def classify_paths(
    paths: Sequence[str],
    since: str | dt.datetime | None = None,
    rotated: bool = False,
    batch_bytes: int = DEFAULT_BATCH_BYTES,
    on_batch: Callable[[LineBatch], None] | None = None,
    fields: Sequence[str] = FIELD_NAMES,
    workers: int = 2,
) -> Iterator[pl.DataFrame]:
    """Yield one frame per batch, in input order: ``line`` (1-based in its file), ``file`` + the
    record fields (``fields`` limits the request fields extracted from nginx lines).

    Batches are classified by ``workers`` threads (polars releases the GIL) while the next batch
    is read; at most ``workers + 1`` batches are in flight, so memory stays bounded.  ``paths``
    may hold globs and ``-`` (stdin); none means stdin.  Raises ``InputError`` for unreadable
    inputs and ``UsageError`` for a bad ``since``.
    """
    cutoff = parse_since(since) if isinstance(since, str) else since
    files = expand_inputs(paths or ["-"], rotated=rotated)
    year = dt.date.today().year
    wanted = tuple(fields)

    def finish(future: Future[pl.DataFrame]) -> pl.DataFrame | None:
        df = future.result()
        if cutoff is not None and df.height:
            df = _filter_since(df, cutoff)
        return df if df.height else None

    with ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
        pending: deque[Future[pl.DataFrame]] = deque()
        for batch in iter_batches(files, batch_bytes=batch_bytes):
            if on_batch is not None:
                on_batch(batch)
            pending.append(pool.submit(_classify_batch, batch, year, wanted))
            if len(pending) > max(1, workers):
                done = finish(pending.popleft())
                if done is not None:
                    yield done
        while pending:
            done = finish(pending.popleft())
            if done is not None:
                yield done


@dataclass
class SymptomStats:
    count: int = 0
    statuses: Counter[int] = field(default_factory=Counter)
    sources: Counter[str] = field(default_factory=Counter)
    first: str | None = None
    last: str | None = None
    example: str | None = None


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

    def add_batch(self, batch: LineBatch) -> None:
        self.lines_read += batch.count
        if batch.path not in self.files:
            self.files.append(batch.path)

    def add(self, df: pl.DataFrame) -> None:
        """Fold one classified frame into the totals."""
        per = df.group_by("symptom").agg(
            pl.len().alias("n"),
            pl.col("time").min().alias("first"),
            pl.col("time").max().alias("last"),
            pl.col("message").first().alias("example"),
        )
        for sym, n, first, last, example in per.iter_rows():
            st = self.symptoms.setdefault(sym, SymptomStats())
            st.count += n
            if first is not None and (st.first is None or first < st.first):
                st.first = first
            if last is not None and (st.last is None or last > st.last):
                st.last = last
            st.example = st.example or example
        for sym, status, n in df.group_by("symptom", "status").len().iter_rows():
            if status is not None:
                self.symptoms[sym].statuses[status] += n
        for sym, source, n in df.group_by("symptom", "source").len().iter_rows():
            self.symptoms[sym].sources[source] += n
        ups = df.filter(pl.col("upstream").is_not_null()).group_by("upstream", "symptom").len()
        for upstream, sym, n in ups.iter_rows():
            us = self.upstreams.setdefault(upstream, UpstreamStats())
            us.count += n
            us.symptoms[sym] += n

    @property
    def recognised(self) -> int:
        return sum(s.count for s in self.symptoms.values())

    def failures(self) -> int:
        """Lines with an upstream-failure symptom (not evidence events)."""
        return sum(s.count for k, s in self.symptoms.items() if not is_event(k))

    def ranked(self) -> list[tuple[str, SymptomStats]]:
        """Symptoms first (most lines first), then evidence events."""
        return sorted(self.symptoms.items(), key=lambda kv: (is_event(kv[0]), -kv[1].count, kv[0]))
