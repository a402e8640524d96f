"""``sources.scan.numbered_lines``: the lines the quote split rejected, read back by number --
whole, a raw NUL inside them included (it is the scan's field separator)."""

from __future__ import annotations

from pathlib import Path

import polars as pl

from why502.sources.scan import NUL_PIECES, numbered_lines, small_reader_chunks


def test_lines_with_raw_nuls_come_back_whole(tmp_path: Path) -> None:
    path = tmp_path / "nul.log"
    many = "\x00".join(f"p{k}" for k in range(NUL_PIECES + 3))
    path.write_bytes("\n".join(["a\x00b", "plain", "", "x\x00\x00y\x00", many, "last"]).encode() + b"\n")
    with small_reader_chunks():
        got = numbered_lines(str(path), pl.Series([0, 1, 2, 3, 4, 5], dtype=pl.UInt32)).collect()
    assert got.get_column("_row").to_list() == [0, 1, 2, 3, 4, 5]
    lines = got.get_column("line").to_list()
    # a run of NULs reads as one, a line of more than NUL_PIECES pieces loses its tail
    assert lines == ["a\x00b", "plain", "", "x\x00y", "\x00".join(f"p{k}" for k in range(NUL_PIECES)), "last"]
    with small_reader_chunks():
        some = numbered_lines(str(path), pl.Series([3, 0], dtype=pl.UInt32)).collect()
    assert some.get_column("line").to_list() == ["a\x00b", "x\x00y"]
