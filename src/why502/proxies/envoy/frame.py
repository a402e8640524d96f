"""Envoy's vectorised reader (``ENVOY.frame``): a batch of its access-log lines -> the record
columns, in polars, the decisions of ``log._record`` as column expressions
(``parsers.lblogs.batch``).

Default and Istio text lines go through one regex (``ENVOY_RX``, what ``log.parse_envoy_text``
reads); flat JSON lines (Envoy's ``json_format``, snake_case or camelCase) through polars' NDJSON
reader with every key ``log.parse_envoy_json`` may read, ``log._get``'s "first key with a value"
as a ``coalesce``.  A line either would read otherwise than the per-line parser -- a nested
object, a key written twice, a value of another JSON type than the parser expects, Cloudflare's
keys, a prefixed or key=value line -- goes back to it (the ``rest``), so the rows are the
parser's (``tests/stats/test_lb_frames.py`` checks it on every published and recorded line).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from types import ModuleType

import polars as pl

from why502.parsers.arrowcols import native_pass
from why502.parsers.lblogs.batch import (
    DecisionMemo,
    JsonPass,
    dash,
    empty_records,
    finish,
    json_and_text_block,
    json_block_text,
    json_rows,
    key_is,
    kubectl_unframed_lines,
    match_rx,
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
from why502.proxies.envoy.keys import (
    CLIENT_KEYS,
    CLUSTER_KEYS,
    DETAILS_KEYS,
    DURATION_KEYS,
    FLAG_KEYS,
    HOST_KEYS,
    METHOD_KEYS,
    NUMBER_KEYS,
    PATH_KEYS,
    RESPONSE_DURATION_KEYS,
    STATUS_KEYS,
    STRING_KEYS,
    TFR_KEYS,
    TIME_KEYS,
    UPSTREAM_KEYS,
    UST_KEYS,
)
from why502.proxies.envoy.log import (
    _ENVOY_KEYS,
    _FLAGS_VALUE,
    _KV_FLAG,
    _OWN_DETAILS,
    _REFUSED,
    _UNREACHABLE,
    NAME,
    PRIMARY_FLAGS,
)

# Envoy's default format, optionally with Istio's three fields after the flags and its
# %UPSTREAM_CLUSTER% after the upstream host (parse_envoy_text reads the same).
ENVOY_RX = (
    r'^\[(?P<time>\d{4}-\d\d-\d\dT[^\]]*)\] "(?P<req>[^"]*)" (?P<code>\d{1,3}) '
    r'(?P<flags>[A-Z]+(?:,[A-Z]+)*|-) (?:(?P<details>[^\s"]+) [^\s"]+ "(?P<tfr>[^"]*)" )?'
    r'\d+ \d+ (?P<dur>\d+) (?P<ust>\S+) "[^"]*" "[^"]*" "[^"]*" "(?P<auth>[^"]*)" "(?P<uhost>[^"]*)"'
    r'(?:(?: "[^"]*")* (?P<cluster>[^\s"]+))?'
)


def _records(df: pl.DataFrame, *, time: pl.Expr, status: pl.Expr, flags: pl.Expr, details: pl.Expr,
             tfr: pl.Expr, request: pl.Expr, host: pl.Expr, target: pl.Expr, group: pl.Expr,
             upstream_ms: pl.Expr, duration_ms: pl.Expr, client: pl.Expr,
             local_reply: pl.Expr | None = None) -> pl.DataFrame:
    """``log._record`` on each row of ``df``: ``flags``/``details``/``tfr`` are "" when absent;
    ``local_reply`` is ``log._no_upstream_byte`` (JSON only: a 5xx the backend never answered).

    The decisions (who made the status, the flag, the symptom, Proxy-Status, retries, detail)
    read the status, flags, details, transport failure reason and local reply only, whose
    combinations are few: they are made once per combination (``_decided``) and joined back --
    over every row, ~25 regexes a row were most of the reader's time (BENCHMARKS.md stop 56)."""
    keyed = df.select(
        "idx", time.alias("time"), status.alias("status"), flags.alias("_flags"), details.alias("_details"),
        tfr.alias("_tfr"), (local_reply if local_reply is not None else pl.lit(False)).alias("_local"),
        target.alias("target"), group.alias("group"), upstream_ms.alias("upstream_ms"),
        duration_ms.alias("duration_ms"), client.alias("client"), request.alias("request"),
        host.alias("host"))
    keys = _DECISION_KEYS
    decided = _DECISIONS(keyed.select(keys).unique())
    both = keyed.join(decided, on=keys, how="left", nulls_equal=True, maintain_order="left")
    return both.select(
        "idx", "time", "status", "made_by", "code", "r_symptom", "r_proxy_status", "target", "group",
        "upstream_ms", "duration_ms", "retries", pl.lit("access").alias("kind"), "client", "request", "host",
        "detail", pl.lit(None, dtype=pl.Int64).alias("backend_status"))


