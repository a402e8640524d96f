"""The per-request join: each 5xx access line with the error-log line nginx wrote for it.

Why per request: the access log says which requests failed and the error log says why
(connection refused, timed out, no live upstreams, ...); joined, every 5xx gets its symptom, and
a 5xx without an error line while one was read points at the backend.  The kept 5xx rows are
joined one block at a time (``join_block``), so memory stays that of one block.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import timedelta

import polars as pl

from why502.evidence.stats.frames import FrameStore
from why502.evidence.stats.histogram import seconds_of
from why502.evidence.stats.model import UNPARSED_SAMPLES, ErrorLogInfo, UnmatchedSample

_PEER = r"^[A-Za-z0-9+]+://(unix:[^:]*|\[[^\]]*\](?::\d+)?|[^/]*)"


# the error-log rows of the join, empty (``app.stats.errorlog.ERROR_COLUMNS``)
EMPTY_ERRORS = pl.DataFrame(
    schema={"time": pl.Datetime("us"), **dict.fromkeys(
        ("client", "request", "host", "upstream", "symptom", "message"), pl.String)}
)

# partitions of the error-log rows on disk: a 1 GB error log (3M rows) is ~100k rows each
PARTITIONS = 32


def partition_key(client: pl.Expr, request: pl.Expr) -> pl.Expr:
    """Which of ``PARTITIONS`` a row goes to, by its join keys (client, request): the same on
    both sides of the join, so a 5xx line meets only the error lines of its own partition."""
    both = pl.concat_str([client.cast(pl.String).fill_null(""), pl.lit("\x00"),
                          request.cast(pl.String).fill_null("")])
    return (both.hash(seed=502) % PARTITIONS).cast(pl.UInt32)


@dataclass
class ErrorParts:
    """The error log's rows for the join (``ERROR_COLUMNS`` of ``app.stats.errorlog``, ``time``
    a datetime), hash-partitioned by (client, request) into ``PARTITIONS`` stores.

    Why: the join needs every usable error line, and a big error log held whole took 2-3 GB
    (1 GB of log).  Kept on disk by partition (the stores are ``sources.spill.DiskFrames`` from
    the app), the join loads one partition of errors and the 5xx rows of the same partition at
    a time (``breakdown.breakdown_5xx``): memory is one partition's, whatever the size."""

    parts: list[FrameStore]
    rows: int = 0

    @property
    def height(self) -> int:
        return self.rows

    def add(self, frame: pl.DataFrame) -> None:
        if not frame.height:
            return
        self.rows += frame.height
        keyed = frame.with_columns(partition_key(pl.col("client"), pl.col("request")).alias("_part"))
        # the key left out by the split itself: a ``drop`` per partition was one eager query
        # each, ~30 per batch (~0.2 s of a 1 GB host's 75 batches, BENCHMARKS.md stop 48)
        for (p,), sub in keyed.partition_by("_part", as_dict=True, include_key=False).items():
            self.parts[int(p)].add(sub)

    def part(self, p: int) -> pl.DataFrame | None:
        """Partition ``p``'s rows, in the order they were added (None: empty)."""
        frames = list(self.parts[p].blocks())
        return pl.concat(frames, how="vertical_relaxed") if frames else None

    def close(self) -> None:
        for store in self.parts:
            store.close()


def prepare_errors(errors: pl.DataFrame) -> pl.DataFrame:
    """Classified error-log lines as ``join_block`` wants them: typed, those with a time, a
    client and a request only, numbered (``_err``) and sorted by time."""
    err = errors.select(
        pl.col("time").cast(pl.Datetime("us")).alias("ts"),
        pl.col("client").cast(pl.String),
        pl.col("request").cast(pl.String),
        pl.col("host").cast(pl.String).alias("err_host"),
        pl.col("upstream").cast(pl.String).str.extract(_PEER).alias("err_peer"),
        pl.col("symptom").cast(pl.String),
        pl.col("message").cast(pl.String).alias("error_message"),
    ).filter(pl.col("ts").is_not_null() & pl.col("client").is_not_null() & pl.col("request").is_not_null())
    return err.with_row_index("_err").sort("ts")


