"""Pure helpers of the stats engine: histogram precision, incident windows, URI templates,
rotated-set order, --since parsing."""

from __future__ import annotations

import gzip
import random
from datetime import datetime
from pathlib import Path

import polars as pl
import pytest

from why502.errors import UsageError
from why502.evidence.stats.breakdown import uri_template
from why502.evidence.stats.histogram import Histogram
from why502.evidence.stats.parser import LineParser
from why502.evidence.stats.timeline import detect_incidents
from why502.parsers.log_format import PREDEFINED, compile_format
from why502.sources.byte_chunks import iter_byte_chunks, order_rotated
from why502.textutil import lines_at


def test_histogram_percentiles_within_one_percent() -> None:
    rnd = random.Random(3)
    values = sorted(round(rnd.lognormvariate(-2.0, 1.2), 3) for _ in range(20_000))
    h = Histogram()
    counts: dict[int, int] = {}
    for v in values:
        b = Histogram.bucket_of(v)
        counts[b] = counts.get(b, 0) + 1
    h.add(counts.items(), max(values))
    for q in (0.5, 0.95, 0.99):
        exact = values[int(q * len(values)) - 1]
        got = h.quantile(q)
        assert got is not None
        assert abs(got - exact) <= 0.011 * exact + 0.0006, (q, got, exact)
    assert h.summary()["max"] == round(max(values), 3)
    assert h.at_least(values[-100]) >= 100


def _row(minute: str, n5: int, req: int = 1000) -> dict[str, object]:
    return {"minute": minute, "requests": req, "5xx": n5, "502": n5, "503": 0, "504": 0, "other_5xx": 0}


def test_incidents_merge_close_minutes_and_ignore_background() -> None:
    rows = [_row(f"2026-11-20T10:{m:02d}", 1) for m in range(60)]
    for m in (10, 11, 13):  # one burst with a one-minute gap
        rows[m] = _row(f"2026-11-20T10:{m:02d}", 80)
    rows[40] = _row("2026-11-20T10:40", 30)
    inc = detect_incidents(rows)
    assert [(i.start, i.end, i.total_5xx) for i in inc] == [
        ("2026-11-20T10:10", "2026-11-20T10:13", 240),
        ("2026-11-20T10:40", "2026-11-20T10:40", 30),
    ]
    assert detect_incidents([_row(f"2026-11-20T10:{m:02d}", 2) for m in range(30)]) == []


def test_uri_template_collapses_ids_hashes_uuids_and_queries() -> None:
    df = pl.DataFrame(
        {
            "request": [
                "GET /api/v1/users/12345 HTTP/1.1",
                "GET /api/v1/orders/0123456789abcdef0123/items?x=1 HTTP/1.1",
                "POST /u/3f2504e0-4f89-11d3-9a0c-0305e82c3301/a/1/2 HTTP/2.0",
                "garbage",
            ]
        }
    )
    got = df.select(uri_template(pl.col("request"))).to_series().to_list()
    assert got == [
        "GET /api/v1/users/{id}",
        "GET /api/v1/orders/{hash}/items",
        "POST /u/{uuid}/a/{id}/{id}",
        "garbage",
    ]


def test_rotated_sets_oldest_first() -> None:
    assert order_rotated(["a/access.log", "a/access.log.1", "a/access.log.10.gz", "a/access.log.2.gz"]) == [
        "a/access.log.10.gz",
        "a/access.log.2.gz",
        "a/access.log.1",
        "a/access.log",
    ]
    assert order_rotated(["x.log-20261121", "x.log", "x.log-20261120.gz"]) == [
        "x.log-20261120.gz",
        "x.log-20261121",
        "x.log",
    ]


