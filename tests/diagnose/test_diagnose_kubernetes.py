"""``diagnose --k8s``: Kubernetes objects joined to the proxy's failures by pod IP and time.

The objects are real ones recorded in public repositories (tests/fixtures/kubernetes/README.md:
provenance and every edit); the proxy logs are nginx error lines whose upstream is the pod IP.
Each cause is run through the CLI, and each is checked not to count for another pod, or for the
same pod IP at another time.  No cluster: ``kubectl`` is only run when ``--k8s kubectl`` is named,
and here a fake one on PATH stands for it.
"""

from __future__ import annotations

import json
import os
import stat
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import RunMain
from tests.support.paths import ROOT_DIR
from why502.analyzers import kubernetes as k8s_analyzer
from why502.evidence.model import Evidence, LogFacts, Sample, SymptomGroup
from why502.facts.kubernetes import KubeFacts
from why502.parsers.kubernetes import parse_json, parse_time

FIX = ROOT_DIR / "tests" / "fixtures" / "kubernetes"


def _diagnose(run_main: RunMain, case: str, log: str, *more: str) -> dict[str, Any]:
    code, out, err = run_main("diagnose", "--offline", "--k8s", str(FIX / case),
                              "--error-log", str(FIX / case / log), "--format", "json", *more)
    assert code in (0, 1), err
    report: dict[str, Any] = json.loads(out)
    return report


def _causes(report: dict[str, Any]) -> list[str]:
    return [f["cause"] for f in report["findings"]]


def _k8s_lines(finding: dict[str, Any]) -> list[str]:
    return [e["summary"] for e in finding["evidence"] if e["kind"] == "kubernetes"]


# -- parser -----------------------------------------------------------------------------------


def test_the_recorded_objects_are_read_with_their_fields() -> None:
    parsed = parse_json((FIX / "oom" / "pods.json").read_text(), "pods.json")
    parse_json((FIX / "rollout" / "endpointslices.json").read_text(), "slices.json", parsed)
    parse_json((FIX / "gateway" / "httproute.json").read_text(), "route.json", parsed)
    k = parsed.facts()
    demo = next(p for p in k.pods if p.name == "memory-demo-2")
    c = demo.containers[0]
    assert demo.ips == ("10.12.1.50",) and demo.namespace == "mem-example"
    assert (c.last_reason, c.last_exit, c.restarts, c.memory_limit) == ("OOMKilled", 137, 2, "100Mi")
    assert c.last_finished == datetime(2017, 6, 20, 20, 52, 19) and c.pre_stop is False
    (sl,) = k.slices
    assert sl.service == "nginx-service" and sl.ports == (80,)
    old, new = sl.endpoints
    assert (old.addresses, old.ready, old.serving, old.terminating) == (("10.12.1.201",), False, True, True)
    assert old.pod == "default/nginx-deployment-7768647bf9-b4b9s" and new.ready and not new.terminating
    (route,) = k.routes
    assert route.hostnames == ("www.example.com",)
    assert [(c.type, c.reason) for c in route.failing()] == [("ResolvedRefs", "BackendNotFound")]
    assert route.backend_refs[0].name == "backend-does-not-exist" and route.backend_refs[0].port == 3000


def test_several_documents_nanoseconds_and_unknown_kinds() -> None:
    text = ('{"kind":"Event","metadata":{"namespace":"a"},"regarding":{"kind":"Pod","name":"p"},'
            '"reason":"BackOff","note":"Back-off restarting failed container",'
            '"eventTime":"2026-08-21T00:07:00.123456789Z"}\n'
            '{"kind":"ConfigMap","metadata":{"name":"x"}}\n{"kind": "Pod", "metadata": ')
    parsed = parse_json(text, "dump")
    (e,) = parsed.events
    assert (e.ref, e.reason, e.first) == ("a/p", "BackOff", datetime(2026, 8, 21, 0, 7, 0, 123456))
    assert parsed.skipped == {"ConfigMap": 1}
    assert parsed.problems and "not kubectl JSON" in parsed.problems[0]
    assert parse_time("2025-03-08T04:07:53+02:00") == datetime(2025, 3, 8, 2, 7, 53)


