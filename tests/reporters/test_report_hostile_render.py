"""``why502 render`` of a hostile report.json (a report is a file people pass around): every
string field holds markup, links and ``javascript:`` URLs, every time field year 1 or 9999.

Markdown goes through GitHub's cmark-gfm *with raw HTML allowed* (what a ticket system that does
not sanitise would show): the only elements are the ones the report's own Markdown makes, no
attribute runs script, no link goes anywhere but http(s).  The HTML page is parsed the same
way: its only scripts are the report's own three (the CSP hashes exactly those).
"""

from __future__ import annotations

import json
import re
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import cmarkgfm
import pytest
from cmarkgfm.cmark import Options

from tests.support.clirun import why502
from why502.findings.model import Report
from why502.reporters.html import render_html
from why502.reporters.markdown import render_markdown

PAYLOAD = ('<script>alert(1)</script> <img src=x onerror=alert(2)> [a](javascript:alert(3)) '
           '![i](javascript:alert(4)) <javascript:alert(5)> <a href="javascript:alert(6)">x</a> '
           '<details open ontoggle=alert(7)> javascript:alert(8) www.evil.example '
           '\n```\n<script>alert(9)</script>\n``` | cell | `</code><svg onload=alert(10)>`')
BAD_TIMES = ["0001-01-01T00:00:00", "0001-01-01T00:00", "9999-12-31T23:59:59-14:00",
             "0001-01-01T00:00:00+14:00"]
# what the report's own Markdown makes once cmark-gfm renders it
MARKDOWN_TAGS = {"p", "h1", "h2", "h3", "h4", "ul", "ol", "li", "code", "pre", "em", "strong", "table",
                 "thead", "tbody", "tr", "th", "td", "hr", "br", "a", "del", "blockquote"}
# the page's own elements
HTML_TAGS = MARKDOWN_TAGS | {"html", "head", "meta", "title", "style", "body", "main", "header", "span",
                             "section", "div", "details", "summary", "dl", "dt", "dd", "footer",
                             "figure", "figcaption", "script", "small", "b", "i", "abbr", "time",
                             "caption", "col", "colgroup", "canvas", "svg", "nav", "ins"}


def hostile_report(minute: str = "2026-11-21T21:13") -> dict[str, Any]:
    """A report with every kind of record, each string field the payload."""
    p = PAYLOAD
    evidence = {"kind": "log", "summary": p, "source": p, "line": 3, "time": p, "text": p,
                "symptom": p, "count": 2}
    finding = {"cause": p, "title": p, "confidence": 0.9, "status_codes": [502], "symptoms": [p],
               "explanation": p, "upstream": p, "target": p, "evidence": [evidence, {**evidence,
                                                                                      "kind": "config"}],
               "fix": {"summary": p, "commands": [p], "diff": p, "file": p, "notes": [p]},
               "first_seen": p, "last_seen": p, "count": 3, "proxy": p,
               "places": [{"upstream": p, "target": p, "file": p, "line": 1}]}
    return {"schema_version": "1.4", "findings": [finding, {**finding, "confidence": 0.2}],
            "diagnostics": [{"severity": "warning", "message": p, "source": p}],
            "inputs": {p: p, "discovered": [{"proxy": p, "config": p, "pid": p}]},
            "timeline": [{"minute": minute, "counts": {"502": 3, p: 1}, "total": 4}],
            "events": [{"time": minute + ":00", "kind": p, "label": p, "source": p, "text": p}],
            "upstreams": [{"name": p, "targets": [p], "symptoms": {p: 1}, "statuses": {p: 1},
                           "probes": [{"target": {"host": p}, "ok": False, "error": p}], "config": p}],
            "generated_at": p, "host": p, "tool_version": p}


def unsafe(html: str, allowed: set[str]) -> list[object]:
    """Elements outside ``allowed``, event-handler attributes, and links or sources that are not
    http(s) or in-page."""
    found: list[object] = []

    class Parser(HTMLParser):
        def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
            if tag not in allowed:
                found.append(tag)
            for name, value in attrs:
                if name.startswith("on"):
                    found.append((tag, name))
                if name in ("href", "src", "action", "formaction") and value is not None \
                        and not re.match(r"(?i)\s*(https?:|#)", value):
                    found.append((tag, name, value))

    Parser().feed(html)
    return found


def test_markdown_of_a_hostile_report_makes_no_markup_in_github_rendering(tmp_path: Path) -> None:
    saved = tmp_path / "report.json"
    saved.write_text(json.dumps(hostile_report()))
    res = why502("render", str(saved), "--format", "markdown")
    assert res.returncode == 1, res.stderr
    rendered = cmarkgfm.github_flavored_markdown_to_html(res.stdout, options=Options.CMARK_OPT_UNSAFE)
    assert unsafe(rendered, MARKDOWN_TAGS) == []
    assert "alert(1)" in rendered  # the payload is shown as text, not dropped


def test_html_of_a_hostile_report_runs_only_its_own_scripts(tmp_path: Path) -> None:
    page = render_html(Report.from_dict(hostile_report()))
    assert unsafe(page, HTML_TAGS) == []
    assert page.count("<script") == 3  # the data block, uPlot, the report's script: nothing else
    assert "Content-Security-Policy" in page and "alert(1)" in page


@pytest.mark.parametrize("when", BAD_TIMES)
@pytest.mark.parametrize("fmt", ["text", "markdown", "html"])
def test_a_report_dated_year_1_or_9999_renders(tmp_path: Path, when: str, fmt: str) -> None:
    """The timeline's minutes, the events and ``generated_at`` at the ends of ``datetime``'s range
    once made ``render`` exit 4 (OverflowError in the chart's margins)."""
    data = hostile_report(minute=when[:16])
    data["events"][0]["time"] = when
    data["generated_at"] = when
    if fmt != "text":  # in-process: the same renderers as `why502 render`, 24 cases in a second
        report = Report.from_dict(data)
        text = render_html(report) if fmt == "html" else render_markdown(report)
        assert "alert(1)" in text
        return
    saved = tmp_path / "report.json"
    saved.write_text(json.dumps(data))
    res = why502("render", str(saved), "--format", fmt)
    assert res.returncode == 1 and res.stderr == "", res.stderr
