"""Caddy's console-encoded error lines, as people paste them, read with their time and upstream
(issue 24; tests/fixtures/caddy-console: real lines from public threads, provenance there).

zap's console encoder writes ``<time>\\t<LEVEL>\\t<logger>\\t<msg>\\t<fields as JSON>``
(go.uber.org/zap zapcore/console_encoder.go); ``proxies.caddy.log.parse_caddy_console`` reads it
as its JSON twin.  First score, before the reader: given as ``--access-log`` each was "healthy"
(exit 0, no finding, a 502 line read as nothing); as ``--error-log`` the last resort
``unexplained-5xx`` with no time and no upstream.
"""

from __future__ import annotations

import json

import pytest

from tests.conftest import RunMain
from tests.support.paths import FIXTURES_DIR

LINES = FIXTURES_DIR / "caddy-console"


@pytest.mark.parametrize(("log", "cause", "target", "first"), [
    ("dial-refused.log", "backend-not-running", "127.0.0.1:2021", "2023-05-21T09:58:05.456"),
    ("dial-reset-spaces.log", "backend-crashed", "127.0.0.1:5173", "2025-12-02T15:53:33.246"),
    ("dns-lookup-timeout.log", "dns-unresolvable", None, "2025-02-11T04:27:47.487"),
])
@pytest.mark.parametrize("flag", ["--error-log", "--access-log"])
def test_a_console_line_names_cause_upstream_and_time(log: str, cause: str, target: str | None,
                                                      first: str, flag: str,
                                                      run_main: RunMain) -> None:
    code, out, err = run_main("diagnose", "--offline", flag, str(LINES / log), "--format", "json")
    assert code == 1, err
    report = json.loads(out)
    top = report["findings"][0]
    assert (top["cause"], top["target"], top["first_seen"]) == (cause, target, first), top
    assert not report["healthy"]


def test_the_reader_is_the_json_lines_reader() -> None:
    """The console line and its JSON twin give the same record but for the time's spelling."""
    from why502.proxies.caddy.log import parse_caddy, parse_caddy_console

    line = (LINES / "dial-refused.log").read_text().strip()
    rec = parse_caddy_console(line)
    assert rec is not None and rec.code == "connection refused" and rec.kind == "error"
    fields = json.loads(line.split("\t", 4)[4])
    twin = parse_caddy({**fields, "logger": "http.log.error", "msg": line.split("\t")[3],
                        "level": "error", "ts": rec.time})
    assert twin == rec
