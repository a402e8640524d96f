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
  A block whose first lines mostly hold a needle (a failure-dense log, Apache's in an outage) is
  read whole instead: the ~400 block-wide searches would skip nothing (BENCHMARKS.md stop 44);
* before that, a proxy's own counter of its log's lines by group takes what it can
  (``Hooks.classify_fold``, as in ``classify``'s summary: HAProxy's session lines, each group
  decided once by ``classify_line`` on its first line), so those lines are not read one by one.
* and a block the memo says it reads first (``LineMemo.reads_first``: one that starts as httpd's
  error lines do) goes first to its native pass (Apache's lines grouped by key, each key
  answered once), before the scanner: no line that pass takes is one the scanner or a fold
  would read (``ApacheMemo.reads_first`` says why).

``count_per_line`` is the reference (what ``watch`` did before, line by line);
``tests/watch/test_watch_errorscan.py`` checks that both give the same counts on a mixed block.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from functools import cache

from why502.app.watch.metrics import upstream_label
from why502.parsers import errorlog_native
from why502.parsers.errorlog import classify_line, prefilter_needles
from why502.parsers.linememo import new_memo
from why502.proxies import classify_folds  # (also hands the engine's scanner down: parsers.native)

__all__ = ["ErrorCounter", "count_per_line"]

# (symptom, upstream label before the metrics' cap, "" without an upstream) -> lines
Counts = Counter[tuple[str, str]]
# the lines of a block's start that tell whether its prefilter would skip anything
_SAMPLE = 32


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


@cache
def _needles() -> tuple[tuple[bytes, ...], dict[bytes, tuple[bytes, ...]]]:
    """The catalog's needles, shortest first, and each needle with the other needles it holds: a
    needle whose part is absent from a block is absent too, and is not searched for (each search
    is a pass over the whole block).  Made once a process: the ~400 needles compared pairwise
    took ~30 ms, at each agent's start and each restart of its counters."""
    needles = [n.encode() for n in prefilter_needles()]
    parts = {n: tuple(m for m in needles if m != n and m in n) for n in needles}
    return tuple(sorted(needles, key=len)), parts  # the parts before the needles that hold them


class ErrorCounter:
    """One error-log block at a time -> its failures (``count``); ``native=None``: the scanner
    when it was built and not turned off (``WHY502_NATIVE=0``)."""

    def __init__(self, native: bool | None = None) -> None:
        built = errorlog_native.native() is not None  # the scanner of proxies.ENGINE's lines
        use = errorlog_native.available() if native is None else native and built
        self.book = errorlog_native.RuleBook() if use else None
        self.needles, self.parts = _needles()
        # classify_line's answer, kept per message for the proxies that declare a memo of it
        # (parsers.linememo: proven the same); an agent follows one log at a time
        self.memo = new_memo()

    def count(self, data: bytes) -> Counts:
        """The failures of ``data`` (whole lines, each ending in a newline)."""
        counts: Counts = Counter()
        if not data:
            return counts
        # the memo's native pass first on a block it says it reads first (``LineMemo.reads_first``:
        # Apache's lines, none of which the scanner or a fold would read)
        early: Counter[tuple[str, str | None]] | None = None
        if self.memo.reads_first(data):
            early, back = self.memo.failures_of_block(data)
            if len(back) == len(data):  # (none taken, or a key to read line by line: the usual way)
                early = None
            else:
                data = back
                if not data:
                    return self._counted(counts, early)
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
                return self._counted(counts, early)
            data = rest + b"\n"
        for fold in classify_folds():  # each proxy's counter of its lines by group
            rows, data = fold(data, None)
            for symptom, status, _source, upstream, n, _first, _last in rows:
                if status is not None:  # (an evidence event is no failed request)
                    counts[(symptom, upstream_label(upstream) if upstream else "")] += n
        # = count_per_line's classify_line, same counts (a memo answers a message's lines at once,
        # or a block of them in a native pass: Apache's keys)
        if early is None:
            failures, data = self.memo.failures_of_block(data)
        else:  # (it took every line it takes: none is left here for it)
            failures = early
        failures.update(self.memo.failures(self._candidates(data)))
        return self._counted(counts, failures)

    @staticmethod
    def _counted(counts: Counts, failures: Counter[tuple[str, str | None]] | None) -> Counts:
        """``counts`` with the memo's ``failures`` added under their upstream labels (the label
        once per distinct upstream, not once a line: a pure function of it)."""
        for (symptom, upstream), n in (failures or {}).items():
            counts[(symptom, upstream_label(upstream) if upstream else "")] += n
        return counts

    def _candidates(self, data: bytes) -> list[str]:
        """The lines of ``data`` that hold one of the catalog's needles, or are not ASCII."""
        lines = data.split(b"\n")
        if self._most_hold_a_needle(lines[:_SAMPLE]):
            # no prefilter: every line is read, which counts the same (a line without a needle is
            # one classify_line cannot read), and spares ~400 passes over the block that would
            # skip almost none of it (a dense Apache error log: 1.1 s of 4 a 20k-line block)
            return _lines(data)  # (decoded once: a line's bytes decode alike alone or in the block)
        low = data.lower()
        absent: set[bytes] = set()
        present = []
        for n in self.needles:
            if any(m in absent for m in self.parts[n]) or n not in low:
                absent.add(n)
            else:
                present.append(n)
        if not present:
            if data.isascii():
                return []
            return [t for t in _lines(data) if not t.isascii()]
        out = []
        for raw, lowered in zip(lines, low.split(b"\n")):
            if raw and (any(n in lowered for n in present) or not raw.isascii()):
                out.append(raw.decode("utf-8", "replace"))
        return out

    def _most_hold_a_needle(self, sample: list[bytes]) -> bool:
        """Whether at least half of the block's first lines hold one of the catalog's needles."""
        held = 0
        for raw in sample:
            low = raw.lower()  # once a line, not once a needle (~400 of them)
            held += any(n in low for n in self.needles)
        return held * 2 >= len(sample) > 0


def _lines(data: bytes) -> list[str]:
    return [t for t in data.decode("utf-8", "replace").split("\n") if t]
