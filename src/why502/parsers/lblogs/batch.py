"""The vectorised ALB and Envoy/Istio readers: a batch of lines -> the record columns, in polars
(Rust regex).

ALB logs (a file per node every five minutes, gigabytes a day) and mesh access logs are the big
ones, so they get the same treatment as nginx access logs: one regex over the whole column and the
decisions of ``alb.parse_alb`` / ``envoy.parse_envoy_text`` as column expressions.  A line the
regex does not take (an Envoy JSON line, a prefixed or older Istio line) goes back to the per-line
parser, so the two engines give the same rows (``tests/stats/test_stats_lb.py`` checks it on every
published and recorded line).
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


def _match(lines: pl.Series, rx: str) -> tuple[pl.DataFrame, pl.Series]:
    """(the lines ``rx`` takes, with its groups in the struct column ``m``; the ``idx`` of the others)."""
    df = pl.DataFrame({"text": lines}).with_row_index("idx").with_columns(
        pl.col("text").str.extract_groups(rx).alias("m"))
    taken = pl.col("m").struct.field("time").is_not_null()
    return df.filter(taken), df.filter(~taken)["idx"]


def _finish(out: pl.DataFrame, family: str) -> pl.DataFrame:
    """The vocabulary's symptom / Proxy-Status / cause for each code (a parser's own, more precise
    ``r_symptom`` / ``r_proxy_status`` first, as ``model.resolved`` does), then ``failed``."""
    for col in ("r_symptom", "r_proxy_status"):
        if col not in out.columns:
            out = out.with_columns(pl.lit(None, dtype=pl.String).alias(col))
    out = out.join(_terms(family), on="code", how="left").with_columns(
        pl.coalesce("r_symptom", "t_symptom").alias("symptom"),
        pl.coalesce("r_proxy_status", "t_proxy_status").alias("proxy_status"),
        pl.col("t_cause").alias("cause"),
    ).with_columns(
        ((pl.col("status") >= 500).fill_null(False)
         | ((pl.col("made_by") == "lb") & pl.col("symptom").is_not_null())).alias("failed"),
    ).sort("idx")
    return out.select("idx", *RECORD_COLUMNS)


def alb_frame(lines: pl.Series) -> tuple[pl.DataFrame, pl.Series]:
    """(records of the lines the regex takes, in the order of ``idx``; the ``idx`` of the others)."""
    ok, rest = _match(lines, ALB_RX)
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
    )
    return _finish(out, "alb"), rest


# Envoy's default format, optionally with Istio's three fields after the flags and its
# %UPSTREAM_CLUSTER% after the upstream host (envoy.parse_envoy_text reads the same).
ENVOY_RX = (
    r'^\[(?P<time>\d{4}-\d\d-\d\dT[^\]]*)\] "(?P<req>[^"]*)" (?P<code>\d{1,3}) '
    r'(?P<flags>[A-Z]+(?:,[A-Z]+)*|-) (?:(?P<details>[^\s"]+) [^\s"]+ "(?P<tfr>[^"]*)" )?'
    r'\d+ \d+ (?P<dur>\d+) (?P<ust>\S+) "[^"]*" "[^"]*" "[^"]*" "(?P<auth>[^"]*)" "(?P<uhost>[^"]*)"'
    r'(?:(?: "[^"]*")* (?P<cluster>[^\s"]+))?'
)


def envoy_frame(lines: pl.Series) -> tuple[pl.DataFrame, pl.Series]:
    """(records of the Envoy/Istio text lines the regex takes; the ``idx`` of the others)."""
    from why502.parsers.lblogs.envoy import PRIMARY_FLAGS

    ok, rest = _match(lines, ENVOY_RX)
    f = pl.col("m").struct.field
    flags = pl.when(f("flags") == "-").then(pl.lit("")).otherwise(f("flags"))
    details = pl.when(f("details").is_null() | (f("details") == "-")).then(pl.lit("")).otherwise(f("details"))
    tfr = pl.when(f("tfr").is_null() | (f("tfr") == "-")).then(pl.lit("")).otherwise(f("tfr"))
    status = f("code").cast(pl.Int64, strict=False)
    primary: pl.Expr = pl.lit(None, dtype=pl.String)
    for flag in reversed(PRIMARY_FLAGS):
        primary = pl.when(flags.str.contains(rf"(?:^|,){flag}(?:,|$)")).then(pl.lit(flag)).otherwise(primary)
    via = details.str.contains("via_upstream", literal=True)
    lb = primary.is_not_null() & ~((primary == "URX") & via)
    made_by = (pl.when(lb).then(pl.lit("lb")).when(via).then(pl.lit("backend"))
               .when(status.is_null() | (status == 0)).then(pl.lit("unknown")).otherwise(pl.lit("backend")))
    low = (details + pl.lit(" ") + tfr).str.to_lowercase()
    uf_tls = (primary == "UF") & low.str.contains("tls_error|certificate")
    uf_timeout = (primary == "UF") & low.str.contains("timeout|_110|timed_out")
    sym = (
        pl.when(uf_tls).then(pl.lit("tls-failure"))
        .when(uf_timeout).then(pl.lit("connect-timeout"))
        .when(primary.is_in(["UC", "UR"]) & low.str.contains("connection_termination", literal=True))
        .then(pl.lit("premature-close"))
        .when((primary == "UPE") & low.str.contains("too_large|too_many_headers|headers_too"))
        .then(pl.lit("header-too-big"))
        .otherwise(None)
    )
    pst = (
        pl.when(uf_tls).then(pl.lit("tls_protocol_error"))
        .when(uf_timeout).then(pl.lit("connection_timeout"))
        .when((primary == "UAEX") & (status >= 500)).then(pl.lit("proxy_internal_error"))
        .when(primary.is_in(["UC", "UR"]) & low.str.contains("connection_termination", literal=True))
        .then(pl.lit("connection_terminated"))
        .when((primary == "UPE") & low.str.contains("too_large|too_many_headers|headers_too"))
        .then(pl.lit("http_protocol_error"))
        .otherwise(None)
    )
    req = f("req").str.extract_groups(r"^(?P<method>\S+) (?P<path>\S+)")
    method = req.struct.field("method")
    request = (pl.when(method.is_null() | (method == "-")).then(None)
               .otherwise(method + pl.lit(" ") + req.struct.field("path")))
    detail_parts = pl.concat_list([flags, details, tfr]).list.eval(
        pl.element().filter((pl.element() != "") & (pl.element() != "-"))).list.join(" ")
    out = ok.select(
        "idx",
        f("time").alias("time"),
        status.alias("status"),
        made_by.alias("made_by"),
        pl.when(lb).then(primary).otherwise(None).alias("code"),
        sym.alias("r_symptom"),
        pst.alias("r_proxy_status"),
        _dash(f("uhost")).alias("target"),
        _dash(f("cluster")).alias("group"),
        f("ust").cast(pl.Float64, strict=False).alias("upstream_ms"),
        f("dur").cast(pl.Float64, strict=False).alias("duration_ms"),
        pl.when(flags.str.contains(r"(?:^|,)URX(?:,|$)")).then(pl.lit(1)).otherwise(None)
        .cast(pl.Int64).alias("retries"),
        pl.lit("access").alias("kind"),
        pl.lit(None, dtype=pl.String).alias("client"),
        request.alias("request"),
        _dash(f("auth")).alias("host"),
        pl.when(detail_parts == "").then(None).otherwise(detail_parts).alias("detail"),
        pl.lit(None, dtype=pl.Int64).alias("backend_status"),
    )
    return _finish(out, "envoy"), rest


FRAMES = {"alb": alb_frame, "envoy": envoy_frame}
