"""The first screen of ``diagnose`` (``reporters.text.report.first_screen``, issue 31): it fits a
24-line terminal at any width from 60 columns, with the verdict, the read: line, three pieces of
evidence, the fix's commands and "more with -v"; times of the run's day lose their date; a diff
that does not fit is cut at whole hunks."""

from __future__ import annotations

import io
from dataclasses import replace

import pytest
from rich.cells import cell_len
from rich.console import Console

from why502.app.diagnose.demo import demo_report
from why502.findings.model import EvidenceItem, Finding, Fix, Report
from why502.reporters.text.report import SCREEN, render_terminal, short_times


def _screen(report: Report, width: int, verbose: bool = False) -> list[str]:
    out = io.StringIO()
    render_terminal(report, Console(file=out, width=width, color_system=None), verbose=verbose)
    return out.getvalue().splitlines()


def _big() -> Report:
    words = "a long explanation of what went wrong and why it matters to the person on call " * 6
    diff = "--- a/x.conf\n+++ b/x.conf\n" + "".join(
        f"@@ -{i * 10},3 +{i * 10},3 @@\n ctx\n-old {i}\n+new {i}\n" for i in range(1, 30))
    f = Finding(cause="backend-too-slow", title="The backend answers later than the proxy waits "
                "(and this title is long enough to wrap)", confidence=0.9, status_codes=[504],
                symptoms=[], explanation=words, upstream="app", target="127.0.0.1:8080",
                evidence=[EvidenceItem(kind="log", summary=f"evidence {i} " + words,
                                       source="/var/log/e.log", line=i, text="raw line " * 40)
                          for i in range(8)],
                fix=Fix(summary="raise proxy_read_timeout " + words[:200],
                        commands=["nginx -t -c /srv/app/nginx.conf",
                                  "nginx -s reload -c /srv/app/nginx.conf"],
                        diff=diff),
                first_seen="2026-11-23T22:55:56", last_seen="2026-11-23T23:01:02", count=42)
    others = [Finding(cause="keepalive-race", title=f"other {i}", confidence=0.3, status_codes=[502],
                      symptoms=[], explanation="x") for i in range(4)]
    return Report(findings=[f, *others], generated_at="2026-11-23T23:05:00+00:00",
                  inputs={"config": "/srv/app/nginx.conf", "error_logs": ["/var/log/e.log"]})


@pytest.mark.parametrize("width", [60, 80, 132])
@pytest.mark.parametrize("which", ["big", "demo"])
def test_the_first_screen_fits_24_lines_at_any_width(width: int, which: str) -> None:
    report = _big() if which == "big" else demo_report()
    lines = _screen(report, width)
    assert len(lines) <= SCREEN, "\n".join(lines)
    assert all(cell_len(line) <= width for line in lines), "\n".join(lines)
    assert lines[0].startswith("✘ ")
    assert lines[-1].startswith("more with -v")
    assert sum(1 for line in lines if line.lstrip().startswith("• ")) == 3
    assert any(line.lstrip().startswith("$ ") for line in lines)  # the fix's command
    if which == "big":
        assert any("read: /srv/app/nginx.conf" in line for line in lines)


def test_a_cut_diff_shows_whole_hunks_and_says_how_many() -> None:
    big = _big()
    short = replace(big.findings[0], explanation="short.", evidence=[
        EvidenceItem(kind="config", summary=f"line {i}") for i in range(3)])
    lines = _screen(replace(big, findings=[short]), 132)
    note = next(line for line in lines if "lines of this diff" in line)
    assert "(29 hunks in all: -v shows it)" in note
    shown = [line[5:] for line in lines if line.startswith("     ") and line[5:6] in "@ +-"
             and not line.lstrip().startswith("$")]
    hunks = [i for i, line in enumerate(shown) if line.startswith("@@")]
    assert hunks and len(shown) - hunks[-1] == 4  # the last hunk shown is whole: header and 3 lines


def test_verbose_is_the_whole_report() -> None:
    full = "\n".join(_screen(_big(), 80, verbose=True))
    assert "evidence 7" in full and "raw line" in full and "other 3" in full
    assert full.count("@@ ") == 29


def test_times_of_the_run_day_lose_their_date() -> None:
    day = "2026-11-23"
    assert short_times("at 2026-11-23T22:55:56.123+00:00, then", day) == "at 22:55:56, then"
    assert short_times("between 2026-11-23 22:55:56 and 2026-11-23 22:55:56", day) == "at 22:55:56"
    assert short_times("since 2026-11-21T21:11:54", day) == "since 2026-11-21T21:11:54"
    assert short_times("between 2026-11-21 21:11:57 and 21:11:57 (7)", day) == "at 2026-11-21 21:11:57 (7)"
    lines = _screen(_big(), 80)
    assert any("22:55:56 … 23:01:02" in line for line in lines)
    assert not any("2026-11-23" in line for line in lines)


def test_a_report_of_recovered_findings_only_says_so() -> None:
    past = Finding(cause="backend-not-running", title="Past incident, recovered: x", confidence=0.5,
                   status_codes=[502], symptoms=[], explanation="e", recovered=True)
    lines = _screen(Report(findings=[past]), 80)
    assert lines[0].startswith("✔ recovered: Past incident")


@pytest.mark.parametrize("healthy", [True, False])
def test_markdown_says_what_was_read_under_the_verdict(healthy: bool) -> None:
    from why502.reporters.markdown import render_markdown

    big = _big()
    report = replace(big, findings=[] if healthy else big.findings)
    lines = render_markdown(report).splitlines()
    under = lines[4 if healthy else 2]
    assert under.startswith("*read: /srv/app/nginx.conf · logs /var/log/e.log"), lines[:6]
