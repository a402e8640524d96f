"""A proxy's memo of the per-line recogniser, as the proxy registry hands it down (issue 23 item 2).

``errorlog.classify_line`` reads one line at ~25-110 us in Python; a proxy whose error lines
repeat few messages under heads that differ in every line may declare a memo that gives the same
record for a fraction of that (``Hooks.line_memo``: Apache's ``proxies/apache/error_memo.py``,
its proof that no rule reads the masked head).  This layer sits below the registry and may not
ask it, so the registry installs the memo's maker here when it is imported (``why502.proxies``),
and the per-line paths of ``classify`` (``errorlog_batch``) and ``watch`` (``app.watch.errorscan``)
ask :func:`new_memo` / :func:`shared_memo`: the memo, or :class:`PlainMemo` (``classify_line``
itself) when no proxy declares one or the parsers run without the registry -- the same records
either way.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from typing import TYPE_CHECKING, Protocol, cast

from why502.parsers import errorlog

if TYPE_CHECKING:
    import polars as pl


#: a summary row of ``classify`` (``errorlog_batch.SUMMARY_SCHEMA``): symptom, status, source,
#: upstream, lines, first time, last time
SummaryRow = tuple[str, int | None, str, str | None, int, str | None, str | None]


class LineMemo(Protocol):
    """``classify_line``, maybe faster: the same answers, line by line."""

    def classify(self, line: str, year: int = 1970) -> errorlog.Classified | None:
        """``errorlog.classify_line(line, year)``."""

    def failure(self, line: str) -> tuple[str, str | None] | None:
        """``watch``'s count of the line: (symptom, upstream) of a failed request (a record with a
        status), None when the line is none."""

    def failures(self, lines: list[str]) -> Counter[tuple[str, str | None]]:
        """``failure`` of each of ``lines`` (no line holds a newline), counted (None left out):
        a memo may answer a block of lines of one message at once."""

    def failures_of_block(self, data: bytes) -> tuple[Counter[tuple[str, str | None]], bytes]:
        """``failures`` of the lines of ``data`` (whole lines) it can count without reading
        them one by one (a native pass), and the other lines, handed back for ``failures``."""

    def summary_of_block(self, data: bytes) -> tuple[list[SummaryRow], bytes]:
        """``classify``'s summary rows (``SummaryRow``) of the lines of ``data`` (whole lines) it
        can count by key without reading them one by one (a native pass), and the other lines,
        handed back for the per-line path: the rows ``aggregate_records`` makes of their
        records, before it merges them with others."""

    def reads_first(self, data: bytes) -> bool:
        """Whether ``watch``'s counter (``app.watch.errorscan``) gives ``data`` to
        ``failures_of_block`` before the engine's scanner and the proxies' folds: only when no
        line that pass takes is one they would read, so the counts are the same either way."""


class PlainMemo:
    """``classify_line`` itself (no proxy declared a memo)."""

    def classify(self, line: str, year: int = 1970) -> errorlog.Classified | None:
        return errorlog.classify_line(line, year=year)

    def failure(self, line: str) -> tuple[str, str | None] | None:
        rec = errorlog.classify_line(line)
        if rec is None or rec.status is None:
            return None
        return rec.symptom, rec.upstream

    def failures(self, lines: list[str]) -> Counter[tuple[str, str | None]]:
        out: Counter[tuple[str, str | None]] = Counter()
        for line in lines:
            got = self.failure(line)
            if got is not None:
                out[got] += 1
        return out

    def failures_of_block(self, data: bytes) -> tuple[Counter[tuple[str, str | None]], bytes]:
        return Counter(), data

    def summary_of_block(self, data: bytes) -> tuple[list[SummaryRow], bytes]:
        return [], data

    def reads_first(self, data: bytes) -> bool:
        return False


_maker: Callable[[], LineMemo] | None = None
_shared: LineMemo | None = None
#: the lines a finder is given, joined by newlines as the UTF-8 bytes a native pass reads: made
#: at most once per batch for all finders, or the caller's (``known``)
Joined = Callable[[], "bytes | memoryview"]
#: a proxy's finder (``Hooks.classify_known``): (lines, year, the lines joined) -> (which lines it
#: read, a Boolean mask as long as ``lines``, or None: none; their records)
Finder = Callable[["pl.Series", int, Joined], "tuple[pl.Series | None, pl.DataFrame | None]"]

_known_paths: tuple[str, ...] = ()
_known: list[Finder] | None = None
_resolve: Callable[[str], object] | None = None


def install(maker: Callable[[], LineMemo] | None) -> None:
    """The registry's maker of the memo (called once, when ``why502.proxies`` is imported; None:
    no proxy declares one)."""
    global _maker, _shared
    _maker, _shared = maker, None


def new_memo() -> LineMemo:
    """A memo of its own (``watch``'s counter of one followed log)."""
    return _maker() if _maker is not None else PlainMemo()


def shared_memo() -> LineMemo:
    """The process's memo (``classify``'s per-line pass, batch after batch)."""
    global _shared
    if _shared is None:
        _shared = new_memo()
    return _shared


def install_known(paths: tuple[str, ...], resolve: Callable[[str], object]) -> None:
    """The registry's finders of lines whose ``classify_line`` records they give without reading
    the lines one by one (``Hooks.classify_known``, dotted paths resolved at the first use, by
    ``resolve``)."""
    global _known_paths, _known, _resolve
    _known_paths, _known, _resolve = paths, None, resolve


def known(lines: pl.Series, year: int, joined: bytes | memoryview | None = None,
          ) -> tuple[pl.Series | None, list[pl.DataFrame]]:
    """Which lines of ``lines`` (strings, no newline in any) a proxy's finder read without the
    per-line recogniser (a Boolean mask as long as ``lines``; None: none), and the records
    ``classify_line(line, year)`` gives them (frames of ``errorlog_batch.OUTPUT_SCHEMA``, ``idx``
    the position; a line read as nothing has none): the per-line path reads the other lines,
    the same records.  None found when no proxy declares a finder.  A mask, not positions: the
    callers filter by it, and a 1M-line log's positions as Python ints, sorted and scattered
    back, were ~0.4 CPU-s of HAProxy's ``diagnose`` (BENCHMARKS.md, stop 74).
    ``joined``: ``lines`` joined by newlines, when the caller has those bytes (the batch it split
    into ``lines``); else they are joined once, when a finder first asks (each finder joined
    them itself: ~0.3 CPU-s per 1M HAProxy lines, BENCHMARKS.md stop 76)."""
    global _known
    if not _known_paths or not lines.len():
        return None, []
    if _known is None:
        assert _resolve is not None
        _known = [cast("Finder", _resolve(p)) for p in _known_paths]
    taken: pl.Series | None = None
    records: list[pl.DataFrame] = []
    join = joiner(lines, joined)
    for finder in _known:
        found, got = finder(lines, year, join)
        if found is not None:
            taken = found if taken is None else taken | found
        if got is not None and got.height:
            records.append(got)
    return taken, records


def joiner(lines: pl.Series, joined: bytes | memoryview | None = None) -> Joined:
    """The finders' ``Joined`` of ``lines``: ``joined`` when given, else the lines joined by
    newlines (``arrowcols.joined_bytes``, nulls as empty lines) the first time it is called."""
    made: list[bytes | memoryview] = [joined] if joined is not None else []

    def join() -> bytes | memoryview:
        if not made:
            from why502.parsers.arrowcols import joined_bytes

            made.append(joined_bytes(lines.fill_null("")))
        return made[0]

    return join
