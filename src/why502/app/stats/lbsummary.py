"""``why502 classify``'s summary of a load-balancer / proxy log without a record per failure
(issue 28 item 2).

The summary is a count per (symptom, code, status) of the requests the proxy failed itself
(``parsers.recognise.lb_reported``), with each key's first and last time, plus what the
classify rules read in the lines the family does not read.  The row path
(``lb.classify_lb``) built an ``LbRecord`` and a JSON row for every failure and counted them
one by one in Python: ~10 CPU-s of Envoy's 1M-line JSON log went there and to deciding every
row in polars.  Those counts are the ones ``stats`` already keeps of the failures (its ``codes``:
the failures the edge made, by code, with their first and last time), so the summary reads the
log as ``stats`` does (``lb.read_lb``): a family whose native pass has a fold counts the rows
in it and decides each group of deciding values once (``parsers.lblogs.fold``,
``parsers.lblogs.jsonfold``); the rows it hands over are counted by polars group-bys; the lines
no parser takes go through ``classify_line`` as before.  ``tests/classify/test_lb_summary.py``
holds its answer equal to the row path's on every recorded and published edge line.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

import polars as pl

from why502.app.stats.lb import VECTOR_BATCH_BYTES, no_request_line, read_lb
from why502.parsers.errorlog import classify_line
from why502.parsers.lblogs.fold import Counted

#: (symptom, code, status) as ``classify``'s table shows them: "-" for an empty value
Key = tuple[str, str, str]


@dataclass
class Tally:
    """One key's failures: how many, and the least and greatest time of those that have one
    (the times' text, compared as text: the order polars' ``min``/``max`` of a string column
    and Python's ``min``/``max`` of ``str`` agree on)."""

    n: int = 0
    first: str | None = None
    last: str | None = None

    def add(self, n: int, first: str | None, last: str | None) -> None:
        self.n += n
        if first is not None and (self.first is None or first < self.first):
            self.first = first
        if last is not None and (self.last is None or last > self.last):
            self.last = last


@dataclass
class LbSummary:
    """The failures of one read, by key."""

    tallies: dict[Key, Tally] = field(default_factory=dict)

    @property
    def failures(self) -> int:
        return sum(t.n for t in self.tallies.values())

    def add(self, key: Key, n: int, first: str | None, last: str | None) -> None:
        self.tallies.setdefault(key, Tally()).add(n, first, last)

    def ranked(self, top: int | None = None) -> list[tuple[Key, Tally]]:
        """The keys, most failures first; ties by their first time (one with no time after),
        then by the key: the same order whichever way the lines were counted (a fold's groups
        come in no file order)."""
        ranked = sorted(self.tallies.items(),
                        key=lambda kv: (-kv[1].n, kv[1].first is None, kv[1].first or "", kv[0]))
        return ranked[:top] if top is not None else ranked


def _shown(name: str) -> pl.Expr:
    """A column as the table shows it: its text, "-" when it is null or empty (a status of 0
    too: the row path wrote ``row["status"] or "-"``)."""
    col = pl.col(name)
    text = col.cast(pl.String)
    empty = col.is_null() | (text == "") | ((col == 0) if name == "status" else pl.lit(False))
    return pl.when(empty).then(pl.lit("-")).otherwise(text).alias(f"_{name}")


_KEY = [_shown("symptom"), _shown("code"), _shown("status")]
_FAILED = pl.col("failed") & (pl.col("made_by") == "lb")


def _add_failed(summary: LbSummary, frame: pl.DataFrame, n: pl.Expr, first: str, last: str) -> None:
    """The failures the edge made itself in ``frame`` (rows, or a fold's groups), by key: their
    count ``n`` and the least ``first`` and greatest ``last`` time that is not empty.  A block
    whose every line a fold counted hands over no row: no query then (a filter of an empty frame
    still cost ~1 ms, ~0.15 s on the main thread of Cloudflare's 1M-line summary, which its
    workers waited for; BENCHMARKS.md stop 57)."""
    if not frame.height:
        return
    failed = frame.filter(_FAILED)
    if not failed.height:
        return
    groups = failed.group_by(_KEY).agg(n, pl.col(first).filter(pl.col(first) != "").min().alias("_first"),
                                       pl.col(last).filter(pl.col(last) != "").max().alias("_last"))
    for sym, code, status, count, least, most in groups.iter_rows():
        summary.add((sym, code, status), int(count), least, most)


def summary_of_rows(rows: Iterable[dict[str, object]]) -> LbSummary:
    """The summary of ``classify_lb``'s rows (what ``classify --since`` counts: a row each)."""
    summary = LbSummary()
    for row in rows:
        # a line the family does not read, but the classify rules do, is the rules' row: it has
        # no family ``code`` (``lb.classify_lb``)
        key = (str(row["symptom"] or "-"), str(row.get("code") or "-"), str(row["status"] or "-"))
        time = str(row["time"]) if row["time"] else None
        summary.add(key, 1, time, time)
    return summary


def summarize_lb(paths: list[str], family: str, batch_bytes: int = VECTOR_BATCH_BYTES) -> LbSummary:
    """The summary of ``paths`` read as ``family`` (no ``--since``: a row the fold counts has no
    time of its own to window, so ``classify --since`` keeps the row path).  An input with no
    request of the family and no failure the classify rules read is an error, not "0 failed"."""
    summary = LbSummary()

    def rows(frame: pl.DataFrame) -> None:
        _add_failed(summary, frame, pl.len(), "time", "time")

    def counted(groups: Counted) -> None:
        _add_failed(summary, groups.codes, pl.col("n").sum(), "first", "last")

    def unread(lines: Iterable[tuple[int, str]]) -> None:
        for _n, text in lines:
            if (found := classify_line(text)) is None:
                continue
            time = found.time or None
            summary.add((found.symptom or "-", "-", str(found.status or "-")), 1, time, time)

    read = read_lb(paths, family, rows, batch_bytes, counted=counted, unread=unread, codes_only=True)
    if not read.rows and not summary.failures:  # (as the row path: ``lb.no_request_line``)
        raise no_request_line(family, paths)
    return summary
