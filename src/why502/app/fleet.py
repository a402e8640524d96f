"""``why502 fleet``: one answer for many hosts, asked of the Prometheus that scrapes them all.

Each host runs ``why502 watch``; Prometheus scrapes every ``/metrics`` and is the distributed
engine: this module only asks its HTTP API (``GET /api/v1/query``, instant PromQL queries,
https://prometheus.io/docs/prometheus/latest/querying/api/) for each host's open incidents,
5xx and request rates and down targets, and ranks the hosts: open incidents first, then by 5xx
rate.  No aggregation server of our own.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass, field
from typing import Any

from why502.errors import InputError, UsageError

__all__ = ["QUERIES", "HostView", "fleet"]

QUERIES = {
    # every watch exports the lag of its logs: a host with no traffic is listed too
    "hosts": "count by (instance) (why502_log_lag_bytes)",
    "incidents": "why502_incidents_open > 0",
    "errors": 'sum by (instance) (rate(why502_requests_total{status=~"5.."}[{range}]))',
    "requests": "sum by (instance) (rate(why502_requests_total[{range}]))",
    "down": "why502_target_up == 0",
}


@dataclass
class HostView:
    instance: str
    causes: list[str] = field(default_factory=list)
    errors_per_s: float = 0.0
    requests_per_s: float = 0.0
    down: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {"instance": self.instance, "open_incidents": self.causes,
                "errors_5xx_per_s": round(self.errors_per_s, 4),
                "requests_per_s": round(self.requests_per_s, 4), "targets_down": self.down}


def query(base: str, promql: str, timeout: float = 10.0) -> list[dict[str, Any]]:
    """One instant query; the ``result`` vector.  Unreachable or an error answer: ``InputError``."""
    url = f"{base.rstrip('/')}/api/v1/query?{urllib.parse.urlencode({'query': promql})}"
    try:
        with urllib.request.urlopen(url, timeout=timeout) as resp:
            body = json.loads(resp.read().decode("utf-8", "replace"))
    except urllib.error.HTTPError as err:
        raise InputError(f"Prometheus {base}: HTTP {err.code} for {promql!r}") from None
    except (urllib.error.URLError, OSError, ValueError) as err:
        raise InputError(f"Prometheus {base}: {getattr(err, 'reason', err)}") from None
    if not isinstance(body, dict) or body.get("status") != "success":
        raise InputError(f"Prometheus {base}: query {promql!r} failed: "
                         f"{body.get('error') if isinstance(body, dict) else body!r}")
    data = body.get("data") or {}
    result = data.get("result") if isinstance(data, dict) else None
    return [r for r in result if isinstance(r, dict)] if isinstance(result, list) else []


def _value(r: dict[str, Any]) -> float:
    try:
        return float(r["value"][1])
    except (KeyError, IndexError, TypeError, ValueError):
        return 0.0


def fleet(base: str, rate_range: str = "5m") -> list[HostView]:
    """Every host Prometheus knows a why502 metric of, most urgent first."""
    if not base.startswith(("http://", "https://")):
        raise UsageError(f"--prometheus {base!r}: expected an http:// or https:// URL")
    hosts: dict[str, HostView] = {}

    def host(r: dict[str, Any]) -> HostView:
        metric = r.get("metric") or {}
        name = str(metric.get("instance", "?"))
        return hosts.setdefault(name, HostView(name))

    for r in query(base, QUERIES["hosts"]):
        host(r)
    for r in query(base, QUERIES["requests"].replace("{range}", rate_range)):
        host(r).requests_per_s = _value(r)
    for r in query(base, QUERIES["errors"].replace("{range}", rate_range)):
        host(r).errors_per_s = _value(r)
    for r in query(base, QUERIES["incidents"]):
        host(r).causes.append(str((r.get("metric") or {}).get("cause", "unknown")))
    for r in query(base, QUERIES["down"]):
        host(r).down.append(str((r.get("metric") or {}).get("target", "?")))
    return sorted(hosts.values(),
                  key=lambda h: (-len(h.causes), -len(h.down), -h.errors_per_s, h.instance))
