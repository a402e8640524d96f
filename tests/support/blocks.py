"""What the tests of a family's native block reader compare (``tests/stats/test_envoy_block.py``,
``tests/stats/test_traefik_block.py``): the rows ``stats`` counts of some lines through the raw-
block reader and through the decoded one, and the records of every column through the block
reader and through the family's vectorised reader."""

from __future__ import annotations

import random
from collections.abc import Callable

import polars as pl
import pytest

from why502.app.stats import lb
from why502.parsers.lblogs import batch
from why502.proxies.logfamilies import families
from why502.sources.logfiles import ByteBatch, LineBatch

BlockReader = Callable[[bytes], "tuple[pl.DataFrame, list[int]] | None"]
FrameReader = Callable[[pl.Series], tuple[pl.DataFrame, pl.Series]]


def rows(family: str, lines: list[str], native: str, monkeypatch: pytest.MonkeyPatch,
         block: bool) -> lb._Converted:
    """``stats``' rows of ``lines`` read as ``family`` (``WHY502_NATIVE=native``): through the
    raw-block reader (``block``) or the decoded batch reader."""
    monkeypatch.setenv("WHY502_NATIVE", native)
    batch._native_pass.cache_clear()
    try:
        text = "\n".join(lines)
        if block:
            return lb._convert_block(ByteBatch("f.log", text.encode()), 1, family)
        return lb._convert(LineBatch("f.log", 1, text, len(lines)), family)
    finally:
        batch._native_pass.cache_clear()


def folded(family: str, lines: list[str]) -> int:
    """Lines ``family``'s ``stats`` fold counts of ``lines`` (one block), its take agreeing."""
    fold = families().fold(family)
    assert fold is not None
    _frame, _back, count = fold.block(("\n".join(lines) + "\n").encode())
    counted = fold.take()
    assert counted is None or counted.rows == count
    return count


def scrambled(lines: list[str], rng: random.Random) -> None:
    """``lines`` as several workers write a log (300 lines swapped out of time order) with an
    error page and a stray line pasted in, in place."""
    for _ in range(300):
        i, j = rng.randrange(len(lines)), rng.randrange(len(lines))
        lines[i], lines[j] = lines[j], lines[i]
    lines[1500:1500] = ["<html><body>502 Bad Gateway</body></html>", "", "not an entry"]


def equal(got: pl.DataFrame, ref: pl.DataFrame) -> None:
    assert got.columns == ref.columns
    assert got.equals(ref, null_equal=True), [
        (i, a, b) for i, (a, b) in enumerate(zip(got.iter_rows(), ref.iter_rows(), strict=False))
        if a != b][:2]


def same(got: lb._Converted, ref: lb._Converted) -> None:
    assert (got.lines, got.unparsed) == (ref.lines, ref.unparsed)
    equal(got.frame, ref.frame)


def records_agree(block: BlockReader, frame: FrameReader, lines: list[str]) -> int:
    """``block``'s records of ``lines`` (every column a record has: the request, host and client
    ``diagnose`` shows, which ``stats``' rows leave out) are ``frame``'s, the lines it hands back
    read by ``frame`` as ``lb._native_rows`` reads them; how many it read itself."""
    data = "\n".join(lines).encode()
    got = block(data)
    assert got is not None
    read, back = got
    split = data.decode().split("\n")
    ref, rest = frame(pl.Series("text", split, dtype=pl.String))
    assert set(rest.to_list()) <= set(back)
    more, _left = frame(pl.Series("text", [split[i] for i in back], dtype=pl.String))
    more = more.with_columns(pl.Series("idx", back, dtype=pl.UInt32).gather(more["idx"]).alias("idx"))
    equal(pl.concat([read, more]).sort("idx"), ref)
    return read.height


def spied(monkeypatch: pytest.MonkeyPatch, module: object, name: str) -> list[int]:
    """Replace the block reader ``module.name`` by one that records how many rows each call read
    (-1: it could not run): whether the reader under test read the lines, not a fallback."""
    reader: BlockReader = getattr(module, name)
    read: list[int] = []

    def spy(data: bytes) -> tuple[pl.DataFrame, list[int]] | None:
        got = reader(data)
        read.append(got[0].height if got is not None else -1)
        return got

    monkeypatch.setattr(module, name, spy)
    return read


def spied_pass(monkeypatch: pytest.MonkeyPatch, module: object, loader: str, function: str) -> list[int]:
    """Replace the loader ``module.loader`` of a native pass by one whose ``function`` records how
    many lines each call took (its lines less those it handed back)."""
    native = getattr(module, loader)()
    assert native is not None, f"{loader}: the native pass is not built"
    real = getattr(native, function)
    taken: list[int] = []

    def counted(chunk: bytes) -> object:
        got = real(chunk)
        taken.append(got[2] - len(got[3]) // 4)  # lines - handed back (uint32 each)
        return got

    spy = type("Spy", (), {function: staticmethod(counted)})()
    monkeypatch.setattr(module, loader, lambda: spy)
    return taken
