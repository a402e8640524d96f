"""Access-log statistics: pure, streaming aggregation of nginx access-log lines with polars.

Why this shape: access logs are big (millions of lines a day) and the answers are small (a few
hundred minutes of timeline, a handful of upstreams).  So every piece of the log is parsed and
reduced to small partial aggregates at once, and only the aggregates are kept: memory does not
grow with the file.  The exception is the 5xx requests themselves, kept (up to
``MAX_5XX_ROWS``) for the per-request join with the error log and the breakdowns: the app keeps
them on disk (``sources.spill``) and ``finish`` works through them one block at a time.

Two ways in, one plan: ``LineParser.fields_plan`` (split pieces -> captured strings + ``_ok``)
and ``StatsAccumulator.typed_plan`` (-> the grouping columns) are row-wise lazy plans.  A plain
file is read by polars' streaming engine running them as it reads (``sources.scan``; the app
feeds the batches to ``partial_batch`` and the rejected lines to ``rematch_plan``); ``.gz`` and
stdin come as byte chunks (``partial``).  Either way ``_aggregate`` reduces rows to a
``Partial`` and ``merge`` folds it into the totals.

Parsing (``LineParser``): with nginx's default escaping a ``"`` never appears inside a value
(``ngx_http_log_escape()`` writes it as ``\\x22``), so splitting a line at every ``"`` gives the
same pieces as the ``log_format`` string split at its literal quotes.  polars' multi-threaded CSV
reader does that split (separator ``"``, no quoting), then each piece that holds wanted variables
is sliced at known offsets (``$status`` in `` $status $body_bytes_sent ``) or matched with a small
anchored regex.  A line is accepted when it has exactly the expected number of pieces, its last
piece with literal text is there, and ``$status``/the time have their shape; others
(``escape=json`` values with ``\\"``, ``escape=none``, foreign lines) are re-matched against the
whole-line regex from ``parsers.log_format``; what still does not match is counted as unparsed,
with samples.

Who made a 5xx (proxy-messages.md section 1.3, ``ngx_http_upstream_next()``): nginx writes its own
502/504 into ``$upstream_status`` for a failed attempt, so the status alone proves nothing.  A
numeric ``$upstream_header_time`` on the last attempt means the backend sent a response header,
i.e. the backend made the status; ``-`` means the attempt failed inside nginx.  Without
``$upstream_header_time`` in the format, an error-log line joined to the request says "nginx";
no line (when an error log was read) says "backend"; otherwise "unknown".

Percentiles: timings go into fixed logarithmic buckets (``BUCKET_RATIO`` = 2% wide, offset by
1 ms), per upstream address; a percentile is the bucket's geometric middle, so it is within
about +-1% (+-0.5 ms below 50 ms) of the exact value; ``max`` is exact.
"""

from __future__ import annotations

import math
import re
from collections import Counter, defaultdict
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any, Protocol
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import polars as pl

from why502.parsers.log_format import (
    FIXED_SHAPES,
    FIXED_WIDTH,
    CompiledFormat,
    compile_format,
    split_pieces,
)

# The chunk type lives in parsers (below both sources and evidence); re-exported here.
from why502.parsers.log_format import ByteChunk as ByteChunk
from why502.parsers.nginx.locations import LocationModel

BUCKET_RATIO = 1.02
_K = 1.0 / math.log(BUCKET_RATIO)
MAX_5XX_ROWS = 2_000_000
_SAMPLE_COLUMNS = (
    "file",
    "line",
    "minute",
    "client",
    "host",
    "request",
    "status",
    "ua",
    "us",
    "uht",
    "made_by",
    "symptom",
    "error_message",
)
BAD_BLANK, BAD_SHORT, BAD_RECHECK = 1, 2, 3  # why a row failed the fast split (``_bad``)
UNPARSED_SAMPLES = 5
NEAR_TIMEOUT_FRACTION = 0.8
TOP_N = 15

_UPSTREAM_FIELDS = (
    "upstream_addr",
    "upstream_status",
    "upstream_connect_time",
    "upstream_header_time",
    "upstream_response_time",
)
_SHORT = {
    "upstream_addr": "ua",
    "upstream_status": "us",
    "upstream_connect_time": "uct",
    "upstream_header_time": "uht",
    "upstream_response_time": "urt",
}
_TIMINGS = (
    ("upstream_header_time", "h"),
    ("upstream_response_time", "r"),
    ("upstream_connect_time", "c"),
)
_ATTR = {"h": "header_time", "r": "response_time", "c": "connect_time"}
_DEFERRABLE = frozenset({"remote_addr"})  # needed for the 5xx rows only
_VALIDATE = ("status", "time_local", "time_iso8601", "msec")
_MONTHS = {
    m: i + 1
    for i, m in enumerate(
        ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]
    )
}


# ---------------------------------------------------------------------------------------------
# parsing


@dataclass(frozen=True)
class _Segment:
    index: int
    kind: str  # single | literal | anchor | mixed | positional | skip
    text: str
    var: str | None = None
    pattern: str | None = None
    fields: tuple[str, ...] = ()
    # positional: (field, prefix length or None, suffix length or None, width or None, stop char)
    slices: tuple[tuple[str, int | None, int | None, int | None, str | None], ...] = ()


def _positional(
    text: str, wanted: frozenset[str], last: bool
) -> tuple[tuple[str, int | None, int | None, int | None, str | None], ...] | None:
    """Cheap slicing instead of a regex when each wanted variable sits at a fixed offset from
    the start or the end of its piece (e.g. ``$status`` in `` $status $body_bytes_sent ``) or
    at a fixed offset and ends at a character it cannot contain."""
    pieces = split_pieces(text)
    out: list[tuple[str, int | None, int | None, int | None, str | None]] = []

    def length(ps: list[tuple[str, str]]) -> int | None:
        total = 0
        for kind, value in ps:
            if kind == "lit":
                total += len(value)
            elif value in FIXED_WIDTH:
                total += FIXED_WIDTH[value]
            else:
                return None
        return total

    for k, (kind, value) in enumerate(pieces):
        if kind != "var" or value not in wanted:
            continue
        pre = length(pieces[:k])
        suf = length(pieces[k + 1 :])
        width = FIXED_WIDTH.get(value)
        nxt = pieces[k + 1] if k + 1 < len(pieces) else None
        if width is not None and pre is not None:
            out.append((value, pre, None, width, None))
        elif width is not None and suf is not None and not last:
            out.append((value, None, suf, width, None))
        elif (pre is not None and nxt is not None and nxt[0] == "lit" and value not in FIXED_SHAPES) or (
            pre is not None
            and nxt is not None
            and nxt[0] == "lit"
            and nxt[1][0] not in " ,:"
            and value.startswith("upstream_")
        ):
            out.append((value, pre, None, None, nxt[1][0]))
        elif pre is not None and nxt is None and not last:
            out.append((value, pre, None, None, None))
        else:
            return None
    return tuple(out)


