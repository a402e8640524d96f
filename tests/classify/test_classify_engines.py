"""Both classify engines (per-line Python, vectorised polars) must give identical records.

Every real fixture line is checked, plain, wrapped by log pipelines and cut short, plus
generated text (hypothesis).  The wrapped and damaged variants are also checked to keep the
classification of the real line they came from.
"""

from __future__ import annotations

import json

import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from polars.testing import assert_frame_equal

from tests.classify.wrapped_corpus import (
    CRI,
    HEAD,
    NATIVE_WRAPPERS,
    ODD_WRAPPED,
    REFUSED,
    TS,
    docker_json_file,
)
from tests.support.paths import FIXTURES_DIR
from why502.parsers.errorlog import Classified, classify_line
from why502.parsers.errorlog_batch import captures_column, classify_series
from why502.parsers.errorlog_peel import peel
from why502.parsers.normalize import FRAGMENT_INSIDE, MAY_CHANGE_ASCII, every_repair, may_change

FIXTURES = FIXTURES_DIR
YEAR = 2024


def real_lines() -> list[str]:
    lines: list[str] = []
    for path in sorted((FIXTURES / "recorded").glob("*/*.log")):
        lines += path.read_text(encoding="utf-8", errors="replace").splitlines()
    for raw in (FIXTURES / "public" / "lines.tsv").read_text(encoding="utf-8").splitlines():
        if raw and not raw.startswith("#"):
            lines.append(raw.split("\t", 1)[1])
    return lines


def recognised_real_lines() -> list[str]:
    return [ln for ln in real_lines() if classify_line(ln, year=YEAR) is not None]


WRAPPERS = {
    "docker-json": lambda s: json.dumps({"log": s + "\n", "stream": "stderr",
                                         "time": "2024-05-01T12:00:01.123456789Z"}),
    "cri": lambda s: f"2024-05-01T12:00:01.123456789Z stderr F {s}",
    "kubectl-timestamps": lambda s: f"2024-05-01T12:00:01.123456789Z {s}",
    "compose-dash": lambda s: f"web-1  | {s}",
    "compose-underscore": lambda s: f"web_1  | {s}",
    "syslog-bsd": lambda s: f"May  1 12:00:01 host nginx[12]: {s}",
    "syslog-pri": lambda s: f"<11>May  1 12:00:01 host nginx[12]: {s}",
    "journal-short-iso": lambda s: f"2024-05-01T12:00:01+0000 host nginx[12]: {s}",
    "journal-json": lambda s: json.dumps({"MESSAGE": s, "__REALTIME_TIMESTAMP": "1714564801000000",
                                          "SYSLOG_IDENTIFIER": "nginx", "PRIORITY": "3"}),
    "json-escaped": lambda s: s.replace('"', '\\"'),
    "compose+timestamps": lambda s: f"web-1  | 2024-05-01T12:00:01.123Z {s}",
    "kubectl-prefix": lambda s: f"[pod/ingress-nginx-controller-7d9c5b-x2x/controller] {s}",
    "kubectl-prefix+timestamps": lambda s: f"[pod/web-0/nginx] 2024-05-01T12:00:01.123456789Z {s}",
    "crlf": lambda s: s + "\r",
}


def same_failure(a: Classified | None, b: Classified | None) -> bool:
    if a is None or b is None:
        return a is b
    return (a.source, a.symptom, a.status, a.upstream, a.client, a.request) == (
        b.source, b.symptom, b.status, b.upstream, b.client, b.request)


def assert_engines_agree(lines: list[str]) -> None:
    df = classify_series(pl.Series(lines), year=YEAR)
    batch = {row.pop("idx"): row for row in df.iter_rows(named=True)}
    for i, line in enumerate(lines):
        c = classify_line(line, year=YEAR)
        expected = None if c is None else {**c.to_dict(), "pattern": c.pattern,
                                           "captures": captures_column(c.captures)}
        assert batch.get(i) == expected, f"engines differ on line {i}: {line[:200]!r}"
    assert set(batch) <= set(range(len(lines)))


# ---------------------------------------------------------------------------------------------


def test_engines_agree_on_every_real_line() -> None:
    lines = real_lines()
    assert len(lines) > 150
    assert_engines_agree(lines)


