"""``stats --format csv``: the per-minute timeline of a ``StatsReport`` or ``LbStatsReport`` as CSV
(``json.stats.timeline_csv``: a header row, formula-like cells prefixed with ``'``).  ``csv`` is
the one format outside ``cli.vocab.FORMATS``: a table for spreadsheets, not a rendering of the
whole result."""

from __future__ import annotations

from typing import Any

from why502.reporters.options import RenderOptions

__all__ = ["render"]


def render(result: Any, options: RenderOptions) -> str:
    """The timeline of ``result`` (a stats result; anything else is a TypeError)."""
    from why502.findings.results import LbStatsReport, StatsReport
    from why502.reporters.json.stats import timeline_csv

    if not isinstance(result, (StatsReport, LbStatsReport)):
        raise TypeError(f"no csv reporter for {type(result).__name__}")
    return timeline_csv(result)
