"""``diagnose --access-log EDGE.log --k8s DIR``: an edge proxy's access log joined to the
Kubernetes objects by the upstream host it logs (a pod IP) and time, through the CLI.

Envoy (Istio's gateways and sidecars, Envoy Gateway) logs ``%UPSTREAM_HOST%``, the pod's
``IP:port`` it sent the request to; the pod that had that IP at that time is the one the objects
must be about (``evidence.kubernetes.edge_groups``).  The objects are the recorded rollout of
``tests/fixtures/kubernetes/rollout`` (provenance in its README); the other pod and the earlier
time are the controls, derived from the same log.  Also here, the one Kubernetes cause whose CLI
path had no test: an HTTPRoute whose backendRef does not resolve.  No cluster.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from tests.conftest import RunMain
from tests.support.paths import ROOT_DIR

FIX = ROOT_DIR / "tests" / "fixtures" / "kubernetes"
ISTIO = FIX / "rollout" / "istio.log"
OLD_POD, NEW_POD = "10.12.1.201:80", "10.12.1.202:80"


def _diagnose(run_main: RunMain, *args: str) -> tuple[int, dict[str, Any]]:
    code, out, err = run_main("diagnose", "--offline", *args, "--format", "json")
    assert code in (0, 1), err
    report: dict[str, Any] = json.loads(out)
    return code, report


def _variant(tmp_path: Path, name: str, text: str) -> str:
    path = tmp_path / name
    path.write_text(text)
    return str(path)


def test_an_istio_gateway_sending_to_a_terminating_pod(run_main: RunMain) -> None:
    code, report = _diagnose(run_main, "--access-log", str(ISTIO), "--k8s", str(FIX / "rollout"))
    assert code == 1 and report["healthy"] is False
    top = report["findings"][0]
    assert top["cause"] == "terminating-endpoint-routed"
    assert top["target"] == OLD_POD and top["count"] == 4
    k8s = " | ".join(e["summary"] for e in top["evidence"] if e["kind"] == "kubernetes")
    assert "EndpointSlice default/nginx-service-6tjbr: endpoint 10.12.1.201" in k8s
    assert "terminating=true" in k8s and "Killing" in k8s and "no lifecycle.preStop" in k8s
    logs = [e for e in top["evidence"] if e["kind"] == "log"]
    assert any("clients got 3×503" in e["summary"] for e in logs)
    assert any(e.get("source") == str(ISTIO) for e in logs)
    # Envoy's own reading of the same failures (UF: nothing listening) is folded under the
    # cause the objects prove, not a second finding
    assert [f["cause"] for f in report["findings"]] == ["terminating-endpoint-routed"]
    assert any("also consistent with backend-not-running" in e["summary"] for e in top["evidence"])


def test_the_other_pod_or_an_earlier_time_is_not_the_terminating_one(run_main: RunMain,
                                                                      tmp_path: Path) -> None:
    text = ISTIO.read_text()
    # the same failures to the new pod (running, ready): Envoy's own reading only
    swapped = text.replace(OLD_POD, "X").replace(NEW_POD, OLD_POD).replace("X", NEW_POD)
    code, report = _diagnose(run_main, "--access-log", _variant(tmp_path, "other.log", swapped),
                             "--k8s", str(FIX / "rollout"))
    causes = [f["cause"] for f in report["findings"]]
    assert code == 1 and "terminating-endpoint-routed" not in causes and causes
    # half an hour before the termination began: the pod was alive and serving
    early = text.replace("T10:0", "T09:3")
    code, report = _diagnose(run_main, "--access-log", _variant(tmp_path, "early.log", early),
                             "--k8s", str(FIX / "rollout"))
    causes = [f["cause"] for f in report["findings"]]
    assert code == 1 and "terminating-endpoint-routed" not in causes and causes


def test_without_k8s_the_edge_log_alone_names_envoys_reading(run_main: RunMain) -> None:
    code, report = _diagnose(run_main, "--access-log", str(ISTIO))
    causes = [f["cause"] for f in report["findings"]]
    assert code == 1 and "terminating-endpoint-routed" not in causes
    assert "backend-not-running" in causes


def test_an_oom_killed_pod_behind_an_istio_upstream_host(run_main: RunMain, tmp_path: Path) -> None:
    """The OOM fixture's pod (10.12.1.50:8080, killed 2017-06-20T20:52:19Z) as an Istio
    sidecar's upstream: the lines of the rollout's log moved to that pod and minute."""
    text = (ISTIO.read_text().replace(OLD_POD, "10.12.1.50:8080")
            .replace(NEW_POD, "10.12.1.51:8080").replace("2024-05-14T10:0", "2017-06-20T20:5"))
    log = _variant(tmp_path, "istio-oom.log", text.replace("T20:54:0", "T20:52:1"))
    code, report = _diagnose(run_main, "--access-log", log, "--k8s", str(FIX / "oom"))
    top = report["findings"][0]
    assert code == 1 and top["cause"] == "backend-oom-killed"
    assert top["target"] == "10.12.1.50:8080"
    assert any("OOMKilled (exitCode 137)" in e["summary"] for e in top["evidence"])


def test_a_route_whose_backend_ref_does_not_resolve_through_the_cli(run_main: RunMain,
                                                                   tmp_path: Path) -> None:
    """The HTTPRoute of Envoy Gateway's troubleshooting page (ResolvedRefs=False,
    BackendNotFound) and a gateway error line for its host at the page's time; another host's
    line is the control."""
    line = ('2025/03/08 02:25:32 [error] 7#7: *9 no live upstreams while connecting to upstream, '
            'client: 192.168.65.4, server: www.example.com, request: "GET /get HTTP/1.1", '
            'upstream: "http://default_backend-does-not-exist_3000/get", host: "www.example.com"\n')
    log = _variant(tmp_path, "error.log", line)
    code, report = _diagnose(run_main, "--error-log", log, "--k8s", str(FIX / "gateway"))
    top = report["findings"][0]
    assert code == 1 and top["cause"] == "backend-ref-unresolved"
    assert any("HTTPRoute default/backend" in e["summary"] and "BackendNotFound" in e["summary"]
               for e in top["evidence"])
    other = _variant(tmp_path, "other.log", line.replace("www.example.com", "api.example.com"))
    code, report = _diagnose(run_main, "--error-log", other, "--k8s", str(FIX / "gateway"))
    assert code == 1 and "backend-ref-unresolved" not in [f["cause"] for f in report["findings"]]


EG_ACCESS = FIX / "gateway" / "envoy-gateway-access.json"


def test_envoy_gateways_direct_response_is_tied_to_the_unresolved_route(run_main: RunMain) -> None:
    """The access-log entry of Envoy Gateway's troubleshooting page (500, ``direct_response``,
    ``route_name`` httproute/default/backend/...) and that page's HTTPRoute (ResolvedRefs=False):
    the route is the cause, Envoy's own reading folds under it."""
    code, report = _diagnose(run_main, "--access-log", str(EG_ACCESS), "--k8s", str(FIX / "gateway"))
    assert code == 1
    assert [f["cause"] for f in report["findings"]] == ["backend-ref-unresolved"]
    top = report["findings"][0]
    assert top["status_codes"] == [500] and top["upstream"] == "default/backend"
    said = " | ".join(e["summary"] for e in top["evidence"])
    assert "HTTPRoute default/backend" in said and "BackendNotFound" in said


