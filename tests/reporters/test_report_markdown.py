"""The Markdown report, checked with GitHub's own renderer (cmark-gfm via ``cmarkgfm``).

Rendering with raw HTML *allowed* (CMARK_OPT_UNSAFE) is the strict test: whatever a ticket
system does with raw HTML, our output must not contain any that came from a log.
"""

from __future__ import annotations

import html
import re

import cmarkgfm
from cmarkgfm.cmark import Options
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.reporters.test_report_sample import FIX_DIFF, HOSTILE_REQUEST, sample_report
from why502.findings.model import Report
from why502.reporters.html import safe_text
from why502.reporters.markdown import md_code, md_text, render_markdown


def gfm(text: str) -> str:
    """GitHub-flavoured Markdown to HTML with raw HTML passed through (the unsafe setting)."""
    out: str = cmarkgfm.github_flavored_markdown_to_html(text, options=Options.CMARK_OPT_UNSAFE)
    return out


def test_answer_first_then_fix_evidence_timeline() -> None:
    md = render_markdown(sample_report())
    first = md.splitlines()[0]
    assert first == "# why502: PHP-FPM pool 'www' ran out of workers (pm.max\\_children = 5)"
    positions = [md.index(s) for s in (
        "- **Cause:** `workers-exhausted` — confidence 92 % (high)",
        "## Fix", "```diff", "## Evidence", "## Incident timeline", "## Other possible causes",
        "## Upstreams", "## What could not be read",
    )]
    assert positions == sorted(positions)


def test_diff_is_a_verbatim_fenced_block() -> None:
    md = render_markdown(sample_report())
    block = re.search(r"^```diff\n(.*?)\n```$", md, re.M | re.S)
    assert block and block.group(1) == FIX_DIFF.rstrip("\n")
    rendered = gfm(md)
    assert '<pre lang="diff"><code>' in rendered or '<code class="language-diff">' in rendered
    assert "-pm.max_children = 5\n+pm.max_children = 20" in rendered


def test_timeline_and_events_tables() -> None:
    md = render_markdown(sample_report())
    assert "5xx by status: 502: 108, 504: 50." in md
    assert "| 2026-11-21 09:55 | 37 | 11 | 228 |" in md
    assert "| 4 | 2026-11-21T09:55:30 | `oom-kill` | OOM kill: php-fpm8.2 pid 23817 | `journal` |" in md


def test_hostile_log_text_stays_text_in_github_rendering() -> None:
    md = render_markdown(sample_report(HOSTILE_REQUEST))
    assert "\x1b" not in md and "\x07" not in md
    rendered = gfm(md)
    # No tag from the log survived: the only tags are the ones Markdown itself produces.
    tags = set(re.findall(r"<([a-zA-Z][a-zA-Z0-9]*)", rendered))
    assert tags <= {"h1", "h2", "h3", "h4", "p", "ul", "li", "strong", "em", "code", "pre", "table",
                    "thead", "tbody", "tr", "th", "td", "br", "hr"}
    assert "onerror" not in rendered.replace("onerror=&quot;", "")
    assert "<a " not in rendered  # neither links nor autolinks
    assert "&lt;script&gt;document.title='PWNED'&lt;/script&gt;" in rendered.replace("&#x27;", "'")
    # Every table row keeps its column count despite the pipes in the request line.
    for table in re.findall(r"<table>(.*?)</table>", rendered, re.S):
        header = len(re.findall(r"<th\b", table))
        for row in re.findall(r"<tr>(.*?)</tr>", re.sub(r"<thead>.*?</thead>", "", table, flags=re.S), re.S):
            assert len(re.findall(r"<td\b", row)) == header, row


def test_links_and_autolinks_from_logs_are_neutralised() -> None:
    text = "see [click](http://evil.example) and www.evil.example or https://evil.example/x ![i](x.png)"
    rendered = gfm(md_text(text))
    assert "<a " not in rendered and "<img" not in rendered
    assert html.unescape(re.sub(r"<[^>]+>", "", rendered)).strip() == text


@settings(max_examples=200, deadline=None)
@given(st.text(alphabet=st.characters(codec="utf-8", exclude_categories=("Cs", "Cc", "Zl", "Zp")),
               min_size=1, max_size=40))
def test_code_span_in_a_table_cell_shows_any_text_verbatim(value: str) -> None:
    expected = " ".join(safe_text(value).split())  # bidi controls are removed on purpose
    if not expected:
        return
    md = f"| a | b |\n|---|---|\n| {md_code(value)} | x |\n"
    rendered = gfm(md)
    cells = re.findall(r"<td>(.*?)</td>", rendered, re.S)
    assert len(cells) == 2, rendered
    code = re.fullmatch(r"<code>(.*)</code>", cells[0], re.S)
    assert code, rendered
    shown = html.unescape(code.group(1))
    # CommonMark strips one leading+trailing space from a padded code span.
    assert shown == expected or shown.strip() == expected.strip()


@settings(max_examples=200, deadline=None)
@given(st.text(alphabet=st.characters(codec="utf-8", exclude_categories=("Cs", "Cc", "Zl", "Zp")),
               min_size=1, max_size=40))
def test_prose_shows_any_text_verbatim_and_creates_no_markup(value: str) -> None:
    expected = " ".join(safe_text(value).split())  # bidi controls are removed on purpose
    if not expected:
        return
    rendered = gfm(f"| a |\n|---|\n| {md_text(value)} |\n")
    cell = re.findall(r"<td>(.*?)</td>", rendered, re.S)
    assert len(cell) == 1, rendered
    assert "<" not in cell[0], rendered
    assert html.unescape(cell[0]) == expected


def test_healthy_report() -> None:
    md = render_markdown(Report())
    assert md.startswith("# why502: no root cause found\n")
    assert "Every input was read." in md


def test_long_reports_stay_postable() -> None:
    from why502.findings.model import EvidenceItem, Finding, TimelineEvent

    events = [TimelineEvent(f"2026-11-21T10:{i % 60:02d}:00", "unit-restart", f"restart {i}")
              for i in range(80)]
    finding = Finding("backend-crash-loop", "t", 0.8, [502], [], "e",
                      evidence=[EvidenceItem(kind="log", summary="s", text="x" * 5000)])
    md = render_markdown(Report(findings=[finding], events=events))
    assert "| 50 | " in md and "| 51 | " not in md
    assert "(30 more events in the JSON/HTML report.)" in md
    assert "`" + "x" * 600 + "…`" in md and "x" * 601 not in md
