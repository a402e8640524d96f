"""The vectorised readers: a batch of lines -> the record columns, in polars (Rust regex).

ALB logs (a file per node every five minutes, gigabytes a day), Cloudflare's and mesh access logs
are the big ones, so they get the same treatment as nginx access logs: one regex over the whole
column and the decisions of ``alb.parse_alb`` as column expressions (Envoy's and Istio's text:
``proxies/envoy/log.py``, on ``match_rx`` and ``finish`` here).  A line the regex does not take
(an Envoy JSON line, a prefixed or older Istio line) goes back to the per-line parser, so the two
engines give the same rows (``tests/stats/test_stats_lb.py`` checks it on every published and
recorded line).
"""

from __future__ import annotations

import array
import re
import threading
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from types import ModuleType
from typing import Any

import polars as pl

from why502.catalog.terms import load_terms
from why502.parsers.arrowcols import frame as arrow_frame
from why502.parsers.arrowcols import joined_bytes, native_pass
from why502.parsers.lblogs.alb import CONNECT_TIMEOUT_S
from why502.parsers.lblogs.family import FrameReader
from why502.parsers.lblogs.fold import BlockFold, Counted, Raw
from why502.parsers.lblogs.json_answers import AnswerRule, json_answers_text, split_answers
from why502.parsers.wrappers import KUBECTL_FRAMING
from why502.textutil import unsniffed

ALB_RX = (
    r'^(?:http|https|h2|grpcs|ws|wss) (?P<time>\S+) \S+ (?P<client>\S+) (?P<target>\S+) (?P<rq>\S+) '
    r'(?P<tp>\S+) (?P<rs>\S+) (?P<status>\S+) (?P<tstatus>\S+) \d+ \d+ "(?P<request>(?:[^"\\]|\\.)*)" '
    r'"(?:[^"\\]|\\.)*"(?: \S+ \S+ (?P<tg>\S+)(?: "[^"]*" "[^"]*" "[^"]*" \S+ (?P<created>\S+) '
    r'"[^"]*" "[^"]*" '
    r'"(?P<reason>[^"]*)"(?: "(?P<targets>[^"]*)")?)?)?'
)

# the columns of evidence.lbstats.COLUMNS this reader fills (line and file are added by the caller)
RECORD_COLUMNS: tuple[str, ...] = (
    "time", "status", "made_by", "code", "symptom", "proxy_status", "cause", "target", "group",
    "upstream_ms", "duration_ms", "retries", "failed", "kind", "client", "request", "host", "detail",
    "backend_status",
)


def dash(e: pl.Expr) -> pl.Expr:
    return pl.when(e == "-").then(None).otherwise(e)


@cache
def _terms(family: str) -> pl.DataFrame:
    """The family's vocabulary as a frame to join on ``code``, built once per run (it was built
    again for every batch: ~1 µs per line of Traefik's, BENCHMARKS.md "2026-11-25 (stop 42)")."""
    rows = [(t.code, t.symptom or None, t.proxy_status or None, t.cause or None)
            for t in load_terms() if t.family == family]
    return pl.DataFrame(rows, schema={"code": pl.String, "t_symptom": pl.String,
                                      "t_proxy_status": pl.String, "t_cause": pl.String}, orient="row")


def without_cr(lines: pl.Series) -> pl.Series:
    """``lines`` with a CRLF line's ``\\r`` taken off (one, as ``family.parse_line`` reads it and
    the native passes take it: ``native/arrow_buf.h`` ``scan_lines``), copied only when a line
    has one."""
    return lines.str.strip_suffix("\r") if lines.str.ends_with("\r").any() else lines


# kubectl logs' framing (--prefix, --timestamps) at a line's start, as ``wrappers.kubectl_unframed``
# takes it off (both parts greedy, in the same order: Rust's regex prefers them as Python's does)
_KUBECTL_FRAMING_RX = rf"^{KUBECTL_FRAMING}"


def kubectl_unframed_lines(lines: pl.Series) -> pl.Series:
    """``lines`` without the framing ``kubectl logs --prefix`` / ``--timestamps`` put before each
    (``wrappers.kubectl_unframed`` of each; a line without any is unchanged): what a reader
    that refused a line as written asks again, as ``family.parse_line`` does."""
    return lines.str.replace(_KUBECTL_FRAMING_RX, "")


def match_rx(lines: pl.Series, rx: str) -> tuple[pl.DataFrame, pl.Series]:
    """(the lines ``rx`` takes, with its groups in the struct column ``m``; the ``idx`` of the others).
    A CRLF line is matched without its ``\\r`` (:func:`without_cr`)."""
    lines = without_cr(lines)
    df = pl.DataFrame({"text": lines}).with_row_index("idx").with_columns(
        pl.col("text").str.extract_groups(rx).alias("m"))
    taken = pl.col("m").struct.field("time").is_not_null()
    return df.filter(taken), df.filter(~taken)["idx"]


def finish(out: pl.DataFrame, family: str) -> pl.DataFrame:
    """The vocabulary's symptom / Proxy-Status / cause for each code (a parser's own, more precise
    ``r_symptom`` / ``r_proxy_status`` first, as ``model.resolved`` does), then ``failed``."""
    return decided(out, family).sort("idx").select("idx", *RECORD_COLUMNS)


