"""Many small files through ``classify``'s native summary: the lines the scanner hands back from a
batch of at most ``app.classify.SMALL_EXACT`` are summed from their records
(``aggregate_records(classify_series(...))``), not run through ``summarize_series`` -- the same
summary as the polars engine's (which keeps ``summarize_series``) and as with the threshold at 0,
on files of one to a few dozen real lines of every program, and a file with more handed-back
lines than the threshold; with ``--since`` too (the records filtered by ``filter_since``), at
cut-offs before, inside and after the files' times.
"""

from __future__ import annotations

import os
import random
from pathlib import Path
from typing import Any

import pytest

from tests.classify.test_classify_engines import real_lines
from tests.classify.test_classify_native import BUILT, engine, summary_of
from why502.app import classify

pytestmark = pytest.mark.skipif(not BUILT and os.environ.get("WHY502_REQUIRE_NATIVE") != "1",
                                reason="the native scanner was not built (no C compiler at install time)")


def _files(tmp: Path) -> list[str]:
    lines = real_lines()
    rng = random.Random(77)
    paths = []
    for i in range(60):
        p = tmp / f"small-{i:02d}.log"
        p.write_text("".join(ln + "\n" for ln in rng.sample(lines, rng.randint(1, 30))), encoding="utf-8")
        paths.append(str(p))
    big = tmp / "big.log"  # more handed-back lines than the threshold, in one batch
    others = [ln for ln in lines if not ln[:4].isdigit()]
    big.write_text("".join(ln + "\n" for ln in (others * (classify.SMALL_EXACT // len(others) + 2))),
                   encoding="utf-8")
    paths.append(str(big))
    return paths


def _spied(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    sizes: list[int] = []
    real = classify._summarize_lines

    def spy(lines: Any, *args: Any, **kwargs: Any) -> Any:
        sizes.append(lines.len())
        return real(lines, *args, **kwargs)

    monkeypatch.setattr(classify, "_summarize_lines", spy)
    return sizes


def test_small_files_give_the_summary_of_summarize_series(tmp_path: Path,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    paths = _files(tmp_path)
    sizes = _spied(monkeypatch)
    with engine(native=True):
        mine = summary_of(paths)
    assert sizes and all(n > classify.SMALL_EXACT for n in sizes), sizes  # only the big file's
    monkeypatch.setattr(classify, "SMALL_EXACT", 0)
    with engine(native=True):
        assert summary_of(paths) == mine
    assert len(sizes) > 30  # every file's handed-back lines went through summarize_series
    with engine(native=False):
        assert summary_of(paths) == mine
    assert mine[1], "no symptom read: the files hold no failure"


@pytest.mark.parametrize("since", ["2016-01-01T00:00:00", "2024-05-01T12:00:01", "2031-01-01T00:00:00"])
def test_since_sums_the_records_at_or_after_it(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                               since: str) -> None:
    paths = _files(tmp_path)
    sizes = _spied(monkeypatch)
    with engine(native=True):
        mine = summary_of(paths, since=since)
    assert sizes and all(n > classify.SMALL_EXACT for n in sizes), sizes  # only the big file's
    monkeypatch.setattr(classify, "SMALL_EXACT", 0)
    with engine(native=True):
        assert summary_of(paths, since=since) == mine
    assert len(sizes) > 30
    with engine(native=False):
        assert summary_of(paths, since=since) == mine
