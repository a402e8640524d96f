"""Vectorised classifier (polars): the same rules as ``why502.parsers.errorlog``, for throughput.

Plain nginx error-log lines (the bulk of any real input) are cut into parts with the Rust regex
engine, column-wise: one anchored ``extract_groups`` for the head (time, level, message), one for
the key phrase, then cheap ``extract`` calls for errno, action and the request fields, only on
the rows that carry a known key.  The rule itself is chosen by ``errorlog.resolve`` for each
distinct (key, errno, action, level, detail) combination in the batch -- a handful per batch --
and joined back, so both engines share one decision function and give identical records.

Lines that are not plain nginx lines (wrapped, other programs, cut at the start) are rare in
nginx logs; those passing a cheap literal prefilter (every pattern's needles, Aho-Corasick
``contains_any``) go through the per-line engine.
"""

from __future__ import annotations

from collections.abc import Iterable
from functools import lru_cache

import polars as pl

from why502.catalog.patterns import load_patterns
from why502.parsers import errorlog

OUTPUT_SCHEMA: dict[str, pl.DataType] = {
    "idx": pl.UInt32(),
    "source": pl.String(),
    "symptom": pl.String(),
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
}


@lru_cache(maxsize=1)
def prefilter_needles() -> list[str]:
    """Every literal some pattern needs (lower-case), for ``contains_any``."""
    needles: set[str] = set()
    for p in load_patterns():
        needles.update(p.needles)
    return sorted(needles)


def empty_frame() -> pl.DataFrame:
    """A frame with the output schema and no rows."""
    return pl.DataFrame(schema=OUTPUT_SCHEMA)


def classify_series(
    lines: pl.Series, year: int = 1970, fields: Iterable[str] = errorlog.FIELD_NAMES,
) -> pl.DataFrame:
    """Classify every line of ``lines``; return the recognised ones.

    Columns: ``idx`` (0-based row in ``lines``) and the ``classify --format jsonl`` fields plus
    ``pattern`` (the matching rule id), ordered by ``idx``.  ``year`` fills in BSD syslog stamps.
    ``fields`` names the request fields (upstream, client, server, request, host) to extract from
    nginx lines; the others stay null -- the summary needs only ``upstream``, and skipping the rest
    saves a third of the work.
    """
    if lines.len() == 0:
        return empty_frame()
    text = lines.cast(pl.String).fill_null("").str.strip_chars_end("\r\n")
    base = pl.DataFrame({"line": text}).with_row_index("idx").with_columns(
        pl.col("line").str.contains(errorlog.NGINX_HEAD_PREFIX).alias("is_nginx")
    )
    nginx = _classify_nginx(base.filter(pl.col("is_nginx")).select("idx", "line"), tuple(fields))
    others = _classify_others(base.filter(~pl.col("is_nginx")).select("idx", "line"), year)
    out = pl.concat([nginx, others], how="vertical") if others.height else nginx
    return out.sort("idx")


def _classify_nginx(df: pl.DataFrame, fields: tuple[str, ...]) -> pl.DataFrame:
    """``df``: ``idx``, ``line`` of rows that start with an nginx head.  Work shrinks as it goes:
    the key is looked for on every row, the rest only on rows that carry a known key."""
    if df.height == 0:
        return empty_frame()
    line, msg = pl.col("line"), pl.col("msg")
    unescaped = pl.when(msg.str.contains('\\"', literal=True)).then(
        msg.str.replace_all('\\"', '"', literal=True)).otherwise(msg)
    df = (
        df.select("idx", "line", line.str.replace(errorlog.NGINX_HEAD_PREFIX, "").alias("msg"))
        .with_columns(unescaped)
        .with_columns(msg.str.extract_groups(errorlog.key_regex()).alias("k"))
        .unnest("k")
        .with_columns(pl.coalesce("k1", "k2").alias("key"))
        .drop("k1", "k2")
        .filter(pl.col("key").is_not_null())
    )
    if df.height == 0:
        return empty_frame()
    detail: pl.Expr = pl.lit(None, dtype=pl.String)
    for key, rx in errorlog.detail_regexes().items():
        detail = pl.when(pl.col("key") == key).then(msg.str.extract(rx, 1)).otherwise(detail)
    df = df.select(
        "idx", "msg", "key",
        line.str.slice(0, 19).alias("time"),
        line.str.extract(errorlog.NGINX_LEVEL, 1).alias("level"),
        msg.str.extract(errorlog.ERRNO, 1).cast(pl.Int64, strict=False).alias("errno"),
        msg.str.extract(errorlog.ACTION, 1).alias("action"),
        detail.alias("detail"),
    )
    combos = df.select("key", "errno", "action", "level", "detail").unique()
    rows = []
    for key, errno, action, level, det in combos.iter_rows():
        p = errorlog.resolve("nginx", key, errno, action, level, det)
        if p is not None:
            rows.append((key, errno, action, level, det, p.id, p.symptom, p.status))
    if not rows:
        return empty_frame()
    rules = pl.DataFrame(
        rows,
        schema={"key": pl.String, "errno": pl.Int64, "action": pl.String, "level": pl.String,
                "detail": pl.String, "pattern": pl.String, "symptom": pl.String, "status": pl.Int64},
        orient="row",
    )
    df = df.join(rules, on=["key", "errno", "action", "level", "detail"], how="inner", nulls_equal=True)
    if set(fields) - {"upstream"}:  # client, server, request, host: one regex, one pass
        df = df.with_columns(msg.str.extract_groups(errorlog.FIELDS).alias("f")).unnest("f")
    if "upstream" in fields:
        df = df.with_columns(msg.str.extract(errorlog.UPSTREAM_ONLY, 1).alias("upstream"))
    skipped = [n for n in errorlog.FIELD_NAMES if n not in fields]
    df = df.drop([n for n in skipped if n in df.columns]).with_columns(
        pl.lit(None, dtype=pl.String).alias(n) for n in skipped)
    return df.select(
        pl.col("idx"),
        pl.lit("nginx").alias("source"),
        pl.col("symptom"),
        pl.col("status"),
        pl.col("time").str.replace_all("/", "-", literal=True).str.replace(" ", "T", literal=True),
        pl.col("level"),
        *(pl.col(name) for name in errorlog.FIELD_NAMES),
        msg.alias("message"),
        pl.col("pattern"),
    )


def _classify_others(df: pl.DataFrame, year: int) -> pl.DataFrame:
    if df.height == 0:
        return empty_frame()
    cand = df.filter(pl.col("line").str.contains_any(prefilter_needles(), ascii_case_insensitive=True))
    records = []
    for idx, line in cand.iter_rows():
        c = errorlog.classify_line(line, year=year)
        if c is not None:
            records.append({"idx": idx, **c.to_dict(), "pattern": c.pattern})
    if not records:
        return empty_frame()
    return pl.DataFrame(records, schema=OUTPUT_SCHEMA)
