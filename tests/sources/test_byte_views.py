"""``iter_byte_views`` (reused read buffers, ``why502 classify``'s summary) cuts every input into the
same batches as ``iter_byte_batches``: the same bytes, the same over-long line cuts and notes."""

from __future__ import annotations

import gzip
import random
from pathlib import Path

import pytest

from why502.sources import opening
from why502.sources.logfiles import ReadBuffers, iter_byte_batches, iter_byte_views


def _views(path: Path, batch: int, max_line: int, keep: int = 4) -> list[tuple[bytes, int, int]]:
    buffers = ReadBuffers(batch, max_line, keep=keep)
    out = []
    for b in iter_byte_views([path], buffers):
        out.append((bytes(b.data), b.bytes_done, b.bytes_total))
        b.data.release()
        buffers.give(b.buffer)
    return out


def _batches(path: Path, batch: int, max_line: int) -> list[tuple[bytes, int, int]]:
    return [(b.data, b.bytes_done, b.bytes_total)
            for b in iter_byte_batches([path], batch_bytes=batch, max_line_bytes=max_line)]


def _content(seed: int) -> bytes:
    """Lines of random lengths -- empty ones, CRs, non-ASCII, lines longer than a batch and
    longer than the line cap -- with or without a last newline."""
    rng = random.Random(seed)
    lines = []
    for _ in range(rng.randrange(0, 60)):
        kind = rng.random()
        n = (rng.randrange(0, 12) if kind < 0.6 else rng.randrange(0, 200) if kind < 0.9
             else rng.randrange(200, 900))
        lines.append(bytes(rng.choice(b"ab \r\xff\xc3\xa9") for _ in range(n)))
    return b"\n".join(lines) + (b"\n" if rng.random() < 0.5 else b"")


@pytest.mark.parametrize("seed", range(60))
@pytest.mark.parametrize(("batch", "max_line"),
                         [(1, 4), (7, 5), (16, 300), (64, 50), (300, 1000), (4096, 64)])
def test_views_cut_as_batches(tmp_path: Path, seed: int, batch: int, max_line: int) -> None:
    path = tmp_path / "error.log"
    path.write_bytes(_content(seed))
    opening.take_notes()
    want = _batches(path, batch, max_line)
    want_notes = opening.take_notes()
    assert _views(path, batch, max_line) == want
    assert opening.take_notes() == want_notes


def test_views_of_gzip_as_batches(tmp_path: Path) -> None:
    """A ``.gz`` file is read through ``read`` (not ``readinto``), with the same cuts."""
    path = tmp_path / "error.log.gz"
    data = b"".join(_content(seed) + b"\n" for seed in range(40))
    path.write_bytes(gzip.compress(data))
    assert _views(path, 256, 100) == _batches(path, 256, 100)
    # the last newline ends the last line
    assert b"\n".join(v for v, _, _ in _views(path, 256, 1 << 20)) == data[:-1]


def test_a_kept_buffer_is_never_read_into(tmp_path: Path) -> None:
    """A consumer that keeps its batches (never gives their buffers back) still sees each batch's
    bytes unchanged: the reader takes new buffers rather than reuse one it handed out."""
    path = tmp_path / "error.log"
    data = b"".join(_content(seed) + b"\n" for seed in range(30))
    path.write_bytes(data)
    buffers = ReadBuffers(64, 100, keep=2)
    held = list(iter_byte_views([path], buffers))
    assert [bytes(b.data) for b in held] == [b for b, _, _ in _batches(path, 64, 100)]
    assert len({id(b.buffer) for b in held}) == len(held)


def test_buffers_given_back_are_reused(tmp_path: Path) -> None:
    path = tmp_path / "error.log"
    path.write_bytes(b"".join(_content(seed) + b"\n" for seed in range(30)))
    buffers = ReadBuffers(64, 100, keep=2)
    seen = set()
    for b in iter_byte_views([path], buffers):
        seen.add(id(b.buffer))
        b.data.release()
        buffers.give(b.buffer)
    assert len(seen) <= 2
