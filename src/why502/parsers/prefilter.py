"""The batch engine's literal prefilter: which lines of a frame hold one of the catalog's needles
(``errorlog.prefilter_needles``), ASCII letters' case ignored -- polars' ``contains_any(...,
ascii_case_insensitive=True)``.  A line holding none is one the per-line recogniser cannot read
(``prefilter_needles``' docstring), so the engine skips it: ``errorlog_batch._classify_others``
before the per-line path, and ``errorlog_peel`` on framed lines when the catalog's keys do not
prove the filter needless there.

Polars builds its Aho-Corasick automaton of the ~400 needles anew at each call, ~3.5 ms whatever
the frame's size; a small frame asks the native needle search (``parsers.needles``) of each line
instead, with the same answer (``tests/classify/test_prefilter_small.py``).
"""

from __future__ import annotations

from functools import lru_cache

import polars as pl

from why502.parsers.errorlog import prefilter_needles
from why502.parsers.needles import NeedleSearch

SMALL_BATCH = 2048
"""Up to how many lines :func:`prefiltered` asks the native needle search line by line (~1.5 us a
line) rather than polars' ``contains_any``: ~3.5 ms a call whatever its size, plus ~0.2 us a
line (measured at stop 77 on this project's 2-core machine).  A run over many small files (or
``explain``-sized pastes) paid the build once per file: 2,054 one-line files took ~8 s of it."""

ASCII_LOWER = {c: c + 32 for c in range(ord("A"), ord("Z") + 1)}
"""``str.translate``'s table lower-casing ASCII letters alone (``str.lower`` folds others too:
the Kelvin sign to ``k``), as polars' ``ascii_case_insensitive`` compares."""


@lru_cache(maxsize=1)
def prefilter_search() -> NeedleSearch:
    """``prefilter_needles``, their ASCII letters lower-cased, searched natively in one pass over
    a text (``parsers.needles``), for :func:`prefiltered`, which lower-cases a line's ASCII
    letters the same way."""
    return NeedleSearch([n.translate(ASCII_LOWER) for n in prefilter_needles()])


def prefiltered(df: pl.DataFrame) -> pl.DataFrame:
    """``df``'s rows whose ``line`` holds one of ``prefilter_needles``, ASCII letters' case
    ignored: ``contains_any(..., ascii_case_insensitive=True)``.  A small frame asks the native
    search instead, with the same answer: a line holds a needle, ASCII case aside, exactly when
    its text with ASCII letters lower-cased holds the needle lower-cased the same way (other
    characters are compared as they are, as ``ascii_case_insensitive`` does); a null line holds
    none."""
    search = prefilter_search()
    lines = df.get_column("line")
    if df.height > SMALL_BATCH or not search.is_native:
        return df.filter(lines.str.contains_any(prefilter_needles(), ascii_case_insensitive=True))
    found = search.found
    keep = [line is not None and bool(found(line.lower() if line.isascii() else line.translate(ASCII_LOWER)))
            for line in lines]
    return df.filter(pl.Series(keep, dtype=pl.Boolean))
