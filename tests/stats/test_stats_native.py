"""The C split and parse of `why502 stats` (``access_columns`` of ``proxies/nginx/_scan.c``, run by
``evidence.stats.parser.LineParser``) must give the frame the polars split gives, row for row,
on every recorded access log and on hostile lines, and the same stats; a line it does not take
goes to the polars path, so nothing is dropped or counted twice.

It is optional (built when a C compiler is there), so these tests skip without it, unless
``WHY502_REQUIRE_NATIVE=1`` (``scripts/test`` sets it).
"""

from __future__ import annotations

import json
import os
import random
from pathlib import Path
from typing import Any

import polars as pl
import pytest

from tests.classify.test_classify_native import engine
from tests.support.genlog import generate
from tests.support.paths import FIXTURES_DIR
from why502 import proxies  # noqa: F401  (installs the native scanner's loader)
from why502.app.stats import StatsOptions, run_stats
from why502.evidence.stats.parser import LineParser
from why502.parsers.log_format import PREDEFINED, CompiledFormat, compile_format
from why502.parsers.native import scanner_module

BUILT = scanner_module() is not None
pytestmark = pytest.mark.skipif(not BUILT and os.environ.get("WHY502_REQUIRE_NATIVE") != "1",
                                reason="the native scanner was not built (no C compiler at install time)")

RECORDED = FIXTURES_DIR / "recorded"


def _fmt(name: str) -> CompiledFormat:
    fmt, escape = PREDEFINED[name]
    return compile_format(fmt, escape, name=name)


def _same(parser: LineParser, data: bytes) -> int:
    """Both paths on ``data``: the same frame (every column, every row, in order), the same
    unparsed lines and samples; returns how many lines the C side took."""
    assert parser.runs_native
    fast_c, rows_c, _, _ = parser._fast_out(data, native=True)
    fast_p, rows_p, _, _ = parser._fast_out(data, native=False)
    assert rows_c == rows_p
    ok_c = fast_c.filter(pl.col("_ok")).drop("_bad")
    ok_p = fast_p.filter(pl.col("_ok")).drop("_bad")
    assert ok_c.equals(ok_p)
    assert fast_c.filter(~pl.col("_ok")).equals(fast_p.filter(~pl.col("_ok")))
    got_c, got_p = parser.parse(data, native=True), parser.parse(data, native=False)
    assert got_c[0].equals(got_p[0])
    assert got_c[1:] == got_p[1:]
    back_rows = scanner_module().access_columns(data, parser.n, *parser.native)[3]  # type: ignore[union-attr,misc]
    return rows_c - len(back_rows) // 4


def test_the_nginx_formats_run_natively() -> None:
    """The formats `stats` guesses among that have no regex-only piece run in C; the JSON one
    (``$time_iso8601``, whose shape check only polars has) stays on polars."""
    for name in ("combined", "main", "why502", "upstream_time", "upstream_kv"):
        assert LineParser(_fmt(name)).native is not None, name
    assert LineParser(_fmt("json")).native is None


def test_same_frame_on_every_recorded_access_log() -> None:
    logs = sorted(RECORDED.glob("*/access.log"))
    assert len(logs) > 30
    taken = 0
    for log in logs:
        conf = (log.parent / "nginx.conf").read_text()
        name = "upstream_kv" if "upstream_addr=" in conf else "combined"
        taken += _same(LineParser(_fmt(name)), log.read_bytes())
    assert taken > 200  # the C side took the recorded lines (236), it did not hand them all back


GOOD = (b'127.0.0.1 - - [21/Nov/2026:21:13:42 +0000] "GET /orders HTTP/1.1" 502 157 "-" "why502-lab" '
        b'"app.example" rt=0.002 ua="127.0.0.1:33789" us="502" uct="-" uht="-" urt="0.000"')


