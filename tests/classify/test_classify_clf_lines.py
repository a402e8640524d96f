"""Request lines in the common log format are no error messages, whatever fields follow them
(``parsers.access_line``).

An Apache access log in ``%h %l %u %t "%r" %>s %b %D`` -- the real ones recorded from
``apache2 -DFOREGROUND`` under ``tests/fixtures/recorded`` and ``matrix-cells`` -- matched no
predefined format: ``classify`` read each 5xx line through the prose rules that read "502" in a
sentence (37 s for 1M lines, BENCHMARKS.md stop 58), found nothing and called the log healthy
(exit 0).  Scored before the change on the six recorded Apache access logs: exit 0 on 6 of 6;
after: the note and exit 1 on 6 of 6.
"""

from __future__ import annotations

import json
from pathlib import Path

import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.conftest import RunMain
from tests.support.paths import FIXTURES_DIR
from why502.parsers.access_line import clf_status, is_clf_request
from why502.parsers.errorlog import classify_line
from why502.parsers.errorlog_batch import classify_series

APACHE_ACCESS = sorted([*FIXTURES_DIR.glob("recorded/apache-*/apache-access.log"),
                        *FIXTURES_DIR.glob("matrix-cells/apache-*/apache-access.log")])
# a real nginx error line (recorded/backend-down-tcp) and a real HAProxy session line (its
# recorded log), which must stay read when access lines are around them
NGINX_ERROR = FIXTURES_DIR / "recorded" / "backend-down-tcp" / "error.log"
HEAD = '127.0.0.1 - - [23/Nov/2026:09:36:55 +0000] "GET / HTTP/1.1"'
# what the error rules would read in a line's free text: a referer or a URL carrying an nginx
# message, a sentence with "502 Bad Gateway" (all client-controlled in an access line)
BAITS = [
    f'{HEAD} 502 381 "http://x/?m=connect() failed (111: Connection refused) while connecting to '
    'upstream" "curl/8"',
    f'{HEAD} 502 381 "-" "we get 502 Bad Gateway since the deploy"',
    '127.0.0.1 - - [23/Nov/2026:09:36:55 +0000] "GET /?q=upstream%20timed%20out HTTP/1.1" 504 160 "-" '
    '"upstream timed out (110: Connection timed out)"',
    # Apache escapes a quote inside the request as \"
    '127.0.0.1 - - [23/Nov/2026:09:36:55 +0000] "GET /\\"502 Bad Gateway\\" HTTP/1.1" 502 381 1000852',
    # vhost_combined: %v:%p in front
    f'www.example.com:80 {HEAD} 502 381 "-" "upstream prematurely closed connection"',
]


def test_the_recorded_apache_lines_are_clf_requests() -> None:
    lines = [ln for f in APACHE_ACCESS for ln in f.read_text().splitlines() if ln]
    assert len(APACHE_ACCESS) == 6 and len(lines) >= 40
    assert all(is_clf_request(ln) for ln in lines)
    assert [clf_status(ln) for ln in lines] == [int(ln.split('" ')[1].split()[0]) for ln in lines]


@pytest.mark.parametrize("line", BAITS)
def test_a_request_line_is_read_by_no_rule(line: str) -> None:
    assert is_clf_request(line)
    assert classify_line(line) is None
    assert classify_series(pl.Series([line])).height == 0


@pytest.mark.parametrize("line", [
    # HAProxy: one token before the bracket, a fraction in the date
    "10.0.0.1:5678 [21/Nov/2026:10:00:00.123] fe be/srv 0/0/-1/-1/3 503 212 - - SC-- 1/1/0/0/0 0/0 "
    '"GET / HTTP/1.1"',
    # syslog in front
    'Nov 21 10:00:00 web nginx: 10.0.0.1 - - [21/Nov/2026:10:00:00 +0000] "GET / HTTP/1.1" 502 0',
    # no zone, no status
    '10.0.0.1 - - [21/Nov/2026:10:00:00] "GET / HTTP/1.1" 502 0',
    '10.0.0.1 - - [21/Nov/2026:10:00:00 +0000] "GET / HTTP/1.1" five 0',
    "2026/11/23 09:09:44 [error] 7#7: *1 connect() failed (111: Connection refused) while connecting "
    "to upstream",
])
def test_other_shapes_are_not_clf_requests(line: str) -> None:
    assert not is_clf_request(line)


