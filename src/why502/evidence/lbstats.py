"""Access-log analytics for cloud load balancers and modern proxies (``why502 stats`` on an ALB,
Cloudflare, Envoy/Istio, Caddy or Traefik log), on the records of ``parsers.lblogs``.

The question is the same as for nginx: *who made the 5xx* -- the load balancer / edge / proxy
itself (it could not connect, timed out, had no healthy target) or the backend it relayed --
per minute, per target and per group (target group, cluster, service, origin host), with the
backend's time next to the load balancer's timeout, and the retries.  Pure: polars on columns
built from the records, no I/O.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import polars as pl

from why502.catalog.terms import term
from why502.parsers.lblogs.fold import Counted
from why502.parsers.lblogs.model import LbRecord
from why502.proxies.logfamilies import families

NEAR = 0.8  # "near the timeout": at or above 80 % of it

COLUMNS: dict[str, type[pl.DataType]] = {
    "line": pl.Int64, "file": pl.String, "time": pl.String, "status": pl.Int64, "made_by": pl.String,
    "code": pl.String, "symptom": pl.String, "proxy_status": pl.String, "cause": pl.String,
    "target": pl.String, "group": pl.String, "upstream_ms": pl.Float64, "duration_ms": pl.Float64,
    "retries": pl.Int64, "failed": pl.Boolean, "kind": pl.String,
}


@dataclass
class LbFrameBuilder:
    """Columns accumulated batch by batch (records are dropped as soon as they are counted)."""

    cols: dict[str, list[Any]] = field(default_factory=lambda: {k: [] for k in COLUMNS})
    frames: list[pl.DataFrame] = field(default_factory=list)

    def add(self, rec: LbRecord, file: str, line: int) -> None:
        c = self.cols
        c["line"].append(line)
        c["file"].append(file)
        c["time"].append(rec.time)
        c["status"].append(rec.status)
        c["made_by"].append(rec.made_by)
        c["code"].append(rec.code)
        c["symptom"].append(rec.symptom)
        c["proxy_status"].append(rec.proxy_status)
        c["cause"].append(rec.cause)
        c["target"].append(rec.target)
        c["group"].append(rec.group)
        c["upstream_ms"].append(rec.upstream_ms)
        c["duration_ms"].append(rec.duration_ms)
        c["retries"].append(rec.retries)
        c["failed"].append(rec.failed)
        c["kind"].append(rec.kind)
        if len(c["line"]) >= 200_000:
            self.flush()

    def add_frame(self, df: pl.DataFrame) -> None:
        """Rows already in columns (the vectorised reader), ``line`` and ``file`` included."""
        self.flush()
        self.frames.append(df.select([pl.col(k).cast(v) for k, v in COLUMNS.items()]))

    def flush(self) -> None:
        if self.cols["line"]:
            self.frames.append(pl.DataFrame(self.cols, schema=COLUMNS))
            self.cols = {k: [] for k in COLUMNS}

    def frame(self) -> pl.DataFrame:
        self.flush()
        return pl.concat(self.frames) if self.frames else pl.DataFrame(schema=COLUMNS)


# Partial aggregates are merged once this many have piled up (each is a few rows per key).
MERGE_EVERY = 16
# Distinct timings (each counted at the 0.1 ms it is printed at: ``_TIMING``) kept before they
# are rounded further (to 1 ms, then 10 ms, ...), so the table stays bounded whatever the number
# of lines.
VALUE_CAP = 500_000
# Rows pooled before they are reduced (~100-250 bytes each in columns: 3-8 MB).  It was 1 << 17
# (~20-33 MB): Traefik JSON's ``stats`` held 349 MB at 1M lines, 41 MB of it this pool on 200k
# lines; a reduction is ~40 polars queries, whose fixed cost is still small at this size
# (BENCHMARKS.md, "2026-11-25 (stop 41)").
POOL_ROWS = 1 << 15
# the columns the statistics read (``line`` and ``file`` are for the evidence rows, not here)
_USED = ["time", "status", "made_by", "code", "symptom", "proxy_status", "cause", "target", "group",
         "upstream_ms", "retries", "failed", "kind"]


def _pick(counts: pl.DataFrame, value: str, qs: tuple[float, ...]) -> list[float | None]:
    """The ``interpolation="nearest"`` quantiles of a column given as (value, n) rows: the element
    at sorted position ``floor((N-1) q + 0.5)``, as polars' ``Series.quantile`` picks it (checked
    against it in tests/stats/test_lb_streaming.py) -- without repeating each value n times."""
    c = counts.sort(value)
    cum = c["n"].cum_sum()
    total = int(cum[-1]) if c.height else 0
    out: list[float | None] = []
    for q in qs:
        if total == 0:
            out.append(None)
            continue
        idx = int((total - 1) * q + 0.5)
        out.append(float(c[value][int(cum.search_sorted(idx + 1, side="left"))]))
    return out


def _pcts_of(counts: pl.DataFrame, value: str = "upstream_ms") -> dict[str, float | None]:
    counts = counts.filter(pl.col(value).is_not_null())
    p50, p95, p99, mx = _pick(counts, value, (0.5, 0.95, 0.99, 1.0))
    r = [round(v, 1) if v is not None else None for v in (p50, p95, p99, mx)]
    return {"p50_ms": r[0], "p95_ms": r[1], "p99_ms": r[2], "max_ms": r[3]}


# Each timing is counted at the tenth of a millisecond, polars' ``round(1)`` (``rint(x * 10) /
# 10``, half to even): every figure of the timings is printed at 0.1 ms, and a quantile of
# timings rounded alike (rounding keeps their order) is the same element rounded -- p50 ... max
# are the figures the exact timings gave, rounded this way; the counts near and over the timeout
# compare the rounded timing.  Counted exactly, Cloudflare's and Traefik's nanosecond timings
# were nearly one distinct value per line, and so were the native fold's groups
# (``_jsonscan.c`` ``tenth_ms`` reads them at this tenth: BENCHMARKS.md stop 58).  A timing of
# -0.0 ms (a "-0.000" target time, or a negative one rounded to zero) is 0.0: polars groups the
# two under whichever it saw first, so the sign printed would depend on the order the rows
# were counted in (the native fold counts its rows before the rows it hands over).
_TENTH = pl.col("upstream_ms").round(1)
_TIMING = pl.when(_TENTH == 0.0).then(0.0).otherwise(_TENTH).alias("upstream_ms")


def _rounded(digits: int) -> pl.Expr:
    """The timings rounded to ``digits`` decimals; below 0, to tens, hundreds... of ms (polars'
    ``round`` takes no negative digits: integer timings past ``VALUE_CAP`` raised OverflowError)."""
    if digits >= 0:
        return pl.col("upstream_ms").round(digits)
    step = 10.0 ** -digits
    return ((pl.col("upstream_ms") / step).round(0) * step).alias("upstream_ms")


class _Sums:
    """A frame of per-key partial sums, first-seen order kept (``maintain_order``): the parts
    added are merged (``group_by(keys).agg(aggs)``) ``MERGE_EVERY`` at a time, and the merged
    parts in turn once ``MERGE_EVERY`` of one level are at the end -- each row is merged about
    once per level, not once per ``MERGE_EVERY`` parts added.  Merging every part into one each
    time re-grouped the whole table every ``MERGE_EVERY`` additions: where the keys are nearly
    the rows (Cloudflare's and Traefik's nanosecond timings, up to ``VALUE_CAP`` of them) that
    was ~0.45 of ``stats``' ~2.9 s on 1M lines (BENCHMARKS.md stop 57).  Merging any run of
    consecutive parts keeps every key's first-seen place, so ``frame`` is the same whatever was
    merged when."""

    def __init__(self, keys: list[str], aggs: list[pl.Expr]) -> None:
        self.keys, self.aggs = keys, aggs
        self.parts: list[pl.DataFrame] = []
        self.levels: list[int] = []  # each part's: how many merges made it

    def add(self, part: pl.DataFrame) -> None:
        if part.height:
            self.parts.append(part)
            self.levels.append(0)
        while len(self.levels) >= MERGE_EVERY and len(set(self.levels[-MERGE_EVERY:])) == 1:
            level = self.levels[-1] + 1
            merged = self._merged(self.parts[-MERGE_EVERY:])
            del self.parts[-MERGE_EVERY:], self.levels[-MERGE_EVERY:]
            self.parts.append(merged)
            self.levels.append(level)

    @property
    def rows(self) -> int:
        """The rows of its parts (a key may be in several)."""
        return sum(p.height for p in self.parts)

    def frame(self) -> pl.DataFrame:
        if not self.parts:
            return pl.DataFrame()
        return self._merged(self.parts)

    def replace(self, frame: pl.DataFrame) -> None:
        """Its parts replaced by ``frame`` (its merged parts, changed: the timings rounded)."""
        self.parts = [frame] if frame.height else []
        self.levels = [max(self.levels, default=0) + 1] if frame.height else []

    def _merged(self, parts: list[pl.DataFrame]) -> pl.DataFrame:
        both = pl.concat(parts, how="vertical_relaxed") if len(parts) > 1 else parts[0]
        return both.group_by(self.keys, maintain_order=True).agg(self.aggs)


def _summed(*cols: str) -> list[pl.Expr]:
    return [pl.col(c).sum() for c in cols]


_CODE_KEYS = ["code", "symptom", "proxy_status", "cause"]
_CODE_AGGS = [pl.col("count").sum(), pl.col("first").min(), pl.col("last").max(), pl.col("kind").first()]
_PER_COLS = ("requests", "5xx", "5xx_lb", "5xx_backend", "retried", "near")


class LbStatsAccumulator:
    """``stats`` of a load-balancer log, batch by batch: each frame of records (``COLUMNS``) is
    reduced to small per-key sums at once and dropped, so memory is bounded by the number of
    distinct statuses, minutes, codes, targets and (rounded) timings, not by the lines.

    Why: the whole-file frame of every row took ~800 MB per 1M lines and grew with the file
    (issue 28); a day of ALB logs did not fit.  The result is the same document
    ``compute_lb_stats`` made from the whole frame (tests/stats/test_lb_streaming.py compares a
    file read in one batch and in many)."""

    def __init__(self, family: str, timeout_s: float | None = None,
                 timeout_source: str | None = None, pool_rows: int = POOL_ROWS) -> None:
        fam = families().get(family)  # its name and default timeout: the family's data
        if timeout_s is None and fam is not None and fam.default_timeout is not None:
            timeout_s, timeout_source = fam.default_timeout
        self.made_by_name = fam.title if fam is not None else family
        self.family, self.timeout_s, self.timeout_source = family, timeout_s, timeout_source
        self.timeout_ms = timeout_s * 1000.0 if timeout_s is not None else None
        self.rows = self.requests = self.five = 0
        self.near = self.over = 0
        self.retried = self.extra = self.still_failed = 0
        self.made: dict[str, int] = {"lb": 0, "backend": 0, "unknown": 0}
        self.status = _Sums(["status"], _summed("n"))
        self.timeline = _Sums(["minute"], _summed("total", "5xx_lb", "5xx_backend"))
        self.codes = {kind: _Sums([*_CODE_KEYS, "status"], _CODE_AGGS) for kind in ("any", "error")}
        self.per = {key: _Sums([key], _summed(*_PER_COLS)) for key in ("target", "group")}
        # the timing tables are the state that grows with the lines (up to ``VALUE_CAP`` rows
        # each): the overall one is keyed by the timing alone, the per-target/group ones by the
        # key as a categorical (4 bytes a row instead of a 16-byte view and the text)
        self.values = {"all": _Sums(["upstream_ms"], _summed("n")),
                       **{key: _Sums([key, "upstream_ms"], _summed("n")) for key in ("target", "group")}}
        self.digits: int | None = None  # the rounding of the timings, once VALUE_CAP was reached
        self.pending: list[pl.DataFrame] = []
        self.pending_rows = 0
        self.pool_rows = pool_rows

    def add(self, df: pl.DataFrame) -> None:
        """Count one batch of rows (already windowed).  Batches are pooled up to ``POOL_ROWS``
        rows first: each reduction is ~40 polars queries, whose fixed cost outweighed the work
        on a batch of a few thousand Cloudflare lines."""
        if df.height:
            self.pending.append(df.select(_USED))
            self.pending_rows += df.height
        if self.pending_rows >= self.pool_rows:
            self._flush()

    def _flush(self) -> None:
        if not self.pending:
            return
        df = pl.concat(self.pending, how="vertical_relaxed") if len(self.pending) > 1 else self.pending[0]
        self.pending, self.pending_rows = [], 0
        self._reduce(df)

    def _reduce(self, df: pl.DataFrame) -> None:
        df = df.with_columns(_TIMING)
        if self.digits is not None:
            df = df.with_columns(_rounded(self.digits))
        self.rows += df.height
        access = df.filter(pl.col("kind") == "access")
        self.requests += access.height
        five = pl.col("status") >= 500
        fives = access.filter(five)
        self.five += fives.height
        for who, n in fives.group_by("made_by").len().iter_rows():
            self.made[str(who)] = self.made.get(str(who), 0) + int(n)
        self.status.add(access.group_by("status").agg(pl.len().cast(pl.Int64).alias("n")))
        self.timeline.add(access.with_columns(_minute(access)).group_by("minute", maintain_order=True).agg(
            pl.len().cast(pl.Int64).alias("total"),
            (five & (pl.col("made_by") == "lb")).sum().cast(pl.Int64).alias("5xx_lb"),
            (five & (pl.col("made_by") != "lb")).sum().cast(pl.Int64).alias("5xx_backend"),
        ))
        failures = df.filter(pl.col("failed") & (pl.col("made_by") == "lb"))
        for kind, rows in (("any", failures), ("error", failures.filter(pl.col("kind") == "error"))):
            self.codes[kind].add(rows.group_by([*_CODE_KEYS, "status"], maintain_order=True).agg(
                pl.len().cast(pl.Int64).alias("count"), pl.col("time").min().alias("first"),
                pl.col("time").max().alias("last"), pl.col("kind").first()))
        times = access["upstream_ms"].drop_nulls()
        near_ms = self.timeout_ms * NEAR if self.timeout_ms is not None else None
        if self.timeout_ms is not None and near_ms is not None:
            self.near += int((times >= near_ms).sum())
            self.over += int((times >= self.timeout_ms).sum())
        retried = access.filter(pl.col("retries").fill_null(0) > 0)
        self.retried += retried.height
        self.extra += int(retried["retries"].sum() or 0)
        self.still_failed += int((retried["status"] >= 500).sum())
        self.values["all"].add(access.filter(pl.col("upstream_ms").is_not_null())
                               .group_by("upstream_ms").agg(pl.len().cast(pl.Int64).alias("n")))
        near_expr = ((pl.col("upstream_ms") >= near_ms).fill_null(False) if near_ms is not None
                     else pl.lit(False))
        for key in ("target", "group"):
            sub = access.filter(pl.col(key).is_not_null())
            self.per[key].add(sub.group_by(key, maintain_order=True).agg(
                pl.len().cast(pl.Int64).alias("requests"),
                five.sum().cast(pl.Int64).alias("5xx"),
                (five & (pl.col("made_by") == "lb")).sum().cast(pl.Int64).alias("5xx_lb"),
                (five & (pl.col("made_by") == "backend")).sum().cast(pl.Int64).alias("5xx_backend"),
                (pl.col("retries").fill_null(0) > 0).sum().cast(pl.Int64).alias("retried"),
                near_expr.sum().cast(pl.Int64).alias("near"),
            ))
            self.values[key].add(sub.filter(pl.col("upstream_ms").is_not_null())
                                 .group_by([key, "upstream_ms"]).agg(pl.len().cast(pl.Int64).alias("n"))
                                 .with_columns(pl.col(key).cast(pl.Categorical)))
        self._bound()

    def add_counted(self, counted: Counted) -> None:
        """Count the rows a native pass counted itself (``parsers.lblogs.fold``): ``_reduce``'s
        sums, each row's 1 weighted by its group's ``n`` (each of the frames ``timeline``,
        ``target`` and ``group`` holds every row, keyed by the values the sums it feeds read),
        and the codes of the failures from ``codes``' groups with their first and last times."""
        n = pl.col("n")
        five = pl.col("status") >= 500

        def weighted(cond: pl.Expr) -> pl.Expr:  # ``cond.sum()`` of the rows (a null is no row)
            return pl.when(cond).then(n).otherwise(0).sum()

        tl = counted.timeline
        per = {"target": counted.target.with_columns(_TIMING), "group": counted.group.with_columns(_TIMING)}
        if self.digits is not None:
            per = {key: frame.with_columns(_rounded(self.digits)) for key, frame in per.items()}
        self.rows += counted.rows
        self.requests += counted.rows  # every counted row is an access line
        fives = tl.filter(five)
        self.five += int(fives["n"].sum() or 0)
        for who, k in fives.group_by("made_by").agg(n.sum()).iter_rows():
            self.made[str(who)] = self.made.get(str(who), 0) + int(k)
        self.status.add(tl.group_by("status").agg(n.sum().cast(pl.Int64).alias("n")))
        self.timeline.add(tl.group_by("minute", maintain_order=True).agg(
            n.sum().cast(pl.Int64).alias("total"),
            weighted(five & (pl.col("made_by") == "lb")).cast(pl.Int64).alias("5xx_lb"),
            weighted(five & (pl.col("made_by") != "lb")).cast(pl.Int64).alias("5xx_backend"),
        ))
        failures = counted.codes.filter(pl.col("failed") & (pl.col("made_by") == "lb"))
        for kind, rows in (("any", failures), ("error", failures.filter(pl.col("kind") == "error"))):
            self.codes[kind].add(rows.group_by([*_CODE_KEYS, "status"], maintain_order=True).agg(
                n.sum().cast(pl.Int64).alias("count"), pl.col("first").min(), pl.col("last").max(),
                pl.col("kind").first()))
        retried = tl.filter(pl.col("retries").fill_null(0) > 0)
        self.retried += int(retried["n"].sum() or 0)
        self.extra += int((retried["retries"] * retried["n"]).sum() or 0)
        self.still_failed += int(retried.select(weighted(five)).item() or 0)
        timed = per["target"].filter(pl.col("upstream_ms").is_not_null())
        near_ms = self.timeout_ms * NEAR if self.timeout_ms is not None else None
        if self.timeout_ms is not None and near_ms is not None:
            self.near += int(timed.select(weighted(pl.col("upstream_ms") >= near_ms)).item() or 0)
            self.over += int(timed.select(weighted(pl.col("upstream_ms") >= self.timeout_ms)).item() or 0)
        self.values["all"].add(timed.group_by("upstream_ms").agg(n.sum().cast(pl.Int64).alias("n")))
        near_expr = ((pl.col("upstream_ms") >= near_ms).fill_null(False) if near_ms is not None
                     else pl.lit(False))
        for key in ("target", "group"):
            sub = per[key].filter(pl.col(key).is_not_null())
            self.per[key].add(sub.group_by(key, maintain_order=True).agg(
                n.sum().cast(pl.Int64).alias("requests"),
                weighted(five).cast(pl.Int64).alias("5xx"),
                weighted(five & (pl.col("made_by") == "lb")).cast(pl.Int64).alias("5xx_lb"),
                weighted(five & (pl.col("made_by") == "backend")).cast(pl.Int64).alias("5xx_backend"),
                weighted(pl.col("retries").fill_null(0) > 0).cast(pl.Int64).alias("retried"),
                weighted(near_expr).cast(pl.Int64).alias("near"),
            ))
            self.values[key].add(sub.filter(pl.col("upstream_ms").is_not_null())
                                 .group_by([key, "upstream_ms"]).agg(n.sum().cast(pl.Int64).alias("n"))
                                 .with_columns(pl.col(key).cast(pl.Categorical)))
        self._bound()

    def _bound(self) -> None:
        """Round the timings once a table of distinct ones passes ``VALUE_CAP`` rows."""
        if max(v.rows for v in self.values.values()) <= VALUE_CAP:
            return
        for v in self.values.values():
            v.replace(v.frame())
        while max(v.rows for v in self.values.values()) > VALUE_CAP // 2:
            self.digits = 0 if self.digits is None else self.digits - 1  # (``_TIMING``: 1 already)
            for v in self.values.values():
                if v.parts:
                    v.replace(v.parts[0].with_columns(_rounded(self.digits)).group_by(v.keys).agg(pl.col("n").sum()))

    def _by_code(self) -> list[dict[str, Any]]:
        err = self.codes["error"].frame()
        rows = err if err.height else self.codes["any"].frame()
        if rows.height == 0:
            return []
        # the most frequent status of each code (the smallest on a tie), as ``mode().first()``
        mode = (rows.group_by([*_CODE_KEYS, "status"], maintain_order=True).agg(pl.col("count").sum())
                .sort(["count", "status"], descending=[True, False], nulls_last=True, maintain_order=True)
                .group_by(_CODE_KEYS, maintain_order=True).agg(pl.col("status").first()))
        agg = rows.group_by(_CODE_KEYS, maintain_order=True).agg(_CODE_AGGS).join(
            mode, on=_CODE_KEYS, how="left", nulls_equal=True, maintain_order="left")
        # ties in the codes' key order, not the order they were first counted in: a fold read on
        # two threads counts its groups in an order of its own (``app.stats.lb.Lanes``)
        agg = agg.select("code", "symptom", "proxy_status", "cause", "count", "status", "first", "last",
                         "kind").sort(["count", *_CODE_KEYS], descending=[True, False, False, False, False],
                                      nulls_last=True, maintain_order=True)
        out = []
        for r in agg.iter_rows(named=True):
            t = term(self.family, r["code"]) if r["code"] else None
            out.append({**r, "title": t.title if t else None})
        return out

    def _per(self, key: str, top: int) -> list[dict[str, Any]]:
        agg = self.per[key].frame()
        if agg.height == 0:
            return []
        # ties in key order: the whole-frame sort left them in hash order, a different top each run
        agg = agg.sort(["5xx", "requests", key], descending=[True, True, False], nulls_last=True).head(top)
        values = self.values[key].frame()
        out = []
        for row in agg.iter_rows(named=True):
            counts = values.filter(pl.col(key) == row[key]) if values.height else values
            item: dict[str, Any] = {key: row[key], "requests": row["requests"], "5xx": row["5xx"],
                                    "5xx_lb": row["5xx_lb"], "5xx_backend": row["5xx_backend"],
                                    "retried": row["retried"],
                                    **(_pcts_of(counts) if counts.height else _pcts_of(_NO_VALUES))}
            if self.timeout_ms is not None:
                item["near_timeout"] = int(row["near"])
            out.append(item)
        return out

    def result(self, *, lines: int, unparsed: int, files: Iterable[str], top: int = 10) -> dict[str, Any]:
        """The ``stats --format json`` document of everything added."""
        self._flush()
        status = self.status.frame()
        by_status = ({str(k): int(v) for k, v in status.sort("status").iter_rows() if k is not None}
                     if status.height else {})
        timeline: list[dict[str, Any]] = []
        if self.five:
            tl = self.timeline.frame().filter(pl.col("minute").is_not_null()).sort("minute")
            timeline = [dict(r) for r in tl.iter_rows(named=True)]
        values = self.values["all"].frame()
        timeout: dict[str, Any] = {"seconds": self.timeout_s, "source": self.timeout_source}
        if self.timeout_ms is not None:
            timeout["near"] = self.near
            timeout["over"] = self.over
        return {
            "log_type": self.family,
            "made_by_name": self.made_by_name,
            "files": list(files),
            "lines": lines,
            "requests": self.requests,
            "error_lines": self.rows - self.requests,
            "unparsed": unparsed,
            "by_status": by_status,
            "5xx": self.five,
            "made_by": self.made,
            "timeline": timeline,
            "by_code": self._by_code(),
            "targets": self._per("target", top),
            "groups": self._per("group", top),
            "timings": {**_pcts_of(values if values.height else _NO_VALUES), "timeout": timeout},
            "retries": {"requests": self.retried, "extra_attempts": self.extra,
                        "still_failed": self.still_failed},
        }


_NO_VALUES = pl.DataFrame(schema={"upstream_ms": pl.Float64, "n": pl.Int64})


def _minute(df: pl.DataFrame) -> pl.Expr:
    # ISO times (ALB, Envoy, Cloudflare, Caddy as converted): the minute is the first 16 chars
    return pl.col("time").str.slice(0, 16).alias("minute")


def compute_lb_stats(
    df: pl.DataFrame, family: str, *, lines: int, unparsed: int, files: Iterable[str],
    timeout_s: float | None = None, timeout_source: str | None = None, top: int = 10,
) -> dict[str, Any]:
    """The ``stats --format json`` document of a load-balancer log given as one frame."""
    acc = LbStatsAccumulator(family, timeout_s, timeout_source)
    acc.add(df)
    return acc.result(lines=lines, unparsed=unparsed, files=files, top=top)
