"""Envoy's admin API answers as live facts: ``/clusters?format=json`` (each host's health flags
and counters) and ``/stats?format=json`` (each cluster's counters), read into
``facts.live_group.GroupLive``.  Pure: the answers are fetched by ``proxies.envoy.source`` and
tested here as recorded from a real Envoy (tests/fixtures/envoy/admin/).

Where the words come from (envoyproxy/envoy):

- ``/clusters?format=json``: ``cluster_statuses[].host_statuses[]`` with ``address``,
  ``stats`` (``cx_connect_fail``, ``rq_error``, ``rq_timeout``, ...: a stat at zero has no
  ``value``) and ``health_status`` whose booleans are ``HostHealthStatus``
  (api/envoy/admin/v3/clusters.proto), set from the host's health flags by
  source/server/admin/clusters_handler.cc ``setHealthFlag``;
- the text ``/clusters`` prints the same flags as ``health_flags::/failed_outlier_check``
  (source/common/upstream/host_utility.cc ``healthFlagsToString``): those strings are what the
  evidence shows, so a user finds them in ``curl localhost:9901/clusters``;
- ``/stats``: ``cluster.<name>.<stat>`` of ``ALL_CLUSTER_TRAFFIC_STATS`` (envoy/upstream/
  upstream.h) and ``cluster.<name>.outlier_detection.ejections_active``
  (docs/root/configuration/upstream/cluster_manager/cluster_stats.rst).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from why502.facts.live_group import GroupLive, HostLive

# HostHealthStatus's booleans (clusters.proto) -> (the text flag of host_utility.cc, its meaning)
HEALTH_FLAGS: dict[str, tuple[str, str]] = {
    "failed_active_health_check": ("/failed_active_hc", "failed its active health check"),
    "failed_outlier_check": ("/failed_outlier_check", "ejected by outlier detection"),
    "failed_active_degraded_check": ("/degraded_active_hc", "degraded by its health check"),
    "pending_dynamic_removal": ("/pending_dynamic_removal",
                                "removed by service discovery, draining its requests"),
    "pending_active_hc": ("/pending_active_hc", "waiting for its first health check"),
    "excluded_via_immediate_hc_fail": ("/excluded_via_immediate_hc_fail",
                                       "excluded: it answered a health check with immediate failure"),
    "active_hc_timeout": ("/active_hc_timeout", "its health check timed out"),
}
# eds_health_status (core/v3/health_check.proto HealthStatus) other than HEALTHY/UNKNOWN: the
# control plane (EDS) says the host is not to be used (host_utility.cc "/failed_eds_health",
# "/degraded_eds_health", "/eds_status_draining")
EDS_FLAGS: dict[str, tuple[str, str]] = {
    "UNHEALTHY": ("/failed_eds_health", "marked unhealthy by service discovery (EDS)"),
    "DRAINING": ("/eds_status_draining", "draining (service discovery)"),
    "TIMEOUT": ("/failed_eds_health", "marked timed out by service discovery (EDS)"),
    "DEGRADED": ("/degraded_eds_health", "degraded (service discovery)"),
}
# flags that do not take the host out of balancing: degraded hosts still get traffic when no
# healthy host is left (docs/root/intro/arch_overview/upstream/load_balancing/degraded.rst)
_STILL_USED = {"/degraded_active_hc", "/degraded_eds_health", "/pending_active_hc"}

# the cluster counters read as evidence (upstream.h ALL_CLUSTER_TRAFFIC_STATS; outlier_detection
# from cluster_stats.rst), in the order they are shown
CLUSTER_STATS: tuple[str, ...] = (
    "upstream_cx_connect_fail", "upstream_cx_connect_timeout",
    "upstream_cx_destroy_remote_with_active_rq", "upstream_rq_pending_overflow",
    "upstream_rq_active_overflow", "upstream_cx_overflow", "upstream_rq_retry",
    "upstream_rq_retry_overflow", "upstream_rq_timeout", "upstream_rq_5xx",
    "outlier_detection.ejections_active", "outlier_detection.ejections_total",
    "membership_healthy", "membership_total",
)


def _address(doc: object) -> str:
    """``{"socket_address": {"address", "port_value"}}`` or ``{"pipe": {"path"}}`` as the
    config's facts key it (``host:port``, ``unix:/path``)."""
    if not isinstance(doc, dict):
        return "?"
    sock = doc.get("socket_address")
    if isinstance(sock, dict):
        host = str(sock.get("address", "?"))
        return f"[{host}]:{sock.get('port_value')}" if ":" in host else f"{host}:{sock.get('port_value')}"
    pipe = doc.get("pipe")
    if isinstance(pipe, dict):
        return f"unix:{pipe.get('path')}"
    return "?"


