"""The vectorised ALB reader: a batch of lines -> the record columns, in polars (Rust regex).

ALB logs are the big ones (a file per node every five minutes, gigabytes a day), so they get the
same treatment as nginx access logs: one regex over the whole column and the decisions of
``alb.parse_alb`` as column expressions.  A line the regex does not take goes back to the
per-line parser, so the two engines give the same rows (``tests/stats/test_stats_lb.py`` checks it
on every published line).
"""

from __future__ import annotations

import polars as pl

from why502.catalog.terms import load_terms

ALB_RX = (
    r'^(?:http|https|h2|grpcs|ws|wss) (?P<time>\S+) \S+ (?P<client>\S+) (?P<target>\S+) (?P<rq>\S+) '
    r'(?P<tp>\S+) (?P<rs>\S+) (?P<status>\S+) (?P<tstatus>\S+) \d+ \d+ "(?P<request>(?:[^"\\]|\\.)*)" '
    r'"(?:[^"\\]|\\.)*"(?: \S+ \S+ (?P<tg>\S+)(?: "[^"]*" "[^"]*" "[^"]*" \S+ \S+ "[^"]*" "[^"]*" '
    r'"(?P<reason>[^"]*)"(?: "(?P<targets>[^"]*)")?)?)?'
)

# the columns of evidence.lbstats.COLUMNS this reader fills (line and file are added by the caller)
RECORD_COLUMNS: tuple[str, ...] = (
    "time", "status", "made_by", "code", "symptom", "proxy_status", "cause", "target", "group",
    "upstream_ms", "duration_ms", "retries", "failed", "kind", "client", "request", "host", "detail",
    "backend_status",
)


def _dash(e: pl.Expr) -> pl.Expr:
    return pl.when(e == "-").then(None).otherwise(e)


def _terms(family: str) -> pl.DataFrame:
    rows = [(t.code, t.symptom or None, t.proxy_status or None, t.cause or None)
            for t in load_terms() if t.family == family]
    return pl.DataFrame(rows, schema={"code": pl.String, "t_symptom": pl.String,
                                      "t_proxy_status": pl.String, "t_cause": pl.String}, orient="row")


def alb_frame(lines: pl.Series) -> tuple[pl.DataFrame, pl.Series]:
    """(records of the lines the regex takes, in the order of ``idx``; the ``idx`` of the others)."""
    df = pl.DataFrame({"text": lines}).with_row_index("idx").with_columns(
        pl.col("text").str.extract_groups(ALB_RX).alias("m"))
    ok = df.filter(pl.col("m").struct.field("time").is_not_null())
    rest = df.filter(pl.col("m").struct.field("time").is_null())["idx"]
    f = pl.col("m").struct.field
    status = _dash(f("status")).cast(pl.Int64, strict=False)
    tstatus = _dash(f("tstatus")).cast(pl.Int64, strict=False)
    target = _dash(f("target"))
    tproc = f("tp").cast(pl.Float64, strict=False)
    reason = _dash(f("reason"))
    lb = status.is_not_null() & (tstatus.is_null() | (tstatus != status))
    code = (
        pl.when(~lb).then(None)
        .when(reason.is_not_null()).then(reason)
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
    tg = _dash(f("tg"))
    req = _dash(f("request"))
    parts = req.str.extract_groups(r"^(?P<method>\S+) (?:[a-z]+://(?P<host>[^/:\s]*)[^/\s]*)?(?P<path>\S*)")
    request = (pl.when(req.is_null() | req.str.starts_with("- - -")).then(None)
               .otherwise(parts.struct.field("method") + pl.lit(" ")
                          + pl.when(parts.struct.field("path") == "").then(pl.lit("/"))
                          .otherwise(parts.struct.field("path"))))
    targets = _dash(f("targets")).str.strip_chars()
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
        _dash(f("client")).alias("client"),
        request.alias("request"),
        parts.struct.field("host").alias("host"),
        reason.alias("detail"),
        tstatus.alias("backend_status"),
    ).join(_terms("alb"), on="code", how="left").with_columns(
        pl.col("t_symptom").alias("symptom"), pl.col("t_proxy_status").alias("proxy_status"),
        pl.col("t_cause").alias("cause"),
    )
    out = out.with_columns(
        ((pl.col("status") >= 500).fill_null(False)
         | ((pl.col("made_by") == "lb") & pl.col("symptom").is_not_null())).alias("failed"),
    ).sort("idx")
    return out.select("idx", *RECORD_COLUMNS), rest
