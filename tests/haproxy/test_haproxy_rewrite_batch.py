"""``proxies.haproxy.stats.httplog_as_nginx``: the batch rewrite of HAProxy's httplog lines (polars'
string kernels) writes what ``proxies.haproxy.log.to_nginx_line`` writes for each line, the
line-by-line reading it replaced in ``diagnose`` (``Hooks.access_feed``)."""

from __future__ import annotations

from pathlib import Path

import polars as pl

from tests.support.paths import FIXTURES_DIR
from why502.proxies.haproxy.log import to_nginx_line
from why502.proxies.haproxy.stats import HttplogFeed, httplog_as_nginx
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


def test_the_batch_rewrite_writes_what_the_line_rewrite_writes() -> None:
    lines = _lines()
    want = [r for r in (to_nginx_line(ln, ADDRESSES, "+0100") for ln in lines) if r is not None]
    got = httplog_as_nginx(pl.Series(lines), ADDRESSES, "+0100").to_list()
    assert len(want) > 20 and got == want


def test_a_batch_without_httplog_lines_gives_no_rows() -> None:
    assert httplog_as_nginx(pl.Series(["x", ""]), {}, "+0000").to_list() == []


def test_the_feed_skips_a_file_whose_head_holds_no_httplog_line() -> None:
    """``_has_httplog``'s rule: a file counts as an access log when its first 200 lines hold an
    httplog line."""
    feed = HttplogFeed(None)
    try:
        feed.feed(LineBatch("a.log", 1, "\n".join(["noise"] * 200 + [EDGES[0]]), 201))
        feed.feed(LineBatch("b.log", 1, "\n".join(EDGES[:2]), 2))
        with feed.rows() as (rows, fmt):
            assert fmt == "why502" and feed.paths == ["b.log"]
            assert Path(rows[0]).read_text(encoding="utf-8").splitlines() == [
                r for r in (to_nginx_line(ln, {}, feed.zone) for ln in EDGES[:2]) if r]
    finally:
        feed.close()