# -- OOMKilled --------------------------------------------------------------------------------


def test_an_oomkilled_pod_behind_the_failing_upstream_is_the_cause(run_main: RunMain) -> None:
    report = _diagnose(run_main, "oom", "error.log")
    top = report["findings"][0]
    assert top["cause"] == "backend-oom-killed"
    lines = _k8s_lines(top)
    assert any("Pod mem-example/memory-demo-2 (10.12.1.50)" in s and "OOMKilled" in s
               and "2017-06-20T20:52:19" in s for s in lines), lines
    assert "memory-demo-2-ctr" in top["fix"]["summary"] and "100Mi" in top["fix"]["summary"]
    assert report["inputs"]["k8s_objects"]["pods"] == 2


@pytest.mark.parametrize("log", ["error-other-pod.log", "error-other-time.log"])
def test_the_oom_kill_does_not_count_for_another_pod_or_another_time(run_main: RunMain,
                                                                     log: str) -> None:
    report = _diagnose(run_main, "oom", log)
    assert "backend-oom-killed" not in _causes(report)
    assert not any(_k8s_lines(f) for f in report["findings"])


# -- CrashLoopBackOff -------------------------------------------------------------------------


def test_a_pod_restarting_while_the_proxy_was_refused_is_a_crash_loop(run_main: RunMain) -> None:
    report = _diagnose(run_main, "crashloop", "error.log")
    top = report["findings"][0]
    assert top["cause"] == "backend-crash-loop"
    (line,) = _k8s_lines(top)
    assert "Pod default/wordpress-5bbd7fd785-p4s9r (192.168.62.234)" in line
    assert "reason=Error exitCode 1 at 2020-08-09T06:46:06Z" in line and "restartCount 19" in line
    assert any("--previous" in c for c in top["fix"]["commands"])


def test_the_crash_loop_does_not_count_before_the_pod_existed(run_main: RunMain) -> None:
    report = _diagnose(run_main, "crashloop", "error-other-time.log")
    assert "backend-crash-loop" not in _causes(report)
    assert not any(_k8s_lines(f) for f in report["findings"])


# -- readiness ---------------------------------------------------------------------------------


def test_readiness_failing_on_the_pod_the_proxy_timed_out_on(run_main: RunMain) -> None:
    report = _diagnose(run_main, "readiness", "error.log")
    top = report["findings"][0]
    assert top["cause"] == "readiness-probe-failing"
    lines = " | ".join(_k8s_lines(top))
    assert "Unhealthy on Pod ingress-controllers/nginx-ingress-acme-controller-c9c8c7dd6-9qmxl" in lines
    assert "Readiness probe failed: HTTP probe failed with statuscode: 500" in lines
    assert "Ready]=False since 2020-09-29T16:01:21Z" in lines


def test_a_readiness_series_does_not_count_far_from_its_recorded_failures(run_main: RunMain) -> None:
    report = _diagnose(run_main, "readiness", "error-other-time.log")
    assert "readiness-probe-failing" not in _causes(report)
    assert not any(_k8s_lines(f) for f in report["findings"])


# -- a rollout without a drain ----------------------------------------------------------------


def test_requests_to_a_terminating_pod_are_the_cause(run_main: RunMain) -> None:
    report = _diagnose(run_main, "rollout", "error.log")
    top = report["findings"][0]
    assert top["cause"] == "terminating-endpoint-routed"
    lines = " | ".join(_k8s_lines(top))
    assert "EndpointSlice default/nginx-service-6tjbr: endpoint 10.12.1.201" in lines
    assert "terminating=true" in lines and "Killing" in lines and "no lifecycle.preStop" in lines
    assert "nginx-deployment-7768647bf9-b4b9s" in lines
    assert "preStop" in top["fix"]["summary"] or any("preStop" in c for c in top["fix"]["commands"])