@pytest.mark.parametrize("wrapper", sorted(WRAPPERS))
def test_wrapped_real_lines_keep_their_classification(wrapper: str) -> None:
    wrap = WRAPPERS[wrapper]
    lines = recognised_real_lines()
    wrapped = [wrap(ln) for ln in lines]
    for raw, w in zip(lines, wrapped):
        assert same_failure(classify_line(raw, year=YEAR), classify_line(w, year=YEAR)), (wrapper, w[:200])
    assert_engines_agree(wrapped)


def test_wrapped_noise_stays_noise() -> None:
    noise = [ln for ln in real_lines() if classify_line(ln) is None and ln.strip()]
    for wrap in WRAPPERS.values():
        for ln in noise:
            assert classify_line(wrap(ln), year=YEAR) is None, ln[:200]


def test_a_second_of_60_is_no_time_either_way() -> None:
    """polars' ``strptime`` reads ``23:59:60`` as a leap second and Python's ``datetime`` refuses
    it: the engine once printed the time the per-line recogniser leaves out, which showed when a
    native batch handed such a line to the per-line path of a small batch."""
    times = ["2024/02/29 23:59:60", "2024/12/31 23:59:60", "2024/05/01 12:00:59", "2024/05/01 12:60:00",
             "2024/05/01 12:00:61"]
    lines = [REFUSED.replace("2024/05/01 12:00:01", t) for t in times]
    assert_engines_agree(lines + [TS + ln for ln in lines] + [CRI + ln for ln in lines])
    records = classify_series(pl.Series(lines), year=YEAR).get_column("time").to_list()
    assert records == [None, None, "2024-05-01T12:00:59", None, None]


def test_wrapper_time_is_used_only_when_the_line_has_none() -> None:
    nginx = ('2016/11/06 11:03:01 [error] 3860#0: *37 connect() failed (111: Connection refused) while '
             'connecting to upstream, client: 127.0.0.1, server: _, upstream: "fastcgi://127.0.0.1:9000"')
    c = classify_line(WRAPPERS["docker-json"](nginx))
    assert c is not None and c.time == "2016-11-06T11:03:01"
    envoy = "upstream connect error or disconnect/reset before headers. reset reason: connection failure"
    c = classify_line(WRAPPERS["cri"](envoy))
    assert c is not None and c.time == "2024-05-01T12:00:01.123456+00:00"
    c = classify_line(WRAPPERS["journal-json"](envoy))
    assert c is not None and c.time == "2024-05-01T12:00:01+00:00"


def test_lines_cut_short_at_the_end() -> None:
    cut_lines = []
    for line in recognised_real_lines():
        c = classify_line(line, year=YEAR)
        assert c is not None
        if c.source != "nginx" or " while " not in line:
            continue
        # cut anywhere after the action started: the symptom must survive
        start = line.index(" while ") + len(" while ") + 4
        for end in range(start, len(line), 7):
            cut = classify_line(line[:end], year=YEAR)
            assert cut is not None and cut.symptom == c.symptom, line[:end]
            cut_lines.append(line[:end])
        # cut anywhere at all: never an error, and both engines agree
        cut_lines += [line[:end] for end in range(0, len(line), 11)]
    assert_engines_agree(cut_lines)


def test_lines_cut_short_at_the_start() -> None:
    checked = 0
    for line in recognised_real_lines():
        c = classify_line(line, year=YEAR)
        assert c is not None
        if c.source != "nginx" or not line[:4].isdigit():
            continue
        message = c.message
        cuts = [line[5:], line[20:]]
        if "upstream" in message or " while " in message:  # enough to tell an nginx message
            cuts += [" " + message, message]
        for cut in cuts:
            got = classify_line(cut, year=YEAR)
            assert got is not None and (got.symptom, got.status) == (c.symptom, c.status), cut[:160]
            checked += 1
    assert checked > 100


def test_truncated_docker_json_is_still_read() -> None:
    line = ('2022/09/08 10:29:07 [error] 58#58: *73334436 writev() failed (32: Broken pipe) while sending '
            'request to upstream, client: 10.23.4.251, server: _, request: "POST /x HTTP/1.1"')
    wrapped = WRAPPERS["docker-json"](line)
    cut = wrapped[: wrapped.index("while sending") + 10]
    c = classify_line(cut)
    assert c is not None and (c.symptom, c.status) == ("broken-pipe", 502)


