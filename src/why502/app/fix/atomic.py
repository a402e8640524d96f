"""Write a file so that a reader sees the old bytes or the new ones, never a mix.

The classic recipe (rename(2) is atomic within a file system, POSIX): write a temp file in the
*same directory*, ``fsync`` it, give it the mode, owner, group and extended attributes of the
file it replaces, ``rename`` it over the original, then ``fsync`` the directory so the rename
itself survives a power cut.  A failure at any step (ENOSPC on a full disk, EPERM) removes the
temp file and leaves the original untouched.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import os
import stat
from collections.abc import Callable
from dataclasses import dataclass, field


def sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def sha256_file(path: str) -> str:
    with open(path, "rb") as fh:
        return sha256_bytes(fh.read())


@dataclass(frozen=True)
class FileMeta:
    """Mode bits, owner, group and extended attributes (``security.selinux`` and the like)."""

    mode: int
    uid: int
    gid: int
    xattrs: dict[str, bytes] = field(default_factory=dict)


def read_meta(path: str) -> FileMeta:
    st = os.stat(path)
    xattrs: dict[str, bytes] = {}
    try:
        for name in os.listxattr(path):
            try:
                xattrs[name] = os.getxattr(path, name)
            except OSError:
                continue
    except OSError as err:
        if err.errno not in (errno.ENOTSUP, errno.EOPNOTSUPP):
            raise
    return FileMeta(stat.S_IMODE(st.st_mode), st.st_uid, st.st_gid, xattrs)


def apply_meta(fd: int, meta: FileMeta) -> None:
    """Give the open file ``meta``; an owner change needs root, so it is only attempted when
    the owner differs (a user editing their own file keeps it)."""
    st = os.fstat(fd)
    if (st.st_uid, st.st_gid) != (meta.uid, meta.gid):
        os.fchown(fd, meta.uid, meta.gid)
    os.fchmod(fd, meta.mode)
    for name, value in meta.xattrs.items():
        try:
            os.setxattr(fd, name, value)
        except OSError as err:
            if err.errno not in (errno.ENOTSUP, errno.EOPNOTSUPP):
                raise


def fsync_dir(directory: str) -> None:
    fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_new(path: str | os.PathLike[str], data: bytes, meta: FileMeta) -> None:
    """Create ``path`` (it must not exist), write all of ``data``, fsync, then give it ``meta``."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view):]
        os.fsync(fd)
        apply_meta(fd, meta)
    finally:
        os.close(fd)


def atomic_write(path: str, data: bytes, meta: FileMeta,
                 hold: Callable[[str], None] | None = None) -> None:
    """Replace ``path`` by ``data`` atomically, with ``meta``; on error nothing is left behind.
    ``hold`` is given the complete temp file before the rename (``writer`` locks it there)."""
    directory = os.path.dirname(os.path.abspath(path))
    tmp = os.path.join(directory, f".{os.path.basename(path)}.why502-{os.getpid()}.tmp")
    try:
        write_new(tmp, data, meta)
        if hold is not None:
            hold(tmp)
        os.rename(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    fsync_dir(directory)