def _int(value: object) -> int:
    try:
        return int(str(value))
    except ValueError:
        return 0


def host_state(doc: Mapping[str, Any]) -> HostLive:
    """One ``host_statuses`` entry."""
    health = doc.get("health_status") or {}
    flags: list[str] = []
    reasons: list[str] = []
    if isinstance(health, dict):
        for key, (flag, why) in HEALTH_FLAGS.items():
            if health.get(key) is True:
                flags.append(flag)
                reasons.append(why)
        eds = health.get("eds_health_status")
        if isinstance(eds, str) and eds in EDS_FLAGS:
            flags.append(EDS_FLAGS[eds][0])
            reasons.append(EDS_FLAGS[eds][1])
    stats = doc.get("stats") or []
    counters = {str(s["name"]): _int(s.get("value", 0)) for s in stats
                if isinstance(s, dict) and "name" in s}
    out = any(f not in _STILL_USED for f in flags)
    return HostLive(address=_address(doc.get("address")), flags=tuple(flags), out=out,
                    ejected=isinstance(health, dict) and health.get("failed_outlier_check") is True,
                    reasons=tuple(reasons), counters=counters)


def parse_clusters(doc: object) -> dict[str, list[HostLive]]:
    """``/clusters?format=json``: each cluster's hosts ({} for anything else)."""
    if not isinstance(doc, dict):
        return {}
    out: dict[str, list[HostLive]] = {}
    for cl in doc.get("cluster_statuses") or []:
        if isinstance(cl, dict) and isinstance(cl.get("name"), str):
            out[cl["name"]] = [host_state(h) for h in cl.get("host_statuses") or []
                               if isinstance(h, dict)]
    return out


def parse_stats(doc: object, clusters: set[str] | None = None) -> dict[str, dict[str, int]]:
    """``/stats?format=json``: ``{"stats": [{"name": "cluster.api.upstream_cx_connect_fail",
    "value": 2}, ...]}`` -> each cluster's :data:`CLUSTER_STATS`.  A cluster name may hold dots
    (Istio's ``outbound|80||svc.ns.svc.cluster.local``): the stat's suffix is matched, the rest
    is the name."""
    if not isinstance(doc, dict):
        return {}
    out: dict[str, dict[str, int]] = {}
    for s in doc.get("stats") or []:
        if not isinstance(s, dict) or not isinstance(s.get("name"), str) or "value" not in s:
            continue
        name: str = s["name"]
        if not name.startswith("cluster."):
            continue
        for stat in CLUSTER_STATS:
            if name.endswith("." + stat):
                cluster = name[len("cluster."):-len(stat) - 1]
                if clusters is None or cluster in clusters:
                    out.setdefault(cluster, {})[stat] = _int(s["value"])
                break
    return out


def group_states(clusters_doc: object, stats_doc: object, source: str) -> dict[str, GroupLive]:
    """Both answers joined per cluster; the neutral counters set from Envoy's stat names
    (``UO``'s two limits: pending requests and active requests, circuit_breaker.proto)."""
    hosts = parse_clusters(clusters_doc)
    stats = parse_stats(stats_doc, set(hosts) or None)
    out: dict[str, GroupLive] = {}
    for name in dict.fromkeys([*hosts, *stats]):
        c = stats.get(name, {})
        out[name] = GroupLive(
            name=name, source=source, hosts=tuple(hosts.get(name, ())),
            counters={k: v for k, v in c.items()},
            connect_failures=c.get("upstream_cx_connect_fail", 0),
            overflows=c.get("upstream_rq_pending_overflow", 0) + c.get("upstream_rq_active_overflow", 0),
            remote_resets=c.get("upstream_cx_destroy_remote_with_active_rq", 0),
            retries=c.get("upstream_rq_retry", 0),
            ejections_active=c.get("outlier_detection.ejections_active", 0))
    return out


def stats_filter(clusters: list[str]) -> str:
    """The ``/stats?filter=`` regex for the counters of ``clusters`` (all clusters when none):
    Envoy matches it against each stat's name (docs/root/operations/admin.rst, ``/stats``)."""
    names = "|".join(re.escape(c) for c in clusters) if clusters else "[^ ]+"
    stats = "|".join(re.escape(s) for s in CLUSTER_STATS)
    return rf"^cluster\.({names})\.({stats})$"
