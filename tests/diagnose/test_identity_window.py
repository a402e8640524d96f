"""``identity.near_failure``: a failure of the group inside [t - BEFORE, t + after].

It now asks the group's times sorted once (a binary search) instead of each time in turn; the
answer must be the plain one on every shape: times out of order, repeated, at the window's
edges, none at all (then ``first``/``last``)."""

from __future__ import annotations

import random
from datetime import datetime, timedelta

from why502.analyzers.identity import AFTER, BEFORE, TIGHT_AFTER, near_failure
from why502.evidence.model import SymptomGroup


def _plain(g: SymptomGroup, t: datetime | None, after: timedelta) -> bool:
    if t is None:
        return False
    times = g.times or tuple(x for x in (g.first, g.last) if x)
    return any(t - BEFORE <= x <= t + after for x in times)


def test_the_sorted_search_is_the_plain_answer() -> None:
    rng = random.Random(48)
    base = datetime(2026, 11, 26, 0, 0, 0)
    for _ in range(3000):
        n = rng.choice([0, 1, 2, 5, 300])
        times = tuple(base + timedelta(seconds=rng.randint(0, 900)) for _ in range(n))
        first = min(times) if times else rng.choice([None, base])
        last = max(times) if times else rng.choice([None, base + timedelta(seconds=60)])
        g = SymptomGroup("connection-refused", "127.0.0.1:9000", n or 1, first=first, last=last, times=times)
        t = rng.choice([None, base + timedelta(seconds=rng.randint(-400, 1300))])
        if times and rng.random() < 0.3:  # on a window's edge exactly
            t = rng.choice(times) + rng.choice([BEFORE, -TIGHT_AFTER, -AFTER])
        for after in (AFTER, TIGHT_AFTER):
            assert near_failure(g, t, after) == _plain(g, t, after)


def test_a_group_asked_again_gets_its_own_times() -> None:
    base = datetime(2026, 11, 26, 0, 0, 0)
    early = SymptomGroup("x", None, 1, times=(base,))
    late = SymptomGroup("x", None, 1, times=(base + timedelta(hours=1),))
    for _ in range(2):  # the second ask of each is served sorted from the first
        assert near_failure(early, base, TIGHT_AFTER)
        assert not near_failure(late, base, TIGHT_AFTER)
