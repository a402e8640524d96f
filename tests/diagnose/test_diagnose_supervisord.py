"""supervisord's log makes a crash loop visible (``why502 diagnose --app-log``).

The fixture is a real run (``why502 lab run backend-crash-loop``, recorded by
``scripts/record-fixtures``): a real supervisord (Debian's ``supervisor``) restarting an app that
exits at start-up, and the nginx that got ``connect() failed (111: Connection refused)`` meanwhile.
Without the supervisor's log the same nginx log only says "nothing listens" (backend-not-running);
with it, the restarts prove the loop.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from tests.support.paths import FIXTURES_DIR
from why502.evidence.events import event_from_text

RECORDED = FIXTURES_DIR / "recorded" / "backend-crash-loop"


def _diagnose(tmp_path: Path, *extra: str) -> dict[str, object]:
    conf = tmp_path / "nginx.conf"
    conf.write_text((RECORDED / "nginx.conf").read_text().replace("/lab", str(tmp_path)))
    res = subprocess.run(
        [sys.executable, "-m", "why502", "diagnose", "--offline", "--nginx-conf", str(conf),
         "--error-log", str(RECORDED / "error.log"), "--access-log", str(RECORDED / "access.log"),
         "--format", "json", *extra],
        capture_output=True, text=True, timeout=120, check=False,
        env={**os.environ, "NO_COLOR": "1"})
    assert "Traceback" not in res.stderr, res.stderr
    assert res.returncode == 1, res.stderr
    data: dict[str, object] = json.loads(res.stdout)
    return data


def test_supervisord_restarts_make_it_a_crash_loop(tmp_path: Path) -> None:
    report = _diagnose(tmp_path, "--app-log", str(RECORDED / "supervisord.log"))
    findings = report["findings"]
    assert isinstance(findings, list) and findings
    top = findings[0]
    assert top["cause"] == "backend-crash-loop", [f["cause"] for f in findings]
    assert "program 'app'" in top["explanation"] and "supervisord" in top["explanation"]
    assert any("supervisorctl status app" in c for c in top["fix"]["commands"])
    texts = [(e.get("text") or "") + " " + e["summary"] for e in top["evidence"]]
    assert any("exited: app (exit status 1; not expected)" in t or "gave up: app" in t
               for t in texts), texts


def test_without_the_supervisor_log_it_is_only_not_running(tmp_path: Path) -> None:
    report = _diagnose(tmp_path)
    findings = report["findings"]
    assert isinstance(findings, list) and findings
    assert findings[0]["cause"] == "backend-not-running"


def test_missing_app_log_is_a_one_line_input_error(tmp_path: Path) -> None:
    res = subprocess.run(
        [sys.executable, "-m", "why502", "diagnose", "--offline", "--error-log",
         str(RECORDED / "error.log"), "--app-log", str(tmp_path / "nope.log")],
        capture_output=True, text=True, timeout=60, check=False)
    assert res.returncode == 3
    assert "Traceback" not in res.stderr and "nope.log" in res.stderr


def test_supervisord_lines_name_the_program() -> None:
    spawned = event_from_text("unit-restart", "2026-11-21 21:55:35,816 INFO spawned: 'app' with pid 29510",
                              source="supervisord")
    assert (spawned.process, spawned.pid) == ("app", 29510)
    gave_up = event_from_text(
        "unit-failed", "gave up: app entered FATAL state, too many start retries too quickly",
        source="supervisord")
    assert gave_up.process == "app" and "gave up" in (gave_up.detail or "")
    # the same words from another program are not taken for supervisord's
    other = event_from_text("unit-restart", "spawned: 'app' with pid 1", source="systemd")
    assert other.process is None
