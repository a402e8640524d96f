"""The tables that grew with the log are bounded, and the answers stay the same.

- The error log's rows for the per-request join go to disk by partition beyond a threshold
  (``app.stats.errorlog.JoinRows``, ``evidence.stats.join.ErrorParts``): the join partition by
  partition must give the counts the in-memory join gives.
- The host table and the 5xx-by-URI/client tables are pruned to their top half at
  ``MAX_KEYS`` distinct keys: the heavy hitters and the exact totals stay, a note says so.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import polars as pl
import pytest

from tests.support.genlog import generate
from why502.app.stats import errorlog
from why502.app.stats.run import StatsOptions, run_stats
from why502.evidence.stats import breakdown
from why502.evidence.stats.model import HostCounts


@pytest.fixture(scope="module")
def logs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("bounded")
    generate(20_000, out, seed=16, rate=30.0)
    return out


def _stats(out: Path) -> dict[str, Any]:
    st, _ = run_stats(StatsOptions(paths=[str(out / "access.log")], log_format="why502",
                                   error_logs=[str(out / "error.log")], stdin_default=False))
    return st.to_dict()


def test_join_on_disk_by_partition_equals_the_join_in_memory(
    logs: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    whole = _stats(logs)
    assert whole["errorlog"]["matched_5xx"] > 100  # the log has a real join to compare
    monkeypatch.setattr(errorlog, "SPILL_ROWS", 50)  # a few hundred error lines: partitioned
    parted = _stats(logs)
    keys = ("lines", "matched_5xx", "unmatched_5xx", "unmatched_with_backend_header",
            "upstream_agrees", "host_agrees", "error_lines_used", "error_lines_unused", "by_symptom")
    assert {k: parted["errorlog"][k] for k in keys} == {k: whole["errorlog"][k] for k in keys}
    for key in ("made_by", "by_uri", "by_client", "requests_5xx", "by_status", "upstreams"):
        assert parted[key] == whole[key], key


def test_rows_spilled_for_the_join_are_removed(logs: Path, monkeypatch: pytest.MonkeyPatch,
                                               tmp_path: Path) -> None:
    monkeypatch.setattr(errorlog, "SPILL_ROWS", 50)
    monkeypatch.setenv("TMPDIR", str(tmp_path))
    monkeypatch.setattr("tempfile.tempdir", None)
    _stats(logs)
    left = [p for p in tmp_path.rglob("*") if p.is_file()]
    assert left == []


def test_host_table_keeps_heavy_hitters_and_says_it_was_cut() -> None:
    hosts = HostCounts(max_keys=100)
    for start in range(0, 5000, 500):  # batches of rows, as the reader folds them
        rows = [(f"unique-{i}.example", 1, 0) for i in range(start, start + 500)]
        rows += [("busy.example", 3, 1), ("other.example", 2, 0)] * 50
        hosts.add_frame(pl.DataFrame(rows, schema=["host", "requests", "5xx"], orient="row"))
    top = hosts.top(2)
    assert top[0] == ("busy.example", 1500, 500)
    assert top[1][0] == "other.example" and top[1][1] == 1000
    assert len(hosts) <= 100
    note = hosts.note()
    assert note is not None and "more than 100 distinct hosts" in note


def test_5xx_by_uri_table_is_pruned_with_a_note(logs: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    whole = _stats(logs)
    monkeypatch.setattr(breakdown, "MAX_KEYS", 4)
    cut = _stats(logs)
    assert cut["by_uri"][0] == whole["by_uri"][0]  # the top endpoint is the top endpoint
    assert cut["by_status"] == whole["by_status"]  # totals are exact
    assert any(n.startswith("5xx by client: more than 4 distinct values") for n in cut["notes"])
    assert not any("distinct values" in n for n in whole["notes"])
