"""A cause whose failures ended over an hour before the inputs end ranks after today's findings.

``rank._age`` halves such a cause's confidence, which kept it under a sure current cause but not
under a weak one: in the fault matrix's ``backend-5xx-apache-fpm-unix-bursty-noisy`` (stop 41,
docs/dev/fault-matrix.md) yesterday's refused connects of the noise's old incident, 23 h 59 min
before the pool's 502s, stated 0.57 and headed the report over ``unexplained-5xx`` at 0.39;
a few seconds later the same incident was over 24 h old (quartered, 0.3) and ranked second.
The order no longer depends on which side of a day the incident fell.
"""

from __future__ import annotations

from datetime import datetime

from why502.analyzers.rank import _past_last
from why502.findings.model import Finding


def _finding(cause: str, confidence: float, last: str | None, count: int = 3) -> Finding:
    return Finding(cause=cause, title=cause, confidence=confidence, status_codes=[502],
                   symptoms=[], explanation="", first_seen=last, last_seen=last, count=count)


NEWEST = datetime(2026, 11, 25, 6, 57, 0)


def test_yesterdays_cause_follows_todays_weak_one() -> None:
    old = _finding("backend-not-running", 0.57, "2026-11-24T06:57:03")
    today = _finding("unexplained-5xx", 0.39, "2026-11-25T06:57:00", count=6)
    assert [f.cause for f in _past_last([old, today], NEWEST)] == ["unexplained-5xx",
                                                                   "backend-not-running"]


def test_the_order_is_kept_within_each_time_and_without_a_current_failure() -> None:
    a = _finding("backend-too-slow", 0.9, "2026-11-25T06:56:00")
    b = _finding("backend-crashed", 0.6, "2026-11-25T06:50:00")
    old = _finding("backend-not-running", 0.95, "2026-11-24T20:00:00")
    assert _past_last([old, a, b], NEWEST) == [a, b, old]
    # only past findings and ones with no time (a config pitfall): nothing to put first
    lint = _finding("keepalive-race", 0.6, None)
    assert _past_last([old, lint], NEWEST) == [old, lint]
    assert _past_last([a, old], None) == [a, old]
