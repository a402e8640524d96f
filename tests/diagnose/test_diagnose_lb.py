"""``diagnose --offline --access-log`` on cloud load balancer and proxy logs alone: the root cause
from the log's own fields, on lines published by AWS/Cloudflare/users or written by a real
Envoy, Caddy and Traefik (``tests/fixtures/cloud``).  Single-fault logs are made by keeping the
recorded lines of one backend behaviour (and the healthy ones), never by writing lines."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.conftest import RunMain

CLOUD = Path(__file__).resolve().parents[1] / "fixtures" / "cloud"
REC = CLOUD / "recorded"


def _subset(tmp_path: Path, rel: str, paths: tuple[str, ...], name: str = "access.log") -> Path:
    """The recorded lines of ``rel`` whose request path is one of ``paths`` (by expect.jsonl)."""
    src = REC / rel
    expects = [json.loads(r) for r in (src.parent / "expect.jsonl").read_text().splitlines()]
    keep = {e["line_no"] for e in expects if e["file"] == src.name and e["path"] in paths}
    lines = src.read_text(encoding="utf-8").splitlines()
    out = tmp_path / name
    out.write_text("".join(f"{ln}\n" for i, ln in enumerate(lines, 1) if i in keep), encoding="utf-8")
    return out


def _published(tmp_path: Path, family: str) -> Path:
    rows = [json.loads(r) for r in (CLOUD / f"{family}.jsonl").read_text().splitlines()]
    out = tmp_path / f"{family}.log"
    out.write_text("".join(str(r["line"]) + "\n" for r in rows), encoding="utf-8")
    return out


def _diagnose(run_main: RunMain, *paths: Path, extra: tuple[str, ...] = ()) -> dict[str, object]:
    args = ["diagnose", "--offline", "--format", "json", *extra]
    for p in paths:
        args += ["--access-log", str(p)]
    code, out, err = run_main(*args)
    assert code in (0, 1), err
    report = json.loads(out)
    assert isinstance(report, dict)
    return report


def _top(report: dict[str, object]) -> dict[str, object]:
    findings = report["findings"]
    assert isinstance(findings, list) and findings, report
    top = findings[0]
    assert isinstance(top, dict)
    return top


@pytest.mark.parametrize(
    ("rel", "paths", "cause"),
    [
        ("envoy/envoy-default.log", ("/ok", "/dead", "/retry"), "backend-not-running"),
        ("envoy/envoy-istio-text.log", ("/ok", "/empty"), "all-upstreams-down"),
        ("envoy/envoy-istio-json.log", ("/ok", "/slow"), "backend-too-slow"),
        ("envoy/envoy-istio-json.log", ("/ok", "/invalid"), "protocol-mismatch"),
        ("traefik-json/traefik-access-json.log", ("/ok", "/slow"), "backend-too-slow"),
        ("traefik-common/traefik-access-common.log", ("/ok", "/unhealthy"), "all-upstreams-down"),
        ("caddy-2.6.2-debian/caddy-access.log", ("/ok", "/unhealthy"), "all-upstreams-down"),
        ("caddy-2.11.7-pypi/caddy.stderr.log", ("/dead",), "backend-not-running"),
        ("caddy-2.11.7-pypi/caddy.stderr.log", ("/slow",), "backend-too-slow"),
    ],
)
def test_recorded_single_fault(run_main: RunMain, tmp_path: Path, rel: str, paths: tuple[str, ...],
                               cause: str) -> None:
    report = _diagnose(run_main, _subset(tmp_path, rel, paths))
    assert _top(report)["cause"] == cause


def test_envoy_uh_names_the_cluster_and_fix_in_envoy_terms(run_main: RunMain, tmp_path: Path) -> None:
    top = _top(_diagnose(run_main, _subset(tmp_path, "envoy/envoy-istio-json.log", ("/ok", "/empty"))))
    assert top["upstream"] == "empty"
    fix = top["fix"]
    assert isinstance(fix, dict)
    assert "outlier_detection" in fix["summary"]


def test_cloudflare_521_is_the_origin_refusing(run_main: RunMain, tmp_path: Path) -> None:
    """The published lines are a 521 and, 2.5 hours later, a 429: ranked like every diagnosis
    (``analyzers.rank``), the 521 is the past incident and comes second."""
    report = _diagnose(run_main, _published(tmp_path, "cloudflare"))
    findings = report["findings"]
    assert isinstance(findings, list)
    assert [f["cause"] for f in findings] == ["proxy-rate-limited", "backend-not-running"]
    top = findings[1]
    assert "before the latest failure" in top["explanation"]
    assert top["cause"] == "backend-not-running"
    assert top["status_codes"] == [521]
    fix = top["fix"]
    assert isinstance(fix, dict) and "Cloudflare's IP ranges" in fix["summary"]


def test_alb_lambda_502_from_error_reason(run_main: RunMain, tmp_path: Path) -> None:
    top = _top(_diagnose(run_main, _published(tmp_path, "alb")))
    assert top["cause"] == "protocol-mismatch"
    assert "LambdaInvalidResponse" in top["title"]  # type: ignore[operator]


def test_classic_elb_backend_503_is_the_backends(run_main: RunMain, tmp_path: Path) -> None:
    top = _top(_diagnose(run_main, _published(tmp_path, "elb")))
    assert top["cause"] == "upstream-returned-5xx"


def test_alb_target_that_stopped(run_main: RunMain, tmp_path: Path) -> None:
    """The AWS docs' HTTP entry (target 10.0.0.1:80 answered 200), then the same target refusing:
    the ALB's 502 with target_status_code '-' and target_processing_time -1."""
    ok = json.loads((CLOUD / "alb.jsonl").read_text().splitlines()[0])["line"]
    failed = (ok.replace("22:23:00.186641Z", "22:24:00.186641Z", 1)
              .replace(" 0.000 0.001 0.000 200 200 ", " 0.000 -1 -1 502 - ", 1)
              .replace('"200" "-" "-"', '"-" "-" "-"'))
    log = tmp_path / "alb.log"
    log.write_text(f"{ok}\n{failed}\n{failed}\n", encoding="utf-8")
    top = _top(_diagnose(run_main, log, extra=("--log-type", "alb")))
    assert top["cause"] == "backend-not-running"
    texts = " ".join(str(e["summary"]) for e in top["evidence"])  # type: ignore[attr-defined]
    assert "target 10.0.0.1:80 answered 1 requests" in texts and "deregistered" in texts


