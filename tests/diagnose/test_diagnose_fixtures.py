"""Analyzers on evidence built from the real recorded lab fixtures (tests/fixtures/recorded/).

Each fixture is what a real nginx / PHP-FPM wrote for one scenario, plus the config it ran with.
The evidence is gathered offline by the real pipeline (config parser, log classifier, access-log
stats, FPM config parser); the socket table at recording time (``meta.json`` ``backends`` and
``fpm_pools``: where the backends listened) is added as listener facts, exactly what
``read_listeners`` would have shown during the incident.  The top finding must be the scenario's
real cause.
"""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from tests.support.evidence import with_host_listeners
from tests.support.paths import FIXTURES_DIR
from why502.app.diagnose import DiagnoseOptions
from why502.app.diagnose.gather import Gathered, gather
from why502.app.diagnose.report import report_from
from why502.facts.net import Listener, split_key
from why502.findings.model import Report
from why502.lab.scenarios.model import EDGE

FIXTURES = FIXTURES_DIR / "recorded"


def _metas() -> list[dict[str, Any]]:
    out = []
    for meta in sorted(FIXTURES.glob("*/meta.json")):
        data = json.loads(meta.read_text())
        data["dir"] = meta.parent
        out.append(data)
    return out


# Envoy's and Caddy's recordings have no error log of nginx's kind: they are diagnosed offline by
# tests/lab/test_edge_recordings.py, with the inputs the lab gives diagnose for them
METAS = [m for m in _metas() if m.get("proxy", "nginx") not in EDGE]
# Offline, from logs alone, these cannot be told from a crash: nginx saw a reset. The live probe
# (protocol answer "tls") is what proves them; tests/diagnose/test_diagnose_real.py covers them live.
NEEDS_PROBE = {"protocol-http-to-tls": "http:// to a TLS port looks like a reset in the logs; "
                                       "the live TLS probe proves it (test_diagnose_real)",
               "backend-bad-status-line": "a status line that does not parse logs what a port of "
                                          "another protocol does; the probe's HTTP answer tells "
                                          "(tests/lab/test_lab_scenarios.py)"}
WITH_CAUSE = [m for m in METAS if m.get("cause")]
assert WITH_CAUSE, f"no recorded fixtures under {FIXTURES}"
OFFLINE_PROVABLE = [m for m in WITH_CAUSE if m["scenario"] not in NEEDS_PROBE]


def materialize(meta: dict[str, Any], base: Path) -> dict[str, Any]:
    """Copy a fixture to ``base`` and put its real path where the recording wrote ``/lab``.

    The recorder replaced the run's temp dir by ``/lab`` everywhere (README.md); putting a real
    directory back makes the config's includes and the FPM pool files resolvable again.
    """
    placeholder = meta.get("root_placeholder", "/lab")
    root = base / meta["scenario"]
    for src in meta["dir"].rglob("*"):
        dst = root / src.relative_to(meta["dir"])
        if src.is_dir():
            dst.mkdir(parents=True, exist_ok=True)
            continue
        dst.parent.mkdir(parents=True, exist_ok=True)
        text = src.read_text(encoding="utf-8", errors="surrogateescape")
        dst.write_text(text.replace(placeholder, str(root)), encoding="utf-8", errors="surrogateescape")
    data = json.loads(json.dumps({k: v for k, v in meta.items() if k != "dir"})
                      .replace(placeholder, str(root)))
    data["dir"] = root
    return data


@pytest.fixture(scope="module")
def real(tmp_path_factory: pytest.TempPathFactory) -> Any:
    base = tmp_path_factory.mktemp("recorded")
    cache: dict[str, dict[str, Any]] = {}

    def get(meta: dict[str, Any]) -> dict[str, Any]:
        if meta["scenario"] not in cache:
            cache[meta["scenario"]] = materialize(meta, base)
        return cache[meta["scenario"]]
    return get


