"""Calibration: does a confidence of 90% mean "right 90% of the time"?

For every lab run, the top finding's confidence and whether it named the scenario's cause; the
table groups them in confidence bands and prints, per band, how often the top finding was right.
A band whose hit rate falls below its lower bound is over-confident (exit status 1).

    .venv/bin/python bench/calibration.py              # the recorded lab runs, offline (seconds)
    .venv/bin/python bench/calibration.py --live       # run every lab scenario now (minutes; nginx)
    .venv/bin/python bench/calibration.py --live --noisy   # ... on a noisy host's baseline

Offline, each recorded run (tests/fixtures/recorded/) is diagnosed from its logs and config with
the socket table of the recording (where its backends listened); live, ``diagnose`` also probes.
A run whose expected cause is none (a near miss, the healthy control) is right when there is no
finding.
"""

from __future__ import annotations

import argparse
import json
import shutil
import tempfile
from dataclasses import replace
from pathlib import Path

from why502.app.diagnose import DiagnoseOptions, gather, report_from
from why502.facts.net import Listener, split_key
from why502.findings.model import Report

ROOT = Path(__file__).resolve().parent.parent
RECORDED = ROOT / "tests" / "fixtures" / "recorded"
BANDS = ((0.0, 0.5), (0.5, 0.7), (0.7, 0.8), (0.8, 0.9), (0.9, 1.01))


def _offline_runs() -> list[tuple[str, str | None, Report]]:
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
            options = DiagnoseOptions(
                nginx_conf=str(root / files["nginx_conf"]), error_logs=[str(root / files["error_log"])],
                access_logs=[str(root / files["access_log"])] if "access_log" in files else [],
                fpm_conf=str(root / files["fpm_conf"]) if "fpm_conf" in files else None,
                fpm_logs=[str(root / files["fpm_log"])] if "fpm_log" in files else [],
                kernel_log=str(root / files["kernel_log"]) if "kernel_log" in files else None,
                offline=True)
            g = gather(options)
            g = replace(g, evidence=replace(g.evidence, listeners=_listeners(meta, str(root))))
            out.append((meta["scenario"], meta.get("cause"), report_from(g)))
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
                    out.append((name, scenario.cause, diagnose(result.diagnose_options(stack))))
        except (LabSkip, LabError) as err:
            print(f"skip {name}: {err}")
    return out


def table(runs: list[tuple[str, str | None, Report]]) -> tuple[str, bool]:
    """The calibration table (Markdown) and whether every band is at least as right as it says."""
    rows = ["| confidence | runs | top finding right | hit rate |", "|---|---|---|---|"]
    calibrated = True
    wrong: list[str] = []
    for lo, hi in BANDS:
        inside = []
        for name, cause, report in runs:
            top = report.findings[0] if report.findings else None
            conf = top.confidence if top else 1.0  # "healthy" is a claim too
            if lo <= conf < hi:
                right = (top.cause if top else None) == cause
                inside.append(right)
                if not right:
                    wrong.append(f"{name}: expected {cause}, got {top.cause if top else 'healthy'}"
                                 f" at {conf:.2f}")
        if not inside:
            continue
        rate = sum(inside) / len(inside)
        calibrated &= rate >= lo
        label = f"{lo:.0%}–{min(hi, 1.0):.0%}"
        rows.append(f"| {label} | {len(inside)} | {sum(inside)} | {rate:.0%} |")
    return "\n".join(rows + [""] + [f"- wrong: {w}" for w in wrong]), calibrated


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--live", action="store_true", help="run the lab scenarios (needs nginx)")
    parser.add_argument("--noisy", action="store_true", help="with --live: on a noisy host's baseline")
    args = parser.parse_args()
    runs = _live_runs(args.noisy) if args.live else _offline_runs()
    text, calibrated = table(runs)
    kind = ("live" + (", noisy" if args.noisy else "")) if args.live else "recorded, offline"
    print(f"{len(runs)} runs ({kind})")
    print(text)
    return 0 if calibrated else 1


if __name__ == "__main__":
    raise SystemExit(main())
