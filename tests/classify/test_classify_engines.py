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

from tests.support.paths import FIXTURES_DIR
from why502.parsers.errorlog import Classified, classify_line
from why502.parsers.errorlog_batch import captures_column, classify_series

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
