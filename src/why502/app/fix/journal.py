"""The journal: one ``journal.json`` per change set, rewritten atomically at each state change.

It is written (and fsynced) before a config file is touched and after each step, so after a
crash the last state on disk says how far the run got (``state`` module).
"""

from __future__ import annotations

import json
import os
from datetime import datetime
from pathlib import Path

from why502.app.fix.atomic import FileMeta, atomic_write
from why502.app.fix.state import ChangeSet

JOURNAL = "journal.json"


def now() -> str:
    return datetime.now().astimezone().isoformat(timespec="seconds")


def new_id() -> str:
    """A sortable, timestamped id: ``20261123T091500-123456-4242`` (time, microseconds, pid)."""
    t = datetime.now()
    return f"{t:%Y%m%dT%H%M%S}-{t:%f}-{os.getpid()}"


def save(state_dir: Path, cs: ChangeSet, state: str | None = None, message: str = "") -> None:
    """Record ``cs`` (moved to ``state``, with ``message`` in its history) durably."""
    if state is not None:
        cs.state = state
        cs.history.append(f"{now()} {state}" + (f": {message}" if message else ""))
    directory = state_dir / cs.id
    directory.mkdir(parents=True, exist_ok=True, mode=0o700)
    data = (json.dumps(cs.to_dict(), indent=2) + "\n").encode()
    atomic_write(str(directory / JOURNAL), data, FileMeta(0o600, os.geteuid(), os.getegid()))


def load_all(state_dir: Path) -> list[ChangeSet]:
    """Every change set, oldest first; an unreadable journal is skipped (it cannot be acted on)."""
    out: list[ChangeSet] = []
    if not state_dir.is_dir():
        return out
    for path in sorted(state_dir.glob(f"*/{JOURNAL}")):
        try:
            out.append(ChangeSet.from_dict(json.loads(path.read_text(encoding="utf-8"))))
        except (OSError, ValueError, TypeError):
            continue
    return out
