"""The native ALB pass (``parsers/lblogs/_albscan.c``) gives the polars reader's rows.

``alb_frame`` hands a batch to the C pass, which takes the entries whose shape leaves no doubt
and gives back the others for the polars reader (``ALB_RX`` and its column expressions, the
reference).  On every published and recorded ALB line, and on variants of them bent at each
field (a dash, another status, a time of another shape, a wait at the connect-timeout bounds,
an odd target group, target list or request, a truncated entry, a byte outside printable
ASCII), the rows with the pass must equal the rows without it -- and the pass must take the
plain entries (an equality reached by handing every line back would prove nothing).
"""

from __future__ import annotations

import array
import json
import os
import random
import subprocess
import sys
from collections.abc import Iterator
from functools import cache, lru_cache
from pathlib import Path

import polars as pl
import pytest

from tests.support.native import native_pass
from why502.parsers.lblogs import batch
from why502.parsers.lblogs.alb import parse_alb

FIX = Path(__file__).resolve().parents[1] / "fixtures"

BUILT, pytestmark = native_pass("why502.parsers.lblogs._albscan", "the native ALB pass")


def test_the_pass_is_built_where_the_suite_requires_it() -> None:
    """``scripts/test`` installs a compiler and sets WHY502_REQUIRE_NATIVE=1: a build that
    silently fell back to polars would pass every other test here as skipped."""
    assert BUILT, "why502.parsers.lblogs._albscan was not built: see the pip install output"


def _published() -> list[str]:
    """The ALB entries of the recorded and published fixtures (AWS's documented examples, field
    lines)."""
    lines: list[str] = []
    for jsonl in (FIX / "cloud" / "alb.jsonl", FIX / "edge-field" / "alb.jsonl",
                  FIX / "edge-field" / "batch2" / "lines.jsonl"):
        for row in jsonl.read_text(encoding="utf-8").splitlines():
            if row.strip():
                line = str(json.loads(row)["line"])
                if line.split(" ", 1)[0] in ("http", "https", "h2", "grpcs", "ws", "wss"):
                    lines.append(line)
    return lines


def _fields(line: str) -> list[str]:
    """The entry's fields, quoted ones with their quotes (the text joined by spaces again)."""
    return list(_split(line))


@lru_cache(maxsize=8192)
def _split(line: str) -> tuple[str, ...]:
    """``_fields``, kept: ``_variants`` bends one entry ~300 ways, each asking its fields (the
    corpus took ~19 s to make, once per test asking for it, with each line split afresh)."""
    out: list[str] = []
    k = 0
    while k < len(line):
        if line[k] == '"':
            end = line.find('"', k + 1) + 1 or len(line)  # an unclosed quote: to the end
        else:
            end = line.find(" ", k)
            end = len(line) if end < 0 else end
        out.append(line[k:end])
        k = end + 1
    return tuple(out)


def _set(line: str, i: int, value: str) -> str:
    f = _fields(line)
    if i >= len(f):
        return line  # a short entry has no such field
    f[i] = value
    return " ".join(f)


_STATUSES = ("502", "503", "504", "460", "463", "200", "000", "5020", "abc", "-", "1234567890")
_SECONDS = ("-1", "0.000", "-0.000", "1e3", "1.", ".5", "60.002", "12345678901234567890.5", "+1", "-", "NaN")
_WAITS_US = (8_999_997, 8_999_998, 9_000_000, 9_000_001, 9_000_003, 10_000_000, 11_499_997,
             11_499_998, 11_500_000, 11_500_002, 11_500_003, 60_000_000, -5)
_GROUPS = ("arn:aws:elasticloadbalancing:us-east-2:1:targetgroup//x", "arn:aws:x:targetgroup/",
           "arn:a:targetgroup/a/b:targetgroup/c/d", "plain-name", "arn:a:targetgroup/name", "-")
_TARGETS = ('"10.0.0.1:80  10.0.0.2:80"', '" 10.0.0.1:80 "', '"a b c"', '"-"', '""', '" "', '"a b "')
_REQUESTS = ('"- - - "', '"GET"', '"GET http://h"', '"GET http://h:80/p?q HTTP/1.1"',
             '"GET HTTP://H/x HTTP/1.1"', '"GET  /x HTTP/1.1"', '" GET / HTTP/1.1"', '"GET ftp://a@b/c d"',
             '"GET http:///x HTTP/1.1"',
             '"GET http://h:/ HTTP/1.1"', '"GET h2c://[::1]:80/ HTTP/2.0"', '"-"', '""', '"GET /"',
             '"GET http://a:b:c/d HTTP/1.1"', '"GET 9http://h/x HTTP/1.1"')


