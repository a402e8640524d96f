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
and the per-line path of ``diagnose`` and ``--format jsonl`` (``known_lines``: the session lines'
records, each group decided once by ``classify_line`` on its first line and each line given its
own time, client, frontend, request and message from ``_hapscan.session_failed``; before, each
failure line was read alone, ~21 us, most of ``diagnose`` on a failure-dense HAProxy log), and
``classify --format jsonl``'s records themselves (``jsonl_block``: ``_hapscan.session_jsonl``
writes them, as polars would).
"""

from __future__ import annotations

import array
import threading
from collections.abc import Callable
from functools import partial
from types import ModuleType
from typing import TYPE_CHECKING, Generic, Literal, TypeVar

from why502.parsers.errorlog import Classified, classify_line
from why502.proxies.haproxy import log

if TYPE_CHECKING:
    import polars as pl

    from why502.parsers.linememo import Joined

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


_V = TypeVar("_V")


class _GroupMemo(Generic[_V]):
    """What a group's first line decides, worked out once per run and keyed by the group alone:
    every line of a group gives the same record but for its own fields (module docstring).  Two
    workers may work out the same group at once: both get the same.  Past ``_MAX_DECIDED``
    groups (a hostile log of endless names) it starts again."""

    def __init__(self) -> None:
        self.known: dict[_Key, _V] = {}
        self.lock = threading.Lock()

    def of(self, key: _Key, make: Callable[[], _V]) -> _V:
        """``key``'s value, ``make()`` the first time (outside the lock: it reads the line)."""
        with self.lock:
            if key in self.known:
                return self.known[key]
        value = make()
        with self.lock:
            if len(self.known) >= _MAX_DECIDED:
                self.known.clear()
            self.known[key] = value
        return value


def _decision(line: bytes) -> _Decision:
    """A group's summary row but its counts, by ``classify_line`` on its first line."""
    got = classify_line(line.decode("ascii"))
    return None if got is None else (got.symptom, got.status, got.source, got.upstream)


#: each group's summary decision (``fold_block``)
_DECISIONS: _GroupMemo[_Decision] = _GroupMemo()


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
        decided = _DECISIONS.of(key, partial(_decision, line))
        if decided is not None:
            rows.append((*decided, n, first, last))
    return rows, back


#: the per-line fields of a record a session line's group does not decide (``session_own``)
_OWN = ("time", "client", "server", "request", "message")


def _template(line: bytes, own: Callable[[], dict[str, str | None]], year: int,
              ) -> tuple[Classified | None, bool]:
    """A group's record as ``classify_line`` reads its first line (None: read as nothing), and
    whether ``own()`` -- the native passes' fields of that line, worked out only here -- are the
    record's own: else the group's lines are left to the per-line path (their records differ
    only in ``_OWN``, the module docstring)."""
    got = classify_line(line.decode("ascii"), year=year)
    return got, got is None or {name: getattr(got, name) for name in _OWN} == own()


#: each group's record and whether the passes' fields agree with it (``known_lines``, ``_WRITINGS``)
_TEMPLATES: _GroupMemo[tuple[Classified | None, bool]] = _GroupMemo()


def _templated(native: ModuleType, key: _Key, line: bytes, year: int) -> tuple[Classified | None, bool]:
    """``key``'s entry of ``_TEMPLATES``, from ``line``, its group's first line."""
    return _TEMPLATES.of(key, partial(_template, line, partial(_own, native, line, year), year))


def known_lines(lines: pl.Series, year: int, joined: Joined) -> tuple[pl.Series | None, pl.DataFrame | None]:
    """``Hooks.classify_known``: which lines of ``lines`` (strings, no newline in any) are
    session lines the native pass takes (a Boolean mask; None: none), and the records
    ``classify_line(line, year)`` gives them (``errorlog_batch.OUTPUT_SCHEMA``, ``idx`` the
    position; None: no record), so the per-line paths (``diagnose``, ``classify --format
    jsonl``) need not read them one by one.
    A group read as nothing -- a request that went well, a client's error -- has no record;
    the records of a failure's group are its first line's (``_TEMPLATES``), each with its own
    time, client, frontend, request and message, written by the native pass for the lines of
    such groups only (``_hapscan.session_failed``; the message where ``unwrap``'s text starts,
    ``native/unwrap_ascii.h``, and asked of ``unwrap`` for the lines the pass hands back).  The
    columns of every session line, grouped and joined by four text keys, were ~1.2 CPU-s per 1M
    lines (BENCHMARKS.md stop 66).  The lines go to the pass joined in one string by polars, not
    as a list of str: ~1.5 MB less per 4 MiB batch (``joined``: ``linememo.known``'s)."""
    native = _native()
    if native is None or not hasattr(native, "session_failed") or not lines.len():
        return None, None
    import polars as pl  # (the per-line paths have it loaded; watch's agent never calls this)

    from why502.parsers.arrowcols import frame as arrow_frame
    from why502.parsers.arrowcols import group_flags
    from why502.parsers.errorlog_batch import OUTPUT_SCHEMA, captures_column

    data = joined()
    groups, _back, rows = native.session_groups(data, MAX_GROUPS, None, True)  # a row a newline, plus one
    if len(rows) != 4 * lines.len() or not groups:  # a line holding a newline (never from the
        return None, None  # readers): read all; no session line (another program's log): none
    decided = [_templated(native, key, first, year) for key, _n, first, _least, _most in groups]
    want = bytes(got is not None and agrees for got, agrees in decided)
    sc, ac, _count, back, _text = native.session_failed(data, rows, want)
    del data, _text  # (a batch's copy: gone before the records are built)
    of_line = array.array("i", rows)  # each line's group (-1: not a session line the pass took)
    group = pl.Series("group", of_line, dtype=pl.Int32)
    mask = group_flags([agrees for _got, agrees in decided], group).alias("taken")
    read = mask if mask.any() else None
    cols = arrow_frame(sc, ac)
    unread = [i for i in array.array("I", back) if of_line[i] >= 0 and want[of_line[i]]]
    if unread:  # the failed lines whose message unwrap must say (and their own fields, as the pass's)
        own = [(i, of_line[i], *native.session_own(str(lines[i]).encode("ascii"))) for i in unread]
        from why502.parsers.wrappers import unwrap

        cols = pl.concat([cols, pl.DataFrame(
            [(*o, unwrap(str(lines[o[0]]), year=year).text) for o in own], schema=cols.schema, orient="row")])
        cols = cols.sort("idx")
    taken = [(k, got) for k, (got, agrees) in enumerate(decided) if agrees and got is not None]
    if not taken or not cols.height:
        return read, None
    fixed = [c for c in OUTPUT_SCHEMA if c not in ("idx", *_OWN)]
    schema: dict[str, pl.DataType] = {"group": pl.UInt32(), **{f"_{c}": OUTPUT_SCHEMA[c] for c in fixed}}
    templates = pl.DataFrame(
        [(k, *(captures_column(rec.captures) if c == "captures" else getattr(rec, c) for c in fixed))
         for k, rec in taken], schema=schema, orient="row")
    records = cols.join(templates, on="group", how="inner").sort("idx").select(
        pl.col("idx"), *(pl.col(c) if c in _OWN else pl.col(f"_{c}").alias(c) for c in OUTPUT_SCHEMA
                         if c != "idx"))
    return read, records.cast(OUTPUT_SCHEMA)  # type: ignore[arg-type]


