"""``diagnose --config Caddyfile`` on Caddy 2.11.7's recorded logs (tests/fixtures/cloud/recorded/
caddy-2.11.7-pypi: a real Caddy in front of broken backends, ``expect.jsonl`` says what each
backend did): through gather -> analyzers -> rank, each faulty upstream is named with its cause,
also the timeout and the EOF whose Go error names no upstream (tied by the request's route)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from tests.conftest import RunMain
from tests.support.paths import FIXTURES_DIR

REC = FIXTURES_DIR / "cloud" / "recorded" / "caddy-2.11.7-pypi"

pytestmark = pytest.mark.skipif(shutil.which("caddy") is None,
                                reason="a Caddyfile is read through caddy adapt: caddy is not installed")


def test_recorded_caddy_faults_are_named_by_upstream(run_main: RunMain, tmp_path: Path) -> None:
    conf = tmp_path / "Caddyfile"
    conf.write_text((REC / "Caddyfile").read_text().replace("/lab/", f"{tmp_path}/"))
    code, out, err = run_main("diagnose", "--offline", "--config", str(conf), "--error-log",
                              str(REC / "caddy.stderr.log"), "--format", "json")
    assert code == 1, err
    found = {(f["cause"], f["upstream"]) for f in json.loads(out)["findings"]}
    # the upstream of each handle block of the recorded Caddyfile
    assert found >= {
        ("backend-not-running", "127.0.0.1:55717"),  # /dead: nothing listens
        ("backend-too-slow", "127.0.0.1:45139"),  # /slow: 3 s behind response_header_timeout 1s
        ("backend-crashed", "127.0.0.1:59965"),  # /crash: SIGKILL mid-request (EOF)
        ("backend-crashed", "127.0.0.1:33891"),  # /reset: RST before answering
        ("protocol-mismatch", "127.0.0.1:38863"),  # /invalid: a malformed header
    }
    assert any(up == "127.0.0.1:55001" for _, up in found)  # /unhealthy: refused, then marked down


def test_error_and_access_log_give_one_finding_per_failure(run_main: RunMain, tmp_path: Path) -> None:
    """Issue 24: with its config, Caddy's error log and its access log are the same requests
    twice (the error line when the proxy gives up, the access line when the 503/504 is sent);
    each failure is one finding, on the upstream the error line names, and the access log's
    line joins it (same site, request and client at the same time) instead of becoming a second
    finding on the site (the old code said all-upstreams-down and backend-too-slow twice)."""
    conf = tmp_path / "Caddyfile"
    conf.write_text((REC / "Caddyfile").read_text().replace("/lab/", f"{tmp_path}/"))
    code, out, err = run_main("diagnose", "--offline", "--config", str(conf),
                              "--error-log", str(REC / "caddy.stderr.log"),
                              "--access-log", str(REC / "caddy-access.log"), "--format", "json")
    assert code == 1, err
    report = json.loads(out)
    found = [(f["cause"], f["upstream"]) for f in report["findings"]]
    for cause in ("all-upstreams-down", "backend-too-slow"):
        assert [up for c, up in found if c == cause] == [
            {"all-upstreams-down": "127.0.0.1:55001", "backend-too-slow": "127.0.0.1:45139"}[cause]], found
    # the backend's own 502 (/status502: no error line) is still said, from the access log, and
    # named by the upstream of the route it matched (handle /status502*), not by the site
    assert ("upstream-returned-5xx", "127.0.0.1:47383") in found
    notes = [d["message"] for d in report["diagnostics"]]
    assert any("failed requests of the caddy access log are lines of its error log" in m
               for m in notes), notes
    assert not any("does not say why" in m for m in notes), notes
