"""`why502 fleet`'s fleet-level findings: many hosts on one upstream, or started within one
minute, said once with the hosts folded.

The first test reads what a real Prometheus answered to every query of ``fleet`` while it
scraped 60 planted targets (``tests/fixtures/fleet/prometheus/answers.json``, recorded by
``bench/fleet_scale.py run --record-api``; its ``plan`` says what was planted where, its bodies
are the real watch scrapes of ``tests/fixtures/fleet/metrics/``); the others are the grouping
rules on hand-made incidents."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from why502.app.fleet import (
    MIN_HOSTS,
    Fleet,
    IncidentView,
    assemble,
    fleet_findings,
    is_local,
    parse_answer,
)
from why502.findings.results import FleetReport
from why502.reporters.options import RenderOptions
from why502.reporters.text import render


def _text(answer: Fleet, show_all: bool) -> str:
    """The text reporter's page of ``answer`` (as ``why502 fleet`` prints it, wide enough)."""
    report = FleetReport.from_dict(answer.to_dict(rounded=False))
    return render(report, RenderOptions(width=1000, show_all=show_all)).rstrip("\n")


FIXTURE = Path(__file__).parent.parent / "fixtures" / "fleet" / "prometheus" / "answers.json"


def recorded() -> tuple[dict[str, Any], Fleet]:
    data = json.loads(FIXTURE.read_text())
    answers = {name: parse_answer(a["answer"], 200, "fixture", a["query"])
               for name, a in data["answers"].items()}
    for name in ("hosts", "agents_down", "requests", "errors"):  # fleet reads the recorded ones
        answers[name] = answers.pop(f"{name}_recorded")
    return data, assemble(lambda name: answers.get(name, []))


def test_recorded_answers_give_the_planted_hosts_and_the_two_fleet_findings() -> None:
    data, answer = recorded()
    plan = data["plan"]
    kinds = {p["instance"]: p["kind"] for p in plan}
    assert [h.instance for h in answer.hosts if h.agent_down] == sorted(
        i for i, k in kinds.items() if k == "agent-down")
    with_incident = {h.instance for h in answer.hosts if h.causes}
    assert with_incident == {i for i, k in kinds.items() if k in ("shared", "deploy", "scattered", "down")}
    assert {h.instance for h in answer.hosts if h.down} == {i for i, k in kinds.items() if k == "down"}
    # every planted incident with the cause of the body its host served
    for p in plan:
        host = next(h for h in answer.hosts if h.instance == p["instance"])
        if p["kind"] in ("shared", "deploy", "scattered"):
            assert host.causes == [p["template"]], p
    upstream, together = answer.findings
    assert upstream.kind == "upstream" and upstream.target == "10.20.0.5:5432"
    assert upstream.upstream == "orders_db"
    assert list(upstream.hosts) == sorted(i for i, k in kinds.items() if k == "shared")
    assert upstream.headline().startswith(f"one upstream, {len(upstream.hosts)} hosts: 10.20.0.5:5432")
    assert together.kind == "started-together"
    assert list(together.hosts) == sorted(i for i, k in kinds.items() if k == "deploy")
    assert f"{len(together.hosts)} hosts started within 1 min at " in together.headline()
    # the hosts of a finding are folded in the text: not one row each
    text = _text(answer, show_all=False)
    rows = [line.split()[0] for line in text.splitlines() if line.startswith("web")]
    assert text.count("10.20.0.5:5432") == 1
    assert not set(rows) & set(upstream.hosts + together.hosts), rows  # no row of their own
    assert set(rows) == {i for i, k in kinds.items() if k in ("scattered", "down", "agent-down")}
    assert "watch not answering scrapes" in text
    assert "hosts in the fleet-level findings above" in text
    # a silent agent's rates are unknown ("-"), not 0
    silent = [h for h in answer.hosts if h.agent_down]
    assert silent and all(h.requests_per_s is None and h.errors_per_s is None for h in silent)
    assert len(_text(answer, show_all=True).splitlines()) > len(text.splitlines())


