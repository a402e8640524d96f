"""``diagnose --format json`` gives the same report for the same inputs under every hash seed.

A timeline point's counts (``timeline[].counts``) were written in the order the error log's
symptoms were aggregated, which follows Python's string hash: the same Apache balancer log gave
``{"503": 3, "upstream-marked-down": 3}`` in one run and the keys swapped in the next (found
by the before/after snapshots of issue 23, stop 36).  Only the run's own clock
(``generated_at``, ``elapsed_ms``) may differ.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

APACHE = Path(__file__).resolve().parents[1] / "fixtures/recorded-proxies/apache"


def _report(seed: str) -> str:
    res = subprocess.run([sys.executable, "-m", "why502", "diagnose", "--offline", "--proxy", "apache",
                          "--config", str(APACHE / "balancer-all-down.conf"),
                          "--error-log", str(APACHE / "balancer-all-down.log"), "--format", "json"],
                         capture_output=True, text=True, timeout=120,
                         env=dict(os.environ, PYTHONHASHSEED=seed))
    assert res.returncode == 1, res.stderr
    doc = json.loads(res.stdout)
    for key in ("generated_at", "elapsed_ms"):
        doc.pop(key, None)
        doc.get("inputs", {}).pop(key, None)
    return json.dumps(doc)  # key order kept: what is compared is what was written


def test_same_inputs_same_report_under_every_hash_seed() -> None:
    assert len({_report(seed) for seed in ("1", "2", "3", "4", "5", "6")}) == 1
