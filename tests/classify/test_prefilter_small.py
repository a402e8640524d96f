"""The batch engine's literal prefilter (``parsers.prefilter.prefiltered``) keeps the same lines on a
small batch, where it asks the native needle search line by line, as polars' ``contains_any(...,
ascii_case_insensitive=True)`` keeps on any batch -- on lines built from the catalog's own
needles in mixed case, next to non-ASCII letters whose Unicode lower case is ASCII (the Kelvin
sign, dotted capital I), nulls and empty lines -- and a small batch does not build polars'
automaton at all.
"""

from __future__ import annotations

import random

import polars as pl
import pytest

import why502.proxies  # noqa: F401  (the registry: the catalog's rules as the commands load them)
from why502.parsers import errorlog, prefilter
from why502.parsers.extensions import native_module

needs_native = pytest.mark.skipif(native_module("why502.parsers._needles", "1") is None,
                                  reason="the native needle search was not built (no C compiler)")

# U+212A KELVIN SIGN and U+0130 DOTTED CAPITAL I lower-case (str.lower) to ASCII "k" and "i":
# ``ascii_case_insensitive`` folds ASCII letters only, so "\u212aeepalive" holds no "keepalive"
_TRAPS = ["\u212a", "\u0130", "\u017f", "é", "É", "\u00df", "😀", "\t", "\\", '"']


def _mixed_case(rng: random.Random, text: str) -> str:
    return "".join(c.upper() if rng.random() < 0.4 else c for c in text)


def _lines(rng: random.Random, n: int) -> list[str | None]:
    needles = errorlog.prefilter_needles()
    out: list[str | None] = []
    for _ in range(n):
        kind = rng.randrange(6)
        if kind == 0:
            out.append(None)
        elif kind == 1:
            out.append("")
        else:
            needle = rng.choice(needles)
            if kind == 2:  # a needle with one letter swapped for a trap that str.lower() would fold
                k = rng.randrange(len(needle))
                needle = needle[:k] + rng.choice(_TRAPS) + needle[k + 1:]
            pad = "".join(rng.choice("abcxyz 0123:/" + "".join(_TRAPS)) for _ in range(rng.randrange(0, 12)))
            out.append(pad + _mixed_case(rng, needle) + pad if kind != 5 else pad)
    return out


def _polars(df: pl.DataFrame) -> pl.DataFrame:
    needles = errorlog.prefilter_needles()
    return df.filter(pl.col("line").str.contains_any(needles, ascii_case_insensitive=True))


@needs_native
@pytest.mark.parametrize("seed", range(6))
def test_a_small_batch_keeps_the_lines_contains_any_keeps(seed: int) -> None:
    rng = random.Random(seed)
    df = pl.DataFrame({"line": _lines(rng, 400)}, schema={"line": pl.String}).with_row_index("idx")
    assert df.height <= prefilter.SMALL_BATCH
    mine = prefilter.prefiltered(df)
    assert mine.equals(_polars(df)), mine.join(_polars(df), on="idx", how="anti")
    assert 0 < mine.height < df.height


@needs_native
def test_the_traps_are_not_folded() -> None:
    """"hara\u212airi" is "harakiri" (a needle: uWSGI's) to ``str.lower`` alone."""
    lines = ["upstream timed out", "UPSTREAM TIMED OUT", "hara\u212airi", "HARAKIRI"]
    df = pl.DataFrame({"line": lines})
    assert "harakiri" in errorlog.prefilter_needles()
    assert prefilter.prefiltered(df).get_column("line").to_list() == ["upstream timed out",
                                                                           "UPSTREAM TIMED OUT", "HARAKIRI"]
    assert prefilter.prefiltered(df).equals(_polars(df))


@needs_native
def test_a_small_batch_builds_no_automaton(monkeypatch: pytest.MonkeyPatch) -> None:
    """The small path never asks for the needles polars would build its automaton of; a batch over
    ``SMALL_BATCH`` lines does."""
    asked: list[int] = []
    real = prefilter.prefilter_needles

    def spy() -> list[str]:
        asked.append(1)
        return real()

    monkeypatch.setattr(prefilter, "prefilter_needles", spy)
    small = pl.DataFrame({"line": ["2026/01/01 00:00:00 [error] 1#1: *1 connect() failed"] * 3})
    assert prefilter.prefiltered(small).height == 3
    assert asked == []
    big = pl.concat([small] * (prefilter.SMALL_BATCH // 3 + 1))
    assert prefilter.prefiltered(big).height == big.height
    assert asked == [1]


def test_without_the_native_search_polars_filters(monkeypatch: pytest.MonkeyPatch) -> None:
    """``WHY502_NATIVE=0`` (or no C compiler): Python's needle loop is slower than the automaton's
    build on a few hundred lines, so polars filters every batch; the same lines either way."""
    monkeypatch.setenv("WHY502_NATIVE", "0")
    prefilter.prefilter_search.cache_clear()
    try:
        assert not prefilter.prefilter_search().is_native
        df = pl.DataFrame({"line": _lines(random.Random(9), 300)}, schema={"line": pl.String})
        assert prefilter.prefiltered(df).equals(_polars(df))
    finally:
        prefilter.prefilter_search.cache_clear()


@needs_native
def test_upper_case_needles_are_folded_as_polars_folds_them(monkeypatch: pytest.MonkeyPatch) -> None:
    """The catalog's needles are lower-case today; one that is not still matches as
    ``ascii_case_insensitive`` matches it (both sides' ASCII letters folded, others as they are)."""
    needles = ["Upstream X", "CAFÉ", "\u212aelvin"]
    monkeypatch.setattr(errorlog, "prefilter_needles", lambda: needles)
    monkeypatch.setattr(prefilter, "prefilter_needles", lambda: needles)
    prefilter.prefilter_search.cache_clear()
    try:
        lines = ["an upstream x here", "UPSTREAM X", "café", "CAFÉ", "cafÉ", "\u212aELVIN", "kelvin", "none"]
        df = pl.DataFrame({"line": lines})
        mine = prefilter.prefiltered(df)
        assert mine.equals(_polars(df))
        assert mine.get_column("line").to_list() == ["an upstream x here", "UPSTREAM X", "CAFÉ", "cafÉ",
                                                     "\u212aELVIN"]
    finally:
        prefilter.prefilter_search.cache_clear()


@pytest.mark.parametrize("framing", ["docker-json-file", "cri-partial", "timestamps-zone"])
def test_the_peel_filters_framed_lines_through_the_same_prefilter(framing: str,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    """The peel (``errorlog_peel``) asks the prefilter only when the catalog's keys do not hold a
    needle a framing keeps (never with today's catalog): forced, framed real lines still get the
    per-line recogniser's records, and the peel still peels them."""
    from tests.classify.test_classify_engines import assert_engines_agree, peeled, real_lines
    from tests.classify.wrapped_corpus import NATIVE_WRAPPERS
    from why502.parsers import errorlog_peel

    asked: list[int] = []
    real = prefilter.prefiltered

    def spy(df: pl.DataFrame) -> pl.DataFrame:
        asked.append(df.height)
        return real(df)

    monkeypatch.setattr(errorlog_peel, "_keys_hold_needles", lambda: False)
    monkeypatch.setattr(errorlog_peel, "prefiltered", spy)
    lines = [NATIVE_WRAPPERS[framing](ln) for ln in real_lines()]
    assert_engines_agree(lines)
    assert peeled(lines) > 150
    assert asked
