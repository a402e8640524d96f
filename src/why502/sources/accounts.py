"""Unix-socket permissions: who owns the socket, who nginx's workers run as, may they connect.

Why: ``connect() to unix:/run/php/php8.2-fpm.sock failed (13: Permission denied)`` (502) is a
mismatch between the socket's owner/group/mode (PHP-FPM ``listen.owner``/``listen.group``/
``listen.mode``) and nginx's worker user.  unix(7): "In order to connect to a stream socket, the
calling process must have write permission on the socket" — plus search (``x``) permission on every
directory of the path (path_resolution(7)).  ``can_connect`` is that check as a pure function so
the rule is unit-tested; ``check_socket_access`` applies it to a real path.

nginx's worker identity (``src/core/nginx.c`` ``ngx_set_user()``, ``ngx_core_module_init_conf()``;
``src/os/unix/ngx_process_cycle.c`` ``ngx_worker_process_init()``): the ``user USER [GROUP]``
directive; GROUP defaults to a group named like USER; with no directive the compile-time default
``nobody`` (group ``nobody`` or ``nogroup``, ``auto/unix``) is used; workers call
``initgroups(USER, GROUP)`` so they also get USER's supplementary groups from ``/etc/group``; all
of this only when the master runs as root — otherwise workers keep the master's identity.
"""

from __future__ import annotations

import grp
import os
import pwd
import stat
from pathlib import Path
from typing import Protocol

from why502.facts.accounts import PathStat, SocketAccess, WorkerIdentity
from why502.findings import Diagnostic
from why502.proxies import DEFAULT, of


class StatLike(Protocol):
    """What ``can_connect`` needs: ``os.stat_result`` and ``PathStat`` both fit."""

    @property
    def st_mode(self) -> int: ...

    @property
    def st_uid(self) -> int: ...

    @property
    def st_gid(self) -> int: ...


def _name_of_uid(uid: int) -> str:
    try:
        return pwd.getpwuid(uid).pw_name
    except KeyError:
        return str(uid)


def _name_of_gid(gid: int) -> str:
    try:
        return grp.getgrgid(gid).gr_name
    except KeyError:
        return str(gid)


def stat_path(path: str | os.PathLike[str]) -> PathStat:
    """``stat()`` ``path`` (following symlinks, as ``connect()`` does); errors become fields."""
    p = os.fspath(path)
    try:
        st = os.stat(p)
    except OSError as err:
        return PathStat(p, exists=False, error=err.strerror or str(err), errno=err.errno)
    return PathStat(
        path=p,
        exists=True,
        is_socket=stat.S_ISSOCK(st.st_mode),
        is_dir=stat.S_ISDIR(st.st_mode),
        st_mode=st.st_mode,
        st_uid=st.st_uid,
        st_gid=st.st_gid,
        owner=_name_of_uid(st.st_uid),
        group=_name_of_gid(st.st_gid),
    )


def _allowed(st: StatLike, uid: int, gids: set[int], bit_owner: int, bit_group: int, bit_other: int) -> str:
    """Which class of the mode applies (Linux ``generic_permission``/``acl_permission_check``).

    Only ONE class is consulted: the owner bits if the uid owns the file (even when the group or
    other bits would allow more), else the group bits if any of the process's groups matches,
    else the other bits.  Returns ``"owner"``/``"group"``/``"other"`` when allowed, ``""`` when not.
    """
    mode = st.st_mode
    if uid == st.st_uid:
        return "owner" if mode & bit_owner else ""
    if st.st_gid in gids:
        return "group" if mode & bit_group else ""
    return "other" if mode & bit_other else ""


def can_connect(st: StatLike, uid: int, gids: set[int] | list[int] | tuple[int, ...]) -> tuple[bool, str]:
    """May a process with ``uid`` and groups ``gids`` ``connect()`` to the socket ``st``?

    ``connect()`` on a unix socket needs write permission on the socket inode (unix(7)).  uid 0
    passes (``CAP_DAC_OVERRIDE``).  POSIX ACLs are not considered (``getfacl`` would show them).
    Returns ``(allowed, reason)``; the reason names the mode class that decided.
    """
    groups = set(gids)
    mode = stat.S_IMODE(st.st_mode)
    if uid == 0:
        return True, "root may connect to any socket (CAP_DAC_OVERRIDE)"
    who = _allowed(st, uid, groups, stat.S_IWUSR, stat.S_IWGRP, stat.S_IWOTH)
    if who == "owner":
        return True, f"uid {uid} owns the socket and mode {mode:04o} gives the owner write permission"
    if who == "group":
        return True, (
            f"the socket's group {st.st_gid} is one of the caller's groups and mode {mode:04o} "
            "gives the group write permission"
        )
    if who == "other":
        return True, f"mode {mode:04o} gives everyone write permission"
    if uid == st.st_uid:
        return False, f"uid {uid} owns the socket but mode {mode:04o} gives the owner no write permission"
    if st.st_gid in groups:
        return False, (
            f"the caller is in the socket's group {st.st_gid} but mode {mode:04o} "
            "gives the group no write permission"
        )
    return False, (
        f"uid {uid} is not the owner ({st.st_uid}) nor in the group ({st.st_gid}), and mode {mode:04o} "
        "gives others no write permission"
    )


