"""Whether two ``--format json`` reports say the same, their timing fields left out
(``generated_at``, ``elapsed_ms``: the rule of ``tests/support/reports.without_timing``).

Why: a speed change must not change what a command says; BENCHMARKS.md's "every report is the
same" lines are this script's answer on the outputs of the two trees compared.

    why502 diagnose --offline --access-log F --format json > a.json   # one tree
    why502 diagnose --offline --access-log F --format json > b.json   # the other
    python bench/same_report.py a.json b.json                          # SAME, or the keys that differ

Exit 0 when they are the same, 1 when not.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

TIMING = ("generated_at", "elapsed_ms")


def without_timing(doc: Any) -> Any:
    if isinstance(doc, dict):
        return {k: without_timing(v) for k, v in doc.items() if k not in TIMING}
    if isinstance(doc, list):
        return [without_timing(x) for x in doc]
    return doc


def main() -> int:
    if len(sys.argv) != 3:
        print("usage: same_report.py A.json B.json", file=sys.stderr)
        return 2
    a, b = (without_timing(json.loads(Path(p).read_text(encoding="utf-8"))) for p in sys.argv[1:])
    if a == b:
        print("SAME")
        return 0
    print("DIFFER")
    for key in sorted(set(a) | set(b)) if isinstance(a, dict) and isinstance(b, dict) else []:
        if a.get(key) != b.get(key):
            print(f"  {key}: {str(a.get(key))[:200]!r} != {str(b.get(key))[:200]!r}")
    return 1


if __name__ == "__main__":
    sys.exit(main())
