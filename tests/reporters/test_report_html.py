"""The HTML report without a browser: structure, escaping, the data block, the embedded assets.

The same page is driven in a real headless Chromium in test_report_browser.py.
"""

from __future__ import annotations

import base64
import fnmatch
import hashlib
import json
import re
from importlib import resources

from tests.reporters.test_report_sample import HOSTILE_REQUEST, TOTAL_502, TOTAL_504, sample_report
from tests.support.paths import ROOT_DIR
from why502.findings.model import Report, TimelineEvent
from why502.reporters.html import chart_data, render_html, safe_text, script_json

ROOT = ROOT_DIR
ASSETS = ROOT / "src" / "why502" / "reporters" / "assets"
DATA_BLOCK = re.compile(r'<script type="application/json" id="why502-data">(.*?)</script>', re.S)


def _data(page: str) -> dict[str, object]:
    match = DATA_BLOCK.search(page)
    assert match, "no JSON data block"
    parsed: dict[str, object] = json.loads(match.group(1))
    return parsed


def test_answer_comes_first_then_timeline_evidence_upstreams_diagnostics() -> None:
    page = render_html(sample_report())
    page = page[page.index("<body>") :]
    order = [
        page.index('id="verdict"'),
        page.index("PHP-FPM pool &#x27;www&#x27; ran out of workers"),
        page.index("92 % (high)"),
        page.index('class="diff"'),
        page.index('id="timeline"'),
        page.index('id="evidence"'),
        page.index('id="other-findings"'),
        page.index('id="upstreams"'),
        page.index('id="diagnostics"'),
    ]
    assert order == sorted(order)
    assert "permission denied reading the journal" in page
    assert "/var/log/nginx/error.log:20331" in page  # evidence with file:line


def test_diff_lines_are_coloured_by_kind() -> None:
    page = render_html(sample_report())
    assert '<span class="d-del">-pm.max_children = 5</span>' in page
    assert '<span class="d-add">+pm.max_children = 20</span>' in page
    assert '<span class="d-hunk">@@ -110,7 +110,7 @@</span>' in page
    assert '<span class="d-meta">--- a/etc/php/8.2/fpm/pool.d/www.conf</span>' in page


def test_page_is_self_contained_with_a_strict_csp() -> None:
    page = render_html(sample_report())
    meta = re.search(r'<meta http-equiv="Content-Security-Policy" content="([^"]+)">', page)
    assert meta
    policy = dict(d.strip().split(" ", 1) for d in meta.group(1).split(";"))
    assert policy["default-src"] == "'none'"
    # Only our two inline scripts may run: their hashes, no 'unsafe-inline'.
    scripts = re.findall(r"<script>(.*?)</script>", page, re.S)
    assert len(scripts) == 2
    expected = {
        "'sha256-" + base64.b64encode(hashlib.sha256(s.encode()).digest()).decode() + "'" for s in scripts
    }
    assert set(policy["script-src"].split()) == expected
    # Nothing refers to another resource: no external script/style/link/image, no url() fetch.
    assert not re.search(r"<(script|img|iframe|link)[^>]*\s(src|href)=", page, re.I)
    assert not re.search(r"@import|url\(\s*['\"]?(https?:|//)", page, re.I)
    assert "uPlot" in page and "new uPlot(" in page  # the library and our script are inline
    assert page.count("<script") == 3  # data block, uPlot, our script -- nothing else


def test_hostile_request_line_is_inert_text() -> None:
    page = render_html(sample_report(HOSTILE_REQUEST))
    assert "<script>document.title" not in page
    assert "<img src=x" not in page and 'onerror="document' not in page
    assert "&lt;script&gt;document.title=&#x27;PWNED&#x27;&lt;/script&gt;" in page
    assert "\x1b" not in page and "\x07" not in page
    assert page.count("<script") == 3
    # The data block cannot be closed early: no '<' at all inside it, and it decodes back.
    block = DATA_BLOCK.search(page)
    assert block and "<" not in block.group(1) and ">" not in block.group(1) and "&" not in block.group(1)
    labels = [e["label"] for e in _data(page)["events"]]  # type: ignore[index, union-attr]
    assert safe_text(f"first 504: {HOSTILE_REQUEST}") in labels


