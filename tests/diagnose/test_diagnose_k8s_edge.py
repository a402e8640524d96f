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