_DECISION_KEYS = ["status", "_flags", "_details", "_tfr", "_local"]


def _decided(combos: pl.DataFrame) -> pl.DataFrame:
    """``_records``' decisions on each of ``combos`` (its key columns ``status``, ``_flags``,
    ``_details``, ``_tfr``, ``_local``): those columns with ``made_by``, ``code``,
    ``r_symptom``, ``r_proxy_status``, ``retries`` and ``detail``."""
    status, flags, details, tfr = pl.col("status"), pl.col("_flags"), pl.col("_details"), pl.col("_tfr")
    local_reply = pl.col("_local")
    primary: pl.Expr = pl.lit(None, dtype=pl.String)
    for flag in reversed(PRIMARY_FLAGS):
        primary = pl.when(flags.str.contains(rf"(?:^|,){flag}(?:,|$)")).then(pl.lit(flag)).otherwise(primary)
    via = details.str.contains("via_upstream", literal=True)
    lb = primary.is_not_null() & ~((primary == "URX") & via)
    own = pl.any_horizontal([details.str.starts_with(d) for d in _OWN_DETAILS])
    made_by = (pl.when(lb).then(pl.lit("lb")).when(via).then(pl.lit("backend"))
               .when(own).then(pl.lit("lb"))
               .when(status.is_null() | (status == 0)).then(pl.lit("unknown")).otherwise(pl.lit("backend")))
    made_by = (pl.when((made_by == "backend") & (status >= 500).fill_null(False) & local_reply)
               .then(pl.lit("lb")).otherwise(made_by))
    low = (details + pl.lit(" ") + tfr).str.to_lowercase()
    uf_tls = (primary == "UF") & low.str.contains("tls_error|certificate")
    uf_timeout = (primary == "UF") & low.str.contains("timeout|_110|timed_out")
    uf_refused = (primary == "UF") & low.str.contains(_REFUSED)
    uf_unreach = (primary == "UF") & low.str.contains(_UNREACHABLE)
    closed = primary.is_in(["UC", "UR"]) & low.str.contains("connection_termination", literal=True)
    too_big = (primary == "UPE") & low.str.contains("too_large|too_many_headers|headers_too")
    # a 5xx with NR/NC: the route's cluster does not exist (log._refine says why)
    no_cluster = primary.is_in(["NR", "NC"]) & (status >= 500).fill_null(False)
    sym = (
        pl.when(uf_tls).then(pl.lit("tls-failure"))
        .when(uf_timeout).then(pl.lit("connect-timeout"))
        .when(uf_refused & ~uf_timeout).then(pl.lit("connection-refused"))
        .when(uf_unreach & ~uf_timeout).then(pl.lit("unreachable"))
        .when(closed).then(pl.lit("premature-close"))
        .when(too_big).then(pl.lit("header-too-big"))
        .when(no_cluster).then(pl.lit("upstream-not-configured"))
        .otherwise(None)
    )
    pst = (
        pl.when(uf_tls).then(pl.lit("tls_protocol_error"))
        .when(uf_timeout).then(pl.lit("connection_timeout"))
        .when(uf_refused).then(pl.lit("connection_refused"))
        .when(uf_unreach).then(pl.lit("destination_ip_unroutable"))
        .when((primary == "UAEX") & (status >= 500)).then(pl.lit("proxy_internal_error"))
        .when(closed).then(pl.lit("connection_terminated"))
        .when(too_big).then(pl.lit("http_protocol_error"))
        .when(no_cluster).then(pl.lit("destination_not_found"))
        .otherwise(None)
    )
    # " ".join of the non-empty, non-"-" parts (log._record's detail)
    parts = [pl.when(e.is_in(["", "-"])).then(None).otherwise(e) for e in (flags, details, tfr)]
    detail_parts = pl.concat_str(parts, separator=" ", ignore_nulls=True)
    # lazily: the common subexpressions (primary, low, made_by) are computed once
    return combos.lazy().with_columns(
        made_by.alias("made_by"),
        pl.when(lb).then(primary).otherwise(None).alias("code"),
        sym.alias("r_symptom"),
        pst.alias("r_proxy_status"),
        pl.when(flags.str.contains(r"(?:^|,)URX(?:,|$)")).then(pl.lit(1)).otherwise(None)
        .cast(pl.Int64).alias("retries"),
        pl.when(detail_parts == "").then(None).otherwise(detail_parts).alias("detail"),
    ).collect()


