"""``_fold_native_groups`` sums the scanners' (peer, rule) groups before it hands them to the
summary: the summary must be what one ``add_upstream`` per group, scanner by scanner, gave --
the same names under ``MAX_UPSTREAMS``, the same ``(other)``, the same counts and times."""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Any

from why502.app import classify
from why502.app.classify import ClassifySummary, _fold_native_groups
from why502.parsers import errorlog_native
from why502.proxies import ENGINE

Group = tuple[int, bytes | bool | None, int, bytes, bytes]


@dataclass
class _Scanner:
    rows: list[Group]

    def groups(self) -> list[Group]:
        return self.rows


@dataclass
class _Scanners:
    all: list[_Scanner]


def _per_group(book: Any, scanners: _Scanners) -> ClassifySummary:
    """The fold as it was: one ``add_upstream`` per group, in the scanners' order."""
    summary = ClassifySummary()
    per_rule: dict[int, list[Any]] = {}
    for scanner in scanners.all:
        for rule_idx, peer, n, first, last in scanner.groups():
            span = per_rule.setdefault(rule_idx, [0, first, last])
            span[0] += n
            span[1], span[2] = min(span[1], first), max(span[2], last)
            if peer is not None:
                name = "(other)" if peer is True else bytes(peer).decode("ascii")  # type: ignore[arg-type]
                summary.add_upstream(name, book.rules[rule_idx].symptom, n)
    for rule_idx, (n, first, last) in per_rule.items():
        rule = book.rules[rule_idx]
        summary.add_symptom(rule.symptom, rule.status, ENGINE, n, errorlog_native.iso_time(first),
                            errorlog_native.iso_time(last))
    return summary


def _book() -> errorlog_native.RuleBook:
    book = errorlog_native.RuleBook()
    for key in range(len(book._keys)):  # resolve every key once: a few rules of several symptoms
        book(key, 111, "connecting to upstream,", "error", -1)
    assert len({r.symptom for r in book.rules}) >= 3
    return book


def test_the_summed_fold_gives_what_one_call_per_group_gave(monkeypatch: Any) -> None:
    monkeypatch.setattr(classify, "MAX_UPSTREAMS", 50)
    book = _book()
    rng = random.Random(5)
    peers: list[bytes | bool | None] = [f"10.0.{i // 250}.{i % 250}:80".encode() for i in range(120)]
    peers += [True, None, b"(other)"]
    times = [f"2024/05/{d:02d} 12:00:{s:02d}".encode() for d in (1, 2) for s in range(0, 60, 7)]

    def rows() -> list[Group]:
        out: dict[tuple[Any, int], Group] = {}
        for _ in range(400):  # a scanner holds each (rule, peer) once
            rule, peer = rng.randrange(len(book.rules)), rng.choice(peers)
            a, b = sorted(rng.sample(times, 2))
            out[(peer, rule)] = (rule, peer, rng.randrange(1, 50), a, b)
        return list(out.values())

    for _ in range(20):
        scanners = _Scanners([_Scanner(rows()), _Scanner(rows())])
        want = _per_group(book, scanners)
        got = ClassifySummary()
        _fold_native_groups(got, book, scanners)  # type: ignore[arg-type]
        assert got.to_dict() == want.to_dict()
        assert got.upstreams.keys() == want.upstreams.keys()
        assert len(got.upstreams) in (50, 51) and "(other)" in got.upstreams  # past the cap: "(other)"