def test_the_json_keeps_every_host_and_adds_the_findings() -> None:
    _, answer = recorded()
    d = answer.to_dict()
    assert set(d) == {"hosts", "fleet_findings"}
    assert len(d["hosts"]) == len(answer.hosts)
    assert {"instance", "open_incidents", "errors_5xx_per_s", "requests_per_s",
            "targets_down"} <= set(d["hosts"][0])
    f = d["fleet_findings"][0]
    assert f["kind"] == "upstream" and f["summary"].startswith("one upstream, ")
    assert f["first_started"].endswith("Z")


@pytest.mark.parametrize("address,local", [
    ("127.0.0.1:9000", True), ("http://127.0.0.5:80", True), ("[::1]:8080", True),
    ("unix:/run/php/php8.2-fpm.sock", True), ("localhost:8080", True),
    ("10.0.0.5:5432", False), ("db.internal:5432", False), ("http://[2001:db8::1]:80", False),
])
def test_host_local_addresses(address: str, local: bool) -> None:
    assert is_local(address) is local


def inc(host: str, cause: str = "backend-not-running", upstream: str = "", target: str = "",
        started: float | None = None) -> IncidentView:
    return IncidentView(host, cause, upstream, target, started)


def test_one_shared_address_is_one_finding_whatever_the_scheme() -> None:
    incidents = [inc("web1", target="http://10.0.0.5:80"), inc("web2", target="10.0.0.5:80"),
                 inc("web3", cause="backend-too-slow", target="https://10.0.0.5:80")]
    [f] = fleet_findings(incidents)
    assert (f.kind, f.target, f.hosts) == ("upstream", "10.0.0.5:80", ("web1", "web2", "web3"))
    assert dict(f.causes) == {"backend-not-running": 2, "backend-too-slow": 1}


def test_fewer_than_min_hosts_is_no_finding() -> None:
    incidents = [inc(f"web{n}", target="10.0.0.5:80", started=1000.0) for n in range(MIN_HOSTS - 1)]
    assert fleet_findings(incidents) == []


def test_loopback_upstreams_are_never_shared_but_may_start_together() -> None:
    # every host's own app on 127.0.0.1:9000: not one upstream; far apart in time: nothing
    apart = [inc(f"web{n}", upstream="127.0.0.1:9000", target="127.0.0.1:9000",
                 started=1000.0 + 600 * n) for n in range(5)]
    assert fleet_findings(apart) == []
    # the same, within a minute (one deploy): one started-together finding
    together = [inc(f"web{n}", upstream="app", target="127.0.0.1:9000", started=1000.0 + 10 * n)
                for n in range(5)]
    [f] = fleet_findings(together)
    assert f.kind == "started-together" and len(f.hosts) == 5
    assert f.first_started == 1000.0 and f.last_started == 1040.0


def test_the_same_upstream_name_over_different_members_is_one_upstream() -> None:
    incidents = [inc(f"web{n}", upstream="api", target=f"10.0.1.{n}:8080", started=1000.0 * n)
                 for n in range(1, 5)]
    [f] = fleet_findings(incidents)
    assert (f.kind, f.upstream, f.target) == ("upstream", "api", "")
    assert f.headline().startswith("one upstream, 4 hosts: api: backend-not-running")


def test_hosts_of_an_upstream_finding_are_not_counted_again_by_time() -> None:
    shared = [inc(f"db{n}", target="10.0.0.5:5432", started=1000.0 + n) for n in range(4)]
    deploy = [inc(f"web{n}", target="127.0.0.1:9000", started=5000.0 + n) for n in range(3)]
    findings = fleet_findings(shared + deploy)
    assert [(f.kind, len(f.hosts)) for f in findings] == [("upstream", 4), ("started-together", 3)]


def test_the_minute_is_found_from_its_first_start_greedily() -> None:
    times = [0.0, 50.0, 70.0, 80.0, 90.0, 400.0]
    [f] = fleet_findings([inc(f"web{n}", started=1e9 + t) for n, t in enumerate(times)])
    assert f.hosts == ("web1", "web2", "web3", "web4")


def test_incidents_without_identity_make_no_finding() -> None:
    # an older watch exports no upstream and no start: the fleet lists the hosts, groups none
    assert fleet_findings([inc(f"web{n}") for n in range(10)]) == []
