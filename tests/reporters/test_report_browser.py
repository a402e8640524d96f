"""The HTML report in a real headless Chromium (docs/architecture.md: "the HTML report in a real headless
Chromium").

Four launches, each bounded by a timeout and killed by its process group on expiry:

* ``--dump-dom`` + ``--log-net-log`` on the incident report whose request line is hostile: the
  chart script ran (uPlot's canvas exists, our JS wrote per-status totals and event markers),
  the injected ``<script>``/``onerror`` did not run or become elements, the console is silent
  (no JS error, no CSP violation) and the page made no network request;
* the same page with raw markup spliced in (an escaping bug simulated): the CSP's script hashes
  still refuse it;
* ``--screenshot``: the page paints into a non-trivial PNG;
* a negative control page that does fetch over http, proving the net-log check can see page
  requests at all (otherwise "no request" would prove nothing).

Chromium's own background requests (update checks, account probes) appear in the net log with
initiator "not an origin"; requests made by a page carry the page's origin ("null" for file://).
"""

from __future__ import annotations

import contextlib
import html
import json
import os
import re
import shutil
import signal
import struct
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.reporters.test_report_sample import HOSTILE_REQUEST, TOTAL_502, TOTAL_504, sample_report
from why502.reporters.html import render_html

CHROMIUM = shutil.which("chromium") or ("/usr/bin/chromium" if os.path.exists("/usr/bin/chromium") else None)
NO_CHROMIUM = "chromium is not installed (apt-get install chromium); browser tests skipped"
pytestmark = [pytest.mark.browser, pytest.mark.skipif(CHROMIUM is None, reason=NO_CHROMIUM)]

TIMEOUT = 60.0
EXPECTED_TITLE = "why502: PHP-FPM pool 'www' ran out of workers (pm.max_children = 5) on web1"


def run_chromium(url: str, work: Path, *extra: str) -> subprocess.CompletedProcess[bytes]:
    """Run headless Chromium once on ``url``; kill its whole process group if it hangs."""
    profile = Path(tempfile.mkdtemp(prefix="profile-", dir=work))
    cmd = [
        str(CHROMIUM), "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync",
        f"--user-data-dir={profile}",
        # Belt and braces: nothing this browser tries to resolve can leave the machine.
        "--host-resolver-rules=MAP * ~NOTFOUND",
        *extra, url,
    ]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True)
    try:
        out, err = proc.communicate(timeout=TIMEOUT)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.communicate()
        pytest.fail(f"chromium did not finish within {TIMEOUT:.0f}s on {url}")
    finally:
        # Helpers (zygote, renderer) that outlived the browser process: same group, ours.
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
    return subprocess.CompletedProcess(cmd, proc.returncode, out, err)


def page_requests(net_log: Path) -> list[tuple[str, str]]:
    """(initiator, url) of every URL request in a Chromium net log that a page started."""
    data = json.loads(net_log.read_text(encoding="utf-8", errors="replace"))
    types = {v: k for k, v in data["constants"]["logEventTypes"].items()}
    found = []
    for event in data["events"]:
        params = event.get("params") or {}
        if types.get(event["type"]) == "URL_REQUEST_START_JOB" and "url" in params:
            initiator = str(params.get("initiator", ""))
            if initiator != "not an origin":  # the browser's own background traffic
                found.append((initiator, str(params["url"])))
    return found


def console_lines(stderr: str) -> list[str]:
    """The page's console output (JS errors, CSP violations) from ``--enable-logging=stderr``."""
    return [line for line in stderr.splitlines() if ":CONSOLE:" in line or "Uncaught" in line]


@dataclass
class Loaded:
    dom: str
    requests: list[tuple[str, str]]
    console: list[str]


@pytest.fixture(scope="module")
def work() -> Iterator[Path]:
    with tempfile.TemporaryDirectory(prefix="why502-browser-") as tmp:
        yield Path(tmp)


@pytest.fixture(scope="module")
def hostile_page(work: Path) -> Path:
    page = work / "report.html"
    page.write_text(render_html(sample_report(HOSTILE_REQUEST)), encoding="utf-8")
    return page


@pytest.fixture(scope="module")
def loaded(work: Path, hostile_page: Path) -> Loaded:
    net_log = work / "net.json"
    result = run_chromium(hostile_page.as_uri(), work, "--dump-dom", f"--log-net-log={net_log}",
                          "--window-size=1280,2000", "--enable-logging=stderr", "--v=0")
    dom = result.stdout.decode("utf-8", "replace")
    stderr = result.stderr.decode("utf-8", "replace")
    assert "</html>" in dom, stderr[-2000:]
    return Loaded(dom=dom, requests=page_requests(net_log), console=console_lines(stderr))


