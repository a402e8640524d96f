"""Calibrated confidence is data (catalog/data/calibration.toml) and a monotone map: it changes
the number people read, never which cause ranks first."""

from __future__ import annotations

import itertools

from why502.catalog.calibration import DATA, MOST, calibrate, points, uncalibrate


def test_the_measured_points_are_shipped_and_increasing() -> None:
    assert DATA.exists(), "bench/calibration.py --both --fit writes it"
    pts = points()
    assert pts[0] == (0.0, 0.0) and pts[-1][0] == 1.0 and len(pts) >= 4
    raws = [x for x, _ in pts]
    reported = [y for _, y in pts]
    assert raws == sorted(raws) and len(set(raws)) == len(raws)
    assert all(a < b for a, b in itertools.pairwise(reported)), pts


def test_calibrate_keeps_the_order_and_inverts() -> None:
    """Monotone, never certain, and invertible where it is not flat: the matrix's fit maps
    every strong raw score (from ~0.87) to 0.99, so there a reported number gives back the
    band's raw score, not the run's; below it ``uncalibrate`` gives back the raw score."""
    grid = [i / 100 for i in range(101)]
    out = [calibrate(x) for x in grid]
    assert out == sorted(out) and out[0] == 0.0 and out[-1] == MOST < 1.0
    for x in (0.3, 0.55, 0.7):
        assert abs(uncalibrate(calibrate(x)) - x) < 0.02, x
    for y in (0.39, 0.57, 0.73, 0.81, 0.95):
        assert abs(calibrate(uncalibrate(y)) - y) <= 0.01, y


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


def test_the_matrix_cells_give_the_reliability_table_and_its_error(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """``bench/calibration.py --matrix`` reads ``lab matrix`` cells: stated confidence vs right,
    harness failures left out, a healthy answer a claim at 1.0, and the expected calibration error
    (weighted |stated - observed| over the bands)."""
    import importlib.util
    import json
    from pathlib import Path

    path = Path(__file__).resolve().parents[2] / "bench" / "calibration.py"
    spec = importlib.util.spec_from_file_location("bench_calibration", path)
    assert spec is not None and spec.loader is not None
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)

    def cell(name: str, got: str | None, conf: float | None, right: bool, reproduced: bool = True) -> str:
        return json.dumps({"cell": name, "got": got, "confidence": conf, "right": right,
                           "reproduced": reproduced})

    # a cell wrong for another check than its top cause (watch named another) is a right claim
    watch = json.dumps({"cell": "w", "got": "backend-too-slow", "confidence": 0.97, "right": False,
                        "reproduced": True, "expected": "backend-too-slow"})
    lines = [cell("a", "backend-crashed", 0.95, True), cell("b", "backend-crashed", 0.95, False),
             cell("c", None, None, True), cell("d", "backend-too-slow", 0.6, True),
             cell("e", None, None, False, reproduced=False)]
    (tmp_path / "watch.jsonl").write_text(watch + "\n")
    assert bench.matrix_outcomes([tmp_path / "watch.jsonl"])[0][2] is True
    (tmp_path / "cells.jsonl").write_text("\n".join(lines) + "\n")
    rows = bench.matrix_outcomes([tmp_path / "cells.jsonl"])
    assert [(n, c, ok) for n, c, ok, _ in rows] == [("a", 0.95, True), ("b", 0.95, False),
                                                   ("c", 1.0, True), ("d", 0.6, True)]
    # bands: 0.5-0.7 {0.6, right}: |0.6 - 1| = 0.4; 0.9-1.01 {0.95, 0.95, 1.0; 2 of 3}: 0.3
    assert abs(bench.calibration_error(rows) - (1 / 4 * 0.4 + 3 / 4 * 0.3)) < 1e-9
    text, calibrated = bench.table_of(rows)
    assert "| 90%–100% | 3 | 97% | 2 | 67% |" in text and not calibrated
    assert "- wrong: b: got backend-crashed at 0.95" in text
    assert [c for _, c, _, _ in bench.matrix_outcomes([tmp_path / "cells.jsonl"], raw=True)][:2] == [
        uncalibrate(0.95)] * 2


def _bench():  # type: ignore[no-untyped-def]
    import importlib.util
    from pathlib import Path

    path = Path(__file__).resolve().parents[2] / "bench" / "calibration.py"
    spec = importlib.util.spec_from_file_location("bench_calibration_fit", path)
    assert spec is not None and spec.loader is not None
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    return bench


def test_the_matrix_fit_keeps_the_readings_without_evidence_and_holds_out_half() -> None:
    """``--matrix --fit`` refits the bands from raw 0.5 up and keeps the map's points under it
    (readings from the symptom alone never meet their competitors in a one-fault cell);
    ``--holdout`` fits on one half of the cells and judges the other."""
    bench = _bench()
    rows = ([(f"crash-{i}", 0.45, True, "backend-crashed") for i in range(40)]
            + [(f"slow-{i}", 0.75, True, "backend-too-slow") for i in range(40)]
            + [(f"five-{i}", 0.75, i % 10 != 0, "upstream-returned-5xx") for i in range(40)])
    pts = bench.fit_of(rows, 0.5, ((0.0, 0.0), (0.404, 0.53), (1.0, 1.0)))
    assert pts[0] == (0.404, 0.53)  # kept, not fitted to the 40 right crash readings
    # 80 cells at 0.75, 76 right, prior 20 runs of 0.75: (76 + 15) / 100
    assert pts[1] == (0.75, 0.91) and len(pts) == 2
    assert bench.fit_of(rows)[0][1] > 0.8  # fitted from 0: the readings' band rises to the mix
    mapped = bench.mapped(rows, pts)
    assert {c for n, c, _, _ in mapped if n.startswith("slow")} == {0.91}
    table = bench.holdout(rows, rows)
    assert table.count("\n| half ") == 2 and "| error, the refit |" in table
