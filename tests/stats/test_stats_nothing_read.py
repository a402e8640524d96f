"""``stats`` of no line at all (docs/guide/stats.md, "Exit codes"): an empty file, an empty
``.gz``, an empty pipe, a file of blank lines.  It printed empty tables and exited 0, the code of
"no 5xx" -- an all-clear on nothing read; now the headline says there was nothing to count and it
exits 3, as ``classify`` ("Nothing to classify") and ``diagnose`` ("no evidence") of the same logs
do.  Lines read of which none is in the ``--since`` window are still exit 0.  Real CLI runs on
real files and pipes."""

from __future__ import annotations

import gzip
import json
import subprocess
import sys
from pathlib import Path

import pytest

REQUEST = ('203.0.113.9 - - [20/Nov/2026:06:00:00 +0100] "GET /api HTTP/1.1" 502 157 "-" "curl/8.0" '
           '"api.example.com" rt=0.001 ua="10.0.1.11:8080" us="502" uct="0.000" uht="0.001" urt="0.001"\n')
NOTHING = "nothing to count: no line was read"


def stats(*args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "why502", "stats", "--no-progress", *args],
                          capture_output=True, text=True, input=stdin, timeout=120, check=False)


def test_empty_file_is_nothing_to_count(tmp_path: Path) -> None:
    log = tmp_path / "access.log"
    log.write_bytes(b"")
    res = stats(str(log))
    assert res.returncode == 3, res.stdout + res.stderr
    assert res.stdout.startswith(NOTHING)
    assert "no requests in the window" not in res.stdout


def test_empty_stdin_is_nothing_to_count() -> None:
    """``grep X access.log | why502 stats`` when grep matched nothing: an empty pipe."""
    res = stats(stdin="")
    assert res.returncode == 3 and res.stdout.startswith(NOTHING), res.stdout + res.stderr


@pytest.mark.parametrize("content", [b"", b"\n\n\n"], ids=["empty", "blank-lines"])
def test_an_empty_gz_and_blank_lines_are_nothing_to_count(tmp_path: Path, content: bytes) -> None:
    log = tmp_path / "access.log.2.gz"
    log.write_bytes(gzip.compress(content))
    res = stats(str(log))
    assert res.returncode == 3 and res.stdout.startswith(NOTHING), res.stdout + res.stderr


@pytest.mark.parametrize("fmt", ["json", "csv"])
def test_machine_formats_stay_whole_and_say_why_on_stderr(tmp_path: Path, fmt: str) -> None:
    log = tmp_path / "access.log"
    log.write_bytes(b"")
    res = stats(str(log), "--format", fmt)
    assert res.returncode == 3, res.stderr
    assert f"why502 stats: note: 0 lines read from {log}: nothing to count" in res.stderr
    if fmt == "json":
        doc = json.loads(res.stdout)
        assert doc["lines"] == 0 and doc["requests"] == 0
    else:
        assert res.stdout.strip()  # the CSV is still written


def test_an_edge_familys_empty_log_named_by_log_type_was_exit_3_already(tmp_path: Path) -> None:
    """``--log-type envoy`` of a file without one request line of that format is a wrong
    ``--log-type`` or nothing at all: exit 3 before any report (as ``classify``)."""
    log = tmp_path / "access.log"
    log.write_bytes(b"")
    res = stats(str(log), "--log-type", "envoy")
    assert res.returncode == 3, res.stdout + res.stderr
    assert "no envoy request line" in res.stderr


def test_lines_outside_the_window_are_read_not_nothing(tmp_path: Path) -> None:
    log = tmp_path / "access.log"
    log.write_text(REQUEST * 3)
    res = stats(str(log), "--since", "2030-01-01")
    assert res.returncode == 0, res.stdout + res.stderr
    assert res.stdout.startswith("no requests in the window read")


def test_one_file_empty_among_others_is_read_as_usual(tmp_path: Path) -> None:
    full, empty = tmp_path / "a.log", tmp_path / "b.log"
    full.write_text(REQUEST * 3)
    empty.write_bytes(b"")
    res = stats(str(full), str(empty))
    assert res.returncode == 1, res.stdout + res.stderr  # the 502s: findings
    assert NOTHING not in res.stdout
