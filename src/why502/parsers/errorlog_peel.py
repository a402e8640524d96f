"""Peel the container framings off a whole column of log lines, for the polars engine.

Why: nginx's error log read from a container comes wrapped, one nginx line per wrapped line, and
the polars engine took every line without an nginx head at its start through the per-line
recogniser (``errorlog.classify_line`` -> ``wrappers.unwrap``), ~70-100 CPU-us a line: a
kubelet's or docker's copy of a failure-dense log read at ~10-15k lines/s against ~0.5M for the
same lines plain (BENCHMARKS.md, classify, stops 48 and 49).  ``peel`` replaces each wrapped
line it is certain of with the nginx line inside it, column-wise (polars string expressions), so the engine's
vectorised path reads it as a plain line; every other line stays as given, for the per-line
path as before.  The framings, as the native scanner peels them (``proxies/nginx/
_scan_wrappers.h``, whose reasoning this follows):

* CRI, the kubelet's container log files (``/var/log/containers``, written by containerd and
  CRI-O): ``<RFC 3339 nano> <stdout|stderr> <F|P> <line>`` -- kubernetes/cri-api
  ``pkg/apis/runtime/v1/constants.go`` (``LogTag``: ``F`` a full line or the end of one, ``P``
  a part) and containerd's ``pkg/cri/io/logger.go`` (``redirectLogs``: the time as
  ``RFC3339Nano``, the stream, the tag, the content, each after one space).  A ``P`` line is
  peeled alone: the per-line path does not rejoin partial lines either (``wrappers._CRI`` reads
  ``[FP]`` alike), so neither does this.
* ``docker logs --timestamps`` / ``kubectl logs --timestamps``: ``<RFC 3339 nano> <line>``.
* docker's json-file driver: ``{"log":"<line>\\n","stream":"stderr","time":"..."}``, moby's
  ``daemon/logger/jsonfilelog/jsonlog/jsonlogbytes.go`` (``JSONLogs.MarshalJSONBuf``: no
  spaces, ``attrs`` between ``stream`` and ``time`` only with ``--log-opt labels/env``; the
  string by ``ffjsonWriteJSONBytesAsString``: quote and backslash escaped, ``\\n``, ``\\r``, and
  as ``\\u00xx`` the other controls and ``<``, ``>``, ``&``).  Only that exact shape is peeled,
  its string unescaped in one left-to-right pass (``replace_many``) over those escapes and
  JSON's other one-letter ones: each escape is a token that starts at a backslash, so one
  non-overlapping pass reads them as ``json.loads`` does.  Any other escape (``\\/``,
  ``\\u00e9``, ``\\ufffd`` for bytes that were not UTF-8, a surrogate) leaves the line as it is.

The reference is ``classify_line`` on the wrapped line, behind the raw line's literal prefilter
(``errorlog_batch._classify_others``).  It unwraps to the nginx line and classifies that, or,
when that line is not recognised, tries again after ``normalize`` (paste repairs) on the
*wrapped* line.  So a line is peeled only when all of these hold, and then its record is the
inner line's, which the vectorised path gives:

* it is ASCII (the repairs' checks below are for ASCII text), and it passes the prefilter if the
  engine recognises its nginx line (``_keys_hold_needles``, proven once per catalog: every key
  phrase holds a needle a framing writes as it is);
* the unwrap loop provably stops at the inner line and leaves it as it is: an nginx head at its
  start, no newline inside (the head regex's ``.*$`` stops there), no escaped quote and no
  trailing backslash-n (``unwrap`` rewrites both), and behind a bare timestamp nothing RFC 5424's
  ``<time> host app procid msgid -|[sd] `` could read (no connection number, message opening
  with ``-`` or ``[``);
* ``normalize`` leaves the wrapped line as it is (``normalize.MAY_CHANGE_ASCII`` and the errno
  fragment it would cut at, ``normalize.FRAGMENT_INSIDE``) and the plain path would not hand the
  inner line to a repair either (``normalize.HEAD_REPAIR_MARKS``) -- or the inner line is
  recognised as written: such a line is peeled and its row listed in ``Peeled.pending``, and the
  caller reads it from the wrapped line when the engine does not recognise the inner one
  (``errorlog_batch.classify_series``).  Where ``normalize`` could cut a line at its errno it
  mostly does not matter: ``upstream timed out (110: ...) while reading response header from
  upstream`` is recognised as written, and sending such lines to the per-line path wholesale cost
  an eighth of a dense log's lines.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import polars as pl

from why502.parsers import wrappers
from why502.parsers.errorlog import ENGINE_HEAD_PREFIX, ENGINE_TIME, engine_keys, prefilter_needles
from why502.parsers.normalize import FRAGMENT_INSIDE, HEAD_REPAIR_MARKS, MAY_CHANGE_ASCII
from why502.parsers.prefilter import prefiltered

# Lines worth a look: docker's object or an RFC 3339 time at the start (one anchored pass).
_CANDIDATE = r'^(?:\{"log":"|[0-9]{4}-[0-9][0-9]-[0-9][0-9][T ][0-9][0-9]:[0-9][0-9]:[0-9][0-9])'
# docker json-file, exactly (module doc); the string's body runs from byte 8 to ``_DOCKER_TAIL``
_DOCKER_OPEN = '{"log":"'
_DOCKER_TAIL = '","stream":"'
_JSON_CHAR = r'[^"\\\x00-\x1f]'
_DOCKER_ESCAPE = r'\\["\\bfnrt]|\\u00(?:[01][0-9a-fA-F]|3[cCeE]|26)'
_DOCKER = (r'^\{"log":"(?:' + _JSON_CHAR + "|" + _DOCKER_ESCAPE + r')*","stream":"std(?:out|err)",'
           r'"time":"' + _JSON_CHAR + r'*"\}$')
# CRI, or else a bare time: the unwrap loop tries ``wrappers._CRI`` first, and where it matches so
# does the optional group here (greedy)
_TIME_FRAMING = wrappers.TS_PREFIX + r"(?:(?:stdout|stderr) [FP] ?)?"
# no connection number and a message opening with "-" or "[": RFC 5424's shape behind a bare time
_BARE_5424 = "^" + ENGINE_TIME + r" \[[a-z]+\] [0-9]+#[0-9]+: [-\[]"
# What normalize could repair in the framed line, and what the plain path hands to a repair in the
# nginx line: one pass over the framed line, which ends as the nginx line does behind a time (the
# marks are not anchored at the start, so a match in the nginx line is one in the framed line)
_REPAIRS = MAY_CHANGE_ASCII + "|" + HEAD_REPAIR_MARKS


@lru_cache(maxsize=1)
def _docker_escapes() -> dict[str, str]:
    """Each escape ``_DOCKER`` lets through -> its character, every spelling of its hex."""
    out = {'\\"': '"', "\\\\": "\\", "\\b": "\b", "\\f": "\f", "\\n": "\n", "\\r": "\r", "\\t": "\t"}
    for code in (*range(0x20), 0x3C, 0x3E, 0x26):
        for spelt in {f"{code:02x}", f"{code:02X}"}:
            out["\\u00" + spelt] = chr(code)
    return out


@lru_cache(maxsize=1)
def _keys_hold_needles() -> bool:
    """Whether every key phrase the engine reads holds a prefilter needle that a framing writes as
    it is (no quote, backslash, ``<``, ``>``, ``&`` or control: docker escapes those).  Then a
    peeled line the engine recognises passes the prefilter on its framed line too, and the peel
    need not ask it (the reference drops a framed line that fails it: module doc)."""
    needles = [n for n in prefilter_needles()
               if not any(c in n for c in '"\\<>&') and all(0x20 <= ord(c) < 0x7F for c in n)]
    plain, prefixed = engine_keys()
    return all(any(n in k.lower() for n in needles) for k in (*plain, *prefixed))


@dataclass(frozen=True)
class Peeled:
    """``text``: the lines, each framed line this module is certain of replaced by the nginx line
    inside it; ``pending``: the row numbers (``UInt32``) of those among them that must be read
    from their framed line after all when the engine does not recognise the nginx line
    (``normalize`` could repair the framed line)."""

    text: pl.Series
    pending: pl.Series


def peel(text: pl.Series, pending: bool = True) -> Peeled:
    """``text`` (lines without their ``\\r\\n``) with the framed lines this module is certain of
    peeled (module doc).  ``pending=False`` leaves the pending ones as they are (and lists none)."""
    none = pl.Series("idx", [], dtype=pl.UInt32)
    if text.len() == 0:
        return Peeled(text, none)
    cand = text.str.contains(_CANDIDATE)
    if not cand.any():
        return Peeled(text, none)
    line = pl.col("line")
    df = (pl.DataFrame({"line": text}).with_row_index("idx").filter(cand)
          .filter(line.str.len_bytes() == line.str.len_chars()))  # ASCII
    docker = df.get_column("line").str.contains(_DOCKER)
    parts = [_docker_inner(df.filter(docker)), _time_inner(df.filter(~docker))]
    df = pl.concat([p for p in parts if p.height] or [parts[0]])
    if df.height == 0:
        return Peeled(text, none)
    df = df.filter(pl.col("inner").str.contains(ENGINE_HEAD_PREFIX) & _kept())
    if not _keys_hold_needles():
        df = prefiltered(df)
    if df.height == 0:
        return Peeled(text, none)
    df = df.with_columns(_repairable(df))
    if not pending:
        df = df.filter(~pl.col("pending"))
        if df.height == 0:
            return Peeled(text, none)
    if df.height == text.len():  # every line peeled (a container's log): no scatter
        out = df.sort("idx").get_column("inner").alias(text.name)
    else:
        out = text.clone().scatter(df.get_column("idx"), df.get_column("inner"))  # the caller's stays
    return Peeled(out, df.filter(pl.col("pending")).get_column("idx") if pending else none)


def _docker_inner(df: pl.DataFrame) -> pl.DataFrame:
    """docker's lines (``_DOCKER``): ``inner``, their ``log`` unescaped without its ``\\r\\n``;
    ``marks``: whether the plain path would hand it to a repair (the framed line's escapes hide
    that from ``_REPAIRS``)."""
    line = pl.col("line")
    end = line.str.find(_DOCKER_TAIL, literal=True)
    inner = (line.str.slice(len(_DOCKER_OPEN), end - len(_DOCKER_OPEN))
             .str.replace_many(_docker_escapes()).str.strip_chars_end("\r\n"))
    return df.with_columns(inner.alias("inner"), pl.lit(False).alias("bare")).with_columns(
        pl.col("inner").str.contains(HEAD_REPAIR_MARKS).alias("marks"))


def _time_inner(df: pl.DataFrame) -> pl.DataFrame:
    """CRI and bare-time lines: ``inner``, the text after the framing (null: none), ``bare``."""
    prefix = pl.col("line").str.extract(_TIME_FRAMING, 0)
    return df.with_columns(prefix.alias("inner")).with_columns(
        pl.col("line").str.slice(pl.col("inner").str.len_bytes()).alias("inner"),
        ~pl.col("inner").str.contains(" std", literal=True).alias("bare"), pl.lit(False).alias("marks"))


def _kept() -> pl.Expr:
    """The unwrap loop stops at ``inner`` and leaves it as it is (module doc)."""
    inner = pl.col("inner")
    return (~inner.str.contains("\n", literal=True) & ~inner.str.contains('\\"', literal=True)
            & ~inner.str.ends_with("\\n") & ~(pl.col("bare") & inner.str.contains(_BARE_5424)))


def _repairable(df: pl.DataFrame) -> pl.Series:
    """``normalize`` could change the framed line, or the plain path would repair the nginx line."""
    line = pl.col("line")
    flags = df.select((pl.col("marks") | line.str.contains(_REPAIRS)).alias("pending"),
                      line.str.find(FRAGMENT_INSIDE).alias("at"))
    pending = flags.get_column("pending")
    at = flags.get_column("at")
    if at.null_count() == at.len():
        return pending
    # normalize cuts a line at its first "(N: ...) while <phase> upstream" unless "()" or
    # "failed" comes before it (asked of those few rows alone)
    rows = at.is_not_null().arg_true()
    before = df.get_column("line").gather(rows).str.slice(0, at.gather(rows))
    cut = ~before.str.contains("()", literal=True) & ~before.str.contains("failed", literal=True)
    return pending.scatter(rows.filter(cut), True)
