"""`why502 watch`'s live page in a real headless Chromium.

* Against a real nginx whose backend is stopped, then started again, with the real
  ``why502 watch`` process serving the page: Chromium (``--dump-dom`` after the page's script has
  polled ``/api/state``, ``--virtual-time-budget`` lets it run) shows no incident, then the
  incident with its cause, evidence and fix within seconds, then its resolution with a link to
  the report, which the listener renders as HTML.  A screenshot is taken during the incident
  (copied to ``$WHY502_LIVEPAGE_PNG`` when set, to look at it).
* A hostile incident (markup in the upstream, the evidence and the fix) shown by a real page:
  the text is in the DOM as text, no element was made of it, and the console has no error and no
  CSP violation (so our own scripts and styles are exactly those the policy allows).

Each Chromium launch is bounded and killed by its process group (``run_chromium``).
"""

from __future__ import annotations

import html
import json
import os
import re
import shutil
import struct
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from tests.reporters.test_report_browser import CHROMIUM, NO_CHROMIUM, console_lines, run_chromium
from tests.support.labrun import WatchProcess
from tests.support.monitoring import get_text, wait_until
from tests.watch.test_livepage import HOSTILE, incident, make_watch
from tests.watch.test_watch_real import stop_backend
from why502.app.watch.livepage import LivePage
from why502.lab.runtime import Stack, free_port
from why502.lab.scenarios.common import server

pytestmark = [pytest.mark.browser, pytest.mark.skipif(CHROMIUM is None, reason=NO_CHROMIUM)]


# run_chromium maps every name to nowhere; the page is served on loopback, which stays reachable
LOOPBACK = "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1"


def dom_of(url: str, work: Path, *extra: str) -> tuple[str, list[str]]:
    """The DOM after the page's script has run (two polls at least) and its console lines."""
    result = run_chromium(url, work, "--dump-dom", "--virtual-time-budget=5000",
                          "--window-size=1280,1600", "--enable-logging=stderr", "--v=0", LOOPBACK, *extra)
    dom = result.stdout.decode("utf-8", "replace")
    assert "</html>" in dom, result.stderr.decode("utf-8", "replace")[-2000:]
    polls = re.search(r'<body[^>]* data-polls="(\d+)"', dom)
    assert polls and int(polls.group(1)) >= 1, "the page's script did not poll /api/state"
    return dom, console_lines(result.stderr.decode("utf-8", "replace"))


def body_state(dom: str) -> str:
    m = re.search(r'<body[^>]* data-state="([a-z]+)"', dom)
    return m.group(1) if m else ""


def text_of(dom: str) -> str:
    return html.unescape(re.sub(r"<[^>]+>", " ", dom))


