"""Paths of a process whose root is not ours: a container's ``/proc/PID/root``, a tree copied
for ``--root``.

Every absolute path a config read there names (an include, a log, a socket) is a path inside
that root: the kernel shows the container's ``/etc/nginx/nginx.conf`` to root as
``/proc/PID/root/etc/nginx/nginx.conf`` (proc(5), ``/proc/pid/root``), and this host's file of the
same name is another file.  Every proxy's loader resolves under the root with these two
functions, so none of them falls back to this host's file.
"""

from __future__ import annotations

import os
import re

_PROC_ROOT = re.compile(r"^(/proc/\d+/root)(?=/)")


def proc_root(path: str) -> str | None:
    """``/proc/PID/root`` when ``path`` is read through a process's root (the paths its file
    names are then inside that root), else None."""
    m = _PROC_ROOT.match(path)
    return m.group(1) if m else None


def under_root(root: str | None, path: str) -> str:
    """``path`` as the process under ``root`` means it: an absolute path is taken from ``root``
    with every link on it followed inside ``root`` (:func:`within_root`); a path already under
    ``root``, or with no root, is only followed inside it (or returned as it is)."""
    if not root:
        return path
    if os.path.isabs(path) and not (path + "/").startswith(os.path.normpath(root) + "/"):
        path = os.path.normpath(root + "/" + path)
    return within_root(root, path)


def within_root(root: str, path: str, hops: int = 40) -> str:
    """``path`` (under ``root``) with every symbolic link on it followed *inside* ``root``: an
    absolute target is taken from ``root``, ``..`` never climbs above it.  Why: under a root
    that is not this process's -- a container's ``/proc/PID/root``, a tree copied for
    ``--root`` -- the kernel resolves an absolute link against *our* ``/``, so Debian's
    ``sites-enabled/x.conf -> /etc/nginx/sites-available/x.conf`` read this host's file instead
    of the container's (what ``RESOLVE_IN_ROOT`` of openat2(2) does, by hand).  ``hops`` bounds
    a loop (the kernel's own limit is 40, path_resolution(7)); past it the path is returned as
    it is and its open reports the loop."""
    root = os.path.normpath(root)
    rel = os.path.relpath(os.path.normpath(path), root)
    if rel == os.curdir or rel.startswith(os.pardir):
        return path
    done: list[str] = []
    todo = rel.split(os.sep)
    while todo:
        part = todo.pop(0)
        if part in ("", os.curdir):
            continue
        if part == os.pardir:
            if done:
                done.pop()
            continue
        here = os.path.join(root, *done, part)
        if os.path.islink(here):
            hops -= 1
            if hops < 0:
                return path
            target = os.readlink(here)
            todo = [*(target.split(os.sep)), *todo]
            if os.path.isabs(target):
                done = []
            continue
        done.append(part)
    return os.path.join(root, *done)