def options_for(meta: dict[str, Any]) -> DiagnoseOptions:
    d: Path = meta["dir"]
    files = meta["files"]
    return DiagnoseOptions(
        default_proxy_config=str(d / files["nginx_conf"]) if "nginx_conf" in files else None,
        config=str(d / files["config"]) if "config" in files else None,
        error_logs=[str(d / files["error_log"])],
        # another proxy's access log is for `why502 stats` (tests/apache), not diagnose's reader
        access_logs=[str(d / files["access_log"])] if "nginx_conf" in files and "access_log" in files
        else [],
        fpm_conf=str(d / files["fpm_conf"]) if "fpm_conf" in files else None,
        fpm_logs=[str(d / files["fpm_log"])] if "fpm_log" in files else [],
        kernel_log=str(d / files["kernel_log"]) if "kernel_log" in files else None,
        app_logs=[str(d / files["app_log"])] if "app_log" in files else [],
        offline=True)


def recorded_listeners(meta: dict[str, Any]) -> tuple[Listener, ...]:
    """The listening sockets of the recorded run (backends and FPM pools)."""
    out = []
    for b in meta.get("backends", []):
        host, port, _ = split_key(b["address"])
        out.append(Listener("tcp6" if ":" in (host or "") else "tcp", host, port, pid=None,
                                process="python3"))
    for p in meta.get("fpm_pools", []):
        listen = p["listen"]
        if listen.startswith("/"):
            out.append(Listener("unix", path=listen, process="php-fpm8.2"))
        else:
            host, port, _ = split_key(listen if ":" in listen else f"0.0.0.0:{listen}")
            out.append(Listener("tcp", host, port, process="php-fpm8.2"))
    return tuple(out)


def diagnose_fixture(meta: dict[str, Any], with_listeners: bool = True) -> tuple[Report, Gathered]:
    g = gather(options_for(meta))
    if with_listeners:
        g = replace(g, evidence=with_host_listeners(g.evidence, recorded_listeners(meta)))
    return report_from(g), g


@pytest.mark.parametrize("meta", OFFLINE_PROVABLE, ids=[m["scenario"] for m in OFFLINE_PROVABLE])
def test_top_finding_is_the_recorded_cause(meta: dict[str, Any], real: Any) -> None:
    report, g = diagnose_fixture(real(meta))
    causes = [(f.cause, f.confidence) for f in report.findings]
    assert report.findings, f"{meta['scenario']}: no finding; symptoms {g.evidence.logs.symptoms}"
    assert report.findings[0].cause == meta["cause"], causes
    top = report.findings[0]
    assert top.evidence, "a finding without evidence proves nothing"
    assert top.fix is not None and top.fix.summary
    assert 0 < top.confidence <= 1


@pytest.mark.parametrize("meta", WITH_CAUSE, ids=[m["scenario"] for m in WITH_CAUSE])
def test_every_recorded_symptom_is_explained_once(meta: dict[str, Any], real: Any) -> None:
    """Folding: a symptom group is claimed by one finding only (no duplicate findings)."""
    report, g = diagnose_fixture(real(meta))
    per_cause_target = [(f.cause, f.target) for f in report.findings]
    assert len(per_cause_target) == len(set(per_cause_target)), per_cause_target
    if g.evidence.logs.symptoms:
        explained = {s for f in report.findings for s in f.symptoms}
        proxy_symptoms = {s.symptom for s in g.evidence.logs.symptoms} - {"upstream-marked-down"}
        assert proxy_symptoms & explained, (proxy_symptoms, explained)


def test_client_abort_near_miss_is_healthy(real: Any) -> None:
    meta = real(_meta("client-abort"))
    report, _ = diagnose_fixture(meta)
    assert report.healthy, [f.cause for f in report.findings]


def _meta(name: str) -> dict[str, Any]:
    meta = next((m for m in METAS if m["scenario"] == name), None)
    assert meta is not None, f"no {name} fixture"
    return meta


def test_wrong_target_ipv6_names_the_real_listener_and_diffs_the_config(real: Any) -> None:
    meta = real(_meta("wrong-target-ipv6"))
    report, _ = diagnose_fixture(meta)
    top = report.findings[0]
    addr = meta["backends"][0]["address"]  # [::1]:PORT
    assert addr in top.explanation
    assert top.fix is not None and top.fix.diff is not None
    assert f"+        proxy_pass http://{addr}" in top.fix.diff or f"http://{addr}" in top.fix.diff
    assert "-" in top.fix.diff and "127.0.0.1:" in top.fix.diff


