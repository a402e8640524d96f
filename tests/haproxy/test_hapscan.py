"""HAProxy's native httplog pass (``proxies/haproxy/_hapscan.c``) gives ``httplog_fields`` the
rows its polars path gives (``_fields_polars``: ``HTTPLOG`` searched in each line, then the
meanings of ``log.to_fields``), on every HAProxy log of the fixtures and on lines bent at every
field the regex reads: the pass takes a line only when its search is the regex's, and hands the
others back.

Optional like every native pass (built when a C compiler is there): skipped without it, unless
``scripts/test`` requires it (``tests/support/native.py``).
"""

from __future__ import annotations

import json
import os
import random
import subprocess
from pathlib import Path

import polars as pl
import pytest
from polars.testing import assert_frame_equal

from tests.haproxy.test_haproxy_fields_batch import ADDRESSES, EDGES
from tests.support.clirun import WHY502
from tests.support.native import native_pass
from tests.support.paths import FIXTURES_DIR
from why502.proxies.haproxy.stats import _fields_polars, httplog_fields

BUILT, pytestmark = native_pass("why502.proxies.haproxy._hapscan", "HAProxy's native httplog pass")

LINE = ('<134>Nov 21 10:00:00 haproxy[29614]: 192.168.130.60:33492 [21/Nov/2026:10:00:00.000] fe '
        'static/web1 0/0/0/25/26 502 217 - - ---- 1/1/0/0/0 0/0 "GET /search?q=x HTTP/1.1"')

# each one on the edge of a step of the regex
SHAPES = [
    LINE,
    LINE.replace("<134>Nov 21 10:00:00 haproxy[29614]: ", ""),  # no syslog head
    LINE.replace("haproxy[29614]: ", "lb1 haproxy[29614]: "),  # a host in the head
    LINE.replace("haproxy[29614]: ", "lb1:514 [x] haproxy[29614]: "),  # a host:port then " [" no time
    LINE.replace("192.168.130.60:33492", "[2001:db8::1]:33492"),  # IPv6 client
    LINE.replace("192.168.130.60:33492", "web_1.example-2:33492"),  # a name
    LINE.replace("192.168.130.60:33492", ":33492"),  # no client
    LINE.replace("192.168.130.60:33492", "a:b:33492"),  # the last colon is the port's
    LINE.replace(":33492 [", ":33492x ["),  # port not digits
    LINE.replace(":33492 [", ":33492  ["),  # two spaces
    LINE.replace("[21/Nov/2026:10:00:00.000]", "[21/Nov/2026:10:00:00]"),  # no fraction
    LINE.replace("[21/Nov/2026:10:00:00.000]", "[21/Nov/2026:10:00:00.]"),  # a dot alone
    LINE.replace("[21/Nov/2026:10:00:00.000]", "[21/nov/2026:10:00:00.000]"),  # month's case
    LINE.replace("[21/Nov/2026:10:00:00.000]", "[1/Nov/2026:10:00:00.000]"),  # one-digit day
    LINE.replace(" fe ", "  "),  # no frontend
    LINE.replace("static/web1", "static/"),  # no server
    LINE.replace("static/web1", "/web1"),  # no backend
    LINE.replace("static/web1", "static/web1/x"),  # a server holding a slash
    LINE.replace("static/web1", "static"),  # no slash
    LINE.replace("static/web1", "static/<NOSRV>"),
    LINE.replace("0/0/0/25/26", "-1/-1/-1/-1/+3"),
    LINE.replace("0/0/0/25/26", "0/0/0/25/" + "9" * 18),  # 18 digits
    LINE.replace("0/0/0/25/26", "0/0/0/25/" + "9" * 19),  # 19: not the regex's
    LINE.replace("0/0/0/25/26", "0/0/0/25"),  # four timers
    LINE.replace("0/0/0/25/26", "0/0/0/25/26/27"),
    LINE.replace("0/0/0/25/26", "5/7/3/-1/20"),  # no response header
    LINE.replace("0/0/0/25/26", "+0/0/0/25/26"),  # a "+" where the regex has none
    LINE.replace(" 502 ", " 50 "),
    LINE.replace(" 502 ", " 5020 "),
    LINE.replace(" 217 ", " +217 "),
    LINE.replace(" 217 ", " ++217 "),
    LINE.replace(" 217 ", " "),
    LINE.replace(" - - ", " -  "),  # a cookie missing
    LINE.replace("----", "---"),
    LINE.replace("----", "sH--"),
    LINE.replace("----", "SC--"),
    LINE.replace("----", "-R--"),
    LINE.replace("----", "cD1-"),  # a digit: not the regex's
    LINE.replace(" 0/0 ", " 0/0 {a|b} "),  # captured headers
    LINE.replace(" 0/0 ", " 0/0 {a|b} {c} "),
    LINE.replace(" 0/0 ", ' 0/0 {a "quoted" b} '),
    LINE.replace(" 0/0 ", " 0/0 {unclosed "),
    LINE.replace(' "GET /search?q=x HTTP/1.1"', ""),  # no request
    LINE.replace(' "GET /search?q=x HTTP/1.1"', ' ""'),
    LINE.replace(' "GET /search?q=x HTTP/1.1"', ' "GET /cut'),  # no closing quote
    LINE.replace(' "GET /search?q=x HTTP/1.1"', ' "GET /a" and more'),
    LINE.replace(" 1/1/0/0/0 0/0", " 1/1/0/0/0"),  # the queues missing
    LINE.replace("GET /search", "GET /s\u00e9arch"),  # not ASCII: handed back
    LINE.replace(" fe ", " f\te "),  # a tab: \s in the regex
    LINE + "\r",
    LINE.replace("192.168.130.60:33492", "1.2.3.4:5 [21/Nov/2026:10:00:00] x 1.2.3.4:6"),  # two anchors
    "Server app/web1 is DOWN, reason: Layer4 connection problem",
    "",
]


