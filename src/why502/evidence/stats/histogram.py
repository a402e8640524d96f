"""Timing histograms: fixed logarithmic buckets, merged by adding counts.

Why buckets: the answers need percentiles per upstream address over millions of requests, and a
chunk of the log must reduce to something small that adds up with the other chunks.  Timings go
into buckets ``BUCKET_RATIO`` = 2% wide (offset by 1 ms); a percentile is the bucket's geometric
middle, so it is within about +-1% (+-0.5 ms below 50 ms) of the exact value; ``max`` is exact.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import TypedDict

import polars as pl

BUCKET_RATIO = 1.02
_K = 1.0 / math.log(BUCKET_RATIO)


class TimingSummary(TypedDict):
    """A histogram as reported: how many timings, three percentiles and the maximum (seconds)."""

    count: int
    p50: float | None
    p95: float | None
    p99: float | None
    max: float | None


@dataclass
class Histogram:
    """Counts of timings in 2% logarithmic buckets (see the module docstring for the precision)."""

    buckets: Counter[int] = field(default_factory=Counter)
    count: int = 0
    max: float = 0.0

    def add(self, bucket_counts: Iterable[tuple[int, int]], max_value: float | None) -> None:
        for b, n in bucket_counts:
            self.buckets[b] += n
            self.count += n
        if max_value is not None and max_value > self.max:
            self.max = max_value

    def absorb(self, other: Histogram) -> None:
        """Add ``other``'s counts (and its maximum, when it has any timing)."""
        self.add(other.buckets.items(), other.max if other.count else None)

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

    def summary(self) -> TimingSummary:
        def r(v: float | None) -> float | None:
            return None if v is None else round(v, 3)

        return {
            "count": self.count,
            "p50": r(self.quantile(0.5)),
            "p95": r(self.quantile(0.95)),
            "p99": r(self.quantile(0.99)),
            "max": r(self.max if self.count else None),
        }


def bucket_expr(seconds: pl.Expr) -> pl.Expr:
    """The ``Histogram`` bucket of a timing in seconds (null stays null)."""
    return ((seconds * 1000.0 + 1.0).log() * _K).floor().cast(pl.Int32)


def seconds_of(col: str) -> pl.Expr:
    """A ``$upstream_*_time`` string as seconds (``-``, empty or several values: null).

    nginx prints these with ``%T.%03M`` from a non-negative msec count
    (ngx_http_upstream.c, ngx_http_upstream_response_time_variable), so ``NaN``, ``inf``,
    ``1e309`` or ``-1.000`` were not written by it: they are unknown (null), never a number
    that would poison a percentile or a maximum."""
    t = pl.col(col).cast(pl.Float64, strict=False)
    return pl.when(t.is_finite() & (t >= 0)).then(t).otherwise(None)
