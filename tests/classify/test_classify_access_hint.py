"""``classify`` pointed at an access log says so, and is not "healthy" when its lines hold 5xx.

``classify`` reads the words of error logs; an access log has none, so it found nothing and said
"No upstream failure found" with exit 0 of a log full of 502s -- against the rule that a host
whose proxy served 5xx is never healthy.  It now notes on stderr that the file is an access log
(its first lines in one predefined format: ``app.stats.formats.access_log_hint``), how many of
them are 5xx, and which commands read it; exit 1 when there are 5xx."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import RunMain
from tests.support.paths import FIXTURES_DIR

LINE = '203.0.113.{i} - - [21/Nov/2026:10:00:{s:02d} +0000] "GET /x HTTP/1.1" {st} 157 "-" "curl/8.0"\n'


def _log(tmp_path: Path, statuses: list[int]) -> Path:
    log = tmp_path / "access.log"
    log.write_text("".join(LINE.format(i=i % 250, s=i % 60, st=st) for i, st in enumerate(statuses)))
    return log


@pytest.mark.parametrize("fmt", ["text", "json", "jsonl"])
def test_an_access_log_with_5xx_is_not_healthy(run_main: RunMain, tmp_path: Path, fmt: str) -> None:
    log = _log(tmp_path, [200, 502, 200, 504] * 10)
    code, _out, err = run_main("classify", str(log), "--format", fmt)
    assert code == 1
    assert "is an access log (40 of its first 40 lines in the 'combined' format, 20 of them a 5xx)" in err
    assert f"why502 stats {log}" in err


def test_an_access_log_without_5xx_is_noted_and_healthy(run_main: RunMain, tmp_path: Path) -> None:
    code, _out, err = run_main("classify", str(_log(tmp_path, [200, 404] * 10)))
    assert code == 0 and "is an access log" in err and "0 of them a 5xx" in err


def test_an_error_log_with_no_failure_is_not_called_an_access_log(run_main: RunMain, tmp_path: Path) -> None:
    log = tmp_path / "error.log"
    log.write_text("2026/11/21 10:00:00 [notice] 1#1: signal process started\n" * 5)
    code, _out, err = run_main("classify", str(log))
    assert code == 0 and "access log" not in err


def test_a_recognised_error_log_gets_no_note(run_main: RunMain) -> None:
    log = FIXTURES_DIR / "recorded" / "backend-down-tcp" / "error.log"
    code, _out, err = run_main("classify", str(log))
    assert code == 1 and "access log" not in err


@pytest.mark.parametrize("named", [("-",), ()])
def test_stdin_is_sniffed_as_a_file_is(tmp_path: Path, named: tuple[str, ...]) -> None:
    """An access log piped in gets the file's note and exit (stop 69: stdin was not sniffed, so
    a log of 502s on stdin was "healthy", exit 0); its head is replayed to the read
    (``sources.replay``), every line read."""
    data = _log(tmp_path, [502] * 5).read_bytes()
    done = subprocess.run([sys.executable, "-m", "why502", "classify", *named], input=data,
                          capture_output=True, timeout=60, check=False)
    assert done.returncode == 1, done.stderr
    note = b"- is an access log (5 of its first 5 lines in the 'combined' format, 5 of them a 5xx)"
    assert note in done.stderr
    assert b"5 lines read from -" in done.stdout + done.stderr