def test_error_lines_among_access_lines_are_still_read(tmp_path: Path, run_main: RunMain) -> None:
    """Docker's log of an nginx container mixes its access lines (stdout) and its error lines
    (stderr): the error lines are read as before, the access lines are not."""
    errors = [ln for ln in NGINX_ERROR.read_text().splitlines() if ln]
    alone = tmp_path / "errors.log"
    alone.write_text("\n".join(errors) + "\n")
    mixed = tmp_path / "mixed.log"
    mixed.write_text("".join(f"{BAITS[i % len(BAITS)]}\n{err}\n" for i, err in enumerate(errors)))
    got = {}
    for name, path in (("alone", alone), ("mixed", mixed)):
        code, out, _err = run_main("classify", str(path), "--format", "jsonl")
        rows = [json.loads(r) for r in out.splitlines() if r]
        got[name] = [(r["symptom"], r["upstream"], r["time"], r["message"]) for r in rows]
        assert code == 1
    assert got["alone"] and got["mixed"] == got["alone"]
    code, out, _err = run_main("classify", str(mixed), "--format", "json")
    assert json.loads(out)["recognised"] == len(got["alone"])


@pytest.mark.parametrize("log", APACHE_ACCESS, ids=lambda p: p.parent.name)
def test_a_real_apache_access_log_is_not_healthy(log: Path, run_main: RunMain) -> None:
    statuses = [int(ln.split('" ')[1].split()[0]) for ln in log.read_text().splitlines() if ln]
    five = sum(1 for s in statuses if s >= 500)
    assert five, log
    code, out, err = run_main("classify", str(log), "--format", "json")
    assert code == 1
    assert json.loads(out)["recognised"] == 0
    assert (f"is an access log ({len(statuses)} of its first {len(statuses)} lines starting in the "
            "common log format, with fields no predefined format names after it, "
            f"{five} of them a 5xx)") in err


def test_the_batch_engine_hands_no_request_line_to_the_per_line_recogniser(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """The lines are dropped in polars' regex, not one by one in Python (the 37 s)."""
    from why502.parsers import errorlog_batch

    asked: list[str] = []
    memo = errorlog_batch.shared_memo()

    class Spy:
        def classify(self, line: str, year: int = 1970) -> object:
            asked.append(line)
            return memo.classify(line, year=year)

    monkeypatch.setattr(errorlog_batch, "shared_memo", lambda: Spy())
    errors = [ln for ln in NGINX_ERROR.read_text().splitlines() if ln]
    # the nginx lines take the engine's own path; the wrapped one (and the baits, before) the
    # per-line path
    wrapped = "Nov 23 09:09:44 web nginx: " + errors[0]
    out = classify_series(pl.Series([*BAITS, *errors, wrapped]))
    assert asked == [wrapped]
    assert out.height == len(errors) + 1


CLF_PIECES = ["a", '"', "\\", " ", "\r", "GET /", '" 502 12 ', '" 200 - ', '\\"', '" 50', "1", "-", "[",
              "\\\\", "\u00e9"]


@settings(max_examples=400, deadline=None)
@given(st.booleans(), st.lists(st.sampled_from(CLF_PIECES), max_size=14).map("".join))
def test_python_s_request_pattern_is_the_shared_one(headed: bool, rest: str) -> None:
    """``access_line._CLF_REQUEST`` (possessive repeats, for Python's ``re``) matches what
    ``CLF_REQUEST`` (the text polars reads too) matches, and the same groups."""
    import re

    from why502.parsers.access_line import _CLF_REQUEST, CLF_REQUEST

    text = ('1.2.3.4 - - [21/Nov/2026:10:00:01 +0000] "' if headed else "") + rest
    a, b = re.compile(CLF_REQUEST).match(text), _CLF_REQUEST.match(text)
    assert (a is None) == (b is None)
    assert a is None or b is None or (a.group(0), a.group("status")) == (b.group(0), b.group("status"))


def test_a_long_request_costs_no_memory_per_character() -> None:
    """A 1 MiB request with no closing quote: Python's ``re`` kept a mark per character of
    ``(?:[^"\\\\]|\\\\.)*`` (153 MB); the per-line recogniser asks every line it reads."""
    import tracemalloc

    line = '10.9.9.9 - - [21/Nov/2026:10:00:01 +0000] "GET /' + "A" * (1 << 20)
    tracemalloc.start()
    try:
        assert classify_line(line) is None
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 30 << 20, peak
