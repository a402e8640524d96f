"""One order for rotated log sets, shared by every reader (``sources.logfiles`` for classify and
diagnose, ``sources.byte_chunks`` for stats).

Why: the readers had two orderings that disagreed on ``dateext`` names, so ``classify`` read
``access.log-20261121`` before ``access.log-20261120.gz`` (newest date first) while ``stats`` read
them oldest first.  Lines must come oldest first for "first seen", samples and timelines.

logrotate's conventions (logrotate(8): ``rotate``, ``compress``, ``dateext``, ``dateformat``):

- numbered suffixes count up with age: ``access.log.2.gz`` < ``access.log.1`` < ``access.log``;
- ``dateext`` suffixes carry the rotation date (default ``-%Y%m%d``; ``dateformat`` may give
  ``-%Y-%m-%d``, ``.%Y-%m-%d``, ``-%Y%m%d%H`` or ``-%s``): a bigger stamp is newer;
- the bare name is the file nginx writes now: the newest.

A set mixing both kinds (the configuration changed from ``dateext`` to numbers at some point) has
no order the names can prove; the dated files are taken as the older ones, as before.
"""

from __future__ import annotations

import os
import re

__all__ = ["is_rotated_sibling", "order_rotated", "rotated_base", "rotation_age"]

# ``.1``, ``-20261120``, ``.2026-11-20``, ``-20261120-1732060800`` (+ ``.gz``) at the end of a name
_SUFFIX = re.compile(r"[.-](?P<stamp>[0-9]+(?:[-_][0-9]+)*)(?P<gz>\.gz)?$", re.ASCII)
# below this many digits a plain number is a rotation count, from here on a date (YYYYMMDD...)
_DATE_DIGITS = 8


def rotated_base(path: str) -> str:
    """The name of the set a file belongs to: ``access.log.2.gz``, ``access.log-20261120`` and
    ``access.log.2026-11-20.gz`` -> ``access.log`` (the directory is kept)."""
    name = os.path.basename(path)
    m = _SUFFIX.search(name)
    if m and m.start() > 0:
        return path[: len(path) - len(name) + m.start()]
    if name.endswith(".gz") and len(name) > 3:  # a compressed file without a suffix: same set
        return path[:-3]
    return path


def rotation_age(path: str) -> tuple[int, int]:
    """Bigger is older: ``(0, 0)`` for the bare name, ``(1, N)`` for ``.N``, ``(2, -stamp)`` for
    a dated name (so an older date is a bigger age)."""
    name = os.path.basename(path)
    m = _SUFFIX.search(name)
    if not m or m.start() == 0:
        return (0, 0)
    stamp = m.group("stamp")
    if stamp.isdigit() and len(stamp) < _DATE_DIGITS:
        return (1, int(stamp))
    return (2, -int(re.sub(r"[^0-9]", "", stamp)))


def is_rotated_sibling(base: str, path: str) -> bool:
    """True when ``path`` is a rotated file of the set whose live file is ``base`` (it carries a
    rotation suffix: ``base.1``, ``base.2.gz``, ``base-20261120``, not ``base.gz`` or ``base.old``)."""
    return path != base and rotated_base(path) == base and rotation_age(path)[0] > 0


def order_rotated(paths: list[str]) -> list[str]:
    """Order rotated sets oldest first; different sets keep the order they were given in, and
    files of the same age (``x.log`` next to ``x.log.gz``) keep theirs too."""
    bases: dict[str, int] = {}
    for p in paths:
        bases.setdefault(rotated_base(p), len(bases))

    def key(p: str) -> tuple[int, int, int]:
        kind, value = rotation_age(p)
        return (bases[rotated_base(p)], -kind, -value)

    return sorted(paths, key=key)
