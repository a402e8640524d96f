"""The keep-alive race is weighed, worded and fixed in one place (issue 25 item 2):
``analyzers.keepalive.race``, asked by ``config_limits`` (a group's keep-alive pool: nginx's
``upstream keepalive``, Caddy's default pool) and by ``edge_apps.refine`` (an edge log's drops on a
target alive around them: Envoy's ``UC``, Caddy's ``EOF``).  Before, the same evidence was stated
0.6 behind Envoy and 0.71 behind Caddy, with two different fixes; these tests fail if the two
paths part again.  Recorded fixtures: tests/fixtures/recorded/envoy-keepalive-race (a real Envoy
1.40) and tests/fixtures/matrix-cells/caddy-keepalive-race (a real Caddy 2.6), their READMEs."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import pytest

from tests.support.evidence import evidence
from tests.support.paths import FIXTURES_DIR, matrix_cell
from why502.analyzers import edge_apps, keepalive
from why502.app.diagnose import DiagnoseOptions
from why502.app.diagnose.gather import gather
from why502.app.diagnose.report import report_from
from why502.evidence.lb_evidence import LbEvidence, TargetLife
from why502.evidence.model import EdgeFacts, TargetFact
from why502.facts.edits import CloseIdleBefore, Place, Route
from why502.facts.setting import Setting
from why502.findings.model import Finding, Fix
from why502.proxies import PROXIES, render_edit

KEY = "127.0.0.1:48819"


def _crashed() -> Finding:
    return Finding(cause="backend-crashed", title="t", confidence=0.57, status_codes=[502, 503],
                   symptoms=["connection-reset"], explanation="x", target=KEY,
                   first_seen="2026-11-24T12:04:20", last_seen="2026-11-24T12:04:21", count=1,
                   fix=Fix(summary="s", commands=[]))


def _edge(family: str) -> tuple[Any, LbEvidence]:
    """The same evidence behind each edge: one target that answered, failed once, answered again;
    no app server's log, no probe (offline)."""
    target = TargetFact(key=KEY, kind="proxy", scheme="http", host="127.0.0.1", port=48819, group="api")
    lb = LbEvidence(family=family, targets={KEY: TargetLife(ok=3, failed=1, first_failed_after_ok="t",
                                                            ok_after_failure=True)})
    ev = evidence(proxy=None)
    return dataclasses.replace(ev, edge=EdgeFacts(families=(lb,), targets=(target,))), lb


def test_envoy_and_caddy_state_the_same_confidence_for_the_same_evidence() -> None:
    said = {}
    for family in ("envoy", "caddy"):
        ev, lb = _edge(family)
        f = edge_apps.refine(ev, lb, _crashed())
        assert f.cause == "keepalive-race", family
        said[family] = f
    assert said["envoy"].confidence == said["caddy"].confidence
    # the proxy's side first, in each proxy's own words, then the app's
    assert said["envoy"].fix and said["envoy"].fix.summary.startswith(
        "make Envoy drop idle upstream connections before the backend does (idle_timeout")
    assert said["caddy"].fix and said["caddy"].fix.summary.startswith(
        "make Caddy drop idle upstream connections before the backend does (keepalive")
    for f in said.values():
        assert f.fix and ", or raise the backend's keep-alive timeout above" in f.fix.summary
        assert "nginx" not in f.explanation + f.title  # no catalog text in another proxy's words
    # a cloud load balancer has no plug-in: the same rule and words, its fix said in words
    ev, lb = _edge("alb")
    alb = edge_apps.refine(ev, lb, _crashed())
    assert alb.confidence == said["envoy"].confidence and alb.fix and not alb.fix.diff
    assert alb.fix.summary.startswith("make the ALB drop idle upstream connections")


def test_the_config_pool_and_the_edge_log_weigh_alike() -> None:
    """config_limits' reading (a default pool, the only upstream alive around the drops) and
    refine's (a target alive around its drops) are one rule's ALIVE."""
    r = keepalive.Reuse(proxy=PROXIES["caddy"], name="Caddy", group=None, by_default=True,
                        alive="answered before and after")
    assert keepalive.weigh(None, r) == keepalive.ALIVE
    ev, lb = _edge("envoy")
    from why502.catalog.calibration import calibrate

    assert edge_apps.refine(ev, lb, _crashed()).confidence == calibrate(keepalive.ALIVE)


