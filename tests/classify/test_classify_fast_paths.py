"""The shortcuts of the summary and jsonl paths give what the long way gives.

Each shortcut skips work on the common case -- a rule resolved once per raw combination and
cached across batches, times checked on a group's first and last only, the escaped-quote check
on raw bytes, failures counted without a summary, ASCII JSON passed through, ``stats`` loaded on
first use -- so each is checked where it could go wrong: a cached rule must not carry one line's
upstream or time into another line's counts, a batch with an impossible time must still drop it.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections import Counter
from pathlib import Path

import polars as pl
import pytest

from tests.classify.test_classify_summary import REFUSED, assert_summary_exact, normalised
from why502.app.classify import ClassifySummary, count_failures, has_escaped_quote
from why502.parsers import errorlog_native
from why502.parsers.errorlog_batch import classify_series, summarize_series
from why502.reporters.text.classify import by_count as _by_count
from why502.textutil import json_inert


def refused(upstream: str, stamp: str = "2024/05/01 12:00:01") -> str:
    return REFUSED.replace("10.0.0.1:80", upstream).replace("2024/05/01 12:00:01", stamp)


def test_same_rule_different_upstreams_across_batches() -> None:
    """Two batches of lines that differ only in upstream and time: the second batch resolves
    its rule from the cache, and each upstream still gets its own lines, first and last."""
    first = summarize_series(pl.Series([refused("10.0.0.7:80", "2024/05/01 12:00:05")]))
    second = summarize_series(pl.Series([refused("10.0.0.8:80", "2024/05/01 12:00:09"),
                                         refused("10.0.0.8:80", "2024/05/01 12:00:07"),
                                         refused("10.0.0.7:80", "2024/05/01 12:00:02")]))
    rows = normalised(pl.concat([first, second]))
    assert rows == [
        ("connection-refused", 502, "nginx", "http://10.0.0.7:80", 2, "2024-05-01T12:00:02",
         "2024-05-01T12:00:05"),
        ("connection-refused", 502, "nginx", "http://10.0.0.8:80", 2, "2024-05-01T12:00:07",
         "2024-05-01T12:00:09"),
    ]


def test_same_rule_different_upstreams_in_jsonl_records() -> None:
    """The per-line records keep their own upstream, client and time under one rule."""
    lines = [refused("10.0.0.7:80", "2024/05/01 12:00:05"),
             refused("10.0.0.8:80", "2024/05/01 12:00:06").replace("1.2.3.4", "5.6.7.8")]
    df = classify_series(pl.Series(lines))
    assert df.select("upstream", "client", "time", "symptom").rows() == [
        ("http://10.0.0.7:80/a", "1.2.3.4", "2024-05-01T12:00:05", "connection-refused"),
        ("http://10.0.0.8:80/a", "5.6.7.8", "2024-05-01T12:00:06", "connection-refused"),
    ]


@pytest.mark.parametrize("bad", ["2024/13/45 99:99:99", "1969/12/31 23:59:59", "0000/01/01 00:00:00"])
def test_an_impossible_time_at_either_end_of_a_group(bad: str) -> None:
    """The time check runs on each group's first and last: an impossible time there makes the
    batch check every row, so it is neither printed nor compared."""
    lines = [refused("10.0.0.7:80", "2024/05/01 12:00:05"), refused("10.0.0.7:80", bad),
             refused("10.0.0.7:80", "2024/05/01 12:00:09")]
    assert_summary_exact(lines)
    (row,) = normalised(summarize_series(pl.Series(lines)))
    assert row[4:] == (3, "2024-05-01T12:00:05", "2024-05-01T12:00:09")


def test_a_rule_cached_from_one_batch_does_not_leak_a_level() -> None:
    """The cache key is the whole raw combination: the same line at [warn] and at [error]
    resolve apart (the level is one of the rule's inputs)."""
    lines = [REFUSED, REFUSED.replace("[error]", "[info]"), REFUSED.replace("[error]", "[emerg]")]
    for line in lines:
        assert_summary_exact([line, line])
    assert_summary_exact(lines)


@pytest.mark.parametrize(("raw", "expected"), [
    (b"", False),
    (b'plain "quoted" text\n', False),
    (b'upstream sent invalid header: "X-Bad\\x01..." while reading', False),
    (b'request: \\"GET / HTTP/1.1\\"', True),
    (b"\\" * 1000 + b'\\"', True),  # past the backslash budget: the two-byte search answers
    (b"\\" * 1000, False),
    (b"a\\", False),  # a backslash as the last byte
])
def test_has_escaped_quote(raw: bytes, expected: bool) -> None:
    assert has_escaped_quote(raw) is expected
    assert has_escaped_quote(raw, budget=1) is expected


def test_count_failures_is_the_summary_failure_count() -> None:
    lines = [REFUSED, REFUSED.replace("[error]", "[warn]").replace(
        "connect() failed (111: Connection refused) while connecting to upstream",
        "upstream server temporarily disabled while connecting to upstream")]
    df = classify_series(pl.Series(lines))
    summary = ClassifySummary()
    summary.add(df)
    assert df.height == 2
    assert count_failures(df) == summary.failures() == 1
    assert count_failures(df.clear()) == 0


def test_json_inert_ascii_and_not() -> None:
    text = '{"message": "plain ascii \\u009b"}\n'
    assert json_inert(text) == text
    assert json_inert('{"m": "a\u009b[31m"}') == '{"m": "a\\u009b[31m"}'
    assert json_inert('{"m": "caf\u00e9 \u202e"}') == '{"m": "caf\u00e9 \\u202e"}'


def test_summary_ties_print_by_name() -> None:
    assert _by_count(Counter({"nginx": 2, "apache": 2, "haproxy": 5})) == [
        ("haproxy", 5), ("apache", 2), ("nginx", 2)]


def test_sniffing_a_load_balancer_log_does_not_load_stats() -> None:
    """``classify`` imports ``app.stats.lb`` to sniff its input; ``app.stats.run`` (config
    parsers, evidence accumulators) loads only when a name of it is used."""
    code = ("import sys, why502.app.stats.lb; print('why502.app.stats.run' in sys.modules); "
            "from why502.app.stats import run_stats; print(callable(run_stats))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["False", "True"]


@pytest.mark.skipif(not errorlog_native.available(), reason="the native scanner was not built")
def test_a_summary_the_native_scanner_serves_alone_never_imports_polars(tmp_path: Path) -> None:
    """polars' import is ~0.2 CPU-s, a fifth of classifying 1M lines (BENCHMARKS.md, issue 28):
    an nginx error log the scanner reads whole needs none of it.  A line it hands back (not
    ASCII) brings the polars engine in, and both answers count their lines."""
    plain = tmp_path / "error.log"
    plain.write_text((REFUSED + "\n") * 3)
    odd = tmp_path / "odd.log"
    odd.write_text(REFUSED.replace("client: ", "client: é") + "\n")
    code = ("import json, sys; from why502.cli.main import main; rc = main(['classify', sys.argv[1], "
            "'--format', 'json']); print('polars' in sys.modules, rc, file=sys.stderr)")
    for path, loaded in ((plain, "False"), (odd, "True")):
        out = subprocess.run([sys.executable, "-c", code, str(path)], capture_output=True, text=True,
                             check=True, timeout=120)
        assert out.stderr.split() == [loaded, "1"]
        assert json.loads(out.stdout)["lines_read"] == (3 if path == plain else 1)
