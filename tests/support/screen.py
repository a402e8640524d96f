"""A real terminal of 80x24: ``tmux`` runs a command in a detached pane of that size and the
test reads what the person would see (``capture-pane``), not what a pipe received.

Each pane is in a tmux server of its own (``-L`` a private socket name), killed at the end; the
shell is ``bash --norc`` with a plain ``$ `` prompt, so the screen holds only the command, its
output and the next prompt.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

WIDTH, HEIGHT = 80, 24


def have_tmux() -> bool:
    return shutil.which("tmux") is not None


class Pane:
    """One detached tmux pane; ``run`` types a command and waits until it has finished."""

    def __init__(self, socket: str, status: Path) -> None:
        self.socket = socket
        self.status = status

    def _tmux(self, *args: str) -> str:
        return subprocess.run(["tmux", "-L", self.socket, *args], capture_output=True, text=True,
                              timeout=30, check=True).stdout

    def run(self, command: str, timeout: float = 120.0) -> int:
        """Clear the screen, type ``command`` as the person would, wait for it (bounded) and
        return its exit status (written to a file, so the screen shows only the command)."""
        self.status.unlink(missing_ok=True)
        self._tmux("send-keys", "-t", "w", "clear", "Enter")
        time.sleep(0.3)
        self._tmux("send-keys", "-t", "w", f"{command}; echo $? > {self.status.name}", "Enter")
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.status.exists() and self.status.read_text().strip():
                time.sleep(0.3)  # the prompt is drawn after the status is written
                return int(self.status.read_text().strip())
            time.sleep(0.2)
        raise AssertionError(f"{command!r} did not finish in {timeout:.0f} s:\n" + self.screen())

    def screen(self) -> str:
        """What the pane shows now (the visible 24 lines, no scroll-back)."""
        return self._tmux("capture-pane", "-p", "-t", "w")

    def history(self) -> str:
        """Everything since the last ``clear``, scroll-back included, each line as the program
        wrote it (``-J``: a line the terminal wrapped because it was wider than the pane is
        joined back, so a width check sees it whole), trailing spaces dropped."""
        text = self._tmux("capture-pane", "-p", "-J", "-S", "-", "-t", "w")
        return "\n".join(line.rstrip() for line in text.splitlines())


@contextmanager
def pane(tmp: Path, env: Mapping[str, str] | None = None) -> Iterator[Pane]:
    """A ``WIDTH``x``HEIGHT`` pane running ``bash --norc`` with ``env`` added; the venv's
    ``why502`` first on PATH (as after ``pip install``)."""
    socket = f"why502-test-{uuid.uuid4().hex[:8]}"
    bindir = str(Path(sys.executable).parent)
    full = {**os.environ, "PATH": f"{bindir}:{os.environ.get('PATH', '')}", "PS1": "$ ",
            "TERM": "xterm-256color", **(env or {})}
    full.pop("COLUMNS", None)
    full.pop("LINES", None)
    full.pop("WHY502_DEBUG", None)
    subprocess.run(["tmux", "-L", socket, "-f", "/dev/null", "new-session", "-d", "-s", "s", "-n", "w",
                    "-x", str(WIDTH), "-y", str(HEIGHT), "-c", str(tmp), "bash --norc --noprofile"],
                   env=full, timeout=30, check=True)
    try:
        subprocess.run(["tmux", "-L", socket, "set-option", "-t", "s", "status", "off"], timeout=30,
                       check=True)
        # the prompt the docs show; bash --norc would print its own "bash-5.2# "
        subprocess.run(["tmux", "-L", socket, "send-keys", "-t", "w", "PS1='$ '", "Enter"], timeout=30,
                       check=True)
        yield Pane(socket, tmp / ".st")
    finally:
        subprocess.run(["tmux", "-L", socket, "kill-server"], timeout=30, check=False,
                       capture_output=True)
