"""Run the installed ``why502`` console script as a user would (shared by the QA tests)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

WHY502 = str(Path(sys.executable).with_name("why502"))


def why502(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """``why502 ARGS`` with no stdin, output captured as text; ``WHY502_DEBUG`` is removed so an
    internal error shows the one-line message a user would see, never a traceback."""
    full_env = {**os.environ, **(env or {})}
    full_env.pop("WHY502_DEBUG", None)
    return subprocess.run([WHY502, *args], capture_output=True, text=True, errors="replace",
                          timeout=120, check=False, env=full_env, stdin=subprocess.DEVNULL)
