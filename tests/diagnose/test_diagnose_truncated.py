"""Error lines cut at nginx's 2048-byte limit are still failures, with an unknown target.

nginx formats an error line into ``NGX_MAX_ERROR_STR`` (2048) bytes (``src/core/ngx_log.h``) and
appends ``upstream: "..."`` after the request line, so a long URI pushes the upstream field out.
``error-truncated.log`` is such a line, written by a real nginx 1.22 for a 3000-byte URI to a
backend that refused (tests/fixtures/hostile/README.md).  diagnose once said "healthy" for it
(the line named no peer, and the connect analyzer skipped lines without one) and blamed the
backend for the 502 ("the error log is silent").
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.support.clirun import why502
from tests.support.paths import FIXTURES_DIR

HOSTILE = FIXTURES_DIR / "hostile"
CONF = str(HOSTILE / "nginx-truncated.conf")
LONG = "/q?" + "A" * 2100


def _diagnose(*args: str) -> dict[str, object]:
    res = why502("diagnose", "--offline", "--nginx-conf", CONF, *args, "--format", "json")
    assert res.returncode == 1, res.stderr  # findings, never "healthy" (0)
    doc: dict[str, object] = json.loads(res.stdout)
    return doc


def test_the_recorded_truncated_line_is_2047_bytes_without_upstream() -> None:
    line = (HOSTILE / "error-truncated.log").read_bytes()
    assert len(line) == 2048 and line.endswith(b"\n")  # 2047 + the newline nginx keeps room for
    assert b"upstream:" not in line.split(b"request:")[1]


def test_a_refusal_cut_before_its_upstream_is_a_backend_not_running_with_unknown_target() -> None:
    doc = _diagnose("--error-log", str(HOSTILE / "error-truncated.log"),
                    "--access-log", str(HOSTILE / "access-truncated.log"))
    assert doc["healthy"] is False
    findings = doc["findings"]
    assert isinstance(findings, list)
    first = findings[0]
    assert first["cause"] == "backend-not-running" and first["target"] is None
    assert "NGX_MAX_ERROR_STR" in first["explanation"]
    # the 502 is not blamed on the backend as "the error log is silent"
    assert all(f["cause"] != "upstream-returned-5xx" for f in findings)


@pytest.mark.parametrize(("message", "cause"), [
    ("connect() failed (111: Connection refused) while connecting to upstream", "backend-not-running"),
    ("upstream timed out (110: Connection timed out) while reading response header from upstream",
     "backend-too-slow"),
    ("upstream prematurely closed connection while reading response header from upstream", "backend-crashed"),
    ("no live upstreams while connecting to upstream", "all-upstreams-down"),
])
def test_every_cut_failure_is_still_a_failure(tmp_path: Path, message: str, cause: str) -> None:
    line = (f"2024/05/01 10:00:06 [error] 31#31: *10 {message}, client: 10.0.0.10, server: long.example, "
            f'request: "GET {LONG} HTTP/1.1", upstream: "http://127.0.0.1:9000/", host: "h"')
    log = tmp_path / "error.log"
    log.write_bytes(line.encode()[:2047] + b"\n")
    doc = _diagnose("--error-log", str(log))
    assert doc["healthy"] is False
    findings = doc["findings"]
    assert isinstance(findings, list) and findings[0]["cause"] == cause


def test_stats_says_unknown_not_nginx_when_it_cannot_tell() -> None:
    res = why502("stats", str(HOSTILE / "access-truncated.log"), "--log-format", "combined",
                 "--error-log", str(HOSTILE / "error-truncated.log"), "--format", "json", "--no-progress")
    assert res.returncode == 1, res.stderr
    doc = json.loads(res.stdout)
    text = why502("stats", str(HOSTILE / "access-truncated.log"), "--log-format", "combined",
                  "--no-error-log", "--no-progress").stdout
    assert "unknown" in json.dumps(doc.get("made_by", doc))
    assert "made by nginx" not in text.lower() and "nginx itself" not in text.lower()
    assert "unknown" in text