class LineParser:
    """Parse chunks of lines in one ``log_format`` into a frame of the captured variables."""

    def __init__(self, fmt: CompiledFormat) -> None:
        self.fmt = fmt
        segs = fmt.format.split('"')
        self.n = len(segs)
        self.segments: list[_Segment] = []
        seen: set[str] = set()
        for i, text in enumerate(segs):
            vars_ = re.findall(r"\$\{?([A-Za-z0-9_]+)\}?", text)
            if not vars_:
                self.segments.append(_Segment(i, "literal" if text else "skip", text))
                continue
            if re.fullmatch(r"\$\{?[A-Za-z0-9_]+\}?", text):
                var = vars_[0]
                if var in fmt.fields and var not in seen:
                    seen.add(var)
                    self.segments.append(_Segment(i, "single", text, var=var))
                else:
                    self.segments.append(_Segment(i, "skip", text))
                continue
            wanted = frozenset(v for v in vars_ if v in fmt.fields and v not in seen)
            if not wanted:
                self.segments.append(_Segment(i, "skip", text))
                continue
            sub = _compile_segment(text, fmt.escape, wanted)
            seen |= set(sub.fields)
            pos = _positional(text, wanted, last=(i == len(segs) - 1))
            if pos is not None:
                self.segments.append(_Segment(i, "positional", text, fields=sub.fields, slices=pos))
            else:
                self.segments.append(_Segment(i, "mixed", text, pattern=sub.pattern, fields=sub.fields))
        # Only the last literal piece is checked (each column read costs CPU); the layout is also
        # guarded by the extra-column check, the status cast and the required upstream fields.
        # The anchor: the last piece with literal text of its own, so never empty in a whole line
        # (a truncated line or one with fewer quotes has it null).
        with_text = [i for i, t in enumerate(segs) if re.sub(r"\$\{?[A-Za-z0-9_]+\}?", "", t).strip()]
        self.anchor = with_text[-1] if with_text else None
        self.segments = [
            seg
            if seg.kind != "literal" or seg.index == self.anchor
            else _Segment(seg.index, "skip", seg.text)
            for seg in self.segments
        ]
        self.segments = [
            _Segment(seg.index, "anchor", seg.text)
            if seg.kind == "skip" and seg.index == self.anchor
            else seg
            for seg in self.segments
        ]
        self.columns = sorted({s.index for s in self.segments if s.kind != "skip"} | {self.n})
        # No header line is prepended (that would copy every chunk): the reader gets the n + 1
        # columns as a schema and pads short lines with nulls; column n is non-null only for a
        # line with more quotes than the format.
        self._schema = {f"column_{i + 1}": pl.String for i in range(self.n + 1)}
        self._read_cols = [f"column_{i + 1}" for i in self.columns]
        self._rename = {f"column_{i + 1}": f"c{i}" for i in self.columns}
        self.fields = fmt.fields
        self.deferred: dict[str, str] = {}  # field -> stop char, cut later (finish_deferred)
        self._build_exprs()

    def _build_exprs(self) -> None:
        """The per-line expressions, built once (they do not depend on the data).

        Two steps: the values (``_exprs``) and the checks that need the raw pieces
        (``_raw_oks``), then the checks on the values themselves (``_ok``): a value is cut from
        its piece once and checked where it is, instead of being cut again for the check."""
        exprs: list[pl.Expr] = []
        raw: list[pl.Expr] = [pl.col(f"c{self.n}").is_null()]
        oks: list[pl.Expr] = []
        for seg in self.segments:
            col = pl.col(f"c{seg.index}")
            if seg.kind == "single":
                assert seg.var is not None
                exprs.append(col.fill_null("").alias(seg.var))  # "" and missing read as null
                if seg.var in _VALIDATE:  # the shapes reject "" as they reject a missing value
                    oks.append(_shape_ok(seg.var, pl.col(seg.var)))
                if seg.index == self.anchor:
                    raw.append(col.is_not_null())
            elif seg.kind == "anchor":
                raw.append(col.is_not_null())
            elif seg.kind == "literal":
                raw.append(col == seg.text.rstrip("\r") if seg.index == self.n - 1 else col == seg.text)
            elif seg.kind == "positional":
                for name, pre, suf, width, stop in seg.slices:
                    e = col
                    if pre is not None and width is not None:
                        e = col.str.slice(pre, width)
                    elif suf is not None and width is not None:
                        e = col.str.slice(-(suf + width), width)
                    elif name in _DEFERRABLE and not pre and stop is not None:
                        # only the 5xx rows need it: cut it there (``finish_deferred``)
                        self.deferred[name] = stop
                    else:
                        if pre:
                            e = e.str.slice(pre)
                        if stop is not None:
                            e = e.str.split_exact(stop, 1).struct.field("field_0")
                    if name == "status":
                        e = e.cast(pl.Int16, strict=False)
                        oks.append(pl.col(name).is_not_null())
                    elif name in _VALIDATE:
                        oks.append(_shape_ok(name, pl.col(name)))
                    else:
                        raw.append(col.is_not_null())
                    exprs.append(e.alias(name))
            elif seg.kind == "mixed":
                assert seg.pattern is not None
                ex = col.str.extract_groups(seg.pattern)
                for f in seg.fields:
                    exprs.append(ex.struct.field(f).alias(f))
                if seg.fields:
                    oks.append(pl.col(seg.fields[0]).is_not_null())
                else:
                    raw.append(col.str.contains(seg.pattern))
        self._exprs = exprs
        self._out_cols = [pl.col(e.meta.output_name()) for e in exprs]
        self._raw_oks = [e.alias(f"_k{i}") for i, e in enumerate(raw)]
        self._ok = (
            pl.all_horizontal([pl.col(f"_k{i}") for i in range(len(raw))] + oks).fill_null(False).alias("_ok")
        )
        # Why a row may fail (read only for rows that do): BAD_BLANK, a blank line (skipped, as
        # nginx never writes one); BAD_SHORT, fewer quotes than the format, which no value can
        # cause (escaping only ever adds quotes: ``\"`` with escape=json, raw with none), so
        # the whole-line regex cannot match it either and it is unparsed without a second
        # look; BAD_RECHECK, anything else (an escaped quote, a shape check), re-matched.
        others = [pl.col(f"c{i}").is_null() for i in self.columns if i != 0]
        first = [pl.col("c0").is_null() | (pl.col("c0") == "\r")] if 0 in self.columns else []
        blank = pl.all_horizontal(others + first) if others + first else pl.lit(False)
        short = pl.col(f"c{self.anchor}").is_null() if self.anchor is not None else pl.lit(False)
        self._bad = (
            pl.when(blank)
            .then(pl.lit(BAD_BLANK, dtype=pl.Int8))
            .when(short)
            .then(pl.lit(BAD_SHORT, dtype=pl.Int8))
            .otherwise(pl.lit(BAD_RECHECK, dtype=pl.Int8))
            .alias("_bad")
        )

    def finish_deferred(self, name: str, e: pl.Expr) -> pl.Expr:
        """The real value of a deferred field (its piece is kept whole by ``parse``); also right
        for rows the whole-line regex parsed (their value has no stop character)."""
        stop = self.deferred.get(name)
        return e if stop is None else e.str.split_exact(stop, 1).struct.field("field_0")

    @property
    def split_columns(self) -> int:
        """How many columns a reader must give (``n`` pieces plus one that is non-null only
        for a line with more quotes than the format)."""
        return self.n + 1

    def fields_plan(self, split: pl.LazyFrame) -> pl.LazyFrame:
        """The captured variables (strings) and ``_ok`` of every row of ``split``, a frame of the
        reader's ``column_1..column_{n+1}`` (pieces between quotes) and, if it has one, ``_row``;
        row-wise only, so polars' streaming engine can run it while it reads (``sources.scan``).
        A streaming plan should number its rows *after* this: a row index ahead of the work
        makes the engine run the work in order on one thread (measured: 1.1 cores instead of 2)."""
        return (
            split.select(_ROW, *self._read_cols)
            .rename(self._rename)
            .select(_ROW, *self._exprs, *self._raw_oks, self._bad)
            .select(_ROW, *self._out_cols, self._ok, "_bad")
        )

    def _read(self, data: bytes) -> pl.DataFrame:
        """Split each line at its quotes (polars' CSV reader, no quoting); blank lines are rows
        too, so row ``r`` is line ``r`` of the chunk.  Strict UTF-8 first (it is the common case
        and decodes faster), lossy decoding when the chunk has bytes that are not UTF-8
        (``escape=json``/``none`` formats write header bytes raw)."""
        for encoding in ("utf8", "utf8-lossy"):
            try:
                df = pl.read_csv(
                    data,
                    separator='"',
                    quote_char=None,
                    has_header=False,
                    schema=self._schema,
                    missing_columns="insert",
                    extra_columns="ignore",
                    truncate_ragged_lines=True,
                    columns=self._read_cols,
                    encoding=encoding,
                    comment_prefix=None,
                    eol_char="\n",
                    raise_if_empty=False,
                )
                return df
            except pl.exceptions.ComputeError as err:
                if encoding != "utf8" or "utf-8" not in str(err).lower():
                    raise
        raise AssertionError("unreachable")

    def parse(self, data: bytes) -> tuple[pl.DataFrame, int, list[tuple[int, str]], int]:
        """Return (parsed frame with ``_row``, unparsed count, unparsed samples (row, text), rows).

        Blank lines are skipped silently (nginx never writes one).
        """
        if not data or (len(data) < 4096 and not data.strip()):
            return _empty_frame(self.fields), 0, [], 0
        df = self._read(data)
        rows = df.height
        # one lazy query (each eager step costs a planning pass per chunk, in the GIL-holding
        # Python part that keeps the two worker threads from running side by side)
        out = self.fields_plan(df.lazy()).with_row_index("_row").collect()
        if out["_ok"].all():  # the usual case: no copy
            good = out
            good.drop_in_place("_ok")
            good.drop_in_place("_bad")
            bad_rows: list[int] = []
        else:
            good = out.filter(pl.col("_ok")).drop("_ok", "_bad")
            bad_rows = out.filter(~pl.col("_ok"))["_row"].to_list()
        unparsed = 0
        samples: list[tuple[int, str]] = []
        if bad_rows:
            texts: list[str] = []
            idx: list[int] = []
            for r, raw in zip(bad_rows, lines_at(data, bad_rows)):
                if raw is not None:
                    t = raw.decode("utf-8", errors="replace").rstrip("\r")
                    if not t.strip():
                        continue
                    texts.append(t)
                    idx.append(r)
            if texts:
                ser = pl.Series("line", texts, dtype=pl.String)
                exf = ser.str.extract_groups(self.fmt.pattern).struct.unnest()
                exf = exf.with_columns(pl.Series("_row", idx, dtype=pl.UInt32))
                matched = exf.filter(pl.col(self.fields[0]).is_not_null()) if self.fields else exf.head(0)
                miss_mask = exf[self.fields[0]].is_null() if self.fields else pl.Series([True] * len(idx))
                for r, t, miss in zip(idx, texts, miss_mask.to_list()):
                    if miss:
                        unparsed += 1
                        if len(samples) < UNPARSED_SAMPLES:
                            samples.append((r, t))
                if matched.height:
                    good = pl.concat([good, matched.select(good.columns)], how="vertical_relaxed")
        return good, unparsed, samples, rows