@pytest.mark.parametrize("log", ["error-other-pod.log", "error-before.log"])
def test_termination_does_not_count_for_another_pod_or_before_it_began(run_main: RunMain,
                                                                       log: str) -> None:
    report = _diagnose(run_main, "rollout", log)
    assert "terminating-endpoint-routed" not in _causes(report)
    assert not any(_k8s_lines(f) for f in report["findings"])


# -- the analyzer on the real objects, for the causes without a recorded proxy log ------------


def _evidence(objects: KubeFacts, *groups: SymptomGroup) -> Evidence:
    return Evidence(logs=LogFacts(symptoms=groups), k8s=objects)


def _group(symptom: str, peer: str, at: datetime, text: str) -> SymptomGroup:
    return SymptomGroup(symptom=symptom, peer=peer, count=3, first=at, last=at,
                        statuses={503: 3}, samples=(Sample(text=text, time=at),), times=(at,))


def test_a_route_whose_backend_ref_does_not_resolve_is_tied_by_host_and_time() -> None:
    route = parse_json((FIX / "gateway" / "httproute.json").read_text(), "httproute.json").facts()
    line = ('2025/03/08 02:25:32 [error] 7#7: *9 no live upstreams while connecting to upstream, '
            'client: 192.168.65.4, server: www.example.com, request: "GET /get HTTP/1.1", '
            'upstream: "http://default_backend-does-not-exist_3000/get", host: "www.example.com"')
    at = datetime(2025, 3, 8, 2, 25, 32)
    group = _group("no-live-upstreams", "default_backend-does-not-exist_3000", at, line)
    (cand,) = [c for c in k8s_analyzer.analyze(_evidence(route, group))]
    assert cand.finding.cause == "backend-ref-unresolved"
    assert any("HTTPRoute default/backend" in e.summary and "BackendNotFound" in e.summary
               for e in cand.finding.evidence)
    # another host, or failures before the condition was set, do not count
    other = _group("no-live-upstreams", "x", at, line.replace("www.example.com", "api.example.com"))
    assert k8s_analyzer.analyze(_evidence(route, other)) == []
    early = datetime(2025, 3, 8, 1, 0, 0)
    assert k8s_analyzer.analyze(_evidence(route, _group("no-live-upstreams", "x", early, line))) == []


def _no_endpoints_case(tmp_path: Path, line_time: str, service: str = "nginx-service") -> Path:
    """The rollout's recorded objects at the moment the old pod was the Service's only endpoint
    (the new one not listed yet), the Service itself, and ingress-nginx's controller line as
    ``kubectl logs --timestamps`` prints it."""
    case = tmp_path / "no-endpoints"
    case.mkdir()
    (case / "pods.json").write_text((FIX / "rollout" / "pods.json").read_text())
    sl = json.loads((FIX / "rollout" / "endpointslices.json").read_text())
    sl["endpoints"] = sl["endpoints"][:1]
    (case / "slices.json").write_text(json.dumps(sl))
    (case / "svc.json").write_text(json.dumps({
        "kind": "Service", "apiVersion": "v1",
        "metadata": {"name": "nginx-service", "namespace": "default"},
        "spec": {"selector": {"app": "nginx"}, "clusterIP": "10.0.171.239",
                 "ports": [{"port": 80, "targetPort": 80}]}}))
    (case / "controller.log").write_text(
        f"{line_time} W0514 10:05:10.000000       7 controller.go:1108] "
        f'Service "default/{service}" does not have any active Endpoint.\n')
    return case


def test_a_service_with_no_ready_endpoint_named_by_ingress_nginx(run_main: RunMain,
                                                                  tmp_path: Path) -> None:
    case = _no_endpoints_case(tmp_path, "2024-05-14T10:05:10.123456789Z")
    code, out, err = run_main("diagnose", "--offline", "--k8s", str(case), "--error-log",
                              str(case / "controller.log"), "--format", "json")
    assert code == 1, err
    top = json.loads(out)["findings"][0]
    assert top["cause"] == "no-ready-endpoints" and top["confidence"] >= 0.9
    lines = " | ".join(_k8s_lines(top))
    assert "EndpointSlice default/nginx-service-6tjbr of Service default/nginx-service: " \
           "1 endpoints, 0 ready" in lines
    assert "Ready]=False since 2024-05-14T10:04:01Z" in lines


