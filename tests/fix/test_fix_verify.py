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
