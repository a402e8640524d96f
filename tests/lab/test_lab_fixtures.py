"""The recorded fixtures are complete, portable, and really contain the symptoms they claim."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from tests.support.paths import FIXTURES_DIR
from why502.lab.scenarios import RECORDINGS
from why502.lab.scenarios.model import EDGE

RECORDED = FIXTURES_DIR / "recorded"
DIRS = sorted(p for p in RECORDED.iterdir() if p.is_dir())
LOGS = {"error": "error_log", "access": "access_log", "fpm": "fpm_log", "kernel": "kernel_log",
        "app": "app_log"}


def test_every_recording_recipe_has_a_fixture() -> None:
    names = {p.name for p in DIRS}
    missing = set(RECORDINGS) - names
    # socket-permissions needs root to record.  Envoy's and Caddy's are recorded too (h/envoyadmin;
    # their offline diagnoses: tests/lab/test_edge_recordings.py)
    assert missing <= {"socket-permissions"}, missing


@pytest.mark.parametrize("folder", DIRS, ids=[p.name for p in DIRS])
def test_fixture_layout_and_expectations(folder: Path) -> None:
    meta = json.loads((folder / "meta.json").read_text())
    assert meta["scenario"] == folder.name
    assert "nginx/" in meta["versions"]["nginx"]
    assert meta["recorded_at"]
    for role, name in meta["files"].items():
        assert (folder / name).is_file(), role
    proxy = meta.get("proxy", "nginx")
    main = {"nginx": ("nginx.conf", "error.log", "access.log"),
            "haproxy": ("haproxy.cfg", "haproxy.log"),
            "apache": ("apache2.conf", "apache-error.log"),
            # the edge proxies: Envoy's evidence is its access log, Caddy's its own log (stderr)
            "envoy": ("envoy.yaml", "envoy-access.log"), "caddy": ("Caddyfile", "caddy.out")}[proxy]
    for name in main:
        assert (folder / name).exists()
    for path in folder.rglob("*"):
        if path.is_file():
            text = path.read_text(errors="replace")
            assert "/tmp/why502-lab" not in text, f"temp path not normalised in {path}"
    # the patterns the recording promised are really in the recorded logs
    for log, pattern in meta["expect"]:
        text = (folder / meta["files"][LOGS[log]]).read_text(errors="replace")
        assert re.search(pattern, text), f"{folder.name}: {log} lacks {pattern}"
    if proxy == "haproxy":  # it logs to stdout (the recorded haproxy.log), in RFC 3164 form
        assert "log stdout format rfc3164" in (folder / "haproxy.cfg").read_text()
        return
    if proxy == "apache":
        assert "ErrorLog /lab/logs/apache-error.log" in (folder / "apache2.conf").read_text()
        return
    if proxy in EDGE:  # the program that wrote the logs, and the config naming them under /lab
        assert meta["versions"][proxy].startswith(f"{proxy} "), meta["versions"]
        assert "/lab/logs/" in (folder / main[0]).read_text()
        return
    # the config nginx ran with names the recorded logs under /lab
    conf = (folder / "nginx.conf").read_text()
    assert "error_log /lab/logs/error.log" in conf
    assert f"access_log /lab/logs/access.log {meta['log_format']['name']};" in conf


def test_fixtures_cover_the_symptoms_of_causes_md() -> None:
    covered = set()
    for folder in DIRS:
        covered.update(json.loads((folder / "meta.json").read_text())["symptoms"])
    wanted = {
        "connection-refused", "socket-not-found", "backlog-full", "connect-timeout", "read-timeout",
        "send-timeout", "premature-close", "connection-reset", "broken-pipe", "no-live-upstreams",
        "header-too-big", "invalid-response", "dns-failure", "tls-failure", "fd-exhaustion",
        "app-error", "fpm-max-children", "worker-crashed", "worker-timeout", "upstream-marked-down",
    }
    assert wanted <= covered, wanted - covered


def test_php_crash_loop_recorded_the_emergency_reload() -> None:
    log = (RECORDED / "php-crash-loop" / "php-fpm.log").read_text()
    assert "failed processes threshold (3 in 10 sec) is reached, initiating reload" in log