def _iso(us: int) -> str:
    import datetime as dt

    t = dt.datetime(2026, 11, 21, 10, 0, tzinfo=dt.timezone.utc) + dt.timedelta(microseconds=us)
    return t.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _variants(base: str) -> Iterator[str]:
    if " " not in base.strip():
        return  # nothing left to bend
    f = _fields(base)
    n = len(f)
    for i in range(n):
        yield _set(base, i, '"-"' if f[i].startswith('"') else "-")
    for s in _STATUSES:
        for t in ("-", "502", "200", s):
            yield _set(_set(base, 8, s), 9, t)
    for i in (5, 6, 7):
        for v in _SECONDS:
            for s, t in (("502", "-"), ("503", "-"), ("504", "-"), ("200", "200")):
                yield _set(_set(_set(base, i, v), 8, s), 9, t)
    for w in _WAITS_US:
        for created in (_iso(0), "-", "2026-02-30T10:00:00.000000Z", "2026-11-21T10:00:00Z",
                        "2026-11-21T24:00:00.000000Z"):
            line = _set(_set(_set(_set(base, 1, _iso(w)), 5, "-1"), 8, "504"), 9, "-")
            if n > 24:
                line = _set(_set(line, 21, created), 24, '"-"')
            yield line
    for g in _GROUPS:
        yield _set(base, 16, g)
    if n > 24:
        yield _set(_set(_set(base, 8, "502"), 9, "-"), 24, '""')  # an empty reason decides nothing
    if n > 25:
        for t in _TARGETS:
            yield _set(base, 25, t)
    for r in _REQUESTS:
        yield _set(base, 12, r)
    for cut in range(1, n):
        yield " ".join(f[:cut])
    yield base + ' "Acceptable" "-" TID_1 "-"'
    yield base.replace('"', '\\"', 1)
    yield base.replace(" ", " \\ ", 1)
    yield base + "\r"
    yield base.replace("GET", "GÉT", 1)
    yield "grpc" + base[base.find(" "):]
    yield _set(base, 2, 'app/lb"x')
    yield _set(base, 10, "12a")
    yield base.replace(" ", "  ", 1)
    yield "  " + base
    yield ""


def _corpus() -> list[str]:
    """The published entries and their bent forms (a new list each call: callers extend it)."""
    return list(_made_corpus())


@cache
def _made_corpus() -> tuple[str, ...]:
    base = _published()
    lines = list(base)
    for line in base:
        lines.extend(_variants(line))
    rng = random.Random(502)
    for _ in range(400):  # two or three bends at once
        line = rng.choice(base)
        for _k in range(rng.randint(2, 3)):
            line = rng.choice(list(_variants(line)) or [line])
        lines.append(line)
    return tuple(lines)


Frames = tuple[pl.DataFrame, pl.Series, pl.DataFrame, pl.Series]


def _both(lines: list[str], monkeypatch: pytest.MonkeyPatch) -> Frames:
    series = pl.Series("text", lines)
    native, native_rest = batch.alb_frame(series)
    monkeypatch.setenv("WHY502_NATIVE", "0")
    batch._native_pass.cache_clear()
    try:
        ref, ref_rest = batch.alb_frame(series)
    finally:
        monkeypatch.delenv("WHY502_NATIVE")
        batch._native_pass.cache_clear()
    return native, native_rest, ref, ref_rest


def test_the_published_entries_are_all_taken_by_the_native_pass() -> None:
    """Every whole entry of today's format is taken; what goes back are the pasted fragments
    (an entry cut short with "...") and older entries with fewer fields."""
    lines = _published()
    assert len(lines) >= 15
    module = batch._native_pass("_albscan")
    assert module is not None
    _schema, _array, rows, back_rows, _text = module.alb_columns("\n".join(lines).encode())
    back = array.array("I", back_rows).tolist()
    assert rows == len(lines)
    whole = {i for i, line in enumerate(lines) if len(_fields(line)) >= 26 and "\\" not in line}
    assert len(whole) >= 12
    assert not whole & set(back), [lines[i] for i in whole & set(back)]


def test_native_rows_equal_the_polars_readers_on_bent_entries(monkeypatch: pytest.MonkeyPatch) -> None:
    lines = _corpus()
    assert len(lines) > 4000
    native, native_rest, ref, ref_rest = _both(lines, monkeypatch)
    assert native_rest.to_list() == ref_rest.to_list()
    assert native.schema == ref.schema
    assert native["idx"].to_list() == ref["idx"].to_list()
    for col in native.columns:
        a, b = native[col], ref[col]
        assert a.equals(b, check_names=True), (col, [
            (i, x, y, lines[i]) for i, x, y in zip(native["idx"], a, b, strict=True) if x != y][:3])
    module = batch._native_pass("_albscan")
    assert module is not None
    _s, _a, rows, back_rows, _text = module.alb_columns("\n".join(lines).encode())
    back = array.array("I", back_rows).tolist()
    taken = rows - len(back)
    # the pass took the whole entries (the truncated ones, most of the corpus, are the polars
    # reader's: ALB_RX reads an entry cut after any field from the target group on) and handed
    # back the bent ones it cannot be sure of
    assert taken > 2000 and len(back) > 2000, (taken, ref.height, len(lines))


