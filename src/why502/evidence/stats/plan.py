"""The row-wise plan: the captured strings of ``LineParser.fields_plan`` -> the columns the
aggregation groups by (status, minute key, host, the upstream fields, the ``--since``/``--until``
test), for one log format and one run's options.

Why row-wise only: polars' streaming engine runs this plan on a plain file while it reads
(``sources.scan``), in parallel; anything that groups or sorts would make it wait for the whole
file.  The grouping itself is ``reduce``'s.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

import polars as pl

from why502.evidence.stats.parser import ROW
from why502.evidence.stats.times import minute_expr, time_expr
from why502.facts.routes import RouteModel
from why502.parsers.log_format import CompiledFormat

# ``$upstream_*`` variables -> their short column names (in this order)
UPSTREAM_COLUMNS = {
    "upstream_addr": "ua",
    "upstream_status": "us",
    "upstream_connect_time": "uct",
    "upstream_header_time": "uht",
    "upstream_response_time": "urt",
}


def location_label(fmt: CompiledFormat, locations: RouteModel | None) -> pl.Expr | None:
    """The route label of a row (``facts.routes.RouteModel``: nginx's locations), from the
    ``request`` and ``host`` columns of ``RowPlan.typed``'s first step; None when the log has no request."""
    if locations is None:
        return None
    target = "request" if fmt.has("request") else "request_uri" if fmt.has("request_uri") else "uri"
    if target == "uri" and not fmt.has("uri"):
        return None
    return locations.label_expr(pl.col("request"), pl.col("host").fill_null(""), target=target)


@dataclass
class RowPlan:
    """The typed columns of one log format read with one run's options: ``typed`` is the plan;
    the other attributes say what the format has (``has_up``, ``has_uht``, ``upstream``: the
    short names of its upstream fields)."""

    fmt: CompiledFormat
    since: datetime | None = None
    until: datetime | None = None
    locations: RouteModel | None = None
    tz: str | None = None  # IANA zone for ``$msec`` times (the machine's), None = UTC
    # the views only ``why502 stats`` shows: the per (upstream, location) timings
    # (``UpstreamStats.by_location``) and the connect-time histogram.  ``diagnose`` reads
    # neither (``app.diagnose.access.timing_from_stats``), and the location of every proxied
    # row was ~40% of its access-log aggregation (100 MB host, issue 28)
    stats_views: bool = True
    kind: str | None = field(init=False)  # the time field
    # per (upstream, location) timings need the location of every proxied request: only when
    # the config's locations are known and the log has the request line
    loc_expr: pl.Expr | None = field(init=False)
    has_uht: bool = field(init=False)
    has_up: bool = field(init=False)
    upstream: list[str] = field(init=False)

    def __post_init__(self) -> None:
        fmt = self.fmt
        self.kind = fmt.time_field
        self.loc_expr = (location_label(fmt, self.locations)
                         if self.locations and self.stats_views else None)
        self.has_uht = fmt.has("upstream_header_time")
        self.has_up = fmt.has("upstream_addr")
        self.upstream = [short for name, short in UPSTREAM_COLUMNS.items() if fmt.has(name)]

    def typed(self, fields: pl.LazyFrame) -> pl.LazyFrame:
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
            ROW,
            pl.col("_ok"),
            pl.col("^_bad$"),
            (get(tf) if tf else pl.lit(None, dtype=pl.String)).alias("time"),
            pl.col("status").cast(pl.Int16, strict=False).alias("status"),
            get("remote_addr").alias("client"),
            request.alias("request"),
            (get(hf) if hf else pl.lit(None, dtype=pl.String)).alias("host"),
            *(get(name).alias(short) for name, short in UPSTREAM_COLUMNS.items() if f.has(name)),
        ]
        five = pl.col("status") >= 500
        typed: list[pl.Expr] = [
            ROW,
            pl.col("_ok"),
            pl.col("^_bad$"),
            pl.col("status"),
            minute_expr(self.kind).alias("minute"),
            pl.col("host"),
            pl.when(five).then(pl.col("time")).alias("time"),
            pl.when(five).then(pl.col("client")).alias("client"),
            pl.when(five | pl.lit(self.loc_expr is not None)).then(pl.col("request")).alias("request"),
        ]
        if self.since is not None or self.until is not None:
            typed.append(self._window().alias("_in"))
        if not self.has_up:
            return fields.select(names).select(typed)
        ua = pl.col("ua")
        has_up = ua.is_not_null() & (ua != "-") & (ua != "")
        many = has_up & (ua.str.contains(", ", literal=True) | ua.str.contains(" : ", literal=True))
        typed += [has_up.alias("_up"), many.alias("_many"),
                  # an answer the clients got: below 500, not a request the client (499) or
                  # nginx (444) dropped without one
                  pl.when(~five & has_up & ~pl.col("status").is_in([444, 499]))
                  .then(pl.col("time")).alias("_ok_time")]
        typed += [pl.col(short) for short in self.upstream]
        return fields.select(names).select(typed)

    def _window(self) -> pl.Expr:
        """``--since``/``--until`` as a row-wise test on the time field (null time: outside)."""
        keep = pl.lit(True)
        if self.kind == "msec":  # epoch seconds: compare numbers, no datetime per row
            t = pl.col("time").cast(pl.Float64, strict=False)
            if self.since is not None:
                keep = keep & (t >= self.since.timestamp())
            if self.until is not None:
                keep = keep & (t <= self.until.timestamp())
        else:
            ts = time_expr(self.kind, self.tz)
            if self.since is not None:
                keep = keep & (ts >= self.since)
            if self.until is not None:
                keep = keep & (ts <= self.until)
        return keep.fill_null(False)
