"""A small batch read line by line (``errorlog_batch.PER_LINE_BELOW``) gives the polars engine's
frame: every real line in batches of 1 to 63 lines, plain, in each wrapping, with CR ends and
nulls, and generated lines; the engine is taken at 64 lines and when fewer request fields are
asked for; and ``why502 classify`` as a user runs it (a subprocess, which reads each small file
line by line) prints what the engine prints in this process (``tests/conftest.py`` keeps the
engine on small batches here).
"""

from __future__ import annotations

import json
import random
from pathlib import Path
from typing import Any

import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from polars.testing import assert_frame_equal

from tests.classify.test_classify_engines import FRAGMENTS, WRAPPERS, YEAR, real_lines
from tests.classify.test_classify_small_files import _files
from tests.classify.wrapped_corpus import NATIVE_WRAPPERS, ODD_WRAPPED, REFUSED
from tests.conftest import RunMain
from tests.support.clirun import why502
from why502.parsers import errorlog_batch
from why502.parsers.errorlog_batch import classify_series

BELOW = 64  # the product's threshold, restored here over the suite's 0 (tests/conftest.py)


def both(lines: list[str | None], monkeypatch: pytest.MonkeyPatch,
         **kwargs: Any) -> tuple[pl.DataFrame, pl.DataFrame]:
    """(line by line, the engine) of one batch."""
    series = pl.Series("line", lines, dtype=pl.String)
    monkeypatch.setattr(errorlog_batch, "PER_LINE_BELOW", BELOW)
    mine = classify_series(series, year=YEAR, **kwargs)
    monkeypatch.setattr(errorlog_batch, "PER_LINE_BELOW", 0)
    return mine, classify_series(series, year=YEAR, **kwargs)


def batches(lines: list[str], seed: int) -> list[list[str]]:
    rng = random.Random(seed)
    out, at = [], 0
    while at < len(lines):
        n = rng.randint(1, BELOW - 1)
        out.append(lines[at:at + n])
        at += n
    return out


WRAPPINGS = ["plain", "crlf", *sorted(set(WRAPPERS) - {"crlf"}), *sorted(NATIVE_WRAPPERS)]


@pytest.mark.parametrize("wrapping", WRAPPINGS)
def test_every_real_line_in_small_batches(wrapping: str, monkeypatch: pytest.MonkeyPatch) -> None:
    wrap = {**WRAPPERS, **NATIVE_WRAPPERS}.get(wrapping, lambda s: s)
    lines = [wrap(ln) for ln in real_lines()]
    read = 0
    for batch in batches(lines, seed=len(wrapping)):
        mine, engine = both(list(batch), monkeypatch)
        assert_frame_equal(mine, engine)
        read += engine.height
    assert read > 100  # the lines were recognised, not both paths empty


def test_odd_lines_nulls_and_line_ends(monkeypatch: pytest.MonkeyPatch) -> None:
    plain = real_lines()[:40]
    odd: list[str | None] = [*ODD_WRAPPED[:30], None, "", "\r", plain[0] + "\r\n", plain[1] + "\n\r", None]
    for batch in (odd, [None], ["", None, ""], [plain[2] + "\r\r"]):
        mine, engine = both(batch, monkeypatch)
        assert_frame_equal(mine, engine)
    # the caller's promise of no CR is kept as the engine keeps it
    mine, engine = both([plain[3] + "\r"], monkeypatch, may_have_cr=False)
    assert_frame_equal(mine, engine)


@settings(max_examples=100, deadline=None)
@given(st.lists(st.lists(st.sampled_from([*FRAGMENTS, "\r", "\t"]), max_size=12).map("".join),
                min_size=1, max_size=BELOW - 1))
def test_generated_lines(lines: list[str]) -> None:
    with pytest.MonkeyPatch.context() as mp:
        mine, engine = both(list(lines), mp)
    assert_frame_equal(mine, engine)


def test_the_engine_reads_bigger_batches_and_fewer_fields(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[int] = []
    real = errorlog_batch._per_line

    def spy(lines: pl.Series, *args: Any) -> pl.DataFrame | None:
        got = real(lines, *args)
        if got is not None:
            calls.append(lines.len())
        return got

    monkeypatch.setattr(errorlog_batch, "_per_line", spy)
    monkeypatch.setattr(errorlog_batch, "PER_LINE_BELOW", BELOW)
    lines = real_lines()
    classify_series(pl.Series(lines[:BELOW - 1]), year=YEAR)
    assert calls == [BELOW - 1]
    classify_series(pl.Series(lines[:BELOW]), year=YEAR)
    classify_series(pl.Series(lines[:3]), year=YEAR, fields=("upstream",))  # the summary's
    assert calls == [BELOW - 1]
    # a long line: the engine's prefilter drops it natively, the per-line regexes would read it
    long = [lines[0], REFUSED + " x" * errorlog_batch.PER_LINE_MAX_CHARS, "A" * (1 << 20)]
    mine, engine = both(long, monkeypatch)
    assert calls == [BELOW - 1] and mine.height >= 1
    assert_frame_equal(mine, engine)


def test_the_command_prints_what_the_engine_prints(tmp_path: Path, run_main: RunMain) -> None:
    """Small files through the installed command (line by line) against this process (the
    engine), in each output the records feed: the JSONL records and the summary."""
    paths = _files(tmp_path)[:40]  # 1 to 30 real lines each
    for fmt in ("jsonl", "json"):
        res = why502("classify", "--format", fmt, "--no-progress", *paths)
        code, out, _ = run_main("classify", "--format", fmt, "--no-progress", *paths)
        assert res.returncode == code == 1, res.stderr[-500:]  # 1: failures were found
        if fmt == "json":  # the run's own time differs
            a, b = json.loads(res.stdout), json.loads(out)
            a.pop("elapsed_ms", None)
            b.pop("elapsed_ms", None)
            assert a == b and a["recognised"] > 40
        else:
            assert res.stdout == out and res.stdout.count("\n") > 40
