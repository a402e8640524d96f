"""The summary fast path (``summarize_series``, default ``why502 classify`` output) must count
exactly what the per-line records say.

It skips per-line records (capture-free regexes, one rule decision per distinct combination) and
hands anything unusual to the exact engine, so it is checked against both engines' records on
every real fixture line, their wrapped and cut variants, a long log made of them, odd
inputs, and generated text (hypothesis); end to end, ``summarize_paths`` (the default output)
against the ``--format jsonl`` path on the same file, with and without ``--since``.
"""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path
from typing import Any

import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.classify.test_classify_engines import FRAGMENTS, WRAPPERS, YEAR, real_lines, recognised_real_lines
from tests.classify.wrapped_corpus import HEAD, NATIVE_WRAPPERS, ODD_WRAPPED, REFUSED
from why502.app.classify import ClassifySummary, classify_paths, split_lines, summarize_paths
from why502.parsers.errorlog import classify_line
from why502.parsers.errorlog_batch import SUMMARY_KEYS, aggregate_records, classify_series, summarize_series


def normalised(df: pl.DataFrame) -> list[tuple[Any, ...]]:
    agg = df.group_by(*SUMMARY_KEYS).agg(pl.col("n").sum(), pl.col("first").min(), pl.col("last").max())
    return sorted(agg.rows(), key=repr)


def per_line_summary(lines: list[str]) -> list[tuple[Any, ...]]:
    """The summary built from the pure-Python engine's records, one line at a time."""
    records = []
    for line in lines:
        c = classify_line(line, year=YEAR)
        if c is not None:
            records.append({**c.to_dict(), "pattern": c.pattern})
    if not records:
        return []
    return normalised(aggregate_records(pl.DataFrame(records, infer_schema_length=None)))


def assert_summary_exact(lines: list[str], **kwargs: Any) -> None:
    series = pl.Series("line", lines, dtype=pl.String)
    fast = normalised(summarize_series(series, year=YEAR, **kwargs))
    exact = normalised(aggregate_records(classify_series(series, year=YEAR, fields=("upstream",))))
    assert fast == exact
    assert fast == per_line_summary(lines)


def test_real_lines() -> None:
    lines = real_lines()
    assert len(recognised_real_lines()) > 100
    assert_summary_exact(lines)


@pytest.mark.parametrize("wrapper", sorted({**WRAPPERS, **NATIVE_WRAPPERS}))
def test_wrapped_real_lines(wrapper: str) -> None:
    assert_summary_exact([{**WRAPPERS, **NATIVE_WRAPPERS}[wrapper](ln) for ln in real_lines()])


def test_odd_wrapped_lines() -> None:
    """The framed lines the polars engine's peel must leave alone or read from the framing, among
    the real lines (the summary leaves the pending ones framed for the exact path)."""
    assert_summary_exact([x for pair in zip(ODD_WRAPPED, real_lines(), strict=False) for x in pair])


def test_cut_real_lines() -> None:
    lines = []
    for line in recognised_real_lines():
        lines += [line[:end] for end in range(0, len(line), 5)]
    assert_summary_exact(lines)


def test_the_raw_byte_hints_only_skip_work() -> None:
    lines = [ln for ln in real_lines() if "\r" not in ln and '\\"' not in ln]
    assert_summary_exact(lines, may_have_cr=False, may_have_escapes=False)




@pytest.mark.parametrize("line", [
    REFUSED,
    REFUSED.replace("[error]", "[verylonglevel]"),  # too long for the fixed-width level cut
    REFUSED.replace("[error]", "[notice]"),
    REFUSED.replace('"x"', '"x'),  # cut inside the last field
    REFUSED[: REFUSED.index("/a")],  # cut inside the upstream: no upstream
    REFUSED[: REFUSED.index("http://")],  # ends with the opening quote
    REFUSED.replace("http://10.0.0.1:80/a", ""),  # empty upstream
    REFUSED.replace(', upstream: "http://10.0.0.1:80/a"', ""),
    REFUSED.replace('"', '\\"'),  # escaped by a log shipper
    REFUSED + "\r",
    REFUSED.replace("GET /", 'GET /, upstream: "http://evil/'),  # a fake field in the request
    REFUSED.replace("/a", "/a while reading upstream, (110: x)"),
    HEAD + 'upstream sent invalid "Content-Length" header while reading response header from upstream, '
    'client: 1.2.3.4, server: x, upstream: "http://[::1]:8080/", host: "x"',
    HEAD + "api.internal could not be resolved (3: Host not found), client: 1.2.3.4, server: x",
    HEAD + "*10 could not be resolved (3: Host not found)",
    HEAD + 'FastCGI sent in stderr: "PHP message: PHP Fatal error: x" while reading response header from '
    'upstream, client: 1.2.3.4, server: x, upstream: "fastcgi://unix:/run/php.sock:", host: "x"',
    HEAD + 'limiting requests, dry run, excess: 1.000 by zone "one", client: 1.2.3.4, server: x',
    "\ufffd" * 10 + REFUSED,
    "",
    REFUSED.replace("2024/05/01 12:00:01", "2024/13/45 99:99:99"),  # impossible: above every real time
    REFUSED.replace("2024/05/01 12:00:01", "1969/12/31 23:59:59"),  # impossible: below every real time
    REFUSED.replace("2024/05/01 12:00:01", "2024/02/30 12:00:00"),
])
def test_odd_lines(line: str) -> None:
    assert_summary_exact([REFUSED, line, line, REFUSED.replace("10.0.0.1", "10.0.0.2")])


