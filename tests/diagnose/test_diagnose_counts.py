"""Error-log lines are failed *attempts*; what the client got comes from the access log only.

One request can leave several error-log lines (nginx retries with ``proxy_next_upstream``; a
failed cached keep-alive connection is retried without counting a try, ngx_http_upstream.c
``ngx_http_upstream_next``), and a retried attempt that then succeeded gives the client a 200
(``$upstream_status "502, 200"``).  The recorded keepalive-race run has 6 reset lines: 3 requests
ended in 502, 3 were rescued by the retry.
"""

from __future__ import annotations

from typing import Any

from tests.diagnose.test_diagnose_fixtures import _meta, diagnose_fixture, real  # noqa: F401
from why502.findings.model import Finding, Report


def _race(report: Report) -> tuple[Finding, str]:
    f = report.findings[0]
    assert f.cause == "keepalive-race"
    resets = [e.summary for e in f.evidence if e.symptom == "connection-reset"]
    assert resets, [e.summary for e in f.evidence]
    return f, resets[0]


def test_with_access_log_counts_requests_not_attempts(real: Any) -> None:  # noqa: F811
    meta = real(_meta("keepalive-race"))
    report, _ = diagnose_fixture(meta)
    f, summary = _race(report)
    assert "6 failed attempts" in summary
    assert "clients got 3×502" in summary
    assert "3 were retried and answered without a 5xx" in summary
    assert "6×502" not in summary
    assert f.count == 3  # requests that ended in 502, from the access log


def test_without_access_log_claims_only_failed_attempts(real: Any) -> None:  # noqa: F811
    meta = dict(real(_meta("keepalive-race")))
    meta["files"] = {k: v for k, v in meta["files"].items() if k != "access_log"}
    report, _ = diagnose_fixture(meta)
    f, summary = _race(report)
    assert "6 failed attempts" in summary
    assert "nginx answers 502 for this when it is the last attempt" in summary
    assert "clients got" not in summary and "client got" not in summary
    assert f.count == 6  # attempts: nothing tells how many requests


def test_terminal_header_uses_request_count(real: Any) -> None:  # noqa: F811
    import io

    from rich.console import Console

    from why502.reporters.text.report import render_terminal

    report, _ = diagnose_fixture(real(_meta("keepalive-race")))
    buf = io.StringIO()
    render_terminal(report, Console(file=buf, width=200, color_system=None), verbose=True)
    out = buf.getvalue()
    assert "502 × 3]" in out
    buf = io.StringIO()  # the first screen says the same count
    render_terminal(report, Console(file=buf, width=200, color_system=None))
    assert "502 × 3" in buf.getvalue() and "6×502" not in buf.getvalue()
    assert "client got 6×502" not in out


def test_two_symptoms_at_one_peer_are_split_by_the_joined_error_line(real: Any) -> None:  # noqa: F811
    """backlog-full (502) and read-timeout (504) at the same FPM socket: the access log's 5xx
    requests are split by the symptom the stats engine joined to each, not shared by guess."""
    report, _ = diagnose_fixture(real(_meta("demo-fpm-exhausted")))
    summaries = [e.summary for f in report.findings for e in f.evidence]
    assert any("11 failed attempts; clients got 11×502" in s for s in summaries), summaries
    assert any("7 failed attempts; clients got 7×504" in s for s in summaries), summaries
    assert not any("about" in s for s in summaries)


def test_an_ambiguous_join_is_not_trusted_beyond_the_lines(real: Any) -> None:  # noqa: F811
    """Three identical ``GET /jobs`` in one second: 1 premature close, then 2 refusals, 3×502.
    The per-request join cannot tell them apart; no symptom may get more requests than lines."""
    _, g = diagnose_fixture(real(_meta("backend-crashed-exit")))
    got = {s.symptom: s.clients for s in g.evidence.logs.symptoms if s.clients is not None}
    assert got == {"premature-close": {502: 1}, "connection-refused": {502: 2}}, got


def test_lines_that_are_not_attempts_are_not_called_attempts(real: Any) -> None:  # noqa: F811
    report, _ = diagnose_fixture(real(_meta("app-fatal-error")))
    s = next(e.summary for e in report.findings[0].evidence if e.symptom == "app-error")
    assert "3 lines the backend wrote to stderr" in s and "failed attempt" not in s
    report, _ = diagnose_fixture(real(_meta("proxy-rate-limited")))
    s = next(e.summary for e in report.findings[0].evidence if e.symptom == "rate-limited")
    assert "4 requests rejected before any upstream attempt, nginx answered 503" in s, s


def test_an_access_log_of_other_minutes_says_nothing_about_these_clients(real: Any) -> None:  # noqa: F811
    """Only the newest access.log given, the errors are older: no 'clients got' from it."""
    meta = dict(real(_meta("keepalive-race")))
    d = meta["dir"]
    later = d / "access-later.log"
    later.write_text((d / meta["files"]["access_log"]).read_text().replace("2026:21:18:",
                                                                          "2026:21:25:"))
    meta["files"] = {**meta["files"], "access_log": later.name}
    report, _ = diagnose_fixture(meta)
    f, summary = _race(report)
    assert "6 failed attempts" in summary and "clients got" not in summary, summary
    assert f.count == 6


def test_backend_made_5xx_get_the_backend_status_not_nginx_s() -> None:
    """One server: nginx made 502 for 677 failed attempts, the backend answered 503 388 times.
    The backend's 5xx are 503s, not the peer's most frequent 5xx (nginx's 502)."""
    from collections import Counter

    from why502.app.diagnose.access import timing_from_stats
    from why502.evidence.stats import UpstreamStats

    u = UpstreamStats(address="10.0.0.1:8080", attempts=37663, failed_attempts=677,
                      statuses=Counter({"200": 36598, "502": 677, "503": 388}),
                      requests_5xx=574, made_by=Counter({"nginx": 186, "backend": 388}))
    t = timing_from_stats(u)
    assert dict(t.backend_5xx) == {503: 388}
    assert dict(t.proxy_5xx) == {502: 186}
