"""contrib/kubernetes/: the DaemonSet that runs ``why502 watch`` on a node's container logs.

Validated against the Kubernetes OpenAPI schemas (kubernetes-validate, strict), and run: the
DaemonSet's own ``args`` (the log directory pointed at a temp dir, the listener at loopback) on
CRI-framed files named as kubelet names them, so the paths and framing the manifest promises are
the ones the reader parses."""

from __future__ import annotations

import fnmatch
import json
import subprocess
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml

from tests.support.clirun import WHY502
from tests.support.paths import ROOT_DIR

K8S = ROOT_DIR / "contrib" / "kubernetes"
MANIFEST = K8S / "why502-watch.yaml"


def _docs() -> list[dict[str, Any]]:
    return [d for d in yaml.safe_load_all(MANIFEST.read_text(encoding="utf-8")) if d]


def _daemonset() -> dict[str, Any]:
    return next(d for d in _docs() if d["kind"] == "DaemonSet")


def test_every_resource_passes_the_kubernetes_schemas_strictly() -> None:
    kinds = []
    for doc in _docs():
        kubernetes_validate.validate(doc, "1.33", strict=True)  # raises on any violation
        kinds.append(doc["kind"])
    assert kinds == ["Namespace", "ServiceAccount", "DaemonSet", "Service", "NetworkPolicy"]


def test_the_agent_is_read_only_non_root_and_bounded() -> None:
    pod = _daemonset()["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    assert pod["securityContext"]["runAsNonRoot"] and pod["securityContext"]["runAsUser"] != 0
    sc = container["securityContext"]
    assert sc["readOnlyRootFilesystem"] and not sc["allowPrivilegeEscalation"]
    assert sc["capabilities"]["drop"] == ["ALL"]
    mounts = {m["mountPath"]: m for m in container["volumeMounts"]}
    assert mounts["/var/log/containers"]["readOnly"] and mounts["/var/log/pods"]["readOnly"]
    limits = container["resources"]["limits"]
    assert limits["memory"] == "256Mi"  # twice watch's measured 111-124 MB RSS (BENCHMARKS.md)
    assert "--offline" in container["args"] and pod["automountServiceAccountToken"] is False


def test_the_service_monitor_selects_the_service_port() -> None:
    monitor = yaml.safe_load((K8S / "servicemonitor.yaml").read_text(encoding="utf-8"))
    service = next(d for d in _docs() if d["kind"] == "Service")
    assert monitor["spec"]["selector"]["matchLabels"].items() <= service["metadata"]["labels"].items()
    assert monitor["spec"]["endpoints"][0]["port"] in {p["name"] for p in service["spec"]["ports"]}
    assert service["spec"]["selector"] == _daemonset()["spec"]["template"]["metadata"]["labels"]


def test_the_glob_names_the_controller_s_files_as_kubelet_names_them() -> None:
    args = _daemonset()["spec"]["template"]["spec"]["containers"][0]["args"]
    pattern = args[args.index("--error-log") + 1]
    cid = "0123456789abcdef" * 4
    # kubelet: /var/log/containers/<pod>_<namespace>_<container>-<container id>.log
    assert fnmatch.fnmatch(f"/var/log/containers/ingress-nginx-controller-5c8d66c76d-x7k2p"
                           f"_ingress-nginx_controller-{cid}.log", pattern)
    assert not fnmatch.fnmatch(f"/var/log/containers/shop-7d9c_default_app-{cid}.log", pattern)


@pytest.mark.real
def test_watch_runs_with_the_daemonset_s_own_arguments(tmp_path: Path) -> None:
    args: list[str] = list(_daemonset()["spec"]["template"]["spec"]["containers"][0]["args"])
    args = [a.replace("/var/log/containers", str(tmp_path)) for a in args]
    args[args.index("--listen") + 1] = "127.0.0.1:0"
    now = datetime.now(timezone.utc)
    local = now.astimezone()
    cri = now.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    lines = []
    for n in range(30):
        status = 502 if n % 2 else 200
        lines.append(f'{cri} stdout F 10.0.0.1 - - [{local.strftime("%d/%b/%Y:%H:%M:%S %z")}] '
                     f'"GET /api HTTP/1.1" {status} 150 "-" "curl/8.5.0"')
        lines.append(f"{cri} stderr F {local.strftime('%Y/%m/%d %H:%M:%S')} [error] 31#31: *{n} "
                     "connect() failed (111: Connection refused) while connecting to upstream, "
                     'client: 10.0.0.1, server: _, request: "GET /api HTTP/1.1", upstream: '
                     '"http://10.244.1.7:8080/api", host: "shop.example"')
    cid = "0123456789abcdef" * 4
    (tmp_path / f"ingress-nginx-controller-5c8d66c76d-x7k2p_ingress-nginx_controller-{cid}.log"
     ).write_text("\n".join(lines) + "\n")
    out = subprocess.run([WHY502, *args, "--from-start", "--max-events", "1", "--duration", "60"],
                         capture_output=True, text=True, timeout=120, check=False,
                         stdin=subprocess.DEVNULL)
    assert out.returncode == 0, out.stderr
    event = json.loads(out.stdout.splitlines()[0])
    assert event["event"] == "incident-opened"
    assert event["incident"]["errors_5xx"] == 15 and event["incident"]["requests"] == 30
    assert "connection-refused" in event["incident"]["symptoms"]
