"""Who may connect to a unix socket: ``stat()`` results and nginx's worker identity.

Read by ``why502.sources.accounts`` (``stat()``, the passwd/group databases); the rule itself
(unix(7): write permission on the socket, search permission on every directory) is
``why502.sources.accounts.can_connect``.
"""

from __future__ import annotations

import stat
from dataclasses import dataclass


@dataclass(frozen=True)
class PathStat:
    """``stat()`` of a path, in terms a report can print."""

    path: str
    exists: bool
    is_socket: bool = False
    is_dir: bool = False
    st_mode: int = 0
    st_uid: int = -1
    st_gid: int = -1
    owner: str | None = None
    group: str | None = None
    error: str | None = None  # "No such file or directory", "Permission denied", ...
    errno: int | None = None

    @property
    def mode(self) -> str:
        """``0660`` (permission bits, octal)."""
        return f"{stat.S_IMODE(self.st_mode):04o}"

    def describe(self) -> str:
        """``/run/php/x.sock: socket www-data:www-data 0660`` or the error."""
        if not self.exists:
            return f"{self.path}: {self.error or 'does not exist'}"
        kind = "socket" if self.is_socket else ("directory" if self.is_dir else "not a socket")
        return f"{self.path}: {kind} {self.owner}:{self.group} {self.mode}"


@dataclass(frozen=True)
class WorkerIdentity:
    """Who nginx's workers run as, and how we know."""

    user: str
    group: str
    uid: int | None
    gid: int | None
    gids: list[int]
    source: str  # "user directive", "nginx default (nobody)", ...


@dataclass(frozen=True)
class SocketAccess:
    """The answer to "can this user connect to this socket path?", with every fact behind it."""

    path: str
    allowed: bool
    reason: str
    socket: PathStat
    blocking_dir: PathStat | None = None
