"""A log given alone is read alone, every edge family in it is read, and clients' 5xx are never
"healthy" (issue 27, class 6).

The reproduction: a file mixing ALB, Envoy and Cloudflare lines (lines published by AWS, the
Envoy docs and a Cloudflare user, ``tests/fixtures/cloud``) with 60% 5xx was reported "no root
cause found", exit 0, after reading this host's /etc/nginx although only the log was given.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.support.clirun import why502
from why502.app.diagnose import DiagnoseOptions, diagnose

CLOUD = Path(__file__).resolve().parents[1] / "fixtures" / "cloud"


def _published(family: str, status: int, made_by: str) -> str:
    """The first published line of ``family`` with this status and maker (fixtures/cloud/README)."""
    for raw in (CLOUD / f"{family}.jsonl").read_text(encoding="utf-8").splitlines():
        row = json.loads(raw)
        expect = row.get("expect") or {}
        if expect.get("status") == status and expect.get("made_by") == made_by:
            return str(row["line"])
    raise AssertionError(f"no published {family} line with {status} made by {made_by}")


def _mixed(tmp_path: Path) -> Path:
    """ALB 502, Envoy 502, Cloudflare 521, ALB 200, Envoy 204, 40 times: 60% 5xx, no family
    holding half of the lines."""
    rows = [_published("alb", 502, "lb"), _published("envoy", 502, "lb"),
            _published("cloudflare", 521, "lb"), _published("alb", 200, "backend"),
            _published("envoy", 204, "backend")]
    log = tmp_path / "edge.log"
    log.write_text("".join(f"{r}\n" for _ in range(40) for r in rows), encoding="utf-8")
    return log


def _combined(tmp_path: Path, five: int = 3) -> Path:
    """An nginx ``combined`` access log, ``five`` of every 5 requests answered 502."""
    log = tmp_path / "access.log"
    log.write_text("".join(
        f'10.0.0.{i % 9} - - [23/Nov/2026:19:{10 + i // 60:02d}:{i % 60:02d} +0000] '
        f'"GET /x HTTP/1.1" {502 if i % 5 < five else 200} 157 "-" "curl/8.5"\n' for i in range(200)),
        encoding="utf-8")
    return log


def _json(res: Any) -> dict[str, Any]:
    doc = json.loads(res.stdout)
    assert isinstance(doc, dict)
    return doc


def test_mixed_edge_families_are_each_read_and_never_healthy(tmp_path: Path) -> None:
    res = why502("diagnose", "--access-log", str(_mixed(tmp_path)), "--format", "json")
    doc = _json(res)
    assert res.returncode == 1 and doc["healthy"] is False, (res.returncode, res.stderr)
    assert set(doc["inputs"]["log_types"]) == {"alb", "envoy", "cloudflare"}, doc["inputs"]
    assert doc["inputs"]["5xx"] == 120 and doc["inputs"]["requests"] == 200
    titles = " ".join(f["title"] for f in doc["findings"])
    # each edge's own failures are named in its own words
    assert "Cloudflare" in titles and "Envoy" in titles and "ALB" in titles, titles
    # only the log was read: nothing of this host's nginx
    assert "/etc/nginx" not in res.stdout and "/etc/nginx" not in res.stderr


def test_a_log_alone_never_reads_this_hosts_config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A host config that would be read (``proxies.nginx.source.DEFAULT_CONF``, no nginx binary) is
    read with ``--discover`` only; the log-only run says how to ask for it."""
    from why502.proxies.nginx import source as nginx_source

    host = tmp_path / "host-nginx.conf"
    host.write_text("events {}\nhttp { log_format odd '$status $request_time';\n"
                    "  access_log /nowhere/x.log odd;\n"
                    "  server { listen 80; location / { proxy_pass http://127.0.0.1:9; } } }\n")
    monkeypatch.setattr(nginx_source, "DEFAULT_CONF", str(host))
    monkeypatch.setattr(nginx_source, "find_nginx", lambda: None)
    log = _combined(tmp_path)
    alone = diagnose(DiagnoseOptions(access_logs=[str(log)], offline=True))
    assert "nginx_conf" not in alone.inputs and alone.inputs["targets"] == [], alone.inputs
    assert any("--discover" in d.message for d in alone.diagnostics)
    asked = diagnose(DiagnoseOptions(access_logs=[str(log)], offline=True, discover=True))
    assert asked.inputs["nginx_conf"] == str(host), asked.inputs


def test_clients_5xx_in_an_access_log_alone_are_a_finding(tmp_path: Path) -> None:
    """60% 502 in a ``combined`` log (no upstream field: who made them is unknown) once read as
    "healthy", exit 0: the last-resort finding names the statuses and the log."""
    log = _combined(tmp_path)
    res = why502("diagnose", "--offline", "--access-log", str(log), "--format", "json")
    doc = _json(res)
    assert res.returncode == 1 and doc["healthy"] is False, res.stderr
    top = doc["findings"][0]
    assert top["cause"] == "unexplained-5xx" and top["count"] == 120 and top["status_codes"] == [502]
    assert any(e.get("source") == str(log) for e in top["evidence"]), top["evidence"]


def test_a_quiet_access_log_stays_healthy(tmp_path: Path) -> None:
    res = why502("diagnose", "--offline", "--access-log", str(_combined(tmp_path, five=0)))
    assert res.returncode == 0 and "healthy" in res.stdout, res.stdout


def test_an_edge_log_with_5xx_and_no_word_for_them_is_a_finding(tmp_path: Path) -> None:
    """Caddy's access log says 502 but not why (the reason is in its error lines, not given):
    a note says what is missing, and the 5xx are still a finding (never exit 0)."""
    rec = CLOUD / "recorded" / "caddy-2.11.7-pypi"
    expects = [json.loads(r) for r in (rec / "expect.jsonl").read_text().splitlines()]
    keep = {e["line_no"] for e in expects
            if e["file"] == "caddy-access.log" and e["path"] in ("/ok", "/dead")}
    lines = (rec / "caddy-access.log").read_text(encoding="utf-8").splitlines()
    log = tmp_path / "caddy-access.log"
    log.write_text("".join(f"{ln}\n" for i, ln in enumerate(lines, 1) if i in keep), encoding="utf-8")
    res = why502("diagnose", "--offline", "--access-log", str(log), "--format", "json")
    doc = _json(res)
    assert res.returncode == 1, res.stderr
    assert [f["cause"] for f in doc["findings"]] == ["unexplained-5xx"], doc["findings"]
    assert "Caddy" in doc["findings"][0]["title"]
