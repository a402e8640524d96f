"""The fold of the native ALB pass (``parsers/lblogs/_albscan.c``, ``parsers/lblogs/fold.py``):
the rows ``stats`` only counts are counted in C, by the values the polars aggregation groups
them by, across the blocks of a read, and ``LbStatsAccumulator.add_counted`` sums the groups
-- the answer must not change, whichever side counted a row.

Compared, as the whole ``stats --format json`` document: the fold (every row the pass decides
counted in C), the same native reader with the fold turned off (every row handed over as
columns, ``LogFamilies.fold`` -> None), and the polars-only reader (``WHY502_NATIVE=0``); on the
published and recorded ALB entries, on those entries bent at every field (the corpus of
``test_alb_native.py``: dashes, odd statuses, ``-0.000`` timings, waits at the connect-timeout
bounds, retried targets, truncated entries...), on the bench's generated lines (a failure every
four requests), and on logs cut in small blocks whose groups are taken many times mid-read.
``diagnose`` reads these logs through ``iter_record_batches`` (no fold): nothing to compare there.
"""

from __future__ import annotations

import json
import random
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from tests.stats.test_alb_native import _corpus, _published
from tests.support.native import native_pass
from why502.app.stats import lb as lb_app
from why502.evidence import lbstats
from why502.parsers.lblogs import batch
from why502.parsers.lblogs.family import LogFamilies

ROOT = Path(__file__).resolve().parents[2]
BUILT, pytestmark = native_pass("why502.parsers.lblogs._albscan", "the native ALB pass")

sys.path.insert(0, str(ROOT / "bench"))
import gen_lb_logs  # noqa: E402  (the bench's lines: bench/gen_lb_logs.py)