#: ``_decided`` once per combination across batches
_DECISIONS = DecisionMemo(_DECISION_KEYS, _decided)


# ENVOY_RX's captures, in its order (the text pass's columns: ``_envoyscan.text_columns``)
_CAPTURES = tuple(re.compile(ENVOY_RX).groupindex)


def _text(lines: pl.Series) -> tuple[pl.DataFrame, pl.Series]:
    ok, rest = match_rx(lines, ENVOY_RX)
    return text_records(ok), rest


def _text_unframed(lines: pl.Series) -> tuple[pl.DataFrame, pl.Series]:
    """``_text`` of ``lines`` without kubectl's framing: the lines it refused as written, read
    again as ``family.parse_line`` and the native pass (``_envoyscan.c`` ``rx_framed``) read
    them (a line without any framing is refused again)."""
    return _text(kubectl_unframed_lines(lines))


def text_records(ok: pl.DataFrame) -> pl.DataFrame:
    """The records of ``ENVOY_RX``'s captures (the struct column ``m``, with ``idx``): the text
    reader's one reading of them, also the decision of each group of ``stats``' native fold of
    the text lines (``textfold.py``: the groups' captures in ``m``), so both decide alike."""
    f = pl.col("m").struct.field
    blank = pl.lit("")
    req = f("req").str.extract_groups(r"^(?P<method>\S+) (?P<path>\S+)")
    method = req.struct.field("method")
    out = _records(
        ok, time=f("time"), status=f("code").cast(pl.Int64, strict=False),
        flags=pl.when(f("flags") == "-").then(blank).otherwise(f("flags")),
        details=pl.when(f("details").is_null() | (f("details") == "-")).then(blank).otherwise(f("details")),
        tfr=pl.when(f("tfr").is_null() | (f("tfr") == "-")).then(blank).otherwise(f("tfr")),
        request=(pl.when(method.is_null() | (method == "-")).then(None)
                 .otherwise(method + pl.lit(" ") + req.struct.field("path"))),
        host=dash(f("auth")), target=dash(f("uhost")), group=dash(f("cluster")),
        upstream_ms=f("ust").cast(pl.Float64, strict=False),
        duration_ms=f("dur").cast(pl.Float64, strict=False),
        client=pl.lit(None, dtype=pl.String),
    )
    return out


