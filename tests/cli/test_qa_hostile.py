"""The hostile corpus (tests/fixtures/hostile/) through every command and output format.

What a client puts in a request line must come out inert: no raw control character (C0, C1 —
a single U+009B is a CSI — or a bidi override) in any output, JSON escapes them as ``\\u00XX``,
terminal text shows them visibly, and no input reaches exit 4.
"""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

import pytest

from tests.support.clirun import WHY502, why502
from tests.support.paths import FIXTURES_DIR
from tests.support.reports import without_timing

HOSTILE = FIXTURES_DIR / "hostile"
RAW_CONTROL = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")
ERR, ACC, CONF = str(HOSTILE / "error.log"), str(HOSTILE / "access.log"), str(HOSTILE / "nginx.conf")


def _clean(out: str) -> None:
    bad = RAW_CONTROL.search(out)
    assert bad is None, f"raw control character {bad.group()!r} at {bad.start()}"


@pytest.mark.parametrize("log", ["error.log", "error-cr.log", "error-utf16.log"])
def test_classify_jsonl_escapes_c1_and_keeps_the_data(log: str) -> None:
    res = why502("classify", str(HOSTILE / log), "--format", "jsonl", "--no-progress")
    assert res.returncode in (0, 1), res.stderr
    _clean(res.stdout)
    if log == "error.log":
        assert "\\u009b" in res.stdout
        first = json.loads(res.stdout.splitlines()[0])
        assert "\u009b" in first["server"]  # escaped, not lost: the value is the same


def test_classify_summary_shows_stripped_escapes_visibly() -> None:
    res = why502("classify", ERR, "--no-progress")
    assert res.returncode == 1, res.stderr
    _clean(res.stdout)


@pytest.mark.parametrize("fmt", ["text", "json", "csv"])
def test_stats_every_format_is_inert(fmt: str) -> None:
    res = why502("stats", ACC, "--nginx-conf", CONF, "--log-format", "hostile", "--error-log", ERR,
                 "--format", fmt, "--no-progress")
    assert res.returncode in (0, 1), res.stderr
    _clean(res.stdout)
    _clean(res.stderr)
    if fmt == "text":
        assert "/admin" not in res.stdout  # "/adm\x1b[2Jin" is shown as it is, not as "/admin"
        assert "\\x1b[2J" in res.stdout


def test_terminal_text_never_hides_an_escape() -> None:
    res = why502("explain", "connect() failed (111: Connection refused) while connecting to upstream, "
                 'client: 1.2.3.4, server: x, request: "GET /adm\x1b[2Jin HTTP/1.1", upstream: '
                 '"http://127.0.0.1:1/"')
    assert res.returncode == 0, res.stderr
    assert "/adm\\x1b[2Jin" in res.stdout and "/admin" not in res.stdout


def test_jsonl_into_a_closed_pipe_exits_zero_quietly(tmp_path: Path) -> None:
    """``classify --format jsonl | head -1``: the reader left; exit 0 and nothing on stderr."""
    big = tmp_path / "big.log"
    line = Path(ERR).read_text(encoding="utf-8", errors="replace").splitlines(keepends=True)[0]
    big.write_text(line * 100_000, encoding="utf-8")
    proc = subprocess.Popen([WHY502, "classify", str(big), "--format", "jsonl", "--no-progress"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL)
    assert proc.stdout is not None and proc.stderr is not None
    proc.stdout.readline()
    proc.stdout.close()
    err = proc.stderr.read()
    assert proc.wait(timeout=60) == 0, err
    assert err == b""


@pytest.mark.parametrize("fmt", ["text", "json", "markdown", "html"])
def test_diagnose_on_impossible_values_never_fails_inside(fmt: str) -> None:
    """Years 1 and 9999, month 13, NaN/inf/1e309/-1 timings: counted, never exit 4."""
    res = why502("diagnose", "--offline", "--nginx-conf", CONF, "--error-log", ERR, "--access-log", ACC,
                 "--format", fmt)
    assert res.returncode in (0, 1), res.stderr
    _clean(res.stdout)
    if fmt == "json":
        assert "\\u009b" in res.stdout and "9999-13" not in res.stdout


def test_impossible_access_log_times_and_timings_are_unparsed() -> None:
    res = why502("stats", ACC, "--nginx-conf", CONF, "--log-format", "hostile", "--no-error-log",
                 "--format", "json", "--no-progress")
    assert res.returncode in (0, 1), res.stderr
    # no number of the report is NaN or infinite: JSON has no such values, Python's encoder writes
    # them as the bare tokens NaN/Infinity, which parse_constant sees (the unparsed lines' own text,
    # quoted in the samples, may spell "nan" or "inf": the native reader keeps a line whole past its
    # NUL byte, where the polars sample reader cut it)
    def no_constant(token: str) -> float:
        raise AssertionError(f"{token} in the report")

    doc = json.loads(res.stdout, parse_constant=no_constant)
    # the lines dated year 1 and year 9999, and those with -1.000, NaN, inf, 1e309 and "0.500, 1e400"
    # in $upstream_*_time / $request_time: nginx writes "%T.%03M" or "-", never these
    assert doc["unparsed"] == 7


def test_impossible_error_log_times_are_unknown_not_printed() -> None:
    res = why502("classify", ERR, "--format", "jsonl", "--no-progress")
    times = [json.loads(line)["time"] for line in res.stdout.splitlines()]
    assert None in times
    assert all(t is None or ("1970" <= t[:4] < "9999" and t[5:7] <= "12") for t in times)


def test_stats_exit_code_keeps_the_help_s_word(tmp_path: Path) -> None:
    """1 when the log holds a 5xx (the help's "1 findings"), 0 when it holds none."""
    ok = tmp_path / "ok.log"
    ok.write_text('1.2.3.4 - - [01/May/2024:10:00:00 +0000] "GET / HTTP/1.1" 200 1 "-" "-"\n')
    bad = tmp_path / "bad.log"
    bad.write_text('1.2.3.4 - - [01/May/2024:10:00:00 +0000] "GET / HTTP/1.1" 502 1 "-" "-"\n')
    for log, want in ((ok, 0), (bad, 1)):
        res = why502("stats", str(log), "--log-format", "combined", "--no-error-log", "--no-progress")
        assert res.returncode == want, res.stderr


def _stats_doc(path: str, native: str) -> tuple[int, object]:
    res = why502("stats", path, "--format", "json", "--no-progress", env={"WHY502_NATIVE": native})
    doc = json.loads(res.stdout) if res.stdout.startswith("{") else res.stderr
    return res.returncode, without_timing(doc)


def test_stats_reads_raw_nul_lines_alike_without_the_native_scanner() -> None:
    """A raw NUL inside a line (``escape=none``, a hostile writer): the polars path re-reads the
    lines its quote split rejects with NUL as the field separator, and cut them there, so it read
    none of the hostile log's lines where the native scanner reads eight (stop 67); now both give
    the same document."""
    path = str(FIXTURES_DIR / "hostile" / "access.log")
    polars, native = _stats_doc(path, "0"), _stats_doc(path, "1")
    assert polars == native
    assert native[0] == 1 and isinstance(native[1], dict) and native[1]["requests"] == 8
