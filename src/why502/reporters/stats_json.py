"""``why502 stats --format json`` and ``--format csv`` (the per-minute timeline).

JSON contract (keys always present): ``requests``, ``unparsed``, ``by_status`` (status code
string -> count), ``timeline`` (list of ``{minute, requests, 5xx, 502, 503, 504, other_5xx}``),
``upstreams`` (list, one object per address), plus everything else ``AccessStats.to_dict()``
holds.  CSV is meant for spreadsheets and plotting; cells that start with ``= + - @`` are
prefixed with ``'`` so a spreadsheet never evaluates log content as a formula.
"""

from __future__ import annotations

import csv
import io
from typing import Any

from why502.textutil import dump_json

STATS_JSON_VERSION = "1"
TIMELINE_COLUMNS = ("minute", "requests", "5xx", "502", "503", "504", "other_5xx")


def stats_to_json(d: dict[str, Any]) -> str:
    """The statistics as indented JSON with a version field."""
    return dump_json({"stats_version": STATS_JSON_VERSION, **d}, indent=2, default=str)


def _cell(value: object) -> str:
    text = "" if value is None else str(value)
    return "'" + text if text[:1] in ("=", "+", "-", "@") else text


def timeline_csv(d: dict[str, Any]) -> str:
    """The per-minute timeline as CSV (header row first)."""
    out = io.StringIO()
    w = csv.writer(out, lineterminator="\n")
    w.writerow(TIMELINE_COLUMNS)
    for row in d.get("timeline", []):
        w.writerow([_cell(row.get(c, 0)) for c in TIMELINE_COLUMNS])
    return out.getvalue()
