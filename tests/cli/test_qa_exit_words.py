"""Exit codes and fixes that keep their word, and reports that are attacks (in-process: fast).

Each case once went wrong: ``lint --fpm-conf`` on a missing file exited 0; ``explain 502 504``
was refused though the usage says ``ARG ...``; ``--backend-timeout nan`` made
``proxy_read_timeout nans;``; a damaged rotated ``.gz`` that ``--rotated`` found aborted the run;
a UTF-16 log gave "0 recognised" (classify), zeros or "no line matches" (stats, diagnose) and
nothing else; a report with a 5000-digit number,
``Infinity`` or 100k-deep nesting was exit 4.
"""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import pytest

from tests.support.paths import FIXTURES_DIR
from why502.cli.main import main

HOSTILE = FIXTURES_DIR / "hostile"


def _run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_lint_fpm_conf_missing_is_exit_3(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    code, _, err = _run(capsys, "lint", str(HOSTILE / "nginx.conf"), "--fpm-conf",
                        str(tmp_path / "nope.conf"))
    assert code == 3 and len(err.strip().splitlines()) == 1 and "--fpm-conf" in err


def test_explain_takes_several_ids(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = _run(capsys, "explain", "502", "504")
    assert code == 0 and "502 Bad Gateway" in out and "504 Gateway Timeout" in out
    code, out, _ = _run(capsys, "explain", "502", "backend-not-running", "--format", "json")
    assert code == 0 and len(json.loads(out)) == 2


@pytest.mark.parametrize("value", ["nan", "inf", "-inf", "-5", "0", "1e400", "abc"])
def test_backend_timeout_must_be_finite_and_positive(capsys: pytest.CaptureFixture[str], value: str) -> None:
    code, out, err = _run(capsys, "lint", str(HOSTILE / "nginx.conf"), f"--backend-timeout={value}")
    assert code == 2 and out == ""
    assert len(err.strip().splitlines()) == 1 and "--backend-timeout" in err


def test_a_damaged_rotated_gz_found_by_itself_is_a_note(capsys: pytest.CaptureFixture[str],
                                                         tmp_path: Path) -> None:
    lines = (HOSTILE / "error.log").read_bytes().splitlines(keepends=True)[:4]
    (tmp_path / "error.log").write_bytes(b"".join(lines))
    whole = gzip.compress(b"".join(lines) * 200)
    (tmp_path / "error.log.2.gz").write_bytes(whole[: len(whole) // 2])  # cut mid-stream
    for fmt in ("summary", "jsonl"):
        code, _, err = _run(capsys, "classify", str(tmp_path / "error.log"), "--rotated", "--no-progress",
                              "--format", fmt)
        assert code == 1, err  # today's failures are still read and reported
        assert "error.log.2.gz" in err and "note" in err
    # named by the user, the same file is an error (exit 3): nothing is silently skipped
    code, _, err = _run(capsys, "classify", str(tmp_path / "error.log.2.gz"), "--no-progress")
    assert code == 3


@pytest.mark.parametrize("encoding", ["utf-16", "utf-16-le", "utf-16-be"])
def test_utf16_logs_get_a_warning(capsys: pytest.CaptureFixture[str], tmp_path: Path, encoding: str) -> None:
    log = tmp_path / "error.log"
    log.write_bytes((HOSTILE / "error.log").read_bytes().decode("utf-8", "replace").encode(encoding))
    code, _, err = _run(capsys, "classify", str(log), "--no-progress")
    assert code == 0 and "UTF-16" in err and "iconv" in err


def _utf16(tmp_path: Path, name: str, encoding: str = "utf-16") -> Path:
    log = tmp_path / name
    log.write_bytes((HOSTILE / name).read_bytes().decode("utf-8", "replace").encode(encoding))
    return log


@pytest.mark.parametrize("encoding", ["utf-16", "utf-16-le"])
def test_stats_says_an_error_log_is_utf16(capsys: pytest.CaptureFixture[str], tmp_path: Path,
                                          encoding: str) -> None:
    err_log = _utf16(tmp_path, "error.log", encoding)
    code, out, _ = _run(capsys, "stats", str(HOSTILE / "access.log"), "--error-log", str(err_log),
                        "--format", "json")
    notes = json.loads(out)["notes"]
    assert code in (0, 1) and any("UTF-16" in n and "iconv" in n and str(err_log) in n for n in notes)
    code, out, _ = _run(capsys, "stats", str(HOSTILE / "access.log"), "--error-log", str(err_log))
    assert "UTF-16" in out  # the text report shows the same note


def test_stats_says_why_a_utf16_access_log_matches_nothing(capsys: pytest.CaptureFixture[str],
                                                          tmp_path: Path) -> None:
    log = _utf16(tmp_path, "access.log")
    code, _, err = _run(capsys, "stats", str(log))
    assert code == 3 and len(err.strip().splitlines()) == 1
    assert "UTF-16" in err and "iconv" in err


@pytest.mark.parametrize("which", ["error", "access"])
def test_diagnose_says_a_log_is_utf16(capsys: pytest.CaptureFixture[str], tmp_path: Path, which: str) -> None:
    logs = {"error": HOSTILE / "error.log", "access": HOSTILE / "access.log"}
    logs[which] = _utf16(tmp_path, f"{which}.log")
    code, out, _ = _run(capsys, "diagnose", "--offline", "--nginx-conf", str(HOSTILE / "nginx.conf"),
                        "--error-log", str(logs["error"]), "--access-log", str(logs["access"]),
                        "--format", "json")
    messages = [d["message"] for d in json.loads(out)["diagnostics"]]
    assert code in (0, 1) and any("UTF-16" in m and "iconv" in m for m in messages), messages


@pytest.mark.parametrize(("body", "why"), [
    ('{"schema_version": "1.0", "healthy": false, "findings": [{"count": ' + "9" * 5000 + "}]}", "digit"),
    ('{"schema_version": "1.0", "healthy": false, "findings": [{"confidence": Infinity}]}', "Infinity"),
    ('{"schema_version": "1.0", "healthy": false, "findings": [{"confidence": NaN}]}', "NaN"),
    ('{"schema_version": "1.0", "healthy": false, "findings": [{"confidence": 1e309}]}', "range"),
    ("[" * 100_000 + "]" * 100_000, "deeply"),
    ('{"a":' * 100_000 + "1" + "}" * 100_000, "deeply"),
])
@pytest.mark.parametrize("fmt", ["text", "markdown", "html"])
def test_absurd_reports_are_exit_3_in_one_line(capsys: pytest.CaptureFixture[str], tmp_path: Path,
                                               body: str, why: str, fmt: str) -> None:
    report = tmp_path / "report.json"
    report.write_text(body)
    code, _, err = _run(capsys, "render", str(report), "--format", fmt)
    assert code == 3 and len(err.strip().splitlines()) == 1 and why in err


@pytest.mark.parametrize("fmt", ["$remote_addr $remote_addr $status", "$status $status",
                                 '$status "$request" $status "$request"'])
def test_log_format_naming_a_variable_twice_reads_the_first(
        capsys: pytest.CaptureFixture[str], tmp_path: Path, fmt: str) -> None:
    """nginx allows a variable twice in a log_format; it once was a polars DuplicateError (exit 4)."""
    log = tmp_path / "access.log"
    values = {"$remote_addr": "1.2.3.4", "$status": "502", "$request": "GET / HTTP/1.1"}
    line = fmt
    for var, value in values.items():
        line = line.replace(var, value)
    log.write_text(line + "\n")
    code, out, err = _run(capsys, "stats", str(log), "--log-format", fmt, "--no-error-log", "--no-progress",
                          "--format", "json")
    assert code == 1, err
    assert json.loads(out)["requests"] == 1


@pytest.mark.parametrize("fmt", ['$remote_addr $msec $status $upstream_response_time',
                                 '$remote_addr $msec $status "$upstream_response_time"'])
def test_impossible_timings_and_msec_are_unparsed(capsys: pytest.CaptureFixture[str], tmp_path: Path,
                                                  fmt: str) -> None:
    """-1.000, NaN, inf, 1e309 in $upstream_*_time and a $msec past year 9999 are not what nginx
    writes: each such line is counted unparsed (the good line still counts)."""
    quoted = '"' in fmt
    rows = [("1714557600.123", "0.500"), ("1714557600.123", "-1.000"), ("1714557600.123", "NaN"),
            ("1714557600.123", "inf"), ("1714557600.123", "1e309"), ("300000000000.000", "0.500")]
    log = tmp_path / "access.log"
    log.write_text("".join(f'1.2.3.4 {m} 502 {chr(34) + t + chr(34) if quoted else t}\n' for m, t in rows))
    code, out, err = _run(capsys, "stats", str(log), "--log-format", fmt, "--no-error-log", "--no-progress",
                          "--format", "json")
    assert code == 1, err
    doc = json.loads(out)
    assert (doc["requests"], doc["unparsed"]) == (1, 5)
