"""``_lines.read_cut``: the readers' blocks read in place after the carried head of their first
line and cut at their last newline, no copy of the block (``logfiles._chunks``).  They must be
the blocks the slicing reader cuts (``WHY502_NATIVE=0``): the same bytes, the same over-long
lines cut at the same place and counted alike, on every batch size around the lines' lengths,
through a plain file, gzip and a stream, with and without a last newline."""

from __future__ import annotations

import gzip
import io
import random
from pathlib import Path

import pytest

from tests.support.native import native_pass
from why502.sources import logfiles
from why502.sources.logfiles import iter_numbered_bytes

BUILT, pytestmark = native_pass("why502.sources._lines", "the native read in place")


def _blocks(data: bytes, batch: int, max_line: int, native: bool,
            monkeypatch: pytest.MonkeyPatch) -> tuple[list[bytes], int]:
    monkeypatch.setenv("WHY502_NATIVE", "1" if native else "0")
    cuts = [0]
    out = list(logfiles._chunks(io.BufferedReader(io.BytesIO(data), 7), batch, max_line, cuts))
    return out, cuts[0]


def _log(rng: random.Random, lines: int, longest: int) -> bytes:
    rows = []
    for _ in range(lines):
        n = rng.choice([0, 1, 2, rng.randrange(longest), rng.randrange(longest * 3)])
        rows.append(bytes(rng.choice(b"ab \t\r\x00\xff{}") for _ in range(n)))
    return b"\n".join(rows) + rng.choice([b"", b"\n", b"\n\n", b"tail"])


def test_the_blocks_are_the_slicing_readers(monkeypatch: pytest.MonkeyPatch) -> None:
    rng = random.Random(28)
    checked = 0
    for _ in range(300):
        data = _log(rng, rng.randrange(0, 40), rng.randrange(1, 60))
        batch = rng.randrange(1, 200)
        max_line = rng.randrange(5, 120)
        native = _blocks(data, batch, max_line, True, monkeypatch)
        sliced = _blocks(data, batch, max_line, False, monkeypatch)
        assert native == sliced, (data, batch, max_line)
        checked += len(native[0])
    assert checked > 1000


def test_an_empty_reader_and_one_without_a_newline(monkeypatch: pytest.MonkeyPatch) -> None:
    for data in (b"", b"x", b"x" * 500, b"\n", b"\n" * 3):
        for batch in (1, 2, 64, 1 << 20):
            native = _blocks(data, batch, 100, True, monkeypatch)
            assert native == _blocks(data, batch, 100, False, monkeypatch), (data, batch)


def test_every_reader_kind_reads_alike(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A plain file and a gzip one, read as ``iter_numbered_bytes`` reads them (the numbers of
    the lines too)."""
    rng = random.Random(5)
    data = _log(rng, 3000, 300)
    plain = tmp_path / "a.log"
    plain.write_bytes(data)
    packed = tmp_path / "b.log.gz"
    packed.write_bytes(gzip.compress(data))

    def read(native: str, path: Path) -> list[tuple[bytes, int, int]]:
        monkeypatch.setenv("WHY502_NATIVE", native)
        return [(b.data, line, count) for b, line, count in
                iter_numbered_bytes([path], batch_bytes=4096, max_line_bytes=700, ahead=0)]

    for path in (plain, packed):
        assert read("1", path) == read("0", path)
        assert b"\n".join(d for d, _l, _c in read("1", path)).count(b"\n") > 2000


class _Keeper(io.RawIOBase):
    """A reader that keeps what it was given to write into (no reader of io does)."""

    def __init__(self) -> None:
        self.kept: list[memoryview] = []

    def readable(self) -> bool:
        return True

    def readinto(self, buf: memoryview) -> int:  # type: ignore[override]
        self.kept.append(buf.cast("B"))  # an export of the view, alive after the call
        buf[:2] = b"a\n"
        return 2


def test_a_reader_that_keeps_the_view_is_an_error_not_a_crash() -> None:
    from why502.sources._lines import read_cut  # type: ignore[import-not-found]

    keeper = _Keeper()
    with pytest.raises(BufferError):
        read_cut(keeper.readinto, b"", 64)
    keeper.kept[0][:1] = b"z"  # the storage it holds is still there (never freed under it)
    with pytest.raises(ValueError):
        read_cut(lambda buf: 65, b"", 64)
    assert read_cut(lambda buf: None, b"head", 64) == (None, b"head", 0)