def test_a_direct_response_is_envoys_own_5xx_not_the_backends(run_main: RunMain,
                                                              tmp_path: Path) -> None:
    code, report = _diagnose(run_main, "--access-log", str(EG_ACCESS))
    causes = [f["cause"] for f in report["findings"]]
    assert code == 1 and causes == ["unexplained-5xx"]  # was upstream-returned-5xx
    # an hour before the route's ResolvedRefs=False was set, the same line is not its failure
    early = EG_ACCESS.read_text().replace("2025-03-08T02:25:32", "2025-03-08T01:25:32")
    code, report = _diagnose(run_main, "--access-log", _variant(tmp_path, "early.json", early),
                             "--k8s", str(FIX / "gateway"))
    assert code == 1 and "backend-ref-unresolved" not in [f["cause"] for f in report["findings"]]


# -- NGINX Gateway Fabric: its nginx -T says which routes have no endpoint ---------------------

NGF = FIX / "ngf" / "nginx-T.txt"


def test_ngf_upstream_at_its_503_socket_is_zero_endpoints_with_the_route(run_main: RunMain) -> None:
    code, report = _diagnose(run_main, "--config", str(NGF))
    assert code == 1 and report["healthy"] is False
    by_cause = {f["cause"]: f for f in report["findings"]}
    none = by_cause["no-ready-endpoints"]
    assert none["upstream"] == "default_tea_80" and none["status_codes"] == [503]
    said = " | ".join(e["summary"] for e in none["evidence"])
    assert "nginx-503-server.sock" in said
    assert "route: server cafe.example.com location /tea passes to default_tea_80" in said
    assert "Service default/tea" in none["explanation"]
    assert any(e.get("line") == 45 for e in none["evidence"])  # the proxy_pass line of /tea
    bad = by_cause["backend-ref-unresolved"]
    assert bad["upstream"] == "invalid-backend-ref" and bad["status_codes"] == [500]
    assert "location /milk" in " | ".join(e["summary"] for e in bad["evidence"])
    # the upstream with endpoints is not named
    assert all(f["upstream"] != "default_coffee_80" for f in report["findings"])


def test_ngf_upstream_with_endpoints_is_not_zero_endpoints(run_main: RunMain, tmp_path: Path) -> None:
    text = (NGF.read_text().replace("server unix:/var/run/nginx/nginx-503-server.sock;",
                                    "server 10.244.0.16:8080;", 1))
    code, report = _diagnose(run_main, "--config", _variant(tmp_path, "nginx-T.txt", text))
    causes = [f["cause"] for f in report["findings"]]
    assert code == 1 and "no-ready-endpoints" not in causes and "backend-ref-unresolved" in causes


def test_lint_reads_ngf_routes_as_upstream_names_not_hosts_to_resolve(run_main: RunMain,
                                                                      tmp_path: Path) -> None:
    """``proxy_pass http://default_tea_80$request_uri``: $request_uri begins with "/", so the host
    is the upstream block's name (no resolver needed); a host that is no block still needs one."""
    code, out, err = run_main("lint", str(NGF), "--format", "json")
    assert code == 0, out + err
    conf = tmp_path / "nginx.conf"
    conf.write_text("events {}\nhttp {\n  server {\n    listen 8080;\n    location / {\n"
                    "      proxy_pass http://backend.example.com$request_uri;\n    }\n  }\n}\n")
    code, out, err = run_main("lint", str(conf), "--format", "json")
    assert code == 1 and "W502-003" in out
