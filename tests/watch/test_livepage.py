"""`why502 watch`'s live page without a browser: the routes on the real listener, the JSON's
strictness and bounds, hostile log text kept inert, ``/reports/`` refusing every other file.

The page in a real headless Chromium against a real nginx is test_livepage_browser.py.
"""

from __future__ import annotations

import json
import os
import subprocess
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.reporters.test_report_sample import sample_report
from tests.support.clirun import WHY502
from tests.support.monitoring import wait_until
from why502.app.watch.engine import Watch, WatchOptions
from why502.app.watch.httpd import HttpServer
from why502.app.watch.incidents import Incident
from why502.app.watch.livepage import (
    MAX_POINTS,
    MAX_RESOLVED,
    MAX_SERIES,
    MAX_TEXT,
    LivePage,
    page_html,
    state_json,
)
from why502.lab.runtime import free_port
from why502.reporters.json.report import to_json

HOSTILE = "<img src=x onerror=alert(1)></script><script>alert(2)</script>\u2028&amp;"


def make_watch(tmp: Path) -> Watch:
    (tmp / "access.log").write_text("")
    (tmp / "error.log").write_text("")
    reports = tmp / "reports"
    reports.mkdir()
    return Watch(WatchOptions(access_logs=[str(tmp / "access.log")],
                              error_logs=[str(tmp / "error.log")], reports_dir=str(reports),
                              offline=True), lambda e: None, lambda d: None)


def incident(n: int, **fields: Any) -> Incident:
    return Incident(id=f"20261123T2100{n % 60:02d}-{n}", opened="2026-11-23T21:00:00",
                    opened_at=0.0, trigger=["5xx ratio"], **fields)


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[LivePage, str]]:
    watch = make_watch(tmp_path)
    page = LivePage(watch)
    server: HttpServer = watch.metrics.serve("127.0.0.1", 0, routes=page.routes())
    try:
        yield page, f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        server.server_close()


def get(url: str) -> tuple[int, dict[str, str], bytes]:
    try:
        with urllib.request.urlopen(url, timeout=10) as resp:
            return resp.status, dict(resp.headers), resp.read()
    except urllib.error.HTTPError as err:
        return err.code, dict(err.headers), err.read()


def strict(body: bytes) -> Any:
    def refuse(name: str) -> Any:
        raise AssertionError(f"{name} is not JSON")

    return json.loads(body.decode("utf-8"), parse_constant=refuse)


def test_page_and_state_are_served_under_a_strict_csp_with_nosniff(
        served: tuple[LivePage, str]) -> None:
    _page, base = served
    status, headers, body = get(base + "/")
    assert status == 200 and headers["Content-Type"] == "text/html; charset=utf-8"
    csp = headers["Content-Security-Policy"]
    assert csp.startswith("default-src 'none'; script-src 'sha256-")
    assert "'unsafe-inline'" not in csp and "'unsafe-eval'" not in csp
    assert "style-src 'sha256-" in csp and "connect-src 'self'" in csp
    assert "frame-ancestors 'none'" in csp
    assert headers["X-Content-Type-Options"] == "nosniff"
    assert b"<link" not in body and b"<script src" not in body  # everything inline
    assert b" on" + b"error=" not in body and b"onclick" not in body  # no inline handlers
    status, headers, body = get(base + "/api/state")
    assert status == 200 and headers["Content-Type"] == "application/json; charset=utf-8"
    assert headers["X-Content-Type-Options"] == "nosniff"
    state = strict(body)
    assert state["open"] is None and state["resolved"] == []
    assert get(base + "/metrics")[0] == 200  # the same listener still scrapes
    assert get(base + "/nothing")[0] == 404 and get(base + "/reports")[0] == 404


def test_the_page_script_never_writes_markup() -> None:
    html, _csp = page_html()
    script = html.rsplit("<script>", 1)[1]
    for sink in ("innerHTML", "outerHTML", "insertAdjacentHTML", "document.write", "eval("):
        assert sink not in script
    assert "textContent" in script


def test_hostile_incident_fields_are_inert_text_in_the_json(served: tuple[LivePage, str]) -> None:
    page, base = served
    page.watch.incident = incident(1, cause="backend-not-running", upstream=HOSTILE,
                                   evidence=f"connect() failed \x1b[31m{HOSTILE}\u202e",
                                   fix=HOSTILE)
    status, _headers, body = get(base + "/api/state")
    assert status == 200
    for raw in (b"<", b">", b"&", "\u2028".encode()):
        assert raw not in body  # as \uXXXX: nothing a sniffer or an HTML parser could take
    got = strict(body)["open"]
    assert got["upstream"] == HOSTILE and got["fix"] == HOSTILE  # the text itself, unaltered
    # terminal escapes and bidi overrides shown visibly (as the HTML report does), never raw
    assert got["evidence"].startswith("connect() failed \\x1b[31m<img src=x onerror")
    assert "\x1b" not in got["evidence"] and "\u202e" not in got["evidence"]