@settings(max_examples=200, deadline=None)
@given(st.lists(st.lists(st.sampled_from([*FRAGMENTS, HEAD, "[warn] ", "\r", ', upstream: "', "unix:/s:"]),
                         max_size=12).map("".join), min_size=1, max_size=20))
def test_generated_lines(lines: list[str]) -> None:
    assert_summary_exact(lines)


TIMESTAMP = re.compile(r"^\d{4}/\d\d/\d\d \d\d:\d\d:\d\d ")


def write_long_log(path: Path, count: int) -> None:
    """``count`` lines cycling through the recorded nginx lines that carry a timestamp, re-stamped
    40 lines a second from 2024-05-01 12:00:00 (so the log spans 12:00 - 12:12:29 at 30,000)."""
    recorded = [ln for ln in recognised_real_lines() if TIMESTAMP.match(ln)]
    t0 = dt.datetime(2024, 5, 1, 12, 0, 0)
    with path.open("w", encoding="utf-8") as out:
        for i in range(count):
            stamp = (t0 + dt.timedelta(seconds=i // 40)).strftime("%Y/%m/%d %H:%M:%S ")
            out.write(stamp + recorded[i % len(recorded)][20:] + "\n")


def jsonl_summary(path: Path, since: dt.datetime | None = None) -> ClassifySummary:
    """The summary the ``--format jsonl`` path builds from per-line records."""
    summary = ClassifySummary()
    for df in classify_paths([str(path)], since=since, on_batch=summary.add_batch):
        summary.add(df)
    summary.finish()
    return summary


def assert_same_summary(a: ClassifySummary, b: ClassifySummary) -> None:
    assert (a.lines_read, a.files, a.recognised) == (b.lines_read, b.files, b.recognised)
    assert a.failures() == b.failures()
    assert a.symptoms == b.symptoms
    assert a.upstreams == b.upstreams


def test_long_log_end_to_end(tmp_path: Path) -> None:
    log = tmp_path / "error.log"
    write_long_log(log, 30_000)
    fast = summarize_paths([str(log)], batch_bytes=256 * 1024)
    assert fast.lines_read == 30_000 and fast.failures() > 10_000
    assert_same_summary(fast, jsonl_summary(log))
    cutoff = dt.datetime(2024, 5, 1, 12, 6, 0)
    since = summarize_paths([str(log)], since=cutoff, batch_bytes=256 * 1024)
    assert 0 < since.recognised < fast.recognised
    assert_same_summary(since, jsonl_summary(log, since=cutoff))


def test_mixed_sources_end_to_end(tmp_path: Path) -> None:
    log = tmp_path / "mixed.log"
    lines = real_lines() + [WRAPPERS["docker-json"](ln) for ln in recognised_real_lines()]
    log.write_bytes("\n".join(lines).encode() + b"\n\xff\xfe not utf-8 " + REFUSED.encode() + b"\n")
    fast = summarize_paths([str(log)], batch_bytes=64 * 1024)
    assert_same_summary(fast, jsonl_summary(log))
    assert fast.recognised > len(recognised_real_lines())


@settings(max_examples=300, deadline=None)
@given(st.lists(st.sampled_from([b"\n", b"\r", b"\r\n", b"a", b"\xff", b"\xc3\xa9", b" "]), max_size=30)
       .map(b"".join))
def test_split_lines_matches_the_line_reader(data: bytes) -> None:
    """``pl.read_lines`` drops a last empty line and one CR per line: the count stays that of
    ``iter_batches`` and the lines classify the same once CRs are stripped."""
    lines, count = split_lines(data)
    expected = data.decode("utf-8", errors="replace").split("\n")
    assert count == len(expected)
    got = [ln.rstrip("\r") for ln in lines.to_list()]
    assert got == [ln.rstrip("\r") for ln in expected][: len(got)]
    assert all(ln.rstrip("\r") == "" for ln in expected[len(got):])


@pytest.mark.parametrize("since", ["2000-01-01T00:00:00", "2016-11-06T11:03:02", "2030-01-01T00:00:00"])
def test_since_without_a_record_filter(since: str) -> None:
    lines = real_lines() + [WRAPPERS["docker-json"](ln) for ln in recognised_real_lines()]
    series = pl.Series("line", lines)
    records = classify_series(series, year=YEAR, fields=("upstream",))
    records = records.filter(pl.col("time").is_null() | (pl.col("time") >= since))
    expected = normalised(aggregate_records(records))
    assert normalised(summarize_series(series, year=YEAR, since=since)) == expected


IMPOSSIBLE_TIMES = [REFUSED.replace("2024/05/01 12:00:01", t)
                    for t in ("1969/12/31 23:59:59", "2024/02/30 12:00:00", "2024/13/45 99:99:99")]


@pytest.mark.parametrize("odd_level", [False, True])
def test_since_keeps_impossible_times_whatever_else_the_batch_holds(odd_level: bool) -> None:
    """An impossible time is no time, and ``--since`` keeps lines without one: the fast path
    once compared the raw text and dropped ``1969/...`` -- unless a level too long for its
    fixed-width cut sent the whole batch the exact way, which kept it."""
    lines = [REFUSED, *IMPOSSIBLE_TIMES]
    if odd_level:
        lines.append(REFUSED.replace("[error]", "[verylonglevel]"))
    rows = normalised(summarize_series(pl.Series(lines), year=YEAR, since="2024-05-01T12:00:00"))
    (row,) = [r for r in rows if r[0] == "connection-refused"]
    assert row[4] == len(lines)
    assert_summary_exact(lines, since="2024-05-01T12:00:00")


# ---------------------------------------------------------------------------------------------
# --since the two ways: ``summarize_series`` with ``filter_since`` as its record filter (the
# summary's path for a batch) against the records of the batch filtered by ``filter_since`` and
# summed (``aggregate_records``): the fast path compares nginx's raw time with the cut-off's
# text, the records compare the ISO time, and an aware time (a wrapper's, a syslog line's) is
# compared in local time.  Each line gets a time near the cut-off, a possible or impossible one.

_NGINX_TIME = re.compile(r"^\d{4}/\d\d/\d\d \d\d:\d\d:\d\d")
_SINCE_TIMES = ["2024/05/01 12:00:00", "2024/05/01 12:00:01", "2024/05/01 11:59:59", "2024/04/30 23:59:59",
                "2024/05/02 00:00:00", "1969/12/31 23:59:59", "2024/02/30 12:00:00", "2024/13/45 99:99:99",
                "9999/01/01 00:00:00", "2024/05/01 12:00:60"]
_SINCE_CUTS = [dt.datetime(2024, 5, 1, 12, 0, 0), dt.datetime(2024, 5, 1, 12, 0, 1),
               dt.datetime(2024, 4, 30, 23, 59, 59), dt.datetime(1970, 1, 1), dt.datetime(2030, 1, 1)]
_SINCE_WRAPS = ["plain", "plain", "docker-json", "cri", "kubectl-timestamps", "journal-short-iso",
                "syslog-bsd", "compose-dash"]


def _timed(line: str, when: str, wrap: str) -> str:
    line = _NGINX_TIME.sub(when, line, count=1)
    return line if wrap == "plain" else WRAPPERS[wrap](line)


def assert_since_agrees(lines: list[str], cutoff: dt.datetime) -> None:
    from functools import partial

    from why502.app.classify import filter_since

    series = pl.Series("line", lines, dtype=pl.String)
    fast = summarize_series(series, year=YEAR, since=cutoff.isoformat(timespec="seconds"),
                            filter_records=partial(filter_since, cutoff=cutoff))
    records = classify_series(series, year=YEAR, fields=("upstream",))
    assert normalised(fast) == normalised(aggregate_records(filter_since(records, cutoff)))


@pytest.mark.parametrize("cutoff", _SINCE_CUTS)
def test_since_records_filtered_give_the_summary(cutoff: dt.datetime) -> None:
    """Every real line at each time and in each wrapping, against one cut-off."""
    lines = real_lines()
    times, wraps = len(_SINCE_TIMES), len(_SINCE_WRAPS)
    got = [_timed(ln, _SINCE_TIMES[i % times], _SINCE_WRAPS[i // times % wraps])
           for i, ln in enumerate(lines)]
    assert_since_agrees(got, cutoff)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 10**6), st.sampled_from(_SINCE_TIMES),
                          st.sampled_from(_SINCE_WRAPS)), min_size=1, max_size=25),
       st.sampled_from(_SINCE_CUTS))
def test_since_generated_batches(picks: list[tuple[int, str, str]], cutoff: dt.datetime) -> None:
    lines = recognised_real_lines()
    assert_since_agrees([_timed(lines[i % len(lines)], when, wrap) for i, when, wrap in picks], cutoff)


@pytest.mark.parametrize("rows", [0, 1, 2, 64, 65, 1000])
def test_a_compacted_summary_is_the_same_frame(rows: int) -> None:
    """``_compact`` copies a few rows by value and more through IPC: the same rows and types,
    nulls kept, either way."""
    from why502.app.classify import _compact
    from why502.parsers.errorlog_batch import SUMMARY_SCHEMA

    n = range(rows)
    df = pl.DataFrame({"symptom": [f"s{i % 7}" for i in n], "status": [None if i % 5 else 502 for i in n],
                       "source": ["nginx"] * rows,
                       "upstream": [None if i % 3 else f"http://10.0.0.{i % 250}:80" for i in n],
                       "n": list(n), "first": [None if i % 4 else "2024-05-01T12:00:00" for i in n],
                       "last": ["2024-05-01T12:00:0\u00e9"] * rows}, schema=SUMMARY_SCHEMA)
    got = _compact(df)
    assert got.schema == df.schema and got.equals(df)
