"""Traefik's vectorised reader (``TRAEFIK.frame``): a batch of its access-log lines -> the record
columns, in polars, the decisions of ``log.parse_traefik_json`` and ``log.parse_traefik_clf`` as
column expressions (``parsers.lblogs.batch``).

JSON lines go through polars' NDJSON reader with a schema of the fields the parser reads, CLF
lines through one regex over the column.  A line either would read otherwise than the per-line
parser -- a field of another JSON type than the schema's, a nested object, another family's key,
Traefik's error JSON, a time ``strptime`` would refuse -- goes back to it (the ``rest``), so the
rows are the parser's (``tests/stats/test_lb_frames.py`` checks it on every published and
recorded line).
"""

from __future__ import annotations

import re
from http import HTTPStatus
from types import ModuleType

import polars as pl

from why502.parsers.arrowcols import native_pass
from why502.parsers.lblogs.batch import (
    NO_BOOL,
    JsonPass,
    clf_iso_of,
    div,
    empty_records,
    finish,
    json_and_text_block,
    json_block_text,
    json_rows,
    key_is,
    kubectl_unframed_lines,
    match_rx,
    nonempty,
    on_rows,
    pass_columns,
    refuse,
)
from why502.parsers.lblogs.json_answers import (
    AnsweredPass,
    AnswerRule,
    json_answers_text,
    mixed_answers,
)

NAME = "traefik"

_INTS = ("DownstreamStatus", "OriginStatus", "OriginContentSize", "RetryAttempts")
_FLOATS = ("Duration", "OriginDuration")
_STRINGS = ("ServiceURL", "RouterName", "RequestMethod", "RequestPath", "StartUTC", "time",
            "ServiceAddr", "ServiceName", "RequestHost", "ClientHost")
SCHEMA: dict[str, pl.DataType] = {
    **{k: pl.Int64() for k in _INTS}, **{k: pl.Float64() for k in _FLOATS},
    **{k: pl.String() for k in _STRINGS}}

# The per-line reader's order of families (``LogFamily.rank``): a line with Cloudflare's, Envoy's
# or Caddy's keys is theirs, and Traefik's error JSON (``caller``) is read by its own parser.
_OTHERS = r'"(?:EdgeResponseStatus|RayID|logger|caller|response_flags?|responseFlags|' \
          r'response_code_details|responseCodeDetails|upstream_transport_failure_reason|' \
          r'upstreamTransportFailureReason)"'
_TAKE = (key_is(["DownstreamStatus"], r"\d"),)
_SKIP = (
    _OTHERS, r":\s*[{\[]", NO_BOOL,  # another family; a nested value (or a brace in a string)
    key_is(_INTS, r'(?:"|-?\d+[.eE]|-?\d{16})'),  # an int as a string, a float, too long
    key_is(_FLOATS, r'(?:"|-?\d{20}|[-\d.]+[eE][+-]?\d{3})'),  # a string, a huge number
    key_is(_INTS + _FLOATS, r"(?:NaN|-?Infinity)"),
    key_is(_STRINGS, r"[-\d]"),  # a number where the parser reads a string (str(12.0) is "12.0")
)

# The lengths of Go's http.StatusText (Python's HTTPStatus phrases) of the 5xx: a body of that
# length is Traefik's own error page (``log._traefik_own``)
_PHRASE = pl.DataFrame(
    [(int(s), len(s.phrase)) for s in HTTPStatus if int(s) >= 500],
    schema={"status": pl.Int64, "phrase_len": pl.Int64}, orient="row")
_CODES = {500: "500 Internal Server Error", 502: "502 Bad Gateway", 504: "504 Gateway Timeout"}


def _decide(df: pl.DataFrame, status: pl.Expr, size: pl.Expr, url: pl.Expr, router: pl.Expr) -> pl.Expr:
    """``log._traefik_own`` as an expression (``phrase_len`` joined on the status)."""
    plen = pl.col("phrase_len")
    own = (status.is_not_null() & (status >= 500)
           & (url.is_null() | (url == "-") | (plen.is_not_null() & size.is_not_null()
                                              & ((size == plen) | (size == plen + 1)))))
    return own.fill_null(False) | (router.is_null() & url.is_null())


