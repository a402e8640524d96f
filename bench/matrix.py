"""Run the whole fault matrix (``why502 lab matrix``), or join its shards, and write its table.

    .venv/bin/python bench/matrix.py                    # every cell, seed 1 (hours: see below)
    .venv/bin/python bench/matrix.py --sample 40 --seed 9
    .venv/bin/python bench/matrix.py --write docs/dev/fault-matrix.md
    .venv/bin/python bench/matrix.py --jobs 3          # 3 cells at a time (lab matrix --jobs)
    .venv/bin/python bench/matrix.py --shard 3/16 --jobs 2 --save bench/results/matrix/shard-03-of-16.json
    .venv/bin/python bench/matrix.py --merge bench/results/matrix/shard-*.json   # the table of the shards

It runs the command a user runs (``python -m why502 lab matrix --format json``), so the figure
is the CLI's; the table (cells right / reproduced / run per proxy, cause, backend, traffic and
noise, and every miss with why) is prefixed with the machine's load, the wall time and the
command.  Timings are reported, never asserted.

The whole matrix (960 cells, ~9 s a cell on a quiet machine, hours on a loaded one) is run in
shards: ``--shard K/N`` runs the cells whose name hashes to K (``why502.lab.matrix.shard_of``:
the same on every run, seed and machine), ``--save`` keeps the JSON, and ``--merge`` joins the
saved shards into one table with the calibration of the cells' confidences
(``bench/calibration.py``).  The table says "the whole matrix" only when every cell is there
exactly once; otherwise it says which are missing, doubled or no longer in the matrix.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from types import ModuleType

from why502.lab.matrix import CellResult, MatrixTable, merge

HERE = Path(__file__).resolve().parent


def _calibration() -> ModuleType:
    """bench/calibration.py, beside this file (bench/ is scripts, not a package)."""
    spec = importlib.util.spec_from_file_location("bench_calibration", HERE / "calibration.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def merged_table(paths: list[Path]) -> tuple[str, bool]:
    """The Markdown table of the shards at ``paths`` joined, and whether it is the whole matrix."""
    docs = []
    for path in paths:
        try:
            docs.append(json.loads(path.read_text(encoding="utf-8")))
        except (OSError, ValueError) as err:
            raise ValueError(f"{path.name}: not a `lab matrix --format json` file ({err})") from None
    joined = merge(docs)
    cal = _calibration()
    rows = cal.cell_outcomes([r.to_dict() for r in joined.results])
    calib, _ok = cal.table_of(rows)
    shards = ", ".join(sorted(joined.shards, key=lambda s: (len(s), s)))
    head = [f"**{joined.summary()}**", "", f"shards: {shards}", ""]
    for label, names in (("not run", joined.missing), ("run more than once", joined.duplicated),
                         ("not in the matrix", joined.unknown)):
        if names and len(names) <= 20:
            head += [f"{label}: {', '.join(names)}", ""]
    text = ("\n".join(head) + MatrixTable(joined.results).markdown()
            + f"\ncalibration of the reproduced cells' top findings ({len(rows)} cells):\n\n"
            + calib + "\n")
    return text, joined.whole


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--sample", type=int, default=0, help="cells to run (default: all)")
    ap.add_argument("--shard", metavar="K/N", help="run shard K of N only (lab matrix --shard)")
    ap.add_argument("--save", metavar="FILE", help="keep the run's JSON (for --merge later)")
    ap.add_argument("--merge", nargs="+", type=Path, metavar="FILE",
                    help="run nothing: join these shards' JSON into the table")
    ap.add_argument("--write", metavar="FILE", help="write the Markdown table to FILE")
    ap.add_argument("--jobs", type=int, default=1, help="cells at a time (default 1)")
    args = ap.parse_args()
    if args.merge:
        try:
            text, whole = merged_table(args.merge)
        except ValueError as err:
            print(f"bench/matrix.py: {err}", file=sys.stderr)
            return 2
        print(text)
        if args.write:
            Path(args.write).write_text(text, encoding="utf-8")
        return 0 if whole else 1
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "matrix.json"
        argv = [sys.executable, "-m", "why502", "lab", "matrix", "--seed", str(args.seed),
                "--format", "json"]
        if args.sample:
            argv += ["--sample", str(args.sample)]
        if args.shard:
            argv += ["--shard", args.shard]
        if args.jobs != 1:
            argv += ["--jobs", str(args.jobs)]
        # last, so the command shown below (argv[3:-2]) leaves out the temp file, not an option
        argv += ["-o", str(out)]
        load_before = os.getloadavg()
        start = time.monotonic()
        proc = subprocess.run(argv, stdout=subprocess.DEVNULL, check=False)
        wall = time.monotonic() - start
        load_after = os.getloadavg()
        doc = json.loads(out.read_text())
        if args.save:
            shutil.copyfile(out, args.save)
    results = [CellResult(**{k: v for k, v in c.items() if k != "right"}) for c in doc["cells"]]
    head = (f"`{' '.join(['why502', *argv[3:-2]])}`: {len(results)} cells in {wall / 60:.1f} min "
            f"(exit {proc.returncode}), load average {load_before[0]:.1f} before, "
            f"{load_after[0]:.1f} after, {os.cpu_count()} cores.\n\n")
    text = head + MatrixTable(results).markdown()
    print(text)
    if args.write:
        Path(args.write).write_text(text, encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
