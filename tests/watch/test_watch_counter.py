"""The access-log counter of the light agent (``app.watch.traffic.LineCounter``, no polars).

Its native steps (``proxies/nginx/_scan_access.h``) and its regex fallback must count what the
format's regex reads, and the statuses ``why502 stats``' parser (``evidence.stats.parser``, in
polars) reads, on every access log recorded from a real nginx in ``tests/fixtures`` (each in
the predefined format that reads it) and on lines built to sit on the edges of each step.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from why502.app.watch import traffic
from why502.app.watch.traffic import LineCounter, Traffic, native_program
from why502.parsers import errorlog_native
from why502.parsers.log_format import PREDEFINED, compile_format

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
LOGS = sorted(p for p in FIXTURES.rglob("access*.log") if p.stat().st_size)
native = pytest.mark.skipif(not errorlog_native.available(), reason="native scanner not built")


def _counts(fmt: str, data: bytes, use_native: bool) -> tuple[object, ...]:
    counter = LineCounter(compile_format(fmt))
    if not use_native:
        counter.program = None
    t = Traffic()
    t.servers = frozenset({"localhost", "shop.example"})
    statuses, unparsed = t.add(data, counter, lambda raw: raw)
    return (statuses, unparsed, t.requests, t.responses, t.buckets, t.counts,
            {k: round(v, 6) for k, v in t.sums.items()})


def _formats(data: bytes) -> list[str]:
    """The format watch reads ``data`` in without a config (``guess_format``), and every
    other predefined one whose regex reads one of its lines at least."""
    from why502.app.stats.formats import guess_format

    lines = [ln for ln in data.decode("utf-8", "replace").split("\n") if ln]
    name, _hits = guess_format(lines[:100])
    out = [PREDEFINED[name][0]] if PREDEFINED[name][1] != "json" else []
    for fmt, escape in PREDEFINED.values():
        rx = re.compile(compile_format(fmt, escape).pattern)
        if escape != "json" and fmt not in out and any(rx.match(ln) for ln in lines):
            out.append(fmt)
    return out


@native
def test_native_and_regex_count_alike_and_as_stats_reads_the_statuses() -> None:
    from why502.evidence.stats.parser import LineParser

    assert len(LOGS) >= 30
    checked = 0
    for log in LOGS:
        data = log.read_bytes()
        if not data.endswith(b"\n"):
            data += b"\n"
        for fmt in _formats(data):
            assert native_program(compile_format(fmt), None) is not None, fmt
            fast, slow = _counts(fmt, data, True), _counts(fmt, data, False)
            assert fast == slow, log
            if log.parent.name == "hostile":
                continue  # below: stricter than stats' parser on fields it does not read
            df, unparsed, _s, _rows = LineParser(compile_format(fmt, capture=traffic._WANTED)).parse(data)
            stats = {int(k): v for k, v in df["status"].cast(str).value_counts().iter_rows()}
            assert fast[0] == stats and fast[1] == unparsed, log
            checked += 1
    assert checked >= 30


H = b'1.2.3.4 - - [23/Nov/2026:09:00:00 +0000] "GET / HTTP/1.1'
EDGES = [
    # lists of attempts, internal redirects, "-" and an empty peer (socket() failed)
    H + b'" 502 0 "-" "c" ua="10.0.0.1:80, 10.0.0.2:80 : u" urt="0.100, 1.5 : 0.250"',
    H + b'" 504 0 "-" "c" ua="-" urt="-"',
    H + b'" 502 0 "-" "c" ua="" urt=""',
    H + b'" 200 0 "-" "c" ua="10.0.0.1:80" urt="nan"',
    H + b'" 200 0 "-" "c" ua="10.0.0.1:80" urt="1e3"',
    H + b'" 200 12 "-" "c" ua="10.0.0.1:80" urt="0.005"\r',
    # broken lines: a quote left open (must not run into the next line), a bad time, no status
    H + b'',
    b'1.2.3.4 - - [23/Nov/2026:9:00:00 +0000] "GET / HTTP/1.1" 200 0 "-" "c" ua="-" urt="-"',
    H + b'" 20 0 "-" "c" ua="-" urt="-"',
    H + b'" 200 x "-" "c" ua="-" urt="-"',
    b"",
    b'1.2.3.4 - - [23/Nov/2026:09:00:00 +0000] "GET /\xff\xfe HTTP/1.1" 503 0 "-" "\xc3\xa9" '
    b'ua="10.0.0.9:80" urt="30.001"',
]


@native
def test_edges_count_alike_both_ways() -> None:
    fmt = ('$remote_addr - $remote_user [$time_local] "$request" $status $body_bytes_sent '
           '"$http_referer" "$http_user_agent" ua="$upstream_addr" urt="$upstream_response_time"')
    data = b"\n".join(EDGES) + b"\n"
    fast, slow = _counts(fmt, data, True), _counts(fmt, data, False)
    assert fast == slow
    statuses, unparsed, _req, responses, _b, counts, sums = fast
    assert statuses == {502: 2, 504: 1, 200: 1, 503: 1} and unparsed == 6  # "nan", "1e3" too
    assert responses[("u", "502")] == 1 and ("-", "504") not in responses
    assert counts == {"u": 1, "10.0.0.1:80": 1, "10.0.0.9:80": 1}
    assert sums["u"] == 0.25


def test_without_the_extension_the_regex_counts(monkeypatch: pytest.MonkeyPatch) -> None:
    """``WHY502_NATIVE=0`` (or no C compiler at install): the same counts, by the regex."""
    monkeypatch.setenv("WHY502_NATIVE", "0")
    assert traffic._native() is None
    data = b"\n".join(EDGES) + b"\n"
    fmt = ('$remote_addr - $remote_user [$time_local] "$request" $status $body_bytes_sent '
           '"$http_referer" "$http_user_agent" ua="$upstream_addr" urt="$upstream_response_time"')
    statuses, unparsed, *_ = _counts(fmt, data, True)
    assert statuses == {502: 2, 504: 1, 200: 1, 503: 1} and unparsed == 6


@native
def test_hostile_lines() -> None:
    """Times nginx cannot have written (NaN, inf, 1e309, -1.000) make a line unparsed, as in
    ``why502 stats``; so does a field watch does not read but the format's regex checks
    (``rt=99999999999999999999`` for ``$request_time``, ``\\d+\\.\\d+``), which stats' parser
    lets pass."""
    data = (FIXTURES / "hostile" / "access.log").read_bytes()
    fmt = ('$remote_addr - $remote_user [$time_local] "$request" $status $body_bytes_sent '
           '"$http_referer" "$http_user_agent" rt=$request_time uct="$upstream_connect_time" '
           'uht="$upstream_header_time" urt="$upstream_response_time"')
    fast, slow = _counts(fmt, data, True), _counts(fmt, data, False)
    assert fast == slow
    assert fast[0] == {200: 1, 502: 2, 504: 1} and fast[1] == 6


def test_formats_the_native_steps_do_not_run_go_to_the_regex() -> None:
    assert native_program(compile_format('$remote_addr$status "$request"'), None) is None
    assert native_program(compile_format('$time_iso8601 $status'), None) is None
    assert native_program(compile_format(*PREDEFINED["json"]), None) is None
    assert native_program(compile_format(PREDEFINED["combined"][0]), None) is not None


def test_haproxy_lines_counted_as_their_nginx_rewrite_reads() -> None:
    """HAProxy's block counter (``proxies.haproxy.log.HttplogCounter``, no line rewritten)
    counts what the ``why502`` rows of ``to_nginx_line`` give the nginx counter, on every
    HAProxy log recorded from a real HAProxy (the meanings are ``to_nginx_line``'s)."""
    from why502.proxies.haproxy.log import HttplogCounter, to_nginx_line

    logs = sorted(FIXTURES.rglob("haproxy*.log"))
    assert len(logs) >= 6
    requests = 0
    for log in logs:
        data = log.read_bytes()
        addresses = {"app/web1": "127.0.0.1:8081"}
        direct, rewritten = Traffic(), Traffic()
        statuses, _others = direct.add(data, HttplogCounter(addresses), lambda raw: raw)
        rows = [r for ln in data.decode("utf-8", "replace").splitlines()
                if (r := to_nginx_line(ln, addresses, "+0000")) is not None]
        want, unparsed = rewritten.add(("".join(f"{r}\n" for r in rows)).encode(),
                                       LineCounter(compile_format(PREDEFINED["why502"][0])),
                                       lambda raw: raw)
        assert unparsed == 0 and statuses == want, log
        assert (direct.requests, direct.responses, direct.buckets, direct.counts) == (
            rewritten.requests, rewritten.responses, rewritten.buckets, rewritten.counts), log
        assert direct.sums.keys() == rewritten.sums.keys()
        assert all(abs(direct.sums[k] - rewritten.sums[k]) < 1e-6 for k in direct.sums)
        requests += sum(statuses.values())
    assert requests >= 10
