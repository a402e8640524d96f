"""The native scanner reads an access log's request lines as nothing, as ``classify_line`` does
(``parsers.access_line.CLF_REQUEST``, asked before anything else), instead of handing each to
the polars engine: ``proxies/nginx/_scan_wrappers.h`` ``clf_request``.

Scored before the change (stop 70): ``why502 classify`` of a 1M-line nginx access log (a natural
mistake: the command reads "any format") took 4.6 s, every line handed back by the scanner and
read by the polars engine; an error log of 2M lines takes ~0.7 s.  In a container's framing
(docker's JSON, CRI) the same log took 28 s and 25 s, each line read by the per-line engine:
the scanner now also skips a request line where ``unwrap``'s loop stops
(``framed_request``).  Here the scanner's reading
is compared with the polars engine's (summary and ``--format jsonl``) on request lines and on
lines one step from that shape -- tokens, separators, time, quotes, status, size, the end -- with
and without failure words in them, and the scanner is shown to hand none of the request lines
back.
"""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from tests.classify.test_classify_engines import WRAPPERS
from tests.classify.test_classify_native import BUILT, assert_engines_equal, write_lines
from tests.classify.wrapped_corpus import NATIVE_WRAPPERS
from why502.parsers import errorlog_native
from why502.parsers.access_line import is_clf_request

pytestmark = pytest.mark.skipif(not BUILT, reason="the native scanner was not built")

REQUEST = '198.51.100.7 - - [28/Nov/2026:09:00:00 +0000] "GET /api/v1/items?id=7 HTTP/1.1" 502 157'
# what follows the size in nginx's combined format and in why502's bench format (gen_access_log)
TAILS = ['', ' "-" "curl/8.5.0"',
         ' "-" "Mozilla/5.0" "api.example.com" rt=0.031 ua="10.0.1.7:8080" us="502"',
         ' "https://x/" "upstream timed out (110: Connection timed out) while reading response header '
         'from upstream"',
         ' "-" "connect() failed (111: Connection refused) while connecting to upstream, client: 10.0.0.5"']
# one step from a request line: (old, new) replaced once in REQUEST
STEPS = [
    ("198.51.100.7 - - ", "198.51.100.7 - - - "),       # 4 tokens: still one
    ("198.51.100.7 - - ", "198.51.100.7 - - - - "),     # 5 tokens
    ("198.51.100.7 - - ", "198.51.100.7 - "),           # 2 tokens
    ("198.51.100.7 - - ", "198.51.100.7  - - "),        # two spaces
    ("198.51.100.7 - - ", "198.51.100.7\t- - "),        # a tab
    ("198.51.100.7 - - ", "198.51\x1c100.7 - - "),      # \x1c: whitespace to Python's \s
    ("198.51.100.7 - - ", "198.51[100.7 - - "),         # a bracket in a token
    ("198.51.100.7 - - ", "- - frank "),
    ("[28/Nov/2026", "[28/nov/2026"),
    ("[28/Nov/2026", "[28/NOV/2026"),
    ("[28/Nov/2026", "[8/Nov/2026"),
    ("+0000]", "+000]"),
    ("+0000]", "-0800]"),
    ("+0000]", "]"),
    ("09:00:00 +0000", "09:00:00.123 +0000"),
    ('"GET /api', '"GET /a\\"pi'),                       # an escaped quote in the request
    ('"GET /api', '"GET /a"pi'),                         # a bare one: the request ends there
    ('HTTP/1.1"', 'HTTP/1.1\\"'),                        # no closing quote
    ('HTTP/1.1"', 'HTTP/1.1\\\\"'),                      # an escaped backslash, then the quote
    ('" 502 157', '" 50 157'),
    ('" 502 157', '" 5020 157'),
    ('" 502 157', '" 502 -'),
    ('" 502 157', '" 502 - '),
    ('" 502 157', '" 502 157x'),
    ('" 502 157', '" 502 '),
    ('" 502 157', '" 502 157\rx'),
    ('" 502 157', '"  502 157'),
    ('" 502 157', '"\t502 157'),
]


