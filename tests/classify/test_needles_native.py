"""The native needle search (``parsers/_needles.c``) gives Python's answer: needle ``i`` is found
exactly when ``needles[i] in text`` -- on generated texts and needle sets built to trip a
two-byte index (shared first bytes, needles inside needles, one-byte and empty needles, multi-byte
UTF-8, needles at the very end), on the catalog's own needles over every recorded log line, and
through the recogniser's rule gate (``errorlog._gated_rules``), which must ask the same rules in
the same order either way.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from pathlib import Path

import pytest

import why502.proxies  # noqa: F401  (the registry: the catalog's rules as the commands load them)
from why502.parsers import errorlog
from why502.parsers.extensions import native_module
from why502.parsers.needles import NeedleSearch

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"

needs_native = pytest.mark.skipif(native_module("why502.parsers._needles", "1") is None,
                                  reason="the native needle search was not built (no C compiler)")

_ALPHABET = "abcdeé€😀 :/.-_\"\\\t" + "0123456789"


def _python(needles: list[str], text: str) -> list[int]:
    return [i for i, n in enumerate(needles) if n in text]


def _texts(rng: random.Random, n: int) -> Iterator[str]:
    for _ in range(n):
        yield "".join(rng.choice(_ALPHABET) for _ in range(rng.randrange(0, 80)))


def _needle_sets(rng: random.Random) -> Iterator[list[str]]:
    base = ["ab", "abc", "abcd", "b", "", "é", "€x", "😀", "a", "cd", "dc", "e\\", "\"a", "ab", "aé"]
    yield base
    for _ in range(60):
        size = rng.randrange(1, 40)
        yield ["".join(rng.choice(_ALPHABET[:8]) for _ in range(rng.randrange(0, 5))) for _ in range(size)]


@needs_native
def test_generated_needles_and_texts_match_python() -> None:
    rng = random.Random(71)
    compared = 0
    for needles in _needle_sets(rng):
        search = NeedleSearch(needles, native="1")
        assert search.is_native
        for text in _texts(rng, 200):
            # needles of 0-4 of the first eight characters: most texts hold some, at every
            # position, the last two bytes included
            assert search.native_found(text) == tuple(_python(needles, text)), (needles, text)
            compared += 1
    assert compared == 61 * 200


@needs_native
def test_a_needle_at_the_very_end_and_a_text_shorter_than_the_needle() -> None:
    search = NeedleSearch(["refused", "ed", "d", "refusedx"], native="1")
    assert search.native_found("connection refused") == (0, 1, 2)
    assert search.native_found("re") == ()
    assert search.native_found("") == ()
    assert search.native_found("d") == (2,)


@needs_native
def test_a_text_with_no_utf8_form_is_left_to_python() -> None:
    search = NeedleSearch(["refused", "d) "], native="1")
    text = "connect() failed (111: Connection refused) \udcff"
    assert search.native_found(text) is None
    assert list(search.found(text)) == [0, 1]
    odd = NeedleSearch(["refused", "\udcff"], native="1")  # a needle with no UTF-8 form
    assert not odd.is_native
    assert list(odd.found(text)) == [0, 1]


def test_without_the_native_pass_python_answers() -> None:
    search = NeedleSearch(["ab", "b", ""], native="0")
    assert not search.is_native
    assert search.native_found("xab") is None
    assert list(search.found("xab")) == [0, 1, 2]


def _recorded_lines() -> list[str]:
    lines: list[str] = []
    for path in sorted(FIXTURES.rglob("*.log")):
        text = path.read_bytes().decode("utf-8", errors="surrogateescape")
        lines.extend(line for line in text.splitlines() if line.strip())
    return lines


@needs_native
def test_the_catalogs_needles_over_every_recorded_line_match_python() -> None:
    _per_rule, gates, _search = errorlog._needle_index()
    needles = [n for n, _rules in gates]
    search = NeedleSearch(needles, native="1")
    lines = _recorded_lines()
    assert len(lines) > 2000
    held = 0
    for line in lines:
        low = line.lower()
        want = _python(needles, low)
        got = search.native_found(low)
        assert got is None or got == tuple(want), line
        held += bool(want)
    assert held > 500  # the lines hold needles: the comparison is not of empty answers


@needs_native
def test_the_rule_gate_asks_the_same_rules_in_the_same_order_either_way(
        monkeypatch: pytest.MonkeyPatch) -> None:
    per_rule, gates, search = errorlog._needle_index()
    assert search.is_native
    lows = [line.lower() for line in _recorded_lines()]
    native = [[r[0].id for r in errorlog._gated_rules(low)] for low in lows]
    plain = NeedleSearch([n for n, _rules in gates], native="0")
    monkeypatch.setattr(errorlog, "_needle_index", lambda: (per_rule, gates, plain))
    python = [[r[0].id for r in errorlog._gated_rules(low)] for low in lows]
    assert native == python
    assert sum(map(len, native)) > 1000