@pytest.mark.parametrize(("verdict", "fields", "expected"), [
    ("shorter", {}, keepalive.SHORTER),
    ("longer", {"alive": "yes"}, keepalive.REFUTED),
    ("closes", {"sporadic": True}, keepalive.REFUTED),
    (None, {"alive": "yes"}, keepalive.ALIVE),
    (None, {"sporadic": True}, keepalive.ALIVE),
    (None, {}, keepalive.DROPS),
    (None, {"by_default": True}, keepalive.UNASKED),
    (None, {"by_default": True, "mostly_ok": True}, keepalive.DROPS),
])
def test_the_one_rule(verdict: str | None, fields: dict[str, Any], expected: float) -> None:
    r = keepalive.Reuse(proxy=None, name="the proxy", group=None, **fields)
    assert keepalive.weigh(verdict, r) == expected


def _envoy_recorded(tmp_path: Path) -> Path:
    src = FIXTURES_DIR / "recorded" / "envoy-keepalive-race"
    root = tmp_path / "envoy"
    root.mkdir()
    for f in src.iterdir():
        (root / f.name).write_text(f.read_text().replace("/lab", str(root)))
    return root


def _top(opts: DiagnoseOptions) -> Finding:
    g = gather(opts)
    return report_from(g).findings[0]


def test_recorded_envoy_and_caddy_races_read_alike(tmp_path: Path) -> None:
    """The real recordings, diagnosed offline as a user runs it: the same reading (a target alive
    around its drops, no app keep-alive read) is stated the same, each with its proxy's diff."""
    env = _envoy_recorded(tmp_path)
    envoy = _top(DiagnoseOptions(config=str(env / "envoy.yaml"), proxy="envoy",
                                 access_logs=[str(env / "envoy-access.log")], offline=True))
    cell = matrix_cell("caddy-keepalive-race", tmp_path)
    caddy = _top(DiagnoseOptions(config=str(cell / "Caddyfile"), proxy="caddy",
                                 error_logs=[str(cell / "caddy.out")],
                                 access_logs=[str(cell / "caddy-access.log")], offline=True))
    assert envoy.cause == caddy.cause == "keepalive-race"
    assert envoy.confidence == caddy.confidence
    assert envoy.fix and envoy.fix.diff and "+          idle_timeout: 1s" in envoy.fix.diff
    assert caddy.fix and caddy.fix.diff and "+\t\t\tkeepalive 1s" in caddy.fix.diff
    for f in (envoy, caddy):
        assert "Competing reading: a backend that crashed and was restarted" in f.explanation


def test_each_plugin_renders_the_idle_timeout_below_the_apps(tmp_path: Path) -> None:
    env = _envoy_recorded(tmp_path)
    path = str(env / "envoy.yaml")
    files = {path: tuple((env / "envoy.yaml").read_text().splitlines())}
    cluster_line = next(i for i, line in enumerate(files[path], 1) if "name: api" in line)
    intent = CloseIdleBefore("api", Place(path, cluster_line), None, Setting("1h", is_default=True), 2.0,
                             (Route(Place(path, cluster_line), "proxy"),))
    diff = render_edit("envoy", files, intent)
    assert diff and "idle_timeout: 1s" in diff  # half of gunicorn's 2 s default
    cell = matrix_cell("caddy-keepalive-race", tmp_path)
    cfile = str(cell / "Caddyfile")
    lines = tuple((cell / "Caddyfile").read_text().splitlines())
    rp = next(i for i, line in enumerate(lines, 1) if "reverse_proxy" in line)
    route = Route(Place(cfile, rp), "proxy")
    diff = render_edit("caddy", {cfile: lines}, CloseIdleBefore(KEY, route.place, None, None, 1.0, (route,)))
    assert diff and "keepalive 500ms" in diff


def test_app_keepalive_shorter_names_the_proxy_side_first() -> None:
    """The app server's own keep-alive read (the recorded gunicorn run behind nginx,
    tests/fixtures/appservers): the fix is the proxy's idle timeout first, then the app's."""
    d = FIXTURES_DIR / "appservers" / "gunicorn-keepalive-race"
    top = _top(DiagnoseOptions(default_proxy_config=str(d / "nginx.conf"), error_logs=[str(d / "error.log")],
                               access_logs=[str(d / "access.log")], app_logs=[str(d / "gunicorn.log")],
                               app_confs=[str(d / "gunicorn.conf.py")], offline=True))
    assert top.cause == "keepalive-race" and top.confidence > 0.9
    assert top.fix is not None
    summary = top.fix.summary
    assert summary.startswith("make nginx drop idle upstream connections before the backend does "
                              "(keepalive_timeout below gunicorn")
    assert summary.index("keepalive_timeout below") < summary.index("gunicorn.conf.py:2: keepalive = 75")
    assert top.fix.diff and "keepalive_timeout 500ms" in top.fix.diff