def join_block(five: pl.DataFrame, err: pl.DataFrame, tolerance_s: int = 2) -> tuple[pl.DataFrame, JoinPart]:
    """Match each 5xx access line of ``five`` (with ``_id``) to the error-log line nginx wrote
    for it (``err`` from ``prepare_errors``); return the rows with ``symptom``,
    ``error_message`` (null when unmatched) and this block's counts for ``JoinTotals``.

    Keys: same client address and request line, error time at or before the access time (the
    access line is written when the request ends, ``ngx_http_log_handler``) by at most
    ``tolerance_s`` seconds plus nothing else: the last failed attempt's error is the nearest one.
    The host (``$host`` vs the error's ``host:`` = Host header, possibly with a port) and the
    upstream peer are checked loosely afterwards (``upstream_agrees``).  Each access line is
    matched on its own, so blocks of lines can be joined one at a time.
    """
    left = five.with_columns(pl.col("client").cast(pl.String), pl.col("request").cast(pl.String))
    has_ts = left.filter(pl.col("ts").is_not_null()).sort("ts")
    no_ts = left.filter(pl.col("ts").is_null())
    j = has_ts.join_asof(
        err,
        on="ts",
        by=["client", "request"],
        strategy="backward",
        tolerance=timedelta(seconds=tolerance_s),
        check_sortedness=False,
    )
    j = j.drop("ts_right", strict=False)
    if no_ts.height:
        no_ts = no_ts.with_columns(
            pl.lit(None, dtype=pl.UInt32).alias("_err"),
            pl.lit(None, dtype=pl.String).alias("err_host"),
            pl.lit(None, dtype=pl.String).alias("err_peer"),
            pl.lit(None, dtype=pl.String).alias("symptom"),
            pl.lit(None, dtype=pl.String).alias("error_message"),
        )
        j = pl.concat([j, no_ts.select(j.columns)], how="vertical_relaxed")
    j = j.sort("_id")
    matched = j.filter(pl.col("symptom").is_not_null())
    unmatched = j.filter(pl.col("symptom").is_null())
    agree = matched.filter(
        pl.col("err_peer").is_null()
        | (pl.col("err_peer") == pl.col("ua_last"))
        | pl.col("err_peer").str.starts_with(pl.col("ua_last"))
    ).height
    # the error line's host: is the Host header (may carry a port); $host is lowercased, no port
    err_host = pl.col("err_host").str.to_lowercase().str.replace(r":\d+$", "")
    host_agree = matched.filter(
        pl.col("err_host").is_null()
        | pl.col("host").is_null()
        | (err_host == pl.col("host").str.to_lowercase())
    ).height
    header = seconds_of("uht_last")
    samples = unmatched.filter(header.is_null()).head(UNPARSED_SAMPLES)
    part = JoinPart(
        matched=matched.height,
        unmatched=unmatched.height,
        backend_like=unmatched.filter(header.is_not_null()).height,
        agree=agree,
        host_agree=host_agree,
        used=set(matched["_err"].unique().to_list()) if matched.height else set(),
        by_symptom=Counter(dict(matched.group_by("symptom").len().iter_rows())),
        samples=[
            {"file": r[0], "line": r[1], "status": r[2], "request": r[3], "client": r[4]}
            for r in samples.select("file", "line", "status", "request", "client").iter_rows()
        ],
    )
    return j.drop("_err", "err_host", "err_peer"), part


@dataclass
class JoinPart:
    """One block's counts from ``join_block``, added up by ``JoinTotals``."""

    matched: int  # 5xx lines with their error-log line
    unmatched: int
    backend_like: int  # unmatched, with a response header from the backend
    agree: int  # matched, and the error line names the same upstream peer (or none)
    host_agree: int  # matched, and the error line's host: is the access line's $host (or none)
    used: set[int]  # the error lines (``_err``) matched
    by_symptom: Counter[str]
    samples: list[UnmatchedSample]


@dataclass
class JoinTotals:
    """The join's counts over all blocks (``join_block``), as ``AccessStats.errorlog``."""

    lines: int  # classified error-log lines given
    usable: int  # of them with a time, a client and a request
    matched: int = 0
    unmatched: int = 0
    backend_like: int = 0
    agree: int = 0
    host_agree: int = 0
    used: set[int] = field(default_factory=set)
    used_before: int = 0  # distinct error lines matched in partitions already done (``fold``)
    by_symptom: Counter[str] = field(default_factory=Counter)
    samples: list[UnmatchedSample] = field(default_factory=list)

    def fold(self) -> None:
        """A partition is done: count its matched error lines and forget their numbers (no
        error line of another partition can have been matched to the same 5xx)."""
        self.used_before += len(self.used)
        self.used = set()

    def add(self, part: JoinPart) -> None:
        self.matched += part.matched
        self.unmatched += part.unmatched
        self.backend_like += part.backend_like
        self.agree += part.agree
        self.host_agree += part.host_agree
        self.used |= part.used
        self.by_symptom.update(part.by_symptom)
        self.samples.extend(part.samples[: UNPARSED_SAMPLES - len(self.samples)])

    def info(self) -> ErrorLogInfo:
        return {
            "lines": self.lines,
            "matched_5xx": self.matched,
            "unmatched_5xx": self.unmatched,
            "unmatched_with_backend_header": self.backend_like,
            "upstream_agrees": self.agree,
            "host_agrees": self.host_agree,
            "error_lines_used": len(self.used) + self.used_before,
            "error_lines_unused": max(0, self.usable - len(self.used) - self.used_before),
            # most first; ties by name, so the same logs always give the same order
            "by_symptom": dict(sorted(self.by_symptom.items(), key=lambda kv: (-kv[1], kv[0]))),
            "unmatched_samples": self.samples,
        }
