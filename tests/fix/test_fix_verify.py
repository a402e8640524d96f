"""The verification judges the new workers only: a proxy 5xx line written after the reload by an
old worker (a request it began under the old config) is ignored, one from any other pid fails."""

from __future__ import annotations

from pathlib import Path

from why502.app.fix.verify import log_offsets, verify

TIMEOUT = ("2026/11/23 09:00:0{s} [error] {pid}#{pid}: *7 upstream timed out (110: Connection timed out) "
           "while reading response header from upstream, client: 127.0.0.1, server: lab.example, "
           'request: "GET /r HTTP/1.1", upstream: "http://127.0.0.1:9000/r", host: "lab.example"\n')


def test_lines_of_old_workers_do_not_fail_the_fix(tmp_path: Path) -> None:
    log = tmp_path / "error.log"
    log.write_text(TIMEOUT.format(s=1, pid=100))  # before the reload: never read
    offsets = log_offsets([str(log)])
    with log.open("a") as fh:
        fh.write(TIMEOUT.format(s=2, pid=100))  # an old worker finishing an old request
        fh.write("2026/11/23 09:00:02 [notice] 1#1: signal process started\n")
    verdict = verify(offsets, {100}, [], 0)
    assert verdict.ok and verdict.ignored_old_workers == 1 and verdict.lines_read == 2


def test_a_5xx_line_of_a_new_worker_fails_the_fix(tmp_path: Path) -> None:
    log = tmp_path / "error.log"
    log.write_text("")
    offsets = log_offsets([str(log)])
    with log.open("a") as fh:
        fh.write(TIMEOUT.format(s=3, pid=200))
    verdict = verify(offsets, {100}, [], 0)
    assert not verdict.ok and "read-timeout" in verdict.reason and len(verdict.lines) == 1


def test_targets_of_a_report_with_wrong_types_are_left_out() -> None:
    """A report is input: a probed target with a string port or a list host is not trusted."""
    from why502.app.fix.plan import _probed_targets
    from why502.findings.model import Report, UpstreamSummary

    good = {"kind": "proxy", "scheme": "http", "host": "127.0.0.1", "port": 8080}
    bad = [{"host": "127.0.0.1", "port": "8080"}, {"host": ["x"], "port": 1}, {"port": 70000}, "x"]
    report = Report(upstreams=[UpstreamSummary(name="app", targets=["app"],
                                               probes=[{"target": t} for t in [*bad, good]])])
    targets = _probed_targets(report)
    assert [t.label for t in targets["app"]] == ["http://127.0.0.1:8080"]
