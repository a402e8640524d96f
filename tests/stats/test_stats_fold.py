"""The fold of the C scanner (``proxies/nginx/_scan_fold.h``): the rows `why502 stats` and
`diagnose` only count (no 5xx, one attempt at most) are grouped in C instead of handed over as
columns, and the answer must not change -- whichever side counted a row, in every format the
scanner runs (with and without a host, a time, ``$upstream_header_time`` or any upstream field),
on logs whose values take every shape the fold distinguishes: the statuses it must leave out
(5xx) or keep out of "answered" (444, 499), ``$upstream_addr`` empty, ``-``, retried (``a, b``)
or redirected (``a : b``), timings ``-`` or not a number, times out of order (the last answer
per upstream is the last *row*, not the latest time), hosts by the thousand (the tables grow).

The reference is the polars reader (``WHY502_NATIVE=0``), and the native reader with the fold
turned off (``Reducer._fold_program`` -> None); the fold must also have folded something.
"""

from __future__ import annotations

import json
import os
import random
from pathlib import Path
from typing import Any

import pytest

from tests.classify.test_classify_native import engine
from why502 import proxies  # noqa: F401  (installs the native scanner's loader)
from why502.app.stats import StatsOptions, run_stats
from why502.evidence.stats import reduce as stats_reduce
from why502.evidence.stats.plan import RowPlan
from why502.parsers.log_format import compile_format
from why502.parsers.native import scanner_module

BUILT = scanner_module() is not None
pytestmark = pytest.mark.skipif(not BUILT and os.environ.get("WHY502_REQUIRE_NATIVE") != "1",
                                reason="the native scanner was not built (no C compiler at install time)")

FULL = ('$remote_addr - $remote_user [$time_local] "$request" $status $body_bytes_sent '
        '"$http_referer" "$http_user_agent" "$host" rt=$request_time ua="$upstream_addr" '
        'us="$upstream_status" uct="$upstream_connect_time" uht="$upstream_header_time" '
        'urt="$upstream_response_time"')

FORMATS = {
    "full": FULL,
    "no host": FULL.replace('"$host" ', ""),
    "server_name": FULL.replace('"$host"', '"$server_name"'),
    "no header time": FULL.replace(' uht="$upstream_header_time"', ""),
    "no time": FULL.replace("[$time_local] ", ""),
    "address only": FULL.split(' us="')[0],
    "no upstream": FULL.split(" ua=")[0],
    "combined": ('$remote_addr - $remote_user [$time_local] "$request" $status $body_bytes_sent '
                 '"$http_referer" "$http_user_agent"'),
}

ADDRS = ["10.0.0.1:8080", "10.0.0.2:8080", "[::1]:9000", "unix:/run/php/fpm.sock"]
STATUSES = [200] * 30 + [201, 204, 301, 304, 400, 404, 444, 499, 500, 502, 503, 504, 599, 0, 99, 1000]
TIMES = ["0.000", "0.001", "0.012", "0.120", "1.500", "29.999", "60.000", "-"]


def _attempt(rnd: random.Random) -> tuple[str, str, str, str, str]:
    addr = rnd.choice(ADDRS)
    us = rnd.choice(["200", "200", "502", "504", "404", "-"])
    return addr, us, rnd.choice(TIMES), rnd.choice(TIMES), rnd.choice(TIMES)


def _upstream(rnd: random.Random) -> tuple[str, str, str, str, str]:
    """One request's ``$upstream_*`` values: none, one attempt, retries, a redirect, or a shape
    nginx does not write (the fold must hand every odd one to polars or count it alike)."""
    r = rnd.random()
    if r < 0.08:
        return rnd.choice(["-", ""]), "-", "-", "-", "-"
    if r < 0.7:
        return _attempt(rnd)
    if r < 0.85:
        parts = [_attempt(rnd) for _ in range(rnd.randint(2, 3))]
        return tuple(", ".join(p[k] for p in parts) for k in range(5))  # type: ignore[return-value]
    if r < 0.95:
        a, b = _attempt(rnd), _attempt(rnd)
        return tuple(f"{a[k]} : {b[k]}" for k in range(5))  # type: ignore[return-value]
    odd = rnd.choice(["10.0.0.1:8080 :10.0.0.2:80", "a,b", "10.0.0.1:8080 , x", "x y"])
    return (odd, rnd.choice(["200", "200, 502", "x"]), rnd.choice(TIMES), "0.1, 0.2",
            rnd.choice(["1e3", "-0.1", "NaN"]))


def _line(fmt: str, rnd: random.Random, minute: int) -> str:
    ua, us, uct, uht, urt = _upstream(rnd)
    second = rnd.randrange(60)
    values = {
        "remote_addr": f"198.51.100.{rnd.randrange(256)}",
        "remote_user": "-",
        "time_local": f"21/Nov/2026:10:{minute % 60:02d}:{second:02d} +0000",
        "request": rnd.choice(["GET / HTTP/1.1", "POST /api/orders HTTP/2.0", "GET /a\\x22b HTTP/1.1"]),
        "status": str(rnd.choice(STATUSES)),
        "body_bytes_sent": str(rnd.randrange(100000)),
        "http_referer": "-",
        "http_user_agent": rnd.choice(["curl/8.5.0", "Mozilla/5.0 (X11)", ""]),
        "host": rnd.choice(["app.example", "api.example", "", "-", f"h{rnd.randrange(5)}.example"]),
        "server_name": rnd.choice(["app.example", "_"]),
        "request_time": rnd.choice(TIMES[:-1]),
        "upstream_addr": ua, "upstream_status": us, "upstream_connect_time": uct,
        "upstream_header_time": uht, "upstream_response_time": urt,
    }
    out = fmt
    for name in sorted(values, key=len, reverse=True):
        out = out.replace("$" + name, values[name])
    return out


