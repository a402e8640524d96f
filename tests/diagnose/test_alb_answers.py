"""The native ALB pass counts the requests ``diagnose`` only counts, and gives what counting
their rows gives.

``diagnose`` on an edge log counts each batch's answered requests by (status, minute, target)
(``app.diagnose.lb._answered``, its groups made by ``_answer_groups``: the reference).  ALB's
pass (``_albscan.c``, "the answers") counts the entries that surely answered itself and hands
over only the others as columns.  On every published ALB line and its bent variants (the
corpus of ``tests/stats/test_alb_native.py``: dashes, statuses, times of other shapes, the
ALB's own 4xx with and without a code), cut into blocks at several places, the counts with the
pass must equal the counts of the same rows handed over -- in every field and every order --
and every row that did not surely answer must still come as a row.  And ``diagnose`` must use
the pass: an equality reached with the pass unused would prove nothing.
"""

from __future__ import annotations

import functools
import random
from pathlib import Path
from typing import Any

import pytest

from tests.stats.test_alb_native import _corpus, _published, _set
from tests.support.answers import (
    Both,
    both,
    counted_alike,
    counting,
    diagnose_takes_the_answers,
    ordered,
    same_in_blocks,
)
from tests.support.native import native_pass
from why502.parsers.lblogs import batch

BUILT, pytestmark = native_pass("why502.parsers.lblogs._albscan", "the native ALB pass")




def _block(lines: list[str]) -> bytes:
    return ("\n".join(lines) + "\n").encode("utf-8")


def _both(lines: list[str]) -> Both:
    return both(batch.alb_block, batch.alb_answers_block, lines)


def _extra() -> list[str]:
    """Entries whose answer the pass must decide as the rows would: the ALB's own 4xx with a
    code (``lb-rejected``: a symptom, so no answer) and without one, a status of "-", a target
    of "-", times too short for a minute, without a '-' at their fifth byte, and longer than
    the pass keeps (48 bytes)."""
    out = []
    for base in _published():
        f = base.split(" ")
        if len(f) < 12 or f[0] not in ("http", "https", "h2"):
            continue
        for status, tstatus in (("460", "-"), ("403", "403"), ("404", "-"), ("-", "-"), ("200", "-"),
                                ("200", "200"), ("499", "-"), ("302", "302")):
            g = list(f)
            g[8], g[9] = status, tstatus
            out.append(" ".join(g))
        for time in ("2026-11-21T10", "2026/11/21T10:00:00.000000Z", "x" * 15,
                     "2026-11-21T10:00:00." + "1" * 40 + "Z", "2026-11-21T10:00:00." + "1" * 27 + "Z"):
            g = list(f)
            g[1] = time
            out.append(" ".join(g))
        g = list(f)
        g[4] = "-"
        out.append(" ".join(g))
        # the ALB's own status below 500 whose reason has a symptom (a failure, no answer), and
        # one whose reason has none (an answer)
        for reason in ('"TargetConnectionErrorCount"', '"LambdaConnectionTimeout"', '"SomethingElse"'):
            for status in ("460", "200", "-"):
                out.append(_set(_set(_set(base, 8, status), 9, "-"), 24, reason))
    return out


@functools.cache
def _lines() -> tuple[str, ...]:
    return (*_corpus(), *_extra())


def test_the_answers_equal_the_rows_counted() -> None:
    lines = list(_lines())
    # the pass counted plain entries, and every row that did not surely answer is still a row
    counted_alike(_both(lines), len(lines) // 10)


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_the_answers_equal_the_rows_counted_in_any_order_and_block(seed: int) -> None:
    """Shuffled and cut into blocks: each block's counts the same both ways (the groups' first
    and last rows, last and least and greatest times depend on the order)."""
    same_in_blocks(list(_lines()), _both, seed, 900)


def test_diagnose_counts_the_answers_natively(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """``diagnose`` on an ALB log takes the pass's answers (most of a log's requests), and its
    report is the one without them."""
    rng = random.Random(9)
    lines = [rng.choice(_published()) for _ in range(3000)]
    log = tmp_path / "alb.log"
    log.write_text("\n".join(lines) + "\n", encoding="utf-8")
    diagnose_takes_the_answers(log, len(lines), monkeypatch, batch, "alb_answers_block")


def test_a_target_per_line_fills_the_table_and_the_rest_come_as_rows() -> None:
    """A block of a distinct target per line: the pass's table stops at its bound
    (``ANSWERS_MAX_GROUPS``, 4096 groups) and the lines past it come over as rows, counted the
    same in the roll-up (a table of a group per line held a log of them at ~290 MB)."""
    base = next(line for line in _published() if line.split(" ")[8:10] == ["200", "200"])
    lines = [_set(base, 4, f"10.{k // 65536}.{k // 256 % 256}.{k % 256}:80") for k in range(6000)]
    reference, counted, every, rest, answers = _both(lines)
    assert answers.height == 4096 and int(answers["len"].sum()) == 4096
    assert rest.height == 6000 - 4096 and every.height == 6000
    assert ordered(counted[0]) == ordered(reference[0])
    assert [list(t.items()) for t in counted[1]] == [list(t.items()) for t in reference[1]]


def test_a_block_of_mostly_other_lines_is_decoded_and_read_once(monkeypatch: pytest.MonkeyPatch) -> None:
    """A block the pass hands back most of (lines of another program among a few entries) is
    decoded and read by the vectorised reader, as without the answers, and the native block
    reader is not run on it a second time."""
    from why502.app.stats import lb as stats_lb
    from why502.sources.logfiles import ByteBatch

    entries = _published()[:5]
    lines = [*entries, *(f"some other program's line {k}" for k in range(40))]
    block = ByteBatch("alb.log", "\n".join(lines).encode())
    calls = counting(monkeypatch, batch, "alb_answers_block")
    plain_reads: list[int] = []
    real_block = batch.alb_block

    def alb_block(data: bytes) -> Any:
        plain_reads.append(len(data))
        return real_block(data)

    monkeypatch.setattr(batch, "alb_block", alb_block)
    answering = stats_lb._block_rows(block, 1, "alb", answering=True)
    # the pass once, then the decoded reader's own (alb_frame runs it on the decoded lines): the
    # block reader is not asked again about the lines the answering one handed back
    assert len(calls) == 1 and len(plain_reads) == 1 and answering.answers is None
    plain = stats_lb._block_rows(block, 1, "alb")
    assert answering.frame.equals(plain.frame) and answering.rest == plain.rest
    assert answering.frame.height == len(entries)