def lines_at(data: bytes, rows: list[int]) -> list[bytes | None]:
    """The bytes of lines ``rows`` (0-based, ascending) of ``data`` (``None`` past the end).

    The few lines that the fast parser rejects are needed as text, and splitting a whole chunk
    into a list of lines for them costs more than the rest of the parse: instead newlines are
    counted window by window (C speed) up to each wanted line.  Many wanted lines (a wrong
    format): one split is cheaper."""
    if len(rows) * 64 > len(data) // 128:
        lines = data.split(b"\n")
        return [lines[r] if r < len(lines) else None for r in rows]
    out: list[bytes | None] = []
    pos = 0  # an offset in data
    seen = 0  # newlines in data[:pos]
    window = 1 << 16
    for r in rows:
        while seen < r:
            k = data.count(b"\n", pos, pos + window)
            if seen + k < r and pos + window < len(data):
                pos += window
                seen += k
                continue
            while seen < r:
                nl = data.find(b"\n", pos)
                if nl < 0:
                    break
                pos = nl + 1
                seen += 1
            break
        if seen < r:
            out.append(None)
            continue
        end = data.find(b"\n", pos)
        out.append(data[pos : end if end >= 0 else len(data)])
    return out


def _shape_ok(var: str, e: pl.Expr) -> pl.Expr:
    """A cheap check that a fixed-shape variable looks right (a regex per line costs more)."""
    if var == "status":
        return e.cast(pl.Int16, strict=False).is_not_null()
    if var == "time_local":  # 20/Nov/2026:00:00:00 +0100
        return (e.str.slice(2, 1) == "/") & (e.str.slice(11, 1) == ":")
    if var == "time_iso8601":  # 2026-11-20T00:00:00+01:00
        return (e.str.slice(4, 1) == "-") & (e.str.slice(10, 1) == "T")
    return e.str.contains("^(?:" + FIXED_SHAPES[var] + r")\r?$")


def _compile_segment(text: str, escape: str | None, wanted: frozenset[str]) -> CompiledFormat:
    """A regex for one quote-free piece of the format."""
    return compile_format(text, escape, capture=wanted, require_status=False)


def _empty_frame(fields: Iterable[str]) -> pl.DataFrame:
    cols = {f: pl.Series(f, [], dtype=pl.String) for f in fields}
    cols["_row"] = pl.Series("_row", [], dtype=pl.UInt32)
    return pl.DataFrame(cols)


# ---------------------------------------------------------------------------------------------
# timing histograms


@dataclass
class Histogram:
    """Counts of timings in 2% logarithmic buckets (see module docstring for the precision)."""

    buckets: Counter[int] = field(default_factory=Counter)
    count: int = 0
    max: float = 0.0

    def add(self, bucket_counts: Iterable[tuple[int, int]], max_value: float | None) -> None:
        for b, n in bucket_counts:
            self.buckets[b] += n
            self.count += n
        if max_value is not None and max_value > self.max:
            self.max = max_value

    @staticmethod
    def value_of(bucket: int) -> float:
        """Seconds at the geometric middle of ``bucket``."""
        return max(0.0, (math.exp((bucket + 0.5) / _K) - 1.0) / 1000.0)

    @staticmethod
    def bucket_of(seconds: float) -> int:
        return math.floor(math.log(seconds * 1000.0 + 1.0) * _K)

    def quantile(self, q: float) -> float | None:
        if not self.count:
            return None
        rank = q * self.count
        seen = 0
        for b in sorted(self.buckets):
            seen += self.buckets[b]
            if seen >= rank:
                return min(self.value_of(b), self.max)
        return self.max

    def at_least(self, seconds: float) -> int:
        """How many timings are >= ``seconds`` (to bucket precision)."""
        lo = self.bucket_of(seconds)
        return sum(n for b, n in self.buckets.items() if b >= lo)

    def summary(self) -> dict[str, float | int | None]:
        def r(v: float | None) -> float | None:
            return None if v is None else round(v, 3)

        return {
            "count": self.count,
            "p50": r(self.quantile(0.5)),
            "p95": r(self.quantile(0.95)),
            "p99": r(self.quantile(0.99)),
            "max": r(self.max if self.count else None),
        }


def _bucket_of_expr(seconds: pl.Expr) -> pl.Expr:
    """The ``Histogram`` bucket of a timing in seconds (null stays null)."""
    return ((seconds * 1000.0 + 1.0).log() * _K).floor().cast(pl.Int32)


def seconds_of(col: str) -> pl.Expr:
    """A ``$upstream_*_time`` string as seconds (``-``, empty or several values: null)."""
    return pl.col(col).cast(pl.Float64, strict=False)


def _owned(e: pl.Expr) -> pl.Expr:
    """``e``'s strings copied into new buffers.  polars strings are views into the buffers
    they were cut from (here: the reader's whole text chunk), so a few kept values would keep
    every chunk they came from in memory; a concatenation writes fresh buffers."""
    return pl.concat_str([e, pl.lit("")])


# ``_row`` when the frame has it (a streaming plan numbers its rows last, see ``fields_plan``)
_ROW = pl.col("^_row$")


def _cat(a: pl.DataFrame | None, b: pl.DataFrame) -> pl.DataFrame:
    return b if a is None else pl.concat([a, b])


# ---------------------------------------------------------------------------------------------
# result types


@dataclass
class UpstreamStats:
    """One upstream address (per attempt, as ``$upstream_addr`` lists it)."""

    address: str
    attempts: int = 0
    failed_attempts: int = 0  # no response header: nginx gave up on this attempt
    statuses: Counter[str] = field(default_factory=Counter)
    requests_5xx: int = 0  # requests whose final 5xx came from an attempt here
    made_by: Counter[str] = field(default_factory=Counter)
    rescued_failures: int = 0  # failed attempts here that a later attempt rescued
    header_time: Histogram = field(default_factory=Histogram)
    response_time: Histogram = field(default_factory=Histogram)
    connect_time: Histogram = field(default_factory=Histogram)
    timeout: float | None = None  # configured read timeout (seconds), when known
    timeout_source: str | None = None  # file:line or "default"
    locations: list[str] = field(default_factory=list)  # config locations passing here
    # per location (when the config is known): timing summary + that location's timeout
    by_location: dict[str, dict[str, Any]] = field(default_factory=dict)

    @property
    def near_timeout(self) -> int:
        if self.timeout is None:
            return 0
        hist = self.header_time if self.header_time.count else self.response_time
        return hist.at_least(self.timeout * NEAR_TIMEOUT_FRACTION)

    def to_dict(self) -> dict[str, Any]:
        return {
            "address": self.address,
            "attempts": self.attempts,
            "failed_attempts": self.failed_attempts,
            "statuses": dict(sorted(self.statuses.items())),
            "requests_5xx": self.requests_5xx,
            "made_by": dict(self.made_by),
            "rescued_failures": self.rescued_failures,
            "header_time": self.header_time.summary(),
            "response_time": self.response_time.summary(),
            "connect_time": self.connect_time.summary(),
            "timeout": self.timeout,
            "timeout_source": self.timeout_source,
            "locations": self.locations,
            "by_location": self.by_location,
            "near_timeout": self.near_timeout,
        }


@dataclass
class Incident:
    """A burst of 5xx: consecutive hot minutes (gaps of up to 2 minutes merged)."""

    start: str  # ISO minute, log's local time
    end: str  # ISO minute (inclusive)
    total_5xx: int
    by_status: dict[str, int]
    peak_per_minute: int
    requests: int

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


@dataclass
class AccessStats:
    """Everything ``why502 stats`` reports; ``diagnose`` reads ``upstreams``, ``made_by``,
    ``timeline`` and ``incidents`` (see docs/architecture.md, "Access-log statistics")."""

    log_format: str
    format_name: str | None
    files: list[str] = field(default_factory=list)
    lines: int = 0
    requests: int = 0
    unparsed: int = 0
    unparsed_samples: list[dict[str, Any]] = field(default_factory=list)
    filtered_out: int = 0
    first_time: str | None = None
    last_time: str | None = None
    by_status: dict[str, int] = field(default_factory=dict)
    timeline: list[dict[str, Any]] = field(default_factory=list)
    incidents: list[Incident] = field(default_factory=list)
    made_by: dict[str, int] = field(default_factory=dict)
    upstreams: list[UpstreamStats] = field(default_factory=list)
    by_host: list[dict[str, Any]] = field(default_factory=list)
    by_location: list[dict[str, Any]] = field(default_factory=list)
    by_uri: list[dict[str, Any]] = field(default_factory=list)
    by_client: list[dict[str, Any]] = field(default_factory=list)
    rescued: int = 0
    retried: int = 0
    redirected: int = 0
    errorlog: dict[str, Any] | None = None
    requests_5xx: list[dict[str, Any]] = field(default_factory=list)  # a sample, for display
    notes: list[str] = field(default_factory=list)
    has_header_time: bool = False

    @property
    def total_5xx(self) -> int:
        return sum(n for s, n in self.by_status.items() if s.startswith("5"))

    def upstream(self, address: str) -> UpstreamStats | None:
        return next((u for u in self.upstreams if u.address == address), None)

    def to_dict(self) -> dict[str, Any]:
        return {
            "log_format": self.log_format,
            "format_name": self.format_name,
            "files": self.files,
            "lines": self.lines,
            "requests": self.requests,
            "unparsed": self.unparsed,
            "unparsed_samples": self.unparsed_samples,
            "filtered_out": self.filtered_out,
            "first_time": self.first_time,
            "last_time": self.last_time,
            "by_status": self.by_status,
            "total_5xx": self.total_5xx,
            "timeline": self.timeline,
            "incidents": [i.to_dict() for i in self.incidents],
            "made_by": self.made_by,
            "upstreams": [u.to_dict() for u in self.upstreams],
            "by_host": self.by_host,
            "by_location": self.by_location,
            "by_uri": self.by_uri,
            "by_client": self.by_client,
            "rescued": self.rescued,
            "retried": self.retried,
            "redirected": self.redirected,
            "errorlog": self.errorlog,
            "requests_5xx": self.requests_5xx,
            "notes": self.notes,
            "percentile_precision": f"+-{(BUCKET_RATIO - 1) * 50:.0f}% (log buckets); max exact",
        }


