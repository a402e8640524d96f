"""The console script's exit (``cli.main.console``): the run's objects are frozen before the
interpreter's last cycle collection, which otherwise walked them all (~0.2 CPU-s a diagnose,
BENCHMARKS.md stop 44); ``main`` itself, which also runs in-process, freezes nothing."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import tomllib

from tests.support.clirun import why502

ROOT = Path(__file__).resolve().parents[2]


def _run(code: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60,
                          check=False)


def test_console_freezes_after_the_command_and_keeps_its_exit_code() -> None:
    res = _run("import gc, sys\nfrom why502.cli.main import console\n"
               "sys.argv = ['why502', 'explain', '502']\ncode = console()\n"
               "print('frozen', gc.get_freeze_count() > 0, 'code', code, file=sys.stderr)")
    assert "frozen True code 0" in res.stderr, res.stderr
    assert "502" in res.stdout


def test_main_in_process_freezes_nothing() -> None:
    res = _run("import gc, sys\nfrom why502.cli.main import main\ncode = main(['explain', '502'])\n"
               "print('frozen', gc.get_freeze_count(), 'code', code, file=sys.stderr)")
    assert "frozen 0 code 0" in res.stderr, res.stderr


def test_the_script_and_python_m_run_the_console_entry() -> None:
    scripts = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["scripts"]
    assert scripts["why502"] == "why502.cli.main:console"
    assert "console()" in (ROOT / "src" / "why502" / "__main__.py").read_text()
    # what the command wrote before the exit still reaches the reader, its exit code kept
    res = why502("explain", "502")
    assert res.returncode == 0 and "502" in res.stdout