def test_caddy_access_log_alone_says_what_is_missing(run_main: RunMain, tmp_path: Path) -> None:
    report = _diagnose(run_main, _subset(tmp_path, "caddy-2.11.7-pypi/caddy-access.log", ("/ok", "/dead")))
    notes = " ".join(str(d["message"]) for d in report["diagnostics"])  # type: ignore[attr-defined]
    assert "does not say why" in notes


def test_healthy_log_exits_0(run_main: RunMain, tmp_path: Path) -> None:
    log = _subset(tmp_path, "envoy/envoy-default.log", ("/ok",))
    code, out, _ = run_main("diagnose", "--offline", "--access-log", str(log))
    assert code == 0 and "healthy" in out


def test_nginx_access_log_is_not_taken_for_a_load_balancer(run_main: RunMain, tmp_path: Path) -> None:
    from why502.app.stats.sniff import sniff_log_type

    log = tmp_path / "access.log"
    log.write_text('203.0.113.9 - - [01/May/2024:12:00:01 +0000] "GET /api HTTP/1.1" 502 157 "-" "curl/8.0"\n'
                   '203.0.113.9 - - [01/May/2024:12:00:02 +0000] "GET / HTTP/1.1" 200 612 "-" "curl/8.0"\n')
    assert sniff_log_type([str(log)]) is None


def test_report_follows_the_json_schema(run_main: RunMain, tmp_path: Path) -> None:
    from importlib import resources

    import jsonschema

    schema = json.loads(resources.files("why502").joinpath("schemas/report.schema.json").read_text())
    report = _diagnose(run_main, REC / "envoy/envoy-istio-json.log")
    jsonschema.validate(report, schema)
    assert report["inputs"]["log_type"] == "envoy"  # type: ignore[index]


