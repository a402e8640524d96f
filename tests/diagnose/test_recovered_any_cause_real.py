"""A recovered incident of any cause, not only a backend that was not running (issue 31 item 4):
a real nginx in front of a backend too slow for ``proxy_read_timeout`` (504s), then the same
backend fast again (200s, the client counts them).  The access log says clients' later requests
to that upstream succeeded, so the finding is ``recovered``, the report exits 0 and prints no
restart command; without later successes (the conservative side) it stays current, exit 1."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from tests.support.clirun import why502
from why502.analyzers.rank import QUIET
from why502.lab.runtime import Stack, find_nginx
from why502.lab.runtime.machine import free_port

pytestmark = [pytest.mark.real, pytest.mark.skipif(find_nginx() is None, reason="needs nginx")]


def _slow_then(web: Stack, port: int, fast: bool) -> tuple[list[int], list[int]]:
    web.start_nginx(f"server {{ listen {web.listen}; location / {{ proxy_pass http://127.0.0.1:{port}; "
                    "proxy_read_timeout 1s; } }")
    slow = web.add_backend("slow", port=port, delay=3.0)
    failed = [web.request("/").status for _ in range(3)]
    later: list[int] = []
    if fast:
        assert slow.process is not None
        web.stop_process(slow.process)
        web.add_backend("ok", port=port)
        # clients' requests keep succeeding past analyzers.rank.QUIET after the last failure
        later = [web.request("/").status for _ in range(3)]
        time.sleep(QUIET.total_seconds() + 1)
        later += [web.request("/").status for _ in range(2)]
    return failed, later


def _diagnose(web: Stack, *extra: str) -> tuple[int, dict[str, object], str]:
    log_dir = web.p.nginx_conf.parent
    args = ("diagnose", "--config", str(web.p.nginx_conf), "--offline", *extra)
    res = why502(*args, "--format", "json", env={"WHY502_PROC_PIDS": "1"})
    text = why502(*args, "--width", "80")
    assert res.returncode == text.returncode, (res.stderr, text.stderr, log_dir)
    return res.returncode, json.loads(res.stdout), text.stdout


def test_a_too_slow_backend_that_is_fast_again_is_recovered_exit_0(tmp_path: Path) -> None:
    with Stack() as web:
        failed, later = _slow_then(web, free_port(), fast=True)
        assert failed == [504] * 3 and later == [200] * 5  # the client's own counts
        code, data, text = _diagnose(web)
    findings = data["findings"]
    assert isinstance(findings, list) and findings, data
    assert all(f["recovered"] for f in findings), [(f["cause"], f["recovered"]) for f in findings]
    top = findings[0]
    assert top["count"] == 3 and 504 in top["status_codes"], top
    assert "A past incident, recovered" in top["explanation"]
    assert code == 0, text
    assert text.splitlines()[0].startswith("✔ recovered:"), text
    for acting in ("systemctl start", "systemctl restart", "systemctl reload", "start the backend"):
        assert acting not in text


def test_without_later_successes_it_stays_current_exit_1(tmp_path: Path) -> None:
    with Stack() as web:
        failed, _ = _slow_then(web, free_port(), fast=False)
        assert failed == [504] * 3
        code, data, text = _diagnose(web)
    findings = data["findings"]
    assert isinstance(findings, list) and findings
    assert not findings[0]["recovered"], findings[0]
    assert code == 1 and text.splitlines()[0].startswith("✘ "), text
