"""The true root cause, not a neighbour of it: the cases an experienced engineer would not get
wrong (a backend's own 5xx behind a ``combined`` access log, a request killed by the backend's own
time limit, a malformed answer from an HTTP backend, evidence that belongs to another process).

Evidence is typed here; the log lines are the real ones of the recorded fixtures
(tests/fixtures/recorded/) and the lab scenarios run the same cases on a real nginx.
"""

from __future__ import annotations

from tests.diagnose.test_diagnose_analyzers import ev, target
from why502.analyzers.rank import run_all
from why502.evidence.model import LocationOutcome
from why502.facts.probes import ConnectAttempt, ProbeResult, ProbeTarget, ProtocolResult


def http_probe(status: int, line: str) -> ProbeResult:
    """A probe that connected and got an HTTP status line."""
    return ProbeResult(ProbeTarget(host="127.0.0.1", port=8080),
                       connect=[ConnectAttempt("127.0.0.1:8080", True)],
                       protocol=ProtocolResult(sent="http", answer="http", status=status,
                                               status_line=line), ok=True)


def test_backend_5xx_behind_a_combined_log_is_upstream_returned_5xx() -> None:
    """No upstream fields, a silent error log, every request of the location a 503, and the probe
    got ``HTTP/1.0 503``: the backend made them (not "healthy")."""
    e = ev(targets=(target(location="/api/"),), access_has_upstream=False,
           locations_5xx=(LocationOutcome("example.com /api/", {503: 40}),),
           probes={"127.0.0.1:8080": http_probe(503, "HTTP/1.0 503 Service Unavailable")})
    findings, _ = run_all(e)
    assert findings and findings[0].cause == "upstream-returned-5xx"
    top = findings[0]
    assert top.target == "127.0.0.1:8080" and top.count == 40 and top.confidence >= 0.8
    text = " ".join(i.summary for i in top.evidence) + top.explanation
    assert "location /api/" in text and "HTTP/1.0 503 Service Unavailable" in text


def test_combined_log_5xx_that_nginx_made_is_not_blamed_on_the_backend() -> None:
    """The 5xx the error log proves nginx made (joined error lines) are not the backend's."""
    e = ev(targets=(target(location="/api/"),), access_has_upstream=False,
           locations_5xx=(LocationOutcome("example.com /api/", {502: 6}, by_nginx=6),),
           probes={"127.0.0.1:8080": http_probe(200, "HTTP/1.1 200 OK")})
    assert [f.cause for f in run_all(e)[0]] == []
