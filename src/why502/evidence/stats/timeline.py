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


# Minutes kept in the timeline: 50k minutes is 34 days, more than one log file usually spans.
# A log whose times are spread wide (a hostile one, or years of logs read at once) would
# otherwise grow the table by a Counter per minute (~500 bytes): 100M distinct minutes, 50 GB.
MAX_MINUTES = 50_000


class MinuteCounts:
    """Status counts per ISO minute (the timeline), bounded at ``max_minutes`` minutes.

    Past the bound the oldest minutes are folded into ``cut`` (counts per status), keeping the
    most recent half: the on-call question is about the latest minutes, and the totals by status
    stay exact (``by_status`` adds ``cut``).  A minute at or before the newest one dropped goes
    to ``cut`` directly, so every minute kept has its exact count."""

    def __init__(self, max_minutes: int = MAX_MINUTES) -> None:
        self.max_minutes = max_minutes
        self.minutes: dict[str, Counter[str]] = {}
        self.cut: Counter[str] = Counter()  # statuses of the requests in dropped minutes
        self.cut_minutes = 0  # minutes dropped (at least; a minute seen after its drop is not recounted)
        self.floor: str | None = None  # the newest minute dropped

    def add(self, iso: str, status: str, n: int) -> None:
        if self.floor is not None and iso <= self.floor:
            self.cut[status] += n
            return
        counts = self.minutes.get(iso)
        if counts is None:
            counts = self.minutes[iso] = Counter()
        counts[status] += n

    def prune(self) -> None:
        """Fold the oldest minutes into ``cut`` when there are more than ``max_minutes``
        (call after each batch: a batch adds at most its row count of minutes)."""
        if len(self.minutes) <= self.max_minutes:
            return
        keys = sorted(self.minutes)
        drop = keys[: len(keys) - self.max_minutes // 2]
        for key in drop:
            self.cut.update(self.minutes.pop(key))
        self.cut_minutes += len(drop)
        self.floor = drop[-1] if self.floor is None else max(self.floor, drop[-1])

    def absorb(self, other: MinuteCounts) -> None:
        for iso, counts in other.minutes.items():
            for status, n in counts.items():
                self.add(iso, status, n)
        self.cut.update(other.cut)
        self.cut_minutes += other.cut_minutes
        if other.floor is not None:
            self.floor = other.floor if self.floor is None else max(self.floor, other.floor)
            for iso in [k for k in self.minutes if k <= self.floor]:
                self.cut.update(self.minutes.pop(iso))
                self.cut_minutes += 1
        self.prune()

    def by_status(self) -> Counter[str]:
        """Requests per status over every minute, the dropped ones included (exact)."""
        total: Counter[str] = Counter(self.cut)
        for counts in self.minutes.values():
            total.update(counts)
        return total

    def note(self) -> str | None:
        if not self.cut_minutes:
            return None
        first = min(self.minutes) if self.minutes else "-"
        return (f"timeline: the log's times span more than {self.max_minutes} distinct minutes; it shows "
                f"the most recent {len(self.minutes)} (from {first}), the {sum(self.cut.values())} requests "
                f"of {self.cut_minutes} older minutes are in the totals only")