def test_chart_script_ran_and_shows_the_incident(loaded: Loaded) -> None:
    dom = loaded.dom
    chart = re.search(r'<div id="chart"[^>]*>', dom)
    assert chart, "chart container missing"
    assert 'data-rendered="30"' in chart.group(0)  # 30 minutes plotted
    assert 'data-markers="6"' in chart.group(0)  # six evidence events placed on the x axis
    assert re.search(r'<div class="uplot[^"]*"', dom), "uPlot did not build its DOM"
    assert re.search(r"<canvas [^>]*width=\"\d{3,}\"", dom), "uPlot canvas missing"
    totals = dict(re.findall(r'class="status-total" data-status="(\d+)" data-total="(\d+)"', dom))
    assert totals == {"502": str(TOTAL_502), "504": str(TOTAL_504)}
    assert 'data-status="502" data-total="108" data-peak="37"' in dom
    assert "502: 108 (peak 37 at 2026-11-21 09:55)" in dom
    # All requests (the access-log totals) are plotted on their own axis: 30 x 180 + the 158 5xx.
    assert '<span class="requests-total" data-total="5558">all requests: 5558</span>' in dom
    # Badges: events seconds apart share one ("4–5" = the OOM kill and the restart 3 s later).
    badges = re.findall(r'<div class="evbadge" data-events="(\d+)"[^>]*>([^<]+)</div>', dom)
    assert sum(int(count) for count, _ in badges) == 6
    assert ("2", "4–5") in badges
    kinds = re.findall(r'class="evmark"[^>]*data-kind="([a-z-]+)"', dom)
    assert kinds == ["fpm-max-children", "read-timeout", "backlog-full", "oom-kill", "unit-restart",
                     "config-reload"]


def test_injected_markup_does_not_execute(loaded: Loaded) -> None:
    dom = loaded.dom
    title = re.search(r"<title>(.*?)</title>", dom, re.S)
    assert title and html.unescape(title.group(1)) == EXPECTED_TITLE
    assert "PWNED" not in html.unescape(title.group(1))
    # The hostile text is there, as text: escaped in the serialised DOM, never a real element.
    assert "&lt;script&gt;document.title='PWNED'&lt;/script&gt;" in dom
    assert "<script>document.title" not in dom
    assert not re.search(r"<img[^>]*onerror", dom, re.I)
    assert len(re.findall(r"<img\b", dom, re.I)) == 0
    assert len(re.findall(r"<script\b", dom, re.I)) == 3
    # The marker tooltip (set by our JS via setAttribute) holds the hostile label as plain text,
    # its terminal escapes shown visibly (\x1b...), never raw.
    marker = re.search(r'<div class="evmark" data-kind="read-timeout"[^>]* title="([^"]*)"', dom)
    assert marker and html.unescape(marker.group(1)).endswith(
        "read-timeout: first 504: GET /<script>document.title='PWNED'</script>"
        "<img src=x onerror=\"document.title='PWNED'\">|`x`|\\x1b]0;pwned\\x07\\x1b[31m HTTP/1.1"
    )


def test_page_runs_without_errors_or_csp_violations(loaded: Loaded) -> None:
    # Our own scripts are allowed by their hashes; nothing else tried to run or load.
    assert loaded.console == []


def test_csp_blocks_injected_script_even_if_escaping_failed(work: Path) -> None:
    # Simulate an escaping bug: put raw markup into the rendered page, outside any escaping.
    page = render_html(sample_report()).replace(
        "<main>",
        "<main><script>document.title='PWNED'</script><img src=x onerror=\"document.title='PWNED'\">",
        1,
    )
    broken = work / "broken.html"
    broken.write_text(page, encoding="utf-8")
    result = run_chromium(broken.as_uri(), work, "--dump-dom", "--enable-logging=stderr", "--v=0")
    dom = result.stdout.decode("utf-8", "replace")
    title = re.search(r"<title>(.*?)</title>", dom, re.S)
    assert title and html.unescape(title.group(1)) == EXPECTED_TITLE
    assert 'data-rendered="30"' in dom  # while our own scripts still ran
    console = console_lines(result.stderr.decode("utf-8", "replace"))
    violations = [c for c in console if "Content Security" in c]
    assert len(violations) >= 2, violations  # the inline script and the onerror handler


def test_no_request_leaves_file_url(loaded: Loaded) -> None:
    offending = [(i, u) for i, u in loaded.requests if not u.startswith(("file:", "data:"))]
    assert offending == []


def test_net_log_check_sees_requests_a_page_makes(work: Path) -> None:
    control = work / "control.html"
    control.write_text(
        '<!DOCTYPE html><title>control</title><img src="http://127.0.0.1:9/x.png">'
        '<script>fetch("http://why502-control.invalid/y").catch(function(){});</script>',
        encoding="utf-8",
    )
    net_log = work / "control-net.json"
    run_chromium(control.as_uri(), work, "--dump-dom", f"--log-net-log={net_log}")
    urls = {u for _, u in page_requests(net_log)}
    assert "http://127.0.0.1:9/x.png" in urls
    assert "http://why502-control.invalid/y" in urls


def test_page_renders_a_nontrivial_screenshot(work: Path, hostile_page: Path) -> None:
    shot = work / "shot.png"
    run_chromium(hostile_page.as_uri(), work, f"--screenshot={shot}", "--window-size=1280,2000")
    data = shot.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = struct.unpack(">II", data[16:24])
    assert (width, height) == (1280, 2000)
    # A blank page of this size compresses to a few KB; text, chart and colours do not.
    assert len(data) > 60_000