def test_non_utf8_and_control_bytes() -> None:
    raw = (b'2024/05/01 12:00:01 [error] 7#7: *9 connect() failed (111: Connection refused) while connecting '
           b'to upstream, client: 1.2.3.4, server: x, request: "GET /\xff\xfe\x1b[31m HTTP/1.1", '
           b'upstream: "http://127.0.0.1:1/"')
    line = raw.decode("utf-8", errors="replace")
    c = classify_line(line)
    assert c is not None and c.symptom == "connection-refused" and "\ufffd" in (c.request or "")
    assert_engines_agree([line, "\ufffd" * 10, "\x00\x01\x02", "é" * 3000])


def test_very_long_line() -> None:
    line = ('2024/05/01 12:00:01 [error] 7#7: *9 upstream timed out (110: Connection timed out) while '
            'reading response header from upstream, client: 1.2.3.4, server: x, request: "GET /'
            + "a" * 200_000 + ' HTTP/1.1", upstream: "http://10.0.0.1:80/"')
    c = classify_line(line)
    assert c is not None and (c.symptom, c.status, c.upstream) == ("read-timeout", 504, "http://10.0.0.1:80/")
    assert_engines_agree([line])


FRAGMENTS = ["connect() failed", "connect() to ", "upstream timed out", " (111: Connection refused)",
             " (110: x)", " while ", "connecting to upstream", "reading upstream", ", client: 1.2.3.4",
             ', upstream: "http://a"', ', request: "GET /"', '"', "\\\"", "2024/05/01 12:00:01 [error] 1#1: ",
             "*5 ", "FastCGI sent in stderr: ", "PHP Fatal error", "limiting requests", " dry run",
             "could not be resolved", "x ", "{", '{"log":"', "web-1  | ", "<11>", "SC-- ", "\ufffd"]


@settings(max_examples=300, deadline=None)
@given(st.lists(st.lists(st.sampled_from(FRAGMENTS), max_size=12).map("".join), min_size=1, max_size=20))
def test_engines_agree_on_generated_lines(lines: list[str]) -> None:
    assert_engines_agree(lines)


# ---------------------------------------------------------------------------------------------
# Framed lines the polars engine peels column-wise (parsers.errorlog_peel): the per-line
# recogniser stays the reference, and a peel that stopped peeling would still agree, only 40x
# slower -- so the tests count the lines it peeled too.


def peeled(lines: list[str]) -> int:
    """How many of ``lines`` the peel replaced by the nginx line inside them."""
    got = peel(pl.Series(lines, dtype=pl.String)).text.to_list()
    return sum(a != b for a, b in zip(lines, got, strict=True))


@pytest.mark.parametrize("framing", sorted(NATIVE_WRAPPERS))
def test_every_real_line_framed_as_the_peel_reads_it(framing: str) -> None:
    """Every real line, noise and other programs' lines too, framed: the polars engine's records
    are the per-line recogniser's, and the nginx lines among them were peeled."""
    lines = [NATIVE_WRAPPERS[framing](ln) for ln in real_lines()]
    assert_engines_agree(lines)
    assert peeled(lines) > 150


def test_odd_framed_lines_against_the_per_line_recogniser() -> None:
    """Each odd framed line alone (its batch goes its own way), then all of them among plain and
    other framed lines: escaped quotes, ``\\u00XX`` escapes, CRI partial lines, malformed
    objects, a framing around a line of another program."""
    for line in ODD_WRAPPED:
        assert_engines_agree([line])
    mixed = [x for pair in zip(ODD_WRAPPED, real_lines(), strict=False) for x in pair]
    assert_engines_agree(mixed)
    assert 10 < peeled(ODD_WRAPPED) < len(ODD_WRAPPED)


def test_the_peel_reads_docker_escapes_as_json_does() -> None:
    """What the peel takes out of docker's object is ``json.loads``'s ``log`` without its newline;
    an escaped quote left after the unescape (``unwrap`` rewrites it) keeps the line as it is."""
    odd = REFUSED.replace("GET /", "GET /?a=1&b=<2>\\t\\x\x01\\\\n\\u0041") + "\x1f\r"
    lines = [docker_json_file(odd), docker_json_file(REFUSED + "\\"), docker_json_file(REFUSED),
             docker_json_file(REFUSED.replace("GET /", 'GET /\\"'))]
    got = peel(pl.Series(lines)).text.to_list()
    for line, inner in zip(lines[:3], got, strict=False):
        assert inner == json.loads(line)["log"].rstrip("\r\n")
    assert got[3] == lines[3]
    assert_engines_agree(lines)


