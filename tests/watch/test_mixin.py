"""The monitoring mixin (contrib/monitoring-mixin/): shipped as rendered, checked and unit-tested by
promtool, one alert per catalog cause that fires for its own cause only, a dashboard whose every
query parses and names only metrics watch exports."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest
from prometheus_client import generate_latest

from tests.support.clirun import why502
from tests.support.monitoring import need
from tests.support.paths import ROOT_DIR
from why502.app.watch import mixin
from why502.app.watch.metrics import Metrics
from why502.catalog import load_catalog

MIXIN = ROOT_DIR / "contrib" / "monitoring-mixin"
FILES = ("prometheus_alerts.yaml", "prometheus_rules.yaml", "dashboards/why502-overview.json")


def _promtool(*argv: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([need("promtool"), *argv], cwd=cwd, capture_output=True, text=True,
                          timeout=120, check=False)


def test_shipped_mixin_is_what_the_command_renders(tmp_path: Path) -> None:
    out = why502("watch", "--write-mixin", str(tmp_path / "m"))
    assert out.returncode == 0, out.stderr
    for name in FILES:
        shipped = (MIXIN / name).read_text(encoding="utf-8")
        assert (tmp_path / "m" / name).read_text(encoding="utf-8") == shipped, (
            f"{name} is stale: run `why502 watch --write-mixin contrib/monitoring-mixin`")
    printed = why502("watch", "--print-rules")
    assert printed.returncode == 0 and printed.stdout == (MIXIN / FILES[0]).read_text("utf-8")


def test_write_mixin_to_an_unwritable_place_is_one_line(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("x")
    out = why502("watch", "--write-mixin", str(blocker / "sub"))
    assert out.returncode == 3 and "Traceback" not in out.stderr
    assert len(out.stderr.strip().splitlines()) == 1, out.stderr


@pytest.mark.real
def test_promtool_checks_and_unit_tests_the_shipped_rules() -> None:
    check = _promtool("check", "rules", FILES[0], FILES[1], cwd=MIXIN)
    assert check.returncode == 0, check.stdout + check.stderr
    causes = len(load_catalog().of_kind("cause"))
    assert f"{causes + 6} rules found" in check.stdout  # causes + undiagnosed, ratio, 4 agent
    test = _promtool("test", "rules", "tests/alerts_test.yaml", cwd=MIXIN)
    assert test.returncode == 0, test.stdout + test.stderr


@pytest.mark.real
def test_every_cause_alert_fires_for_its_own_cause_only(tmp_path: Path) -> None:
    """A generated promtool test: host N has an incident of cause N open from 1m to 2m; at 1m
    each cause's alert fires for its host alone, at 0m and 3m for none."""
    causes = load_catalog().of_kind("cause")
    shutil.copy(MIXIN / FILES[0], tmp_path / "alerts.yaml")
    series = [{"series": f'why502_incidents_open{{instance="h{i}:9502", job="why502", '
                         f'cause="{e.id}"}}', "values": "0 1 1 0"}
              for i, e in enumerate(causes)]
    alerts = {r.alert: r for _, rules in mixin.alert_groups() for r in rules}
    cases = []
    for i, e in enumerate(causes):
        rule = alerts[mixin.alert_name(e.id)]
        host = f"h{i}:9502"
        fired = {"exp_labels": {**dict(rule.labels), "instance": host, "job": "why502"},
                 "exp_annotations": {k: v.replace("{{ $labels.instance }}", host)
                                     for k, v in rule.annotations}}
        cases += [{"eval_time": "0m", "alertname": rule.alert, "exp_alerts": []},
                  {"eval_time": "1m", "alertname": rule.alert, "exp_alerts": [fired]},
                  {"eval_time": "3m", "alertname": rule.alert, "exp_alerts": []}]
    cases.append({"eval_time": "5m", "alertname": "Why502IncidentUndiagnosed", "exp_alerts": []})
    spec = {"rule_files": ["alerts.yaml"], "evaluation_interval": "1m",
            "tests": [{"interval": "1m", "input_series": series, "alert_rule_test": cases}]}
    (tmp_path / "causes_test.yaml").write_text(json.dumps(spec))  # JSON is YAML
    test = _promtool("test", "rules", "causes_test.yaml", cwd=tmp_path)
    assert test.returncode == 0, test.stdout + test.stderr


def _dashboard_exprs() -> list[str]:
    board = json.loads((MIXIN / FILES[2]).read_text(encoding="utf-8"))
    return [t["expr"] for p in board["panels"] for t in p["targets"]]


@pytest.mark.real
def test_every_dashboard_query_parses(tmp_path: Path) -> None:
    """promtool parses each panel's PromQL (as a recording rule; $instance made a regex)."""
    exprs = _dashboard_exprs()
    rules = {"groups": [{"name": "dashboard", "rules": [
        {"record": f"dashboard:q{i}", "expr": e.replace("$instance", ".*")}
        for i, e in enumerate(exprs)]}]}
    (tmp_path / "dash.yaml").write_text(json.dumps(rules))
    check = _promtool("check", "rules", "dash.yaml", cwd=tmp_path)
    assert check.returncode == 0, check.stdout + check.stderr
    assert f"{len(exprs)} rules found" in check.stdout


def test_every_metric_the_mixin_names_is_one_watch_exports() -> None:
    """Each ``why502_*`` name in the alerts, recording rules and dashboard is a series of a
    watch's /metrics (every metric given one sample), so no panel or alert queries nothing."""
    m = Metrics()
    t = m.traffic
    t.requests[("app", "502")] = 1
    t.responses[("127.0.0.1:8080", "502")] = 1
    t.buckets["127.0.0.1:8080"] = [1] * 13
    t.sums["127.0.0.1:8080"], t.counts["127.0.0.1:8080"] = 0.1, 1
    m.upstream_failures.labels("connection-refused", "127.0.0.1:8080").inc()
    m.incidents_open.labels("backend-not-running").set(1)
    m.incidents.labels("backend-not-running").inc()
    for metric in (m.lines, m.unparsed, m.rotation_gaps, m.follow_errors):
        metric.labels("/var/log/nginx/access.log").inc()
    m.lag.labels("/var/log/nginx/access.log").set(0)
    m.target_up.labels("127.0.0.1:8080").set(1)
    m.target_latency.labels("127.0.0.1:8080").set(0.01)
    m.alertmanager_up(True)
    exported = set(re.findall(r"^(why502_[a-z_]+)[{ ]", generate_latest(m.registry).decode(), re.M))
    text = "\n".join((MIXIN / name).read_text(encoding="utf-8") for name in FILES)
    named = set(re.findall(r"(?<![:\w])(why502_[a-z_]+)(?![:\w])", text))
    assert named and named <= exported, named - exported
