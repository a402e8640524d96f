"""Access-log statistics: pure, streaming aggregation of nginx access-log lines with polars.

Why this shape: access logs are big (millions of lines a day) and the answers are small (a few
hundred minutes of timeline, a handful of upstreams).  So every piece of the log is parsed and
reduced to small partial aggregates at once, and only the aggregates are kept: memory does not
grow with the file.  The exception is the 5xx requests themselves, kept (up to
``accumulator.MAX_5XX_ROWS``) for the per-request join with the error log and the breakdowns:
the app keeps them on disk (``sources.spill``) and ``finish`` works through them one block at a
time.

Two ways in, one plan: ``LineParser.fields_plan`` (split pieces -> captured strings + ``_ok``)
and ``RowPlan.typed`` (-> the grouping columns) are row-wise lazy plans.  A plain file is read
by polars' streaming engine running them as it reads (``sources.scan``; the app feeds the
batches to ``Reducer.partial_batch`` and the rejected lines to ``Reducer.rematch_plan``); ``.gz``
and stdin come as byte chunks (``Reducer.partial``).  Either way the reducer turns rows into a
``Partial`` and ``StatsAccumulator.merge`` folds it into the totals.

The modules, in the order the data flows:

- ``parser``: lines -> captured variables (``LineParser``);
- ``times``: the log's time field as minute keys and datetimes;
- ``plan``: captured strings -> typed grouping columns (``RowPlan``);
- ``reduce``: one piece of the log -> its ``Partial`` aggregates (``Reducer``);
- ``histogram``: timing buckets and percentiles;
- ``frames``: where the kept 5xx rows wait (``FrameStore``);
- ``accumulator``: partials -> totals -> ``AccessStats`` (``StatsAccumulator``);
- ``timeline``: the per-minute rows and the incidents in them;
- ``join``: each 5xx access line with its error-log line;
- ``breakdown``: the kept 5xx rows at the end (who made them, by URI/client/location, sample);
- ``model``: the result types (``AccessStats``, ``UpstreamStats``, ``Incident``).
"""

from __future__ import annotations

from why502.evidence.stats.accumulator import StatsAccumulator, compute_stats
from why502.evidence.stats.frames import FrameStore, MemoryFrames
from why502.evidence.stats.join import ErrorParts
from why502.evidence.stats.model import (
    UNPARSED_SAMPLES,
    AccessStats,
    ErrorLogInfo,
    Incident,
    TimelineRow,
    UpstreamStats,
)
from why502.evidence.stats.reduce import Partial

__all__ = [
    "UNPARSED_SAMPLES",
    "AccessStats",
    "ErrorLogInfo",
    "ErrorParts",
    "FrameStore",
    "Incident",
    "MemoryFrames",
    "Partial",
    "StatsAccumulator",
    "TimelineRow",
    "UpstreamStats",
    "compute_stats",
]