def test_wrong_target_fpm_socket_diff_points_at_the_pool_socket(real: Any) -> None:
    meta = real(_meta("wrong-target-fpm-socket"))
    report, _ = diagnose_fixture(meta)
    top = report.findings[0]
    assert top.fix is not None and top.fix.diff
    real = meta["fpm_pools"][0]["listen"]
    added = [ln for ln in top.fix.diff.splitlines() if ln.startswith("+") and not ln.startswith("+++")]
    assert any(f"unix:{real}" in ln and "fastcgi_pass" in ln for ln in added), top.fix.diff


def test_offline_without_listeners_still_names_a_cause(real: Any) -> None:
    """Offline (no socket table) a refused connect is read as 'not running', with lower confidence."""
    meta = real(_meta("wrong-target-ipv6"))
    report, _ = diagnose_fixture(meta, with_listeners=False)
    assert report.findings[0].cause == "backend-not-running"
    # lower than with the socket table (whatever the calibration map makes of either score)
    online, _ = diagnose_fixture(meta)
    assert report.findings[0].confidence < online.findings[0].confidence


def test_buffer_fix_raises_proxy_buffer_size_in_the_real_location(real: Any) -> None:
    meta = real(_meta("buffer-too-small"))
    report, _ = diagnose_fixture(meta)
    fix = report.findings[0].fix
    assert fix is not None and fix.diff
    conf = (meta["dir"] / "nginx.conf").read_text()
    assert "proxy_buffer_size" not in conf  # the default was in force
    added = [ln for ln in fix.diff.splitlines() if ln.startswith("+") and not ln.startswith("+++")]
    # the recorded backend sent a 12000-byte cookie: the new size must cover it, and the
    # proxy_buffers raised with it so nginx -t accepts proxy_busy_buffers_size
    assert any("proxy_buffer_size 16k;" in ln for ln in added), fix.diff
    assert any("proxy_buffers 8 16k;" in ln for ln in added), fix.diff
    assert str(meta["dir"] / "nginx.conf") in fix.diff


def test_keepalive_misconfigured_fix_adds_http11_and_clears_connection(real: Any) -> None:
    meta = real(_meta("keepalive-misconfigured"))
    report, _ = diagnose_fixture(meta)
    fix = report.findings[0].fix
    assert fix is not None and fix.diff
    assert "+" in fix.diff and "proxy_http_version 1.1;" in fix.diff
    assert 'proxy_set_header Connection "";' in fix.diff


def test_workers_exhausted_fpm_diff_raises_max_children(real: Any) -> None:
    meta = real(_meta("workers-exhausted-fpm"))
    report, _ = diagnose_fixture(meta)
    top = report.findings[0]
    assert "fpm-max-children" in " ".join(e.symptom or "" for e in top.evidence) or top.symptoms
    assert top.fix is not None and top.fix.diff and "pm.max_children = 4" in top.fix.diff


def test_upstream_returned_5xx_is_backed_by_the_access_log(real: Any) -> None:
    meta = real(_meta("upstream-returned-5xx"))
    report, g = diagnose_fixture(meta)
    assert not g.evidence.logs.symptoms  # nginx logged nothing: the backend made the 502
    top = report.findings[0]
    assert top.cause == "upstream-returned-5xx" and top.count >= 1
    assert any("upstream_header_time" in e.summary for e in top.evidence)


def test_recovered_incident_offline_is_past_then_healthy_with_since(real: Any) -> None:
    """The recording of an outage that ended: its cause is a past incident (the backend's port
    is in the socket table again); ``--since`` the recovery reads only the healthy time."""
    meta = real(_meta("past-incident-recovered"))
    report, _ = diagnose_fixture(meta)
    top = report.findings[0]
    assert top.cause == "backend-not-running" and "A past incident, recovered" in top.explanation
    assert top.title.startswith("Past incident, recovered:")  # the headline, not only the text
    g = gather(replace(options_for(meta), since=meta["since"]))
    g = replace(g, evidence=with_host_listeners(g.evidence, recorded_listeners(meta)))
    after = report_from(g)
    assert after.healthy and after.findings == [], [f.cause for f in after.findings]


