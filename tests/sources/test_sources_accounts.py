"""Unix-socket permissions: the pure connect() rule, and the same rule against real sockets."""

from __future__ import annotations

import errno
import grp
import os
import pwd
import shutil
import socket
import stat
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from why502.sources.accounts import (
    PathStat,
    can_connect,
    can_search,
    check_socket_access,
    stat_path,
    user_groups,
    worker_identity,
)


def st(mode: int, uid: int = 1000, gid: int = 1000) -> PathStat:
    return PathStat("/run/x.sock", True, True, st_mode=stat.S_IFSOCK | mode, st_uid=uid, st_gid=gid)


@pytest.mark.parametrize(
    ("mode", "uid", "gids", "allowed", "word"),
    [
        (0o660, 1000, [1000], True, "owns"),  # owner with w
        (0o460, 1000, [1000], False, "owner no write"),  # owner without w: group bits are NOT consulted
        (0o660, 33, [1000], True, "group"),  # group member
        (0o660, 33, [33, 1000], True, "group"),  # supplementary group
        (0o640, 33, [1000], False, "group no write"),
        (0o666, 33, [33], True, "everyone"),
        (0o660, 33, [33], False, "not the owner"),  # Debian's classic www-data vs root:root 0660
        (0o606, 33, [1000], False, "group no write"),  # in the group: other bits not consulted
        (0o000, 0, [0], True, "root"),
    ],
)
def test_can_connect_rule(mode: int, uid: int, gids: list[int], allowed: bool, word: str) -> None:
    ok, reason = can_connect(st(mode), uid, gids)
    assert ok is allowed
    assert word in reason


def test_can_search_directory() -> None:
    d = PathStat("/run/php", True, is_dir=True, st_mode=stat.S_IFDIR | 0o750, st_uid=0, st_gid=33)
    assert can_search(d, 33, [33])
    assert not can_search(d, 65534, [65534])
    assert can_search(d, 0, [0])


def test_os_stat_result_is_accepted(tmp_path: Path) -> None:
    f = tmp_path / "f"
    f.write_text("")
    os.chmod(f, 0o600)
    ok, _ = can_connect(os.stat(f), os.stat(f).st_uid, [])
    assert ok


def test_stat_path_missing(tmp_path: Path) -> None:
    s = stat_path(tmp_path / "nope.sock")
    assert not s.exists and s.errno == errno.ENOENT
    assert "No such file" in s.describe()


def test_user_groups_root() -> None:
    uid, gid, gids = user_groups("root")
    assert uid == 0 and gid == 0 and 0 in gids
    with pytest.raises(KeyError):
        user_groups("why502-no-such-user")


def test_worker_identity_default_and_directive() -> None:
    ident, diags = worker_identity(None)
    assert ident is not None and ident.user == "nobody" and ident.source.startswith("nginx default")
    assert ident.group in ("nobody", "nogroup")
    if "www-data" in {p.pw_name for p in pwd.getpwall()}:
        ident2, diags2 = worker_identity("www-data")
        assert ident2 is not None and ident2.uid == pwd.getpwnam("www-data").pw_uid
        assert ident2.gid == grp.getgrnam("www-data").gr_gid and ident2.gid in ident2.gids
        assert diags2 == []
    ident3, diags3 = worker_identity("why502-ghost")
    assert ident3 is not None and ident3.uid is None
    assert diags3 and "does not exist" in diags3[0].message
    # another proxy's worker is named by its own title; without a declared default it is read by
    # the default proxy's rule, and the source says whose default that is
    _ident4, diags4 = worker_identity("why502-ghost", "apache")
    assert diags4 and diags4[0].message.startswith("Apache worker user 'why502-ghost'")
    ident5, _diags5 = worker_identity(None, "haproxy")
    assert ident5 is not None and ident5.source.startswith("nginx default") and ident5.user == "nobody"
    del diags


@pytest.fixture
def open_dir() -> Iterator[Path]:
    """A world-searchable temp dir directly under /tmp (pytest's tmp_path parents are 0700,
    which would block other users before the socket's own mode is even looked at)."""
    d = Path(tempfile.mkdtemp(prefix="why502-acct-", dir="/tmp"))
    os.chmod(d, 0o755)
    yield d
    shutil.rmtree(d, ignore_errors=True)


@pytest.fixture
def real_socket(open_dir: Path) -> Iterator[Path]:
    path = open_dir / "app.sock"
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.bind(str(path))
    s.listen(4)
    yield path
    s.close()


def test_real_socket_stat_and_rule(real_socket: Path) -> None:
    os.chmod(real_socket, 0o600)
    s = stat_path(real_socket)
    assert s.exists and s.is_socket and s.mode == "0600"
    assert s.owner == pwd.getpwuid(os.geteuid()).pw_name
    # another uid not in the group may not connect; the owner may
    assert can_connect(s, os.geteuid(), os.getgroups())[0]
    assert not can_connect(s, 65534, [65534])[0] or s.st_uid == 65534
    if s.st_uid != 65534:
        access = check_socket_access(str(real_socket), 65534, [65534])
        assert not access.allowed and "others no write" in access.reason


def test_directory_without_search_blocks(open_dir: Path) -> None:
    inner = open_dir / "private"
    inner.mkdir()
    path = inner / "app.sock"
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.bind(str(path))
    os.chmod(path, 0o666)
    os.chmod(inner, 0o700)
    try:
        access = check_socket_access(str(path), 65534, [65534])
        assert not access.allowed
        assert access.blocking_dir is not None and access.blocking_dir.path == str(inner)
        assert "search (x)" in access.reason
    finally:
        s.close()


def test_not_a_socket(tmp_path: Path) -> None:
    f = tmp_path / "plain"
    f.write_text("x")
    access = check_socket_access(str(f), os.geteuid(), os.getgroups())
    assert not access.allowed and "not a socket" in access.reason


def _connect_as(uid: int, gid: int, path: str) -> int:
    """Fork, drop to uid/gid, connect() to ``path``; return 0 or the errno."""
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:
        code = 0
        try:
            os.close(r)
            os.setgroups([])
            os.setgid(gid)
            os.setuid(uid)
            c = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            try:
                c.connect(path)
            except OSError as err:
                code = err.errno or 255
            os.write(w, str(code).encode())
        finally:
            os._exit(0)
    os.close(w)
    with os.fdopen(r) as fh:
        out = fh.read()
    os.waitpid(pid, 0)
    return int(out)


def test_rule_matches_the_kernel_for_nobody(real_socket: Path) -> None:
    """The pure rule must predict what the kernel does for a real unprivileged user."""
    if os.geteuid() != 0:
        pytest.skip("needs root to switch to the 'nobody' user")
    try:
        nobody = pwd.getpwnam("nobody")
    except KeyError:
        pytest.skip("no 'nobody' user")
    for mode in (0o600, 0o660, 0o666, 0o602):
        os.chmod(real_socket, mode)
        predicted, _ = can_connect(stat_path(real_socket), nobody.pw_uid, [nobody.pw_gid])
        got = _connect_as(nobody.pw_uid, nobody.pw_gid, str(real_socket))
        assert (got == 0) is predicted, f"mode {mode:o}: kernel said {got}"
        assert check_socket_access(str(real_socket), nobody.pw_uid, [nobody.pw_gid]).allowed is predicted
        if not predicted:
            assert got == errno.EACCES
