"""`why502 fleet` against a real Prometheus scraping 60 planted watch targets: the exact answer
and the fleet-level findings.

The targets serve the real watch scrapes of ``tests/fixtures/fleet/metrics/`` (one process,
60 loopback ports; ``bench/fleet_scale.py serve``, run as a program, not imported): 5 hosts fail
on one shared upstream, 4 hosts break within one minute on host-local upstreams, one host per
other recorded cause fails alone, 2 hosts have a config target down and 2 agents answer 503.
A real Prometheus (Debian ``prometheus``, temp dir, loopback, 1 s scrapes) with the rules of
``why502 watch --write-mixin`` scrapes them; ``why502 fleet`` must name every planted incident
with its cause and host, every down target and agent, and the two fleet-level findings --
nothing else.  No timing is asserted (the figures are the bench's, BENCHMARKS.md)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.monitoring import need

pytestmark = pytest.mark.real

BENCH = Path(__file__).resolve().parents[2] / "bench" / "fleet_scale.py"


@pytest.mark.parametrize("rules", ["recording-rules", "no-recording-rules"])
def test_fleet_is_exact_on_60_planted_hosts_and_folds_the_shared_upstream(
        tmp_path: Path, rules: str) -> None:
    need("prometheus")
    out = tmp_path / "fleet.json"
    run = subprocess.run([sys.executable, str(BENCH), "run", "--hosts", "60", "--shared", "5",
                          "--deploy", "4", "--scattered", "1", "--down", "2", "--agents-down", "2",
                          "--interval", "1", "--runs", "1", "--ready-timeout", "240",
                          "--json", str(out)]
                         + (["--no-recording-rules"] if rules == "no-recording-rules" else []),
                         capture_output=True, text=True, timeout=420)
    assert out.exists(), run.stderr[-3000:]
    result = json.loads(out.read_text())
    answer, planted = result["answer"], result["planted"]
    # what fleet said of each host, against what each host's body said (its open incidents and
    # down targets) and which agents were made to fail
    said = {h["instance"]: (h["open_incidents"], h["targets_down"], h["agent_down"])
            for h in answer["hosts"] if h["open_incidents"] or h["targets_down"] or h["agent_down"]}
    assert said == {name: (h["open_incidents"], h["targets_down"], h["agent_down"])
                    for name, h in planted["hosts"].items()}
    assert sum(1 for h in said.values() if h[2]) == 2
    assert sum(1 for h in said.values() if h[1]) == 2
    causes = {c for h in said.values() for c in h[0]}
    assert {"backend-not-running", "backend-too-slow", "backend-crashed", "dns-unresolvable",
            "app-fatal-error"} <= causes
    # the five hosts behind 10.20.0.5:5432 are ONE finding, the four of the deploy another
    upstream, together = answer["fleet_findings"]
    assert (upstream["kind"], upstream["target"], upstream["upstream"]) == (
        "upstream", "10.20.0.5:5432", "orders_db")
    assert len(upstream["hosts"]) == 5 and upstream["causes"] == {"backend-not-running": 5}
    assert upstream["summary"].startswith("one upstream, 5 hosts: 10.20.0.5:5432")
    assert together["kind"] == "started-together" and len(together["hosts"]) == 4
    assert "4 hosts started within 1 min at " in together["summary"]
    assert result["recorded"]["exact"] and result["no_rules"]["exact"], run.stderr[-3000:]
    # the default --range 5m: the recorded rates, or -- rules not loaded -- rate() at query
    # time; either way the hosts with traffic have a rate (the counters grow), not 0
    default = result["answers"]["recorded"]["hosts"]
    assert sum(1 for h in default if (h["requests_per_s"] or 0) > 0) >= 40
    assert run.returncode == 0, run.stderr[-3000:]
