"""Run the whole fault matrix (``why502 lab matrix``) and write its table to the docs.

    .venv/bin/python bench/matrix.py                    # every cell, seed 1
    .venv/bin/python bench/matrix.py --sample 40 --seed 9
    .venv/bin/python bench/matrix.py --write docs/dev/fault-matrix.md
    .venv/bin/python bench/matrix.py --jobs 3          # 3 cells at a time (lab matrix --jobs)

It runs the command a user runs (``python -m why502 lab matrix --format json``), so the figure
is the CLI's; the table (cells right / reproduced / run per proxy, cause, backend, traffic and
noise, and every miss with why) is prefixed with the machine's load, the wall time and the
command.  Timings are reported, never asserted.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from why502.lab.matrix import CellResult, MatrixTable


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--sample", type=int, default=0, help="cells to run (default: all)")
    ap.add_argument("--write", metavar="FILE", help="write the Markdown table to FILE")
    ap.add_argument("--jobs", type=int, default=1, help="cells at a time (default 1)")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "matrix.json"
        argv = [sys.executable, "-m", "why502", "lab", "matrix", "--seed", str(args.seed),
                "--format", "json"]
        if args.sample:
            argv += ["--sample", str(args.sample)]
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