@contextmanager
def _mode(mode: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """``fold``: as shipped; ``columns``: the native pass, every row handed over; ``polars``:
    no native pass."""
    with monkeypatch.context() as m:
        if mode == "columns":
            m.setattr(LogFamilies, "fold", lambda self, name: None)
        elif mode == "polars":
            m.setenv("WHY502_NATIVE", "0")
        batch._native_pass.cache_clear()
        try:
            yield
        finally:
            batch._native_pass.cache_clear()


def _stats(path: Path, mode: str, monkeypatch: pytest.MonkeyPatch, family: str = "alb", **kw: object) -> str:
    with _mode(mode, monkeypatch):
        return json.dumps(lb_app.lb_stats([str(path)], family, **kw))  # type: ignore[arg-type]


def _folded(lines: list[str]) -> int:
    """Rows the fold counts of ``lines`` (one block)."""
    fold = batch.alb_fold()
    assert fold is not None
    _frame, _back, folded = fold.block("\n".join(lines).encode())
    counted = fold.take()
    assert counted is None or counted.rows == folded
    return folded


def _check(path: Path, monkeypatch: pytest.MonkeyPatch, family: str = "alb",
           **kw: object) -> dict[str, object]:
    """The three answers are one (of ``family``'s log: Envoy's text fold uses it too); that one,
    parsed."""
    folded = _stats(path, "fold", monkeypatch, family, **kw)
    assert folded == _stats(path, "columns", monkeypatch, family, **kw)
    assert folded == _stats(path, "polars", monkeypatch, family, **kw)
    out: dict[str, object] = json.loads(folded)
    return out


def _write(tmp: Path, lines: list[str]) -> Path:
    path = tmp / "alb.log"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


@pytest.mark.parametrize("timeout_s", [None, 0.05])
def test_bent_entries_give_the_same_answer(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                           timeout_s: float | None) -> None:
    """Every bend of every published entry; with a timeout, the near/over counts too (the
    default 60 s is never near in these lines; 50 ms is near in many)."""
    lines = _corpus()
    assert _folded(lines) > len(lines) // 3  # the fold counted many, not handed every one over
    got = _check(_write(tmp_path, lines), monkeypatch, timeout_s=timeout_s)
    assert got["5xx"] and got["by_code"] and got["retries"]["requests"]  # type: ignore[index]
    assert len(got["targets"]) > 3 and got["timings"]["p50_ms"] is not None  # type: ignore[arg-type,index]


def test_published_entries(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    lines = _published()
    assert _folded(lines) >= 12
    _check(_write(tmp_path, lines), monkeypatch)


def _generated(n: int, seed: int) -> list[str]:
    rng = random.Random(seed)
    return [gen_lb_logs.alb(gen_lb_logs.Req(rng, i, 2000.0)) for i in range(n)]


def test_generated_lines_in_small_blocks(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The bench's lines (a quarter failing, a third of those the ALB's own) read 16 KB at a
    time, the groups taken whenever a table holds 40 of them: counts summed across many takes,
    first and last times across blocks."""
    lines = _generated(6000, 7)
    rng = random.Random(3)
    for k in rng.sample(range(len(lines)), 200):  # retried requests, out-of-order times, junk
        line = lines[k]
        pick = rng.random()
        if pick < 0.4:
            parts = line.split('"')
            parts[-8] = "10.0.0.1:80 10.0.0.2:80" if pick < 0.2 else "10.0.0.1:80 10.0.0.2:80 10.0.0.3:80"
            lines[k] = '"'.join(parts)
        elif pick < 0.7:
            lines[k] = line.replace("2026-11-21T10:", "2026-11-21T09:", 1)
        elif pick < 0.85:
            lines[k] = line[: len(line) // 3]  # an older entry's fields: the per-line parser's
        else:
            lines[k] = f"<html> not an entry {k}"
    path = _write(tmp_path, lines)
    assert _folded(lines) > 5000
    monkeypatch.setattr(lb_app, "FOLD_TAKE_GROUPS", 40)
    got = _check(path, monkeypatch, batch_bytes=16 << 10, timeout_s=0.05)
    assert got["unparsed"] and got["retries"]["requests"]  # type: ignore[index]
    # blocks and takes change nothing
    assert got == json.loads(_stats(path, "fold", monkeypatch, timeout_s=0.05))


def test_rounded_timings_after_the_cap(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Past ``VALUE_CAP`` distinct timings the tables are rounded: the counted groups are too,
    before they are summed.  (One block, so rows and groups meet the cap at the same point.)"""
    rng = random.Random(13)
    lines = []
    for line in _generated(3000, 11):  # sub-millisecond timings (the rounding has work to do)
        f = line.split(" ")
        if f[6] != "-1":
            f[6] = f"{rng.expovariate(25.0):.6f}"
        if f[4] != "-":
            f[4] = rng.choice(["10.0.0.1:80", "10.0.0.2:80"])  # few targets: the rounding ends at 1 ms
        lines.append(" ".join(f))
    monkeypatch.setattr(lbstats, "VALUE_CAP", 1500)
    got = _check(_write(tmp_path, lines), monkeypatch)
    p50 = got["timings"]["p50_ms"]  # type: ignore[index]
    assert p50 == round(p50)  # the microsecond timings were rounded to whole milliseconds


def test_a_window_hands_every_row_over(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """``--since``/``--until`` needs each row's time: no fold then, the same answer."""
    import datetime as dt

    lines = _generated(2000, 5)
    path = _write(tmp_path, lines)
    calls: list[str] = []
    real = LogFamilies.fold

    def spy(self: LogFamilies, name: str | None) -> object:
        calls.append(str(name))
        return real(self, name)

    monkeypatch.setattr(LogFamilies, "fold", spy)
    since = dt.datetime(2026, 11, 21, 10, 0, 0, 300000, tzinfo=dt.timezone.utc)
    assert _stats(path, "fold", monkeypatch, since=since) == _stats(path, "polars", monkeypatch, since=since)
    assert calls == []
    _stats(path, "fold", monkeypatch)
    assert calls and set(calls) == {"alb"}  # (a fold for each worker that reads blocks)


def test_minus_zero_timings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """"-0.000" and "0.000" target times, in both orders, are one timing of 0.0 ms whichever
    side counted them (polars would group them under the sign it saw first)."""
    base = _published()[0].split(" ")
    lines = []
    for target, times in (("10.0.0.8:80", ("-0.000", "0.000", "0.000")), ("10.0.0.9:80", ("0.000", "-0.000")),
                          ("10.0.0.7:80", ("-0.000",))):
        for t in times:
            f = list(base)
            f[4], f[6] = target, t
            lines.append(" ".join(f))
    got = _check(_write(tmp_path, lines), monkeypatch)
    assert got["timings"]["max_ms"] == 0.0 and "-0.0" not in json.dumps(got)  # type: ignore[index]


def test_first_and_last_times_of_odd_shapes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The ALB's own failures' first and last times are the least and greatest strings, as polars
    orders them (a prefix first), whatever shape the pass lets through."""
    base = _published()[0].split(" ")
    lines = []
    for time in ("2018-07-02T22:23:00.186641Z", "2018-07-02T22:23:00", "2018-07-02T22:23",
                 "2018-07-02T22:23:00.1", "2018-07-02T22:23:00.186641Zz", "2018-07-02T22:23:00.186641Z"):
        f = list(base)
        f[1], f[8], f[9], f[24] = time, "502", "-", '"-"'
        lines.append(" ".join(f))
    got = _check(_write(tmp_path, lines), monkeypatch)
    code = got["by_code"][0]  # type: ignore[index]
    assert (code["first"], code["last"]) == ("2018-07-02T22:23", "2018-07-02T22:23:00.186641Zz")


def test_whole_millisecond_timings_past_the_cap(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """ALB writes whole milliseconds: past ``VALUE_CAP`` they are rounded to tens of ms (polars'
    ``round`` takes no negative digits: this raised OverflowError), alike on every side."""
    lines = _generated(3000, 17)
    monkeypatch.setattr(lbstats, "VALUE_CAP", 200)
    got = _check(_write(tmp_path, lines), monkeypatch)
    assert got["timings"]["p50_ms"] % 10 == 0  # type: ignore[index]


def test_a_fold_is_taken_at_its_group_bound() -> None:
    """``lb.take_now``: a fold is taken at ``FOLD_TAKE_GROUPS`` groups however its rows compare
    (its timings are counted at 0.1 ms, so its groups repeat: each take decides its groups again)
    and always past ``FOLD_TAKE_ROWS`` rows (uint32 counts)."""
    low = lb_app.FOLD_TAKE_GROUPS
    assert not lb_app.take_now(low - 1, low)
    assert not lb_app.take_now(low - 1, low * 100)
    assert lb_app.take_now(low, low)
    assert lb_app.take_now(1, lb_app.FOLD_TAKE_ROWS)
    # a read of the codes only (classify's summary), at its own, lower bound
    codes = lb_app.FOLD_TAKE_CODES_GROUPS
    assert codes < low
    assert lb_app.take_now(codes, 1, codes_only=True) and not lb_app.take_now(codes, 1)
    assert not lb_app.take_now(codes - 1, 1, codes_only=True)