def _bent(seed: int = 1) -> list[str]:
    """Every recorded HAProxy line and each shape above, bent at random places."""
    rng = random.Random(seed)
    base = list(SHAPES) + list(EDGES)
    for log in sorted(FIXTURES_DIR.rglob("*.log")):
        text = log.read_text(encoding="utf-8", errors="replace")
        if "haproxy[" in text or "/<NOSRV>" in text:
            base += [ln for ln in text.splitlines() if " [" in ln][:200]
    out = list(base)
    pieces = [" ", "/", ":", "[", "]", "-", "+", '"', "{", "}", "0", "9", "x", "\u0663", "\t"]
    for line in base:
        for _ in range(8):
            if not line:
                continue
            at = rng.randrange(len(line))
            kind = rng.randrange(3)
            if kind == 0:
                out.append(line[:at] + line[at + 1:])
            elif kind == 1:
                out.append(line[:at] + rng.choice(pieces) + line[at:])
            else:
                out.append(line[:at] + rng.choice(pieces) + line[at + 1:])
    return [ln for ln in out if "\n" not in ln]


def _both(lines: list[str], addresses: dict[str, str],
          first_row: int = 0) -> tuple[pl.DataFrame, pl.DataFrame]:
    series = pl.Series(lines)
    return (httplog_fields(series, addresses, "+0100", first_row),
            _fields_polars(series, addresses, "+0100", first_row))


@pytest.mark.parametrize("addresses", [{}, ADDRESSES | {"static/web1": "10.0.0.1:80"}],
                         ids=["names", "addresses"])
def test_the_pass_gives_the_regexs_rows(addresses: dict[str, str]) -> None:
    lines = _bent()
    native, polars = _both(lines, addresses, first_row=7)
    assert polars.height > 250
    assert_frame_equal(native, polars)


def test_every_shape_is_decided_as_the_regex_decides_it() -> None:
    for line in SHAPES:
        native, polars = _both([line], {})
        assert_frame_equal(native, polars), line


def test_the_pass_takes_the_plain_lines_and_hands_the_others_back() -> None:
    from why502.proxies.haproxy import _hapscan  # type: ignore[attr-defined]

    lines = [LINE, LINE.replace("GET /search", "GET /s\u00e9arch"), "noise", LINE + "\r"]
    _schema, _array, count, back, _text = _hapscan.httplog_columns("\n".join(lines).encode(), b"+0000")
    assert count == 4
    assert list(memoryview(back).cast("I")) == [1]  # not ASCII (a CRLF line is read without its CR)
    native, polars = _both([LINE + "\r", LINE], {})
    assert_frame_equal(native, polars)
    assert native.drop("_row", "_text").n_unique() == 1


def test_a_batch_holding_a_newline_inside_a_line_reads_as_the_regex_reads_it() -> None:
    native, polars = _both([LINE, "a\nb", LINE], {})
    assert_frame_equal(native, polars)
    assert native.height == 2


def test_the_command_prints_the_same_with_and_without_the_pass(tmp_path: Path) -> None:
    log = tmp_path / "haproxy.log"
    log.write_text("\n".join(_bent(2)) + "\n", encoding="utf-8")

    def stats(native: str) -> dict[str, object]:
        run = subprocess.run([WHY502, "stats", "--proxy", "haproxy", str(log), "--format", "json",
                              "--no-progress"], capture_output=True, text=True, timeout=120,
                             env={**os.environ, "WHY502_NATIVE": native}, check=False)
        assert run.returncode in (0, 1), run.stderr
        out: dict[str, object] = json.loads(run.stdout)
        out.pop("files", None)
        return out

    on = stats("1")
    assert on == stats("0")
    assert on["requests"] > 250  # type: ignore[operator]