PEEL_FRAMINGS = {"docker": docker_json_file, "cri": lambda s: CRI + s,
                 "cri-partial": lambda s: CRI[:-3] + "P " + s, "timestamps": lambda s: TS + s}
INNER_PIECES = [*FRAGMENTS, "\\", '\\"', "<", "&", "\t", "\n", "\r", "\x01", "é", "...", ">", ".", "_5 ",
                "* 5 ", "**", " ()", "( 111: ", "x )", "[x] ", "- ", "`", "'", "Connection refused",
                "(104: reset) while reading upstream", "unix:  /a", "worker_connections are not enough"]


@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(sorted(PEEL_FRAMINGS)), st.booleans(),
                          st.lists(st.sampled_from(INNER_PIECES), max_size=10).map("".join),
                          st.integers(min_value=-40, max_value=0)), min_size=1, max_size=12))
def test_engines_agree_on_generated_framed_lines(cases: list[tuple[str, bool, str, int]]) -> None:
    """Generated nginx lines (a head, then pieces of messages, escapes and repair marks) in each
    framing, some cut short (a malformed framing): the per-line recogniser's records, alone and
    between their plain lines -- which keep the records they get without framed neighbours (the
    plain path's own agreement is the tests' above)."""
    framed, plain = [], []
    for framing, conn, body, cut in cases:
        inner = HEAD.replace("*9 ", "*9 " if conn else "") + body
        line = PEEL_FRAMINGS[framing](inner)
        framed.append(line[:cut] if cut else line)
        plain.append(inner)
    assert_engines_agree(framed)
    both = [x for pair in zip(framed, plain, strict=True) for x in pair]
    mixed = classify_series(pl.Series(both), year=YEAR)
    alone = classify_series(pl.Series(plain), year=YEAR)
    assert_frame_equal(mixed.filter(pl.col("idx") % 2 == 1).with_columns(pl.col("idx") // 2), alone)
    assert_frame_equal(mixed.filter(pl.col("idx") % 2 == 0).with_columns(pl.col("idx") // 2),
                       classify_series(pl.Series(framed), year=YEAR))


ASCII_PIECES = ["a", "A", "Up", " ", "\t", "\x1c", "(", ")", "()", "(1", "11: ", ": ", " )", "*", "**", "_",
                "\\", "#", "1#2: ", "7", '"', "'", "`", ".", ",", ";", "...", "[...]", "(truncated)", ">",
                "failed ", "unix:", "/", " while ", "connecting to", " upstream", "reading",
                "Connection refused", "worker_connections are not enough", "connect() failed",
                # case: _BARE_ERRNO_ACTION reads the errno text, "while" and the action in any case
                " WHILE ", " While ", "CONNECTING TO", " UPSTREAM", "connection REFUSED", "\x00", "\x7f"]


@settings(max_examples=500, deadline=None)
@given(st.lists(st.lists(st.sampled_from(ASCII_PIECES), max_size=14).map("".join), min_size=1, max_size=20))
def test_may_change_covers_every_repair(texts: list[str]) -> None:
    """``normalize.MAY_CHANGE_ASCII`` and ``FRAGMENT_INSIDE`` (with nothing of a call before it) are
    a superset of what ``normalize`` changes in an ASCII line: the peel leaves a line to the
    per-line recogniser only when they hold, so a repair they miss would drop a line it reads.
    So is ``may_change``, ``normalize``'s own shortcut (every repair is tried, ``every_repair``,
    against it)."""
    col = pl.Series(texts, dtype=pl.String)
    at = col.str.find(FRAGMENT_INSIDE)
    before = col.str.slice(0, at)
    may = (col.str.contains(MAY_CHANGE_ASCII) | (at.is_not_null() & ~before.str.contains("()", literal=True)
                                                 & ~before.str.contains("failed", literal=True))).to_list()
    for text, flagged in zip(texts, may, strict=True):
        if every_repair(text).changed:
            assert flagged, text
            assert may_change(text), text