# log.parse_envoy_json's keys (keys.py), in _get's order (the nested "upstream.*" ones are not
# read here: a line with a nested object goes to the per-line parser)
_READ = (*NUMBER_KEYS, *STRING_KEYS, *RESPONSE_DURATION_KEYS)
# every field as text: a number's text is what to_int/to_float read (checked below); a string
# field holding a number, a boolean, NaN or a huge exponent is left to the parser
SCHEMA: dict[str, pl.DataType] = {k: pl.String() for k in _READ}
_TAKE = (key_is(_ENVOY_KEYS, ""),)
_SKIP = (
    r":\s*[{\[]", r'"(?:EdgeResponseStatus|RayID)"',  # a nested value; Cloudflare's line (rank 20)
    key_is((*STRING_KEYS, *RESPONSE_DURATION_KEYS), r"[-\d]"),
    key_is(_READ, r"(?:true|false|NaN|-?Infinity)"),
    key_is(NUMBER_KEYS, r'"?[-\d.]+[eE]'),
)
_INT = r"^-?[0-9]{1,18}$"
_FLOAT = r"^-?[0-9]{1,15}(?:\.[0-9]+)?$"


def _get(keys: tuple[str, ...]) -> pl.Expr:
    """``log._get``: the first of ``keys`` whose value is not null, "" or "-"."""
    return pl.coalesce([dash(pl.when(pl.col(k) == "").then(None).otherwise(pl.col(k))) for k in keys])


# the same guards for the native JSON pass (``batch.JsonPass``): one of Envoy's keys, no
# Cloudflare key, no nested value; the numbers read as their text
_NATIVE = JsonPass(any_of=_ENVOY_KEYS, forbidden=("EdgeResponseStatus", "RayID"), nested_ok=False,
                   text_numbers=NUMBER_KEYS)

# Envoy's JSON answers (``json_answers``), as ``_json_records`` and ``_decided`` read a line:
# with no response flag (each flags key null, "" or "-") it has no primary flag, so no code and
# no symptom (each of ``_decided``'s needs a primary flag; the vocabulary's is joined on the
# code): below 500 it did not fail, whoever made its status.  Its durations must be texts those
# decisions take (another goes to the per-line parser), its status, time and upstream host the
# first key of each that holds a value (``_get``; "-" sends the line out as columns).
JSON_ANSWERS = AnswerRule(status=STATUS_KEYS, time=TIME_KEYS, target=UPSTREAM_KEYS, clean=FLAG_KEYS,
                          numbers=(*DURATION_KEYS, *UST_KEYS))


# (the ``idx`` of some lines, a key) -> whether each of those lines has the key at its top level
Present = Callable[[pl.Series, str], pl.Series]


def _json(lines: pl.Series) -> tuple[pl.DataFrame, pl.Series]:
    rec, rest = json_rows(lines, SCHEMA, _TAKE, _SKIP, unique=_READ, native=_NATIVE)
    return _json_records(rec, rest, lambda idx, key: lines.gather(idx).str.contains(key_is((key,), "")))


# each response-duration key's bit in the native pass's ``_seen`` (its index in the pass's spec:
# the schema's order, no nested key in it)
_SPEC_NAMES = [name.decode() for name, *_rest in (_NATIVE.keys(SCHEMA) or ())]
assert not any("." in name for name in _SPEC_NAMES)
_SEEN_BIT = {key: _SPEC_NAMES.index(key) for key in RESPONSE_DURATION_KEYS}


def envoy_block(data: bytes) -> tuple[pl.DataFrame, list[int]] | None:
    """``LogFamily.block`` of Envoy: its text lines through the native text pass
    (``_envoyscan.text_columns``: ENVOY_RX's captures, then ``text_records``), its JSON lines
    through the native JSON pass (then ``_json``'s decisions), each pass on the lines the other
    handed back, the one the block starts with first (``batch.json_and_text_block``); every line
    neither takes is handed back, to ``envoy_frame``.  ``diagnose`` and ``classify`` read the log
    without decoding and splitting its lines, nor joining them again for the JSON pass, nor a
    regex over every text line (BENCHMARKS.md, stop 56).  None when neither pass can run."""
    return json_and_text_block(data, NAME, _on_json, _on_text, _decide)