# ---------------------------------------------------------------------------------------------
# aggregation


def _time_kind(fmt: CompiledFormat) -> str | None:
    return fmt.time_field


def _minute_expr(kind: str | None) -> pl.Expr:
    if kind == "time_local":
        return pl.col("time").str.slice(0, 17)
    if kind == "time_iso8601":
        return pl.col("time").str.slice(0, 16)
    if kind == "msec":
        return (pl.col("time").cast(pl.Float64, strict=False) // 60).cast(pl.Int64).cast(pl.String)
    return pl.lit("")


def minute_to_iso(key: str, kind: str | None, tz: str | None = None) -> str:
    """The per-minute key of a chunk as ``YYYY-MM-DDTHH:MM`` (the log's own local time;
    ``$msec`` epoch minutes are shown in ``tz``, the machine's zone, else UTC)."""
    if not key:
        return ""
    if kind == "time_local":  # 20/Nov/2026:00:00
        try:
            return f"{key[7:11]}-{_MONTHS[key[3:6]]:02d}-{key[0:2]}T{key[12:17]}"
        except (KeyError, IndexError):
            return key
    if kind == "msec":
        try:
            zone = ZoneInfo(tz) if tz else timezone.utc
            return datetime.fromtimestamp(int(key) * 60, zone).strftime("%Y-%m-%dT%H:%M")
        except (ValueError, OverflowError, OSError, ZoneInfoNotFoundError):
            return key
    return key


def _time_expr(kind: str | None, tz: str | None = None) -> pl.Expr:
    """Naive local datetime of the request (the wall time the log shows; offsets dropped, as
    nginx writes the error log in local time without an offset).  ``$msec`` is seconds since
    the epoch: it is turned into the wall time of ``tz`` (the machine's zone, so it lines up
    with the error log nginx wrote on the same machine), else UTC."""
    if kind == "time_local":
        return (
            pl.col("time").str.slice(0, 20).str.strptime(pl.Datetime("us"), "%d/%b/%Y:%H:%M:%S", strict=False)
        )
    if kind == "time_iso8601":
        return (
            pl.col("time").str.slice(0, 19).str.strptime(pl.Datetime("us"), "%Y-%m-%dT%H:%M:%S", strict=False)
        )
    if kind == "msec":
        utc = (
            (pl.col("time").cast(pl.Float64, strict=False) * 1_000_000).cast(pl.Int64).cast(pl.Datetime("us"))
        )
        if not tz:
            return utc
        return utc.dt.replace_time_zone("UTC").dt.convert_time_zone(tz).dt.replace_time_zone(None)
    return pl.lit(None, dtype=pl.Datetime("us"))


class FrameStore(Protocol):
    """Where the kept 5xx rows wait for the join: ``MemoryFrames`` here, or a store on disk
    that the app passes in (``sources.spill.DiskFrames``) so a big log's 5xx rows do not
    make the reading phase grow with the file."""

    rows: int

    def new(self) -> FrameStore: ...
    def add(self, frame: pl.DataFrame) -> None: ...
    def take(self, other: Any) -> None: ...
    def blocks(self) -> Iterator[pl.DataFrame]: ...
    def close(self) -> None: ...


class MemoryFrames:
    """A ``FrameStore`` in memory."""

    def __init__(self) -> None:
        self.rows = 0
        self._frames: list[pl.DataFrame] = []

    def new(self) -> MemoryFrames:
        return MemoryFrames()

    def add(self, frame: pl.DataFrame) -> None:
        self._frames.append(frame)
        self.rows += frame.height

    def take(self, other: Any) -> None:
        for frame in other.blocks():
            self.add(frame)
        other.close()

    def blocks(self) -> Iterator[pl.DataFrame]:
        yield from self._frames

    def close(self) -> None:
        self._frames, self.rows = [], 0


@dataclass
class Partial:
    """One chunk's aggregates (small frames), produced by ``StatsAccumulator.partial``."""

    path: str
    rows: int = 0
    unparsed: int = 0
    samples: list[dict[str, Any]] = field(default_factory=list)
    filtered: int = 0
    requests: int = 0
    timeline: pl.DataFrame | None = None
    rescued: int = 0
    retried: int = 0
    redirected: int = 0
    rescued_by: pl.DataFrame | None = None
    per_status: pl.DataFrame | None = None
    hists: dict[str, pl.DataFrame] = field(default_factory=dict)  # (upstream, bucket, count, max)
    five: pl.DataFrame | None = None
    made: pl.DataFrame | None = None  # (last upstream, made_by or null, count) of the 5xx
    loc_hist: pl.DataFrame | None = None  # (upstream, location, bucket, count, max)
    # ``ByteChunk.first_line`` 0: the chunk continues the previous one of ``path`` and its line
    # numbers (counted from 1 here) are shifted in ``merge``; ``newlines`` = lines in the chunk
    renumber: bool = False
    first_line: int = 1
    newlines: int = 0
    # scan path: 0-based rows the fast split rejected, re-matched later (``rematch_plan``),
    # and the first few rows already counted unparsed, whose text is wanted for samples
    bad_rows: pl.Series | None = None
    short_rows: pl.Series | None = None


def _last_exprs() -> list[pl.Expr]:
    """The last attempt of the last internal redirect of ``$upstream_addr/status/header_time``:
    the attempt whose outcome became the response status (``ngx_http_upstream_next()``)."""
    return [
        pl.col(c).fill_null("-").str.split(" : ").list.last().str.split(", ").list.last().alias(c + "_last")
        for c in ("ua", "us", "uht")
    ]


def _who_by_header_time() -> pl.Expr:
    """nginx when there was no upstream or the last attempt got no response header, backend when
    it did (a numeric ``$upstream_header_time``), proxy-messages.md section 1.3."""
    no_up = pl.col("ua_last").is_in(["-", ""])
    return (
        pl.when(no_up)
        .then(pl.lit("nginx"))
        .when(pl.col("uht_last") == "-")
        .then(pl.lit("nginx"))
        .when(pl.col("uht_last").cast(pl.Float64, strict=False).is_not_null())
        .then(pl.lit("backend"))
        .otherwise(pl.lit("unknown"))
    )


class StatsAccumulator:
    """Feed chunks with ``add`` (or merge ``partial_batch`` results of a streaming scan);
    ``finish`` builds the ``AccessStats``."""

    def __init__(
        self,
        fmt: CompiledFormat,
        *,
        since: datetime | None = None,
        until: datetime | None = None,
        locations: LocationModel | None = None,
        tz: str | None = None,
        store: FrameStore | None = None,
    ) -> None:
        self.fmt = fmt
        self.tz = tz  # IANA zone for ``$msec`` times (the machine's), None = UTC
        self.locations = locations
        # per (upstream, location) timings need the location of every proxied request: only
        # when the config's locations are known and the log has the request line
        self.loc_expr = self._location_of() if locations else None
        self.loc_hists: dict[tuple[str, str], Histogram] = {}
        self.parser = LineParser(fmt)
        self.kind = _time_kind(fmt)
        self.since = since
        self.until = until
        self.has_uht = fmt.has("upstream_header_time")
        self.has_up = fmt.has("upstream_addr")
        self.lines = 0
        self.requests = 0
        self.unparsed = 0
        self.samples: list[dict[str, Any]] = []
        self.filtered = 0
        self.by_status: Counter[str] = Counter()
        self.timeline: dict[str, Counter[str]] = defaultdict(Counter)
        self.hosts: dict[str, list[int]] = defaultdict(lambda: [0, 0])
        self.ups: dict[str, UpstreamStats] = {}
        self.rescued = 0
        self.retried = 0
        self.redirected = 0
        self.fivexx: FrameStore = store if store is not None else MemoryFrames()
        self.fivexx_dropped = 0
        self.files: list[str] = []
        self._iso: dict[str, str] = {}  # raw minute key -> ISO minute (few per chunk)
        self.made_counts: Counter[tuple[str, str | None]] = Counter()
        self._next_line: dict[str, int] = {}  # path -> number of the line after the last chunk
        self.bad_rows: dict[str, list[pl.Series]] = {}  # path -> rows to re-match (scan path)
        self.short_rows: dict[str, list[pl.Series]] = {}  # path -> counted rows, for samples

    def _location_of(self) -> pl.Expr | None:
        """The location label of a row (``evidence.location_match``), from the ``request`` and
        ``host`` columns of ``typed_plan``'s first step; None when the log has no request."""
        if self.locations is None:
            return None
        f = self.fmt
        target = "request" if f.has("request") else "request_uri" if f.has("request_uri") else "uri"
        if target == "uri" and not f.has("uri"):
            return None
        return self.locations.label_expr(pl.col("request"), pl.col("host").fill_null(""), target=target)

    def fresh(self) -> StatsAccumulator:
        """An empty accumulator with the same format and options (one per file of a scan, so a
        file can be read again, e.g. with lossy UTF-8, without counting it twice)."""
        return StatsAccumulator(
            self.fmt,
            since=self.since,
            until=self.until,
            locations=self.locations,
            tz=self.tz,
            store=self.fivexx.new(),
        )

    def _up(self, addr: str) -> UpstreamStats:
        u = self.ups.get(addr)
        if u is None:
            u = self.ups[addr] = UpstreamStats(addr)
        return u

    def add(self, chunk: ByteChunk) -> None:
        """Parse and aggregate one chunk of whole lines."""
        self.merge(self.partial(chunk))

    # -----------------------------------------------------------------------------------------
    # the row-wise plan: captured strings -> the grouping columns

    def typed_plan(self, fields: pl.LazyFrame) -> pl.LazyFrame:
        """Row-wise (so polars' streaming engine can run it while it reads): the captured
        strings of ``LineParser.fields_plan`` -> the columns the aggregation groups by.

        Nothing is converted per row beyond the status: timings stay strings because nginx
        writes them with millisecond precision (``ngx_http_upstream_response_time_variable()``,
        ``%T.%03M``), so a group of rows has a few thousand distinct values: grouping by the
        string and converting only the distinct values spares a float parse and a logarithm per
        row.  Strings only 5xx rows need (time, client, request) are kept for those rows only
        (and the request for every row when locations are matched)."""
        f = self.fmt

        def get(name: str) -> pl.Expr:
            return pl.col(name) if f.has(name) else pl.lit(None, dtype=pl.String)

        tf = f.time_field
        hf = f.host_field
        if f.has("request"):
            request = pl.col("request")
        elif f.has("request_uri"):
            request = pl.col("request_uri")
        else:
            request = get("uri")
        names = [
            _ROW,
            pl.col("_ok"),
            pl.col("^_bad$"),
            (get(tf) if tf else pl.lit(None, dtype=pl.String)).alias("time"),
            pl.col("status").cast(pl.Int16, strict=False).alias("status"),
            get("remote_addr").alias("client"),
            request.alias("request"),
            (get(hf) if hf else pl.lit(None, dtype=pl.String)).alias("host"),
            *(get(name).alias(_SHORT[name]) for name in _UPSTREAM_FIELDS if f.has(name)),
        ]
        five = pl.col("status") >= 500
        typed: list[pl.Expr] = [
            _ROW,
            pl.col("_ok"),
            pl.col("^_bad$"),
            pl.col("status"),
            _minute_expr(self.kind).alias("minute"),
            pl.col("host"),
            pl.when(five).then(pl.col("time")).alias("time"),
            pl.when(five).then(pl.col("client")).alias("client"),
            pl.when(five | pl.lit(self.loc_expr is not None)).then(pl.col("request")).alias("request"),
        ]
        if self.since is not None or self.until is not None:
            typed.append(self._window_expr().alias("_in"))
        if not self.has_up:
            return fields.select(names).select(typed)
        ua = pl.col("ua")
        has_up = ua.is_not_null() & (ua != "-") & (ua != "")
        many = has_up & (ua.str.contains(", ", literal=True) | ua.str.contains(" : ", literal=True))
        typed += [has_up.alias("_up"), many.alias("_many")]
        typed += [pl.col(_SHORT[name]) for name in _UPSTREAM_FIELDS if f.has(name)]
        return fields.select(names).select(typed)

    def _window_expr(self) -> pl.Expr:
        """``--since``/``--until`` as a row-wise test on the time field (null time: outside)."""
        keep = pl.lit(True)
        if self.kind == "msec":  # epoch seconds: compare numbers, no datetime per row
            t = pl.col("time").cast(pl.Float64, strict=False)
            if self.since is not None:
                keep = keep & (t >= self.since.timestamp())
            if self.until is not None:
                keep = keep & (t <= self.until.timestamp())
        else:
            ts = _time_expr(self.kind, self.tz)
            if self.since is not None:
                keep = keep & (ts >= self.since)
            if self.until is not None:
                keep = keep & (ts <= self.until)
        return keep.fill_null(False)

    # -----------------------------------------------------------------------------------------
    # partial aggregates of one piece of the log

    def partial(self, chunk: ByteChunk) -> Partial:
        """The chunk's small aggregates.  Touches no shared state, so chunks can be computed in
        parallel threads (polars releases the GIL) and merged in order with ``merge``."""
        good, unparsed, samples, rows = self.parser.parse(chunk.data)
        first = chunk.first_line or 1
        part = Partial(
            path=chunk.path,
            rows=rows,
            unparsed=unparsed,
            samples=[{"file": chunk.path, "line": first + r, "text": t[:500]} for r, t in samples],
            renumber=chunk.first_line == 0,
            first_line=first,
            # a chunk's rows are its lines (blank ones included), except a tiny all-blank chunk
            newlines=rows if rows or not chunk.data else chunk.data.count(b"\n"),
        )
        if good.height:
            typed = self.typed_plan(good.lazy().with_columns(pl.lit(True).alias("_ok"))).collect()
            self._aggregate(typed, part)
        return part

    def partial_batch(self, batch: pl.DataFrame, path: str) -> Partial:
        """Aggregates of one batch of ``typed_plan`` rows read straight from ``path`` by the
        streaming engine (``_row`` = line number - 1).  Rows that failed the fast split are
        judged by ``_bad``: blank ones are skipped, short ones counted unparsed (the first few
        kept in ``Partial.short_rows`` for samples), the rest go to ``Partial.bad_rows``: their
        text is fetched once, after the scan, and re-matched by ``rematch_plan``."""
        part = Partial(path=path, rows=batch.height, newlines=batch.height)
        ok = batch["_ok"]
        if not ok.all():
            bad = batch.filter(~ok).select("_row", "_bad")
            short = bad.filter(pl.col("_bad") == BAD_SHORT)["_row"]
            part.unparsed += short.len()
            part.short_rows = short.head(UNPARSED_SAMPLES)  # their text, for samples only
            part.bad_rows = bad.filter(pl.col("_bad") == BAD_RECHECK)["_row"]
            batch = batch.filter(ok)
        if batch.height:
            self._aggregate(batch, part)
        return part

    def rematch_plan(self, lines: pl.LazyFrame) -> pl.LazyFrame:
        """``lines`` (``_row``, ``line``: the lines the fast split rejected) matched with the
        whole-line regex of ``parsers.log_format``: the captured variables and ``_ok`` (matched),
        plus ``_text`` for the lines that still do not match (counted unparsed, with samples).
        Blank lines are dropped (nginx never writes one)."""
        text = pl.col("line").str.strip_chars_end("\r")
        groups = text.str.extract_groups(self.fmt.pattern)
        ok = groups.struct.field(self.fields[0]).is_not_null() if self.fields else pl.lit(False)
        return (
            lines.filter(text.str.strip_chars() != "")
            .select(
                "_row",
                *(groups.struct.field(f).alias(f) for f in self.fields),
                ok.alias("_ok"),
                text.alias("_text"),
            )
            .with_columns(pl.when(~pl.col("_ok")).then(pl.col("_text")).alias("_text"))
        )

    def partial_rematched(self, batch: pl.DataFrame, path: str, counted: pl.Series | None = None) -> Partial:
        """Aggregates of a batch of ``rematch_plan`` rows (``_row`` = line number - 1).
        ``counted``: rows already counted unparsed (fetched for their text only)."""
        part = Partial(path=path)
        ok = batch["_ok"]
        missed = batch.filter(~ok)
        recount = missed if counted is None else missed.filter(~pl.col("_row").is_in(counted.implode()))
        part.unparsed = recount.height
        part.samples = [
            {"file": path, "line": r + 1, "text": t[:500]}
            for r, t in missed.head(UNPARSED_SAMPLES).select("_row", "_text").iter_rows()
        ]
        good = batch.filter(ok).drop("_text")
        if good.height:
            self._aggregate(self.typed_plan(good.lazy()).collect(), part)
        return part

    @property
    def fields(self) -> list[str]:
        return list(self.parser.fields)

    def _aggregate(self, typed: pl.DataFrame, part: Partial) -> None:
        """Fold ``typed`` (rows of ``typed_plan`` that parsed) into ``part``.

        Everything is one ``collect_all`` of lazy queries over the same rows: polars plans them
        once and runs them side by side, and each call has a fixed cost (~10 ms), which is why
        the scan path hands over groups of ``GROUP_ROWS`` rows rather than its small batches."""
        lazy = typed.lazy()
        queries: dict[str, pl.LazyFrame] = {}
        if "_in" in typed.columns:
            queries["filtered"] = lazy.select((~pl.col("_in")).sum().cast(pl.Int64).alias("n"))
            lazy = lazy.filter(pl.col("_in"))
        queries["requests"] = lazy.select(pl.len().cast(pl.Int64).alias("n"))
        queries["timeline"] = lazy.group_by("minute", "status", "host").len()
        five = self._five_plan(lazy.filter(pl.col("status") >= 500), part)
        queries["five"] = five
        queries["made"] = five.group_by("ua_last", "made_by").len()
        if self.has_up:
            queries.update(self._attempt_queries(lazy))
        names = list(queries)
        res = dict(zip(names, pl.collect_all(list(queries.values()))))
        if "filtered" in res:
            part.filtered += int(res["filtered"].item())
        part.requests += int(res["requests"].item())
        part.timeline = _cat(part.timeline, res["timeline"])
        if res["five"].height:
            part.five = _cat(part.five, res["five"])
            part.made = _cat(part.made, res["made"])
        if not self.has_up:
            return
        many = res.pop("many_counts")
        part.redirected += int(many["redirected"].item() or 0)
        part.retried += int(many["retried"].item() or 0)
        if "rescued" in res:
            rescued = int(res["rescued"].item())
            part.rescued += rescued
            if rescued:
                part.rescued_by = _cat(part.rescued_by, res["rescued_by"])
        part.per_status = _cat(part.per_status, res["per_status"])
        for attr in ("header_time", "response_time", "connect_time"):
            if attr in res and res[attr].height:
                part.hists[attr] = _cat(part.hists.get(attr), res[attr])
        if "loc_hist" in res:
            part.loc_hist = _cat(part.loc_hist, res["loc_hist"])

    def _five_plan(self, five: pl.LazyFrame, part: Partial) -> pl.LazyFrame:
        """The 5xx rows as kept for the error-log join and the breakdowns (``made_by`` from
        ``$upstream_header_time``, the last attempt's address/status, the request time).  Kept
        rows own their strings (``_owned``): a view would keep its whole text chunk in memory
        as long as the row."""
        made = _who_by_header_time() if self.has_uht else pl.lit(None, dtype=pl.String)
        present = set(five.collect_schema().names())
        upstream = [
            pl.col(c) if c in present else pl.lit(None, dtype=pl.String).alias(c) for c in ("ua", "us", "uht")
        ]
        strings = ["request", "host", "client", "ua", "us", "uht", "ua_last", "us_last", "uht_last"]
        return (
            five.select(
                "_row",
                "status",
                "time",
                "request",
                "host",
                "minute",
                self.parser.finish_deferred("remote_addr", pl.col("client")).alias("client"),
                *upstream,
            )
            .with_columns(_time_expr(self.kind, self.tz).alias("ts"))
            .with_columns(
                pl.col("ts").dt.strftime("%Y-%m-%dT%H:%M").fill_null(pl.col("minute")).alias("minute"),
                *_last_exprs(),
            )
            .with_columns(made.alias("made_by"))
            .drop("time")
            .with_columns(_owned(pl.col(c)).alias(c) for c in strings)
            .with_columns(
                pl.lit(part.path).cast(pl.Categorical).alias("file"),
                (pl.col("_row").cast(pl.Int64) + part.first_line).alias("line"),
            )
        )

    def _attempt_queries(self, lazy: pl.LazyFrame) -> dict[str, pl.LazyFrame]:
        """Per-attempt aggregates of ``lazy`` (``typed_plan`` rows), as lazy queries.

        Attempts are grouped by their timing *strings*; only the distinct strings are parsed
        and bucketed (see ``typed_plan``).  A multi-attempt value (``"a, b"`` retries,
        ``"a : b"`` internal redirects) is split and exploded into one row per attempt."""
        loc = self.loc_expr is not None
        keep = ["loc"] if loc else []
        present = [_SHORT[n] for n in _UPSTREAM_FIELDS if self.fmt.has(n)]
        cols = ["ua", "us", "uct", "uht", "urt"]
        missing = [pl.lit(None, dtype=pl.String).alias(c) for c in cols if c not in present]
        out: dict[str, pl.LazyFrame] = {}
        single = lazy.filter(pl.col("_up") & ~pl.col("_many"))
        many = lazy.filter(pl.col("_many"))
        if self.loc_expr is not None:
            # The location is worked out here, per group, on the two disjoint sets of proxied
            # rows (each row once): in the streaming plan its Python parts (unique hosts,
            # PCRE-only regexes; ``evidence.location_match``) took the engine to 2 GB on one
            # core, and on a common parent of both sets the lazy queries computed it twice.
            single = single.with_columns(self.loc_expr.alias("loc"))
            many = many.with_columns(self.loc_expr.alias("loc"))
        single = single.select(*present, *keep)
        many = many.select("status", *present, *keep)
        redirected = pl.col("ua").str.contains(" : ", literal=True)
        out["many_counts"] = many.select(
            redirected.sum().cast(pl.Int64).alias("redirected"),
            pl.col("ua").str.contains(", ", literal=True).sum().cast(pl.Int64).alias("retried"),
        )
        if loc:  # after error_page/X-Accel-Redirect the attempts belong to another location
            many = many.with_columns(
                pl.when(redirected)
                .then(pl.lit("(after an internal redirect)"))
                .otherwise(pl.col("loc"))
                .alias("loc")
            )
        lists = many.with_columns(
            pl.col(c).fill_null("").str.replace_all(" : ", ", ", literal=True).str.split(", ")
            for c in present
        )
        if "us" in present:
            # rescued: the final status is not a 5xx but an earlier attempt got one
            resc = lists.filter(
                (pl.col("status") < 500)
                & pl.col("us").list.eval(pl.element().str.starts_with("5")).list.any()
            )
            out["rescued"] = resc.select(pl.len().cast(pl.Int64).alias("n"))
            out["rescued_by"] = (
                resc.filter(pl.col("ua").list.len() == pl.col("us").list.len())
                .select("ua", "us")
                .explode(["ua", "us"])
                .filter(pl.col("us").str.starts_with("5"))
                .group_by("ua")
                .len()
            )
        same = pl.all_horizontal([pl.col(c).list.len() == pl.col("ua").list.len() for c in present])
        exploded = lists.filter(same).select(*present, *keep).explode(present)
        att = pl.concat(
            [
                single.with_columns(missing).select(*cols, *keep),
                exploded.with_columns(missing).select(*cols, *keep),
            ]
        )
        # per (address, status, header time): the attempt counts, the failed attempts (no header
        # time) and the header-time histogram all come from this one grouping
        by_status = att.group_by("ua", "us", "uht").len().with_columns(seconds_of("uht").alias("v"))
        failed = ((pl.col("v").is_null() & pl.lit(self.has_uht)) * pl.col("len")).sum().alias("f")
        out["per_status"] = by_status.group_by("ua", "us").agg(pl.col("len").sum(), failed)

        def histogram(grouped: pl.LazyFrame, keys: list[str]) -> pl.LazyFrame:
            # each bucket's exact maximum rides along (the maximum per upstream is the largest
            # of its buckets', taken in ``merge``): no separate pass over the timings for it
            return (
                grouped.drop_nulls("v")
                .group_by(*keys, _bucket_of_expr(pl.col("v")).alias("b"))
                .agg(pl.col("len").sum(), pl.col("v").max().alias("m"))
            )

        for var, col in _TIMINGS:
            if not self.fmt.has(var):
                continue
            short = _SHORT[var]
            grouped = (
                by_status
                if short == "uht"
                else att.group_by("ua", short).len().with_columns(seconds_of(short).alias("v"))
            )
            out[_ATTR[col]] = histogram(grouped, ["ua"])
        short = "uht" if self.has_uht else "urt"
        if loc and short in present:
            grouped = att.group_by("ua", "loc", short).len().with_columns(seconds_of(short).alias("v"))
            out["loc_hist"] = histogram(grouped, ["ua", "loc"])
        return out

    def merge(self, part: Partial) -> None:
        """Fold a chunk's ``Partial`` into the totals (call in input order)."""
        if part.path not in self.files:
            self.files.append(part.path)
        first = part.first_line
        if part.renumber:  # number this chunk's lines after the previous chunk of the file
            first = self._next_line.get(part.path, 1)
            if first > 1:
                for smp in part.samples:
                    smp["line"] += first - 1
                if part.five is not None:
                    part.five = part.five.with_columns(pl.col("line") + (first - 1))
        self._next_line[part.path] = first + part.newlines
        if part.bad_rows is not None and part.bad_rows.len():
            self.bad_rows.setdefault(part.path, []).append(part.bad_rows)
        if part.short_rows is not None and part.short_rows.len():
            have = self.short_rows.setdefault(part.path, [])
            if sum(r.len() for r in have) < UNPARSED_SAMPLES:
                have.append(part.short_rows)
        self.lines += part.rows
        self.unparsed += part.unparsed
        self.filtered += part.filtered
        for smp in part.samples:
            if len(self.samples) < UNPARSED_SAMPLES:
                self.samples.append(smp)
        self.requests += part.requests
        if part.timeline is not None:
            track_hosts = self.fmt.host_field is not None
            for minute, status, host, n in part.timeline.iter_rows():
                iso = self._iso.get(minute)
                if iso is None:
                    iso = self._iso[minute] = minute_to_iso(minute or "", self.kind, self.tz)
                self.timeline[iso]["???" if status is None else f"{status:03d}"] += n
                if track_hosts:
                    h = self.hosts[host or "-"]
                    h[0] += n
                    if status is not None and status >= 500:
                        h[1] += n
        self.rescued += part.rescued
        self.retried += part.retried
        self.redirected += part.redirected
        if part.rescued_by is not None:
            for addr, n in part.rescued_by.iter_rows():
                self._up(addr).rescued_failures += n
        if part.per_status is not None:
            for addr, us, n, failed in part.per_status.iter_rows():
                u = self._up(addr)
                u.attempts += n
                u.statuses[us or "-"] += n
                if self.has_uht and us != "-":
                    u.failed_attempts += int(failed)
        for attr, hist in part.hists.items():
            per_addr: dict[str, list[tuple[int, int]]] = defaultdict(list)
            maxes: dict[str, float] = {}
            for addr, b, n, m in hist.iter_rows():
                per_addr[addr].append((b, n))
                if m is not None and (addr not in maxes or m > maxes[addr]):
                    maxes[addr] = m
            for addr, bc in per_addr.items():
                getattr(self._up(addr), attr).add(bc, maxes.get(addr))
        if part.loc_hist is not None:
            grouped: dict[tuple[str, str], list[tuple[int, int]]] = defaultdict(list)
            loc_max: dict[tuple[str, str], float] = {}
            for addr, where, b, n, m in part.loc_hist.iter_rows():
                grouped[(addr, where)].append((b, n))
                loc_max[(addr, where)] = max(loc_max.get((addr, where), 0.0), m)
            for key, bc in grouped.items():
                self.loc_hists.setdefault(key, Histogram()).add(bc, loc_max[key])
        if part.made is not None:
            for addr, made, n in part.made.iter_rows():
                self.made_counts[(addr, made)] += n
        if part.five is not None:
            if self.fivexx.rows + part.five.height <= MAX_5XX_ROWS:
                self.fivexx.add(part.five)
            else:
                self.fivexx_dropped += part.five.height

    def absorb(self, other: StatsAccumulator) -> None:
        """Fold in the totals of another accumulator (files in another log format), so one
        ``AccessStats`` covers access logs written with different ``log_format``s."""
        for path in other.files:
            if path not in self.files:
                self.files.append(path)
        self.lines += other.lines
        self.requests += other.requests
        self.unparsed += other.unparsed
        self.filtered += other.filtered
        self.samples = (self.samples + other.samples)[:UNPARSED_SAMPLES]
        for minute, counts in other.timeline.items():
            self.timeline[minute].update(counts)
        for host, (n, e) in other.hosts.items():
            h = self.hosts[host]
            h[0] += n
            h[1] += e
        self.rescued += other.rescued
        self.retried += other.retried
        self.redirected += other.redirected
        for addr, o in other.ups.items():
            u = self._up(addr)
            u.attempts += o.attempts
            u.failed_attempts += o.failed_attempts
            u.statuses.update(o.statuses)
            u.rescued_failures += o.rescued_failures
            for attr in ("header_time", "response_time", "connect_time"):
                h_o: Histogram = getattr(o, attr)
                getattr(u, attr).add(h_o.buckets.items(), h_o.max if h_o.count else None)
        self.made_counts.update(other.made_counts)
        for key, h_o in other.loc_hists.items():
            self.loc_hists.setdefault(key, Histogram()).add(
                h_o.buckets.items(), h_o.max if h_o.count else None
            )
        if self.fivexx.rows + other.fivexx.rows <= MAX_5XX_ROWS:
            self.fivexx.take(other.fivexx)
        else:
            self.fivexx_dropped += other.fivexx.rows
            other.fivexx.close()
        self.fivexx_dropped += other.fivexx_dropped
        self.has_uht = self.has_uht and other.has_uht

    def finish(
        self,
        *,
        errors: pl.DataFrame | None = None,
        timeouts: Mapping[str, tuple[float, str]] | None = None,
        locations: LocationModel | None = None,
        location_timeouts: Mapping[str, tuple[float, str]] | None = None,
    ) -> AccessStats:
        """Build the result.  ``errors``: classified error-log lines (columns ``time`` naive
        datetime, ``client``, ``request``, ``host``, ``upstream``, ``symptom``, ``message``,
        ``file``, ``line``); ``timeouts``: upstream address -> (read timeout s, where);
        ``locations``: the config's locations, for the by-location view."""
        st = AccessStats(log_format=self.fmt.format, format_name=self.fmt.name, files=self.files)
        st.lines, st.requests, st.unparsed = self.lines, self.requests, self.unparsed
        st.unparsed_samples = self.samples
        st.filtered_out = self.filtered
        st.has_header_time = self.has_uht
        for counts in self.timeline.values():
            self.by_status.update(counts)
        st.by_status = dict(sorted(self.by_status.items()))
        # timeline, sorted by real minute
        rows: list[dict[str, Any]] = []
        for iso, counts in self.timeline.items():
            five = {s: n for s, n in counts.items() if s.startswith("5")}
            rows.append(
                {
                    "minute": iso,
                    "requests": sum(counts.values()),
                    "5xx": sum(five.values()),
                    **{s: five.get(s, 0) for s in ("502", "503", "504")},
                    "other_5xx": sum(n for s, n in five.items() if s not in ("502", "503", "504")),
                }
            )
        rows.sort(key=lambda r: r["minute"])
        st.timeline = rows
        if rows:
            st.first_time, st.last_time = rows[0]["minute"], rows[-1]["minute"]
        st.incidents = detect_incidents(rows)
        st.rescued, st.retried, st.redirected = self.rescued, self.retried, self.redirected
        hosts = sorted(self.hosts.items(), key=lambda kv: (-kv[1][1], -kv[1][0]))[: TOP_N * 2]
        st.by_host = [{"host": h, "requests": v[0], "5xx": v[1]} for h, v in hosts]
        if timeouts:
            for addr, u in self.ups.items():
                if addr in timeouts:
                    u.timeout, u.timeout_source = timeouts[addr]
        for (addr, where), hist in self.loc_hists.items():
            t = (location_timeouts or {}).get(where)
            near = hist.at_least(t[0] * NEAR_TIMEOUT_FRACTION) if t else 0
            self._up(addr).by_location[where] = {
                **hist.summary(),
                "timeout": t[0] if t else None,
                "timeout_source": t[1] if t else None,
                "near_timeout": near,
            }
        if self.fivexx_dropped:
            st.notes.append(
                f"{self.fivexx_dropped} 5xx requests beyond {MAX_5XX_ROWS} were counted but "
                "not joined to the error log"
            )
        if self.fivexx.rows:
            self._finish_5xx(st, errors, locations)
        elif errors is not None:
            st.errorlog = {
                "lines": errors.height,
                "matched_5xx": 0,
                "unmatched_5xx": 0,
                "by_symptom": {},
                "unmatched_samples": [],
            }
        st.upstreams = sorted(
            self.ups.values(), key=lambda u: (-u.requests_5xx, -u.failed_attempts, -u.attempts)
        )
        return st

    def _finish_5xx(
        self, st: AccessStats, errors: pl.DataFrame | None, locations: LocationModel | None
    ) -> None:
        """Who made each kept 5xx, its error-log line, and the breakdowns, one spilled block at a
        time (``FrameStore.blocks``): memory stays that of a block plus the small tables, however
        many 5xx the log holds (all kept rows at once took 500 MB for 500k 5xx, measured)."""
        err = prepare_errors(errors) if errors is not None else None
        totals = JoinTotals(errors.height, err.height) if errors is not None and err is not None else None
        no_up = pl.col("ua_last").is_in(["-", ""])
        who: pl.Expr | None = None
        if not self.has_uht:
            who = pl.when(no_up).then(pl.lit("nginx"))
            if err is not None:
                who = (
                    who.when(pl.col("symptom").is_not_null())
                    .then(pl.lit("nginx"))
                    .when(pl.col("us_last") == pl.col("status").cast(pl.String))
                    .then(pl.lit("backend"))
                )
            who = who.otherwise(pl.lit("unknown"))
        made: Counter[str] = Counter()
        per_up: Counter[tuple[str, str]] = Counter()
        where = self._location_of() if locations else None
        keys: dict[str, pl.Expr] = {"uri": uri_template(pl.col("request")), "client": pl.col("client")}
        if where is not None:
            keys["location"] = where
        tables: dict[str, pl.DataFrame | None] = dict.fromkeys(keys)
        sample: pl.DataFrame | None = None
        offset = 0
        for block in self.fivexx.blocks():
            block = block.with_row_index("_id", offset=offset)
            offset += block.height
            if err is not None and totals is not None:
                block, part = join_block(block, err)
                totals.add(part)
            else:
                block = block.with_columns(
                    pl.lit(None, dtype=pl.String).alias("symptom"),
                    pl.lit(None, dtype=pl.String).alias("error_message"),
                )
            if who is not None:
                block = block.with_columns(who.alias("made_by"))
                made.update(dict(block.group_by("made_by").len().iter_rows()))
                per_up.update(
                    {
                        (a, w): n
                        for a, w, n in block.filter(~no_up).group_by("ua_last", "made_by").len().iter_rows()
                    }
                )
            for name, key in keys.items():
                g = block.group_by(key.alias(name)).agg(
                    pl.len().alias("5xx"),
                    *((pl.col("status") == s).sum().alias(str(s)) for s in (502, 503, 504)),
                    (pl.col("made_by") == "nginx").sum().alias("by_nginx"),
                    (pl.col("made_by") == "backend").sum().alias("by_backend"),
                )
                have = tables[name]
                tables[name] = (
                    g
                    if have is None
                    else pl.concat([have, g], how="vertical_relaxed").group_by(name).agg(pl.all().sum())
                )
            # the first 200 by time (ties: in log order), kept across blocks
            cand = block.sort(["ts", "_id"], nulls_last=True).head(200)
            cand = cand.select([c for c in _SAMPLE_COLUMNS if c in cand.columns] + ["ts", "_id"])
            sample = (
                cand
                if sample is None
                else pl.concat([sample, cand], how="vertical_relaxed")
                .sort(["ts", "_id"], nulls_last=True)
                .head(200)
            )
        if self.has_uht:
            # exact counts from every 5xx (not only the rows kept for the join)
            counted: Counter[str] = Counter()
            for (addr, who_made), n in self.made_counts.items():
                counted[who_made or "unknown"] += n
                if addr not in ("-", ""):
                    u = self._up(addr)
                    u.requests_5xx += n
                    u.made_by[who_made or "unknown"] += n
            st.made_by = dict(sorted(counted.items()))
        else:
            st.made_by = dict(sorted(made.items()))
            for (addr, who_made), n in per_up.items():
                u = self._up(addr)
                u.requests_5xx += n
                u.made_by[who_made] += n
            if err is not None:
                st.notes.append(
                    "no $upstream_header_time in the log format: who made each 5xx is judged from "
                    "the error log (a joined error line = nginx) -- add $upstream_header_time"
                )
            else:
                st.notes.append(
                    "no $upstream_header_time and no error log: cannot tell whether nginx or the "
                    "backend made each 5xx (add $upstream_header_time or give --error-log)"
                )
            if self.fivexx_dropped:
                st.notes.append("who made the 5xx is counted on the first 5xx rows only (see above)")
        if totals is not None:
            st.errorlog = totals.info()

        def top(name: str) -> list[dict[str, Any]]:
            g = tables.get(name)
            if g is None:
                return []
            # ties broken by the key, so the same log always gives the same table
            g = g.sort(["5xx", name], descending=[True, False], nulls_last=True).head(TOP_N)
            return [dict(zip(g.columns, r)) for r in g.iter_rows()]

        st.by_uri = top("uri")
        st.by_client = top("client")
        if where is not None:
            st.by_location = top("location")
        if sample is not None:
            keep = [c for c in _SAMPLE_COLUMNS if c in sample.columns]
            st.requests_5xx = [dict(zip(keep, r)) for r in sample.select(keep).iter_rows()]
            for d in st.requests_5xx:
                d["minute"] = d.get("minute") or ""


def uri_template(request: pl.Expr) -> pl.Expr:
    """``GET /api/v1/users/12345?x=1 HTTP/1.1`` -> ``GET /api/v1/users/{id}``: ids, hashes and
    UUIDs collapsed, the query string dropped, so the same endpoint groups together."""
    method = request.str.extract(r"^(\S+) ").fill_null("")
    path = request.str.extract(r"^\S+ ([^ ?#]*)").fill_null(request)
    path = path.str.replace_all(
        r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}", "{uuid}"
    )
    path = path.str.replace_all(r"/[0-9a-fA-F]{16,}(/|$)", "/{hash}$1")
    for _ in range(2):
        path = path.str.replace_all(r"/[0-9]+(/|$|\.)", "/{id}$1")
    return pl.when(method == "").then(path).otherwise(pl.concat_str([method, pl.lit(" "), path]))


