"""``why502 stats --format json`` and ``--format csv`` (the per-minute timeline).

JSON: the typed result's document (``findings.results.StatsReport`` or ``LbStatsReport``,
``schemas/stats.schema.json``), ``stats_version`` first.  CSV is meant for spreadsheets and
plotting; cells that start with ``= + - @`` are prefixed with ``'`` so a spreadsheet never
evaluates log content as a formula.
"""

from __future__ import annotations

import csv
import io

from why502.findings.results import LbStatsReport, StatsReport
from why502.reporters.json.result import JsonOptions, render

STATS_JSON_VERSION = StatsReport.VERSION
TIMELINE_COLUMNS = ("minute", "requests", "5xx", "502", "503", "504", "other_5xx")
LB_TIMELINE_COLUMNS = ("minute", "requests", "5xx_lb", "5xx_backend")


STATS_JSON = JsonOptions(default=str)


def stats_to_json(report: StatsReport | LbStatsReport) -> str:
    """The statistics as indented JSON, its version field first (no final newline)."""
    return render(report, STATS_JSON).rstrip("\n")


def _cell(value: object) -> str:
    text = "" if value is None else str(value)
    return "'" + text if text[:1] in ("=", "+", "-", "@") else text


def timeline_csv(report: StatsReport | LbStatsReport) -> str:
    """The per-minute timeline as CSV (header row first); a load balancer's splits the 5xx by
    who made them (its ``requests`` column is the timeline's ``total``)."""
    out = io.StringIO()
    w = csv.writer(out, lineterminator="\n")
    if isinstance(report, LbStatsReport):
        w.writerow(LB_TIMELINE_COLUMNS)
        for row in report.timeline:
            w.writerow([_cell(row.get("total" if c == "requests" else c, 0)) for c in LB_TIMELINE_COLUMNS])
        return out.getvalue()
    w.writerow(TIMELINE_COLUMNS)
    for row in report.timeline:
        w.writerow([_cell(row.get(c, 0)) for c in TIMELINE_COLUMNS])
    return out.getvalue()
