"""`why502 render`: re-render a saved report; exit codes 0 healthy / 1 findings / 3 bad input."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.reporters.test_report_sample import HOSTILE_REQUEST, sample_report
from why502.cli.main import main
from why502.findings.model import Report


@pytest.fixture()
def saved(tmp_path: Path) -> Path:
    path = tmp_path / "report.json"
    path.write_text(json.dumps(sample_report(HOSTILE_REQUEST).to_dict()), encoding="utf-8")
    return path


def test_html_to_file_and_exit_1_for_findings(saved: Path, tmp_path: Path) -> None:
    out = tmp_path / "incident.html"
    assert main(["render", str(saved), "--format", "html", "-o", str(out)]) == 1
    page = out.read_text(encoding="utf-8")
    assert page.startswith("<!DOCTYPE html>") and 'id="why502-data"' in page
    assert "<script>document.title" not in page


def test_format_follows_output_suffix(saved: Path, tmp_path: Path) -> None:
    md = tmp_path / "ticket.md"
    assert main(["render", str(saved), "-o", str(md)]) == 1
    assert md.read_text(encoding="utf-8").startswith("# why502: PHP-FPM pool")
    page = tmp_path / "x.htm"
    assert main(["render", str(saved), "-o", str(page)]) == 1
    assert page.read_text(encoding="utf-8").startswith("<!DOCTYPE html>")


def test_markdown_and_text_to_stdout(saved: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["render", str(saved), "--format", "markdown"]) == 1
    assert capsys.readouterr().out.startswith("# why502: PHP-FPM pool")
    assert main(["render", str(saved)]) == 1
    text = capsys.readouterr().out
    assert "pm.max_children" in text and "\x1b]0;pwned" not in text


def test_healthy_report_exits_0(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "ok.json"
    path.write_text(json.dumps(Report().to_dict()), encoding="utf-8")
    assert main(["render", str(path), "--format", "markdown"]) == 0
    assert "no root cause found" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (None, "no such file"),
        (b"not json at all", "not a why502 report (invalid JSON"),
        (b"\xff\xfe\x00garbage", "not a why502 report"),
        (b"[1, 2]", "not a why502 report"),
        (b'{"schema_version": "9.0", "findings": []}', "unsupported report schema_version"),
        (b'{"schema_version": "1.0", "findings": [{"cause": "x"}]}', "not a why502 report"),
        (b'{"schema_version": "1.0", "findings": "nope"}', "not a why502 report"),
        (b'{"schema_version": "1.0", "findings": [], "timeline": [{"minute": "2026-01-01T00:00",'
         b' "counts": {"502": "many"}}]}', "malformed report"),
    ],
)
def test_bad_input_is_one_line_and_exit_3(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], content: bytes | None, message: str
) -> None:
    path = tmp_path / "in.json"
    if content is not None:
        path.write_bytes(content)
    assert main(["render", str(path), "--format", "html"]) == 3
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("why502: ") and message in err, err


def test_stdin_and_no_traceback_in_a_real_process(saved: Path) -> None:
    ok = subprocess.run([sys.executable, "-m", "why502", "render", "-", "--format", "markdown"],
                        input=saved.read_bytes(), capture_output=True, timeout=60)
    assert ok.returncode == 1 and ok.stdout.startswith(b"# why502: ")
    bad = subprocess.run([sys.executable, "-m", "why502", "render", "/nonexistent/report.json"],
                         capture_output=True, timeout=60)
    assert bad.returncode == 3
    assert bad.stderr.decode() == "why502: /nonexistent/report.json: no such file\n"
