"""``proxies.haproxy.stats.httplog_fields``: HAProxy's httplog lines cut into the statistics
engine's columns a batch at a time (polars' string kernels), as ``stats`` and ``diagnose`` read
them, give each line the values ``proxies.haproxy.log.to_fields`` gives it line by line; and
``HttplogFeed`` (``Hooks.access_feed``) aggregates them from diagnose's error-log pass (no file
written: tests/project/test_read_once.py)."""

from __future__ import annotations

import polars as pl

from tests.support.paths import FIXTURES_DIR
from why502.app.stats import compute_for_diagnose
from why502.proxies.haproxy.log import to_fields
from why502.proxies.haproxy.stats import FIELDS, HttplogFeed, _zone, httplog_fields
from why502.sources.logfiles import LineBatch

HAP = FIXTURES_DIR / "recorded-proxies" / "haproxy"
ADDRESSES = {"app/web1": "127.0.0.1:49653", "api/web2": "10.0.0.12:8080"}

EDGES = [
    '1.2.3.4:5 [21/Nov/2026:10:00:00.123] fe app/web1 0/0/0/25/26 502 217 - - PH-- 1/1/0/0/0 0/0 "GET / HTTP/1.1"',  # noqa: E501
    '1.2.3.4:5 [21/Nov/2026:10:00:00] fe app/<NOSRV> 0/-1/-1/-1/3 503 217 - - SC-- 1/1/0/0/0 0/0 "GET /x HTTP/1.1"',  # noqa: E501
    '[::1]:5 [21/Nov/2026:10:00:00.1] fe api/web2 -1/0/5/-1/+60005 504 +0 - - sH-- 1/1/0/0/0 0/0 {a|b} "POST /y?q=1',  # noqa: E501
    '1.2.3.4:5 [21/Nov/2026:10:00:00.1] fe api/web2 10/20/3/1234567/1234999 200 9 - - ---- 1/1/0/0/0 0/0 ""',
    '1.2.3.4:5 [21/Nov/2026:10:00:00.1] fe api/web2 1/2/3/4/5 500 9 - - -D-- 1/1/0/0/0 0/0',
    '1.2.3.4:5 [21/Nov/2026:10:00:00.1] fe app/web1 0/0/\u0663/4/9 200 9 - - ---- 1/1/0/0/0 0/0 "GET / HTTP/1.1"',  # noqa: E501
    "Server app/web1 is DOWN, reason: Layer4 connection problem",
    "",
]


def _lines() -> list[str]:
    out = list(EDGES)
    for log in sorted(HAP.glob("*.log")):
        out += log.read_text(encoding="utf-8", errors="replace").splitlines()
    return out


def test_the_batch_reader_gives_each_line_what_the_line_reader_gives() -> None:
    lines = _lines()
    want = [(i + 10, f) for i, f in enumerate(to_fields(ln, ADDRESSES, "+0100") for ln in lines)
            if f is not None]
    got = httplog_fields(pl.Series(lines), ADDRESSES, "+0100", first_row=10)
    assert len(want) > 20
    assert [(r["_row"], {k: r[k] for k in FIELDS}) for r in got.iter_rows(named=True)] == want
    assert got["_text"].to_list() == [lines[i - 10] for i, _f in want]


def test_a_batch_without_httplog_lines_gives_no_rows() -> None:
    assert httplog_fields(pl.Series(["x", ""]), {}, "+0000").height == 0


def test_the_feed_skips_a_file_whose_head_holds_no_httplog_line() -> None:
    """``_has_httplog``'s rule: a file counts as an access log when its first 200 lines hold an
    httplog line; the rows taken are aggregated as they come, their lines those of the file."""
    feed = HttplogFeed(None)
    try:
        feed.feed(LineBatch("a.log", 1, "\n".join(["noise"] * 200 + [EDGES[0]]), 201))
        feed.feed(LineBatch("b.log", 1, "\n".join(["noise", *EDGES[:2]]), 3))
        log = feed.log()
        assert feed.paths == log.paths == ["b.log"] and log.fmt.name == "why502"
        st = compute_for_diagnose([], fed=log)
        assert st.requests == len([ln for ln in EDGES[:2] if to_fields(ln, {}, _zone())]) == 2
        # each 5xx row names the fed file and its line there (the "noise" line counts)
        assert [(r["file"], r["line"], r["status"]) for r in st.requests_5xx] == [
            ("b.log", 2, 502), ("b.log", 3, 503)]
    finally:
        feed.close()
