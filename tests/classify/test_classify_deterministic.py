"""``classify --format json`` gives the same bytes for the same log under every hash seed.

The per-upstream symptom counts come from a group-by whose order follows Python's string hash;
ties (3 ``connection-refused`` and 3 ``upstream-marked-down`` lines at one Apache balancer
member) were written in that order, so the same log gave different JSON from one run to the
next (found by the before/after snapshots of issue 23: 6 classify outputs differed only there).
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

LOG = Path(__file__).resolve().parents[1] / "fixtures/recorded-proxies/apache/balancer-all-down.log"


def test_same_log_same_json_under_every_hash_seed() -> None:
    outputs = set()
    for seed in ("1", "2", "3", "4"):
        res = subprocess.run([sys.executable, "-m", "why502", "classify", "--format", "json", str(LOG)],
                             capture_output=True, text=True, timeout=120,
                             env=dict(os.environ, PYTHONHASHSEED=seed))
        assert res.returncode == 1, res.stderr  # failures found
        outputs.add(res.stdout)
    assert len(outputs) == 1