def decided(out: pl.DataFrame, family: str) -> pl.DataFrame:
    """``finish`` without the order and the choice of columns: ``out`` (with ``code``,
    ``made_by`` and ``status``) and its ``symptom``, ``proxy_status``, ``cause`` and ``failed``
    (the groups of a fold are decided so, ``AlbFold.take``).  The vocabulary's words are looked
    up by code (``_term_maps``: a family's codes are unique), in one step with ``failed``: a
    join with ``_terms`` and three more steps were ~1.5 of the ~3 ms it took a batch (every
    edge batch of ``diagnose`` and ``classify --format jsonl``; BENCHMARKS.md stop 68)."""
    symptoms, statuses, causes = _term_maps(family)
    code = pl.col("code").cast(pl.String)
    symptom = code.replace_strict(symptoms, default=None, return_dtype=pl.String)
    if "r_symptom" in out.columns:
        symptom = pl.coalesce(pl.col("r_symptom"), symptom)
    status = code.replace_strict(statuses, default=None, return_dtype=pl.String)
    if "r_proxy_status" in out.columns:
        status = pl.coalesce(pl.col("r_proxy_status"), status)
    failed = (pl.col("status") >= 500).fill_null(False) | ((pl.col("made_by") == "lb")
                                                           & symptom.is_not_null())
    kept = [c for c in out.columns if c not in ("r_symptom", "r_proxy_status", "symptom", "proxy_status",
                                                "cause", "failed")]
    return out.select(*kept, symptom.alias("symptom"), status.alias("proxy_status"),
                      code.replace_strict(causes, default=None, return_dtype=pl.String).alias("cause"),
                      failed.alias("failed"))


@cache
def _term_maps(family: str) -> tuple[dict[str, str | None], dict[str, str | None], dict[str, str | None]]:
    """``_terms(family)`` as three maps from a code: its symptom, Proxy-Status and cause."""
    terms = _terms(family)
    codes = terms["code"].to_list()
    return tuple(dict(zip(codes, terms[c].to_list(), strict=True))  # type: ignore[return-value]
                 for c in ("t_symptom", "t_proxy_status", "t_cause"))


def alb_frame(lines: pl.Series) -> tuple[pl.DataFrame, pl.Series]:
    """(records of the ALB entries of ``lines``, in the order of ``idx``; the ``idx`` of the
    others).  The native pass (``_albscan.c``) takes the entries whose shape leaves no doubt
    and decides them as ``_alb_polars`` does; the lines it hands back go through
    ``_alb_polars``, so the rows are the same with or without it (``tests/stats/test_alb_native.py``).
    Regex, expressions and the vocabulary join were ~14 of the ~19 µs a line cost in polars
    (BENCHMARKS.md "2026-11-25 (stop 42)")."""
    # (no line: no block -- an empty text would be one empty line)
    native = (alb_block(joined_bytes(lines))
              if _native_pass("_albscan") and lines.len() else None)
    if native is None or native[0].height + len(native[1]) != lines.len():  # a "line" with a newline
        return _alb_polars(lines)
    return with_rest(*native, _alb_polars, lines)


def with_rest(taken: pl.DataFrame, back: list[int], reader: FrameReader,
              lines: pl.Series) -> tuple[pl.DataFrame, pl.Series]:
    """A native pass's rows ``taken`` with what ``reader`` (its polars reader) reads of the lines
    ``back`` it handed back: (the rows, in ``idx`` order; the ``idx`` of the lines neither read)."""
    if not back:
        return taken, pl.Series("idx", [], dtype=pl.UInt32)
    more, rest = on_rows(reader, lines, pl.Series("idx", back, dtype=pl.UInt32))
    if more.height:
        taken = pl.concat([taken, more], how="vertical_relaxed").sort("idx")
    return taken, rest


def on_rows(reader: FrameReader, lines: pl.Series, rows: pl.Series) -> tuple[pl.DataFrame, pl.Series]:
    """``reader`` on the lines ``rows`` (ascending ``idx`` of ``lines``), its rows' ``idx`` and
    the ``idx`` of the lines it leaves in the numbering of ``lines``."""
    rows = rows.cast(pl.UInt32)
    if rows.len() == 0:
        return pl.DataFrame(), rows
    if rows.len() == lines.len():  # every line, in order
        return reader(lines)
    out, left = reader(lines.gather(rows))
    if out.height:
        out = out.with_columns(rows.gather(out["idx"]).alias("idx"))
    return out, rows.gather(left)


def alb_block(data: bytes) -> tuple[pl.DataFrame, list[int]] | None:
    """The native pass on ``data`` (whole lines as read, cut at ``\\n`` as ``str.split`` cuts
    them): (records of the entries it takes, in ``idx`` order; the ``idx`` of the lines it
    hands back), or None when it was not built or is turned off."""
    module = _native_pass("_albscan")
    if module is None:
        return None
    schema_cap, array_cap, _lines, back_rows, _back_text = module.alb_columns(data)
    return _alb_taken(arrow_frame(schema_cap, array_cap)), array.array("I", back_rows).tolist()


def alb_answers_block(data: bytes) -> tuple[pl.DataFrame, list[int], pl.DataFrame] | None:
    """``alb_block`` with the requests that surely answered counted by the pass instead
    (``_albscan.c``, "the answers"): (records of the other entries it takes, the ``idx`` of the
    lines it hands back, the answered requests' groups as ``app.diagnose.lb._answer_groups``
    makes them), or None when the pass was not built or is turned off."""
    module = _native_pass("_albscan")
    if module is None:
        return None
    taken, back, _text, answers = split_answers(module.alb_columns(data, None, True))
    return (_alb_taken(taken) if taken.height else _NO_RECORDS), back, answers


def _alb_taken(taken: pl.DataFrame) -> pl.DataFrame:
    return finish(taken.with_columns(pl.lit("access").alias("kind")), "alb")


