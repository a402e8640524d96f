"""The state of ``why502 fix``: where its journal and backups live, the records it keeps, the lock.

A change set is one ``why502 fix --apply`` run: the files it changes, each with the SHA-256 of
its bytes before and after, its mode, owner, group and extended attributes (SELinux labels live
in ``security.selinux``), and where its backup copy is.  The record is on disk, fsynced, *before*
the first byte of a config is written, so a run killed half-way (``kill -9``, power cut) is
found by the next run and rolled back from the backups (``run.recover``).

Only one run may change files at a time: an exclusive ``flock(2)`` on ``STATE_DIR/lock``, taken
without waiting, so a second ``why502 fix --apply`` refuses at once instead of queueing a change
planned against files the first one is about to rewrite.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import pwd
import re
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from why502.errors import InputError
from why502.proxies import DEFAULT, SCHEMA_1_BINARY, SCHEMA_1_CONFIG

T = TypeVar("T")

# States of a change set, in the order a run goes through them; the last four end a run.
STARTED = "backed-up"  # backups taken, journal written; no config changed yet
WRITING = "writing"  # configs are being replaced
WRITTEN = "written"  # every new file in place; the config test comes next
RELOADING = "reloading"  # the service is being reloaded / verified with the new config
APPLIED = "applied"
ROLLED_BACK = "rolled-back"
UNDONE = "undone"
RECOVERED = "recovered"
FINAL = frozenset({APPLIED, ROLLED_BACK, UNDONE, RECOVERED})


def default_state_dir() -> Path:
    """``/var/lib/why502/fix`` for root (the configs are root's), else the user's XDG state
    directory (``$XDG_STATE_HOME``, default ``~/.local/state``)."""
    if os.geteuid() == 0:
        return Path("/var/lib/why502/fix")
    base = os.environ.get("XDG_STATE_HOME") or os.path.expanduser("~/.local/state")
    return Path(base) / "why502" / "fix"


def current_user() -> str:
    """Who runs this: the sudo caller (``SUDO_USER``, set by sudo(8)) when root runs it through
    sudo, since root's state directory is shared by everyone who becomes root; else the login
    name of the effective UID (or the UID itself when it has no passwd entry)."""
    if os.geteuid() == 0 and os.environ.get("SUDO_USER"):
        return os.environ["SUDO_USER"]
    try:
        return pwd.getpwuid(os.geteuid()).pw_name
    except KeyError:
        return str(os.geteuid())


@dataclass
class FileRecord:
    """One file of a change set: its bytes before/after (SHA-256) and its metadata."""

    path: str
    before: str
    after: str
    mode: int
    uid: int
    gid: int
    xattrs: dict[str, str] = field(default_factory=dict)  # name -> value as hex
    backup: str = ""
    kind: str = DEFAULT  # the proxy's name (of the registry) | php-fpm: which checker tests it
    written: bool = False


@dataclass
class ChangeSet:
    """The journal of one apply run (``STATE_DIR/<id>/journal.json``)."""

    id: str
    created: str
    state: str
    pid: int
    changes: list[dict[str, str]] = field(default_factory=list)  # key, title, file
    files: list[FileRecord] = field(default_factory=list)
    config: str | None = None  # the proxy's main config and binary (in the journal: ``_KEYS``)
    binary: str | None = None
    fpm_conf: str | None = None
    fpm_bin: str | None = None
    reloaded: bool = False
    proxy: str = DEFAULT  # whose fix service (service.service_class) tests and reloads the config
    history: list[str] = field(default_factory=list)  # "<time> <state>: message"
    user: str | None = None  # who applied it (``current_user``); None in journals of before 0.2

    def to_dict(self) -> dict[str, Any]:
        return {_KEYS.get(k, k): v for k, v in asdict(self).items()}

    @classmethod
    def from_dict(cls, data: object) -> ChangeSet:
        """A change set from its journal, every field checked (``DamagedJournal`` says which
        one is wrong): a journal is what undo and recovery act on, so a field of the wrong type
        must stop them with a message, not half-way through a restore."""
        d = _mapping(data, "the journal")
        files = [_file_record(f, i) for i, f in enumerate(_typed(d, "files", list, []))]
        changes = _typed(d, "changes", list, [])
        if not all(isinstance(c, dict) and all(isinstance(v, str) for v in c.values()) for c in changes):
            raise DamagedJournal("'changes' must be a list of objects of text")
        history = _typed(d, "history", list, [])
        if not all(isinstance(h, str) for h in history):
            raise DamagedJournal("'history' must be a list of text")
        state = _typed(d, "state", str)
        if state not in STATES:
            raise DamagedJournal(f"unknown state {state[:40]!r}")
        pid = _typed(d, "pid", int)
        texts = {k: _typed(d, _KEYS.get(k, k), str, None) for k in ("config", "binary", "fpm_conf", "fpm_bin",
                                                                    "user")}
        return cls(_typed(d, "id", str), _typed(d, "created", str), state, pid, changes, files,
                   reloaded=_typed(d, "reloaded", bool, False), proxy=_typed(d, "proxy", str, DEFAULT),
                   history=history, **texts)


STATES = frozenset({STARTED, WRITING, WRITTEN, RELOADING, *FINAL})
# the journal's keys of the proxy's config and binary are schema 1.0's, as they were: a journal
# written now is undone by an older why502 too (``proxies.SCHEMA_1_CONFIG``)
_KEYS = {"config": SCHEMA_1_CONFIG, "binary": SCHEMA_1_BINARY}
_SHA256 = re.compile(r"^[0-9a-f]{64}$")


class DamagedJournal(ValueError):
    """A journal that is not what ``why502 fix`` writes; the message says which field."""


def _mapping(data: object, what: str) -> dict[str, Any]:
    if not isinstance(data, dict):
        raise DamagedJournal(f"{what} is not a JSON object")
    return data


_MISSING = object()


def _typed(d: dict[str, Any], key: str, kind: type[T], default: object = _MISSING) -> T:
    """``d[key]`` if it has type ``kind`` (``None`` allowed only when it is the default)."""
    if key not in d:
        if default is _MISSING:
            raise DamagedJournal(f"'{key}' is missing")
        return default  # type: ignore[return-value]
    value = d[key]
    if value is None and default is None:
        return value  # type: ignore[return-value]
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        raise DamagedJournal(f"'{key}' is not {kind.__name__}")
    return value


def _file_record(data: object, i: int) -> FileRecord:
    d = _mapping(data, f"files[{i}]")
    path, backup = _typed(d, "path", str), _typed(d, "backup", str)
    if not os.path.isabs(path) or not os.path.isabs(backup):
        raise DamagedJournal(f"files[{i}]: 'path' and 'backup' must be absolute")
    before, after = _typed(d, "before", str), _typed(d, "after", str)
    if not (_SHA256.match(before) and _SHA256.match(after)):
        raise DamagedJournal(f"files[{i}]: 'before' and 'after' must be SHA-256 digests")
    xattrs = _typed(d, "xattrs", dict, {})
    if not all(isinstance(k, str) and isinstance(v, str) and _is_hex(v) for k, v in xattrs.items()):
        raise DamagedJournal(f"files[{i}]: 'xattrs' must map names to hex")
    mode, uid, gid = _typed(d, "mode", int), _typed(d, "uid", int), _typed(d, "gid", int)
    if not (0 <= mode <= 0o7777 and uid >= 0 and gid >= 0):
        raise DamagedJournal(f"files[{i}]: 'mode', 'uid' or 'gid' out of range")
    return FileRecord(path, before, after, mode, uid, gid, xattrs, backup,
                      _typed(d, "kind", str, DEFAULT), _typed(d, "written", bool, False))


def _is_hex(text: str) -> bool:
    try:
        bytes.fromhex(text)
    except ValueError:
        return False
    return True


@contextlib.contextmanager
def locked(state_dir: Path) -> Iterator[None]:
    """Hold the one lock of ``why502 fix`` (``flock``, not waiting) for the block; the pid of the
    holder is written in the lock file so the refusal can name it."""
    try:
        state_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        fd = os.open(state_dir / "lock", os.O_RDWR | os.O_CREAT, 0o600)
    except OSError as err:
        raise InputError(f"cannot use the state directory {state_dir}: {err.strerror or err}") from None
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 32, 0).decode("ascii", "replace").strip() or "?"
            raise InputError(f"another why502 fix (pid {holder}) is changing files: try again when "
                             "it has finished") from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        yield
    finally:
        os.close(fd)