def _own(native: ModuleType, line: bytes, year: int) -> dict[str, str | None]:
    """The fields of a group's first line the native passes write as the record's own
    (``_hapscan.session_own``: time, client, frontend, request), and ``unwrap``'s message: what
    ``_template`` checks against ``classify_line``'s record of the line."""
    from why502.parsers.wrappers import unwrap

    got = native.session_own(line)
    if got is None:
        return {}
    return {**dict(zip(("time", "client", "server", "request"), got, strict=True)),
            "message": unwrap(line.decode("ascii"), year=year).text}


#: a group's decision for ``session_jsonl``: None (no record), False (its lines go back), or the
#: fields the group decides as polars writes them, and whether its record counts as a failure
_Written = tuple[bytes, bytes, bytes, bool] | Literal[False] | None
# the record's columns a group decides, in the three places ``session_jsonl`` puts them
_GROUP_FIELDS = (("source", "symptom", "event", "side", "status"), ("level", "upstream"), ("host",))


def _writing(native: ModuleType, key: _Key, line: bytes, year: int) -> _Written:
    """A group's ``_Written`` from its record (``_TEMPLATES``): False when the passes' fields do
    not agree with it, None when it has no record."""
    got, agrees = _templated(native, key, line, year)
    return False if not agrees else None if got is None else _fields(got)


def _fields(rec: Classified) -> tuple[bytes, bytes, bytes, bool]:
    """The fields of ``rec`` its group decides, in ``_GROUP_FIELDS``' three places, each as
    polars' ndjson writer writes them (``app.classify.JSONL_COLUMNS``' order, the braces cut), and
    whether ``classify`` counts the record as a failure (``app.classify.count_failures``)."""
    import polars as pl

    from why502.catalog.patterns import is_failed_request
    from why502.parsers.errorlog_batch import OUTPUT_SCHEMA
    from why502.textutil import json_inert

    values = rec.to_dict()
    parts = []
    for names in _GROUP_FIELDS:
        frame = pl.DataFrame([{n: values[n] for n in names}], schema={n: OUTPUT_SCHEMA[n] for n in names})
        parts.append(json_inert(frame.write_ndjson()).strip()[1:-1].encode("utf-8"))
    failure = is_failed_request(rec.symptom)
    return parts[0], parts[1], parts[2], failure


#: each group's fields as the jsonl records write them (``jsonl_block``)
_WRITINGS: _GroupMemo[_Written] = _GroupMemo()


def jsonl_block(data: bytes, marks: bytes, first_line: int, file_json: bytes, since: str | None,
                year: int) -> tuple[bytes, bytes, bytes, bytes, int] | None:
    """``Hooks.classify_jsonl``: ``classify --format jsonl``'s records of the session lines of
    ``data`` (lines joined by newlines, no newline in any), written by the native pass
    (``_hapscan.session_jsonl``) from each group's decision (``_WRITINGS``) -- the records the
    per-line path gives them, byte for byte (``tests/classify/test_classify_sessions.py``) at a
    fraction of its cost (BENCHMARKS.md, issue 28 item 2) -- with the runs of them that go in one
    place, and the rows it hands back (uint32) with their text, for the per-line path.
    ``since``: ``fold_block``'s.  None: the pass cannot run (not built, ``WHY502_NATIVE=0``)."""
    native = _native()
    if native is None or not hasattr(native, "session_jsonl") or b"/" not in data:
        return None
    cutoff = since.encode("ascii") if since else None
    groups, _back, rows = native.session_groups(data, MAX_GROUPS, cutoff, True)  # a row a line, as marks
    if not groups and cutoff is None:  # no session line (another program's log: Apache's): it
        # would write none and hand every row back, which the caller renumbered in Python (with
        # --since, a batch of session lines all before it has no group either: the pass drops them)
        return None
    decided = [_WRITINGS.of(key, partial(_writing, native, key, line, year))
               for key, _n, line, _least, _most in groups]
    got: tuple[bytes, bytes, bytes, bytes, int] = native.session_jsonl(data, rows, decided, marks, first_line,
                                                                        file_json)
    return got