def test_traefik_access_and_debug_log(run_main: RunMain) -> None:
    """Traefik's access log says only that Traefik made the 502s; its DEBUG log (mostly other
    lines) says why, and is taken as the error log of the same proxy.  The recording is the
    lab's composite run (steps.json: a dead port, a slow, a crashing and a resetting backend): two
    refusals (the dead port, and the crashed backend's next request) against a bare ``error=EOF``
    and a reset, so backend-not-running and backend-crashed are both findings, each with its own
    target and Traefik's words; which of two equal counts ranks first is not what this tests."""
    rec = REC / "traefik-json"
    report = _diagnose(run_main, rec / "traefik-access-json.log",
                       extra=("--error-log", str(rec / "traefik-json.log")))
    findings = report["findings"]
    assert isinstance(findings, list)
    by_cause = {f["cause"]: f for f in findings}
    refused = by_cause["backend-not-running"]
    assert "connection refused" in str(refused["title"])
    assert isinstance(refused["fix"], dict) and "traefik" in refused["fix"]["summary"].lower()
    crashed = by_cause["backend-crashed"]
    # the Go error's term is Caddy's and Traefik's alike: its fix names Traefik's setting too
    assert "EOF" in str(crashed["title"]) and "Traefik" in crashed["fix"]["summary"]
    assert "than Caddy's" not in crashed["fix"]["summary"]
    assert {findings[0]["cause"], findings[1]["cause"]} == {"backend-not-running", "backend-crashed"}


def test_nginx_error_log_next_to_an_edge_log_is_one_ranked_report(run_main: RunMain, tmp_path: Path) -> None:
    """An nginx error log and an Envoy access log of the same host: both read (the edge log by
    the edge provider, not as an nginx access log), one report ranked by ``analyzers.rank``."""
    nginx = Path(__file__).resolve().parents[1] / "fixtures" / "recorded" / "all-upstreams-down"
    envoy = _subset(tmp_path, "envoy/envoy-default.log", ("/ok", "/dead", "/retry"))
    report = _diagnose(run_main, envoy, extra=("--error-log", str(nginx / "error.log")))
    findings = report["findings"]
    assert isinstance(findings, list)
    by = {(f["proxy"], f["cause"]) for f in findings}
    assert (None, "backend-not-running") in by and ("nginx", "all-upstreams-down") in by, by
    assert report["inputs"]["edge"]["log_type"] == "envoy"  # type: ignore[index]
    assert report["inputs"]["access_logs"] == []  # type: ignore[index]
    notes = " ".join(str(d["message"]) for d in report["diagnostics"])  # type: ignore[attr-defined]
    assert "access log not used" not in notes


@pytest.mark.parametrize(("family", "logs"), [
    ("caddy", ("caddy-2.6.2-debian/caddy-access.log", "caddy-2.6.2-debian/caddy.stderr.log")),
    ("envoy", ("envoy/envoy-default.log",)),
])
def test_an_edge_log_type_with_an_app_log_reads_the_edge_logs(run_main: RunMain, family: str,
                                                              logs: tuple[str, ...]) -> None:
    """``--log-type EDGE`` with ``--app-log`` (what watch's window diagnosis of an Envoy/Caddy
    log runs): the access logs are still the edge's.  They were read as nginx access lines:
    no finding, exit 0, under the edge's recorded 502/503s (the matrix's Envoy/Caddy cells)."""
    app_log = CLOUD.parent / "appservers" / "gunicorn-worker-timeout" / "gunicorn.log"
    alone = _diagnose(run_main, *(REC / p for p in logs), extra=("--log-type", family))
    code, out, err = run_main("diagnose", "--offline", "--format", "json", "--log-type", family,
                              *(a for p in logs for a in ("--access-log", str(REC / p))),
                              "--app-log", str(app_log))
    assert code == 1, err
    with_app = json.loads(out)
    assert not with_app["healthy"]
    assert _top(with_app)["cause"] == _top(alone)["cause"]
