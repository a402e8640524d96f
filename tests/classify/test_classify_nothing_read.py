"""``classify`` of no line at all (docs/guide/classify.md, "Nothing to classify"): an empty file,
an empty ``.gz``, an empty pipe.  It said "No upstream failure found.", exit 0 -- an all-clear on
nothing read; now it says there was nothing to classify and exits 3, as ``diagnose`` of the same
logs does ("no evidence").  Real CLI runs on real files and pipes."""

from __future__ import annotations

import gzip
import json
import subprocess
import sys
from pathlib import Path

import jsonschema
import pytest

from tests.support.paths import ROOT_DIR

FAILED = ('2026/05/01 08:00:00 [error] 1#1: *1 connect() failed (111: Connection refused) while '
          'connecting to upstream, client: 1.2.3.4, server: x, request: "GET / HTTP/1.1", '
          'upstream: "http://127.0.0.1:9000/", host: "x"\n')


def classify(*args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "why502", "classify", "--no-progress", *args],
                          capture_output=True, text=True, input=stdin, timeout=120, check=False)


@pytest.fixture
def empty(tmp_path: Path) -> Path:
    log = tmp_path / "error.log"
    log.write_bytes(b"")
    return log


def test_empty_file_is_nothing_to_classify(empty: Path) -> None:
    res = classify(str(empty))
    assert res.returncode == 3, res.stdout + res.stderr
    assert "0 lines read" in res.stdout and "Nothing to classify: no line was read" in res.stdout
    assert "No upstream failure found" not in res.stdout


def test_empty_stdin_is_nothing_to_classify() -> None:
    """``grep X log | why502 classify`` when grep matched nothing: an empty pipe."""
    res = classify(stdin="")
    assert res.returncode == 3 and "Nothing to classify" in res.stdout
    assert "No upstream failure found" not in res.stdout


def test_empty_gz_is_nothing_to_classify(tmp_path: Path) -> None:
    log = tmp_path / "error.log.2.gz"
    log.write_bytes(gzip.compress(b""))
    res = classify(str(log))
    assert res.returncode == 3 and "Nothing to classify" in res.stdout


@pytest.mark.parametrize("source", ["file", "stdin"])
def test_json_stays_parseable_and_says_0_lines(empty: Path, source: str) -> None:
    res = classify(*([str(empty)] if source == "file" else []), "--format", "json")
    assert res.returncode == 3, res.stderr
    doc = json.loads(res.stdout)
    schema = json.loads((ROOT_DIR / "src/why502/schemas/classify.schema.json").read_text())
    jsonschema.validate(doc, schema)
    assert doc["lines_read"] == 0 and doc["failures"] == 0
    assert "0 lines read from" in res.stderr and "nothing to classify" in res.stderr


@pytest.mark.parametrize("source", ["file", "stdin"])
def test_jsonl_writes_no_record_and_says_why(empty: Path, source: str) -> None:
    res = classify(*([str(empty)] if source == "file" else []), "--format", "jsonl")
    assert res.returncode == 3 and res.stdout == "", res.stderr
    assert "nothing to classify" in res.stderr


def test_one_empty_file_next_to_one_with_lines_is_read(tmp_path: Path, empty: Path) -> None:
    log = tmp_path / "error.log.1"
    log.write_text(FAILED)
    res = classify(str(empty), str(log))
    assert res.returncode == 1 and "connection-refused" in res.stdout, res.stderr
    quiet = tmp_path / "quiet.log"
    quiet.write_text("2026/05/01 08:00:00 [notice] 1#1: signal process started\n")
    res = classify(str(empty), str(quiet), "--format", "json")
    assert res.returncode == 0 and json.loads(res.stdout)["lines_read"] == 1, res.stderr
    jsonl = classify(str(empty), str(quiet), "--format", "jsonl")
    assert jsonl.returncode == 0 and jsonl.stdout == ""


def test_lines_without_failure_are_still_no_failure() -> None:
    """A line read that holds no failure is an answer: exit 0, "No upstream failure found."."""
    res = classify(stdin="2026/05/01 08:00:00 [notice] 1#1: signal process started\n")
    assert res.returncode == 0 and "No upstream failure found." in res.stdout
