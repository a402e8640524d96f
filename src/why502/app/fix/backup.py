"""Backups of the files a fix changes: a copy of the bytes, mode, owner and xattrs, kept until
the user removes the state directory.

Each change set has its own timestamped directory (``STATE_DIR/<id>/``): the copy of file N is
``N-<basename>``.  The copy keeps the original's mode, owner, group and extended attributes
(``security.selinux`` labels included, where the file system has them), and the journal records
them too, so a restore gives back the exact file even from a copy on a file system without
xattrs.
"""

from __future__ import annotations

import os
from pathlib import Path

from why502.app.fix.atomic import FileMeta, fsync_dir, write_new
from why502.app.fix.writer import Writer


def backup(path: str, data: bytes, meta: FileMeta, directory: Path, index: int) -> str:
    """Write the backup copy of ``path`` (its ``data``, read once by the caller) and return
    where it is."""
    dest = directory / f"{index}-{os.path.basename(path)}"
    write_new(dest, data, meta)
    fsync_dir(str(directory))
    return str(dest)


def restore(writer: Writer, path: str, backup_path: str, meta: FileMeta) -> None:
    """Put the backup's bytes back at ``path`` with the original metadata, through ``writer``
    (its lock, links kept)."""
    with open(backup_path, "rb") as fh:
        data = fh.read()
    writer.write(path, data, meta)