@pytest.mark.parametrize(("when", "service"), [("2024-05-14T10:05:10Z", "web"),
                                               ("2024-05-14T09:00:00Z", "nginx-service")])
def test_no_ready_endpoints_needs_the_service_named_and_the_pods_unready_by_then(
        run_main: RunMain, tmp_path: Path, when: str, service: str) -> None:
    """Another Service's line, or a line from before the pods went unready, does not count."""
    case = _no_endpoints_case(tmp_path, when, service)
    code, out, err = run_main("diagnose", "--offline", "--k8s", str(case), "--error-log",
                              str(case / "controller.log"), "--format", "json")
    assert code in (0, 1), err
    assert "no-ready-endpoints" not in _causes(json.loads(out))


# -- kubectl: only when named, read-only --------------------------------------------------------


def test_kubectl_runs_only_when_named_and_only_get(run_main: RunMain, tmp_path: Path,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    calls = tmp_path / "calls"
    fake = tmp_path / "kubectl"
    pods = FIX / "oom" / "pods.json"
    fake.write_text(f'#!/bin/sh\necho "$@" >> {calls}\ncase "$2" in pods*) cat {pods};; '
                    '*) echo "error: the server doesn\'t have a resource type" >&2; exit 1;; esac\n')
    fake.chmod(fake.stat().st_mode | stat.S_IXUSR)
    monkeypatch.setenv("PATH", f"{tmp_path}{os.pathsep}{os.environ['PATH']}")
    run_main("diagnose", "--offline", "--error-log", str(FIX / "oom" / "error.log"),
             "--format", "json")
    assert not calls.exists()  # not named: never run
    code, out, err = run_main("diagnose", "--offline", "--k8s", "kubectl", "--k8s-namespace",
                              "mem-example", "--error-log", str(FIX / "oom" / "error.log"),
                              "--format", "json")
    assert code == 1, err
    report = json.loads(out)
    assert report["findings"][0]["cause"] == "backend-oom-killed"
    argv = calls.read_text().splitlines()
    assert argv and all(a.startswith("get ") and "-n mem-example" in a for a in argv)
    assert any("gateway" in d["message"] for d in report["diagnostics"])  # no Gateway API: a note


def test_a_missing_dump_is_exit_3(run_main: RunMain, tmp_path: Path) -> None:
    code, _, err = run_main("diagnose", "--offline", "--k8s", str(tmp_path / "nope.json"),
                            "--error-log", str(FIX / "oom" / "error.log"))
    assert code == 3 and "--k8s" in err


def test_a_finished_pod_that_had_the_ip_earlier_does_not_count() -> None:
    """A Job's pod keeps its podIP in ``kubectl get pods`` after it finished; the IP is then
    given to the next pod on the node.  Failures after it finished are not about it."""
    from why502.evidence.kubernetes import Window, lived_through, pod_at

    job = json.dumps({"kind": "Pod", "metadata": {"name": "cleanup-1", "namespace": "mem-example",
                                                  "creationTimestamp": "2017-06-20T18:00:00Z"},
                      "status": {"phase": "Succeeded", "podIP": "10.12.1.50", "containerStatuses": [
                          {"name": "c", "state": {"terminated": {"reason": "OOMKilled",
                                                                 "finishedAt": "2017-06-20T18:01:00Z"}}}]}})
    parsed = parse_json(job, "job.json")
    parse_json((FIX / "oom" / "pods.json").read_text(), "pods.json", parsed)
    objects = parsed.facts()
    at = Window(datetime(2017, 6, 20, 20, 52, 18), datetime(2017, 6, 20, 20, 52, 20))
    assert pod_at(objects, "10.12.1.50", at).name == "memory-demo-2"  # type: ignore[union-attr]
    assert not lived_through(objects.pods[0], at)
    early = Window(datetime(2017, 6, 20, 18, 0, 30), datetime(2017, 6, 20, 18, 1, 0))
    assert pod_at(objects, "10.12.1.50", early).name == "cleanup-1"  # type: ignore[union-attr]
