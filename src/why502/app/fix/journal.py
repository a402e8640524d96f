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
from why502.app.fix.state import RECOVERED, ROLLED_BACK, UNDONE, ChangeSet
from why502.errors import InputError

JOURNAL = "journal.json"
MAX_JOURNAL = 16 << 20  # a journal lists a few files; more than this is not one of ours
GONE = frozenset({ROLLED_BACK, UNDONE, RECOVERED})  # states whose backups are no longer needed


class DamagedJournalError(InputError):
    """A journal ``load_all`` cannot act on (exit 3; the message says what to do)."""


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
    """Every change set, oldest first.  A journal that cannot be read, is not what ``save``
    writes, or names backups that are missing or outside its own directory is *damaged*: one
    line, exit 3, saying what to do.  It is never skipped: skipping an interrupted run's journal
    would leave its half-applied change in place and report "no change set"."""
    out: list[ChangeSet] = []
    if not state_dir.is_dir():
        return out
    for path in sorted(state_dir.glob(f"*/{JOURNAL}")):
        try:
            out.append(_load(path))
        except (OSError, ValueError) as err:
            reason = err.strerror if isinstance(err, OSError) and err.strerror else str(err)
            raise DamagedJournalError(
                f"{path}: damaged journal ({reason[:160]}): why502 fix cannot tell what that run changed; "
                "compare the files it names with the backups beside it, restore by hand if needed, then "
                f"move {path.parent} out of the state directory and run again") from None
    return out


def read_own_record(path: Path, limit: int) -> bytes:
    """A state record's bytes (a journal, a mitigation record): this user's own file, writable
    by no one else (another user's record could steer what is written back), at most ``limit``
    bytes.  ``ValueError``/``OSError`` say why not."""
    st = path.stat()
    if st.st_uid != os.geteuid() or st.st_mode & 0o022:
        raise ValueError("not this user's own file, or writable by others")
    with open(path, "rb") as fh:
        data = fh.read(limit + 1)
    if len(data) > limit:
        raise ValueError(f"larger than {limit:,} bytes")
    return data


def _load(path: Path) -> ChangeSet:
    data = read_own_record(path, MAX_JOURNAL)
    try:
        cs = ChangeSet.from_dict(json.loads(data.decode("utf-8")))
    except RecursionError:
        raise ValueError("nested too deeply") from None
    if cs.id != path.parent.name:
        raise ValueError(f"its id {cs.id[:40]!r} is not its directory's name")
    home = os.path.realpath(path.parent)
    for rec in cs.files:
        if os.path.dirname(os.path.realpath(rec.backup)) != home:
            raise ValueError(f"the backup of {rec.path} is not in {path.parent}")
        if cs.state not in GONE and not os.path.isfile(rec.backup):
            raise ValueError(f"the backup of {rec.path} ({rec.backup}) is missing")
    return cs