class AlbFold:
    """``alb_block`` that counts the entries the ALB did not make the status of in the native
    pass's tables (``_albscan.c``, "the fold"), across the blocks of one read
    (``parsers.lblogs.fold.BlockFold``)."""

    def __init__(self, module: ModuleType) -> None:
        self.module = module
        self.cap = module.alb_fold_new()

    def codes_only(self) -> None:
        """Nothing to leave out: the pass decides its rows itself, and its tables are small."""

    def share(self, other: BlockFold) -> None:
        """Nothing to share: the pass decides its rows itself."""

    def block(self, data: Raw) -> tuple[pl.DataFrame, list[int], int]:
        schema_cap, array_cap, _lines, back_rows, _text, folded = self.module.alb_columns(data, self.cap)
        back = array.array("I", back_rows).tolist()
        taken = arrow_frame(schema_cap, array_cap)
        # (most blocks: every entry counted -- no polars query on no row)
        return (_alb_taken(taken) if taken.height else _NO_RECORDS), back, int(folded)

    def size(self) -> tuple[int, int]:
        groups, rows = self.module.alb_fold_size(self.cap)
        return int(groups), int(rows)

    def take(self) -> Counted | None:
        tl_s, tl_a, tg_s, tg_a, gr_s, gr_a, co_s, co_a, rows = self.module.alb_fold_take(self.cap)
        if not rows:
            return None
        codes = decided(arrow_frame(co_s, co_a).with_columns(pl.lit("access").alias("kind")), "alb")
        return Counted(int(rows), arrow_frame(tl_s, tl_a), arrow_frame(tg_s, tg_a), arrow_frame(gr_s, gr_a),
                       codes)


def alb_fold() -> AlbFold | None:
    """A new fold of the native ALB pass, or None when it was not built or is turned off."""
    module = _native_pass("_albscan")
    return AlbFold(module) if module is not None else None


@cache
def _native_pass(name: str) -> ModuleType | None:
    """The native pass ``name`` of this package (``_albscan``: ALB entries; ``_jsonscan``: the JSON
    families' keys), when it was built (``setup.py``) and is not turned off (``WHY502_NATIVE=0``)."""
    return native_pass(f"why502.parsers.lblogs.{name}")


def _alb_polars(lines: pl.Series) -> tuple[pl.DataFrame, pl.Series]:
    """``alb_frame`` in polars alone: ``ALB_RX`` over the column, then the decisions of
    ``alb.parse_alb`` as column expressions (the reference of the native pass)."""
    ok, rest = match_rx(lines, ALB_RX)
    f = pl.col("m").struct.field
    status = dash(f("status")).cast(pl.Int64, strict=False)
    tstatus = dash(f("tstatus")).cast(pl.Int64, strict=False)
    target = dash(f("target"))
    tproc = f("tp").cast(pl.Float64, strict=False)
    reason = dash(f("reason"))
    rq = f("rq").cast(pl.Float64, strict=False)
    stamp = "%Y-%m-%dT%H:%M:%S%.fZ"
    waited = (f("time").str.strptime(pl.Datetime("us"), stamp, strict=False)
              - dash(f("created")).str.strptime(pl.Datetime("us"), stamp, strict=False)
              ).dt.total_microseconds() / 1e6
    lb = status.is_not_null() & (tstatus.is_null() | (tstatus != status))
    code = (
        pl.when(~lb).then(None)
        .when(reason.is_not_null() & (reason != "")).then(reason)  # "" decides nothing (parse_alb)
        .when((status == 504) & (rq < 0) & waited.is_between(CONNECT_TIMEOUT_S[0], CONNECT_TIMEOUT_S[1]))
        .then(pl.lit("target-connect-timeout"))
        .when(status == 504).then(pl.lit("target-timeout"))
        .when((status == 503) & target.is_null()).then(pl.lit("no-targets"))
        .when(status.is_in([502, 503]) & (tproc.is_null() | (tproc < 0))).then(pl.lit("target-unreachable"))
        .when(status == 502).then(pl.lit("target-closed"))
        .when((status >= 400) & (status < 500) & tstatus.is_null()).then(pl.lit("lb-rejected"))
        .otherwise(None)
    )
    times = [pl.when(x >= 0).then(x).otherwise(0.0) for x in
             (f("rq").cast(pl.Float64, strict=False).fill_null(0.0), tproc.fill_null(0.0),
              f("rs").cast(pl.Float64, strict=False).fill_null(0.0))]
    tg = dash(f("tg"))
    req = dash(f("request"))
    parts = req.str.extract_groups(r"^(?P<method>\S+) (?:[a-z]+://(?P<host>[^/:\s]*)[^/\s]*)?(?P<path>\S*)")
    request = (pl.when(req.is_null() | req.str.starts_with("- - -")).then(None)
               .otherwise(parts.struct.field("method") + pl.lit(" ")
                          + pl.when(parts.struct.field("path") == "").then(pl.lit("/"))
                          .otherwise(parts.struct.field("path"))))
    targets = dash(f("targets")).str.strip_chars()
    out = ok.select(
        "idx",
        f("time").alias("time"),
        status.alias("status"),
        pl.when(lb).then(pl.lit("lb")).otherwise(pl.lit("backend")).alias("made_by"),
        code.alias("code"),
        target.alias("target"),
        pl.when(tg.str.contains(":targetgroup/")).then(tg.str.extract(r":targetgroup/([^/]+)"))
        .otherwise(tg).alias("group"),
        pl.when(tproc >= 0).then(tproc * 1000.0).otherwise(None).alias("upstream_ms"),
        pl.when(tproc.is_not_null()).then((times[0] + times[1] + times[2]) * 1000.0)
        .otherwise(None).alias("duration_ms"),
        pl.when(targets.str.contains(" ")).then(targets.str.split(" ").list.len() - 1)
        .otherwise(None).cast(pl.Int64).alias("retries"),
        pl.lit("access").alias("kind"),
        dash(f("client")).alias("client"),
        request.alias("request"),
        parts.struct.field("host").alias("host"),
        reason.alias("detail"),
        tstatus.alias("backend_status"),
    )
    return finish(out, "alb"), rest




