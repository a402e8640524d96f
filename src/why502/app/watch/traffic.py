"""The access-log hot path of ``why502 watch``: a batch of lines to counts, in polars.

Why not one Python regex match and one prometheus_client call per line: that was ~20k lines/s
(``bench/watch_bench.py``), 12 us of regex and 15 us of ``labels().inc()`` per line.  The
``log_format`` compiler already writes a Rust-regex pattern (``parsers.log_format``); polars
matches a whole batch with it, and the counts are kept in plain dicts exposed by one custom
collector (prometheus_client's documented ``Collector`` interface), so a line costs no Python
call of its own.

Counted per batch: requests by final status, requests by upstream (the last attempt of
``$upstream_addr``, what the client got) and status, and the histogram of the last attempt's
``$upstream_response_time`` per upstream (cumulative buckets, as Prometheus exposes them).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator

import polars as pl
from prometheus_client.metrics_core import CounterMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.registry import Collector

from why502.parsers.log_format import CompiledFormat, compile_format

__all__ = ["BUCKETS", "Traffic", "batch_pattern"]

BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)
_WANTED = frozenset({"status", "upstream_addr", "upstream_response_time", "host", "server_name",
                     "http_host"})
_HOSTS = ("server_name", "host", "http_host")  # which names the virtual host, best first
# "a, b : c" -> "c": the last attempt (``$upstream_*`` lists, ngx_http_upstream_module docs)
_LAST = r"^.*(?:, | : )"


def batch_pattern(fmt: CompiledFormat) -> str:
    """The format recompiled to capture only what the watch counts (fewer groups: faster)."""
    return compile_format(fmt.format, fmt.escape, name=fmt.name, capture=_WANTED).pattern


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

    def add(self, lines: list[str], pattern: str,
            upstream_of: Callable[[str], str]) -> tuple[dict[int, int], int]:
        """Count a batch; returns the requests per status code and the unparsed lines."""
        df = pl.Series("l", lines, dtype=pl.String).str.extract_groups(pattern).struct.unnest()
        if "status" not in df.columns:
            return {}, len(lines)
        unparsed = df["status"].null_count()
        df = df.filter(pl.col("status").is_not_null())
        cols = set(df.columns)
        has_up = "upstream_addr" in cols
        host = next((h for h in _HOSTS if h in cols), None)
        if host is None:
            df = df.with_columns(pl.lit("").alias("server"))
        else:
            name = pl.col(host).str.to_lowercase().str.replace(r":[0-9]+$", "")
            df = df.with_columns(pl.when(name.is_in(list(self.servers))).then(name)
                                 .otherwise(pl.lit("other")).alias("server"))
        by_status = df.group_by("server", "status").len()
        statuses: dict[str, int] = {}
        with self.lock:
            for server, status, n in by_status.iter_rows():
                self.requests[(server, status)] = self.requests.get((server, status), 0) + n
                statuses[status] = statuses.get(status, 0) + n
        if has_up:
            df = df.with_columns(pl.col("upstream_addr").str.replace(_LAST, "").alias("up"))
            df = df.filter(pl.col("up").is_not_null() & (pl.col("up") != "-") & (pl.col("up") != ""))
            pairs = df.group_by("up", "status").len()
            if "upstream_response_time" in cols:
                t = pl.col("upstream_response_time").str.replace(_LAST, "").cast(pl.Float64,
                                                                                 strict=False)
                hist = df.with_columns(t.alias("t")).filter(pl.col("t").is_not_null()).group_by(
                    "up").agg([(pl.col("t") <= b).sum().alias(f"b{i}") for i, b in enumerate(BUCKETS)]
                              + [pl.col("t").sum().alias("sum"), pl.len().alias("n")])
            else:
                hist = None
            with self.lock:
                for up, status, n in pairs.iter_rows():
                    key = (upstream_of(up), status)
                    self.responses[key] = self.responses.get(key, 0) + n
                if hist is not None:
                    for row in hist.iter_rows(named=True):
                        up = upstream_of(row["up"])
                        cum = self.buckets.setdefault(up, [0] * len(BUCKETS))
                        for i in range(len(BUCKETS)):
                            cum[i] += row[f"b{i}"]
                        self.sums[up] = self.sums.get(up, 0.0) + row["sum"]
                        self.counts[up] = self.counts.get(up, 0) + row["n"]
        return {int(k): v for k, v in statuses.items() if k.isdigit()}, unparsed

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


def _le(bound: float) -> str:
    return repr(bound)
