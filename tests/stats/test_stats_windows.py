"""How the native reader of `why502 stats` holds a log in memory (issue 28 item 4): views of
reads of one size (``sources.byte_chunks``, ``views``), windows that grow only while the C
scanner folds nearly every row into few groups (``app.stats.read._Windows``), and a chunk read
only when a worker is free for it (``_feed``) -- with the same lines and the same answer as
the exact chunks.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.stats.test_stats_fold import FULL, _stats
from why502.app.stats import read as stats_read
from why502.evidence.stats.reduce import Partial
from why502.parsers.log_format import ByteChunk
from why502.sources.byte_chunks import iter_byte_chunks


def _body(lines: int, seed: int) -> bytes:
    rnd = random.Random(seed)
    return b"".join(b"line %d %s\n" % (k, b"x" * rnd.randrange(0, 300)) for k in range(lines))


@pytest.mark.parametrize("sizes", [[4096], [4096, 9000, 4096], [70_000]])
def test_views_give_the_exact_chunks_lines(tmp_path: Path, sizes: list[int]) -> None:
    """Views of fixed windows, their size changing between reads, and the file's tail (the last
    short window goes to the general reader): the same bytes in the same order, whole lines,
    as exact chunks; a window without a newline near its end hands the rest over too."""
    body = _body(3000, 5)
    path = tmp_path / "access.log"
    path.write_bytes(body)
    asked = iter(sizes * 1000)
    views = list(iter_byte_chunks([str(path)], 4096, count_lines=False, views=True,
                                  window=lambda: next(asked)))
    assert b"".join(bytes(c.data) for c in views) == body
    assert all(bytes(c.data).endswith(b"\n") for c in views)
    assert any(isinstance(c.data, memoryview) for c in views)
    exact = list(iter_byte_chunks([str(path)], 4096, count_lines=False))
    assert b"".join(c.data for c in exact) == body  # type: ignore[misc]
    assert [c.first_line for c in views][:1] == [1] and {c.first_line for c in views[1:]} == {0}


def test_a_line_longer_than_the_window(tmp_path: Path) -> None:
    body = b"short\n" + b"y" * 200_000 + b"\n" + _body(500, 2)
    path = tmp_path / "access.log"
    path.write_bytes(body)
    views = list(iter_byte_chunks([str(path)], 4096, count_lines=False, views=True))
    assert b"".join(bytes(c.data) for c in views).replace(b"y" * (1 << 20), b"") == body


def _part(rows: int, folded: int, groups: int) -> Partial:
    import polars as pl

    part = Partial(path="x", rows=rows, folded=folded)
    part.timeline = pl.DataFrame({"minute": [str(k) for k in range(groups)]})
    return part


def test_windows_grow_only_while_the_fold_counts_nearly_every_row() -> None:
    w = stats_read._Windows(100, 300)
    assert w() == 100
    w.saw(_part(10_000, 9_950, 40))
    assert w() == 300
    w.saw(_part(10_000, 8_000, 40))  # 5xx or retries: their columns grow with the chunk
    assert w() == 100
    w.saw(_part(10_000, 10_000, 5_000))  # unique hosts or minutes: the groups grow with it
    assert w() == 100
    w.saw(_part(0, 0, 0))
    assert w() == 100


def _quiet_log(path: Path, lines: int) -> Path:
    """A log the fold counts nearly all of: answered requests, one upstream each, 2% 502s."""
    rnd = random.Random(9)
    out = []
    for k in range(lines):
        failed = rnd.random() < 0.02
        status, us, uht = ("502", "502", "-") if failed else ("200", "200", f"0.0{rnd.randrange(99):02d}")
        out.append(f'198.51.100.{k % 250} - - [21/Nov/2026:10:{k * 30 // lines:02d}:{k % 60:02d} +0000] '
                   f'"GET /a HTTP/1.1" {status} 12 "-" "curl/8" "app.example" rt=0.01 '
                   f'ua="10.0.0.{k % 3}:80" us="{us}" uct="0.000" uht="{uht}" urt="{uht}"')
    path.write_text("\n".join(out) + "\n")
    return path


def test_a_chunk_is_read_only_when_a_worker_is_free(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """At most ``workers`` chunks are out at a time (each held by a worker), the windows grow
    on a log the fold counts nearly all of, and the answer is the one of the polars reader."""
    from why502.evidence.stats import reduce as stats_reduce

    log = _quiet_log(tmp_path / "access.log", 20_000)
    read: list[int] = []
    held = [0]
    sizes: list[int] = []

    def counted(chunks: Iterator[ByteChunk], progress: stats_read.ProgressBytes) -> Iterator[ByteChunk]:
        for chunk in chunks:
            held[0] += 1
            read.append(held[0])
            sizes.append(len(chunk.data))
            yield chunk

    partial = stats_reduce.Reducer.partial

    def releasing(self: stats_reduce.Reducer, chunk: ByteChunk, defer: bool = False) -> Partial:
        try:
            return partial(self, chunk, defer)
        finally:
            held[0] -= 1

    monkeypatch.setattr(stats_read, "_tracked", counted)
    monkeypatch.setattr(stats_reduce.Reducer, "partial", releasing)
    monkeypatch.setattr(stats_read, "NATIVE_CHUNKS", 0.005)  # ~50 KiB chunks, then ~150 KiB
    monkeypatch.setattr(stats_read, "FOLDED_CHUNKS", 0.015)
    got = _stats(log, FULL, True)
    assert len(read) > 10 and max(read) <= 2
    assert sizes[0] < 60_000 and max(sizes) > 120_000  # the windows grew
    monkeypatch.undo()
    assert got == _stats(log, FULL, False)


def test_a_chunk_buffer_is_reused_only_once_its_reader_is_done(tmp_path: Path) -> None:
    """Views are read into reused buffers: handed back by ``done``, taken again by the next read;
    never while a chunk that was not done still shows it."""
    path = tmp_path / "access.log"
    path.write_bytes(_body(4000, 7))
    held = list(iter_byte_chunks([str(path)], 8192, count_lines=False, views=True))
    buffers = {id(c.data.obj) for c in held if isinstance(c.data, memoryview)}
    assert len(buffers) == sum(isinstance(c.data, memoryview) for c in held) > 10
    seen, text = set(), []
    for c in iter_byte_chunks([str(path)], 8192, count_lines=False, views=True):
        if isinstance(c.data, memoryview):
            seen.add(id(c.data.obj))
        text.append(bytes(c.data))
        c.done()
    assert len(seen) == 1 and b"".join(text) == path.read_bytes()
