"""What the tests of the native passes' answers share (``tests/diagnose/test_alb_answers.py``,
``test_envoy_answers.py``): an ``Answered`` in its tables' order, the check of shuffled blocks,
``diagnose``'s report of a log, a spy on a family's answering reader, and every family's answers
turned off."""

from __future__ import annotations

import contextlib
import dataclasses
import io
import json
import random
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.support.reports import without_timing


def ordered(answered: Any) -> Any:
    """An ``Answered`` with its tables in their order (``LbEvidence.reserve`` reads that order)."""
    d = dataclasses.asdict(answered)
    return {k: list(v.items()) if isinstance(v, dict) else v for k, v in d.items()}


def same_in_blocks(lines: list[str], both: Callable[[list[str]], tuple[Any, ...]], seed: int,
                   most: int) -> None:
    """``lines`` shuffled and cut into blocks of 1 to ``most`` lines: in each block the
    ``_answered`` of the rows handed over and of the pass's answers (``both``' first two) are the
    same in every field and order (the groups' first and last rows, last and least and greatest
    times depend on the order)."""
    rng = random.Random(seed)
    lines = list(lines)
    rng.shuffle(lines)
    at = 0
    while at < len(lines):
        size = rng.randint(1, most)
        reference, counted, *_ = both(lines[at:at + size])
        assert ordered(counted[0]) == ordered(reference[0]), (at, size)
        assert [list(t.items()) for t in counted[1]] == [list(t.items()) for t in reference[1]]
        at += size


def report(log: Path) -> Any:
    """``diagnose --offline --access-log log --format json``, its timing fields dropped."""
    from why502.cli.main import main

    out = io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(io.StringIO()):
        main(["diagnose", "--offline", "--access-log", str(log), "--format", "json"])
    return without_timing(json.loads(out.getvalue()))


def counting(monkeypatch: pytest.MonkeyPatch, module: object, name: str) -> list[int]:
    """``module.name`` (an answering reader) spied on: the requests it counted, one entry a call."""
    counted: list[int] = []
    real = getattr(module, name)

    def spy(data: bytes) -> Any:
        got = real(data)
        if got is not None:
            counted.append(int(got[2]["len"].sum()))
        return got

    monkeypatch.setattr(module, name, spy)
    return counted


def answers_off(monkeypatch: pytest.MonkeyPatch) -> None:
    """No family has an answering reader: every request is handed over as a row."""
    from why502.proxies.logfamilies import families

    monkeypatch.setattr(type(families()), "answers", lambda _self, _name: None)


def diagnose_takes_the_answers(log: Path, lines: int, monkeypatch: pytest.MonkeyPatch, module: object,
                               name: str) -> None:
    """``diagnose`` on ``log`` (of ``lines`` requests) counts most of them through ``module.name``
    (the family's answering reader), and its report is the one with every family's answers off
    (the reader then never called)."""
    counted = counting(monkeypatch, module, name)
    with_answers = report(log)
    assert sum(counted) > lines // 2
    answers_off(monkeypatch)
    calls = len(counted)
    assert report(log) == with_answers
    assert len(counted) == calls


#: (``_answered`` of the answered rows handed over, ``_answered`` with the pass's answers, every
#: row handed over, the rows handed over with the answers, the answers)
Both = tuple[Any, Any, Any, Any, Any]


def both(block: Callable[[bytes], Any], answering: Callable[[bytes], Any], lines: list[str]) -> Both:
    """A block of ``lines`` read by the family's block reader and by its answering reader (which
    must run, and hand back the same lines): what ``diagnose`` counts of each (``Both``)."""
    from why502.app.diagnose import lb as diagnose_lb
    from why502.app.stats.lb import ANSWERED

    data = ("\n".join(lines) + "\n").encode("utf-8")
    got, with_answers = block(data), answering(data)
    assert got is not None and with_answers is not None
    every, back = got
    rest, back2, answers = with_answers
    assert back2 == back
    answered = ANSWERED.fill_null(False)
    reference = diagnose_lb._answered(every.filter(answered))
    return reference, diagnose_lb._answered(rest.filter(answered), answers), every, rest, answers


def counted_alike(got: Both, least: int) -> None:
    """``both``'s two counts are the same in every field and order, the pass counted more than
    ``least`` requests, and every row that did not surely answer is still the same row."""
    from why502.app.stats.lb import ANSWERED

    reference, counted, every, rest, answers = got
    assert ordered(counted[0]) == ordered(reference[0])
    assert [list(t.items()) for t in counted[1]] == [list(t.items()) for t in reference[1]]
    assert int(answers["len"].sum()) > least
    answered = ANSWERED.fill_null(False)
    assert rest.filter(~answered).equals(every.filter(~answered))
    assert rest.height + int(answers["len"].sum()) == every.height
