"""The failures of a block of error-log lines, counted the way ``classify`` reads a batch.

``watch`` counts, per block it reads from an error log (nginx's, Apache's, HAProxy's, PHP-FPM's,
an app server's), the lines that are a failed request: ``(symptom, upstream label) -> lines``.
Asking the per-line recogniser (``errorlog.classify_line``, ~30-100 µs a line) about every line
held the agent at 4,245 lines/s on an nginx error log and 395 on Apache's (BENCHMARKS.md, stop
41).  So a block is read as ``classify`` reads a batch (``app.classify._summarize_native``,
``errorlog_batch._classify_others``), with no polars (the agent's memory: issue 28 item 5):

* the engine's own lines (nginx's) go through the native scanner in one C pass
  (``parsers.errorlog_native``: the catalog's key phrases and rules, a rule asked once per
  distinct (key, errno, action, level, detail) through ``RuleBook``), when it was built;
* the lines it hands back (no nginx head, not ASCII, an escaped quote ...) and, without the
  scanner, every line, pass a literal prefilter first: a line holding none of the catalog's
  needles (``errorlog.prefilter_needles``) is one ``classify_line`` cannot read
  (``tests/classify/test_classify_one_recogniser.py`` holds that invariant for classify), so only
  the lines that hold one are read by ``classify_line``.  The needles present are found once per
  block (``bytes.__contains__`` over the lowered block, C speed), and each line is asked only
  about those; a line that is not ASCII is always read (``str.lower`` is not ``bytes.lower``).

``count_per_line`` is the reference (what ``watch`` did before, line by line);
``tests/watch/test_watch_errorscan.py`` checks that both give the same counts on a mixed block.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable

import why502.proxies  # noqa: F401 - hands the engine's scanner down (parsers.native)
from why502.app.watch.metrics import upstream_label
from why502.parsers import errorlog_native
from why502.parsers.errorlog import classify_line, prefilter_needles

__all__ = ["ErrorCounter", "count_per_line"]

# (symptom, upstream label before the metrics' cap, "" without an upstream) -> lines
Counts = Counter[tuple[str, str]]


def count_per_line(lines: Iterable[str], counts: Counts | None = None) -> Counts:
    """Every line through ``classify_line``: the failed requests (a rule with a status), by
    symptom and upstream label (``metrics.upstream_label`` of the line's upstream field)."""
    out: Counts = Counter() if counts is None else counts
    for line in lines:
        c = classify_line(line)
        if c is None or c.status is None:
            continue
        out[(c.symptom, upstream_label(c.upstream) if c.upstream else "")] += 1
    return out


class ErrorCounter:
    """One error-log block at a time -> its failures (``count``); ``native=None``: the scanner
    when it was built and not turned off (``WHY502_NATIVE=0``)."""

    def __init__(self, native: bool | None = None) -> None:
        built = errorlog_native.native() is not None  # the scanner of proxies.ENGINE's lines
        use = errorlog_native.available() if native is None else native and built
        self.book = errorlog_native.RuleBook() if use else None
        self.needles = [n.encode() for n in prefilter_needles()]

    def count(self, data: bytes) -> Counts:
        """The failures of ``data`` (whole lines, each ending in a newline)."""
        counts: Counts = Counter()
        if not data:
            return counts
        if self.book is not None:
            # a scanner per block: its groups are this block's (a scanner's groups only grow);
            # the rules it asks are cached in the book's patterns, a block has a handful
            scanner = self.book.scanner()
            _read, rest = scanner.summarize(data, None, data.isascii())
            for rule_idx, peer, n, _first, _last in scanner.groups():
                rule = self.book.rules[rule_idx]
                if rule.status is None:  # an evidence event, no failed request
                    continue
                # the peer is the field's ``<schema><peer>`` (errorlog.UPSTREAM_PEER), where
                # upstream_label stops too (at the URI's "/"); None: no upstream field
                up = upstream_label(bytes(peer).decode("ascii")) if isinstance(peer, bytes) else ""
                counts[(rule.symptom, up)] += n
            if rest is None:
                return counts
            data = rest + b"\n"
        return count_per_line(self._candidates(data), counts)

    def _candidates(self, data: bytes) -> list[str]:
        """The lines of ``data`` that hold one of the catalog's needles, or are not ASCII."""
        low = data.lower()
        present = [n for n in self.needles if n in low]
        if not present:
            if data.isascii():
                return []
            return [t for t in _lines(data) if not t.isascii()]
        out = []
        for raw, lowered in zip(data.split(b"\n"), low.split(b"\n")):
            if raw and (any(n in lowered for n in present) or not raw.isascii()):
                out.append(raw.decode("utf-8", "replace"))
        return out


def _lines(data: bytes) -> list[str]:
    return [t for t in data.decode("utf-8", "replace").split("\n") if t]