def _lines() -> list[str]:
    lines = []
    for tail in TAILS:
        lines.append(REQUEST + tail)
        lines.append(REQUEST + tail + "\r")
        lines += [REQUEST.replace(old, new, 1) + tail for old, new in STEPS]
    rng = random.Random("clf")
    for _ in range(300):  # a request line cut or with a character dropped
        line = REQUEST + rng.choice(TAILS)
        cut = rng.randrange(len(line))
        lines.append(line[:cut] if rng.random() < 0.5 else line[:cut] + line[cut + 1:])
    return lines


def test_the_lines_here_are_both_shapes() -> None:
    taken = [is_clf_request(ln.rstrip("\r\n")) for ln in _lines()]
    assert sum(taken) > 50 and len(taken) - sum(taken) > 200


def test_the_scanner_reads_request_lines_as_the_engine_does(tmp_path: Path) -> None:
    assert_engines_equal([write_lines(tmp_path / "access.log", _lines())])


def test_a_request_line_is_never_handed_back() -> None:
    lines = [ln for ln in _lines() if is_clf_request(ln.rstrip("\r\n"))]
    scanner = errorlog_native.RuleBook().scanner()
    count, exact = scanner.summarize("\n".join(lines).encode())
    assert count == len(lines)
    assert exact is None
    # every other line is not nginx's: the engine's to read, as before
    others = [ln for ln in _lines() if ln.strip("\r") and not is_clf_request(ln.rstrip("\r\n"))]
    _count, exact = scanner.summarize("\n".join(others).encode())
    assert exact is not None and exact.count(b"\n") + 1 == len(others)


def test_request_lines_in_every_framing_read_as_the_engine_does(tmp_path: Path) -> None:
    """Each request line and each bent one behind every framing of the engines' tests (docker's
    JSON, CRI, timestamps, syslog, journald, compose, kubectl's prefix ...) and behind a
    timestamp that RFC 5424's shape takes with a 4-token request line: both engines alike."""
    lines = [wrap(ln) for wrap in (*WRAPPERS.values(), *NATIVE_WRAPPERS.values()) for ln in _lines()[:150]]
    lines += [f"2026-11-28T09:00:00Z {REQUEST.replace('- - ', '- - frank ', 1)}"]
    assert_engines_equal([write_lines(tmp_path / "framed.log", lines)])


@pytest.mark.parametrize("framing", ["docker-json-file", "cri", "kubectl-timestamps", "syslog-bsd",
                                     "journal-short-iso", "compose-dash", "kubectl-prefix"])
def test_a_framed_request_line_is_never_handed_back(framing: str) -> None:
    """Request lines in nginx's combined format (and their one-step variants that stay request
    lines) behind each framing the scanner follows.  A line a paste repair could change is still
    handed back (``may_normalize``, which is cautious: an nginx message in the user agent, say)."""
    wrap = {**WRAPPERS, **NATIVE_WRAPPERS}[framing]
    plain = [REQUEST.replace(old, new, 1) + tail for tail in TAILS[:2] for old, new in [("", ""), *STEPS]]
    # behind a bare timestamp, RFC 5424's "<time> host app procid msgid [sd] " takes a request line
    # of four tokens before its bracket (unwrap tries it first): that one is the engine's
    four = framing == "kubectl-timestamps"
    lines = [wrap(ln) for ln in plain if is_clf_request(ln) and "\\" not in ln
             and not (four and ln.index("[") > 0 and ln[:ln.index("[")].count(" ") == 4)]
    assert len(lines) >= 10
    scanner = errorlog_native.RuleBook().scanner()
    count, exact = scanner.summarize("\n".join(lines).encode())
    assert count == len(lines)
    assert exact is None
