"""Reports made by the real pipeline, not by hand: `why502 diagnose --offline --format json` on
incidents recorded from a real nginx + PHP-FPM (tests/fixtures/recorded), re-rendered
with `why502 render` as HTML (checked in headless Chromium) and Markdown (checked with cmark-gfm).
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from tests.reporters.test_report_browser import CHROMIUM, NO_CHROMIUM, console_lines, run_chromium
from tests.support.paths import FIXTURES_DIR
from why502.cli.main import main
from why502.findings.model import Report
from why502.reporters.html import chart_data

RECORDED = FIXTURES_DIR / "recorded"
SCENARIOS = ["workers-exhausted-fpm", "php-child-killed", "backend-too-slow"]


def diagnose_fixture(name: str, out: Path) -> Report:
    """Run the real `diagnose` on a recorded incident and load the JSON it wrote."""
    src = RECORDED / name
    assert (src / "error.log").is_file(), f"recorded incident {name} is missing"
    args = ["diagnose", "--offline", "--format", "json", "-o", str(out)]
    for flag, file in [("--nginx-conf", "nginx.conf"), ("--error-log", "error.log"),
                       ("--access-log", "access.log"), ("--fpm-conf", "php-fpm.conf"),
                       ("--fpm-log", "php-fpm.log")]:
        if (src / file).is_file():
            args += [flag, str(src / file)]
    code = main(args)
    assert code in (0, 1), f"diagnose exited {code} on {name}"
    return Report.from_dict(json.loads(out.read_text(encoding="utf-8")))


@pytest.mark.parametrize("name", SCENARIOS)
def test_real_report_renders_as_markdown_and_html(name: str, tmp_path: Path) -> None:
    saved = tmp_path / "report.json"
    report = diagnose_fixture(name, saved)
    assert report.findings, f"diagnose found nothing in the recorded {name} incident"
    md_out, html_out = tmp_path / "r.md", tmp_path / "r.html"
    assert main(["render", str(saved), "-o", str(md_out)]) == 1
    assert main(["render", str(saved), "-o", str(html_out)]) == 1
    md = md_out.read_text(encoding="utf-8")
    top = report.findings[0]
    assert md.splitlines()[0].startswith("# why502: ")
    assert f"`{top.cause}`" in md
    page = html_out.read_text(encoding="utf-8")
    assert f"<code>{top.cause}</code>" in page
    for item in top.evidence:
        if item.source and item.line is not None:
            assert f"{item.source}:{item.line}" in page  # evidence with file:line
    import cmarkgfm
    rendered = cmarkgfm.github_flavored_markdown_to_html(md)
    for table in re.findall(r"<table>(.*?)</table>", rendered, re.S):
        header = len(re.findall(r"<th\b", table))
        body = re.sub(r"<thead>.*?</thead>", "", table, flags=re.S)
        for row in re.findall(r"<tr>(.*?)</tr>", body, re.S):
            assert len(re.findall(r"<td\b", row)) == header, row


@pytest.mark.browser
@pytest.mark.skipif(CHROMIUM is None, reason=NO_CHROMIUM)
def test_real_report_timeline_in_chromium(tmp_path: Path) -> None:
    saved = tmp_path / "report.json"
    report = diagnose_fixture("workers-exhausted-fpm", saved)
    assert report.timeline, "the recorded incident has 502/504 lines, so the timeline must not be empty"
    page = tmp_path / "report.html"
    assert main(["render", str(saved), "--format", "html", "-o", str(page)]) == 1
    result = run_chromium(page.as_uri(), tmp_path, "--dump-dom", "--enable-logging=stderr", "--v=0")
    dom = result.stdout.decode("utf-8", "replace")
    data = chart_data(report)
    assert f'data-rendered="{len(data["x"])}"' in dom
    placed = sum(1 for e in data["events"] if e["t"] is not None)
    assert f'data-markers="{placed}"' in dom and placed >= 2
    expected = {s["status"]: str(sum(s["values"])) for s in data["series"]}
    shown = dict(re.findall(r'class="status-total" data-status="([^"]+)" data-total="(\d+)"', dom))
    assert shown == expected and {"502", "504"} <= set(shown)
    assert console_lines(result.stderr.decode("utf-8", "replace")) == []


def test_demo_report_renders(tmp_path: Path) -> None:
    """`why502 diagnose --demo` (the bundled recorded incident) re-rendered as HTML and Markdown."""
    from importlib import resources

    assert resources.files("why502").joinpath("demo").is_dir(), "the demo incident is not bundled"
    saved = tmp_path / "demo.json"
    assert main(["diagnose", "--demo", "--format", "json", "-o", str(saved)]) == 1
    report = Report.from_dict(json.loads(saved.read_text(encoding="utf-8")))
    assert report.findings and report.timeline
    page, md = tmp_path / "demo.html", tmp_path / "demo.md"
    assert main(["render", str(saved), "-o", str(page)]) == 1
    assert main(["render", str(saved), "-o", str(md)]) == 1
    assert f"<code>{report.findings[0].cause}</code>" in page.read_text(encoding="utf-8")
    assert f"`{report.findings[0].cause}`" in md.read_text(encoding="utf-8")
