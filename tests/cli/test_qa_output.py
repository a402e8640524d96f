"""QA: ``-o FILE`` as a user types it at 3 a.m. (subprocess).

``why502 render report.json -o incident.html`` writes HTML (the format follows the suffix), so
``why502 diagnose -o incident.html`` must not write the terminal text into a file named .html.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.support.clirun import why502


@pytest.mark.parametrize("name,check", [
    ("incident.html", lambda t: t.startswith("<!DOCTYPE html>")),
    ("incident.md", lambda t: t.startswith("# why502")),
    ("report.json", lambda t: "findings" in json.loads(t)),
    ("report.txt", lambda t: "workers-exhausted" in t and not t.startswith(("<", "{", "#"))),
])
def test_diagnose_output_format_follows_the_suffix(tmp_path: Path, name: str, check: object) -> None:
    out = tmp_path / name
    proc = why502("diagnose", "--demo", "-o", str(out))
    assert proc.returncode == 1, proc.stderr
    text = out.read_text(encoding="utf-8")
    assert callable(check) and check(text), text[:200]


def test_diagnose_explicit_format_wins_over_the_suffix(tmp_path: Path) -> None:
    out = tmp_path / "report.html"
    proc = why502("diagnose", "--demo", "--format", "json", "-o", str(out))
    assert proc.returncode == 1, proc.stderr
    assert "findings" in json.loads(out.read_text(encoding="utf-8"))


@pytest.mark.skipif(not Path("/usr/sbin/nginx").exists(), reason="the lab needs nginx")
def test_lab_run_output_format_follows_the_suffix(tmp_path: Path) -> None:
    out = tmp_path / "lab.html"
    proc = why502("lab", "run", "backend-down-tcp", "-o", str(out))
    assert proc.returncode == 0, proc.stderr
    assert out.read_text(encoding="utf-8").startswith("<!DOCTYPE html>")


@pytest.mark.skipif(not Path("/usr/sbin/nginx").exists(), reason="the lab needs nginx")
def test_lab_run_refuses_an_unwritable_output_before_starting_the_stack(tmp_path: Path) -> None:
    """``-o /no/such/dir/r.json`` failed only after nginx, backends and diagnose had run."""
    proc = why502("lab", "run", "backend-down-tcp", "-o", str(tmp_path / "missing" / "r.json"))
    assert proc.returncode == 3, proc.stderr
    assert "cannot write" in proc.stderr
    assert "why502 lab: backend-down-tcp" not in proc.stderr  # nothing was started