def _code(status: pl.Expr, url: pl.Expr, router: pl.Expr) -> pl.Expr:
    """``log._traefik_code``."""
    code = pl.lit(None, dtype=pl.String)
    for st, text in _CODES.items():
        code = pl.when(status == st).then(pl.lit(text)).otherwise(code)
    return (pl.when(router.is_null() & (status.is_null() | (status == 404))).then(pl.lit("no router"))
            .when((status == 503) & (url.is_null() | (url == "-"))).then(pl.lit("503 no healthy server"))
            .otherwise(code))


# the same guards for the native JSON pass (``batch.JsonPass``): the status a number, no other
# family's key, no nested value
_NATIVE = JsonPass(required=("DownstreamStatus",), nested_ok=False, forbidden=(
    "EdgeResponseStatus", "RayID", "logger", "caller", "response_flags", "response_flag", "responseFlags",
    "response_code_details", "responseCodeDetails", "upstream_transport_failure_reason",
    "upstreamTransportFailureReason"))

# Traefik's JSON answers (``json_answers``), as ``_json_records`` and ``_decide`` read a line:
# below 500, Traefik made the status itself only when the line names neither a router nor a
# service URL (``_decide``'s ``own``: its "no router" 404), so one that names either answered.
# Its time is StartUTC, else time; its target ServiceAddr, else ServiceURL ("" none; "-" kept as
# a value: such a line goes out as columns).
JSON_ANSWERS = AnswerRule(status=("DownstreamStatus",), time=("StartUTC", "time"),
                          target=("ServiceAddr", "ServiceURL"), named=("RouterName", "ServiceURL"))


def _json(lines: pl.Series) -> tuple[pl.DataFrame, pl.Series]:
    rec, rest = json_rows(lines, SCHEMA, _TAKE, _SKIP, unique=tuple(SCHEMA), native=_NATIVE)
    return _json_records(rec, rest)


def traefik_block(data: bytes) -> tuple[pl.DataFrame, list[int]] | None:
    """``LogFamily.block`` of Traefik: its common-format lines through the native CLF pass
    (``_traefikscan.clf_columns``: CLF_RX's captures, then ``_clf``'s decisions), its JSON
    lines through the native JSON pass (then ``_json``'s), each on the lines the other handed
    back, the one the block starts with first (``batch.json_and_text_block``); every line neither
    takes is handed back, to ``traefik_frame``.  The common format is Traefik's default: its
    lines were cut by a regex over the decoded batch (BENCHMARKS.md, stop 56).  None when
    neither pass can run."""
    return json_and_text_block(data, NAME, _on_json, _on_clf, _decide_pass)


def traefik_answers_block(data: bytes) -> tuple[pl.DataFrame, list[int], pl.DataFrame] | None:
    """``traefik_block`` with the lines that surely answered counted by the pass that reads the
    block first instead ("the answers"): the JSON pass by ``JSON_ANSWERS`` when the block starts
    with a JSON line, else the common-format pass (``_traefikscan.clf_answers``): (the records of
    the other lines read, the ``idx`` of the lines handed back, the answers' groups), or None
    when that pass cannot run (the pass after it reads what is left, numbered anew)."""
    clf = clf_pass()
    return mixed_answers(data, NAME, _on_json_answers, _on_json, getattr(clf, "clf_answers", None), _on_clf,
                         _decide_pass)


def _on_json(chunk: bytes) -> tuple[pl.DataFrame, list[int], bytes] | None:
    """The JSON pass of ``traefik_block``."""
    return json_block_text(chunk, SCHEMA, _NATIVE)


def _on_json_answers(chunk: bytes) -> AnsweredPass | None:
    """``_on_json`` with the answers counted (``JSON_ANSWERS``)."""
    return json_answers_text(chunk, SCHEMA, _NATIVE, JSON_ANSWERS)


def _on_clf(chunk: bytes) -> tuple[pl.DataFrame, list[int], bytes] | None:
    """The common-format pass of ``traefik_block`` (None when it was not built or is off)."""
    clf = clf_pass()
    return None if clf is None else pass_columns(clf.clf_columns(chunk))


def _decide_pass(name: str, rows: pl.DataFrame) -> tuple[pl.DataFrame, list[int]]:
    """Each pass's rows of ``traefik_block`` decided (``batch.Decide``)."""
    none = pl.Series("idx", [], dtype=pl.UInt32)
    if name == "text":
        read, refused = clf_records(rows.select("idx", pl.struct(CLF_CAPTURES).alias("m")), none)
    else:
        read, refused = _json_records(rows, none)
    return read, refused.to_list()


