"""Vectorised classifier (polars): the same rules as ``why502.parsers.errorlog``, for throughput.

Plain nginx error-log lines (the bulk of any real input) are cut into parts with the Rust regex
engine, column-wise: one anchored ``extract_groups`` for the head (time, level, message), one for
the key phrase, then cheap ``extract`` calls for errno, action and the request fields, only on
the rows that carry a known key.  The rule itself is chosen by ``errorlog.resolve`` for each
distinct (key, errno, action, level, detail, also) combination in the batch -- a handful per batch --
and joined back, so both engines share one decision function and give identical records.

Lines that are not plain nginx lines (wrapped, other programs, cut at the start) are rare in
nginx logs; those passing a cheap literal prefilter (every pattern's needles:
``parsers.prefilter``) go through the per-line engine.

``summarize_series`` is the default ``why502 classify`` output's path: counts per (symptom,
status, source, upstream peer) without per-line records, from capture-free regexes in one
streaming query per batch; whatever it does not take goes through ``classify_series``, and
tests check it equals ``aggregate_records(classify_series(...))`` line for line.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from functools import lru_cache
from typing import Any

import polars as pl

from why502.catalog.patterns import families
from why502.facts.captures import Captures
from why502.parsers import errorlog
from why502.parsers.access_line import CLF_REQUEST
from why502.parsers.errorlog_peel import peel
from why502.parsers.linememo import known, shared_memo
from why502.parsers.normalize import FRAGMENT_INSIDE, FRAGMENT_PHASES, HEAD_REPAIR_MARKS
from why502.parsers.prefilter import prefiltered

# ``Classified.captures``: the facts a line rule's named groups found (null: none)
CAPTURES_DTYPE = pl.List(pl.Struct({"name": pl.String(), "value": pl.String()}))
OUTPUT_SCHEMA: dict[str, pl.DataType] = {
    "idx": pl.UInt32(),
    "source": pl.String(),
    "symptom": pl.String(),
    "event": pl.String(),
    "side": pl.String(),
    "status": pl.Int64(),
    "time": pl.String(),
    "level": pl.String(),
    "upstream": pl.String(),
    "client": pl.String(),
    "server": pl.String(),
    "request": pl.String(),
    "host": pl.String(),
    "message": pl.String(),
    "pattern": pl.String(),
    "captures": CAPTURES_DTYPE,
}


def captures_column(captures: Captures) -> list[dict[str, str]] | None:
    """``Classified.captures`` as the ``captures`` column holds them."""
    return [{"name": k, "value": v} for k, v in captures] or None


_EMPTY = pl.DataFrame(schema=OUTPUT_SCHEMA)


def empty_frame() -> pl.DataFrame:
    """A frame with the output schema and no rows: a clone of one made once (making it from the
    schema is ~0.35 ms, and a batch asks for up to three)."""
    return _EMPTY.clone()


def classify_series(
    lines: pl.Series, year: int = 1970, fields: Iterable[str] = errorlog.FIELD_NAMES,
    may_have_cr: bool = True, joined: bytes | memoryview | None = None,
) -> pl.DataFrame:
    """Classify every line of ``lines``; return the recognised ones.

    Columns: ``idx`` (0-based row in ``lines``) and the ``classify --format jsonl`` fields plus
    ``pattern`` (the matching rule id) and ``captures`` (its named groups, as
    ``[{"name", "value"}]``; null for nginx's own lines), ordered by ``idx``.  ``year`` fills in
    BSD syslog stamps.
    ``fields`` names the request fields (upstream, client, server, request, host) to extract from
    nginx lines; the others stay null -- the summary needs only ``upstream``, and skipping the rest
    saves a third of the work.  Framed lines (CRI, ``--timestamps``, docker json-file) are read as
    the nginx lines inside them where ``errorlog_peel.peel`` is certain of them.
    ``may_have_cr=False``: the caller knows no line holds a CR (its bytes have none), so the
    lines' ends need no strip (a copy of every line: ~0.2 CPU-s per 1M HAProxy lines).
    ``joined``: the bytes the caller split into ``lines`` at their newlines, which the proxies'
    finders read (``linememo.known``) when no line was changed here (no CR stripped, no frame
    peeled) and their length is the lines' -- else the finders join the lines themselves.
    """
    if lines.len() == 0:
        return empty_frame()
    if lines.len() < PER_LINE_BELOW and set(fields) >= _ALL_FIELDS:
        small = _per_line(lines, year, may_have_cr)
        if small is not None:
            return small
    text = lines.cast(pl.String).fill_null("")
    if may_have_cr:
        text = text.str.strip_chars_end("\r\n")
    raw = text
    got = peel(text)
    text, pending = got.text, got.pending
    # the lines a proxy's finder reads (HAProxy's session lines: every line of its log) first,
    # with their records, unless the batch is nginx's; the regexes below then run over the other
    # lines only (over a 1M-line HAProxy log they were ~1.1 CPU-s of diagnose's 5.6, for lines
    # the finder took anyway).  Either order gives each line the same record (``_known_first``)
    if joined is not None and (may_have_cr or text is not raw or len(joined) != _joined_len(raw)):
        joined = None  # not the bytes of these lines
    found, taken = _known_first(text, year, joined) if not _ENGINE_FIRST.match(str(text[0])) else ([], None)
    base = pl.DataFrame({"line": text}).with_row_index("idx")
    if taken is not None:
        base = base.filter(~taken)
        if base.height == 0:  # every line the finders' (a HAProxy log): nothing left for the rest
            return _together([f for f in found if f.height])
    base = base.with_columns(pl.col("line").str.contains(errorlog.ENGINE_HEAD_PREFIX).alias("is_engine"))
    heads = base.filter(pl.col("is_engine")).select("idx", "line")
    engine = _classify_engine(heads, tuple(fields))
    others = _classify_others(base.filter(~pl.col("is_engine")).select("idx", "line"), year,
                              finders=taken is None)
    # a head line the fast path could not read but a paste repair could (normalize.
    # HEAD_REPAIR_MARKS, or an errno tail normalize cuts the message at: FRAGMENT_INSIDE): the
    # per-line recogniser's turn, as for wrapped lines -- explain reads it so
    unread = heads.filter(~pl.col("idx").is_in(engine.get_column("idx").implode()))
    repairable = unread.filter(~pl.col("idx").is_in(pending.implode())
                               & (pl.col("line").str.contains(HEAD_REPAIR_MARKS)
                                  | pl.col("line").str.contains(FRAGMENT_INSIDE)))
    repaired = _classify_exactly(repairable, year) if repairable.height else empty_frame()
    parts = [f for f in (engine, others, repaired, *found) if f.height]
    if pending.len():  # framed lines the engine did not read: the per-line path, from the framed line
        at = unread.filter(pl.col("idx").is_in(pending.implode())).get_column("idx")
        parts.append(_classify_others(pl.DataFrame({"idx": at, "line": raw.gather(at)}), year))
    return _together(parts)


PER_LINE_BELOW = 64
"""A batch of fewer lines is read line by line (``_per_line``): the engine's dozen or so polars
queries cost ~6 ms whatever the batch's size (a 3-line batch of the edge field corpus' error
lines: 6.4 ms of CPU, against 0.65 ms line by line), and a file of a few lines, a pasted
fragment, or the lines a native scanner hands back from a batch are such batches.  The
engine's records are, by its contract, those of the per-line recogniser
(``tests/classify/test_classify_engines.py``), so both paths give the same frame
(``tests/classify/test_classify_per_line.py``).  Only with every request field asked for: the
engine leaves the others null on nginx's lines alone.  The suite's in-process tests set it to 0
(``tests/conftest.py``), so that the engine's equivalence tests, whose batches are small, still
test the engine."""

_ALL_FIELDS = frozenset(errorlog.FIELD_NAMES)
PER_LINE_MAX_CHARS = 4096
"""A small batch with a longer line goes to the engine: its literal prefilter drops a long line
of no message in native code, where the per-line recogniser runs each of its regexes over it
(~1.6 s for a 1 MiB line; a batch of a few lines from a log cut at 1 MiB a line is one)."""


def _per_line(lines: pl.Series, year: int, may_have_cr: bool) -> pl.DataFrame | None:
    """``classify_series`` of a small batch: each line (its end's CR and LF stripped when
    ``may_have_cr``, as the engine strips them) through the per-line recogniser; None when a
    line is longer than ``PER_LINE_MAX_CHARS``."""
    texts = lines.cast(pl.String).to_list()
    if any(t is not None and len(t) > PER_LINE_MAX_CHARS for t in texts):
        return None
    # the engine reads a null as an empty line: nothing
    rows = ((idx, line.rstrip("\r\n") if may_have_cr else line) for idx, line in enumerate(texts)
            if line is not None)
    records = _memo_records(rows, year)
    return pl.DataFrame(records, schema=OUTPUT_SCHEMA) if records else empty_frame()


def _memo_records(rows: Iterable[tuple[int, str]], year: int) -> list[dict[str, Any]]:
    """Each (``idx``, line)'s record from the per-line recogniser, ``errorlog.classify_line``
    (through a proxy's memo: ``parsers.linememo``), as a row of ``OUTPUT_SCHEMA``; none for a line
    it does not read."""
    memo = shared_memo()
    records = []
    for idx, line in rows:
        c = memo.classify(line, year=year)
        if c is not None:
            records.append({"idx": idx, **c.to_dict(), "pattern": c.pattern,
                            "captures": captures_column(c.captures)})
    return records


def _together(parts: list[pl.DataFrame]) -> pl.DataFrame:
    """``classify_series``' records of ``parts`` (frames of ``OUTPUT_SCHEMA``), in line order."""
    out = pl.concat(parts, how="vertical") if len(parts) > 1 else (parts[0] if parts else empty_frame())
    return out.sort("idx")


def _classify_engine(df: pl.DataFrame, fields: tuple[str, ...]) -> pl.DataFrame:
    """``df``: ``idx``, ``line`` of rows that start with an nginx head.  Work shrinks as it goes:
    the key is looked for on every row, the rest only on rows that carry a known key."""
    if df.height == 0:
        return empty_frame()
    line, msg = pl.col("line"), pl.col("msg")
    unescaped = pl.when(msg.str.contains('\\"', literal=True)).then(
        msg.str.replace_all('\\"', '"', literal=True)).otherwise(msg)
    # the key phrase as matched (a capture-free pass: "k1"/"k2" groups cost the Rust engine a
    # second pass); which alternative matched is decided once per distinct phrase below
    df = (
        df.select("idx", "line", line.str.replace(errorlog.ENGINE_HEAD_PREFIX, "").alias("msg"))
        .with_columns(unescaped)
        .with_columns(msg.str.extract("^" + _key_alternation(), 0).alias("raw_key"))
        .filter(pl.col("raw_key").is_not_null())
    )
    if df.height == 0:
        return empty_frame()
    plain = set(errorlog.engine_keys()[0])
    raw_keys = df.get_column("raw_key").unique().to_list()
    df = df.with_columns(pl.col("raw_key").replace_strict(
        {k: k if k in plain else k.split(" ", 1)[1] for k in raw_keys}, return_dtype=pl.String,
    ).alias("key")).drop("raw_key")
    detail = _per_key(errorlog.detail_regexes(), msg, 1)
    also = _per_key(errorlog.also_regexes(), msg, 1)
    df = df.select(
        "idx", "msg", "key",
        engine_time_or_null(line.str.slice(0, 19)).alias("time"),
        line.str.extract(errorlog.ENGINE_LEVEL, 1).alias("level"),
        msg.str.extract(errorlog.ERRNO, 1).cast(pl.Int64, strict=False).alias("errno"),
        msg.str.extract(errorlog.ACTION, 1).alias("action"),
        detail.alias("detail"),
        also.alias("also"),
    )
    combos = df.select("key", "errno", "action", "level", "detail", "also").unique()
    rows = []
    phrase = families().phrase
    for key, errno, action, level, det, also_ in combos.iter_rows():
        p = errorlog.resolve(phrase, key, errno, action, level, det, also_)
        if p is not None:
            rows.append((key, errno, action, level, det, also_, p.id, p.symptom, p.event_for(), p.side_of,
                         p.status))
    if not rows:
        return empty_frame()
    rules = pl.DataFrame(
        rows,
        schema={"key": pl.String, "errno": pl.Int64, "action": pl.String, "level": pl.String,
                "detail": pl.String, "also": pl.String, "pattern": pl.String, "symptom": pl.String,
                "event": pl.String, "side": pl.String, "status": pl.Int64},
        orient="row",
    )
    df = df.join(rules, on=["key", "errno", "action", "level", "detail", "also"], how="inner",
                 nulls_equal=True)
    if set(fields) - {"upstream"}:  # client, server, request, host: one regex, one pass
        df = df.with_columns(msg.str.extract_groups(errorlog.FIELDS).alias("f")).unnest("f")
    if "upstream" in fields:
        df = df.with_columns(msg.str.extract(errorlog.UPSTREAM_ONLY, 1).alias("upstream"))
    skipped = [n for n in errorlog.FIELD_NAMES if n not in fields]
    df = df.drop([n for n in skipped if n in df.columns]).with_columns(
        pl.lit(None, dtype=pl.String).alias(n) for n in skipped)
    return df.select(
        pl.col("idx"),
        pl.lit(phrase).alias("source"),
        pl.col("symptom"),
        pl.col("event"),
        pl.col("side"),
        pl.col("status"),
        pl.col("time").str.replace_all("/", "-", literal=True).str.replace(" ", "T", literal=True),
        pl.col("level"),
        *(pl.col(name) for name in errorlog.FIELD_NAMES),
        msg.alias("message"),
        pl.col("pattern"),
        pl.lit(None, dtype=CAPTURES_DTYPE).alias("captures"),
    )


# a batch that starts with an nginx engine line is nginx's error log: its finders' turn comes after
# the regexes, on the few lines left (over every line of it, HAProxy's session pass and the join
# it needs cost ~0.8 CPU-s per 1M nginx lines for nothing)
_ENGINE_FIRST = re.compile(errorlog.ENGINE_HEAD_PREFIX)


def _joined_len(lines: pl.Series) -> int:
    """The length of ``lines``' UTF-8 bytes joined by newlines."""
    return int(lines.str.len_bytes().sum() or 0) + lines.len() - 1


def _known_first(text: pl.Series, year: int, joined: bytes | memoryview | None = None,
                 ) -> tuple[list[pl.DataFrame], pl.Series | None]:
    """The records of the lines of ``text`` a proxy's finder reads (``parsers.linememo.known``:
    HAProxy's session lines by group, the records ``classify_line`` gives them), and which lines
    it took (None: it took none).  No line a finder takes is an nginx engine line (a session line
    starts with a syslog head or a client, never ``yyyy/mm/dd``), and a line it takes whose group
    ``classify_line`` reads as nothing has no record, as the prefilter's lines had none: so
    reading them before the regexes gives each line the record it had after them."""
    taken, found = known(text, year, joined)
    if taken is None:
        return found, None
    return [f.with_columns(pl.col("idx").cast(pl.UInt32)) for f in found], taken


def _classify_others(df: pl.DataFrame, year: int, finders: bool = True) -> pl.DataFrame:
    """``df``'s lines that are not nginx engine lines, through the prefilter, the proxies'
    finders (unless ``finders`` is False: ``classify_series`` ran them first) and the per-line
    recogniser."""
    if df.height == 0:
        return empty_frame()
    # a request line of an access log is no message (``errorlog._classify_other``): filtered here
    # in polars' regex, not line by line in Python
    cand = prefiltered(df).filter(~pl.col("line").str.contains(CLF_REQUEST))
    return _classify_exactly(cand, year, finders)


def _classify_exactly(cand: pl.DataFrame, year: int, finders: bool = True) -> pl.DataFrame:
    """``cand`` (``idx``, ``line``) through the per-line recogniser, ``errorlog.classify_line``."""
    # the lines a proxy's finder reads without classify_line, with their records (HAProxy's
    # session lines by group: parsers.linememo.known), not read one by one
    skip, found = known(cand.get_column("line"), year) if finders else (None, [])
    found = [f.with_columns(cand.get_column("idx").gather(f.get_column("idx")).cast(pl.UInt32).alias("idx"))
             for f in found]
    if skip is not None:
        cand = cand.filter(~skip)
    records = _memo_records(cand.iter_rows(), year)
    if records:
        found.append(pl.DataFrame(records, schema=OUTPUT_SCHEMA))
    if not found:
        return empty_frame()
    return pl.concat(found).sort("idx") if len(found) > 1 else found[0]


# ----------------------------------------------------------------------------------------------
# Summary fast path: counts per (symptom, status, source, upstream peer) without per-line records
# ----------------------------------------------------------------------------------------------

SUMMARY_KEYS: tuple[str, ...] = ("symptom", "status", "source", "upstream")
SUMMARY_SCHEMA: dict[str, pl.DataType] = {
    "symptom": pl.String(), "status": pl.Int64(), "source": pl.String(), "upstream": pl.String(),
    "n": pl.Int64(), "first": pl.String(), "last": pl.String(),
}
# The summary groups by ``<schema><peer>`` of nginx's upstream field (``http://10.0.0.7:8000``,
# ``errorlog.upstream_peer``), not peer + URI, so it stays small.
PEER = errorlog.UPSTREAM_PEER
# The same peer inside the message, capture-free; quotes excluded so it cannot run past the field.
_PEER_BODY = errorlog.upstream_peer(named=False, stop='"')
_UPSTREAM_OPEN = ', upstream: "'
_PEER0 = _UPSTREAM_OPEN + _PEER_BODY
_UPSTREAM_FIELD0 = _PEER0 + '[^"]*"'  # the span errorlog.UPSTREAM_ONLY matches
_ERRNO0 = r"\([0-9]{1,9}: "  # errorlog.ERRNO without its group
_ACTION0 = r" while [^,()]*(?:,|$)"  # errorlog.ACTION without its group
_LEVEL_SPAN = 8  # "[level] ": "[" is character 20 of an nginx head; longer levels: exact path


@lru_cache(maxsize=1)
def _key_alternation() -> str:
    """``errorlog.key_regex()`` without capture groups (same alternatives, same order)."""
    plain, prefixed = errorlog.engine_keys()
    return ("(?:" + "|".join(errorlog.rx_escape(k) for k in plain)
            + "|[^ ]+ (?:" + "|".join(errorlog.rx_escape(k) for k in prefixed) + "))")


@lru_cache(maxsize=1)
def _head_key0() -> str:
    """nginx head + optional key phrase: one capture-free pass over every line."""
    return errorlog.ENGINE_HEAD_PREFIX + "(?:" + _key_alternation() + ")?"


def _capture_free(rxs: dict[str, str]) -> dict[str, str]:
    # errorlog's literal alternations are "(a|b)": the same alternation without the group
    return {k: "(?:" + rx[1:] for k, rx in rxs.items()}


@lru_cache(maxsize=1)
def _detail0() -> dict[str, str]:
    return _capture_free(errorlog.detail_regexes())


@lru_cache(maxsize=1)
def _also0() -> dict[str, str]:
    return _capture_free(errorlog.also_regexes())


def _per_key(rxs: dict[str, str], text: pl.Expr, group: int) -> pl.Expr:
    """Group ``group`` of the row's key's regex (``rxs``: key -> regex) on ``text``; null for a
    key without one: the detail and ``also`` literals of ``errorlog.resolve``'s conditions."""
    out: pl.Expr = pl.lit(None, dtype=pl.String)
    for key, rx in rxs.items():
        out = pl.when(pl.col("key") == key).then(text.str.extract(rx, group)).otherwise(out)
    return out


def empty_summary() -> pl.DataFrame:
    """A summary frame with no rows."""
    return pl.DataFrame(schema=SUMMARY_SCHEMA)


def aggregate_records(df: pl.DataFrame) -> pl.DataFrame:
    """Per-line records (``classify_series`` columns) -> summary rows (``SUMMARY_SCHEMA``).

    nginx upstreams are cut to their peer, as the summary shows them."""
    if df.height == 0:
        return empty_summary()
    up, src = pl.col("upstream").cast(pl.String), pl.col("source")
    df = df.with_columns(pl.when(src == families().phrase).then(up.str.extract(PEER, 0)).otherwise(up)
                         .alias("upstream"), pl.col("time").cast(pl.String))
    agg = df.group_by(*SUMMARY_KEYS).agg(
        pl.len().cast(pl.Int64).alias("n"), pl.col("time").min().alias("first"),
        pl.col("time").max().alias("last"),
    )
    return agg.select(*(pl.col(k).cast(t) for k, t in SUMMARY_SCHEMA.items()))


def engine_time_or_null(raw: pl.Expr) -> pl.Expr:
    """nginx's ``YYYY/MM/DD HH:MM:SS``, or null when it is not a time nginx could have written
    (month 13, hour 99, a year before 1970 or at 9999): the line is still recognised, its time
    is unknown, and no impossible time is printed or compared (``errorlog.engine_time``).  A
    second of 60 too: polars' ``strptime`` (chrono) reads it as a leap second, Python's
    ``datetime`` refuses it, and ``engine_time`` -- the per-line recogniser's, the reference --
    gives no time (``--since`` and the timeline compare ``datetime`` values)."""
    year = raw.str.slice(0, 4).cast(pl.Int32, strict=False)
    parsed = raw.str.strptime(pl.Datetime("us"), "%Y/%m/%d %H:%M:%S", strict=False)
    return pl.when(parsed.is_not_null() & (year >= 1970) & (year < 9999)
                   & (raw.str.slice(17, 2) != "60")).then(raw)


def summarize_series(
    lines: pl.Series, year: int = 1970, since: str | None = None,
    filter_records: Callable[[pl.DataFrame], pl.DataFrame] | None = None,
    may_have_cr: bool = True, may_have_escapes: bool = True,
) -> pl.DataFrame:
    """What ``aggregate_records(classify_series(lines))`` gives, at a fraction of the cost.

    The summary needs, per line, only the rule's inputs (key, errno, action, level, detail, also), the
    time and the upstream peer.  Plain nginx lines get them with capture-free regexes (the Rust
    regex engine then answers from its DFA alone; a capture group costs an extra, slower pass over
    the match) in one streaming polars query (morsels stay in cache across the passes: ~25 % less
    CPU than eager column-at-a-time), are grouped by those raw strings, and the rule is chosen
    once per distinct combination (``errorlog.resolve``), not per line.  Everything else -- lines
    that are not plain nginx lines, lines with escaped quotes, odd levels, an upstream field
    without its closing quote -- is recomputed the exact way (``classify_series`` +
    ``aggregate_records``, or the exact upstream regex): identical results.

    ``since`` (naive local ISO time, ``2024-05-01T12:00:00``) drops nginx lines before it;
    ``filter_records`` filters the exact path's records (``--since`` for other sources).
    ``may_have_cr=False`` / ``may_have_escapes=False``: the caller knows (from the raw bytes) that
    no line ends in ``\\r`` / contains ``\\"``, which saves two passes.  Framed lines are peeled
    first (``errorlog_peel``); the pending ones go the exact way whole, not through ``_exact_mask``
    (a pass over every row).
    """
    if lines.len() == 0:
        return empty_summary()
    text = lines if lines.dtype == pl.String else lines.cast(pl.String)
    if text.null_count():
        text = text.fill_null("")
    if may_have_cr and (text.str.ends_with("\r").any() or text.str.ends_with("\n").any()):
        text = text.str.strip_chars_end("\r\n")
    parts = []
    got = peel(text)
    if got.pending.len():  # framed lines normalize could repair: the exact path, from the framing
        records = classify_series(text.gather(got.pending), year=year, fields=("upstream",))
        parts.append(aggregate_records(_since_records(records, since, filter_records)))
        text = got.text.filter(pl.select(pl.repeat(True, text.len())).to_series().scatter(got.pending, False))
    else:
        text = got.text
    since_raw = since.replace("-", "/").replace("T", " ") if since is not None else None
    groups = _engine_groups(text, since_raw, may_have_escapes, upstream_exact=False)
    exact_rows: pl.Series | None = None
    if groups.get_column("exact").any():
        exact_rows = _exact_mask(text, may_have_escapes)
        records = classify_series(text.filter(exact_rows), year=year, fields=("upstream",))
        parts.append(aggregate_records(_since_records(records, since, filter_records)))
    groups = groups.filter(~pl.col("exact"))
    if not _times_ok(groups):  # an impossible time is some group's first or last: check every row
        groups = _engine_groups(text, since_raw, may_have_escapes, upstream_exact=False,
                               check_times=True).filter(~pl.col("exact"))
    if groups.get_column("suspect").any():
        # the suspect rows' own query checks every row's time: it is run on few rows
        groups = pl.concat([groups.filter(~pl.col("suspect")),
                            _engine_groups(text, since_raw, may_have_escapes, upstream_exact=True,
                                          check_times=True)])
    fast = _resolve_groups(groups)
    if fast is None:  # a level the fixed-width cut cannot hold: do this batch the exact way
        if exact_rows is None:
            exact_rows = _exact_mask(text, may_have_escapes)
        records = classify_series(text.filter(~exact_rows), year=year, fields=("upstream",))
        fast = aggregate_records(_since_records(records, since, filter_records))
    parts.append(fast)
    return pl.concat(parts, how="vertical") if len(parts) > 1 else parts[0]


def _since_records(
    records: pl.DataFrame, since: str | None,
    filter_records: Callable[[pl.DataFrame], pl.DataFrame] | None,
) -> pl.DataFrame:
    """``filter_records`` if given, else rows at/after ``since`` (rows without a time are kept,
    as ``--since`` does); naive ISO strings compare in time order."""
    if records.height == 0:
        return records
    if filter_records is not None:
        return filter_records(records)
    if since is not None:
        return records.filter(pl.col("time").is_null() | (pl.col("time") >= since))
    return records


def _exact_mask(text: pl.Series, may_have_escapes: bool) -> pl.Series:
    """Rows the fast path does not take (``_group_plan``'s ``exact``, row for row): no nginx head,
    marks of a paste repair, no key but an errno tail ``normalize`` may cut at, or escaped quotes
    (unescaped first)."""
    head, key = _head_exprs()
    mask = pl.DataFrame({"line": text}).lazy().with_columns(head).with_columns(key).select(
        _exact_expr()).collect().to_series()
    if may_have_escapes:
        mask = mask | text.str.contains('\\"', literal=True)
    return mask


_RAW = ("key", "errno", "action", "level", "detail", "also")


def _head_exprs() -> tuple[pl.Expr, pl.Expr]:
    """A row's nginx head with its key phrase, then the key alone (null: no head, or no known
    key): two steps, the second reads the first."""
    return (pl.col("line").str.extract(_head_key0(), 0).alias("head"),
            pl.col("head").str.extract(_key_alternation() + "$", 0).alias("key"))


def _exact_expr() -> pl.Expr:
    """The rows the exact way (over ``line``, ``head``, ``key``): no head, marks of a paste repair,
    or no key but an errno tail ``normalize`` cuts the message at -- ``classify_series`` gives
    those lines the per-line recogniser's second chance.  The tail is looked for only in the rows
    without a key (nulls skip the regex): nearly every failure line holds one."""
    line = pl.col("line")
    tail = pl.when(pl.col("key").is_null()).then(line).str.contains(FRAGMENT_INSIDE).fill_null(False)
    return pl.col("head").is_null() | line.str.contains(HEAD_REPAIR_MARKS) | tail


def _engine_groups(
    text: pl.Series, since_raw: str | None, may_have_escapes: bool, upstream_exact: bool,
    check_times: bool = False,
) -> pl.DataFrame:
    """One streaming query: per-row raw parts of plain nginx lines, grouped.

    Columns: ``_RAW`` + ``upstream`` (``, upstream: "<peer>`` as matched), ``exact`` (rows for
    the exact path, all in groups of their own), ``suspect`` (upstream needs the exact regex),
    ``n``, ``first``, ``last`` (nginx's ``YYYY/MM/DD HH:MM:SS``).  ``upstream_exact``: only the
    suspect rows, with the upstream taken by the exact regex (suspect then False).
    """
    steps = _group_plan(since_raw, may_have_escapes, upstream_exact, check_times)
    lf = pl.LazyFrame({"line": text})
    for kind, exprs in steps:
        lf = lf.with_columns(*exprs) if kind == "with" else lf.filter(*exprs) if kind == "filter" \
            else lf.select(*exprs)
    return lf.group_by(*_RAW, "upstream", "exact", "suspect").agg(*_GROUP_AGG).collect(engine="streaming")


def _times_ok(groups: pl.DataFrame) -> bool:
    """True when every group's raw first and last time is one nginx could have written."""
    if groups.height == 0:
        return True
    ends = pl.concat([groups.get_column("first"), groups.get_column("last")]).drop_nulls().unique()
    return ends.len() == 0 or pl.select(engine_time_or_null(pl.lit(ends))).to_series().null_count() == 0


_GROUP_AGG = (pl.len().cast(pl.Int64).alias("n"), pl.col("time").min().alias("first"),
              pl.col("time").max().alias("last"))


@lru_cache(maxsize=16)
def _group_plan(
    since_raw: str | None, may_have_escapes: bool, upstream_exact: bool, check_times: bool = False,
) -> tuple[tuple[str, tuple[pl.Expr, ...]], ...]:
    """The expressions of ``_engine_groups``, built once (building them costs ~1 ms a batch).

    ``check_times=False`` keeps each row's raw ``YYYY/MM/DD HH:MM:SS`` and leaves the check that
    nginx could have written it to the groups' first and last (``_times_ok``): when both are
    possible times, so is every min/max the exact check would give (an impossible time is neither
    below the first nor above the last), and a per-row ``strptime`` was ~12 % of the query."""
    line = pl.col("line")
    head, key = _head_exprs()
    exact = _exact_expr()
    if may_have_escapes:
        exact = exact | line.str.contains('\\"', literal=True)
    keep = pl.col("key").is_not_null()
    if since_raw is not None:
        # a time nginx cannot have written (month 13, 1969) is no time: kept, as ``--since``
        # keeps every line without one (``_since_records``), whatever else the batch holds
        raw = line.str.slice(0, 19)
        keep = keep & ((raw >= since_raw) | engine_time_or_null(raw).is_null())
    detail = _per_key(_detail0(), line, 0)
    also = _per_key(_also0(), line, 0)
    peer = line.str.extract(_PEER0, 0)
    # errorlog.UPSTREAM_ONLY needs a closing quote after the first `, upstream: "`.  The peer
    # holds no quote, so a line ending in a quote has one unless that quote opens an empty
    # field at the very end; only the other rows (cut lines) need the exact regex.
    suspect = peer.is_not_null() & (~line.str.ends_with('"') | (peer == _UPSTREAM_OPEN))
    steps: list[tuple[str, tuple[pl.Expr, ...]]] = [
        ("with", (head,)),
        ("with", (key,)),
        ("with", (exact.alias("exact"),)),
        ("filter", (pl.col("exact") | keep,)),
    ]
    if upstream_exact:
        steps.append(("filter", (~pl.col("exact") & suspect,)))
        peer = line.str.extract(_UPSTREAM_FIELD0, 0).str.extract("^" + _PEER0, 0)
        suspect = pl.lit(False)
    fast = ~pl.col("exact")
    steps.append(("select", (
        pl.col("exact"),
        pl.when(fast).then(pl.col("key")).alias("key"),
        pl.when(fast).then(engine_time_or_null(line.str.slice(0, 19)) if check_times
                           else line.str.slice(0, 19)).alias("time"),
        pl.when(fast).then(line.str.slice(20, _LEVEL_SPAN)).alias("level"),
        pl.when(fast).then(line.str.extract(_ERRNO0, 0)).alias("errno"),
        pl.when(fast).then(line.str.extract(_ACTION0, 0)).alias("action"),
        pl.when(fast).then(peer).alias("upstream"),
        pl.when(fast).then(detail).alias("detail"),
        pl.when(fast).then(also).alias("also"),
        (fast & suspect).alias("suspect"),
    )))
    return tuple(steps)


def _resolve_groups(agg: pl.DataFrame) -> pl.DataFrame | None:
    """Grouped raw parts -> summary rows; None when a level is longer than the fixed cut.

    The distinct raw combinations of a batch are a few dozen and recur in every batch: they are
    parsed and resolved in Python through a cache (``_resolve_raw``) and joined back eagerly
    (five small lazy queries per batch were ~20 % of the summary's CPU on an outage log)."""
    if agg.height == 0:
        return empty_summary()
    combos = agg.select(*_RAW).unique()
    symptoms: list[str | None] = []
    statuses: list[int | None] = []
    for raw in combos.iter_rows():
        rule = _resolve_raw(*raw)
        if rule is None:
            return None
        symptoms.append(rule[0])
        statuses.append(rule[1])
    rules = combos.with_columns(
        pl.Series("symptom", symptoms, dtype=pl.String), pl.Series("status", statuses, dtype=pl.Int64),
    ).filter(pl.col("symptom").is_not_null())
    # eager: on a few thousand rows the lazy plan's set-up was a third of this function's cost
    out = (
        agg.join(rules, on=list(_RAW), how="inner", nulls_equal=True)
        .group_by("symptom", "status", "upstream")
        .agg(pl.col("n").sum(), pl.col("first").min(), pl.col("last").max())
    )
    return out.select(
        pl.col("symptom"), pl.col("status"), pl.lit(families().phrase).alias("source"),
        pl.col("upstream").str.slice(len(_UPSTREAM_OPEN)),
        pl.col("n"),
        *(pl.col(name).str.replace_all("/", "-", literal=True).str.replace(" ", "T", literal=True)
          for name in ("first", "last")),
    )


_LEVEL_RX = re.compile(r"^\[([a-z]+)\]")
_ERRNO_DIGITS = re.compile(r"^\(([0-9]+): ")


@lru_cache(maxsize=4096)
def _resolve_raw(
    key: str | None, errno: str | None, action: str | None, level: str | None, detail: str | None,
    also: str | None = None,
) -> tuple[str | None, int | None] | None:
    """(symptom, status) for one raw combination as ``_group_plan`` cuts it (``(111: ``,
    `` while connecting to upstream,``, ``[error] 7#`` ...); (None, None) when no rule applies,
    None when the level does not fit the fixed-width cut (the batch then goes the exact way)."""
    lv = _LEVEL_RX.match(level) if level is not None else None
    if lv is None:
        return None
    num = _ERRNO_DIGITS.match(errno) if errno is not None else None
    plain = set(errorlog.engine_keys()[0])
    k = key if key is None or key in plain else key.split(" ", 1)[1]
    act = action[len(" while "):] if action is not None else None
    p = errorlog.resolve(families().phrase, k, int(num.group(1)) if num else None, act,
                         lv.group(1), detail, also)
    if p is None and num is not None and act is not None and act.rstrip(",").endswith(FRAGMENT_PHASES):
        # no rule for the line as written, and an errno tail ``normalize`` may cut the message
        # at (FRAGMENT_INSIDE): the per-line recogniser's second chance can read it, so the batch
        # goes the exact way (rare: the catalog has a rule for each such tail of a known key)
        return None
    return (p.symptom, p.status) if p is not None else (None, None)
