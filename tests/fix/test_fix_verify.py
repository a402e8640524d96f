"""The verification judges the new workers only: a proxy 5xx line written after the reload by an
old worker (a request it began under the old config) is ignored, one from any other pid fails."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from why502.app.fix.verify import log_offsets, request, verify
from why502.lab.runtime import Stack

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


@pytest.mark.real
def test_the_verify_request_is_bounded_in_total_and_takes_any_status() -> None:
    """``GET`` after the reload goes through the bounded reader: a server dripping its status
    line one byte every 0.2 s (http.client's per-read timeout: up to 64 KiB x 0.2 s) ends at the
    1 s timeout as an error; a 502 is a status; the body (9 MiB here) is not read."""
    with Stack() as stack:
        drip = stack.add_backend("drip", delay=0.2)
        five = stack.add_backend("status502")
        big = stack.add_backend("ok", body_bytes=9 << 20)  # over the reader's 8 MiB: not read
        done: list[int | str] = []
        t = threading.Thread(target=lambda: done.append(request(f"http://{drip.address}/", 1.0)),
                             daemon=True)
        t.start()
        t.join(60)
        finished = list(done)  # before the stack stops the server (which ends any read)
        assert request(f"http://{five.address}/", 10.0) == 502
        assert request(f"http://{big.address}/", 10.0) == 200
    assert finished and isinstance(finished[0], str), finished
    assert "within 1 s" in str(finished[0])


def test_the_verify_request_follows_no_redirect_and_no_proxy(monkeypatch: pytest.MonkeyPatch) -> None:
    """A 301 is the answer (following it could leave the host); ``http_proxy`` pointing to a
    closed port does not stop a request to this host (asked directly, as with http.client)."""
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    class Redirect(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(301)
            self.send_header("Location", "http://127.0.0.1:1/elsewhere")
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, format: str, *args: object) -> None:
            return

    server = ThreadingHTTPServer(("127.0.0.1", 0), Redirect)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        monkeypatch.setenv("http_proxy", "http://127.0.0.1:1")
        monkeypatch.delenv("no_proxy", raising=False)
        assert request(f"http://127.0.0.1:{server.server_address[1]}/", 10.0) == 301
    finally:
        server.shutdown()
        server.server_close()