def can_search(st: StatLike, uid: int, gids: set[int] | list[int] | tuple[int, ...]) -> bool:
    """Search (``x``) permission on a directory, needed to reach a path below it."""
    if uid == 0:
        return True
    return bool(_allowed(st, uid, set(gids), stat.S_IXUSR, stat.S_IXGRP, stat.S_IXOTH))


def user_groups(user: str) -> tuple[int, int, list[int]]:
    """``(uid, primary gid, all gids incl. supplementary)`` of ``user`` as ``initgroups()`` gives them.

    Raises ``KeyError`` when the user does not exist.
    """
    pw = pwd.getpwnam(user)
    return pw.pw_uid, pw.pw_gid, sorted({pw.pw_gid, *_member_gids(user)})


def _member_gids(user: str) -> set[int]:
    """Groups that list ``user`` as a member in the group database (``getgrouplist()``'s source)."""
    return {g.gr_gid for g in grp.getgrall() if user in g.gr_mem}


def worker_identity(user_directive: str | None, proxy: str | None = None,
                    ) -> tuple[WorkerIdentity | None, list[Diagnostic]]:
    """Resolve the worker user of ``proxy`` (the default one when None) from its ``user``
    directive's value (``"www-data"`` or ``"nginx nginx"``).

    Without a directive the proxy's compiled-in default (``Detection.worker_user``, the first of
    its ``worker_groups`` that exists here): nginx's ``nobody``, group ``nobody`` or ``nogroup``
    (``auto/unix``; Debian's packaged ``nginx.conf`` sets ``user www-data;``); a proxy that
    declares none is read by the default proxy's, as every proxy was before issue 23.  The group
    defaults to the user's name when omitted (``ngx_set_user()``).  The notes name the proxy in
    its own word (``Vocabulary.title``).
    """
    diags: list[Diagnostic] = []
    declared = of(proxy)
    title = declared.vocabulary.title
    # whose compiled-in default applies: its own, else the default proxy's (said as such)
    owner = declared if declared.detection.worker_user else of(DEFAULT)
    detection = owner.detection
    if user_directive:
        parts = user_directive.split()
        user = parts[0]
        group = parts[1] if len(parts) > 1 else user
        source = "user directive"
    else:
        user = detection.worker_user
        for candidate in detection.worker_groups:
            try:
                grp.getgrnam(candidate)
            except KeyError:
                continue
            group = candidate
            break
        else:
            group = detection.worker_groups[-1] if detection.worker_groups else user
        source = f"{owner.vocabulary.title} default (no user directive)"
    try:
        uid, _pgid, _gids = user_groups(user)
    except KeyError:
        diags.append(Diagnostic("warning", f"{title} worker user {user!r} does not exist on this host"))
        return WorkerIdentity(user, group, None, None, [], source), diags
    try:
        gid: int | None = grp.getgrnam(group).gr_gid
    except KeyError:
        if group.isdigit():
            gid = int(group)
        else:
            diags.append(Diagnostic("warning", f"{title} worker group {group!r} does not exist on this host"))
            gid = None
    # initgroups(user, gid) = gid + the groups listing USER as a member; the passwd primary group
    # counts only if it is the directive's group or lists USER (getgrouplist(3)).
    all_gids = sorted(_member_gids(user) | ({gid} if gid is not None else set()))
    return WorkerIdentity(user, group, uid, gid, all_gids, source), diags


def check_socket_access(path: str, uid: int, gids: list[int] | set[int]) -> SocketAccess:
    """Walk every directory of ``path`` (search permission), then the socket (write permission)."""
    sock = stat_path(path)
    absolute = Path(os.path.abspath(path))
    for parent in reversed(absolute.parents):
        pst = stat_path(parent)
        if not pst.exists:
            if sock.exists:
                continue  # we could not stat it but the socket stats fine: not a blocker for us
            return SocketAccess(path, False, f"directory {parent}: {pst.error}", sock, pst)
        if not can_search(pst, uid, gids):
            why = f"no search (x) permission on directory {pst.describe()} for uid {uid}"
            return SocketAccess(path, False, why, sock, pst)
    if not sock.exists:
        return SocketAccess(path, False, sock.error or "does not exist", sock)
    if not sock.is_socket:
        return SocketAccess(path, False, f"{path} exists but is not a socket", sock)
    ok, reason = can_connect(sock, uid, gids)
    return SocketAccess(path, ok, reason, sock)