def envoy_answers_block(data: bytes) -> tuple[pl.DataFrame, list[int], pl.DataFrame] | None:
    """``envoy_block`` with the lines that surely answered counted by the pass that reads the
    block first instead ("the answers"): the JSON pass by ``JSON_ANSWERS`` when the block starts
    with a JSON line (``json_answers``), else the text pass (``_envoyscan.text_answers``): (the
    records of the other lines read, the ``idx`` of the lines handed back, the answered requests'
    groups as ``app.diagnose.lb._answer_groups`` makes them), or None when that pass cannot run
    (the pass after it reads only what is left: its groups would number that rest's lines)."""
    return mixed_answers(data, NAME, _on_json_answers, _on_json, getattr(_text_pass(), "text_answers", None),
                         _on_text, _decide)


def _on_json(chunk: bytes) -> tuple[pl.DataFrame, list[int], bytes] | None:
    """The JSON pass of ``envoy_block``: its rows with which of the spec's keys each line has."""
    return json_block_text(chunk, SCHEMA, _NATIVE, seen=True)


def _on_text(chunk: bytes) -> tuple[pl.DataFrame, list[int], bytes] | None:
    """The text pass of ``envoy_block`` (None when it was not built or is turned off)."""
    text = _text_pass()
    return None if text is None else pass_columns(text.text_columns(chunk))


def _on_json_answers(chunk: bytes) -> AnsweredPass | None:
    """``_on_json`` with the answers counted (``JSON_ANSWERS``)."""
    return json_answers_text(chunk, SCHEMA, _NATIVE, JSON_ANSWERS, seen=True)


def _decide(name: str, rows: pl.DataFrame) -> tuple[pl.DataFrame, list[int]]:
    """Each pass's rows of ``envoy_block`` decided (``batch.Decide``)."""
    return (_text_rows(rows), []) if name == "text" else _json_rows(rows)


def _text_pass() -> ModuleType | None:
    """The native text pass (``_envoyscan``), when it was built and is not turned off."""
    return native_pass("why502.proxies.envoy._envoyscan", "text_columns")


def _text_rows(captures: pl.DataFrame) -> pl.DataFrame:
    """``text_records`` of the text pass's captures (``idx`` and one column per capture)."""
    return text_records(captures.select("idx", pl.struct(_CAPTURES).alias("m")))