def test_script_json_escapes_everything_that_could_end_the_block() -> None:
    text = script_json({"a": "</script><!-- & \u2028\u2029 >"})
    assert not set("<>&\u2028\u2029") & set(text)
    assert json.loads(text) == {"a": "</script><!-- & \u2028\u2029 >"}


def test_chart_data_carries_the_incident() -> None:
    data = chart_data(sample_report())
    assert len(data["x"]) == 30
    assert data["x"][1] - data["x"][0] == 60
    totals = {s["status"]: sum(s["values"]) for s in data["series"]}
    assert totals == {"502": TOTAL_502, "504": TOTAL_504}
    peak_502 = max(next(s for s in data["series"] if s["status"] == "502")["values"])
    assert peak_502 == 37
    kinds = [e["kind"] for e in data["events"]]
    assert kinds == [
        "fpm-max-children", "read-timeout", "backlog-full", "oom-kill", "unit-restart", "config-reload",
    ]
    assert all(data["x"][0] <= e["t"] <= data["x"][-1] + 60 for e in data["events"])


def test_sparse_timeline_is_gap_filled_and_far_events_are_listed_not_drawn() -> None:
    base = sample_report()
    sparse = Report(
        findings=base.findings,
        timeline=[base.timeline[12], base.timeline[15]],
        events=[*base.events, TimelineEvent("2026-11-20T03:00:00+01:00", "oom-kill", "a day earlier")],
    )
    data = chart_data(sparse)
    assert len(data["x"]) == 4  # 09:52 .. 09:55, the two missing minutes filled with zeros
    assert next(s for s in data["series"] if s["status"] == "502")["values"] == [0, 0, 0, 37]
    assert data["events"][-1]["t"] is None
    assert "(outside the chart)" in render_html(sparse)


def test_healthy_and_empty_reports_render() -> None:
    page = render_html(Report())
    assert "No root cause found" in page and 'id="chart-empty"' in page
    assert "Every input was read." in page


def test_embedded_assets_are_the_recorded_upstream_files() -> None:
    readme = (ASSETS / "README.md").read_text()
    recorded = dict(
        (name, digest) for digest, name in re.findall(r"^([0-9a-f]{64})  (\S+)$", readme, re.M)
    )
    assert set(recorded) == {"uPlot.iife.min.js", "uPlot.min.css", "uPlot.LICENSE"}
    for name, digest in recorded.items():
        assert hashlib.sha256((ASSETS / name).read_bytes()).hexdigest() == digest, name
    assert "MIT License" in (ASSETS / "uPlot.LICENSE").read_text()
    assert "v1.6.32" in (ASSETS / "uPlot.iife.min.js").read_text()[:200]


def test_assets_ship_as_package_data() -> None:
    pyproject = (ROOT / "pyproject.toml").read_text()
    globs = re.search(r"^\[tool\.setuptools\.package-data\]\nwhy502 = \[(.*?)\]", pyproject, re.M | re.S)
    assert globs
    patterns = re.findall(r'"([^"]+)"', globs.group(1))
    for asset in resources.files("why502.reporters").joinpath("assets").iterdir():
        rel = f"reporters/assets/{asset.name}"
        assert any(fnmatch.fnmatch(rel, p) for p in patterns), rel


def test_long_window_table_lists_only_minutes_with_5xx_and_huge_lines_are_cut() -> None:
    from why502.findings.model import EvidenceItem, Finding, TimelinePoint

    points = [TimelinePoint(minute=f"2026-11-21T{h:02d}:{m:02d}", counts={"502": 0})
              for h in range(4) for m in range(60)]
    points.append(TimelinePoint(minute="2026-11-21T05:30", counts={"502": 7}))
    huge = "GET /" + "A" * 50_000
    finding = Finding("app-fatal-error", "t", 0.5, [502], [], "e",
                      evidence=[EvidenceItem(kind="log", summary="s", text=huge)])
    page = render_html(Report(findings=[finding], timeline=points))
    table = re.search(r'<table class="minutes">(.*?)</table>', page, re.S)
    assert table and table.group(1).count("<tr>") == 2  # header + the one minute with 5xx
    assert "<td>2026-11-21 05:30</td><td>7</td>" in table.group(1)
    assert "330 minutes without 5xx not listed." in page
    assert "GET /" + "A" * 3995 + "… (46,005 more characters)" in page and "A" * 3996 not in page