def test_state_is_strict_and_bounded(tmp_path: Path) -> None:
    page = LivePage(make_watch(tmp_path))
    traffic = page.watch.metrics.traffic
    for second in range(MAX_POINTS + 50):
        with traffic.lock:
            for k in range(40):  # 40 statuses and 40 upstreams, all failing
                traffic.requests[("", str(500 + k))] = second * (k + 1)
                traffic.responses[(f"http://10.0.0.{k}:80", "502")] = second * (k + 1)
        page.sample(now=1_800_000_000 + second)
    for n in range(MAX_RESOLVED + 15):
        page.on_change(incident(n, cause="c", evidence="x" * (MAX_TEXT * 10),
                                confidence=float("nan")), "incident-resolved")
    state = page.state()
    body = state_json(state)
    got = strict(body.encode())
    series = got["series"]
    assert len(series["t"]) == MAX_POINTS
    assert len(series["status"]) == MAX_SERIES and len(series["upstream_5xx"]) == MAX_SERIES
    assert all(len(v) == MAX_POINTS for v in series["status"].values())
    assert len(got["resolved"]) == MAX_RESOLVED
    assert got["resolved"][0]["id"].endswith(f"-{MAX_RESOLVED + 14}")  # the newest first
    assert all(len(d["evidence"]) == MAX_TEXT + 1 for d in got["resolved"])
    assert got["resolved"][0]["confidence"] is None  # NaN is not JSON
    assert len(body) < 200_000
    with pytest.raises(ValueError):
        state_json({"x": float("inf")})


def test_reports_are_served_only_for_incidents_this_process_wrote(
        served: tuple[LivePage, str], tmp_path: Path) -> None:
    page, base = served
    reports = tmp_path / "reports"
    inc = incident(7, cause="fpm-max-children")
    inc.report_file = str(reports / f"incident-{inc.id}.json")
    Path(inc.report_file).write_text(to_json(sample_report()), encoding="utf-8")
    page.on_change(inc, "incident-resolved")
    url = strict(get(base + "/api/state")[2])["resolved"][0]["report_url"]
    assert url == f"/reports/{inc.id}.html"
    status, headers, body = get(base + url)
    assert status == 200 and b"why502 incident report" in body
    assert b"Content-Security-Policy" in body and headers["X-Content-Type-Options"] == "nosniff"
    # a report in the directory that this process did not write, traversal, encodings, others
    other = incident(8)
    (reports / f"incident-{other.id}.json").write_text(to_json(sample_report()), encoding="utf-8")
    secret = tmp_path / "secret.txt"
    secret.write_text("SECRET")
    for path in (f"/reports/{other.id}.html", "/reports/../secret.txt",
                 "/reports/..%2fsecret.txt", "/reports/%2e%2e/%2e%2e/etc/passwd",
                 f"/reports/{inc.id}.json", f"/reports/incident-{inc.id}.json",
                 f"/reports/{inc.id}.html/../../secret.txt", "/reports/", "/reports//etc/passwd",
                 f"/reports/{inc.id}.html%00"):
        status, _h, body = get(base + path)
        assert status == 404, path
        assert b"SECRET" not in body and b"root:" not in body
    # the recorded file swapped for a link to a file outside the directory (a valid report
    # even): refused too
    os.replace(inc.report_file, tmp_path / "outside.json")
    os.symlink(tmp_path / "outside.json", inc.report_file)
    assert get(base + url)[0] == 404


@pytest.mark.real
def test_the_cli_serves_the_page_by_default_and_not_with_no_page(tmp_path: Path) -> None:
    (tmp_path / "access.log").write_text("")
    for flags, page_status in (((), 200), (("--no-page",), 404)):
        port = free_port()
        proc = subprocess.Popen([WHY502, "watch", "--access-log", str(tmp_path / "access.log"),
                                 "--offline", "--listen", f"127.0.0.1:{port}", "--format",
                                 "jsonl", "--duration", "60", *flags],
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            base = f"http://127.0.0.1:{port}"
            wait_until(lambda b=base: get(b + "/metrics")[0] == 200, 30, "watch to listen")
            assert get(base + "/")[0] == page_status
            assert get(base + "/api/state")[0] == page_status
        finally:
            proc.terminate()
            proc.wait(timeout=15)


def test_no_page_serves_metrics_only(tmp_path: Path) -> None:
    watch = make_watch(tmp_path)
    server = watch.metrics.serve("127.0.0.1", 0)
    try:
        base = f"http://127.0.0.1:{server.server_port}"
        assert get(base + "/")[0] == 404 and get(base + "/api/state")[0] == 404
        assert get(base + "/metrics")[0] == 200
    finally:
        server.shutdown()
        server.server_close()