def test_timings_of_every_length_read_as_polars_reads_them(monkeypatch: pytest.MonkeyPatch) -> None:
    """The pass reads a timing of up to 15 digits as integer / power of ten (exact, as strtod
    and polars round), longer ones with strtod: random timings of 1-18 digits, dots anywhere,
    signs, in the three time fields, give polars' rows."""
    base = _published()[0]
    rng = random.Random(28)
    lines = []
    for _ in range(3000):
        line = base
        for i in (5, 6, 7):
            n = rng.randint(1, 18)
            digits = "".join(rng.choice("0123456789") for _ in range(n))
            dot = rng.randint(0, n - 1)
            value = digits if dot == 0 else f"{digits[:dot]}.{digits[dot:]}"
            line = _set(line, i, ("-" if rng.random() < 0.2 else "") + value)
        lines.append(line)
    native, native_rest, ref, ref_rest = _both(lines, monkeypatch)
    assert native_rest.len() < 100 and native_rest.to_list() == ref_rest.to_list()
    for col in ("upstream_ms", "duration_ms", "code"):
        assert native[col].equals(ref[col]), col


def test_a_blank_last_line_and_an_empty_batch(monkeypatch: pytest.MonkeyPatch) -> None:
    line = _published()[0]
    for lines in ([line, ""], [""], [line], ["", line, ""]):
        native, native_rest, ref, ref_rest = _both(lines, monkeypatch)
        assert native.equals(ref) and native_rest.to_list() == ref_rest.to_list()


def test_stats_and_classify_on_a_file_are_the_same_without_the_native_pass(tmp_path: Path) -> None:
    """The commands a user runs, on a file: ``stats --format json`` and ``classify --format
    jsonl``, with and without the native pass."""
    log = tmp_path / "alb.log"
    lines = _corpus()
    log.write_text("\n".join(lines) + "\n", encoding="utf-8")
    outs = []
    for native in ("1", "0"):
        env = {**os.environ, "WHY502_NATIVE": native}
        got = []
        for cmd in (["stats", str(log), "--log-type", "alb", "--format", "json", "--no-progress"],
                    ["classify", str(log), "--log-type", "alb", "--format", "jsonl"]):
            proc = subprocess.run([sys.executable, "-m", "why502", *cmd], capture_output=True, text=True,
                                  env=env, timeout=300, check=False)
            assert proc.returncode in (0, 1), proc.stderr[-2000:]
            got.append(proc.stdout)
        outs.append(got)
    stats = json.loads(outs[0][0])
    assert stats["requests"] > 2000
    assert outs[0] == outs[1]


def test_the_block_reader_numbers_lines_as_the_decoded_reader(tmp_path: Path,
                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    """``stats`` hands the native pass raw blocks (``app.stats.lb._convert_block``): across
    many small blocks and two files, with lines it hands back (not ASCII, blank, cut short),
    every row keeps its file and line number, and the counts are the decoded reader's."""
    from why502.app.stats.lb import read_lb

    lines = _corpus()[:3000]
    a, b = tmp_path / "a.log", tmp_path / "b.log"
    a.write_text("\n".join(lines[:1700]) + "\n", encoding="utf-8")
    b.write_bytes(("\n".join(lines[1700:]) + "\n\n").encode() + b"\xff\xfe broken \xe2\n" + lines[0].encode())
    got = []
    for native in ("1", "0"):
        monkeypatch.setenv("WHY502_NATIVE", native)
        batch._native_pass.cache_clear()
        frames: list[pl.DataFrame] = []
        read = read_lb([str(a), str(b)], "alb", frames.append, batch_bytes=64 << 10)
        got.append((pl.concat(frames), read))
    batch._native_pass.cache_clear()
    (fa, ra), (fb, rb) = got
    assert fa.equals(fb), "rows differ"
    assert ra == rb  # rows, lines, unparsed, files and samples
    assert fa.filter(pl.col("file") == str(b))["line"].max() == len(lines) - 1700 + 3


@pytest.mark.parametrize("native", ["1", "0"])
def test_an_empty_reason_and_a_doubled_group_are_read_as_parse_alb_reads_them(
        native: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """An empty ``error_reason`` (``""``) decides no code: the ALB's 502 is still its own
    ``target-closed``, as ``parse_alb`` has it (the readers of a batch kept ``""`` as the code, no
    symptom); the group of an ARN naming ``:targetgroup/`` twice is the first one's name in every
    reader (``parse_alb`` took the last).  Found by the watch counter's comparison with the
    per-line parser (stop 50)."""
    base = _published()[0]
    lines = [_set(_set(_set(base, 8, "502"), 9, "-"), 24, '""'),
             _set(_set(_set(base, 8, "502"), 9, "-"), 16,
                  "arn:aws:elasticloadbalancing:us-east-2:1:targetgroup/a/1:targetgroup/b/2")]
    monkeypatch.setenv("WHY502_NATIVE", native)
    batch._native_pass.cache_clear()
    try:
        rows, rest = batch.alb_frame(pl.Series(lines))
    finally:
        batch._native_pass.cache_clear()
    assert rest.len() == 0
    for row, line in zip(rows.iter_rows(named=True), lines, strict=True):
        want = parse_alb(line)
        assert want is not None
        assert (row["code"], row["group"], row["symptom"], row["made_by"]) == (
            want.code, want.group, want.symptom, want.made_by), line
    assert rows["code"].to_list() == ["target-closed", "target-closed"]
    assert rows["group"].to_list()[1] == "a"