def test_byte_chunks_whole_lines_numbered_plain_and_gzip(tmp_path: Path) -> None:
    """Chunks end at newlines, carry their first line number, and together give the file back
    (a missing final newline is added); .gz is read in place."""
    rnd = random.Random(5)
    lines = [("x" * rnd.randint(0, 300)).encode() + b" %d" % i for i in range(2000)]
    body = b"\n".join(lines)  # no final newline
    plain = tmp_path / "access.log"
    plain.write_bytes(body)
    gz = tmp_path / "access.log.1.gz"
    gz.write_bytes(gzip.compress(body + b"\n"))
    seen: list[tuple[int, int]] = []
    for path in (plain, gz):
        chunks = list(
            iter_byte_chunks([str(path)], chunk_bytes=4096, progress=lambda d, t: seen.append((d, t)))
        )
        assert len(chunks) > 10
        assert b"".join(c.data for c in chunks) == body + b"\n"
        for c in chunks:
            assert c.data.endswith(b"\n") and c.path == str(path)
            first = c.data.split(b"\n", 1)[0]
            assert first.endswith(b" %d" % (c.first_line - 1))
        assert seen[-1] == (path.stat().st_size, path.stat().st_size)


def test_parse_when() -> None:
    """stats reads --since/--until with the shared reader (why502.timeargs): an offset is
    converted to local time, not dropped (tests/cli/test_qa_timeargs.py pins the zone)."""
    from why502.timeargs import parse_time_arg

    now = datetime(2026, 11, 21, 12, 0)
    assert parse_time_arg("2h", "--since", now) == datetime(2026, 11, 21, 10, 0)
    assert parse_time_arg("2026-11-20 10:00", "--since", now) == datetime(2026, 11, 20, 10, 0)
    aware = datetime.fromisoformat("2026-11-20T10:00:00+01:00")
    assert parse_time_arg("2026-11-20T10:00:00+01:00", "--until", now) == (
        aware.astimezone().replace(tzinfo=None))
    with pytest.raises(UsageError, match=r"^--until 'yesterday'"):
        parse_time_arg("yesterday", "--until", now)


def test_location_matching_follows_nginx_order(tmp_path: Path) -> None:
    """The by-location view names the location nginx would pick (``proxies.nginx.config.locations``,
    checked against a real nginx in tests/nginx_config/test_location_match.py); here: the wiring from a
    config file and the request line."""
    from why502.proxies.nginx.config.locations import LocationModel
    from why502.proxies.nginx.source import load_config

    conf = tmp_path / "nginx.conf"
    conf.write_text(
        """events {}
http {
  server {
    listen 8080; server_name example.com;
    location / { return 200; }
    location /api/ { return 200; }
    location ^~ /static/ { return 200; }
    location ~ \\.php$ { return 200; }
    location ~* \\.(png|jpg)$ { return 200; }
    location = /login { return 200; }
  }
  server { listen 8080 default_server; server_name other.org; location / { return 200; } }
}
"""
    )
    model = LocationModel.from_config(load_config(str(conf)))
    df = pl.DataFrame(
        {
            "host": ["example.com"] * 7 + ["unknown.net"],
            "request": [
                "GET /api/v1/x HTTP/1.1",  # longest prefix
                "GET /api/x.php HTTP/1.1",  # a regex beats a plain prefix
                "GET /static/a.php HTTP/1.1",  # ^~ stops the regex search
                "GET /img/A.PNG?x=1 HTTP/1.1",  # case-insensitive regex, query ignored
                "GET /login HTTP/1.1",  # exact
                "GET /login/x HTTP/1.1",
                "GET /a//b/../login HTTP/1.1",  # normalised first: /a/login
                "GET /x HTTP/1.1",  # unknown host: the default_server
            ],
        }
    )
    got = df.select(model.label_expr(pl.col("request"), pl.col("host"))).to_series().to_list()
    ex = "example.com "
    assert got == [
        ex + "/api/",
        ex + "~ \\.php$",
        ex + "^~ /static/",
        ex + "~* \\.(png|jpg)$",
        ex + "= /login",
        ex + "/",
        ex + "/",
        "other.org /",
    ]


def test_lines_at_equals_split() -> None:
    """Random line lengths around the 64 KiB counting window (lines of 70,000 bytes cross it) and
    both paths (few rows: windowed counting; many: one split).  400 rounds (2,000 took a minute
    of the suite's CPU for the same paths)."""
    rnd = random.Random(11)
    for _ in range(400):
        lines = [b"x" * rnd.choice([0, 1, 5, 80, 300, 70_000]) for _ in range(rnd.randint(0, 400))]
        data = b"\n".join(lines) + (b"\n" if rnd.random() < 0.8 else b"")
        ref = data.split(b"\n")
        rows = sorted(rnd.sample(range(len(ref) + 2), min(len(ref) + 2, rnd.randint(0, 5))))
        assert lines_at(data, rows) == [ref[r] if r < len(ref) else None for r in rows]


