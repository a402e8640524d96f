"""``classify``'s summary of this proxy's log, its session lines counted in a native pass.

HAProxy's log is its access log too: one line per request, most of them requests that went well.
``classify`` reads each line with ``errorlog.classify_line`` (~40 us: the session tail, the head,
the key phrases, ``normalize``), ~16k lines per CPU-second (BENCHMARKS.md, issue 28 item 2).  The
summary keeps of a record only its symptom, status, source, upstream and time, and a session
line's record is decided by its termination state, its server (``<NOSRV>``) and its status
(``parsers.errorlog._classify_other``), its upstream is ``backend/server`` and its time the accept
date.  So ``_hapscan.session_groups`` groups the lines of one strict shape by (backend, server,
state, status) with each group's least and greatest time, without the GIL, and each group is
decided once here by ``classify_line`` on its first line: the same rows as every line read on
its own (the C file says why the shape makes that so; ``tests/classify/test_classify_sessions.py``
holds every taken line to ``classify_line``).  Every other line is handed back, for the rules.

The same pass serves ``watch``'s error counter (``fold_block``, the failures counted by group)
and the per-line path of ``diagnose`` and ``--format jsonl`` (``quiet_lines``: the lines of the
groups read as nothing, which that path then skips; each failure line is still read alone).
"""

from __future__ import annotations

import array
import threading
from types import ModuleType
from typing import TYPE_CHECKING

from why502.parsers.errorlog import classify_line
from why502.proxies.haproxy import log

if TYPE_CHECKING:
    import polars as pl

#: a summary row: (symptom, status, source, upstream, lines, first time, last time)
Row = tuple[str, int | None, str, str | None, int, str | None, str | None]
_Key = tuple[str, str, str, str]
_Decision = tuple[str, int | None, str, str | None] | None

# Groups one call keeps before it hands the lines of further ones back: a block holds a few
# hundred (backends x servers x states x statuses); the bound keeps hostile input small.
MAX_GROUPS = 4096
# Decisions kept across blocks (a long-lived process, ``why502 mcp``, reads many logs)
_MAX_DECIDED = 65536


def _native() -> ModuleType | None:
    """The native pass with ``session_groups``, unless it is turned off (``WHY502_NATIVE=0``)."""
    module = log._native()
    return module if module is not None and hasattr(module, "session_groups") else None


class _Decisions:
    """Each group's record decided once per run, by ``classify_line`` on the group's first line.

    Keyed by the group alone: every line of a group gives the same record but for its time
    (module docstring).  Two workers may decide the same group at once: both get the same."""

    def __init__(self) -> None:
        self.known: dict[_Key, _Decision] = {}
        self.lock = threading.Lock()

    def of(self, key: _Key, line: bytes) -> _Decision:
        with self.lock:
            if key in self.known:
                return self.known[key]
        got = classify_line(line.decode("ascii"))
        decided = None if got is None else (got.symptom, got.status, got.source, got.upstream)
        with self.lock:
            if len(self.known) >= _MAX_DECIDED:  # a hostile log of endless names: start again
                self.known.clear()
            self.known[key] = decided
        return decided


_DECISIONS = _Decisions()


def fold_block(data: bytes, since: str | None = None) -> tuple[list[Row], bytes]:
    """``Hooks.classify_fold``: the summary rows of the session lines of ``data`` the native pass
    takes, and the lines it hands back (for ``classify_line``), newlines kept.  ``since``: the
    cutoff as ``--since`` compares it (``app.classify.filter_since``: ``YYYY-MM-DDTHH:MM:SS``,
    local): a taken line before it is left out.  Without the pass (not built, or
    ``WHY502_NATIVE=0``) every line goes back."""
    native = _native()
    if native is None or b"/" not in data:
        return [], data
    groups, back = native.session_groups(data, MAX_GROUPS, since.encode("ascii") if since else None)
    rows: list[Row] = []
    for key, n, line, first, last in groups:
        decided = _DECISIONS.of(key, line)
        if decided is not None:
            rows.append((*decided, n, first, last))
    return rows, back


def quiet_lines(lines: pl.Series) -> list[int]:
    """``Hooks.classify_quiet``: the positions in ``lines`` (strings, no newline in any) of the
    session lines the native pass takes whose group ``classify_line`` reads as nothing -- a
    request that went well, a client's error --, so the per-line paths (``diagnose``,
    ``classify --format jsonl``) need not read them: every line of such a group reads the same
    (the pass's shape).  Lines of the other groups are still read one by one (their records
    differ per line).  The lines go to the pass joined in one string by polars, not as a list of
    str: ~1.5 MB less per 4 MiB batch."""
    native = _native()
    if native is None or not lines.len():
        return []
    joined = lines.fill_null("").str.join("\n").item()
    data = joined.encode("utf-8", "surrogatepass")
    groups, _back, rows = native.session_groups(data, MAX_GROUPS, None, True)
    ids = array.array("i", rows)
    if len(ids) != lines.len():  # (a line holding a newline: never from the readers) -- read all
        return []
    nothing = [k for k, (key, _n, line, _first, _last) in enumerate(groups)
               if _DECISIONS.of(key, line) is None]
    if not nothing:
        return []
    import polars as pl  # (the per-line paths have it loaded; watch's agent never calls this)

    found = pl.Series(ids, dtype=pl.Int32)
    return found.is_in(nothing).arg_true().to_list()  # type: ignore[no-any-return]
