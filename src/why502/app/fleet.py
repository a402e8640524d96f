"""``why502 fleet``: one answer for many hosts, asked of the Prometheus that scrapes them all.

Each host runs ``why502 watch``; Prometheus scrapes every ``/metrics`` and is the distributed
engine: this module only asks its HTTP API (``GET /api/v1/query``, instant PromQL queries,
https://prometheus.io/docs/prometheus/latest/querying/api/) for each host's open incidents,
5xx and request rates and down targets, and ranks the hosts: open incidents first, then by 5xx
rate.  No aggregation server of our own.
"""

from __future__ import annotations

import urllib.parse
from dataclasses import dataclass, field
from typing import Any

from why502.errors import InputError, UsageError
from why502.sources.netread import Bounds, get_json
from why502.textutil import finite

__all__ = ["MAX_SERIES", "QUERIES", "HostView", "fleet"]

QUERIES = {
    # every watch exports the lag of its logs: a host with no traffic is listed too
    "hosts": "count by (instance) (why502_log_lag_bytes)",
    "incidents": "why502_incidents_open > 0",
    "errors": 'sum by (instance) (rate(why502_requests_total{status=~"5.."}[{range}]))',
    "requests": "sum by (instance) (rate(why502_requests_total[{range}]))",
    "down": "why502_target_up == 0",
}
# Series one answer may hold: a fleet of 10,000 hosts with 10 down targets each fits; more is a
# misconfigured or hostile Prometheus, refused rather than ranked for minutes.
MAX_SERIES = 100_000


@dataclass
class HostView:
    """One host.  A rate is ``None`` when Prometheus gave none or a non-finite one (``NaN``,
    ``+Inf``: the API writes sample values as strings, and those are valid there), so the JSON
    says ``null`` and never ``NaN``."""

    instance: str
    causes: list[str] = field(default_factory=list)
    errors_per_s: float | None = 0.0
    requests_per_s: float | None = 0.0
    down: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {"instance": self.instance, "open_incidents": self.causes,
                "errors_5xx_per_s": _rounded(self.errors_per_s),
                "requests_per_s": _rounded(self.requests_per_s), "targets_down": self.down}


def _rounded(value: float | None) -> float | None:
    return None if value is None else round(value, 4)


@dataclass(frozen=True)
class Sample:
    """One series of an instant vector: its labels and its value (finite, or ``None``)."""

    labels: dict[str, str]
    value: float | None


def query(base: str, promql: str, bounds: Bounds | None = None) -> list[Sample]:
    """One instant query (``GET /api/v1/query``), read through the bounded reader; the answer
    must have the documented shape (``{"status": "success", "data": {"resultType": "vector",
    "result": [{"metric": {name: value}, "value": [time, "value"]}]}}``): anything else is one
    line, exit 3, never a traceback."""
    url = f"{base.rstrip('/')}/api/v1/query?{urllib.parse.urlencode({'query': promql})}"
    where = f"Prometheus {base}"
    status, body = get_json(url, bounds or Bounds(), what=where)
    if isinstance(body, dict) and body.get("status") == "error":
        raise InputError(f"{where}: query {promql!r} failed: {str(body.get('error'))[:200]}")
    if status >= 400:
        raise InputError(f"{where}: HTTP {status} for {promql!r}")
    if not isinstance(body, dict) or body.get("status") != "success":
        raise InputError(f"{where}: query {promql!r}: not a Prometheus API answer")
    data = body.get("data")
    if not isinstance(data, dict) or data.get("resultType") != "vector" \
            or not isinstance(data.get("result"), list):
        raise InputError(f"{where}: query {promql!r}: the answer is not an instant vector")
    result = data["result"]
    if len(result) > MAX_SERIES:
        raise InputError(f"{where}: query {promql!r} returned {len(result):,} series, more than "
                         f"the {MAX_SERIES:,} allowed")
    return [_sample(r, where, promql) for r in result]


def _sample(r: Any, where: str, promql: str) -> Sample:
    bad = f"{where}: query {promql!r}: a series that is not {{metric: {{label: text}}, value: [time, text]}}"
    if not isinstance(r, dict):
        raise InputError(bad)
    metric = r.get("metric", {})
    value = r.get("value")
    if not isinstance(metric, dict) or not all(isinstance(v, str) for v in metric.values()) \
            or not isinstance(value, list) or len(value) != 2:
        raise InputError(bad)
    number: float | None
    try:
        number = finite(float(value[1])) if isinstance(value[1], str) else None
    except ValueError:
        number = None
    return Sample(metric, number)


def fleet(base: str, rate_range: str = "5m", timeout: float = 30.0) -> list[HostView]:
    """Every host Prometheus knows a why502 metric of, most urgent first.  ``timeout`` bounds
    each query's whole exchange (connect to last byte)."""
    if not base.startswith(("http://", "https://")):
        raise UsageError(f"--prometheus {base!r}: expected an http:// or https:// URL")
    bounds = Bounds(seconds=timeout)
    hosts: dict[str, HostView] = {}

    def host(s: Sample) -> HostView:
        name = s.labels.get("instance", "?")
        return hosts.setdefault(name, HostView(name))

    for s in query(base, QUERIES["hosts"], bounds):
        host(s)
    for s in query(base, QUERIES["requests"].replace("{range}", rate_range), bounds):
        host(s).requests_per_s = s.value
    for s in query(base, QUERIES["errors"].replace("{range}", rate_range), bounds):
        host(s).errors_per_s = s.value
    for s in query(base, QUERIES["incidents"], bounds):
        host(s).causes.append(s.labels.get("cause", "unknown"))
    for s in query(base, QUERIES["down"], bounds):
        host(s).down.append(s.labels.get("target", "?"))
    return sorted(hosts.values(),
                  key=lambda h: (-len(h.causes), -len(h.down), -(h.errors_per_s or 0.0), h.instance))
