"""QA: ``why502 stats`` flags that contradict each other (subprocess)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

WHY502 = str(Path(sys.executable).with_name("why502"))
DEMO = Path(__file__).parent / "fixtures" / "recorded" / "demo-fpm-exhausted"


def why502(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([WHY502, *args], capture_output=True, text=True, timeout=120,
                          check=False, stdin=subprocess.DEVNULL)


def test_stats_error_log_and_no_error_log_conflict() -> None:
    """``--no-error-log`` silently won over an explicit ``--error-log``: a usage error now."""
    proc = why502("stats", str(DEMO / "access.log"), "--no-progress", "--error-log",
                  str(DEMO / "error.log"), "--no-error-log")
    assert proc.returncode == 2, proc.stdout[:300]
    assert "not allowed with" in proc.stderr
