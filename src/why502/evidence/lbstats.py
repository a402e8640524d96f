"""Access-log analytics for cloud load balancers and modern proxies (``why502 stats`` on an ALB,
Cloudflare, Envoy/Istio, Caddy or Traefik log), on the records of ``parsers.lblogs``.

The question is the same as for nginx: *who made the 5xx* -- the load balancer / edge / proxy
itself (it could not connect, timed out, had no healthy target) or the backend it relayed --
per minute, per target and per group (target group, cluster, service, origin host), with the
backend's time next to the load balancer's timeout, and the retries.  Pure: polars on columns
built from the records, no I/O.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import polars as pl

from why502.catalog.terms import term
from why502.parsers.lblogs.model import LbRecord

LB_NAMES: dict[str, str] = {
    "alb": "the ALB", "elb": "the Classic ELB", "cloudflare": "Cloudflare's edge", "envoy": "Envoy",
    "caddy": "Caddy", "traefik": "Traefik",
}

# The timeout the load balancer applies to the backend when nothing else is known, and where that
# number comes from.  Caddy and Traefik wait without limit by default.
DEFAULT_TIMEOUTS: dict[str, tuple[float, str]] = {
    "alb": (60.0, "ALB idle timeout, default 60 s (idle_timeout.timeout_seconds)"),
    "elb": (60.0, "Classic ELB idle timeout, default 60 s"),
    "cloudflare": (120.0, "Cloudflare Proxy Read Timeout, 120 s by default (formerly 100 s)"),
    "envoy": (15.0, "Envoy route timeout, default 15 s (Istio: none unless a VirtualService sets one)"),
}
NEAR = 0.8  # "near the timeout": at or above 80 % of it

COLUMNS: dict[str, type[pl.DataType]] = {
    "line": pl.Int64, "file": pl.String, "time": pl.String, "status": pl.Int64, "made_by": pl.String,
    "code": pl.String, "symptom": pl.String, "proxy_status": pl.String, "cause": pl.String,
    "target": pl.String, "group": pl.String, "upstream_ms": pl.Float64, "duration_ms": pl.Float64,
    "retries": pl.Int64, "failed": pl.Boolean, "kind": pl.String,
}


@dataclass
class LbFrameBuilder:
    """Columns accumulated batch by batch (records are dropped as soon as they are counted)."""

    cols: dict[str, list[Any]] = field(default_factory=lambda: {k: [] for k in COLUMNS})
    frames: list[pl.DataFrame] = field(default_factory=list)

    def add(self, rec: LbRecord, file: str, line: int) -> None:
        c = self.cols
        c["line"].append(line)
        c["file"].append(file)
        c["time"].append(rec.time)
        c["status"].append(rec.status)
        c["made_by"].append(rec.made_by)
        c["code"].append(rec.code)
        c["symptom"].append(rec.symptom)
        c["proxy_status"].append(rec.proxy_status)
        c["cause"].append(rec.cause)
        c["target"].append(rec.target)
        c["group"].append(rec.group)
        c["upstream_ms"].append(rec.upstream_ms)
        c["duration_ms"].append(rec.duration_ms)
        c["retries"].append(rec.retries)
        c["failed"].append(rec.failed)
        c["kind"].append(rec.kind)
        if len(c["line"]) >= 200_000:
            self.flush()

    def add_frame(self, df: pl.DataFrame) -> None:
        """Rows already in columns (the vectorised reader), ``line`` and ``file`` included."""
        self.flush()
        self.frames.append(df.select([pl.col(k).cast(v) for k, v in COLUMNS.items()]))

    def flush(self) -> None:
        if self.cols["line"]:
            self.frames.append(pl.DataFrame(self.cols, schema=COLUMNS))
            self.cols = {k: [] for k in COLUMNS}

    def frame(self) -> pl.DataFrame:
        self.flush()
        return pl.concat(self.frames) if self.frames else pl.DataFrame(schema=COLUMNS)


def _minute(df: pl.DataFrame) -> pl.Expr:
    # ISO times (ALB, Envoy, Cloudflare, Caddy as converted): the minute is the first 16 chars
    return pl.col("time").str.slice(0, 16).alias("minute")


def _pcts(s: pl.Series) -> dict[str, float | None]:
    s = s.drop_nulls()
    if s.len() == 0:
        return {"p50_ms": None, "p95_ms": None, "p99_ms": None, "max_ms": None}

    def q(x: float) -> float | None:
        v = s.quantile(x, interpolation="nearest")
        return round(float(v), 1) if v is not None else None

    mx = s.max()
    return {"p50_ms": q(0.5), "p95_ms": q(0.95), "p99_ms": q(0.99),
            "max_ms": round(float(mx), 1) if isinstance(mx, (int, float)) else None}


def _per(df: pl.DataFrame, key: str, timeout_ms: float | None, top: int) -> list[dict[str, Any]]:
    sub = df.filter(pl.col(key).is_not_null() & (pl.col("kind") == "access"))
    if sub.height == 0:
        return []
    five = pl.col("status") >= 500
    agg = sub.group_by(key).agg(
        pl.len().alias("requests"),
        five.sum().alias("5xx"),
        (five & (pl.col("made_by") == "lb")).sum().alias("5xx_lb"),
        (five & (pl.col("made_by") == "backend")).sum().alias("5xx_backend"),
        (pl.col("retries").fill_null(0) > 0).sum().alias("retried"),
    ).sort(["5xx", "requests"], descending=True).head(top)
    out = []
    for row in agg.iter_rows(named=True):
        times = sub.filter(pl.col(key) == row[key])["upstream_ms"]
        item: dict[str, Any] = {key: row[key], "requests": row["requests"], "5xx": row["5xx"],
                                "5xx_lb": row["5xx_lb"], "5xx_backend": row["5xx_backend"],
                                "retried": row["retried"], **_pcts(times)}
        if timeout_ms is not None:
            item["near_timeout"] = int((times.drop_nulls() >= timeout_ms * NEAR).sum())
        out.append(item)
    return out


def compute_lb_stats(
    df: pl.DataFrame, family: str, *, lines: int, unparsed: int, files: Iterable[str],
    timeout_s: float | None = None, timeout_source: str | None = None, top: int = 10,
) -> dict[str, Any]:
    """The ``stats --format json`` document of a load-balancer log."""
    if timeout_s is None and family in DEFAULT_TIMEOUTS:
        timeout_s, timeout_source = DEFAULT_TIMEOUTS[family]
    timeout_ms = timeout_s * 1000.0 if timeout_s is not None else None
    access = df.filter(pl.col("kind") == "access")
    five = access.filter(pl.col("status") >= 500)
    made: dict[str, int] = {"lb": 0, "backend": 0, "unknown": 0}
    for who, n in five.group_by("made_by").len().iter_rows():
        made[str(who)] = int(n)
    by_status = {str(k): int(v) for k, v in access.group_by("status").len().sort("status").iter_rows()
                 if k is not None}
    timeline = []
    if five.height:
        tl = access.with_columns(_minute(access)).group_by("minute").agg(
            pl.len().alias("total"),
            ((pl.col("status") >= 500) & (pl.col("made_by") == "lb")).sum().alias("5xx_lb"),
            ((pl.col("status") >= 500) & (pl.col("made_by") != "lb")).sum().alias("5xx_backend"),
        ).filter(pl.col("minute").is_not_null()).sort("minute")
        timeline = [dict(r) for r in tl.iter_rows(named=True)]
    failures = df.filter(pl.col("failed") & (pl.col("made_by") == "lb"))
    if failures.filter(pl.col("kind") == "error").height:
        # the proxy's error lines name the reason its access lines leave out, for the same
        # requests (Caddy http.log.error, Traefik DEBUG): count those, not both
        failures = failures.filter(pl.col("kind") == "error")
    by_code = []
    if failures.height:
        agg = failures.group_by(["code", "symptom", "proxy_status", "cause"]).agg(
            pl.len().alias("count"), pl.col("status").mode().first().alias("status"),
            pl.col("time").min().alias("first"), pl.col("time").max().alias("last"),
            pl.col("kind").first().alias("kind"),
        ).sort("count", descending=True)
        for r in agg.iter_rows(named=True):
            t = term(family, r["code"]) if r["code"] else None
            by_code.append({**r, "title": t.title if t else None})
    times = access["upstream_ms"].drop_nulls()
    timeout: dict[str, Any] = {"seconds": timeout_s, "source": timeout_source}
    if timeout_ms is not None:
        timeout["near"] = int((times >= timeout_ms * NEAR).sum())
        timeout["over"] = int((times >= timeout_ms).sum())
    retried = access.filter(pl.col("retries").fill_null(0) > 0)
    return {
        "log_type": family,
        "made_by_name": LB_NAMES.get(family, family),
        "files": list(files),
        "lines": lines,
        "requests": access.height,
        "error_lines": df.height - access.height,
        "unparsed": unparsed,
        "by_status": by_status,
        "5xx": five.height,
        "made_by": made,
        "timeline": timeline,
        "by_code": by_code,
        "targets": _per(df, "target", timeout_ms, top),
        "groups": _per(df, "group", timeout_ms, top),
        "timings": {**_pcts(times), "timeout": timeout},
        "retries": {
            "requests": retried.height,
            "extra_attempts": int(retried["retries"].sum() or 0) if retried.height else 0,
            "still_failed": int((retried["status"] >= 500).sum()) if retried.height else 0,
        },
    }
