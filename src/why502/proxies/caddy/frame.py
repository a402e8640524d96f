"""Caddy's vectorised reader (``CADDY.frame``): a batch of its JSON access-log lines -> the record
columns, in polars' NDJSON reader with a schema of the fields ``log.parse_caddy`` reads, its
decisions as column expressions (``parsers.lblogs.batch``).

Error-log lines (``http.log.error``), caddy-l4's, Caddy 1's and console-encoded lines, and any
access line the reader would read otherwise than the parser -- a field of another JSON type
than the schema's, a key written twice, another family's key, a shipper's prefix -- go back to
the per-line parser (the ``rest``), so the rows are the parser's
(``tests/stats/test_lb_frames.py`` checks it on every published and recorded line).

The native JSON pass (``_jsonscan.c``, ``_NATIVE``) reads the lines it is sure of first: the
``request`` object's keys as the columns ``request.method``..., and of ``resp_headers`` how many
header names are not Caddy's own; the polars reader's rows get the same columns
(``JsonPass.flat``), so one set of decisions reads both (``tests/stats/test_json_native.py``).
"""

from __future__ import annotations

import polars as pl

from why502.parsers.lblogs.batch import (
    JsonPass,
    empty_records,
    finish,
    json_block,
    json_rows,
    key_is,
    nonempty,
    refuse,
)
from why502.parsers.lblogs.json_answers import AnswerRule, json_answers_text

NAME = "caddy"

_REQUEST = ("method", "uri", "host", "client_ip", "remote_ip", "remote_addr")
SCHEMA: dict[str, pl.DataType] = {
    "ts": pl.Float64(), "duration": pl.Float64(), "size": pl.Int64(), "status": pl.Int64(),
    "logger": pl.String(), "request": pl.Struct({k: pl.String() for k in _REQUEST}),
    "resp_headers": pl.String(),
}
_READ = (*SCHEMA, *_REQUEST)
# Families the per-line reader tries first (``LogFamily.rank``): Cloudflare's and Envoy's keys
_OTHERS = r'"(?:EdgeResponseStatus|RayID|response_flags?|responseFlags|response_code_details|' \
          r'responseCodeDetails|upstream_transport_failure_reason|upstreamTransportFailureReason)"'
_TAKE = (key_is(["logger"], r'"http\.log\.access'), key_is(["status"], r"\d"))
_SKIP = (
    _OTHERS,
    key_is(_READ, r"(?:true|false|NaN|-?Infinity)"),  # to_int(True) is None; polars refuses
    key_is(("size", "status"), r'(?:"|-?\d+[.eE]|-?\d{16})'),  # an int as a string, a float, long
    key_is(("ts", "duration"), r'(?:"|-?\d{20}|[-\d.]+[eE][+-]?\d{3})'),  # a string, a huge number
    key_is(("logger", *_REQUEST), r"[-\d\[{]"),  # no string where the parser reads one
    key_is(("request", "resp_headers"), r'[^{n\s]'),  # not an object (nor null)
)
# the response headers Caddy writes itself: a 5xx with none other (and no body) is its own
_OWN_HEADERS = ("server", "alt-svc", "date")
# the same guards for the native JSON pass (``batch.JsonPass``): the status a number, no other
# family's key; ``resp_headers`` read as the count of its names not in ``_OWN_HEADERS``
_NATIVE = JsonPass(required=("status",), counted=(("resp_headers", _OWN_HEADERS),), forbidden=(
    "EdgeResponseStatus", "RayID", "response_flags", "response_flag", "responseFlags",
    "response_code_details", "responseCodeDetails", "upstream_transport_failure_reason",
    "upstreamTransportFailureReason"))

# Caddy's answers (``json_answers``), as ``_records`` reads a line: below 500 Caddy made no
# failure (its made_by is the backend's or unknown, with no code); the line must be what
# ``_records`` takes as a request (its logger "http.log.access..."; a time fromtimestamp writes
# as ``_time`` does: ``unix_time``).  It names no target.
JSON_ANSWERS = AnswerRule(status=("status",), time=("ts",), prefix=(("logger", "http.log.access"),),
                          unix_time=True)


def _time(ts: pl.Expr) -> pl.Expr:
    """``log._unix``: ``datetime.fromtimestamp(ts, utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")``,
    its microseconds rounded half to even as CPython's ``_PyTime_ObjectToTimeval`` rounds
    ``modf``'s fraction (Modules/_datetimemodule.c, Python/pytime.c)."""
    whole = ts.floor()
    us = ((ts - whole) * 1e6).round(0, mode="half_to_even")
    total = (whole.cast(pl.Int64) * 1_000_000 + us.cast(pl.Int64))
    return pl.from_epoch(total, time_unit="us").dt.strftime("%Y-%m-%dT%H:%M:%S%.6fZ")


