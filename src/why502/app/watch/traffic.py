"""The access-log hot path of ``why502 watch``: a batch of lines to counts, in polars.

Why not one Python regex match and one prometheus_client call per line: that was ~20k lines/s
(``bench/watch_bench.py``), 12 us of regex and 15 us of ``labels().inc()`` per line.  Why not
one polars regex over a list of lines either (the first batch version, 131k lines/s): a Python
``str`` per line plus the whole-line regex, whose alternations (the time, the ``$upstream_*``
lists) send Rust's regex to its slow capture engine, were 80 % of the time.  So the follower
hands out raw blocks of whole lines and ``evidence.stats.parser.LineParser`` -- the parser of
``why502 stats`` -- splits each block at its quotes in polars' CSV reader and slices the wanted
fields (the regex only for lines that do not fit), and the counts are kept in plain dicts
exposed by one custom collector (prometheus_client's documented ``Collector`` interface), so a
line costs no Python call of its own.

Counted per batch: requests by final status, requests by upstream (the last attempt of
``$upstream_addr``, what the client got) and status, and the histogram of the last attempt's
``$upstream_response_time`` per upstream (cumulative buckets, as Prometheus exposes them).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING

from prometheus_client.metrics_core import CounterMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.registry import Collector

from why502.parsers.log_format import CompiledFormat, compile_format

if TYPE_CHECKING:
    import polars as pl

    from why502.evidence.stats.parser import LineParser

__all__ = ["BUCKETS", "Traffic", "make_parser"]

BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)
_WANTED = frozenset({"status", "upstream_addr", "upstream_response_time", "host", "server_name",
                     "http_host"})
_HOSTS = ("server_name", "host", "http_host")  # which names the virtual host, best first
# "a, b : c" -> "c": the last attempt (``$upstream_*`` lists, ngx_http_upstream_module docs)
_LAST = r"^.*(?:, | : )"


class Traffic(Collector):
    """Counts of the access logs, updated by the watch loop, read by a scrape (one lock)."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        # the server label: a server_name of the config, "other" for any other Host (the Host
        # header is the client's: an unbounded label otherwise); "" when the format has none
        self.servers: frozenset[str] = frozenset()
        self.requests: dict[tuple[str, str], int] = {}
        self.responses: dict[tuple[str, str], int] = {}
        self.buckets: dict[str, list[int]] = {}  # upstream -> cumulative counts per BUCKETS
        self.sums: dict[str, float] = {}
        self.counts: dict[str, int] = {}

    def add(self, data: bytes, parser: LineParser,
            upstream_of: Callable[[str], str]) -> tuple[dict[int, int], int]:
        """Count a block of whole lines; returns the requests per status code and the unparsed
        lines.  ``parser`` splits the block at its quotes in polars' CSV reader (no Python
        object per line) and re-checks what does not fit with the format's regex.  polars is
        imported here, on the first block of an nginx access log: an agent following only error
        logs or load balancers' logs never loads it (~30 MB of RSS, ``bench/watch_bench.py``)."""
        import polars as pl

        df, unparsed, _samples, _rows = parser.parse(data)
        if "status" not in df.columns or not df.height:
            return {}, unparsed
        cols = set(df.columns)
        has_up = "upstream_addr" in cols
        host = next((h for h in _HOSTS if h in cols), None)
        if host is None:
            server = pl.lit("")
        else:
            name = pl.col(host).str.to_lowercase().str.replace(r":[0-9]+$", "")
            server = pl.when(name.is_in(list(self.servers))).then(name).otherwise(pl.lit("other"))
        lazy = df.lazy().with_columns(server.alias("server"), pl.col("status").cast(pl.String))
        queries = [lazy.group_by("server", "status").len()]
        if has_up:
            up = lazy.with_columns(_last(pl.col("upstream_addr")).alias("up")).filter(
                pl.col("up").is_not_null() & (pl.col("up") != "-") & (pl.col("up") != ""))
            queries.append(up.group_by("up", "status").len())
            if "upstream_response_time" in cols:
                t = _last(pl.col("upstream_response_time")).cast(pl.Float64, strict=False)
                queries.append(up.with_columns(t.alias("t")).filter(pl.col("t").is_not_null())
                               .group_by("up").agg(
                                   [(pl.col("t") <= b).sum().alias(f"b{i}")
                                    for i, b in enumerate(BUCKETS)]
                                   + [pl.col("t").sum().alias("sum"), pl.len().alias("n")]))
        # one collect for all: polars shares the common part of the plans and runs them together
        results = pl.collect_all(queries)
        statuses: dict[str, int] = {}
        with self.lock:
            for server_, status, n in results[0].iter_rows():
                self.requests[(server_, status)] = self.requests.get((server_, status), 0) + n
                statuses[status] = statuses.get(status, 0) + n
            if len(results) > 1:
                for up_, status, n in results[1].iter_rows():
                    key = (upstream_of(up_), status)
                    self.responses[key] = self.responses.get(key, 0) + n
            if len(results) > 2:
                for row in results[2].iter_rows(named=True):
                    label = upstream_of(row["up"])
                    cum = self.buckets.setdefault(label, [0] * len(BUCKETS))
                    for i in range(len(BUCKETS)):
                        cum[i] += row[f"b{i}"]
                    self.sums[label] = self.sums.get(label, 0.0) + row["sum"]
                    self.counts[label] = self.counts.get(label, 0) + row["n"]
        return {int(k): v for k, v in statuses.items() if k.isdigit()}, unparsed

    def count(self, statuses: dict[int, int], server: str = "") -> None:
        """Requests by final status read by another reader (a load balancer's log)."""
        with self.lock:
            for code, n in statuses.items():
                key = (server, str(code))
                self.requests[key] = self.requests.get(key, 0) + n

    def collect(self) -> Iterator[Metric]:
        with self.lock:
            req = CounterMetricFamily(
                "why502_requests", "Requests in the access logs, by server_name and final status.",
                labels=["server", "status"])
            for (server, status), n in sorted(self.requests.items()):
                req.add_metric([server, status], n)
            resp = CounterMetricFamily(
                "why502_upstream_responses",
                "Requests passed to an upstream (last attempt's $upstream_addr), by final status.",
                labels=["upstream", "status"])
            for (up, status), n in sorted(self.responses.items()):
                resp.add_metric([up, status], n)
            hist = HistogramMetricFamily(
                "why502_upstream_response_time_seconds",
                "Upstream response time ($upstream_response_time of the last attempt).",
                labels=["upstream"])
            for up, cum in sorted(self.buckets.items()):
                buckets = [(_le(b), float(c)) for b, c in zip(BUCKETS, cum)]
                buckets.append(("+Inf", float(self.counts[up])))
                hist.add_metric([up], buckets, sum_value=self.sums[up])
        yield req
        yield resp
        yield hist


def _last(col: pl.Expr) -> pl.Expr:
    """The last attempt of an ``$upstream_*`` list; the regex runs only on the rows that are a
    list (most are one attempt)."""
    import polars as pl

    return pl.when(col.str.contains(", | : ")).then(col.str.replace(_LAST, "")).otherwise(col)


def make_parser(fmt: CompiledFormat) -> LineParser:
    """The block parser of ``fmt`` that captures only what the watch counts."""
    from why502.evidence.stats.parser import LineParser

    return LineParser(compile_format(fmt.format, fmt.escape, name=fmt.name, capture=_WANTED))


def _le(bound: float) -> str:
    return repr(bound)
