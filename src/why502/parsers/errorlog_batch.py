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


def classify_series(lines: pl.Series, year: int = 1970) -> pl.DataFrame:
    """Classify every line of ``lines``; return the recognised ones.

    Columns: ``idx`` (0-based row in ``lines``) and the ``classify --format jsonl`` fields plus
    ``pattern`` (the matching rule id), ordered by ``idx``.  ``year`` fills in BSD syslog stamps.
    """
    if lines.len() == 0:
        return empty_frame()
    text = lines.cast(pl.String).fill_null("").str.strip_chars_end("\r\n")
    base = pl.DataFrame({"line": text}).with_row_index("idx")
    head = base.with_columns(pl.col("line").str.extract_groups(errorlog.NGINX_HEAD).alias("h")).unnest("h")
    is_nginx = pl.col("time").is_not_null()
    nginx = _classify_nginx(head.filter(is_nginx).drop("line"))
    others = _classify_others(head.filter(~is_nginx).select("idx", "line"), year)
    out = pl.concat([nginx, others], how="vertical") if others.height else nginx
    return out.sort("idx")


def _classify_nginx(df: pl.DataFrame) -> pl.DataFrame:
    if df.height == 0:
        return empty_frame()
    df = (
        df.with_columns(pl.col("msg").str.replace_all('\\"', '"', literal=True))
        .with_columns(pl.col("msg").str.extract_groups(errorlog.key_regex()).alias("k"))
        .unnest("k")
        .with_columns(pl.coalesce("k1", "k2").alias("key"))
        .drop("k1", "k2")
        .filter(pl.col("key").is_not_null())
    )
    if df.height == 0:
        return empty_frame()
    detail: pl.Expr = pl.lit(None, dtype=pl.String)
    for key, rx in errorlog.detail_regexes().items():
        detail = pl.when(pl.col("key") == key).then(pl.col("msg").str.extract(rx, 1)).otherwise(detail)
    df = df.with_columns(
        pl.col("msg").str.extract(errorlog.ERRNO, 1).cast(pl.Int64, strict=False).alias("errno"),
        pl.col("msg").str.extract(errorlog.ACTION, 1).alias("action"),
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
    msg = pl.col("msg")
    return df.select(
        pl.col("idx"),
        pl.lit("nginx").alias("source"),
        pl.col("symptom"),
        pl.col("status"),
        pl.col("time").str.replace_all("/", "-", literal=True).str.replace(" ", "T", literal=True),
        pl.col("level"),
        msg.str.extract(errorlog.UPSTREAM, 1).alias("upstream"),
        msg.str.extract(errorlog.CLIENT, 1).alias("client"),
        msg.str.extract(errorlog.SERVER, 1).alias("server"),
        msg.str.extract(errorlog.REQUEST, 1).alias("request"),
        msg.str.extract(errorlog.HOST, 1).alias("host"),
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
