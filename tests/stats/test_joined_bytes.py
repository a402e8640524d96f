"""``parsers.arrowcols.joined_bytes``: a string column joined by newlines as the UTF-8 bytes the
native passes read -- what ``"\\n".join(...).encode()`` of the non-null strings gives, for any
text (multi-byte, control characters, empty strings, nulls, no row at all)."""

from __future__ import annotations

import random

import polars as pl

from why502.parsers.arrowcols import joined_bytes


def test_the_bytes_of_the_joined_lines() -> None:
    rng = random.Random(61)
    alphabet = ["a", "é", "€", "\U0001f600", "\t", "\x00", " ", "\\", '"', "\r"]
    for _ in range(300):
        rows = [None if rng.random() < 0.1 else "".join(rng.choice(alphabet) for _ in range(rng.randrange(6)))
                for _ in range(rng.randrange(0, 12))]
        series = pl.Series("line", rows, dtype=pl.String)
        want = "\n".join(r for r in rows if r is not None).encode("utf-8")
        assert joined_bytes(series) == want, rows
        filled = "\n".join(r or "" for r in rows).encode("utf-8")
        assert joined_bytes(series.fill_null("")) == filled
    assert joined_bytes(pl.Series("line", [], dtype=pl.String)) == b""
