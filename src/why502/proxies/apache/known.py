"""``Hooks.classify_known`` of Apache: httpd's error lines read by key in one native pass, with
the records ``classify_line`` gives them, so the per-line paths (``classify --format jsonl``,
``--since``, ``diagnose``) do not read them one by one.

The per-line path asked the memo (``error_memo.ApacheMemo.classify``) about each line: ~7 us of
Python for a line read as nothing (``AH01964: Connection to child N established``), ~25 us for a
failure's record (the head matched, the record retold, turned into a row) -- 1M lines of an
outage 22-34 s where the summary, which counts them by key, took 1.6 s (BENCHMARKS.md stop 75).
Here ``_apachescan.apache_groups`` cuts each line of a batch into its key (the head without its
time, pid, tid and client, and the message: ``error_memo._KEYED``), and each key's answer is
taken once from the same memo (``ApacheMemo.kept``: proven the same for every line of the key,
learnt on a line of it).  A key read as nothing: its lines are found, with no record.  A key with
a record: each line's is the kept one with the line's own time and client (``_retold``'s two
fields, cut here from the head in polars: the head's fixed places, which the pass checked), so
a key whose message is the whole line (``message`` among its masked fields) is left out.  A key
seen once, a key whose rule reads a masked part (its lines are asked one by one) and every other
line are left to the per-line path -- so every line has the record it had before.
"""

from __future__ import annotations

import array
from typing import TYPE_CHECKING

from why502.parsers import heads
from why502.proxies.apache.error_memo import ApacheMemo, native_pass

if TYPE_CHECKING:
    import polars as pl

    from why502.parsers.errorlog import Classified
    from why502.parsers.linememo import Joined

__all__ = ["known_lines"]

_memo: ApacheMemo | None = None  # the keys' answers, kept from batch to batch of one process
# a month's name as ``heads._ctime_time`` writes it (its own table), for the same conversion in polars
_MONTHS = {m: f"{k:02d}" for m, k in heads._MONTHS.items()}
# the client of a line the pass cut with one: after the time, "[module:level" and "[pid ...",
# none of which holds a "]" (error_memo.HEAD), the first "] [client ADDR] "
_CLIENT = r"^\[[^\]]*\] \[[^\]]*\] \[pid [^\]]*\] \[client ([0-9A-Fa-f.:]{1,64})\] "
_OWN = ("time", "client")  # the record's fields each line writes itself (``_retold``)


def known_lines(lines: pl.Series, year: int, joined: Joined) -> tuple[pl.Series | None, pl.DataFrame | None]:
    """Which lines of ``lines`` (strings, no newline in any) are httpd error lines whose key's
    answer is kept (a Boolean mask as long as ``lines``; None: none), and the records
    ``classify_line(line, year)`` gives them (``errorlog_batch.OUTPUT_SCHEMA``, ``idx`` the
    position; None: no record).  ``year`` reads a BSD syslog stamp alone, which no line of
    httpd's head starts with (``error_memo``)."""
    global _memo
    native = native_pass()
    if native is None or not hasattr(native, "apache_groups") or not lines.len():
        return None, None
    import polars as pl  # (the per-line paths have it loaded)

    from why502.parsers.arrowcols import group_flags

    if not lines.str.starts_with("[").any():
        return None, None  # no line can be httpd's (another program's log): no copy, no pass
    data = joined()
    groups, rows, count = native.apache_groups(data)
    del data
    if count != lines.len() or not groups:  # a line holding a newline (never from the readers)
        return None, None
    if _memo is None:
        _memo = ApacheMemo()
    taken: list[bool] = []
    records: list[tuple[int, Classified, tuple[str, ...]]] = []  # (group, kept record, masked fields)
    for k, (key, n, _least, _most) in enumerate(groups):
        got = _memo.kept(key, n)
        usable = got is not None and set(got[1]) <= set(_OWN)
        taken.append(usable)
        if usable and got is not None and got[0] is not None:
            records.append((k, got[0], got[1]))
    if not any(taken):
        return None, None
    group = pl.Series("group", array.array("i", rows), dtype=pl.Int32)  # each line's key, -1: none
    mask = group_flags(taken, group).alias("taken")
    if not records:
        return mask, None
    return mask, _records(lines, group, len(taken), records)


def _records(lines: pl.Series, group: pl.Series, keys: int,
             records: list[tuple[int, Classified, tuple[str, ...]]]) -> pl.DataFrame:
    """The records of the lines of the keys in ``records`` (each its kept record and the fields
    each line's head writes): the record's fields, with each line's time (``heads._ctime_time``
    of its head: ``yyyy-mm-ddThh:mm:ss.uuuuuu``, the day zero-padded) and client in place of the
    kept line's where they are among those fields (``_retold``)."""
    import polars as pl

    from why502.parsers.arrowcols import group_flags
    from why502.parsers.errorlog_batch import OUTPUT_SCHEMA, captures_column

    has = [False] * keys  # (of the ``keys`` keys, those with a record)
    for k, _rec, _own in records:
        has[k] = True
    wanted = group_flags(has, group)
    line = pl.col("line")
    own = pl.DataFrame({"idx": pl.int_range(0, lines.len(), dtype=pl.UInt32, eager=True),
                        "group": group, "line": lines}).filter(wanted).select(
        "idx", "group",
        pl.concat_str([line.str.slice(28, 4), pl.lit("-"),
                       line.str.slice(5, 3).replace_strict(_MONTHS, default=None), pl.lit("-"),
                       line.str.slice(9, 2).str.replace(" ", "0", literal=True), pl.lit("T"),
                       line.str.slice(12, 15)]).alias("time"),
        line.str.extract(_CLIENT, 1).alias("client"))
    fixed = [c for c in OUTPUT_SCHEMA if c != "idx"]
    schema: dict[str, pl.DataType] = {"group": pl.Int32(), **{f"_{c}": OUTPUT_SCHEMA[c] for c in fixed},
                                      **{f"_own_{c}": pl.Boolean() for c in _OWN}}
    templates = pl.DataFrame(
        [(k, *(captures_column(rec.captures) if c == "captures" else getattr(rec, c) for c in fixed),
          *(c in varying for c in _OWN)) for k, rec, varying in records],
        schema=schema, orient="row")

    def column(c: str) -> pl.Expr:
        if c in _OWN:  # the line's own where its head writes it, else the kept record's
            return pl.when(pl.col(f"_own_{c}")).then(pl.col(c)).otherwise(pl.col(f"_{c}")).alias(c)
        return pl.col(f"_{c}").alias(c)

    return own.join(templates, on="group", how="inner").sort("idx").select(
        pl.col("idx"), *(column(c) for c in fixed)).cast(OUTPUT_SCHEMA)  # type: ignore[arg-type]
