"""Traefik's common-format pass counts the requests ``diagnose`` only counts, and gives what
counting their rows gives.

The counterpart of ``test_envoy_answers.py`` for Traefik's default access-log format
(``_traefikscan.clf_answers``, ``frame.traefik_answers_block``): a line the pass takes whose
status is below 500, that names a router or a server URL and whose time ``clf_iso`` reads is
counted by (status, minute, URL), its time written in the ISO form the records give it; every
other line comes as captures and is decided as before.  On the recorded, published, generated
and bent lines of ``tests/stats/test_traefik_block.py``, the grid of every status, size, router
and URL of ``test_traefik_clf_fold.py``, and its times at every edge of the form, whole and
shuffled into blocks (a JSON line first in a block leaves it to the JSON pass's answers), the
counts equal the rows' in every field and order, the other rows are the same rows, and
``diagnose`` uses the pass with the same report.
"""

from __future__ import annotations

import functools
from pathlib import Path

import polars as pl
import pytest

from tests.stats.test_traefik_block import _clf_lines
from tests.stats.test_traefik_clf_fold import _LINE, _generated, _grid, _times
from tests.support.answers import Both, both, counted_alike, diagnose_takes_the_answers, same_in_blocks
from tests.support.native import native_pass
from why502.proxies.traefik import frame

BUILT, pytestmark = native_pass("why502.proxies.traefik._traefikscan", "the native Traefik CLF pass")


def _timed() -> list[str]:
    """A line that answered at each of ``_times``' edges, and one a minute apart with each
    second's time (a group each: its times are its own)."""
    out = [_LINE.format(k=k, time=t, status="200", size="11", router='"web@file"', url='"http://10.0.0.1:80"',
                        ms=3) for k, t in enumerate(_times())]
    out += [_LINE.format(k=k, time=f"21/Nov/2026:{k // 60:02d}:{k % 60:02d}:{k % 60:02d} +0{k % 10}30",
                         status="204", size="0", router='"web@file"', url='"http://10.0.0.2:80"', ms=1)
            for k in range(600)]
    return out


@functools.cache
def _lines() -> tuple[str, ...]:
    return (*_clf_lines(), *_grid(), *_timed(), *_generated(500, 5))


def _both(lines: list[str]) -> Both:
    return both(frame.traefik_block, frame.traefik_answers_block, lines)


def test_the_answers_equal_the_rows_counted() -> None:
    lines = list(_lines())
    got = _both(lines)
    counted_alike(got, len(lines) // 4)
    # Traefik's own lines below 500 ("no router": neither a router nor a URL) are still rows
    every, rest = got[2], got[3]
    own = (pl.col("status") < 500) & (pl.col("made_by") == "lb")
    assert every.filter(own).height > 0
    assert every.filter(own).equals(rest.filter(own))


def test_the_times_the_pass_writes_are_the_records_times() -> None:
    """Each of ``_timed``'s second group is a minute of its own: its group's times are the one
    the record gives the line (``batch.clf_iso``: the offset kept, -0000 written +00:00)."""
    lines = _timed()
    data = ("\n".join(lines) + "\n").encode("utf-8")
    every, _back = frame.traefik_block(data)
    _rest, _back2, answers = frame.traefik_answers_block(data)
    counted = answers.filter(pl.col("status") == 204)
    assert counted["len"].to_list() == [1] * 600
    assert sorted(counted["_lo"].to_list()) == sorted(every.filter(pl.col("status") == 204)["time"].to_list())


@pytest.mark.parametrize("seed", [1, 2])
def test_the_answers_equal_the_rows_counted_in_any_order_and_block(seed: int) -> None:
    same_in_blocks(list(_lines()), _both, seed, 700)


def test_diagnose_counts_the_answers_natively(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """``diagnose`` on Traefik's common-format log takes the pass's answers (most of its
    requests), and its report is the one without them."""
    lines = _generated(3000, 7)
    log = tmp_path / "traefik.log"
    log.write_text("\n".join(lines) + "\n", encoding="utf-8")
    diagnose_takes_the_answers(log, len(lines), monkeypatch, frame, "traefik_answers_block")