def caddy_frame(lines: pl.Series) -> tuple[pl.DataFrame, pl.Series]:
    """(records of the Caddy JSON access lines the native pass or the NDJSON reader takes, in
    ``idx`` order; the ``idx`` of the others, for the per-line parser)."""
    rec, rest = json_rows(lines, SCHEMA, _TAKE, _SKIP, unique=_READ, native=_NATIVE)
    return _records(rec, rest)


def caddy_block(data: bytes) -> tuple[pl.DataFrame, list[int]] | None:
    """``LogFamily.block`` of Caddy: the native pass on raw lines, then the same decisions."""
    native = json_block(data, SCHEMA, _NATIVE)
    if native is None:
        return None
    out, rest = _records(native[0], pl.Series("idx", native[1], dtype=pl.UInt32))
    return out, rest.to_list()


def caddy_answers_block(data: bytes) -> tuple[pl.DataFrame, list[int], pl.DataFrame] | None:
    """``caddy_block`` with the requests that surely answered counted by the pass instead
    (``JSON_ANSWERS``): (records of the other lines read, the ``idx`` of the lines handed back
    or refused, the answers' groups), or None when the pass cannot run."""
    got = json_answers_text(data, SCHEMA, _NATIVE, JSON_ANSWERS)
    if got is None:
        return None
    rows, back, _text, answers = got
    out, rest = _records(rows, pl.Series("idx", back, dtype=pl.UInt32))
    return out, sorted(rest.to_list()), answers


def _records(rec: pl.DataFrame, rest: pl.Series) -> tuple[pl.DataFrame, pl.Series]:
    """``log.parse_caddy``'s decisions on the fields read (``SCHEMA``, flat: ``JsonPass.flat``);
    ``rest`` with the lines they do not decide as it does."""
    # read at the top level (the native pass takes a line without one); a time
    # fromtimestamp/strftime would write otherwise (before 1970, after 9999)
    rec, rest = refuse(rec, rest, ~pl.col("logger").str.starts_with("http.log.access").fill_null(False)
                       | pl.col("status").is_null()
                       | (pl.col("ts") < 0) | (pl.col("ts") >= 253402300800.0))
    if rec.height == 0:
        return empty_records(), rest

    def req(field: str) -> pl.Expr:
        return pl.col(f"request.{field}")

    status = pl.col("status")
    others = pl.col("resp_headers")  # the header names not among _OWN_HEADERS
    headers_own = others.is_null() | (others == 0)
    own = headers_own & ((pl.col("size") == 0) | pl.col("size").is_null())
    made_by = (pl.when(status >= 500).then(pl.when(own).then(pl.lit("lb")).otherwise(pl.lit("backend")))
               .when(status < 400).then(pl.lit("backend")).otherwise(pl.lit("unknown")))
    code = (pl.when((made_by == "lb") & (status == 503)).then(pl.lit("no upstreams available"))
            .when((made_by == "lb") & (status == 504)).then(pl.lit("timeout awaiting response headers"))
            .otherwise(None))
    method, uri = nonempty(req("method")), nonempty(req("uri"))
    host = nonempty(req("host"))
    out = rec.lazy().select(  # lazily: own/made_by computed once
        "idx",
        pl.when(pl.col("ts").is_not_null()).then(_time(pl.col("ts"))).otherwise(None).alias("time"),
        status.alias("status"),
        made_by.alias("made_by"),
        code.alias("code"),
        pl.lit(None, dtype=pl.String).alias("target"),
        host.alias("group"),
        pl.lit(None, dtype=pl.Float64).alias("upstream_ms"),
        (pl.col("duration") * 1000.0).alias("duration_ms"),
        pl.lit(None, dtype=pl.Int64).alias("retries"),
        pl.lit("access").alias("kind"),
        pl.coalesce(nonempty(req("client_ip")), nonempty(req("remote_ip")),
                    nonempty(req("remote_addr"))).alias("client"),
        pl.when(method.is_not_null() & uri.is_not_null()).then(method + pl.lit(" ") + uri)
        .otherwise(None).alias("request"),
        host.alias("host"),
        pl.lit(None, dtype=pl.String).alias("detail"),
        pl.lit(None, dtype=pl.Int64).alias("backend_status"),
    ).collect()
    return finish(out, NAME), rest
