"""The demo bundle is a complete, self-consistent recorded incident that diagnose explains."""

from __future__ import annotations

import json
import re
import shutil
from datetime import datetime
from pathlib import Path

from tests.support.paths import ROOT_DIR
from why502.lab.scenarios import RECORDINGS

DEMO = ROOT_DIR / "src" / "why502" / "demo"


def _manifest() -> dict:  # type: ignore[type-arg]
    return json.loads((DEMO / "manifest.json").read_text())


def _materialise(tmp: Path) -> dict[str, Path]:
    """The README's reader: rebuild the recorded tree under tmp, /lab replaced by tmp."""
    m = _manifest()
    root = m["root_placeholder"]
    where = {}
    for recorded, name in m["tree"].items():
        dest = tmp / recorded[len(root) + 1:]
        dest.parent.mkdir(parents=True, exist_ok=True)
        dest.write_text((DEMO / name).read_text().replace(root, str(tmp)))
        where[name] = dest
    return where


def test_manifest_points_at_real_files_and_no_temp_path_leaks() -> None:
    m = _manifest()
    assert m["format"] == 1
    assert m["expected"]["cause"] == "workers-exhausted"
    files = m["files"]
    names = [files["nginx_conf"], files["fpm_conf"], *files["error_logs"], *files["access_logs"],
             *files["fpm_logs"], *files["fpm_slowlogs"]]
    for name in names:
        assert (DEMO / name).is_file(), name
        assert name in m["tree"].values()
    for path in DEMO.iterdir():
        assert "/tmp/why502-lab" not in path.read_text(errors="replace"), path
    datetime.fromisoformat(m["now"])


def test_demo_logs_hold_the_incident_the_manifest_describes() -> None:
    m = _manifest()
    scenario = RECORDINGS[m["name"]]
    logs = {"error": m["files"]["error_logs"][0], "access": m["files"]["access_logs"][0],
            "fpm": m["files"]["fpm_logs"][0]}
    for log, pattern in scenario.expect:
        assert re.search(pattern, (DEMO / logs[log]).read_text()), (log, pattern)
    statuses = {r["status"] for r in m["responses"]}
    assert {200, 502, 504} <= statuses


def test_snapshot_recorded_the_busy_pool() -> None:
    snap = _manifest()["snapshot"]
    assert any(lst["endpoint"] == "unix:/lab/run/www.sock" for lst in snap["listeners"])
    fpm = [p for p in snap["probes"] if p["target"]["kind"] == "fastcgi"]
    assert fpm and fpm[0]["connect"][0]["ok"] is True
    assert fpm[0]["symptom"] == "workers-exhausted"


def test_materialised_tree_is_self_consistent(tmp_path: Path) -> None:
    where = _materialise(tmp_path)
    conf = where["nginx.conf"].read_text()
    assert f"error_log {tmp_path}/logs/error.log" in conf
    fpm = where["php-fpm.conf"].read_text()
    assert f"include = {tmp_path}/php-fpm.d/*.conf" in fpm
    assert (tmp_path / "php-fpm.d" / "www.conf").is_file()
    shutil.rmtree(tmp_path)


def test_diagnose_offline_on_the_bundle_finds_workers_exhausted(tmp_path: Path) -> None:
    from why502.app.diagnose import DiagnoseOptions, diagnose

    m = _manifest()
    where = _materialise(tmp_path)
    f = m["files"]
    report = diagnose(DiagnoseOptions(
        default_proxy_config=str(where[f["nginx_conf"]]),
        error_logs=[str(where[n]) for n in f["error_logs"]],
        access_logs=[str(where[n]) for n in f["access_logs"]],
        fpm_conf=str(where[f["fpm_conf"]]),
        fpm_logs=[str(where[n]) for n in f["fpm_logs"]],
        offline=True, now=datetime.fromisoformat(m["now"])))
    assert report.findings and report.findings[0].cause == "workers-exhausted"
