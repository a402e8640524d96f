"""Calibrated confidence is data (catalog/data/calibration.toml) and a monotone map: it changes
the number people read, never which cause ranks first."""

from __future__ import annotations

import itertools

from why502.catalog.calibration import DATA, calibrate, points, uncalibrate


def test_the_measured_points_are_shipped_and_increasing() -> None:
    assert DATA.exists(), "bench/calibration.py --both --fit writes it"
    pts = points()
    assert pts[0] == (0.0, 0.0) and pts[-1][0] == 1.0 and len(pts) >= 4
    raws = [x for x, _ in pts]
    reported = [y for _, y in pts]
    assert raws == sorted(raws) and len(set(raws)) == len(raws)
    assert all(a < b for a, b in itertools.pairwise(reported)), pts


def test_calibrate_keeps_the_order_and_inverts() -> None:
    grid = [i / 100 for i in range(101)]
    out = [calibrate(x) for x in grid]
    assert out == sorted(out) and out[0] == 0.0 and out[-1] <= 1.0
    for x in (0.3, 0.55, 0.7, 0.85, 0.93):
        assert abs(uncalibrate(calibrate(x)) - x) < 0.02, x


def test_diagnose_reports_the_calibrated_number() -> None:
    """A refused backend that listens again scores 0.55 raw (the analyzer's proof strength);
    the finding says what 0.55 turned out to mean on the lab's runs."""
    from tests.diagnose.test_diagnose_analyzers import ev, group
    from why502.analyzers.rank import run_all
    from why502.facts.net import Listener

    e = ev(symptoms=(group("connection-refused"),),
           listeners=(Listener("tcp", "127.0.0.1", 8080, pid=7, process="python3"),))
    findings, _ = run_all(e)
    assert findings[0].cause == "backend-not-running"
    assert findings[0].confidence == calibrate(0.55) != 0.55
