"""``stats``' and ``classify``'s summary's read of an edge log with a fold (``app.stats.lb``
``_view_blocks``): a plain file is read into buffers the workers hand back, each block a view of
one, instead of a new ``bytes`` per block.  The same blocks, lines and line numbers as the
``bytes`` read (``_blocks``), the buffers all handed back, a block's lines counted before its
buffer can be read into again, and the lines a fold hands back read from a copy (a view has no
``find``, ``count`` or ``split``)."""

from __future__ import annotations

import random
import sys
from pathlib import Path

import polars as pl
import pytest

from tests.support.native import native_pass
from why502.app.stats import lb
from why502.parsers.lblogs.fold import Counted
from why502.sources.logfiles import ReadBuffers

ROOT = Path(__file__).resolve().parents[2]
BUILT, pytestmark = native_pass("why502.parsers.lblogs._jsonscan", "the native JSON pass")

sys.path.insert(0, str(ROOT / "bench"))
import gen_lb_logs  # noqa: E402  (the bench's lines: bench/gen_lb_logs.py)


def _files(tmp: Path) -> list[str]:
    """Two logs of Envoy's JSON and text lines, with lines no reader takes among them (kept by
    their line numbers), one without a final newline."""
    rng = random.Random(5)
    out = []
    for k, make in enumerate((gen_lb_logs.envoy_json, gen_lb_logs.envoy)):
        lines = [make(gen_lb_logs.Req(rng, i, 20.0)) for i in range(2500)]
        for at in sorted(rng.sample(range(len(lines)), 40), reverse=True):
            lines.insert(at, f"not an entry {k}-{at}")
        path = tmp / f"access{k}.log"
        path.write_text("\n".join(lines) + ("\n" if k == 0 else ""), encoding="utf-8")
        out.append(str(path))
    return out


def _read(paths: list[str], fold: bool) -> tuple[lb.LbRead, list[tuple[int, str]], int]:
    unread: list[tuple[int, str]] = []
    rows: list[pl.DataFrame] = []
    groups: list[Counted] = []
    got = lb.read_lb(paths, "envoy", rows.append, batch_bytes=16 << 10,
                     counted=groups.append if fold else None, unread=unread.extend)
    counted = sum(frame.height for frame in rows) + sum(g.rows for g in groups)
    return got, unread, counted


def test_the_views_read_the_lines_the_bytes_read_does(tmp_path: Path,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    paths = _files(tmp_path)
    given: list[object] = []
    taken = ReadBuffers.take
    monkeypatch.setattr(ReadBuffers, "give", lambda self, buf: given.append(buf))
    views: list[int] = []
    real = lb._view_blocks

    def spy(*args: object) -> object:
        for item in real(*args):  # type: ignore[arg-type]
            views.append(1)
            yield item

    monkeypatch.setattr(lb, "_view_blocks", spy)
    got, got_unread, got_rows = _read(paths, fold=True)
    # every block a view, every buffer back (and the reader's spare one at each file's end)
    assert len(views) > 20 and len(views) <= len(given) <= len(views) + len(paths)
    monkeypatch.setattr(ReadBuffers, "take", taken)
    ref, ref_unread, ref_rows = _read(paths, fold=False)
    assert (got.lines, got.rows, got.unparsed, got.files, got.samples) == (
        ref.lines, ref.rows, ref.unparsed, ref.files, ref.samples)
    assert got_unread == ref_unread and len(got_unread) == 80  # each unread line at its number
    assert got_rows == ref_rows == got.rows


def test_a_block_is_counted_before_its_buffer_is_reused(tmp_path: Path) -> None:
    """Each block's buffer handed back as soon as it is handed out (the next reads may be into
    it): the blocks' first line numbers are the bytes read's."""
    paths = _files(tmp_path)
    buffers = ReadBuffers(16 << 10, keep=1)
    firsts = []
    for block, line, _family, _fold in lb._view_blocks(paths, "envoy", buffers, None):  # type: ignore[arg-type]
        firsts.append((block.path, line))
        buffers.give(block.buffer)  # handed back at once: the next read may reuse it
    ref = [(b.path, n) for b, n, _c in lb.iter_numbered_bytes(paths, batch_bytes=16 << 10)]
    assert firsts == ref and len(ref) > 20