def clf_pass() -> ModuleType | None:
    """The native CLF pass (``_traefikscan``), when it was built and is not turned off."""
    return native_pass("why502.proxies.traefik._traefikscan")


def traefik_upstream_ms(rec: pl.DataFrame) -> pl.Series:
    """``parse_traefik_json``'s upstream timing of each row of ``rec``: ``OriginDuration`` (ns,
    Float64) as ms, as Python divides, when the row names a service URL (else None).  Also the
    timing of the groups ``stats`` counts natively (``counts.FOLD``)."""
    odur = div(rec["OriginDuration"], 1e6)
    return rec.select(pl.when(odur.is_not_null() & nonempty("ServiceURL").is_not_null()).then(odur)
                      .otherwise(None).alias("upstream_ms"))["upstream_ms"]


def _json_records(rec: pl.DataFrame, rest: pl.Series) -> tuple[pl.DataFrame, pl.Series]:
    """``log.parse_traefik_json``'s decisions on the fields read (``SCHEMA``); ``rest`` with the
    lines they do not decide as it does."""
    # DownstreamStatus read at the top level (a nested one is no Traefik line for the parser)
    rec, rest = refuse(rec, rest, pl.col("DownstreamStatus").is_null())
    if rec.height == 0:
        return rec, rest
    rec = rec.with_columns(div(rec["Duration"], 1e6).alias("dur_ms"), traefik_upstream_ms(rec))
    rec = rec.join(_PHRASE, left_on="DownstreamStatus", right_on="status", how="left")
    status = pl.col("DownstreamStatus")
    url, router = nonempty("ServiceURL"), nonempty("RouterName")
    own = _decide(rec, status, pl.col("OriginContentSize"), url, router)
    method, path = nonempty("RequestMethod"), nonempty("RequestPath")
    out = rec.lazy().select(  # lazily: own/made_by computed once
        "idx",
        pl.coalesce(nonempty("StartUTC"), nonempty("time")).alias("time"),
        status.alias("status"),
        pl.when(own).then(pl.lit("lb")).otherwise(pl.lit("backend")).alias("made_by"),
        pl.when(own).then(_code(status, url, router)).otherwise(None).alias("code"),
        pl.coalesce(nonempty("ServiceAddr"), url).alias("target"),
        nonempty("ServiceName").alias("group"),
        pl.col("upstream_ms"),
        pl.col("dur_ms").alias("duration_ms"),
        pl.col("RetryAttempts").alias("retries"),
        pl.lit("access").alias("kind"),
        nonempty("ClientHost").alias("client"),
        pl.when(method.is_not_null() & path.is_not_null()).then(method + pl.lit(" ") + path)
        .otherwise(None).alias("request"),
        nonempty("RequestHost").alias("host"),
        pl.lit(None, dtype=pl.String).alias("detail"),
        pl.when(pl.col("OriginStatus") != 0).then(pl.col("OriginStatus")).otherwise(None)
        .alias("backend_status"),
    ).collect()
    return out, rest


# log._TRAEFIK_CLF, its time the one form clf_iso (clf_iso_of) converts as clf_time does
CLF_RX = (
    r'^(?P<client>\S+) \S+ \S+ \[(?P<time>[^\]]+)\] "(?P<req>[^"]*)" (?P<status>\S+) (?P<size>\S+) '
    r'(?:"[^"]*"|-) (?:"[^"]*"|-) (?P<count>\d+) (?:"(?P<router>[^"]*)"|-) (?:"(?P<url>[^"]*)"|-) '
    r'(?P<dur>\d+)ms$'
)


# CLF_RX's captures, in its order (the native pass's columns: ``_traefikscan.clf_columns``)
CLF_CAPTURES = tuple(re.compile(CLF_RX).groupindex)


def _clf(lines: pl.Series) -> tuple[pl.DataFrame, pl.Series]:
    """CLF_RX on each line as written, then on the lines it refused without kubectl's framing
    (``family.parse_line``'s order, and ``_traefikscan``'s ``clf_line``'s), decided."""
    ok, rest = match_rx(lines, CLF_RX)
    if rest.len():
        framed, rest = on_rows(_unframed_match, lines, rest)
        if framed.height:
            ok = pl.concat([ok, framed.select(ok.columns)], how="vertical_relaxed")
    return clf_records(ok, rest)


