"""Calibrated confidence: what "90%" means, as data measured on the lab's runs.

The analyzers score a cause from its evidence (an analyzer's *raw* confidence: how strong that
kind of proof is).  Whether a raw 0.85 is right 85% of the time is a question of data, so the
answer is data: ``catalog/data/calibration.toml`` holds points ``raw -> reported`` measured by
``bench/calibration.py --matrix FILE... --fit`` over the whole fault matrix (issue 25: 960 cells,
faults the rules were not each written for; before, ``--both --fit`` over the recorded lab runs,
clean and on the noisy baseline): for each confidence band, how often the top finding named the
real cause, smoothed towards the raw value by a prior worth ``prior_runs`` runs (a band of 8
right runs is not proof of 100%) and made monotone.  Raw scores under 0.5 (readings without
positive evidence, such as a reset with no crash record) keep the points fitted before: a
matrix cell holds one fault, so such a reading never meets its field competitors there
(``bench/calibration.py`` ``MATRIX_FIT_FROM``).  ``calibrate()`` maps a raw confidence through
those points (linear in between); ``uncalibrate()`` is its inverse, so the bench measures raw
scores from a report.

Only the reported number changes: the ranking and the folding use the raw scores, and a
monotone map keeps every order.
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Iterable
from functools import lru_cache
from pathlib import Path

from why502.catalog import tomldata

DATA = Path(__file__).resolve().parent / "data" / "calibration.toml"


@lru_cache(maxsize=1)
def points() -> tuple[tuple[float, float], ...]:
    """The ``(raw, reported)`` points, raw ascending, from 0 to 1 (identity when no data)."""
    try:
        data = tomldata.load(DATA)
    except (OSError, tomldata.TOMLDecodeError):
        return ((0.0, 0.0), (1.0, 1.0))
    return complete((float(p["raw"]), float(p["reported"])) for p in data.get("point", []))


def complete(fitted: Iterable[tuple[float, float]]) -> tuple[tuple[float, float], ...]:
    """Fitted ``(raw, reported)`` points as a whole map from 0 to 1: raw ascending, (0, 0)
    and (1, 1) added where the fit stops short (the bench judges a fit through the same ends)."""
    pts = sorted(fitted)
    if not pts or pts[0][0] > 0.0:
        pts.insert(0, (0.0, 0.0))
    if pts[-1][0] < 1.0:
        pts.append((1.0, max(pts[-1][1], 1.0)))
    return tuple(pts)


def interpolate(x: float, pts: tuple[tuple[float, float], ...]) -> float:
    i = bisect_right([p[0] for p in pts], x)
    if i <= 0:
        return pts[0][1]
    if i >= len(pts):
        return pts[-1][1]
    (x0, y0), (x1, y1) = pts[i - 1], pts[i]
    return y0 if x1 == x0 else y0 + (y1 - y0) * (x - x0) / (x1 - x0)


# No finding is reported as certain: the fit's top band is a finite count of runs (the matrix's
# 706 cells right at raw >= 0.9 say "about 99 in 100", not "always"), and the map's end point
# (1.0, 1.0) would otherwise round a strong raw score up to 1.00.
MOST = 0.99


def calibrate(raw: float) -> float:
    """The reported confidence of an analyzer's raw score (rounded to 2 places, at most
    :data:`MOST`)."""
    return round(min(MOST, max(0.0, interpolate(raw, points()))), 2)


def uncalibrate(reported: float) -> float:
    """The raw score behind a reported confidence (the inverse map; for the bench)."""
    inverse = tuple(sorted((y, x) for x, y in points()))
    return round(interpolate(reported, inverse), 3)