@pytest.mark.real
def test_the_page_shows_the_incident_and_its_cause_then_its_resolution(tmp_path: Path) -> None:
    with Stack() as stack:
        app = stack.add_backend("ok", name="app")
        stack.start_nginx(server(stack, f"""
            location / {{
                proxy_pass http://127.0.0.1:{app.port};
            }}
        """))
        port = free_port()
        base = f"http://127.0.0.1:{port}"
        watch = WatchProcess("--nginx-conf", str(stack.p.nginx_conf), "--format", "jsonl",
                             "--listen", f"127.0.0.1:{port}", "--window", "3",
                             "--min-requests", "3", "--resolve-after", "2",
                             "--probe-interval", "1", "--reports", str(tmp_path / "reports"),
                             "--duration", "120")
        try:
            wait_until(lambda: "why502_log_lag_bytes{" in get_text(base + "/metrics"), 15,
                       "watch started")
            assert {r.status for r in stack.requests("/", count=3)} == {200}
            dom, console = dom_of(base + "/", tmp_path)
            assert body_state(dom) == "ok" and console == []
            assert "No open incident." in dom

            inc = stop_backend(stack, app, watch)
            # the page shows it, its cause, evidence and fix (the clients keep getting 502s)
            stack.requests("/orders", count=3)
            dom, console = dom_of(base + "/", tmp_path)
            assert body_state(dom) == "incident", dom[:3000]
            assert f'data-incident="{inc["id"]}" data-cause="backend-not-running"' in dom
            text = text_of(dom)
            assert inc["fix"] and inc["fix"] in text
            assert inc["evidence"] and inc["evidence"] in text
            assert f"127.0.0.1:{app.port}" in text
            assert re.search(f'<tr data-target="[^"]*:{app.port}" data-up="0">', dom), \
                "the health check's down target is not on the page"
            assert re.search(r'id="chart-status"[^>]* data-points="[1-9]', dom)
            assert re.search(r'<div class="uplot[^"]*"', dom), "uPlot did not draw"
            assert console == []
            png = tmp_path / "incident.png"
            run_chromium(base + "/", tmp_path, f"--screenshot={png}", "--window-size=1280,1500",
                         "--virtual-time-budget=5000", "--hide-scrollbars", LOOPBACK)
            data = png.read_bytes()
            assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 20_000
            assert struct.unpack(">II", data[16:24]) == (1280, 1500)
            if os.environ.get("WHY502_LIVEPAGE_PNG"):
                shutil.copyfile(png, os.environ["WHY502_LIVEPAGE_PNG"])

            stack.add_backend("ok", name="app-again", port=app.port)  # fixed
            resolved: dict[str, Any] = {}

            def healthy_traffic() -> bool:
                stack.requests("/", count=2)
                try:
                    resolved.update(watch.next_event(timeout=0.5))
                except AssertionError:
                    return False
                return resolved.get("event") == "incident-resolved"

            watch.next_event = _quiet(watch)  # type: ignore[method-assign]
            wait_until(healthy_traffic, 30, "incident-resolved")
            dom, console = dom_of(base + "/", tmp_path)
            assert body_state(dom) == "ok" and console == []
            pattern = f'<tr data-incident="{re.escape(inc["id"])}" data-cause="backend-not-running">'
            row = re.search(pattern + "(.*?)</tr>", dom, re.S)
            assert row, "the resolved incident is not listed"
            link = re.search(r'<a href="(/reports/[^"]+\.html)">report</a>', row.group(1))
            assert link and link.group(1) == f"/reports/{inc['id']}.html"
            with urllib.request.urlopen(base + link.group(1), timeout=30) as resp:
                report = resp.read().decode("utf-8")
            assert "why502 incident report" in report and "backend-not-running" in report
        finally:
            watch.stop()


def _quiet(watch: WatchProcess) -> Any:
    """``next_event`` that does not kill the process when nothing came (polled in a loop)."""
    import queue

    def next_event(timeout: float) -> dict[str, Any]:
        try:
            return dict(json.loads(watch.lines.get(timeout=timeout)))
        except queue.Empty:
            raise AssertionError("no event yet") from None

    return next_event


def test_hostile_incident_fields_are_text_in_the_browser_dom(tmp_path: Path) -> None:
    watch = make_watch(tmp_path)
    page = LivePage(watch)
    watch.incident = incident(1, cause="backend-not-running", title=HOSTILE, upstream=HOSTILE,
                              evidence=HOSTILE, fix=HOSTILE, summary=HOSTILE)
    srv = watch.metrics.serve("127.0.0.1", 0, routes=page.routes())
    try:
        dom, console = dom_of(f"http://127.0.0.1:{srv.server_port}/", tmp_path)
    finally:
        srv.shutdown()
        srv.server_close()
    assert body_state(dom) == "incident"
    assert "&lt;img src=x onerror=alert(1)&gt;&lt;/script&gt;&lt;script&gt;alert(2)" in dom
    assert not re.search(r"<img\b", dom, re.I)
    assert len(re.findall(r"<script\b", dom, re.I)) == 2  # uPlot and the page's own
    assert "<title>why502 watch</title>" in dom
    assert console == [], console  # no JS error, no CSP violation