def _hostile() -> list[bytes]:
    """Lines a real log can hold, and some no nginx writes (``$request`` keeps a raw quote
    only with ``escape=none``; the default escaping writes it ``\\x22``)."""
    g = GOOD
    return [
        g,
        g.replace(b"GET /orders", b"GET /a\\x22b"),  # escaped quote: printable, taken
        g.replace(b"GET /orders", b'GET /a"b'),  # a raw quote: one piece too many
        g.replace(b"GET /orders", b'GET /a\\"b'),  # escape=json style
        g.replace(b'ua="127.0.0.1:33789" us="502" uct="-" uht="-" urt="0.000"',
                  b'ua="10.0.0.1:80, 10.0.0.2:80 : 10.0.0.3:80" us="502, 504 : 200" uct="0.001, -, 0.002" '
                  b'uht="-, - : 0.010" urt="0.001, 0.002 : 0.011"'),  # retries and a redirect
        g.replace(b'ua="127.0.0.1:33789"', b'ua="-"').replace(b'us="502"', b'us="-"'),
        g.replace(b'"app.example"', b'""'),  # empty piece: null in polars, "" once filled
        g.replace(b'"-" "why502-lab"', b'"" ""'),
        g.replace(b"502 157", b"20x 157"),  # not a status
        g.replace(b"502 157", b"5021 157"),
        g.replace(b"502 157", b"-1 157"),
        g.replace(b"502 157", b" 502 157"),
        g.replace(b"/Nov/2026", b"/Nov/1969"),  # a year nginx cannot have written
        g.replace(b"/Nov/2026", b"/Xyz/2026"),
        g.replace(b"/Nov/2026", b"/Nov/20a6"),
        g.replace(b'urt="0.000"', b'urt="NaN"'),
        g.replace(b'urt="0.000"', b'urt="-1.000"'),
        g.replace(b'urt="0.000"', b'urt="1e309"'),
        g.replace(b'urt="0.000"', b'urt=""'),
        g.replace(b' urt="0.000"', b""),  # the anchor missing
        g.replace(b" urt=", b" uRt="),
        g + b" trailing text",
        g + b'"',
        g + b"\r",  # CRLF
        g.replace(b"why502-lab", b"caf\xc3\xa9"),  # UTF-8
        g.replace(b"why502-lab", b"caf\xe9"),  # not UTF-8
        g.replace(b"why502-lab", b"a\tb"),
        g.replace(b"/orders", b"/" + b"x" * 70_000),  # over-long
        b"",
        b"   ",
        b"-",
        b'"',
        b"not an access-log line",
        g[: len(g) // 2],
        g.replace(b"127.0.0.1 - -", b"- - -"),
        g.replace(b"127.0.0.1 - -", b" - -"),
        g.replace(b"[21/Nov/2026:21:13:42 +0000]", b"[21/Nov/2026:21:13:42 +0000"),
        g.replace(b"[21/Nov/2026:21:13:42 +0000]", b"[]"),
    ]


def test_same_frame_on_hostile_lines() -> None:
    parser = LineParser(_fmt("why502"))
    lines = _hostile()
    data = b"\n".join(lines) + b"\n"
    taken = _same(parser, data)
    assert 8 <= taken < len(lines)
    # each line alone too (a block of one line, with and without its newline)
    for line in lines:
        _same(parser, line + b"\n")
        if line:
            _same(parser, line)


def test_same_frame_on_mutated_lines() -> None:
    """Random edits of good lines (a byte dropped, doubled or replaced by one of the bytes that
    shape the split): 3000 lines, each decided the same by both paths."""
    rnd = random.Random(28)
    alphabet = b'"\\ -,:0123456789./[]x\r\t\xff'
    out = []
    for _ in range(3000):
        b = bytearray(GOOD if rnd.random() < 0.5 else _hostile()[4])
        for _ in range(rnd.randint(1, 3)):
            k = rnd.randrange(len(b))
            op = rnd.random()
            if op < 0.3:
                del b[k]
            elif op < 0.6:
                b.insert(k, b[k])
            else:
                b[k] = alphabet[rnd.randrange(len(alphabet))]
        out.append(bytes(b))
    for name in ("why502", "combined", "upstream_time"):
        _same(LineParser(_fmt(name)), b"\n".join(out) + b"\n")


def _stats(path: Path, native: bool, **kw: Any) -> str:
    with engine(native):
        st, _ = run_stats(StatsOptions(paths=[str(path)], no_error_log=True, **kw))
    return json.dumps(st.to_dict(), sort_keys=False)


def test_same_stats_json(tmp_path: Path) -> None:
    """The whole `stats` answer, as JSON text, on a generated log (retries, redirects, bursts of
    5xx, junk lines) with the hostile lines in the middle, read by the native reader (small
    chunks: many groups and chunk edges) and by polars' scan."""
    truth = generate(6000, tmp_path, seed=3, rate=20.0, garbage_every=1000)
    lines = (tmp_path / "access.log").read_bytes().split(b"\n")[:-1]
    log = tmp_path / "mixed.log"
    log.write_bytes(b"\n".join(lines[:3000] + _hostile() + lines[3000:]) + b"\n")
    native = _stats(log, True, log_format="why502", chunk_bytes=64 << 10)
    assert native == _stats(log, False, log_format="why502")
    got = json.loads(native)
    assert got["unparsed"] > truth["unparsed"] > 0
    assert _stats(tmp_path / "access.log", True, log_format="why502") == _stats(
        tmp_path / "access.log", False, log_format="why502")
