"""What a user copies to run watch under systemd and Prometheus/Alertmanager is accepted by their
checkers (the rules themselves: tests/watch/test_mixin.py)."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from tests.support.clirun import WHY502, why502
from tests.support.monitoring import need
from tests.support.paths import ROOT_DIR

pytestmark = pytest.mark.real


def test_systemd_unit_passes_systemd_analyze_verify(tmp_path: Path) -> None:
    analyze = need("systemd-analyze")
    unit = (ROOT_DIR / "contrib" / "systemd" / "why502-watch.service").read_text()
    assert "ExecStart=/usr/local/bin/why502 watch " in unit
    # verify checks that the binary exists: point it at the one under test
    copy = tmp_path / "why502-watch.service"
    copy.write_text(unit.replace("/usr/local/bin/why502", WHY502))
    out = subprocess.run([analyze, "verify", str(copy)], capture_output=True, text=True,
                         timeout=60, check=False)
    assert out.returncode == 0 and not out.stderr.strip(), out.stderr


def test_documented_scrape_config_and_alertmanager_route_pass_their_checkers(tmp_path: Path) -> None:
    """The prometheus.yml and alertmanager.yml of the watch guide are what a user copies:
    promtool and amtool must accept them as they are (the rules file path pointed at
    --print-rules)."""
    import re

    promtool, amtool = need("promtool"), need("amtool")
    readme = (ROOT_DIR / "docs" / "guide" / "watch.md").read_text()
    blocks = re.findall(r"```yaml\n(.*?)```", readme, re.S)
    prom = next(b for b in blocks if b.startswith("# prometheus.yml"))
    am = next(b for b in blocks if b.startswith("# alertmanager.yml"))
    (tmp_path / "why502.yml").write_text(why502("watch", "--print-rules").stdout)
    (tmp_path / "prometheus.yml").write_text(
        prom.replace("/etc/prometheus/rules/why502.yml", str(tmp_path / "why502.yml")))
    (tmp_path / "alertmanager.yml").write_text(am)
    for argv in ([promtool, "check", "config", "prometheus.yml"],
                 [amtool, "check-config", "alertmanager.yml"]):
        out = subprocess.run(argv, cwd=tmp_path, capture_output=True, text=True, timeout=60,
                             check=False)
        assert out.returncode == 0, out.stdout + out.stderr
    assert "job_name: why502" in prom and 'alertname=~"Why502.*"' in am
