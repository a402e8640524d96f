"""The per-minute timeline and the incidents in it (bursts of 5xx).

Why minutes: the on-call question is "when did it start, how bad, is it over", and a minute is
the finest step the access log's ``$time_local`` makes cheap to group by (``times``); bursts are
found on the small per-minute table, not on the rows.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from datetime import datetime, timedelta

from why502.evidence.stats.model import Incident, TimelineRow

_SPLIT = ("502", "503", "504")  # the statuses the timeline counts one by one


def timeline_rows(timeline: Mapping[str, Counter[str]]) -> list[TimelineRow]:
    """Status counts per ISO minute -> the timeline rows, sorted by minute."""
    rows: list[TimelineRow] = []
    for iso, counts in timeline.items():
        five = {s: n for s, n in counts.items() if s.startswith("5")}
        rows.append(
            {
                "minute": iso,
                "requests": sum(counts.values()),
                "5xx": sum(five.values()),
                "502": five.get("502", 0),
                "503": five.get("503", 0),
                "504": five.get("504", 0),
                "other_5xx": sum(n for s, n in five.items() if s not in _SPLIT),
            }
        )
    rows.sort(key=lambda r: r["minute"])
    return rows


def detect_incidents(rows: list[TimelineRow], min_count: int = 5) -> list[Incident]:
    """Minutes whose 5xx count is far above the usual (>= max(min_count, 4*median+4)) and at least
    1% of the minute's requests; hot minutes up to 2 minutes apart form one incident."""
    if not rows:
        return []
    counts = sorted(r["5xx"] for r in rows)
    median = counts[len(counts) // 2]
    threshold = max(min_count, 4 * median + 4)
    hot = [r for r in rows if r["5xx"] >= threshold and r["5xx"] >= 0.01 * max(1, r["requests"])]
    out: list[Incident] = []
    group: list[TimelineRow] = []

    def close() -> None:
        if not group:
            return
        by: Counter[str] = Counter()
        for r in group:  # (a TypedDict is read by literal keys)
            by["502"] += r["502"]
            by["503"] += r["503"]
            by["504"] += r["504"]
            by["other_5xx"] += r["other_5xx"]
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
