"""Calibration: does a confidence of 90% mean "right 90% of the time"?

For every lab run, the top finding's confidence and whether it named the scenario's cause; the
table groups them in confidence bands and prints, per band, how often the top finding was right.
A band whose hit rate falls below its lower bound is over-confident (exit status 1).

    .venv/bin/python bench/calibration.py              # the recorded lab runs, offline (seconds)
    .venv/bin/python bench/calibration.py --noisy      # ... each on the recorded noisy baseline
    .venv/bin/python bench/calibration.py --both       # both: every recorded run, clean and noisy
    .venv/bin/python bench/calibration.py --live       # run every lab scenario now (minutes; nginx)
    .venv/bin/python bench/calibration.py --live --noisy   # ... on a noisy host's baseline
    .venv/bin/python bench/calibration.py --matrix FILE... # the fault matrix's cells (issue 25)
    .venv/bin/python bench/calibration.py --matrix FILE... --fit   # refit the map from them
    .venv/bin/python bench/calibration.py --matrix FILE... --holdout   # the refit, out of sample

``--matrix`` reads cells that ``why502 lab matrix --format json -o FILE`` wrote (or one cell's
JSON per line): each cell's top finding, the confidence it was stated at and whether it named
the cell's cause.  A cell that did not reproduce (a harness failure) says nothing about the
confidence and is left out.  For ``--fit`` the raw score behind each stated confidence is the
inverse of the map the cells ran with (``uncalibrate``), so run the cells on the map in place.

Offline, each recorded run (tests/fixtures/recorded/) is diagnosed from its logs and config with
the socket table of the recording (where its backends listened); live, ``diagnose`` also probes.
A run whose expected cause is none (a near miss, the healthy control) is right when there is no
finding.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import shutil
import tempfile
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

from why502.catalog import calibration
from why502.catalog.calibration import DATA, uncalibrate
from why502.facts.net import Listener, split_key

if TYPE_CHECKING:  # diagnose is imported where runs are diagnosed: reading cells needs none of it
    from why502.findings.model import Report

ROOT = Path(__file__).resolve().parent.parent
RECORDED = ROOT / "tests" / "fixtures" / "recorded"
BANDS = ((0.0, 0.5), (0.5, 0.7), (0.7, 0.8), (0.8, 0.9), (0.9, 1.01))


def _offline_runs(noisy: bool = False) -> list[tuple[str, str | None, Report]]:
    from why502.app.diagnose import DiagnoseOptions
    from why502.app.diagnose.gather import gather
    from why502.app.diagnose.report import report_from
    from why502.lab.noise_replay import replay

    out = []
    with tempfile.TemporaryDirectory(prefix="why502-calibration-") as tmp:
        for meta_file in sorted(RECORDED.glob("*/meta.json")):
            meta = json.loads(meta_file.read_text())
            root = Path(tmp) / meta["scenario"]
            shutil.copytree(meta_file.parent, root)
            placeholder = meta.get("root_placeholder", "/lab")
            for f in root.rglob("*"):
                if f.is_file():
                    f.write_text(f.read_text(errors="surrogateescape").replace(placeholder, str(root)),
                                 errors="surrogateescape")
            files = meta["files"]
            extra: tuple[Listener, ...] = ()
            if noisy and "error_log" not in files:
                # the noisy baseline is a host's error and access logs laid over the
                # recording's (lab.noise_replay): an edge recording with one log has none
                print(f"skip {meta['scenario']} (noisy): no error log to lay the baseline over")
                continue
            if noisy:
                files, extra = replay(root, meta)
            nginx = "nginx_conf" in files
            options = DiagnoseOptions(
                default_proxy_config=str(root / files["nginx_conf"]) if nginx else None,
                config=None if nginx else str(root / files["config"]),
                error_logs=[str(root / files["error_log"])] if "error_log" in files else [],
                # every proxy's access log, as the CLI's --access-log hands it to diagnose
                access_logs=[str(root / files["access_log"])] if "access_log" in files else [],
                app_logs=[str(root / files["app_log"])] if "app_log" in files else [],
                fpm_conf=str(root / files["fpm_conf"]) if "fpm_conf" in files else None,
                fpm_logs=[str(root / files["fpm_log"])] if "fpm_log" in files else [],
                kernel_log=str(root / files["kernel_log"]) if "kernel_log" in files else None,
                offline=True)
            g = gather(options)
            ev = g.evidence  # the listening sockets are the host's facts (evidence.model.HostFacts)
            host = replace(ev.host, listeners=_listeners(meta, str(root)) + extra)
            g = replace(g, evidence=replace(ev, host=host))
            out.append((meta["scenario"] + (" (noisy)" if noisy else ""), meta.get("cause"),
                        report_from(g)))
    return out


def _listeners(meta: dict[str, object], root: str) -> tuple[Listener, ...]:
    out = []
    for b in meta.get("backends", []):  # type: ignore[attr-defined]
        host, port, _ = split_key(b["address"])
        out.append(Listener("tcp6" if ":" in (host or "") else "tcp", host, port, process="python3"))
    for p in meta.get("fpm_pools", []):  # type: ignore[attr-defined]
        listen = str(p["listen"]).replace(meta.get("root_placeholder", "/lab"), root)  # type: ignore[arg-type]
        if listen.startswith("/"):
            out.append(Listener("unix", path=listen, process="php-fpm8.2"))
        else:
            host, port, _ = split_key(listen if ":" in listen else f"0.0.0.0:{listen}")
            out.append(Listener("tcp", host, port, process="php-fpm8.2"))
    return tuple(out)


def _live_runs(noisy: bool) -> list[tuple[str, str | None, Report]]:
    from why502.app.diagnose import diagnose
    from why502.lab.runtime import LabError, LabSkip, Stack
    from why502.lab.scenarios import RECORDINGS

    out = []
    for name, scenario in RECORDINGS.items():
        try:
            with Stack() as stack:
                result = scenario.run(stack, noisy=noisy)
                with stack.inside():
                    out.append((name + (" (noisy)" if noisy else ""), scenario.cause,
                                diagnose(result.diagnose_options(stack))))
        except (LabSkip, LabError) as err:
            print(f"skip {name}: {err}")
    return out


Run = tuple[str, "str | None", "Report"]
PRIOR_RUNS = 20  # the fit trusts a band of n runs as (hits + 20 x its raw score) / (n + 20)


def outcomes(runs: list[Run], raw: bool = False) -> list[tuple[str, float, bool, str]]:
    """(run, confidence of the top finding, right?, what it said) per run; ``raw``: the
    analyzers' score before calibration (``catalog.calibration.uncalibrate``).  A healthy
    answer is a claim too (confidence 1.0)."""
    out = []
    for name, cause, report in runs:
        top = report.findings[0] if report.findings else None
        conf = top.confidence if top else 1.0
        if raw and top is not None:
            conf = uncalibrate(conf)
        out.append((name, conf, (top.cause if top else None) == cause, top.cause if top else "healthy"))
    return out


Outcome = tuple[str, float, bool, str]


def matrix_outcomes(paths: list[Path], raw: bool = False) -> list[Outcome]:
    """``outcomes`` of fault-matrix cells (``lab matrix --format json`` output, or JSON lines),
    reproduced cells only; a healthy answer is a claim at 1.0, as in ``outcomes``."""
    cells: list[dict[str, object]] = []
    for path in paths:
        text = path.read_text(encoding="utf-8")
        if text.lstrip().startswith("{\n") or '"cells"' in text[:200]:
            cells += json.loads(text)["cells"]
        else:
            cells += [json.loads(line) for line in text.splitlines() if line.strip()]
    return cell_outcomes(cells, raw)


def cell_outcomes(cells: list[dict[str, object]], raw: bool = False) -> list[Outcome]:
    """``matrix_outcomes`` of cells already read (bench/matrix.py --merge: the shards, joined)."""
    out = []
    for c in cells:
        if not c.get("reproduced"):
            continue
        got = c.get("got")
        conf = float(c["confidence"]) if got is not None and c.get("confidence") is not None else 1.0  # type: ignore[arg-type]
        if raw and got is not None:
            conf = uncalibrate(conf)
        # the claim is the top cause: right when it is the cell's (a cell's other checks, such
        # as watch naming the same cause, are not what the confidence states)
        right = (got or "healthy") == c["expected"] if "expected" in c else bool(c["right"])
        out.append((str(c["cell"]), conf, right, str(got or "healthy")))
    return out


def calibration_error(rows_of: list[Outcome]) -> float:
    """Expected calibration error over ``BANDS``: the mean, weighted by runs, of each band's
    |mean stated confidence - hit rate|."""
    total, err = len(rows_of), 0.0
    for lo, hi in BANDS:
        inside = [(c, ok) for _, c, ok, _ in rows_of if lo <= c < hi]
        if inside:
            mean = sum(c for c, _ in inside) / len(inside)
            err += len(inside) / total * abs(mean - sum(ok for _, ok in inside) / len(inside))
    return err


def table(runs: list[Run], raw: bool = False) -> tuple[str, bool]:
    """The calibration table (Markdown) and whether no band is right less often than it says
    (beyond 10 points)."""
    return table_of(outcomes(runs, raw))


def table_of(rows_of: list[Outcome]) -> tuple[str, bool]:
    """``table`` of outcomes (lab runs or matrix cells)."""
    rows = ["| confidence | runs | mean confidence | top finding right | hit rate |",
            "|---|---|---|---|---|"]
    calibrated = True
    wrong: list[str] = []
    for lo, hi in BANDS:
        inside = [(c, ok) for _, c, ok, _ in rows_of if lo <= c < hi]
        if not inside:
            continue
        hits = sum(ok for _, ok in inside)
        rate = hits / len(inside)
        mean = sum(c for c, _ in inside) / len(inside)
        calibrated &= rate >= mean - 0.10
        label = f"{lo:.0%}–{min(hi, 1.0):.0%}"
        rows.append(f"| {label} | {len(inside)} | {mean:.0%} | {hits} | {rate:.0%} |")
    for name, c, ok, got in rows_of:
        if not ok:
            wrong.append(f"{name}: got {got} at {c:.2f}")
    error = calibration_error(rows_of) if rows_of else 0.0
    rows.append(f"\ncalibration error (expected, over the bands): {error:.3f}")
    return "\n".join(rows + [""] + [f"- wrong: {w}" for w in wrong]), calibrated


def fit(runs: list[Run]) -> list[tuple[float, float]]:
    """``(raw, reported)`` points from runs diagnosed without a map (``--fit``): per band of raw
    scores (healthy answers left out: they are
    not an analyzer's score), the hit rate smoothed towards the band's mean raw score by
    :data:`PRIOR_RUNS`, then made increasing and kept below 1."""
    return fit_of(outcomes(runs))


# Raw scores under this are readings without positive evidence: the symptom alone (a reset
# with no crash record, analyzers.backend_death 0.45; analyzers.unexplained 0.3), a past
# incident, a config-only pitfall (rank.MIN_UNOBSERVED, the same 0.5, keeps those out of a
# diagnosis).  A fault-matrix cell holds one fault, so such a reading never meets the causes it
# competes with in the field (a keep-alive race, a kill the app server logged elsewhere): the
# matrix would fit it to its own mix (all 94 of its cells right) and report "the symptom alone"
# at 0.9.  The matrix refits the bands above this; the points under it are kept.
MATRIX_FIT_FROM = 0.5


def fit_of(rows_of: list[Outcome], fit_from: float = 0.0,
           kept: tuple[tuple[float, float], ...] = ()) -> list[tuple[float, float]]:
    """``fit`` of outcomes whose confidences are raw scores; bands under ``fit_from`` are not
    fitted: ``kept``'s points under it (the map in place) stand for them."""
    scored = [(c, ok) for (_, c, ok, got) in rows_of if got != "healthy" and c >= fit_from]
    pts: list[tuple[float, float]] = [(x, y) for x, y in kept if 0.0 < x < fit_from]
    for lo, hi in BANDS:
        inside = [(c, ok) for c, ok in scored if max(lo, fit_from) <= c < hi]
        if not inside:
            continue
        mean = sum(c for c, _ in inside) / len(inside)
        hits = sum(ok for _, ok in inside)
        pts.append((round(mean, 3), (hits + PRIOR_RUNS * mean) / (len(inside) + PRIOR_RUNS)))
    out: list[tuple[float, float]] = []
    for x, y in pts:
        y = min(0.99, max(y, out[-1][1] + 0.01 if out else y))
        out.append((x, round(y, 3)))
    return out


def mapped(rows_of: list[Outcome], pts: list[tuple[float, float]]) -> list[Outcome]:
    """Raw-score outcomes as a map of ``pts`` would report them (healthy claims stay at 1.0),
    through the product's own ends and interpolation (``catalog.calibration``)."""
    full = calibration.complete(pts)
    return [(n, c if got == "healthy" else round(calibration.interpolate(c, full), 2), ok, got)
            for n, c, ok, got in rows_of]


def holdout(stated: list[Outcome], raw: list[Outcome]) -> str:
    """Two-fold check of a refit: the cells split in two halves by a hash of their names (the
    same split on every run), the map fitted on one half and judged on the other, both ways.
    The in-sample error of a fit says little about cells it has not seen; this says more."""
    def half(name: str) -> int:
        return hashlib.sha256(name.encode()).digest()[0] & 1

    lines = ["| fitted on | judged on | cells | error, the map they ran with | error, the refit |",
             "|---|---|---|---|---|"]
    for k in (0, 1):
        train = [r for r in raw if half(r[0]) == k]
        test_raw = [r for r in raw if half(r[0]) != k]
        test_stated = [r for r in stated if half(r[0]) != k]
        refit = mapped(test_raw, matrix_fit(train))
        lines.append(f"| half {k} ({len(train)}) | half {1 - k} | {len(test_raw)} | "
                     f"{calibration_error(test_stated):.3f} | {calibration_error(refit):.3f} |")
    return "\n".join(lines)


def matrix_fit(raw_rows: list[Outcome]) -> list[tuple[float, float]]:
    """The map fitted on matrix cells: bands from :data:`MATRIX_FIT_FROM` up, the map in place
    under it."""
    return fit_of(raw_rows, MATRIX_FIT_FROM, calibration.points())


def write_fit(pts: list[tuple[float, float]], n: int, kind: str) -> None:
    lines = ["# Calibrated confidence (why502.catalog.calibration): raw analyzer score -> reported.",
             f"# Written by bench/calibration.py --fit over {n} {kind}; "
             f"prior {PRIOR_RUNS} runs per band.", ""]
    for x, y in pts:
        lines += ["[[point]]", f"raw = {x}", f"reported = {y}", ""]
    DATA.write_text("\n".join(lines))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--live", action="store_true", help="run the lab scenarios (needs nginx)")
    parser.add_argument("--noisy", action="store_true", help="on a noisy host's baseline")
    parser.add_argument("--both", action="store_true", help="clean and noisy runs together")
    parser.add_argument("--matrix", nargs="+", type=Path, metavar="FILE",
                        help="fault-matrix cells (lab matrix --format json, or JSON lines)")
    parser.add_argument("--fit", action="store_true",
                        help="write catalog/data/calibration.toml from these runs' raw scores")
    parser.add_argument("--holdout", action="store_true",
                        help="with --matrix: fit on half the cells, judge on the other half")
    args = parser.parse_args()
    if args.matrix:
        stated = matrix_outcomes(args.matrix)
        if args.holdout:
            print(holdout(stated, matrix_outcomes(args.matrix, raw=True)))
            return 0
        if args.fit:
            raw_rows = matrix_outcomes(args.matrix, raw=True)
            print("raw analyzer scores (the map the cells ran with, inverted):\n"
                  + table_of(raw_rows)[0] + "\n")
            write_fit(matrix_fit(raw_rows), len(raw_rows),
                      f"fault-matrix cells (bench/calibration.py --matrix; raw under {MATRIX_FIT_FROM}: "
                      "the points in place kept)")
            print(f"wrote {DATA}")
            return 0
        text, calibrated = table_of(stated)
        print(f"{len(stated)} reproduced matrix cells")
        print(text)
        return 0 if calibrated else 1
    if args.fit:
        # measure the analyzers' raw scores: no map while these runs are diagnosed
        calibration.DATA = DATA.with_name("no-calibration-while-fitting.toml")
        calibration.points.cache_clear()
    if args.live:
        runs = _live_runs(False) + _live_runs(True) if args.both else _live_runs(args.noisy)
    else:
        runs = _offline_runs(False) + _offline_runs(True) if args.both else _offline_runs(args.noisy)
    if args.fit:
        raw_text, _ = table(runs)
        print("raw analyzer scores (before calibration):\n" + raw_text + "\n")
        write_fit(fit(runs), len(runs), "lab runs (live)" if args.live else "lab runs (recorded, offline)")
        print(f"wrote {DATA}; run again without --fit for the calibrated table")
        return 0
    text, calibrated = table(runs)
    kind = ("live" if args.live else "recorded, offline") + (
        ", clean + noisy" if args.both else ", noisy" if args.noisy else "")
    print(f"{len(runs)} runs ({kind})")
    print(text)
    return 0 if calibrated else 1


if __name__ == "__main__":
    raise SystemExit(main())
