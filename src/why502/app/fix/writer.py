"""The one way ``why502 fix`` changes a config file: a ``Writer`` that knows which files it may
write, locks each one before reading it, and writes through links.

Every write of ``--apply``, of its rollback, of ``--undo`` and of crash recovery goes through
one ``Writer``; it refuses a path outside the set it was made with (``app.fix.policy`` decides
that set for ``--apply`` from the running proxy and the command line, never from a report).

- **Lock on the file itself.**  ``flock(2)`` on the config file (a read-only descriptor is
  enough), waited for up to ``LOCK_WAIT`` seconds, so two ``why502 fix`` runs with different
  state directories still take turns on the same file.  A lock is on an inode, and an atomic
  write gives the path a new inode: after locking, the path is checked to still name the locked
  inode (else the file that is there now is locked instead), and the writer locks every new
  inode before renaming it into place and keeps all its locks until the run ends.  The caller
  reads the bytes (and checks their SHA-256) only under the lock, so the second of two runs sees
  the first one's change and refuses instead of overwriting it.
- **Symbolic links are written through.**  Debian enables a site as
  ``sites-enabled/x.conf -> ../sites-available/x.conf``: the file written is the link's target
  (``realpath``), the temp file lives in the target's directory, the link stays a link and
  ``--undo`` restores the target.
- **Hard links are written in place.**  ``rename(2)`` over a file with several names would give
  this name a new inode and leave the others on the old bytes: the names would silently
  diverge.  A file with ``st_nlink > 1`` is therefore rewritten in place (write from offset 0,
  ``ftruncate``, ``fsync``), as Vim does for such files (``:help 'backupcopy'``, "auto": a file
  with more than one hard link is overwritten in place).  That write is not atomic for a reader,
  which is acceptable here: the proxies read their config only when they start, test or reload,
  and ``fix`` itself runs the test and the reload after the write has finished; a run killed
  mid-write is rolled back from the backup by the next run (the journal says ``writing``).
"""

from __future__ import annotations

import errno
import fcntl
import os
import time
from collections.abc import Callable, Iterable
from types import TracebackType

from why502.app.fix.atomic import FileMeta, apply_meta, atomic_write
from why502.errors import InputError

LOCK_WAIT = 120.0
"""Seconds a run waits for another run's lock on a config file: longer than a config test, a
reload (10 s) and the default verification (10 s) together, short enough not to hang a script."""


def write_in_place(path: str, data: bytes, meta: FileMeta) -> None:
    """Overwrite ``path``'s own inode with ``data`` (every hard link sees it), then fsync."""
    fd = os.open(path, os.O_WRONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
    try:
        view, offset = memoryview(data), 0
        while offset < len(data):
            offset += os.pwrite(fd, view[offset:], offset)
        os.ftruncate(fd, len(data))
        apply_meta(fd, meta)
        os.fsync(fd)
    finally:
        os.close(fd)


class Writer:
    """Reads and writes the config files of one run, each under its lock (see the module
    docstring); ``allowed`` are the only files it touches (compared by real path), ``scope``
    says in the refusal what they are."""

    def __init__(self, allowed: Iterable[str], scope: str, *, wait: float = LOCK_WAIT,
                 say: Callable[[str], None] | None = None) -> None:
        self._allowed = frozenset(os.path.realpath(p) for p in allowed)
        self._scope = scope
        self._wait = wait
        self._say = say
        self._held: list[int] = []
        self._locked: set[str] = set()

    def __enter__(self) -> Writer:
        return self

    def __exit__(self, kind: type[BaseException] | None, err: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()

    def close(self) -> None:
        """Release every lock (closing a descriptor drops its ``flock``)."""
        for fd in self._held:
            os.close(fd)
        self._held.clear()
        self._locked.clear()

    def target(self, path: str) -> str:
        """The file ``path`` names (links resolved), if this writer may write it."""
        real = os.path.realpath(path)
        if real not in self._allowed:
            raise InputError(f"{path} is not a file of {self._scope}, so no config test could prove "
                             "the change: nothing applied")
        return real

    def lock(self, path: str) -> str:
        """Lock the file ``path`` names (waiting for another run, up to ``wait`` seconds); the
        real path locked."""
        real = self.target(path)
        if real in self._locked:
            return real
        deadline = time.monotonic() + self._wait
        waiting = False
        while True:
            try:
                fd = os.open(real, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
            except OSError as err:
                raise InputError(f"{path}: {err.strerror or err}: nothing applied") from None
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError as err:
                os.close(fd)
                if err.errno not in (errno.EWOULDBLOCK, errno.EAGAIN):
                    raise InputError(f"{path}: cannot lock it: {err.strerror or err}: nothing applied") \
                        from None
                if time.monotonic() >= deadline:
                    raise InputError(f"{path}: another why502 fix has been changing it for {self._wait:g} s: "
                                     "nothing applied; try again when it has finished") from None
                if not waiting and self._say is not None:
                    self._say(f"waiting: another why502 fix is changing {path}")
                waiting = True
                time.sleep(0.1)
                continue
            held = os.fstat(fd)
            try:
                now = os.stat(real, follow_symlinks=False)
            except OSError:
                now = None
            if now is None or (now.st_dev, now.st_ino) != (held.st_dev, held.st_ino):
                os.close(fd)  # replaced while we waited: lock the file that is there now
                continue
            self._held.append(fd)
            self._locked.add(real)
            return real

    def read(self, path: str) -> bytes:
        """The bytes of ``path``, read under its lock."""
        real = self.lock(path)
        try:
            with open(real, "rb") as fh:
                return fh.read()
        except OSError as err:
            raise InputError(f"{path}: {err.strerror or err}") from None

    def write(self, path: str, data: bytes, meta: FileMeta) -> None:
        """Replace the bytes of the file ``path`` names: atomically (rename in the target's
        directory) when it has one name, in place when it has several."""
        real = self.lock(path)
        if os.stat(real).st_nlink > 1:
            write_in_place(real, data, meta)
        else:
            atomic_write(real, data, meta, hold=self._hold_new)

    def _hold_new(self, tmp: str) -> None:
        """Lock the new inode before it is renamed over the old one, and keep the lock."""
        fd = os.open(tmp, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            os.close(fd)
            raise
        self._held.append(fd)
