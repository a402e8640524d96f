"""Envoy's admin API answers read into live facts (``proxies.envoy.admin``), on answers recorded
from a real Envoy 1.40 (tests/fixtures/envoy/admin/README.md), and joined to a finding of its
cluster (``analyzers.edge_config.with_live``)."""

from __future__ import annotations

import json
from pathlib import Path

from why502.analyzers.edge_config import with_live
from why502.findings.model import Finding
from why502.proxies.envoy.admin import group_states, parse_clusters, parse_stats, stats_filter

HERE = Path(__file__).resolve().parents[1] / "fixtures" / "envoy" / "admin"
DEAD, LIVE, CHECKED = "127.0.0.1:37813", "127.0.0.1:43395", "127.0.0.1:53135"


def _load(name: str) -> object:
    return json.loads((HERE / name).read_text())


def test_health_flags_are_envoys_own_words_as_in_the_text_answer() -> None:
    hosts = parse_clusters(_load("clusters.json"))
    api = {h.address: h for h in hosts["api"]}
    assert api[DEAD].flags == ("/failed_outlier_check",) and api[DEAD].out and api[DEAD].ejected
    assert api[LIVE].flags == () and not api[LIVE].out
    assert api[DEAD].counters["cx_connect_fail"] == 2
    checked = hosts["checked"][0]
    assert checked.address == CHECKED and checked.flags == ("/failed_active_hc",)
    assert checked.out and not checked.ejected
    text = (HERE / "clusters.txt").read_text()
    for cluster, found in hosts.items():  # each flag is the string /clusters prints
        for h in found:
            assert f"{cluster}::{h.address}::health_flags::{''.join(h.flags) or 'healthy'}" in text


def test_cluster_counters_from_stats() -> None:
    stats = parse_stats(_load("stats.json"))
    assert stats["api"]["upstream_cx_connect_fail"] == 2
    assert stats["api"]["outlier_detection.ejections_active"] == 1
    groups = group_states(_load("clusters.json"), _load("stats.json"), "http://127.0.0.1:9901")
    api = groups["api"]
    assert (api.connect_failures, api.ejections_active, api.overflows) == (2, 1, 0)
    assert [h.address for h in api.hosts_out] == [DEAD] and not api.all_out
    assert groups["checked"].all_out


def test_a_cluster_name_with_dots_and_bars_istio_style() -> None:
    doc = {"stats": [{"name": "cluster.outbound|80||web.shop.svc.cluster.local.upstream_cx_connect_fail",
                      "value": 7},
                     {"name": "cluster.outbound|80||web.shop.svc.cluster.local.upstream_rq_pending_overflow",
                      "value": 3},
                     {"name": "http.ingress.downstream_rq_5xx", "value": 9}]}
    got = parse_stats(doc)
    assert got == {"outbound|80||web.shop.svc.cluster.local": {
        "upstream_cx_connect_fail": 7, "upstream_rq_pending_overflow": 3}}
    assert "outbound\\|80\\|\\|web\\.shop" in stats_filter(["outbound|80||web.shop.svc.cluster.local"])


def test_malformed_answers_give_no_state() -> None:
    assert parse_clusters([1, 2]) == {} and parse_clusters({"cluster_statuses": [{"x": 1}]}) == {}
    assert parse_stats("text") == {} and parse_stats({"stats": [{"name": 3}]}) == {}


def _finding(cause: str, target: str | None) -> Finding:
    return Finding(cause=cause, title="t", confidence=0.8, status_codes=[503], symptoms=[],
                   explanation="Envoy said so.", upstream="api", target=target)


def test_the_finding_of_the_cluster_shows_the_ejected_host_and_the_counters() -> None:
    api = group_states(_load("clusters.json"), _load("stats.json"), "http://127.0.0.1:9901")["api"]
    f = with_live(_finding("backend-not-running", DEAD), api, "cluster")
    text = "\n".join(e.summary for e in f.evidence)
    assert f"host {DEAD} health_flags /failed_outlier_check (ejected by outlier detection)" in text
    assert "upstream_cx_connect_fail 2" in text and "outlier_detection.ejections_active 1" in text
    assert f.confidence == 0.93 and f"outlier detection has ejected {DEAD}" in f.explanation
    assert all(e.kind == "probe" and (e.source or "").startswith("http://127.0.0.1:9901/")
               for e in f.evidence)
    # a counter that proves nothing of this cause leaves the confidence alone
    g = with_live(_finding("backend-too-slow", LIVE), api, "cluster")
    assert g.confidence == 0.8 and f"host {LIVE} health_flags healthy now" in "\n".join(
        e.summary for e in g.evidence)


def test_every_host_out_proves_all_upstreams_down() -> None:
    checked = group_states(_load("clusters.json"), _load("stats.json"), "http://x")["checked"]
    f = with_live(_finding("all-upstreams-down", None), checked, "cluster")
    assert f.confidence == 0.95
    assert "every host of cluster checked out of load balancing now (failed its active health " \
           "check)" in f.explanation