def _json_rows(fields: pl.DataFrame) -> tuple[pl.DataFrame, list[int]]:
    """``_json_records`` of the JSON pass's fields (with ``_seen``: which of the spec's keys each
    line has): (the records, the ``idx`` of the lines its decisions refuse -- a number's text the
    parser reads otherwise -- for the decoded reader).  A response-duration key's presence is
    its bit of ``_seen``: a scan of the block for each name cost ~8 % of ``diagnose``."""
    seen = fields["_seen"]
    fields = fields.drop("_seen")

    def present(idx: pl.Series, key: str) -> pl.Series:
        return (seen // (1 << _SEEN_BIT[key])) % 2 == 1

    out, refused = _json_records(fields, pl.Series("idx", [], dtype=pl.UInt32), present)
    return out, refused.to_list()


def _json_records(rec: pl.DataFrame, rest: pl.Series, present: Present) -> tuple[pl.DataFrame, pl.Series]:
    """``log.parse_envoy_json``'s decisions on the fields read (``SCHEMA``) of the rows ``rec``;
    ``rest`` with the lines they do not decide as it does.  ``present`` says which lines have
    a response-duration key (its null value and its absence read differently)."""
    if rec.height == 0:
        return rec, rest
    # each field once, as _get reads it (the expressions below use them many times)
    rec = rec.select("idx", *(_get(keys).alias(name) for name, keys in _FIELDS.items()),
                     *(pl.col(k) for k in RESPONSE_DURATION_KEYS),
                     *(present(rec["idx"], k).alias(f"present_{k}") for k in RESPONSE_DURATION_KEYS))
    status, dur, ust, flags = pl.col("_status"), pl.col("_dur"), pl.col("_ust"), pl.col("_flags")
    # to_int / to_float read these texts as the cast does (else: the per-line parser); flags as
    # Envoy writes them (split(",") and the filter of empty ones would change others); the
    # presence of a response-duration key says whether its null is the line's
    rec, rest = refuse(rec, rest, (status.is_not_null() & ~status.str.contains(_INT))
                       | (dur.is_not_null() & ~dur.str.contains(_FLOAT))
                       | (ust.is_not_null() & ~ust.str.contains(_FLOAT))
                       | (flags.is_not_null() & ~flags.str.contains(r"^[A-Z]+(?:,[A-Z]+)*$")))
    if rec.height == 0:
        return rec, rest
    blank = pl.lit("")
    method, path = pl.col("_method"), pl.col("_path")
    rec = rec.with_columns(status.cast(pl.Int64), flags.fill_null(blank), pl.col("_details").fill_null(blank),
                           pl.col("_tfr").fill_null(blank))
    out = _records(
        rec, time=pl.col("_time"), status=status, flags=flags, details=pl.col("_details"), tfr=pl.col("_tfr"),
        request=pl.when(method.is_not_null() & path.is_not_null()).then(method + pl.lit(" ") + path)
        .otherwise(None),
        host=pl.col("_host"), target=pl.col("_upstream"), group=pl.col("_cluster"),
        upstream_ms=ust.cast(pl.Float64), duration_ms=dur.cast(pl.Float64), client=pl.col("_client"),
        local_reply=_local_reply(),
    )
    return out, rest


_FIELDS = {"_status": STATUS_KEYS, "_dur": DURATION_KEYS, "_ust": UST_KEYS, "_flags": FLAG_KEYS,
           "_method": METHOD_KEYS, "_path": PATH_KEYS, "_details": DETAILS_KEYS, "_tfr": TFR_KEYS,
           "_time": TIME_KEYS, "_host": HOST_KEYS, "_upstream": UPSTREAM_KEYS, "_cluster": CLUSTER_KEYS,
           "_client": CLIENT_KEYS}


def _local_reply() -> pl.Expr:
    """``log._no_upstream_byte``: the first of its keys the line has decides (null, "" or "-": no
    upstream byte); ``present_<key>`` says whether the line has the key."""
    out: pl.Expr = pl.lit(False)
    for k in reversed(RESPONSE_DURATION_KEYS):
        empty = pl.col(k).is_null() | pl.col(k).is_in(["", "-"])
        out = pl.when(pl.col(f"present_{k}")).then(empty).otherwise(out)
    return out


# log.kv_fields' pairs, whole (a key, "=", a value up to a space or double-quoted); a line with
# log._KV_FLAG's flags key is tried
_KV_PAIR = r'(?:^|\s)[A-Za-z_][\w.\-]*=(?:"(?:[^"\\]|\\.)*"|\S*)'
_KV_FLAGS = _KV_FLAG.pattern


#: lines of a key=value log read at a time: each line's pairs become rows of their own (~6 a
#: line) before the pivot, and a whole 16 MiB block of them at once held diagnose's 1M-line run
#: at 352 MB (BENCHMARKS.md stop 62)
KV_ROWS = 16384


def _kv(lines: pl.Series) -> tuple[pl.DataFrame, pl.Series]:
    """``log.parse_envoy_kv`` on a batch: each line's pairs (the first of a key written twice,
    quotes removed) as the JSON reader's text fields, then ``_json_records``' decisions.  A
    line whose first flags key holds no flags nor "-" is not Envoy's (the per-line parser says
    so).  1M lines of a key=value format took 39 s line by line.  Read ``KV_ROWS`` lines at a
    time (the records and the lines handed back numbered in ``lines``)."""
    if lines.len() <= KV_ROWS:
        return _kv_rows(lines)
    recs, rests = [], []
    for start in range(0, lines.len(), KV_ROWS):
        rec, rest = _kv_rows(lines.slice(start, KV_ROWS))
        recs.append(rec.with_columns(pl.col("idx") + start))
        rests.append(rest + start)
    taken = [rec for rec in recs if rec.height]  # (a part with none is not in the records' shape)
    return pl.concat(taken, how="vertical_relaxed") if taken else recs[0], pl.concat(rests)


def _kv_rows(lines: pl.Series) -> tuple[pl.DataFrame, pl.Series]:
    """``_kv`` of at most ``KV_ROWS`` lines."""
    df = pl.DataFrame({"text": lines}).with_row_index("idx")
    pairs = (df.select("idx", pl.col("text").str.extract_all(_KV_PAIR).alias("pair")).explode("pair")
             .filter(pl.col("pair").is_not_null())
             .select("idx", pl.col("pair").str.replace(r"^\s", "").str.splitn("=", 2).alias("kv"))
             .select("idx", pl.col("kv").struct.field("field_0").alias("key"),
                     pl.col("kv").struct.field("field_1").alias("value"))
             .filter(pl.col("key").is_in([*_READ, "status_details"]))
             .unique(["idx", "key"], keep="first", maintain_order=True)
             .with_columns(pl.when(pl.col("value").str.starts_with('"') & pl.col("value").str.ends_with('"')
                                   & (pl.col("value").str.len_bytes() >= 2))
                           .then(pl.col("value").str.slice(1, pl.col("value").str.len_chars() - 2))
                           .otherwise(pl.col("value")).alias("value")))
    wide = pairs.pivot(on="key", index="idx", values="value", aggregate_function="first")
    wide = df.select("idx").join(wide, on="idx", how="left")
    wide = wide.with_columns(pl.lit(None, dtype=pl.String).alias(k)
                             for k in (*_READ, "status_details") if k not in wide.columns)
    wide = wide.with_columns(pl.coalesce("response_code_details", "status_details")
                             .alias("response_code_details")).drop("status_details")
    first_flags = pl.coalesce(*FLAG_KEYS)  # the first flags key the line has, "" included
    envoy = first_flags.is_not_null() & first_flags.str.contains(f"^(?:{_FLAGS_VALUE.pattern})$")
    taken = wide.filter(envoy)
    left = wide.filter(~envoy)["idx"]
    rec, refused = _json_records(taken.select("idx", *_READ), pl.Series("idx", [], dtype=pl.UInt32),
                                 lambda idx, key: taken[key].is_not_null())
    # a line not Envoy's here is not Envoy's line by line either: it is handed back all the same
    return rec, pl.concat([left, refused]).sort()


def envoy_frame(lines: pl.Series) -> tuple[pl.DataFrame, pl.Series]:
    """(records of the Envoy text, JSON and key=value lines the fast readers take, in ``idx``
    order; the ``idx`` of the others, for the per-line parser)."""
    # ENVOY_RX starts at "[" and the JSON reader takes only lines starting with "{": each
    # reader gets its own lines (the text regex over a JSON log was ~5 us a line for nothing);
    # the others (a key=value format's) go to the key=value reader when they have a flags key
    braced = lines.str.starts_with("{")
    bracketed = lines.str.starts_with("[")
    text, rest = on_rows(_text, lines, bracketed.arg_true())
    rest = pl.concat([rest, (~braced & ~bracketed).arg_true().cast(pl.UInt32)]).sort()
    # a line behind kubectl logs' framing (a digit or "[pod/" first) is read again without it
    # before the key=value reader, as the per-line parser tries each reader both ways in turn
    framable = lines.gather(rest).str.contains(r"^(?:\d|\[pod/)")
    if framable.any():
        unframed, left = on_rows(_text_unframed, lines, rest.filter(framable))
        if unframed.height:
            text = unframed if not text.height else pl.concat([text, unframed], how="vertical_relaxed")
        rest = pl.concat([rest.filter(~framable), left]).sort()
    has_flags = lines.gather(rest).str.contains(_KV_FLAGS)
    kv, kv_left = on_rows(_kv, lines, rest.filter(has_flags))
    rest = pl.concat([rest.filter(~has_flags), kv_left])
    js, left = on_rows(_json, lines, braced.arg_true())
    rest = pl.concat([rest, left]).sort()
    parts = [p for p in (text, kv, js) if p.height]
    if not parts:
        return empty_records(), rest
    return finish(pl.concat(parts, how="vertical_relaxed"), NAME), rest

