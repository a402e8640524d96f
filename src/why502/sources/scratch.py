"""One private scratch directory per run for everything why502 writes to ``$TMPDIR``: spilled 5xx
rows (``sources.spill``), the demo bundle (``app.diagnose.demo``).

Why one directory, removed at exit: a run can end in many ways -- return, exception, Ctrl-C in
the middle of a polars call, SIGTERM from a supervisor or ``timeout(1)`` -- and each temporary
file closed on its own path was missed on some of them (hundreds of MB of spilled rows left
behind).  Here every file lives under ``$TMPDIR/why502-<pid>-<random>``; ``cleanup()`` removes it and runs
from ``atexit`` (the CLI turns SIGTERM and SIGINT into exceptions, ``cli.main``, so the
interpreter always reaches its exit handlers).  The pid in the name lets ``cleanup`` also remove a
directory whose creation was interrupted before its name was recorded.
"""

from __future__ import annotations

import atexit
import os
import secrets
import shutil
import tempfile
import threading

PREFIX = "why502-"

_lock = threading.Lock()
_root: str | None = None
_registered = False


def scratch_root() -> str:
    """The run's scratch directory (created on first use, mode 0700, removed at exit)."""
    global _root, _registered
    with _lock:
        if _root is not None and os.path.isdir(_root):
            return _root
        if not _registered:
            atexit.register(cleanup)
            _registered = True
        base = tempfile.gettempdir()
        name = os.path.join(base, f"{PREFIX}{os.getpid()}-{secrets.token_hex(4)}")
        os.mkdir(name, 0o700)
        _root = name
        return name


def scratch_dir(prefix: str) -> str:
    """A new directory for one job inside the scratch directory."""
    return tempfile.mkdtemp(prefix=prefix, dir=scratch_root())


def cleanup() -> None:
    """Remove this process's scratch directory (and one whose creation was cut short)."""
    global _root
    with _lock:
        _root = None
        base = tempfile.gettempdir()
        mine = f"{PREFIX}{os.getpid()}-"
        try:
            names = [n for n in os.listdir(base) if n.startswith(mine)]
        except OSError:
            return
        for n in names:
            shutil.rmtree(os.path.join(base, n), ignore_errors=True)