# Cloudflare Logpush: the fields cloudflare.parse_cloudflare reads, as polars' own NDJSON reader
# decodes them (the other fields of the record are skipped, never built as Python objects).
CLOUDFLARE_SCHEMA: dict[str, pl.DataType] = {
    "EdgeResponseStatus": pl.Int64(), "OriginResponseStatus": pl.Int64(), "OriginIP": pl.String(),
    "OriginResponseHeaderReceiveDurationMs": pl.Float64(), "OriginResponseDurationMs": pl.Float64(),
    "OriginResponseTime": pl.Float64(), "ClientRequestMethod": pl.String(), "ClientRequestURI": pl.String(),
    "ClientRequestPath": pl.String(), "EdgeStartTimestamp": pl.String(), "ClientRequestHost": pl.String(),
    "ClientIP": pl.String(), "RayID": pl.String(),
}
# A record the NDJSON reader takes exactly as the per-line parser does: a bare object with both
# statuses as plain numbers (``OriginResponseStatus`` present: absent and null differ there), no
# numeric timestamp (converted by ``cloudflare._time``) and no boolean, object or array where the
# parser reads a field (``to_int(True)`` is None, polars' is 1).  Any other line -- a shipper's
# prefix, a redacted field, Logpull's Unix times -- goes to the per-line parser.
_CF_TAKE = (r'"EdgeResponseStatus":\s*\d{1,15}[,}\s]', r'"OriginResponseStatus":\s*\d{1,15}[,}\s]')
_CF_SKIP = (r'"EdgeStartTimestamp":\s*-?\d', r'":\s*\*',  # a value redacted as ******
            r'"(?:' + "|".join(CLOUDFLARE_SCHEMA) + r')":\s*(?:true|false|\{|\[)')


@dataclass(frozen=True)
class JsonPass:
    """What the native JSON pass (``_jsonscan.c``) must know of a family's guards to read no line
    otherwise than ``json_rows``' polars reader and the per-line parser: the schema's keys that
    must hold a non-negative integer (its ``take``), the keys of which one at least must be
    there, the names its ``skip`` refuses anywhere in a line (another family's keys), whether a
    nested value elsewhere in the line is allowed, the text columns that also take an integer,
    as its text (Envoy's numbers read as text), and the text columns holding an object of which
    only how many keys are not among some names counts (Caddy's ``resp_headers``: ``counted``,
    (column, lower-case names)).  Every other guard -- a value of another JSON type than the
    column's, a key written twice, an escape or non-ASCII text in a read string, a huge number
    -- the pass applies to every family alike.

    A struct column of the schema (Caddy's ``request``) is read as one column per field, named
    ``column.field``; a counted column as an Int64 (the keys not among its names, null when the
    value is null or absent).  ``flat`` gives the polars reader's rows those same columns, so
    the two readers' rows go together."""

    required: tuple[str, ...] = ()
    any_of: tuple[str, ...] = ()
    forbidden: tuple[str, ...] = ()
    nested_ok: bool = True
    text_numbers: tuple[str, ...] = ()
    counted: tuple[tuple[str, tuple[str, ...]], ...] = ()

    def keys(self, schema: dict[str, pl.DataType],
             ) -> tuple[tuple[bytes, str, bool, bool, tuple[bytes, ...]], ...] | None:
        """The pass's key spec (name, kind, required, any_of, counted names) of ``schema``, or
        None when a column is of a type it does not build."""
        counted = dict(self.counted)
        out = []
        for name, dtype in schema.items():
            fields = {f"{name}.{f.name}": f.dtype for f in dtype.fields} if isinstance(dtype, pl.Struct) \
                else {name: dtype}
            for key, ftype in fields.items():
                kind = "c" if key in counted and ftype == pl.String() else \
                    ("s" if key in self.text_numbers else "u") if ftype == pl.String() else \
                    "l" if ftype == pl.Int64() else "g" if ftype == pl.Float64() else None
                if kind is None:
                    return None
                names = tuple(n.encode() for n in counted.get(key, ()))
                out.append((key.encode(), kind, key in self.required, key in self.any_of, names))
        return tuple(out)

    def flat(self, rec: pl.DataFrame, rest: pl.Series) -> tuple[pl.DataFrame, pl.Series]:
        """The polars reader's ``rec`` with the pass's columns (``keys``): each struct's fields as
        ``column.field``, each counted column's keys not among its names; the rows whose text a
        count could miss go to ``rest``.  Polars gives a nested object as its JSON text written
        again (``{"Server": ["Caddy"]}``, a space after each colon and comma): a key is a string
        followed by ``": "`` only when no string holds an escape, a brace (a nested object) or a
        byte >= 0x80 (which ``(?i)`` folds otherwise than ``str.lower``), nor starts with a colon
        (``["v", ": x"]``: the closing quote of "v" to the opening one of ": x" looks like a key)."""
        counted = dict(self.counted)
        if not counted and not any(isinstance(t, pl.Struct) for t in rec.schema.values()):
            return rec, rest
        doubt = pl.lit(False)
        for name in counted:
            text = pl.col(name)
            odd = text.str.slice(1).str.contains(r'[{\\]|[^\x00-\x7F]|[\[{ ]":')
            doubt = doubt | (text.is_not_null() & (~text.str.starts_with("{") | odd))
        rec, rest = refuse(rec, rest, doubt)
        cols: list[pl.Expr] = []
        for name, dtype in rec.schema.items():
            if isinstance(dtype, pl.Struct):
                cols += [pl.col(name).struct.field(f.name).alias(f"{name}.{f.name}") for f in dtype.fields]
            elif name in counted:
                own = "(?i)\"(?:" + "|".join(re.escape(n) for n in counted[name]) + ')": '
                cols.append((pl.col(name).str.count_matches(r'"[^"]*": ')
                             - pl.col(name).str.count_matches(own)).cast(pl.Int64).alias(name))
            else:
                cols.append(pl.col(name))
        return rec.select(cols), rest


_CF_NATIVE = JsonPass(required=("EdgeResponseStatus", "OriginResponseStatus"))


