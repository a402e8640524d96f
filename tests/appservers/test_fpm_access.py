"""A PHP-FPM pool's own access log as evidence (issue 25 item 5): read with the pool's
``access.format`` (php-src ``sapi/fpm/fpm/fpm_log.c``), found from the pool config or named with
``--app-log``, identity- and time-checked, and weighed where a FastCGI app's 5xx are relayed.

Lines are what a real PHP-FPM 8.2 wrote (tests/fixtures/fpm-access/README.md); the diagnoses
run on the recorded matrix cell ``apache-fcgi-5xx-pool-log`` (its README), each variant one
edit of it."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support.paths import FIXTURES_DIR, matrix_cell
from why502.app.diagnose import DiagnoseOptions, diagnose
from why502.parsers.fpm_access import DEFAULT_FORMAT, compile_format, parse_line
from why502.parsers.fpm_config import parse_ini_value

LINES = FIXTURES_DIR / "fpm-access"
CELL = "apache-fcgi-5xx-pool-log"
TARGET = "127.0.0.1:60831"


@pytest.mark.parametrize(("name", "raw"), [
    ("default", r'"%R - %u %t \"%m %r\" %s"'),
    ("rich", r'"%{REMOTE_ADDR}e %n %t \"%m %r%Q%q\" %s %{mili}d %{kilo}M %C%% %T"'),
    ("unquoted", r'%R %t "%m %r%Q%q" %s %d'),
])
def test_real_lines_read_with_the_pools_format(name: str, raw: str) -> None:
    fmt = compile_format(parse_ini_value(raw))  # the value as FPM reads the pool file
    assert fmt is not None
    lines = (LINES / f"{name}.access.log").read_text().splitlines()
    got = [parse_line(fmt, text, n) for n, text in enumerate(lines, 1)]
    assert all(r is not None for r in got)
    assert [r.status for r in got if r] == [200, 502, 502, 200]  # the killed /slow.php: no line
    assert all(r.time is not None and r.method == "GET" for r in got if r)
    assert [r.uri.split("?")[0] for r in got if r and r.uri] == ["/ok.php", "/app.php", "/app.php", "/ok.php"]
    if name == "rich":
        first = got[0]
        assert first is not None and first.pool == "www" and first.duration == pytest.approx(0.000908)


def test_formats_fpm_refuses_are_not_read() -> None:
    assert compile_format("%U %s") is None  # php-fpm 8.2: "wrong format for access.format"
    assert compile_format("%e %s") is None  # %e needs {NAME}
    assert compile_format("%{hours}d") is None
    assert compile_format(DEFAULT_FORMAT) is not None


def _run(tmp_path: Path, *, pool_conf: bool = True, app_log: bool = False,
         edit: tuple[str, str] | None = None) -> tuple[str, str | None, float, list[str]]:
    work = matrix_cell(CELL, tmp_path)
    log = work / "php-fpm.access.log"
    if edit is not None:
        log.write_text(log.read_text().replace(*edit))
    report = diagnose(DiagnoseOptions(
        proxy="apache", config=str(work / "apache2.conf"), error_logs=[str(work / "apache-error.log")],
        access_logs=[str(work / "apache-access.log")], fpm_logs=[str(work / "php-fpm.log")],
        fpm_conf=str(work / "www.conf") if pool_conf else None,
        app_logs=[str(log)] if app_log else [], offline=True))
    top = report.findings[0]
    assert not report.healthy
    texts = [i.text or "" for i in top.evidence]
    return top.cause, top.target, top.confidence or 0.0, texts


def test_the_pools_own_502_lines_raise_the_confidence(tmp_path: Path) -> None:
    without, _t, low, _ = _run(tmp_path / "a", pool_conf=False)
    cause, target, high, texts = _run(tmp_path / "b")
    assert without == cause == "upstream-returned-5xx" and target == TARGET
    assert high > low  # without the reader both are the error log's silence alone
    assert any('"GET /app.php" 502' in t for t in texts)  # the pool's own line is shown


def test_an_app_log_that_is_the_pools_access_log_is_read_as_one(tmp_path: Path) -> None:
    _cause, target, conf, texts = _run(tmp_path, pool_conf=False, app_log=True)
    assert target == TARGET and conf > 0.9
    assert any('"GET /app.php" 502' in t for t in texts)


def test_the_pool_recording_200_refutes_that_the_app_made_them(tmp_path: Path) -> None:
    cause, _t, _c, _ = _run(tmp_path, edit=('" 502', '" 200'))
    assert cause == "unexplained-5xx"  # and the stated doubt says what the pool recorded:
    work = matrix_cell(CELL, tmp_path / "again")
    log = work / "php-fpm.access.log"
    log.write_text(log.read_text().replace('" 502', '" 200'))
    report = diagnose(DiagnoseOptions(
        proxy="apache", config=str(work / "apache2.conf"), error_logs=[str(work / "apache-error.log")],
        access_logs=[str(work / "apache-access.log")], app_logs=[str(log)], offline=True))
    assert "records 4 answers below 500" in report.findings[0].explanation


def test_no_line_in_the_window_leaves_the_reading_in_doubt(tmp_path: Path) -> None:
    """The pool's lines are of yesterday: it finished none of these requests (a killed child
    writes none), so "the app answered them" drops below the stated doubt."""
    _c, _t, low, _ = _run(tmp_path / "a", pool_conf=False)
    cause, _t2, top, _ = _run(tmp_path / "b", edit=("25/Nov/2026:12:57", "24/Nov/2026:09:57"))
    assert cause == "unexplained-5xx" and top < low


def test_a_rotated_gz_log_with_a_hostile_line_is_read_in_bounded_batches(tmp_path: Path) -> None:
    """The pool's log is read as every log is (``sources.logfiles``: a rotated ``.gz``
    decompressed, bounded batches, an over-long line cut): a 3 MiB line with no format is
    counted as unread, and the real lines around it still count."""
    import gzip

    from why502.app.diagnose.fpm_access import read_fpm_access

    real = (LINES / "default.access.log").read_text()
    log = tmp_path / "php-fpm.access.log.1.gz"
    log.write_bytes(gzip.compress((real + real + "x" * (3 << 20) + "\n" + real).encode()))
    got, taken = read_fpm_access([], [str(log)], None, [])
    assert taken == {str(log)} and len(got) == 1
    assert got[0].lines == 12 and got[0].unparsed == 1
    assert max(len(r.text) for r in got[0].requests) < 200