def test_parser_reads_lines_that_are_not_utf8() -> None:
    """Raw bytes (escape=none / json write header bytes as they came): the chunk is decoded
    lossily, every line still parses and the row numbers stay the line numbers."""
    fmt = compile_format(*PREDEFINED["combined"], name="combined")
    ok = b'10.0.0.1 - - [20/Nov/2026:10:00:00 +0100] "GET / HTTP/1.1" 502 5 "-" "curl"\n'
    raw = b'10.0.0.2 - - [20/Nov/2026:10:00:01 +0100] "GET /\xff HTTP/1.1" 200 5 "-" "\xe9t\xe9"\n'
    good, unparsed, _samples, rows = LineParser(fmt).parse(ok * 3 + raw + b"junk\n" + ok)
    assert (rows, unparsed, good.height) == (6, 1, 5)
    assert good.sort("_row")["request"].to_list()[3] == "GET /\ufffd HTTP/1.1"
    assert good["status"].cast(pl.Int64).sum() == 4 * 502 + 200


def test_upstream_views_without_status_or_header_time(tmp_path: Path) -> None:
    """The per-upstream views are built from the attempts grouped once (``Reducer._attempt_views``);
    a format without ``$upstream_status``/``$upstream_header_time`` leaves those keys null there.
    Retries (``a, b``) and internal redirects (``a : b``) count one attempt per address, and the
    last success is the last attempt's address of the last request below 500 (nginx's order,
    ``ngx_http_upstream_next()``)."""
    from why502.app.stats import StatsOptions, run_stats

    fmt = '$remote_addr [$time_local] "$request" $status ua="$upstream_addr" urt="$upstream_response_time"'
    rows = [
        ("00:00:01", 200, "10.0.0.1:80", "0.100"),
        ("00:00:02", 502, "10.0.0.1:80, 10.0.0.2:80", "0.001, 0.002"),
        ("00:00:03", 200, "10.0.0.2:80 : 10.0.0.3:80", "0.300 : 2.500"),
        ("00:00:04", 504, "10.0.0.3:80", "60.000"),
        ("00:00:05", 200, "10.0.0.1:80, 10.0.0.2:80", "-, 0.050"),
    ]
    log = tmp_path / "access.log"
    log.write_text("".join(
        f'192.0.2.1 [20/Nov/2026:{t} +0000] "GET / HTTP/1.1" {s} ua="{ua}" urt="{rt}"\n'
        for t, s, ua, rt in rows), encoding="utf-8")
    st, _ = run_stats(StatsOptions(paths=[str(log)], log_format=fmt, no_error_log=True, tz="UTC"))
    ups = {u["address"]: u for u in st.to_dict()["upstreams"]}
    assert {a: u["attempts"] for a, u in ups.items()} == {
        "10.0.0.1:80": 3, "10.0.0.2:80": 3, "10.0.0.3:80": 2}
    assert all(u["failed_attempts"] == 0 and u["statuses"] == {"-": u["attempts"]} for u in ups.values())
    assert {a: u["response_time"]["count"] for a, u in ups.items()} == {
        "10.0.0.1:80": 2, "10.0.0.2:80": 3, "10.0.0.3:80": 2}
    assert ups["10.0.0.3:80"]["response_time"]["max"] == 60.0
    assert all(u["header_time"]["count"] == 0 for u in ups.values())
    d = st.to_dict()
    assert (d["retried"], d["redirected"]) == (2, 1)
    last_ok = {u.address: u.last_ok for u in st.upstreams}
    at = [datetime(2026, 11, 20, 0, 0, s) for s in (1, 5, 3)]
    assert last_ok == {"10.0.0.1:80": at[0], "10.0.0.2:80": at[1], "10.0.0.3:80": at[2]}