# Cloudflare's answers (``json_answers``): ``_cloudflare_records`` makes a status below 500 the
# edge's own failure only when the origin answered nothing and the status is 403 or 429 (the
# vocabulary's codes; every one of ``EDGE_CODES`` is a 5xx), so any other below 500 answered.
# Its time is ``EdgeStartTimestamp`` as written (a number is no string: the line goes back), its
# target ``OriginIP`` ("" is none; "-" is kept as a value: such a line goes out as columns).
CF_ANSWERS = AnswerRule(status=("EdgeResponseStatus",), time=("EdgeStartTimestamp",), target=("OriginIP",),
                        own_below_500=(403, 429))


def json_rows(lines: pl.Series, schema: dict[str, pl.DataType], take: tuple[str, ...] = (),
              skip: tuple[str, ...] = (), unique: tuple[str, ...] = (),
              native: JsonPass | None = None) -> tuple[pl.DataFrame, pl.Series]:
    """(the ``schema`` fields, with each line's ``idx``, of the lines read as JSON objects; the
    ``idx`` of the others).  With ``native`` (and the pass built and not turned off), the native
    pass reads the lines it is sure of and ``_json_polars`` the others: the same rows either way
    (``tests/stats/test_json_native.py``); polars' reader and the guards' regexes were ~10-16 of
    the ~18-26 µs a line cost (BENCHMARKS.md "2026-11-25 (stop 42)").  With ``native``, the
    polars reader's rows have the pass's columns (``JsonPass.flat``) whether the pass runs or not."""
    if native is None:
        return _json_polars(lines, schema, take, skip, unique)
    # (a batch with no line starting with "{" -- Traefik's CLF lines -- is not worth the pass)
    native_rows = (json_block(joined_bytes(lines), schema, native)
                   if _native_pass("_jsonscan") is not None and lines.str.starts_with("{").any() else None)

    def polars_rows(some: pl.Series) -> tuple[pl.DataFrame, pl.Series]:
        return native.flat(*_json_polars(some, schema, take, skip, unique))

    # (a "line" holding a newline is two lines to the pass: polars reads that batch)
    if native_rows is None or native_rows[0].height + len(native_rows[1]) != lines.len():
        return polars_rows(lines)
    return with_rest(*native_rows, polars_rows, lines)


def json_block(data: bytes, schema: dict[str, pl.DataType], native: JsonPass,
               ) -> tuple[pl.DataFrame, list[int]] | None:
    """The native pass on ``data`` (whole lines as read): (the ``schema`` fields and ``idx`` of the
    lines it reads; the ``idx`` of the lines it hands back), or None when it was not built, is
    turned off, or cannot build a column of ``schema``."""
    got = json_block_text(data, schema, native)
    return None if got is None else got[:2]


#: a native pass on a block: (its rows, with the ``idx`` of the block's lines they are; the
#: ``idx`` of the lines it hands back; their text, each line and a newline), None when it cannot run
BlockPass = Callable[[bytes], "tuple[pl.DataFrame, list[int], bytes] | None"]


def pass_columns(answer: tuple[Any, Any, int, bytes, bytes]) -> tuple[pl.DataFrame, list[int], bytes]:
    """A native pass's answer (``arrow_buf.h`` ``frame_result``: schema, array, lines, the rows
    handed back as uint32 bytes, their text) as a ``BlockPass``'s."""
    schema_cap, array_cap, _lines, back_rows, back_text = answer
    return arrow_frame(schema_cap, array_cap), array.array("I", back_rows).tolist(), back_text


def chained_passes(data: bytes, passes: list[tuple[str, BlockPass]],
                   ) -> tuple[list[tuple[str, pl.DataFrame]], list[int]] | None:
    """Each of ``passes`` on the lines the ones before it handed back (a family whose log mixes
    formats: Envoy's text and JSON lines, Traefik's common format and JSON): (each pass's name
    and rows, their ``idx`` the lines of ``data``; the ``idx`` of the lines none took), or None
    when no pass could run.  Order the passes by the format the block most likely holds: the
    first reads the whole block, the next only what it leaves."""
    parts: list[tuple[str, pl.DataFrame]] = []
    # each line of the chunk: its line of data; None while the chunk is data (a pass numbers its
    # lines as data's: counting the block's newlines for a list of them was ~9 % of Istio's
    # diagnose, BENCHMARKS.md stop 60)
    chunk, back = data, None
    ran = False
    for name, run in passes:
        got = run(chunk)
        if got is None:
            continue
        ran = True
        rows, left, chunk = got
        if rows.height:
            if back is not None:
                mapping = pl.Series("idx", back, dtype=pl.UInt32)
                rows = rows.with_columns(mapping.gather(rows["idx"]).alias("idx"))
            parts.append((name, rows))
        # (a chunk's last "line": after its last newline)
        back = list(left) if back is None else [back[i] for i in left if i < len(back)]
        if not back:
            break
    return (parts, back if back is not None else []) if ran else None


#: a pass's rows -> (their records, the ``idx`` of those the decisions refuse: the decoded reader's)
Decide = Callable[[str, pl.DataFrame], "tuple[pl.DataFrame, list[int]]"]


def json_and_text_block(data: bytes, family: str, on_json: BlockPass, on_text: BlockPass, decide: Decide,
                        ) -> tuple[pl.DataFrame, list[int]] | None:
    """``LogFamily.block`` of a family whose log holds JSON lines and a text format: both passes
    chained (``chained_passes``; the JSON one first when the block starts with ``{``), each
    pass's rows decided by ``decide("json" | "text", rows)``: (the records, finished; the
    ``idx`` of every line read by neither), or None when neither pass can run."""
    passes = [("json", on_json), ("text", on_text)]
    got = chained_passes(data, passes if data[:1] == b"{" else passes[::-1])
    if got is None:
        return None
    parts, back = got
    out: list[pl.DataFrame] = []
    for name, rows in parts:
        read, refused = decide(name, rows)
        if read.height:
            out.append(read)
        back.extend(refused)
    back.sort()
    return (finish(pl.concat(out, how="vertical_relaxed"), family) if out else empty_records()), back


