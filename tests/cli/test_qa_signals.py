"""A run cut short by SIGTERM or SIGINT leaves nothing in ``$TMPDIR`` and says so in one line.

Why: ``why502 stats`` parks the kept 5xx rows of a big log on disk (``sources.spill``); killed
by a supervisor or ``timeout(1)`` (SIGTERM) or Ctrl-C (SIGINT) it left hundreds of MB there.
Every temporary file now lives in the run's scratch directory (``sources.scratch``), removed on
every way out.  The run is a real subprocess on a log big enough to spill, signalled as soon
as its first spilled block is on disk."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path

import pytest

from tests.support.clirun import WHY502

LINE = (
    '10.{a}.{b}.{c} - - [21/Nov/2026:10:{m:02d}:{s:02d} +0000] "GET /api/items/{i} HTTP/1.1" 502 157 "-" '
    '"curl/8.5.0" "shop.example" rt=0.003 ua="10.0.0.{u}:8080" us="502" uct="-" uht="-" '
    'urt="0.002"\n'
)


@pytest.fixture(scope="module")
def big_log(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """~400k 5xx lines (~80 MB): the spill store writes its first block after 20k of them, and
    the whole run takes far longer than the time it takes to see that block and signal."""
    path = tmp_path_factory.mktemp("signals") / "access.log"
    with open(path, "w", encoding="ascii") as fh:
        for k in range(40):
            fh.write("".join(LINE.format(a=i >> 16 & 255, b=i >> 8 & 255, c=i & 255, m=i // 60000 % 60,
                                         s=i // 1000 % 60, i=i, u=i % 5)
                             for i in range(k * 10_000, (k + 1) * 10_000)))
    return path


def _spilled(tmp: Path) -> bool:
    return any(name.endswith(".arrow") for _root, _dirs, files in os.walk(tmp) for name in files)


@pytest.mark.parametrize(("sig", "code", "word"), [(signal.SIGTERM, 143, "terminated"),
                                                   (signal.SIGINT, 130, "interrupted")])
def test_signal_mid_run_leaves_no_spill(
    big_log: Path, tmp_path: Path, sig: int, code: int, word: str
) -> None:
    tmp = tmp_path / "tmpdir"
    tmp.mkdir()
    env = {k: v for k, v in os.environ.items() if k != "WHY502_DEBUG"}
    env["TMPDIR"] = str(tmp)
    proc = subprocess.Popen([WHY502, "stats", "--log-format", "why502", "--no-error-log", str(big_log)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL,
                            env=env, text=True)
    try:
        deadline = time.monotonic() + 60
        while not _spilled(tmp) and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.02)
        assert proc.poll() is None, "the run ended before it spilled: the log is too small"
        assert _spilled(tmp), "no spilled block within 60 s"
        proc.send_signal(sig)
        _out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == code, err
    assert err.strip() == f"why502: {word}"
    assert list(tmp.iterdir()) == []
