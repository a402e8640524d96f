"""The suite's CPU records (``WHY502_SUITE_CPU``, ``tests/support/suite_cpu.py``) and their sums
(``bench/suite_cpu.py``, CONTRIBUTING.md): one test's record, written by a pytest run in a child
process, and the table that reads it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from tests.support.paths import ROOT_DIR

ONE = "tests/classify/test_classify_per_line.py::test_the_engine_reads_bigger_batches_and_fewer_fields"


def test_a_test_s_cpu_is_recorded_and_summed(tmp_path: Path) -> None:
    env = {**os.environ, "WHY502_SUITE_CPU": str(tmp_path / "cpu")}
    run = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", ONE],
                         cwd=ROOT_DIR, env=env, capture_output=True, text=True, timeout=300, check=False)
    assert run.returncode == 0, run.stdout[-2000:]
    (records,) = (tmp_path / "cpu").glob("*.jsonl")
    (row,) = [json.loads(line) for line in records.read_text().splitlines()]
    assert row["id"] == ONE and row["self"] > 0 and row["children"] >= 0 and row["wall"] > 0
    table = subprocess.run([sys.executable, str(ROOT_DIR / "bench" / "suite_cpu.py"), str(tmp_path / "cpu")],
                           capture_output=True, text=True, timeout=60, check=False)
    assert table.returncode == 0 and "1 tests:" in table.stdout and ONE in table.stdout, table.stdout
