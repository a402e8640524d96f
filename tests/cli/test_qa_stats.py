"""QA: ``why502 stats`` flags that contradict each other (subprocess)."""

from __future__ import annotations

import subprocess
from pathlib import Path

from tests.support.clirun import WHY502, why502
from tests.support.paths import FIXTURES_DIR

DEMO = FIXTURES_DIR / "recorded" / "demo-fpm-exhausted"


def test_stats_error_log_and_no_error_log_conflict() -> None:
    """``--no-error-log`` silently won over an explicit ``--error-log``: a usage error now."""
    proc = why502("stats", str(DEMO / "access.log"), "--no-progress", "--error-log",
                  str(DEMO / "error.log"), "--no-error-log")
    assert proc.returncode == 2, proc.stdout[:300]
    assert "not allowed with" in proc.stderr


def test_stats_truncated_gz_without_a_format_is_a_one_line_input_error(tmp_path: Path) -> None:
    """QA: the format-guessing path read the head of a truncated .gz and died on EOFError (exit 4)."""
    import gzip

    line = ('127.0.0.1 - - [21/Nov/2026:21:00:00 +0000] "GET / HTTP/1.1" 502 150 "-" "curl/8"\n')
    whole = gzip.compress((line * 200).encode())  # < 256 KiB unpacked: the head read hits the cut
    trunc = tmp_path / "access.log.2.gz"
    trunc.write_bytes(whole[: len(whole) // 2])
    proc = subprocess.run([WHY502, "stats", str(trunc)], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 3, proc.stderr
    assert "Traceback" not in proc.stderr and len(proc.stderr.strip().splitlines()) == 1
    assert "access.log.2.gz" in proc.stderr
