"""The suite's CPU per test file and its costliest tests, from ``tests/support/suite_cpu.py``'s
records.

    WHY502_SUITE_CPU=/tmp/cpu scripts/test
    .venv/bin/python bench/suite_cpu.py /tmp/cpu [--files 40] [--tests 30]
"""

from __future__ import annotations

import argparse
import json
from collections import defaultdict
from pathlib import Path


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("records", type=Path, help="the WHY502_SUITE_CPU folder")
    ap.add_argument("--files", type=int, default=40)
    ap.add_argument("--tests", type=int, default=30)
    a = ap.parse_args()
    rows = [json.loads(line) for path in sorted(a.records.glob("*.jsonl"))
            for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    if not rows:
        print(f"no records in {a.records}")
        return 1
    files: dict[str, list[float]] = defaultdict(lambda: [0.0, 0.0, 0.0, 0.0])
    for r in rows:
        f = files[r["id"].split("::", 1)[0]]
        f[0] += r["self"]
        f[1] += r["children"]
        f[2] += r["wall"]
        f[3] += 1
    me, kids = sum(f[0] for f in files.values()), sum(f[1] for f in files.values())
    print(f"{len(rows)} tests: {me + kids:,.0f} CPU-s "
          f"({me:,.0f} in the workers, {kids:,.0f} in their children)")
    print("\n| CPU-s | workers | children | tests | file |\n|---|---|---|---|---|")
    for name, (s, c, _w, n) in sorted(files.items(), key=lambda kv: -(kv[1][0] + kv[1][1]))[:a.files]:
        print(f"| {s + c:.1f} | {s:.1f} | {c:.1f} | {n:.0f} | {name} |")
    print("\n| CPU-s | wall s | test |\n|---|---|---|")
    for r in sorted(rows, key=lambda r: -(r["self"] + r["children"]))[:a.tests]:
        print(f"| {r['self'] + r['children']:.1f} | {r['wall']:.1f} | {r['id']} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
