"""``byte_chunks.iter_byte_chunks`` (``stats``' and ``diagnose``'s access-log reader) on a line
longer than a chunk and than ``MAX_LINE_BYTES``: the line is cut to its first MiB, the lines
around it are read whole and numbered right, and the reader holds about one chunk for it, not
the line's head grown by every next chunk (a 60 MB line took ``diagnose`` to its 300 MB data
limit: tests/stats/test_resource_limits.py, BENCHMARKS.md stop 63)."""

from __future__ import annotations

import gzip
import tracemalloc
from pathlib import Path

import pytest

from why502.sources import byte_chunks
from why502.sources.byte_chunks import MAX_LINE_BYTES, iter_byte_chunks

CHUNK = 2 << 20


def _short(first: int, n: int) -> bytes:
    return b"".join(b"line %d of a log\n" % k for k in range(first, first + n))


def _read(path: Path, notes: list[str], monkeypatch: pytest.MonkeyPatch) -> list[byte_chunks.ByteChunk]:
    monkeypatch.setattr(byte_chunks, "note", notes.append)
    return list(iter_byte_chunks([str(path)], chunk_bytes=CHUNK))


@pytest.mark.parametrize(("gz", "long_bytes"), [(False, 3 * CHUNK + 17), (True, 3 * CHUNK + 17),
                                               (False, CHUNK + 1), (True, CHUNK + 1)])
def test_an_over_long_line_is_cut_and_the_others_kept(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                     gz: bool, long_bytes: int) -> None:
    """(A line longer than 1 MiB within a chunk is read whole, as before: only a line longer
    than a chunk is cut.)"""
    head = _short(1, 40_000)  # ~0.8 MiB: the long line starts inside the first chunk
    long = b"X" * long_bytes
    tail = _short(40_002, 30_000)
    body = head + long + b"\n" + tail
    path = tmp_path / ("access.log.gz" if gz else "access.log")
    path.write_bytes(gzip.compress(body, 1) if gz else body)
    notes: list[str] = []
    chunks = _read(path, notes, monkeypatch)
    assert b"".join(c.data for c in chunks) == head + long[:MAX_LINE_BYTES] + b"\n" + tail
    for c in chunks:  # every chunk whole lines, numbered in the file
        assert c.data.endswith(b"\n")
        first = c.data.split(b"\n", 1)[0]
        want = b"X" * MAX_LINE_BYTES if c.first_line == 40_001 else b"line %d of a log" % c.first_line
        assert first == want, c.first_line
    assert notes == [f"{path}: 1 line(s) longer than 1 MiB cut to their first 1 MiB"]


def test_a_last_over_long_line_without_its_newline_is_cut(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                         ) -> None:
    """The line's head was carried whole to the end of the file and given uncut when it was
    the tail of a block that held the lines before it."""
    head = _short(1, 1000)
    path = tmp_path / "access.log"
    path.write_bytes(head + b"Y" * (MAX_LINE_BYTES + 5000))
    notes: list[str] = []
    chunks = _read(path, notes, monkeypatch)
    assert b"".join(c.data for c in chunks) == head + b"Y" * MAX_LINE_BYTES + b"\n"
    assert len(notes) == 1


def test_the_reader_holds_about_a_chunk_for_a_line_of_many(tmp_path: Path) -> None:
    """Traced allocations while every chunk is taken and dropped: the line's head was carried
    and grown by each next chunk before it was cut (two chunks and more at once, on top of the
    chunk being read); now what is carried stops at the cut."""
    path = tmp_path / "access.log"
    with open(path, "wb") as fh:
        fh.write(_short(1, 40_000))
        fh.write(b"Z" * (12 * CHUNK))
        fh.write(b"\n" + _short(40_002, 1000))
    tracemalloc.start()
    try:
        tracemalloc.reset_peak()
        for chunk in iter_byte_chunks([str(path)], chunk_bytes=CHUNK):
            del chunk
        _now, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 2.5 * CHUNK, peak
