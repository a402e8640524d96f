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
    their line numbers) and lines only the polars reader takes (rows), one without a final
    newline."""
    rng = random.Random(5)
    out = []
    for k, make in enumerate((gen_lb_logs.envoy_json, gen_lb_logs.envoy)):
        lines = [make(gen_lb_logs.Req(rng, i, 20.0)) for i in range(2500)]
        # an escaped method: the fold hands the line back, the polars reader makes it a row
        lines[::37] = [line.replace('"GET"', '"G\\u0045T"') for line in lines[::37]]
        for at in sorted(rng.sample(range(len(lines)), 40), reverse=True):
            lines.insert(at, f"not an entry {k}-{at}")
        path = tmp / f"access{k}.log"
        path.write_text("\n".join(lines) + ("\n" if k == 0 else ""), encoding="utf-8")
        out.append(str(path))
    return out


def _read(paths: list[str], fold: bool) -> tuple[lb.LbRead, list[tuple[int, str]], int, pl.DataFrame]:
    unread: list[tuple[int, str]] = []
    rows: list[pl.DataFrame] = []
    groups: list[Counted] = []
    got = lb.read_lb(paths, "envoy", rows.append, batch_bytes=16 << 10,
                     counted=groups.append if fold else None, unread=unread.extend)
    counted = sum(frame.height for frame in rows) + sum(g.rows for g in groups)
    return got, unread, counted, pl.concat(rows, how="vertical_relaxed")


def _same(paths: list[str], monkeypatch: pytest.MonkeyPatch) -> list[object]:
    """The read with a fold (views) and without (bytes) agree: lines, rows, unread lines with
    their numbers, samples; each row the fold handed over is the bytes read's row of that file
    and line.  The buffers handed back (the returned list)."""
    given: list[object] = []
    views: list[int] = []
    real = lb._view_blocks

    def spy(*args: object) -> object:
        for item in real(*args):  # type: ignore[arg-type]
            views.append(1)
            yield item

    with monkeypatch.context() as m:
        m.setattr(ReadBuffers, "give", lambda self, buf: given.append(buf))
        m.setattr(lb, "_view_blocks", spy)
        got, got_unread, got_rows, got_frame = _read(paths, fold=True)
    ref, ref_unread, ref_rows, ref_frame = _read(paths, fold=False)
    # every block a view, every buffer back (and the reader's spare one at each file's end)
    assert len(views) > 20 and len(views) <= len(given) <= len(views) + len(paths)
    assert (got.lines, got.rows, got.unparsed, got.files, got.samples) == (
        ref.lines, ref.rows, ref.unparsed, ref.files, ref.samples)
    assert got_unread == ref_unread
    assert got_rows == ref_rows == got.rows
    cols = ["file", "line", "time", "status", "target", "code"]
    handed = got_frame.select(cols)
    unknown = handed.join(ref_frame.select(cols), on=cols, how="anti", nulls_equal=True)
    assert handed.height > 40 and unknown.height == 0
    return given


def test_the_views_read_the_lines_the_bytes_read_does(tmp_path: Path,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    _same(_files(tmp_path), monkeypatch)


def test_each_input_numbered_from_its_first_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The blocks are counted by their converters and numbered by the reader, per input in order:
    an input named twice is numbered from 1 again, as the bytes read does."""
    a, b = _files(tmp_path)
    _same([a, b, a], monkeypatch)