def json_block_text(data: bytes, schema: dict[str, pl.DataType], native: JsonPass, seen: bool = False,
                    ) -> tuple[pl.DataFrame, list[int], bytes] | None:
    """``json_block`` with the text of the lines handed back (each line and a newline): for a
    family whose other lines another pass reads.  ``seen``: a column ``_seen`` too, whose bit k
    says the line has the k-th key of ``native.keys(schema)`` (a null value and an absent key
    are both null in the columns)."""
    module = _native_pass("_jsonscan")
    spec = native.keys(schema)
    if module is None or spec is None:
        return None
    return pass_columns(module.json_columns(data, spec, tuple(f.encode() for f in native.forbidden),
                                            native.nested_ok, seen))


def _json_polars(lines: pl.Series, schema: dict[str, pl.DataType], take: tuple[str, ...] = (),
                 skip: tuple[str, ...] = (), unique: tuple[str, ...] = ()) -> tuple[pl.DataFrame, pl.Series]:
    """(polars' NDJSON reader on the lines that are a bare JSON object matching every regex of
    ``take`` and none of ``skip``, the fields of ``schema`` with each line's ``idx``; the ``idx``
    of the other lines).  ``take``/``skip`` are a family's guards: the lines on which the reader
    would not read what the per-line parser reads (a field of another type than the schema's,
    another family's key, a shipper's prefix, one of the keys ``unique`` written twice) go to
    the per-line parser."""
    df = pl.DataFrame({"text": lines}).with_row_index("idx")
    # the guards' regexes on the bare objects only: a batch of Traefik's common-format lines
    # (none an object) ran every guard on every line (~10 % of its stats, BENCHMARKS.md stop 55)
    shaped = (pl.col("text").str.starts_with("{") & pl.col("text").str.ends_with("}")).fill_null(False)
    objects = df.filter(shaped)
    if objects.height < df.height:
        if objects.height == 0:
            return pl.DataFrame(schema={**schema, "idx": pl.UInt32}), df["idx"]
        rec, rest = _json_polars_objects(objects, schema, take, skip, unique)
        return rec, pl.concat([df.filter(~shaped)["idx"], rest]).sort()
    return _json_polars_objects(df, schema, take, skip, unique)


def _json_polars_objects(df: pl.DataFrame, schema: dict[str, pl.DataType], take: tuple[str, ...],
                         skip: tuple[str, ...], unique: tuple[str, ...]) -> tuple[pl.DataFrame, pl.Series]:
    """``_json_polars`` on ``df`` (``idx``, ``text``), every text a bare ``{...}``."""
    ok_expr = pl.lit(True)
    for rx in take:
        ok_expr = ok_expr & pl.col("text").str.contains(rx)
    # one pass for every skip (an alternation), with a lone UTF-16 surrogate escape, which
    # ``json.loads`` keeps and the reader may not, and (``unique``) a space between a key and its
    # colon, which the duplicate-key count below would not see
    spaced = (r'"\s+:',) if unique else ()
    ok_expr = ok_expr & ~pl.col("text").str.contains(
        "|".join(f"(?:{rx})" for rx in (*skip, _SURROGATE, *spaced)))
    if unique:
        ok_expr = ok_expr & ~twice(pl.col("text"), unique)
    df = df.with_columns(ok_expr.fill_null(False).alias("take"))
    ok, rest = df.filter(pl.col("take")), df.filter(~pl.col("take"))["idx"]
    if ok.height == 0:
        return pl.DataFrame(schema={**schema, "idx": pl.UInt32}), df["idx"]
    rec, refused = _ndjson(ok, schema)
    if refused.len():
        rest = pl.concat([rest, refused]).sort()
    return rec, rest


def twice(text: pl.Expr, keys: tuple[str, ...]) -> pl.Expr:
    """Whether one of ``keys`` is written twice as ``"key":`` in ``text``: ``json.loads`` keeps
    the last value of a duplicated key, polars' NDJSON reader the first (a key is quoted text
    before a colon: a quote inside a string is escaped).  The ``"key":`` texts are found in one
    Aho-Corasick pass (``extract_many``, leftmost): none is part of another (each starts with a
    quote, ends with ``":`` and holds no quote), so it finds what the regex alternation's
    ``extract_all`` found, at ~half its CPU (that guard was ~10 µs of the ~50 µs a Traefik JSON
    line cost; BENCHMARKS.md "2026-11-25 (stop 42)")."""
    found = text.str.extract_many([f'"{k}":' for k in keys], leftmost=True)
    return found.list.len() != found.list.n_unique()


def refuse(rec: pl.DataFrame, rest: pl.Series, bad: pl.Expr) -> tuple[pl.DataFrame, pl.Series]:
    """(the rows of ``rec`` where ``bad`` is not true; ``rest`` with the ``idx`` of the others):
    a value the reader read that the vectorised decisions would not read as the per-line parser
    does goes back to it."""
    flag = rec.select(bad.fill_null(False).alias("bad"))["bad"]
    if not flag.any():
        return rec, rest
    return rec.filter(~flag), pl.concat([rest, rec.filter(flag)["idx"]]).sort()


