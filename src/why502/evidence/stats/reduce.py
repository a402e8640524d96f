"""One piece of the log (a chunk of bytes, a batch of a streaming scan, the re-matched lines)
-> its ``Partial``: small aggregates that ``StatsAccumulator.merge`` folds into the totals.

Why pieces: access logs are big and the answers small, so every piece is reduced at once and
only the aggregates are kept; a ``Reducer`` touches no shared state, so pieces can be reduced in
parallel threads (polars releases the GIL) and merged in input order.  The exception is the 5xx
requests themselves, kept row by row (``Partial.five``) for the error-log join and the breakdowns.

Who made a 5xx (``ngx_http_upstream_next()``, src/http/ngx_http_upstream.c): nginx writes its
own 502/504 into ``$upstream_status`` for a failed attempt, so the status alone proves nothing.
A numeric ``$upstream_header_time`` on the last attempt means the backend sent a response
header, i.e. the backend made the status; ``-`` means the attempt failed inside nginx.  Without
``$upstream_header_time`` in the format it is judged at the end, from the error log
(``breakdown``).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import polars as pl

from why502.evidence.stats.histogram import bucket_expr, seconds_of
from why502.evidence.stats.model import UNPARSED_SAMPLES, UnparsedSample
from why502.evidence.stats.parser import BAD_RECHECK, BAD_SHORT, Folded, FoldProgram, LineParser
from why502.evidence.stats.plan import UPSTREAM_COLUMNS, RowPlan
from why502.evidence.stats.times import time_expr
from why502.parsers.log_format import ByteChunk
from why502.proxies import ENGINE

_TIMINGS = (
    ("upstream_header_time", "h"),
    ("upstream_response_time", "r"),
    ("upstream_connect_time", "c"),
)
_ATTR = {"h": "header_time", "r": "response_time", "c": "connect_time"}


@dataclass
class Partial:
    """One piece's aggregates (small frames), produced by ``Reducer`` and folded into the totals by
    ``StatsAccumulator.merge``."""

    path: str
    rows: int = 0
    folded: int = 0  # rows the C scanner counted itself (``Folded``)
    unparsed: int = 0
    samples: list[UnparsedSample] = field(default_factory=list)
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
    # (upstream, ts): per last upstream of a request, the time of the chunk's last request whose
    # final status was below 500, not 444/499 (an answer the clients got): ``analyzers.rank`` marks a cause
    # recovered when these are later than its failures
    ok_last: pl.DataFrame | None = None
    # ``ByteChunk.first_line`` 0: the chunk continues the previous one of ``path`` and its line
    # numbers (counted from 1 here) are shifted in ``merge``; ``newlines`` = lines in the chunk
    renumber: bool = False
    first_line: int = 1
    newlines: int = 0
    # scan path: 0-based rows the fast split rejected, re-matched later (``rematch_plan``),
    # and the first few rows already counted unparsed, whose text is wanted for samples
    bad_rows: pl.Series | None = None
    short_rows: pl.Series | None = None
    # ``partial(defer=True)``: the rows left to aggregate, for ``aggregate_deferred`` with those
    # of the next chunks (each aggregation has a fixed cost, ~15 ms, paid once for several)
    deferred: Deferred | None = None
    # False for the aggregates of rows already counted as lines (``aggregate_deferred``)
    counts_lines: bool = True


@dataclass
class Deferred:
    """A chunk's rows still to aggregate: its ``RowPlan.typed`` rows and the C scanner's groups
    (``Folded``), row numbers counted in the chunk."""

    typed: pl.DataFrame
    folded: Folded | None

    @property
    def size(self) -> int:
        """Rows these frames hold (what a batch of them holds in memory)."""
        f = self.folded
        groups = 0 if f is None else f.timeline.height + f.attempts.height + f.answered.height
        return self.typed.height + groups


def _last_exprs() -> list[pl.Expr]:
    """The last attempt of the last internal redirect of ``$upstream_addr/status/header_time``:
    the attempt whose outcome became the response status (``ngx_http_upstream_next()``)."""
    return [
        pl.col(c).fill_null("-").str.split(" : ").list.last().str.split(", ").list.last().alias(c + "_last")
        for c in ("ua", "us", "uht")
    ]


def _who_by_header_time() -> pl.Expr:
    """nginx when there was no upstream or the last attempt got no response header, backend when
    it did (a numeric ``$upstream_header_time``): ``ngx_http_upstream_next()`` writes nginx's own
    502/504 into ``$upstream_status`` for a failed attempt, so the status alone proves nothing."""
    no_up = pl.col("ua_last").is_in(["-", ""])
    return (
        pl.when(no_up)
        .then(pl.lit(ENGINE))
        .when(pl.col("uht_last") == "-")
        .then(pl.lit(ENGINE))
        .when(seconds_of("uht_last").is_not_null())
        .then(pl.lit("backend"))
        .otherwise(pl.lit("unknown"))
    )


def _owned(e: pl.Expr) -> pl.Expr:
    """``e``'s strings copied into new buffers.  polars strings are views into the buffers
    they were cut from (here: the reader's whole text chunk), so a few kept values would keep
    every chunk they came from in memory; a concatenation writes fresh buffers."""
    return pl.concat_str([e, pl.lit("")])


def _cat(a: pl.DataFrame | None, b: pl.DataFrame) -> pl.DataFrame:
    return b if a is None else pl.concat([a, b])


class Reducer:
    """Reduces pieces of a log in one format to ``Partial`` aggregates (``partial`` for a chunk
    of bytes, ``partial_batch`` for a batch of a streaming scan, ``partial_rematched`` for the
    lines the fast split rejected)."""

    def __init__(self, plan: RowPlan) -> None:
        self.plan = plan
        self.fmt = plan.fmt
        self.parser = LineParser(plan.fmt)
        self.kind = plan.kind
        self.tz = plan.tz
        self.loc_expr = self.plan.loc_expr
        self.has_uht = self.plan.has_uht
        self.has_up = self.plan.has_up
        self.fold = self._fold_program()

    def _fold_program(self) -> FoldProgram | None:
        """What the C scanner may count itself (``Folded``), when it runs this format: the rows
        whose only use here is the counts -- unless a row is also wanted for what the fold does
        not compute: its location (``loc_expr``), the ``--since``/``--until`` window, or a
        minute key other than a slice of the time (``minute_expr``: ``$msec``)."""
        plan = self.plan
        if plan.loc_expr is not None or plan.since is not None or plan.until is not None:
            return None
        minute = {"time_local": 17, None: 0}.get(self.kind)
        if minute is None:
            return None
        fmt = self.fmt
        up = [(name, short) for name, short in UPSTREAM_COLUMNS.items() if fmt.has(name)]
        roles = ("status" if fmt.has("status") else None, fmt.time_field, fmt.host_field,
                 "upstream_addr" if self.has_up else None)
        return self.parser.fold_program(roles, up if self.has_up else [], minute)

    def scan_plan(self, split: pl.LazyFrame) -> pl.LazyFrame:
        """The whole row-wise plan for a streaming scan: ``split`` (the reader's pieces between
        quotes, ``sources.scan``) -> the rows ``partial_batch`` takes, before their ``_row``."""
        return self.plan.typed(self.parser.fields_plan(split))

    def partial(self, chunk: ByteChunk, defer: bool = False) -> Partial:
        """The chunk's small aggregates.  Touches no shared state, so chunks can be computed in
        parallel threads (polars releases the GIL) and merged in order with ``StatsAccumulator.merge``.
        ``defer``: its rows are not aggregated but left in ``Partial.deferred``, for
        ``aggregate_deferred`` with the next chunks'."""
        good, unparsed, samples, rows, folded = self.parser.parse_folded(chunk.data, fold=self.fold)
        first = chunk.first_line or 1
        part = Partial(
            path=chunk.path,
            rows=rows,
            unparsed=unparsed,
            samples=[{"file": chunk.path, "line": first + r, "text": t[:500]} for r, t in samples],
            renumber=chunk.first_line == 0,
            first_line=first,
            # a chunk's rows are its lines (blank ones included), except a tiny all-blank chunk
            newlines=rows if rows or not chunk.data else bytes(chunk.data).count(b"\n"),
        )
        if folded is not None:
            part.folded = folded.rows
        if good.height or folded is not None:
            typed = self.plan.typed(good.lazy().with_columns(pl.lit(True).alias("_ok"))).collect()
            if defer:
                part.deferred = Deferred(typed, folded)
            else:
                self._aggregate(typed, part, folded)
        return part

    def aggregate_deferred(self, path: str, batch: list[tuple[int, Deferred]]) -> Partial:
        """The aggregates of several chunks' ``Deferred`` rows of ``path``, in file order, each with
        its offset (its first line's number - 1): one aggregation as of one chunk, their row
        numbers made the file's.  Its lines were counted with their chunks (``counts_lines``)."""
        part = Partial(path=path, counts_lines=False)
        typed = pl.concat([d.typed.with_columns(pl.col("_row").cast(pl.Int64) + off) for off, d in batch],
                          how="vertical_relaxed")
        folded = Folded.together([(off, d.folded) for off, d in batch if d.folded is not None])
        if folded is not None:
            part.folded = folded.rows
        self._aggregate(typed, part, folded)
        return part

    def partial_batch(self, batch: pl.DataFrame, path: str) -> Partial:
        """Aggregates of one batch of ``RowPlan.typed`` rows read straight from ``path`` by the
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
        ok = self.parser.regex_ok(groups.struct.field)
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

    def partial_rematched(self, batch: pl.DataFrame, path: str, counted: pl.Series | None = None,
                          folded: Folded | None = None) -> Partial:
        """Aggregates of a batch of ``rematch_plan`` rows (``_row`` = line number - 1).
        ``counted``: rows already counted unparsed (fetched for their text only); ``folded``:
        rows counted by the reader itself, aggregated with these (``partial_fields``)."""
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
        if folded is not None:
            part.folded = folded.rows
        if good.height or folded is not None:
            self._aggregate(self.plan.typed(good.lazy()).collect(), part, folded)
        return part

    @property
    def folds_fields(self) -> bool:
        """Whether a stats plug-in reading its own log into this format's variables may count
        the rows of no 5xx itself (``partial_fields``' ``folded``: :class:`Folded`, as nginx's C
        scanner does, ``_fold_program``): only when a row is wanted for nothing but the counts
        the fold makes -- no location (``loc_expr``), no ``--since``/``--until`` window, a minute
        key that is a slice of ``$time_local`` (``minute_expr``), and every upstream variable in
        the format (the fold's attempts are grouped by all five)."""
        plan = self.plan
        return (plan.loc_expr is None and plan.since is None and plan.until is None
                and self.kind == "time_local" and self.has_up
                and plan.upstream == list(UPSTREAM_COLUMNS.values()))

    def partial_fields(self, fields: pl.DataFrame, path: str, folded: Folded | None = None) -> Partial:
        """Aggregates of a batch of rows another proxy's stats plug-in read from its own log
        (``Hooks.stats``: HAProxy's httplog, Apache's ``LogFormat``) straight into this format's
        variables, with nginx's meanings: ``_row`` (line number - 1 in ``path``), the variables it
        knows (those it does not are ``-``, as nginx writes an empty one) and ``_text`` (the line,
        for the samples of a row whose values fail the shape checks).  The values get the checks
        of the whole-line path (``LineParser.regex_ok``), so a row counts or is unparsed as
        before, when such lines were rewritten as nginx text and parsed again; no text is made
        and none parsed twice (issue 23 item 3).  ``folded``: the rows the plug-in counted itself
        (only when ``folds_fields``; rows numbered as ``_row``), aggregated with these."""
        have = set(fields.columns)
        values = [pl.col(f) if f in have else pl.lit("-", dtype=pl.String).alias(f) for f in self.fields]
        ok = self.parser.regex_ok(pl.col)
        batch = fields.lazy().select(
            pl.col("_row").cast(pl.UInt32), *values,
            ok.alias("_ok"), pl.when(~ok).then(pl.col("_text")).alias("_text")).collect()
        part = self.partial_rematched(batch, path, folded=folded)
        part.rows = part.newlines = batch.height + (folded.rows if folded is not None else 0)
        return part

    @property
    def fields(self) -> list[str]:
        return list(self.parser.fields)

    def _aggregate(self, typed: pl.DataFrame, part: Partial, folded: Folded | None = None) -> None:
        """Fold ``typed`` (rows of ``RowPlan.typed`` that parsed) and the rows the C scanner
        counted itself (``folded``: their groups join the same groupings) into ``part``.

        The rows are read by one ``collect_all`` of lazy queries: polars plans them once and
        runs them side by side, and each call has a fixed cost (~10 ms), which is why the scan
        path hands over groups of ``GROUP_ROWS`` rows rather than its small batches.  The
        upstream views (attempts per status, the timing histograms, the last success) come
        from a second, small ``collect_all`` over what the first grouped: each of them grouping
        every row again took half of this aggregation (``bench/stats_profile.py``, issue 28)."""
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
            # the last success per upstream: the last one in the chunk's order (a log is written
            # in time order).  Grouped by the raw ``$upstream_addr`` first (its last time and
            # its place in the chunk), so the last address of a retried or redirected request is
            # cut from the few distinct values, not from every row, and the time parsed once
            # per upstream (the per-row split was ~20% of this aggregation, issue 28)
            # ``_ord``: the row's number in the chunk (every reader numbers its rows ``_row``),
            # so the rows the C scanner folded (``Folded.answered``) are ordered among these
            answered = lazy.filter(pl.col("_ok_time").is_not_null())
            ordered = (answered.select("ua", pl.col("_ok_time").alias("time"),
                                       pl.col("_row").cast(pl.Int64).alias("_ord"))
                       if "_row" in typed.columns else
                       answered.select("ua", pl.col("_ok_time").alias("time")).with_row_index("_ord"))
            queries["ok_last"] = ordered.group_by("ua").agg(pl.col("time").sort_by("_ord").last(),
                                                            pl.col("_ord").max().cast(pl.Int64))
        names = list(queries)
        res = dict(zip(names, pl.collect_all(list(queries.values()))))
        if folded is not None:
            part.requests += folded.rows
            res["timeline"] = pl.concat([res["timeline"], folded.timeline], how="vertical_relaxed")
            if self.has_up:
                res["attempts"] = pl.concat([res["attempts"], folded.attempts], how="vertical_relaxed")
                answered_folded = folded.answered.with_columns(pl.col("_ord").cast(pl.Int64))
                res["ok_last"] = pl.concat([res["ok_last"], answered_folded], how="vertical_relaxed")
        if self.has_up:
            # the second step, on the small grouped frames of the first (``_attempt_views``)
            views = self._attempt_views(res.pop("attempts").lazy())
            views["ok_last"] = _ok_last(res.pop("ok_last").lazy(), time_expr(self.kind, self.tz))
            res.update(zip(list(views), pl.collect_all(list(views.values()))))
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
        part.ok_last = _cat(part.ok_last, res["ok_last"])
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
            .with_columns(time_expr(self.kind, self.tz).alias("ts"))
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
        """Per-attempt aggregates of ``lazy`` (``RowPlan.typed`` rows), as lazy queries.

        Attempts are grouped by their timing *strings*; only the distinct strings are parsed
        and bucketed (see ``RowPlan.typed``).  A multi-attempt value (``"a, b"`` retries,
        ``"a : b"`` internal redirects) is split and exploded into one row per attempt."""
        loc = self.loc_expr is not None
        keep = ["loc"] if loc else []
        present = list(self.plan.upstream)
        out: dict[str, pl.LazyFrame] = {}
        single = lazy.filter(pl.col("_up") & ~pl.col("_many"))
        many = lazy.filter(pl.col("_many"))
        if self.loc_expr is not None:
            # The location is worked out here, per group, on the two disjoint sets of proxied
            # rows (each row once): in the streaming plan its Python parts (unique hosts,
            # PCRE-only regexes; ``proxies.nginx.config.locations``) took the engine to 2 GB on one
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
        # every attempt counted once per distinct (address, status, timings[, location]): the
        # views below regroup these few thousand rows instead of grouping every attempt again
        # each (four groupings of all attempts were ~60% of this aggregation, issue 28).  The
        # single and the exploded attempts are grouped apart and not concatenated first (a
        # copy of every row; ~10% of this step): a key in both is summed by every view's regroup
        out["attempts"] = pl.concat([
            part.select(*present, *keep).group_by(*present, *keep).len() for part in (single, exploded)])
        return out

    def _attempt_views(self, counts: pl.LazyFrame) -> dict[str, pl.LazyFrame]:
        """The per-attempt aggregates from ``counts`` (the ``attempts`` query of
        ``_attempt_queries``: per distinct upstream values and location, with ``len``, once among the
        single attempts and once among the retried ones: each view sums ``len`` by its keys).
        Timings stay strings until here, and only their distinct values are parsed and bucketed
        (see ``RowPlan.typed``)."""
        loc = self.loc_expr is not None
        present = list(self.plan.upstream)
        missing = [pl.lit(None, dtype=pl.String).alias(c)
                   for c in ("ua", "us", "uct", "uht", "urt") if c not in present]
        att = counts.with_columns(missing) if missing else counts
        out: dict[str, pl.LazyFrame] = {}

        def regroup(keys: list[str], timing: str) -> pl.LazyFrame:
            return (att.group_by(*keys, timing).agg(pl.col("len").sum())
                    .with_columns(seconds_of(timing).alias("v")))

        # per (address, status, header time): the attempt counts, the failed attempts (no header
        # time) and the header-time histogram all come from this one grouping
        by_status = att.group_by("ua", "us", "uht").agg(pl.col("len").sum()).with_columns(
            seconds_of("uht").alias("v"))
        failed = ((pl.col("v").is_null() & pl.lit(self.has_uht)) * pl.col("len")).sum().alias("f")
        out["per_status"] = by_status.group_by("ua", "us").agg(pl.col("len").sum(), failed)

        def histogram(grouped: pl.LazyFrame, keys: list[str]) -> pl.LazyFrame:
            # each bucket's exact maximum rides along (the maximum per upstream is the largest
            # of its buckets', taken in ``merge``): no separate pass over the timings for it
            return (
                grouped.drop_nulls("v")
                .group_by(*keys, bucket_expr(pl.col("v")).alias("b"))
                .agg(pl.col("len").sum(), pl.col("v").max().alias("m"))
            )

        for var, col in _TIMINGS:
            if not self.fmt.has(var) or (col == "c" and not self.plan.stats_views):
                continue
            short = UPSTREAM_COLUMNS[var]
            grouped = by_status if short == "uht" else regroup(["ua"], short)
            out[_ATTR[col]] = histogram(grouped, ["ua"])
        short = "uht" if self.has_uht else "urt"
        if loc and short in present:
            out["loc_hist"] = histogram(regroup(["ua", "loc"], short), ["ua", "loc"])
        return out


def _ok_last(grouped: pl.LazyFrame, ts: pl.Expr) -> pl.LazyFrame:
    """(upstream, ts) of the last success per last upstream, from ``grouped`` (per raw
    ``$upstream_addr``: the time of its last success and that row's place, ``_ord``): the last
    attempt's address of each value (retries ``a, b``, internal redirects ``a : b``), and per
    address the time of the latest row, parsed (``ts``, an expression of ``time``)."""
    last_ua = pl.col("ua").str.replace_all(" : ", ", ", literal=True).str.split(", ").list.last()
    return (
        grouped.with_columns(last_ua.alias("ua"))
        .group_by("ua").agg(pl.col("time").sort_by("_ord").last())
        .select("ua", ts.alias("ts"))
    )
