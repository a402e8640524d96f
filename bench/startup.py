"""Start-up benchmark: `why502 --help`, `why502 explain 502`, `why502 explain backend-not-running`.

Target (docs/architecture.md "Speed is a feature"; issue #2): each under 150 ms wall time, and none of them
imports polars, rich or crossplane.  Compared, in the same run, with a bare `python -c pass`
(the interpreter's own start-up, which no CLI can beat).

    .venv/bin/python bench/startup.py            # 10 runs each (+1 warm-up), median/min/max
    .venv/bin/python bench/startup.py --runs 20 --json

Exit status 1 when a heavy module is imported on one of these paths (the timing is reported,
not enforced: it depends on the machine).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

TARGET_MS = 150.0
HEAVY = ("polars", "rich", "crossplane")
COMMANDS: list[tuple[str, list[str]]] = [
    ("why502 --help", ["--help"]),
    ("why502 explain 502", ["explain", "502"]),
    ("why502 explain backend-not-running", ["explain", "backend-not-running"]),
]


@dataclass
class Row:
    command: str
    median_ms: float
    min_ms: float
    max_ms: float
    heavy: list[str] = field(default_factory=list)
    top_imports: list[str] = field(default_factory=list)


def why502_argv() -> list[str]:
    """The console script next to this interpreter (what users run), else `python -m why502`."""
    script = Path(sys.executable).parent / "why502"
    if script.is_file() and os.access(script, os.X_OK):
        return [str(script)]
    found = shutil.which("why502")
    return [found] if found else [sys.executable, "-m", "why502"]


def time_runs(argv: list[str], runs: int) -> list[float]:
    """Wall time in ms of ``runs`` executions (after one warm-up run that fills the page cache)."""
    env = dict(os.environ, NO_COLOR="1")
    subprocess.run(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env, check=False)
    out = []
    for _ in range(runs):
        t0 = time.perf_counter()
        proc = subprocess.run(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env, check=False)
        out.append((time.perf_counter() - t0) * 1000)
        if proc.returncode not in (0, 2):  # --help exits 0; argparse usage errors 2
            raise SystemExit(f"{' '.join(argv)} failed: {proc.stderr.decode(errors='replace')[:200]}")
    return out


def imported_modules(args: list[str]) -> tuple[set[str], list[tuple[int, str]]]:
    """Top-level modules imported by ``why502 ARGS`` (python -X importtime), and the 5 costliest."""
    code = ("import sys\nfrom why502.cli.main import main\n"
            "try:\n    main(sys.argv[1:])\nexcept SystemExit:\n    pass\n")
    proc = subprocess.run([sys.executable, "-X", "importtime", "-c", code, *args],
                          capture_output=True, text=True, env=dict(os.environ, NO_COLOR="1"), check=False)
    mods: set[str] = set()
    costs: list[tuple[int, str]] = []
    for line in proc.stderr.splitlines():
        if not line.startswith("import time:") or "|" not in line or "cumulative" in line:
            continue
        _, cumulative, name = (part.strip() for part in line[len("import time:"):].split("|"))
        mods.add(name.split(".")[0])
        if not name.startswith(" ") and cumulative.isdigit():
            costs.append((int(cumulative), name.strip()))
    top = sorted(costs, reverse=True)[:5]
    return mods, top


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--json", action="store_true", help="machine-readable result")
    args = parser.parse_args()

    base = why502_argv()
    baseline = time_runs([sys.executable, "-c", "pass"], args.runs)
    rows = [Row("python -c pass (baseline)", statistics.median(baseline), min(baseline), max(baseline))]
    failed = False
    for label, cmd_args in COMMANDS:
        times = time_runs(base + cmd_args, args.runs)
        mods, top = imported_modules(cmd_args)
        heavy = sorted(m for m in HEAVY if m in mods)
        failed |= bool(heavy)
        rows.append(Row(label, statistics.median(times), min(times), max(times), heavy,
                        [f"{name} {us / 1000:.1f}ms" for us, name in top]))
    if args.json:
        print(json.dumps({"runs": args.runs, "target_ms": TARGET_MS, "python": sys.version.split()[0],
                          "argv": base, "results": [asdict(r) for r in rows]}, indent=2))
        return 1 if failed else 0
    print(f"why502 start-up: {args.runs} runs each after 1 warm-up; target < {TARGET_MS:.0f} ms; "
          f"python {sys.version.split()[0]}; {' '.join(base)}")
    print(f"{'command':<40} {'median':>8} {'min':>8} {'max':>8}  target  heavy imports")
    for r in rows:
        is_baseline = r.command.startswith("python")
        verdict = "" if is_baseline else ("ok" if r.median_ms < TARGET_MS else "SLOW")
        heavy_text = ", ".join(r.heavy) or ("-" if verdict else "")
        print(f"{r.command:<40} {r.median_ms:>6.1f}ms {r.min_ms:>6.1f}ms {r.max_ms:>6.1f}ms"
              f"  {verdict:<6}  {heavy_text}")
    for r in rows[1:]:
        print(f"  costliest imports for {r.command}: {', '.join(r.top_imports)}")
    if failed:
        print("FAIL: a heavy module (polars/rich/crossplane) is imported on a start-up path")
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