class DecisionMemo:
    """The decisions a vectorised reader makes once per combination of the fields they read
    (``decide``: a frame of those key columns -> the same rows with the decisions' columns),
    kept across batches: a combination decided in one batch is not decided again in the next.

    Why: the decisions are one polars query over a handful of rows, ~7 ms of planning whatever
    the rows (Envoy's ``_decided``); a reader that gets many small batches -- ``stats`` of a
    key=value log, every line handed to the frame -- paid it ~120 times for 1M lines.  At most
    ``most`` combinations are kept (a hostile log of endless details starts it again); threads
    share it (the reading threads' batches)."""

    def __init__(self, keys: list[str], decide: Callable[[pl.DataFrame], pl.DataFrame],
                 most: int = 4096) -> None:
        self.keys = keys
        self.decide = decide
        self.most = most
        self._kept: dict[tuple[Any, ...], tuple[Any, ...]] = {}
        self._schema: dict[str, pl.DataType] | None = None
        self._lock = threading.Lock()

    def __call__(self, combos: pl.DataFrame) -> pl.DataFrame:
        """``decide(combos)``: ``combos`` (the key columns, each combination once) with the
        decisions' columns, in ``combos``' order."""
        keyed = combos.select(self.keys)
        rows = keyed.rows()
        if not rows and self._schema is None:
            return self.decide(keyed)
        with self._lock:  # (a decision of new combinations is rare once a log's are known)
            missing = [r for r in rows if r not in self._kept]
            if len(self._kept) + len(missing) > self.most:
                self._kept.clear()
                missing = rows
            if missing:
                new = self.decide(pl.DataFrame(missing, schema=keyed.schema, orient="row"))
                self._schema = dict(new.schema)
                width = len(self.keys)
                others = [c for c in new.columns if c not in self.keys]
                self._kept.update((r[:width], r[width:]) for r in new.select(*self.keys, *others).rows())
            schema = self._schema
            decided = [r + self._kept[r] for r in rows]
        assert schema is not None
        names = [*self.keys, *(c for c in schema if c not in self.keys)]
        return pl.DataFrame(decided, schema={n: schema[n] for n in names}, orient="row")


_SURROGATE = r"\\u[dD][89a-fA-F]"


def div(values: pl.Series, by: float) -> pl.Series:
    """``values / by`` as Python divides each (a column expression divided by a constant, or by
    a literal column, multiplies by its inverse: 25565000 / 1e6 came out 25.564999999999998)."""
    return values / pl.repeat(by, values.len(), eager=True, dtype=pl.Float64)


def nonempty(field: str | pl.Expr) -> pl.Expr:
    """A string field as ``str(obj.get(name) or "") or None`` reads it: "" is None."""
    e = pl.col(field) if isinstance(field, str) else field
    return pl.when(e == "").then(None).otherwise(e)


_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
_CLF_TIME = (r"^(?P<d>[0-9][0-9])/(?P<b>[A-Z][a-z]{2})/(?P<Y>[0-9]{4}):"
             r"(?P<H>[01][0-9]|2[0-3]):(?P<M>[0-5][0-9]):(?P<S>[0-5][0-9]) "
             r"(?P<sign>[+-])(?P<zh>[01][0-9]|2[0-3])(?P<zm>[0-5][0-9])$")


def clf_iso(raw: pl.Expr) -> pl.Expr:
    """``golang.clf_time`` of the common form (``02/Jan/2006:15:04:05 -0700``, two-digit day,
    English month as written by Go): ``datetime.strptime(..., "%d/%b/%Y:%H:%M:%S %z")
    .isoformat()``; null for any other text (which ``clf_time`` may read otherwise: the caller
    sends those lines to the per-line parser)."""
    g = raw.str.extract_groups(_CLF_TIME).struct.field
    month = g("b").replace_strict(list(_MONTHS), [f"{i:02d}" for i in range(1, 13)], default=None,
                                  return_dtype=pl.String)
    date = g("Y") + pl.lit("-") + month + pl.lit("-") + g("d")
    valid = date.str.to_date("%Y-%m-%d", strict=False).is_not_null() & (g("Y") != "0000")
    zero = (g("zh") == "00") & (g("zm") == "00")  # -0000 is +00:00 to isoformat
    sign = pl.when(zero).then(pl.lit("+")).otherwise(g("sign"))
    iso = (date + pl.lit("T") + g("H") + pl.lit(":") + g("M") + pl.lit(":") + g("S")
           + sign + g("zh") + pl.lit(":") + g("zm"))
    return pl.when(valid).then(iso).otherwise(None)


def clf_iso_of(times: pl.Series) -> pl.Series:
    """``clf_iso`` of each of ``times``, worked out once per distinct time: a log's lines share
    their second (its regex, date check and concatenations over every row were ~0.9 s per 1M
    Traefik lines, three quarters of their decisions; BENCHMARKS.md stop 56)."""
    distinct = times.drop_nulls().unique()
    iso = pl.DataFrame({"t": distinct}).select(clf_iso(pl.col("t")).alias("iso"))["iso"]
    return times.replace_strict(distinct, iso, default=None, return_dtype=pl.String)


def key_is(keys: tuple[str, ...] | list[str], value: str) -> str:
    """A regex for a top-level-looking ``"key": value`` of any of ``keys`` (a key follows ``{``
    or ``,``; a key-like text inside a string has its quotes escaped)."""
    return r'[{,]\s*"(?:' + "|".join(keys) + r')"\s*:\s*' + value


# A value the per-line parser reads otherwise than polars' NDJSON reader: a boolean (``to_int``
# of True is None, polars refuses or reads "true"), a non-finite or over-long number (``_SANE``
# makes it None; polars refuses)
NO_BOOL = r":\s*(?:true|false)\b"


def cloudflare_frame(lines: pl.Series) -> tuple[pl.DataFrame, pl.Series]:
    """(records of the Cloudflare lines polars' NDJSON reader takes; the ``idx`` of the others)."""
    rec, rest = json_rows(lines, CLOUDFLARE_SCHEMA, _CF_TAKE, _CF_SKIP, native=_CF_NATIVE)
    return _cloudflare_records(rec), rest


def cloudflare_block(data: bytes) -> tuple[pl.DataFrame, list[int]] | None:
    """``LogFamily.block`` of Cloudflare: the native pass on raw lines, then the same decisions."""
    native = json_block(data, CLOUDFLARE_SCHEMA, _CF_NATIVE)
    if native is None:
        return None
    return _cloudflare_records(native[0]), native[1]


