"""Every lab scenario really reproduces its failure on a real nginx, and diagnose names the cause.

``test_scenario_produces_its_symptoms`` proves the lab on its own (the messages nginx / PHP-FPM
wrote); ``test_diagnose_ranks_the_expected_cause_first`` checks why502 end to end on the live
stack (probes on).
"""

from __future__ import annotations

import pytest

from why502.lab.runtime import LabSkip, Stack, find_nginx
from why502.lab.scenarios import RECORDINGS, SCENARIOS, Scenario
from why502.lab.scenarios.model import EDGE

# Envoy's and Caddy's scenarios are run once each, symptoms and diagnosis (through the CLI) together,
# by tests/lab/test_edge_lab_live.py
_HERE = [n for n, s in RECORDINGS.items() if s.proxy not in EDGE]

pytestmark = [
    pytest.mark.real,
    pytest.mark.skipif(find_nginx() is None, reason="nginx is not installed"),
]


def _run(scenario: Scenario, stack: Stack):  # type: ignore[no-untyped-def]
    try:
        return scenario.run(stack)
    except LabSkip as err:
        pytest.skip(str(err))


@pytest.mark.parametrize("name", _HERE)
def test_scenario_produces_its_symptoms(name: str) -> None:
    scenario = RECORDINGS[name]
    with Stack() as stack:
        result = _run(scenario, stack)
        assert scenario.unmet(result) == []
        assert result.responses, "the scenario sent no request"
        pids = [p.pid for p in stack.processes]
    for pid in pids:
        with pytest.raises(ProcessLookupError):
            import os

            os.kill(pid, 0)


def test_at_least_forty_lab_scenarios_and_fifteen_distinct_causes() -> None:
    assert len(SCENARIOS) >= 40
    assert len({s.cause for s in SCENARIOS.values()}) >= 15


@pytest.mark.parametrize("name", [n for n in SCENARIOS if n in _HERE])
def test_diagnose_ranks_the_expected_cause_first(name: str) -> None:
    from why502.app.diagnose import diagnose

    scenario = SCENARIOS[name]
    with Stack() as stack:
        result = _run(scenario, stack)
        with stack.inside():  # a namespaced stack is probed from inside its namespace
            report = diagnose(result.diagnose_options(stack))
    causes = [f.cause for f in report.findings]
    assert causes and causes[0] == scenario.cause, causes


def test_machine_scenarios_skip_with_a_reason_without_root(monkeypatch: pytest.MonkeyPatch) -> None:
    import shutil

    from why502.lab.runtime import machine

    monkeypatch.setattr(machine, "is_root", lambda: False)
    reasons = {}
    for name in ("backend-oom-killed", "port-exhaustion", "network-unreachable"):
        with pytest.raises(LabSkip) as err:
            SCENARIOS[name].check_requirements()
        reasons[name] = str(err.value)
    assert "needs root" in reasons["backend-oom-killed"] and "cgroup" in reasons["backend-oom-killed"]
    assert "network namespace" in reasons["port-exhaustion"]
    with Stack() as stack, pytest.raises(LabSkip, match="needs root"):
        stack.memory_cgroup(64)
    monkeypatch.setattr(shutil, "which", lambda name: None)
    with pytest.raises(LabSkip, match="supervisord"):
        SCENARIOS["backend-crash-loop"].check_requirements()


def test_a_recovered_incident_is_past_and_healthy_after_since() -> None:
    """The outage ended: without --since its cause is named as a past incident (the backend
    answers now); with --since the recovery nothing fails and the host is healthy."""
    from why502.app.diagnose import diagnose

    with Stack() as stack:
        result = _run(SCENARIOS["past-incident-recovered"], stack)
        assert result.since
        whole = diagnose(result.diagnose_options(stack))
        after = diagnose(result.diagnose_options(stack, since=result.since))
    assert [f.cause for f in whole.findings][:1] == ["backend-not-running"]
    assert "A past incident, recovered" in whole.findings[0].explanation
    assert f"--since {result.since}" in whole.findings[0].explanation
    assert after.healthy and after.findings == [], [f.cause for f in after.findings]
