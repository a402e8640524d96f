"""The hostile corpus through every command and every output format, in-process (fast).

tests/fixtures/hostile/ holds what a client or a broken program puts in a log (terminal escapes,
single C1 code points, bidi overrides, NUL, invalid UTF-8, UTF-16, CR-only line ends, a line cut
at 2048 bytes by a real nginx, impossible numbers and dates).  Whatever the command and format:

- the exit code is a documented one for that input, never 4 (an internal error);
- terminal text and Markdown carry no raw control character (C0 but newline and tab, DEL, C1,
  bidi controls): an escape is shown visibly (``\\x1b``), never interpreted;
- JSON (and SARIF, JSON lines) is valid and escapes them (``\\u009b``), keeping the data;
- HTML escapes markup from the logs (no live ``<img src=...>`` or ``javascript:`` link).
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from tests.support.paths import FIXTURES_DIR
from why502.cli.main import main

HOSTILE = FIXTURES_DIR / "hostile"
CONF = str(HOSTILE / "nginx.conf")
RAW_CONTROL = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")
ERROR_LOGS = ["error.log", "error-cr.log", "error-utf16.log", "error-truncated.log"]


def _run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def _inert(out: str, fmt: str) -> None:
    """The checks every output of ``fmt`` must pass."""
    bad = RAW_CONTROL.search(out)
    assert bad is None, f"raw control character {bad.group()!r} in {fmt} output at {bad.start()}"
    if fmt in ("json", "sarif"):
        json.loads(out)
    elif fmt == "jsonl":
        for line in out.splitlines():
            json.loads(line)
    elif fmt == "html":
        assert "<img src=https://evil" not in out and 'href="javascript:' not in out.lower()


@pytest.mark.parametrize("log", ERROR_LOGS)
@pytest.mark.parametrize("fmt", ["summary", "jsonl"])
def test_classify(capsys: pytest.CaptureFixture[str], log: str, fmt: str) -> None:
    code, out, err = _run(capsys, "classify", str(HOSTILE / log), "--format", fmt, "--no-progress")
    assert code in (0, 1), err
    _inert(out, fmt)
    _inert(err, "text")


@pytest.mark.parametrize("fmt", ["text", "json"])
@pytest.mark.parametrize("log", ERROR_LOGS)
def test_explain_each_hostile_line(capsys: pytest.CaptureFixture[str], log: str, fmt: str) -> None:
    text = (HOSTILE / log).read_bytes().decode("utf-8", "replace")
    for line in [ln for ln in re.split(r"[\r\n]", text) if ln.strip()][:6]:
        code, out, err = _run(capsys, "explain", line, "--format", fmt)
        assert code in (0, 2), err  # a line it does not know is a usage error (exit 2), one line
        if code == 0:
            _inert(out, fmt)
        else:
            assert out == "" and len(err.strip().splitlines()) == 1
        _inert(err, "text")


@pytest.mark.parametrize("fmt", ["text", "json", "csv"])
@pytest.mark.parametrize("error_log", ["error.log", "error-utf16.log", "error-truncated.log"])
def test_stats(capsys: pytest.CaptureFixture[str], fmt: str, error_log: str) -> None:
    code, out, err = _run(capsys, "stats", str(HOSTILE / "access.log"), "--nginx-conf", CONF,
                          "--log-format", "hostile", "--error-log", str(HOSTILE / error_log), "--format", fmt,
                          "--no-progress")
    assert code in (0, 1), err
    _inert(out, "json" if fmt == "json" else "text")
    _inert(err, "text")


@pytest.mark.parametrize("fmt", ["text", "json", "markdown", "html"])
@pytest.mark.parametrize("error_log", ERROR_LOGS)
def test_diagnose_offline(capsys: pytest.CaptureFixture[str], fmt: str, error_log: str) -> None:
    code, out, err = _run(capsys, "diagnose", "--offline", "--nginx-conf", CONF, "--error-log",
                          str(HOSTILE / error_log), "--access-log", str(HOSTILE / "access.log"),
                          "--format", fmt)
    assert code in (0, 1), err
    _inert(out, fmt)
    _inert(err, "text")


@pytest.mark.parametrize("fmt", ["text", "json", "sarif"])
@pytest.mark.parametrize("conf", ["nginx.conf", "nginx-truncated.conf"])
def test_lint(capsys: pytest.CaptureFixture[str], fmt: str, conf: str) -> None:
    code, out, err = _run(capsys, "lint", str(HOSTILE / conf), "--no-host", "--format", fmt)
    assert code in (0, 1), err
    _inert(out, fmt)
    _inert(err, "text")


@pytest.fixture(scope="module")
def hostile_report(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A report diagnosed from the hostile inputs, saved as JSON (what `render` reads)."""
    import contextlib
    import io

    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        main(["diagnose", "--offline", "--nginx-conf", CONF, "--error-log", str(HOSTILE / "error.log"),
              "--access-log", str(HOSTILE / "access.log"), "--format", "json"])
    path = tmp_path_factory.mktemp("report") / "report.json"
    path.write_text(out.getvalue(), encoding="utf-8")
    return path


@pytest.mark.parametrize("fmt", ["text", "markdown", "html"])
def test_render(capsys: pytest.CaptureFixture[str], hostile_report: Path, fmt: str) -> None:
    assert "\\u009b" in hostile_report.read_text(encoding="utf-8")  # the report carries the hostile text
    code, out, err = _run(capsys, "render", str(hostile_report), "--format", fmt)
    assert code in (0, 1), err
    _inert(out, fmt)
    if fmt == "html":
        assert "&lt;img" in out or "<img" not in out