def cloudflare_answers_block(data: bytes) -> tuple[pl.DataFrame, list[int], pl.DataFrame] | None:
    """``cloudflare_block`` with the requests that surely answered counted by the pass instead
    (``json_answers``): (records of the other lines it reads, the ``idx`` of the lines it hands
    back, the answers' groups), or None when the pass cannot run."""
    got = json_answers_text(data, CLOUDFLARE_SCHEMA, _CF_NATIVE, CF_ANSWERS)
    if got is None:
        return None
    rows, back, _text, answers = got
    return _cloudflare_records(rows), back, answers


def _cloudflare_records(rec: pl.DataFrame) -> pl.DataFrame:
    """``cloudflare.parse_cloudflare``'s decisions on the fields read (``CLOUDFLARE_SCHEMA``)."""
    from why502.parsers.lblogs.cloudflare import EDGE_CODES

    if rec.height == 0:
        return empty_records()
    rec = rec.with_columns(cloudflare_upstream_ms(rec))
    status, origin = pl.col("EdgeResponseStatus"), pl.col("OriginResponseStatus")
    edge = status.is_in(sorted(EDGE_CODES))
    made_by = (pl.when(edge).then(pl.lit("lb"))
               .when((origin != 0) & (origin == status)).then(pl.lit("backend"))
               .when((origin == 0) & status.is_not_null()).then(pl.lit("lb"))
               .otherwise(pl.lit("backend")))
    code = (pl.when(edge).then(status.cast(pl.String))
            .when((origin == 0) & status.is_in([403, 429])).then(status.cast(pl.String))
            .otherwise(None))
    uri = pl.when(pl.col("ClientRequestURI").is_not_null() & (pl.col("ClientRequestURI") != ""))\
        .then(pl.col("ClientRequestURI")).otherwise(pl.col("ClientRequestPath"))
    method = pl.col("ClientRequestMethod")
    have = (method.is_not_null() & (method != "") & uri.is_not_null() & (uri != ""))
    host = pl.when(pl.col("ClientRequestHost") != "").then(pl.col("ClientRequestHost")).otherwise(None)
    out = rec.select(
        "idx",
        pl.col("EdgeStartTimestamp").alias("time"),
        status.alias("status"),
        made_by.alias("made_by"),
        code.alias("code"),
        pl.when(pl.col("OriginIP") != "").then(pl.col("OriginIP")).otherwise(None).alias("target"),
        host.alias("group"),
        pl.col("upstream_ms"),
        pl.lit(None, dtype=pl.Float64).alias("duration_ms"),
        pl.lit(None, dtype=pl.Int64).alias("retries"),
        pl.lit("access").alias("kind"),
        pl.when(pl.col("ClientIP") != "").then(pl.col("ClientIP")).otherwise(None).alias("client"),
        pl.when(have).then(method + pl.lit(" ") + uri).otherwise(None).alias("request"),
        host.alias("host"),
        pl.when(pl.col("RayID") != "").then(pl.lit("RayID ") + pl.col("RayID")).otherwise(None)
        .alias("detail"),
        pl.when(origin != 0).then(origin).otherwise(None).alias("backend_status"),
    )
    return finish(out, "cloudflare")


def cloudflare_upstream_ms(rec: pl.DataFrame) -> pl.Series:
    """``parse_cloudflare``'s upstream timing of each row of ``rec`` (its three timing keys'
    columns, Float64): the first of the two durations in ms, else the origin's time in ns as ms
    -- as Python divides (a column expression divided by a constant multiplies by its inverse:
    25565000 / 1e6 came out 25.564999999999998; Series by Series divides).  Also the timing of
    the groups ``stats`` counts natively (``counts.CLOUDFLARE_FOLD``)."""
    ns = rec["OriginResponseTime"]
    ms = pl.coalesce(pl.col("OriginResponseHeaderReceiveDurationMs"), pl.col("OriginResponseDurationMs"),
                     ns / pl.repeat(1e6, ns.len(), eager=True))
    return rec.select(ms.alias("upstream_ms"))["upstream_ms"]


def _ndjson(rows: pl.DataFrame, schema: dict[str, pl.DataType]) -> tuple[pl.DataFrame, pl.Series]:
    """(polars' NDJSON reader on the ``text`` of ``rows``, with their ``idx``; the ``idx`` of the
    rows it refused).  One line it refuses fails the whole read, so a refused part is halved until
    the bad lines are found (parts under 64 lines go whole to the per-line parser): a few bad
    lines cost a few more reads of the batch, not the per-line parser on all of it."""
    import io

    try:
        # (a blank line first when the text starts like a zlib stream: NDJSON skips it)
        text = unsniffed(rows["text"].str.join("\n").cast(pl.Binary).item())[0]
        rec = pl.read_ndjson(io.BytesIO(text), schema=schema)
        if rec.height == rows.height:
            return rec.with_columns(rows["idx"]), pl.Series("idx", [], dtype=pl.UInt32)
    except (pl.exceptions.PolarsError, ValueError):
        pass
    if rows.height < 64:
        return pl.DataFrame(schema={**schema, "idx": pl.UInt32}), rows["idx"]
    half = rows.height // 2
    a, bad_a = _ndjson(rows.head(half), schema)
    b, bad_b = _ndjson(rows.slice(half), schema)
    return pl.concat([a, b]), pl.concat([bad_a, bad_b])


def empty_records() -> pl.DataFrame:
    return pl.DataFrame(schema={"idx": pl.UInt32, **{c: _RECORD_TYPES[c] for c in RECORD_COLUMNS}})


_RECORD_TYPES: dict[str, pl.DataType] = {
    c: pl.Float64() if c.endswith("_ms") else pl.Int64() if c in ("status", "retries", "backend_status")
    else pl.Boolean() if c == "failed" else pl.String() for c in RECORD_COLUMNS}


_NO_RECORDS = empty_records()