def _log(path: Path, fmt: str, lines: int, seed: int, hosts: int = 0) -> Path:
    """``lines`` requests in ``fmt``, their minutes moving forward with some out of order,
    a few lines that are no request; ``hosts``: that many distinct hosts besides."""
    rnd = random.Random(seed)
    out = []
    for k in range(lines):
        minute = max(0, k * 7 // lines + (rnd.random() < 0.05) * rnd.randrange(-3, 3))
        line = _line(fmt, rnd, minute)
        if hosts and '"$host"' in fmt:
            line = line.replace('"app.example"', f'"u{k % hosts}.example"', 1)
        out.append(line)
        if rnd.random() < 0.01:
            out.append(rnd.choice(["", "junk", line[: len(line) // 2], line + "\r",
                                   line.replace('"', "'", 1)]))
    path.write_text("\n".join(out) + "\n")
    return path


def _stats(path: Path, fmt: str, native: bool, last_ok: bool = False, **kw: Any) -> str:
    """The whole answer as JSON text; ``last_ok``: with what only ``diagnose`` reads of it, each
    upstream's last answered request (``analyzers.rank``'s "recovered").  That one is the last
    row's within a chunk and the latest across chunks, so it depends on where chunks end: it
    is compared between readers that cut the log alike (the native reader, fold on and off)."""
    with engine(native):
        st, _ = run_stats(StatsOptions(paths=[str(path)], no_error_log=True, log_format=fmt, **kw))
    answer: Any = st.to_dict()
    if last_ok:
        answer = [answer, {u.address: str(u.last_ok) for u in st.upstreams}]
    return json.dumps(answer, sort_keys=False)


def _folded_rows(path: Path, fmt: str) -> int:
    """Rows the fold counted, when the whole file is one chunk."""
    reducer = stats_reduce.Reducer(RowPlan(compile_format(fmt, None)))
    assert reducer.fold is not None
    folded = reducer.parser.parse_folded(path.read_bytes(), fold=reducer.fold)[4]
    return 0 if folded is None else folded.rows


@pytest.mark.parametrize("name", sorted(FORMATS))
def test_fold_gives_the_polars_answer(tmp_path: Path, name: str, monkeypatch: pytest.MonkeyPatch) -> None:
    fmt = FORMATS[name]
    log = _log(tmp_path / "access.log", fmt, 3000, seed=len(name))
    folded = _folded_rows(log, fmt)
    assert 1000 < folded < 3000  # it folded most rows, not the 5xx nor the retried ones
    native = _stats(log, fmt, True, chunk_bytes=48 << 10)  # many chunks, rows across their edges
    assert native == _stats(log, fmt, False)
    got = json.loads(native)
    assert got["requests"] > 2500 and got["unparsed"] > 0  # odd timings are unparsed lines
    # the native reader with the fold turned off: only the fold differs, last_ok too
    with_fold = _stats(log, fmt, True, last_ok=True, chunk_bytes=48 << 10)
    assert "$upstream_addr" not in fmt or "$time_local" not in fmt or '"2026-11-21' in with_fold
    monkeypatch.setattr(stats_reduce.Reducer, "_fold_program", lambda self: None)
    assert _stats(log, fmt, True, last_ok=True, chunk_bytes=48 << 10) == with_fold


def test_fold_with_many_hosts(tmp_path: Path) -> None:
    """Thousands of distinct hosts in one chunk: the fold's tables grow many times over."""
    log = _log(tmp_path / "access.log", FULL, 12000, seed=11, hosts=9000)
    assert _stats(log, FULL, True) == _stats(log, FULL, False)


def test_fold_left_to_polars_when_a_row_is_wanted_whole() -> None:
    """A ``--since``/``--until`` window needs each row's full time, ``$msec`` a minute key that is
    no slice of the time, and a formats the scanner does not run has no fold at all."""
    from datetime import datetime

    fmt = compile_format(FULL, None)
    assert stats_reduce.Reducer(RowPlan(fmt)).fold is not None
    assert stats_reduce.Reducer(RowPlan(fmt, since=datetime(2026, 11, 21))).fold is None
    assert stats_reduce.Reducer(RowPlan(fmt, until=datetime(2026, 11, 21))).fold is None
    msec = compile_format(FULL.replace("[$time_local]", "$msec"), None)
    assert stats_reduce.Reducer(RowPlan(msec)).fold is None
    iso = compile_format(FULL.replace("[$time_local]", "$time_iso8601"), None)
    assert stats_reduce.Reducer(RowPlan(iso)).fold is None