def test_backend_on_another_loopback_address_is_named(real: Any) -> None:
    """127.0.0.2 is loopback too, but a socket bound there refuses 127.0.0.1: the finding names
    the listener on the other address and the diff points proxy_pass at it."""
    meta = real(_meta("wrong-target-loopback"))
    report, _ = diagnose_fixture(meta)
    top = report.findings[0]
    port = meta["backends"][0]["address"].rsplit(":", 1)[1]
    assert top.cause == "wrong-target"
    assert any(f"listens on 127.0.0.2:{port}" in e.summary for e in top.evidence), top.evidence
    assert top.fix is not None and top.fix.diff and f"proxy_pass http://127.0.0.2:{port};" \
        in top.fix.diff, top.fix.diff


def test_folded_no_live_upstreams_are_counted_under_the_cause(real: Any) -> None:
    """Every server of the group was stopped: nginx's 'no live upstreams' lines are the
    consequence, folded under backend-not-running -- with how many there were (the recording's
    own count), the first as proof, and the count kept in the JSON report."""
    meta = real(_meta("group-all-stopped"))
    lines = (meta["dir"] / meta["files"]["error_log"]).read_text().count("no live upstreams")
    assert lines >= 2
    report, _ = diagnose_fixture(meta)
    top = report.findings[0]
    assert top.cause == "backend-not-running" and "all-upstreams-down" not in [
        f.cause for f in report.findings]
    folded = [e for e in top.evidence if e.summary.startswith("consequence:")]
    assert len(folded) == 1, top.evidence
    item = folded[0]
    assert item.count == lines and f"{lines} 'no live upstreams' lines folded here" in item.summary
    assert item.symptom == "no-live-upstreams" and item.text and "no live upstreams" in item.text
    assert "no-live-upstreams" in top.symptoms
    again = Report.from_dict(report.to_dict())
    kept = [e for e in again.findings[0].evidence if e.summary.startswith("consequence:")]
    assert kept and kept[0].count == lines and kept[0].line == item.line


def _diff_sides(diff: str) -> tuple[list[str], list[str]]:
    lines = diff.splitlines()
    return ([x[1:] for x in lines if x.startswith("-") and not x.startswith("---")],
            [x[1:] for x in lines if x.startswith("+") and not x.startswith("+++")])


def test_servers_marked_down_in_the_config_are_the_cause(real: Any) -> None:
    """Both servers carry ``down``: nothing failed, the config is the cause (not folded under a
    failure), each server line is evidence and the diff removes ``down`` from both."""
    meta = real(_meta("upstream-down-in-config"))
    report, _ = diagnose_fixture(meta)
    top = report.findings[0]
    assert top.cause == "all-upstreams-down" and top.confidence >= 0.9
    assert "marked `down` in the config" in top.explanation
    assert sum("is marked down in upstream shop_pool" in e.summary for e in top.evidence) == 2
    assert top.fix is not None and top.fix.diff
    old, new = _diff_sides(top.fix.diff)
    assert len(old) == 2 and all(line.rstrip().endswith(" down;") for line in old), old
    assert len(new) == 2 and not any("down" in line for line in new), new


def test_max_fails_fail_timeout_are_the_problem_when_the_servers_answer_again(real: Any) -> None:
    """The three servers are back but nginx still refuses them for fail_timeout=30s after one
    failure each: the marking is the cause, said with the values, and the diff raises max_fails
    and shortens fail_timeout on every server line."""
    meta = real(_meta("all-upstreams-down"))
    report, _ = diagnose_fixture(meta)
    top = report.findings[0]
    assert top.cause == "all-upstreams-down", [f.cause for f in report.findings]
    assert "max_fails=1 fail_timeout=30s" in top.explanation
    assert top.fix is not None and "max_fails" in top.fix.summary and top.fix.diff
    old, new = _diff_sides(top.fix.diff)
    assert len(old) == 3 and all("max_fails=1 fail_timeout=30s;" in line for line in old), old
    assert len(new) == 3 and all("max_fails=3 fail_timeout=10s;" in line for line in new), new
