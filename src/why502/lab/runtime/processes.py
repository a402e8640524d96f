"""Child processes of a lab stack: start in their own session, wait (bounded), stop by PID.

Every program the lab runs (nginx, PHP-FPM, backends, supervisord) is started here with
``start_new_session=True``, so its process group is its PID and holds only its own children
(nginx workers, PHP-FPM children).  Stopping signals that PID, then that group: never a name,
never anything the lab did not start.  Every wait has a deadline.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from why502.lab.runtime.errors import LabError

READY_TIMEOUT = 8.0
STOP_TIMEOUT = 3.0


@dataclass
class Process:
    """A child process the stack started; stopped by its PID and process group only."""

    name: str
    argv: list[str]
    popen: subprocess.Popen[bytes]
    output: Path

    @property
    def pid(self) -> int:
        return self.popen.pid

    def alive(self) -> bool:
        return self.popen.poll() is None

    def output_tail(self, limit: int = 800) -> str:
        try:
            return self.output.read_text(errors="replace")[-limit:]
        except OSError:
            return ""


def spawn(name: str, argv: Sequence[str], output: Path, cwd: Path,
          stdout: Path | None = None) -> Process:
    """Start ``argv`` in a new session, stdin closed, stdout and stderr appended to ``output``
    (stdout to its own file when ``stdout`` is given: HAProxy's ``log stdout`` is its log)."""
    with open(output, "ab") as fh, open(stdout or os.devnull, "ab") as out:
        popen = subprocess.Popen(
            list(argv), stdin=subprocess.DEVNULL, stdout=out if stdout else fh,
            stderr=fh if stdout else subprocess.STDOUT, cwd=str(cwd), start_new_session=True,
        )
    return Process(name=name, argv=list(argv), popen=popen, output=output)


def stop_process(proc: Process) -> None:
    """SIGTERM the PID, wait (bounded), then SIGKILL its process group if it is still there.

    The process was started with ``start_new_session=True``: its group id is its PID and only its
    own children (nginx workers, php-fpm children) are in the group.  The group is signalled only
    while the leader is not yet reaped, so the PID cannot have been reused by then.
    """
    popen = proc.popen
    if popen.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            popen.send_signal(signal.SIGTERM)
        try:
            popen.wait(timeout=STOP_TIMEOUT)
            return
        except subprocess.TimeoutExpired:
            pass
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(popen.pid, signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            popen.wait(timeout=STOP_TIMEOUT)


def wait_for(check: Callable[[], bool], proc: Process, what: str, log: Path | None = None,
             timeout: float = READY_TIMEOUT) -> None:
    """Wait (bounded) until ``check()`` is true; fail fast with the process output if it died."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        if not proc.alive():
            break
        time.sleep(0.05)
    detail = proc.output_tail()
    if log is not None:
        with contextlib.suppress(OSError):
            detail += "\n" + log.read_text(errors="replace")[-600:]
    state = "exited" if not proc.alive() else f"not ready after {timeout:.0f}s"
    raise LabError(f"{what} {state}: {' '.join(detail.split())[-600:]}")


def wait_for_log(path: Path, needle: str, timeout: float = 5.0) -> bool:
    """Poll ``path`` until it contains ``needle`` (bounded); True when found."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError):
            if needle in path.read_text(errors="replace"):
                return True
        time.sleep(0.1)
    return False


def read_text(path: Path) -> str:
    """The file's text, or "" while it does not exist yet."""
    try:
        return path.read_text(errors="replace")
    except OSError:
        return ""


def can_connect(address: str, timeout: float = 0.3) -> bool:
    """Connect test for ``host:port``, ``[v6]:port``, ``unix:/path`` or ``/path``."""
    try:
        if address.startswith("unix:") or address.startswith("/"):
            path = address.removeprefix("unix:")
            with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
                s.settimeout(timeout)
                s.connect(path)
            return True
        host, _, port = address.rpartition(":")
        host = host.strip("[]")
        with socket.create_connection((host, int(port)), timeout=timeout):
            return True
    except OSError:
        return False


def children_of(pid: int) -> list[int]:
    """PIDs whose parent is ``pid`` (from /proc), sorted."""
    kids: list[int] = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        # pid (comm) state ppid ...: comm may contain spaces, so split after the last ')'.
        fields = stat.rpartition(")")[2].split()
        if len(fields) > 1 and fields[1] == str(pid):
            kids.append(int(entry.name))
    return sorted(kids)