def _unframed_match(lines: pl.Series) -> tuple[pl.DataFrame, pl.Series]:
    """``match_rx`` of CLF_RX on ``lines`` without kubectl's framing (a line without any is
    matched as it is, and refused again)."""
    return match_rx(kubectl_unframed_lines(lines), CLF_RX)


def clf_records(ok: pl.DataFrame, rest: pl.Series) -> tuple[pl.DataFrame, pl.Series]:
    """``log.parse_traefik_clf``'s decisions on CLF_RX's captures (the struct column ``m``, with
    ``idx``); ``rest`` with the lines they do not decide as it does."""
    f = pl.col("m").struct.field
    ok = ok.with_columns(clf_iso_of(ok["m"].struct.field("time")).alias("iso"),
                         f("status").alias("status_text"), f("dur").alias("dur_text"))
    # a time clf_time keeps as written, a status or size to_int reads otherwise than the cast
    # (over 18 digits), a duration float() reads otherwise (ASCII digits only here)
    ok, rest = refuse(ok, rest, pl.col("iso").is_null()
                      | pl.col("status_text").str.contains(r"^-?\d{19,}$")
                      | f("size").str.contains(r"^-?\d{19,}$")
                      | ~pl.col("dur_text").str.contains(r"^[0-9]+$"))
    if ok.height == 0:
        return ok.select("idx"), rest
    ok = ok.with_columns(_to_int(f("status")).alias("st"))
    status, size = pl.col("st"), _to_int(f("size"))
    url = pl.when(f("url") == "-").then(None).otherwise(f("url"))
    router = pl.when(f("router") == "-").then(None).otherwise(f("router"))
    ok = ok.join(_PHRASE, left_on="st", right_on="status", how="left")
    own = _decide(ok, status, size, url, router)
    req = f("req").str.split(" ")
    out = ok.lazy().select(  # lazily: own/made_by computed once
        "idx",
        pl.col("iso").alias("time"),
        status.alias("status"),
        pl.when(own).then(pl.lit("lb")).otherwise(pl.lit("backend")).alias("made_by"),
        pl.when(own).then(_code(status, url, router)).otherwise(None).alias("code"),
        url.alias("target"),
        router.alias("group"),
        pl.lit(None, dtype=pl.Float64).alias("upstream_ms"),
        f("dur").cast(pl.Float64).alias("duration_ms"),
        pl.lit(None, dtype=pl.Int64).alias("retries"),
        pl.lit("access").alias("kind"),
        f("client").alias("client"),
        pl.when(req.list.len() >= 2)
        .then(req.list.get(0, null_on_oob=True) + pl.lit(" ") + req.list.get(1, null_on_oob=True))
        .otherwise(None).alias("request"),
        pl.lit(None, dtype=pl.String).alias("host"),
        pl.lit(None, dtype=pl.String).alias("detail"),
        pl.lit(None, dtype=pl.Int64).alias("backend_status"),
    ).collect()
    return out, rest


def _to_int(e: pl.Expr) -> pl.Expr:
    """``model.to_int`` of a field with no spaces: ASCII digits with an optional leading '-'."""
    return pl.when(e.str.contains(r"^-?[0-9]{1,18}$")).then(e.cast(pl.Int64, strict=False)).otherwise(None)


def traefik_frame(lines: pl.Series) -> tuple[pl.DataFrame, pl.Series]:
    """(records of the Traefik JSON and CLF lines the fast readers take, in ``idx`` order; the
    ``idx`` of the others, for the per-line parser)."""
    js, rest = _json(lines)
    clf, rest = _clf_of(lines, rest)
    parts = [p for p in (js, clf) if p.height]
    if not parts:
        return empty_records(), rest
    return finish(pl.concat(parts, how="vertical_relaxed"), NAME), rest


def _clf_of(lines: pl.Series, rest: pl.Series) -> tuple[pl.DataFrame, pl.Series]:
    """The CLF reader on the lines the JSON reader left (``idx`` of ``lines``)."""
    clf, left = on_rows(_clf, lines, rest.sort())
    return clf, left.sort()