def detect_incidents(rows: list[dict[str, Any]], min_count: int = 5) -> list[Incident]:
    """Minutes whose 5xx count is far above the usual (>= max(min_count, 4*median+4)) and at least
    1% of the minute's requests; hot minutes up to 2 minutes apart form one incident."""
    if not rows:
        return []
    counts = sorted(r["5xx"] for r in rows)
    median = counts[len(counts) // 2]
    threshold = max(min_count, 4 * median + 4)
    hot = [r for r in rows if r["5xx"] >= threshold and r["5xx"] >= 0.01 * max(1, r["requests"])]
    out: list[Incident] = []
    group: list[dict[str, Any]] = []

    def close() -> None:
        if not group:
            return
        by: Counter[str] = Counter()
        for r in group:
            for s in ("502", "503", "504", "other_5xx"):
                by[s] += r[s]
        out.append(
            Incident(
                start=group[0]["minute"],
                end=group[-1]["minute"],
                total_5xx=sum(r["5xx"] for r in group),
                by_status={k: v for k, v in by.items() if v},
                peak_per_minute=max(r["5xx"] for r in group),
                requests=sum(r["requests"] for r in group),
            )
        )

    prev: datetime | None = None
    for r in hot:
        try:
            t = datetime.strptime(r["minute"], "%Y-%m-%dT%H:%M")
        except ValueError:
            continue
        if prev is not None and t - prev > timedelta(minutes=3):
            close()
            group = []
        group.append(r)
        prev = t
    close()
    return out


_PEER = r"^[A-Za-z0-9+]+://(unix:[^:]*|\[[^\]]*\](?::\d+)?|[^/]*)"


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


def join_block(
    five: pl.DataFrame, err: pl.DataFrame, tolerance_s: int = 2
) -> tuple[pl.DataFrame, dict[str, Any]]:
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
    header = pl.col("uht_last").cast(pl.Float64, strict=False)
    samples = unmatched.filter(header.is_null()).head(UNPARSED_SAMPLES)
    part = {
        "matched": matched.height,
        "unmatched": unmatched.height,
        "backend_like": unmatched.filter(header.is_not_null()).height,
        "agree": agree,
        "host_agree": host_agree,
        "used": set(matched["_err"].unique().to_list()) if matched.height else set(),
        "by_symptom": Counter(dict(matched.group_by("symptom").len().iter_rows())),
        "samples": [
            {"file": r[0], "line": r[1], "status": r[2], "request": r[3], "client": r[4]}
            for r in samples.select("file", "line", "status", "request", "client").iter_rows()
        ],
    }
    return j.drop("_err", "err_host", "err_peer"), part


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
    by_symptom: Counter[str] = field(default_factory=Counter)
    samples: list[dict[str, Any]] = field(default_factory=list)

    def add(self, part: dict[str, Any]) -> None:
        self.matched += part["matched"]
        self.unmatched += part["unmatched"]
        self.backend_like += part["backend_like"]
        self.agree += part["agree"]
        self.host_agree += part["host_agree"]
        self.used |= part["used"]
        self.by_symptom.update(part["by_symptom"])
        self.samples.extend(part["samples"][: UNPARSED_SAMPLES - len(self.samples)])

    def info(self) -> dict[str, Any]:
        return {
            "lines": self.lines,
            "matched_5xx": self.matched,
            "unmatched_5xx": self.unmatched,
            "unmatched_with_backend_header": self.backend_like,
            "upstream_agrees": self.agree,
            "host_agrees": self.host_agree,
            "error_lines_used": len(self.used),
            "error_lines_unused": max(0, self.usable - len(self.used)),
            # most first; ties by name, so the same logs always give the same order
            "by_symptom": dict(sorted(self.by_symptom.items(), key=lambda kv: (-kv[1], kv[0]))),
            "unmatched_samples": self.samples,
        }


def compute_stats(
    batches: Iterable[ByteChunk],
    fmt: CompiledFormat,
    *,
    since: datetime | None = None,
    until: datetime | None = None,
    errors: pl.DataFrame | None = None,
    timeouts: Mapping[str, tuple[float, str]] | None = None,
    locations: LocationModel | None = None,
) -> AccessStats:
    """Aggregate ``batches`` (whole lines) in format ``fmt`` into an ``AccessStats``."""
    acc = StatsAccumulator(fmt, since=since, until=until, locations=locations)
    for b in batches:
        acc.add(b)
    return acc.finish(errors=errors, timeouts=timeouts, locations=locations)
