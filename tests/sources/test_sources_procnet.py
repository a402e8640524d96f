"""Socket tables: pure parsing of recorded /proc/net text, and live listeners read from /proc.

The fixtures ``tests/fixtures/system/proc-net-*.txt`` were recorded on the build machine while a
Python process listened on 127.0.0.1:39655, [::1]:42037 and a unix socket, with one accepted
connection on the IPv4 port (header + those rows kept).
"""

from __future__ import annotations

import os
import socket
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.paths import FIXTURES_DIR
from why502.facts.net import Listener
from why502.parsers.procnet import (
    decode_address,
    format_endpoint,
    parse_tcp_table,
    parse_unix_table,
    state_counts,
    state_counts_by_remote_port,
)
from why502.sources.listeners import (
    describe_target_listeners,
    listeners_for,
    read_listener_table,
    read_listeners,
)

FIX = FIXTURES_DIR / "system"


def test_decode_ipv4_and_ipv6_little_endian() -> None:
    assert decode_address("0100007F:1F90", "little") == ("127.0.0.1", 8080)
    assert decode_address("00000000000000000000000001000000:1F90", "little") == ("::1", 8080)
    assert decode_address("0000000000000000FFFF00000100007F:0050", "little") == ("::ffff:127.0.0.1", 80)


def test_decode_big_endian_machine_text() -> None:
    # a big-endian kernel prints the same address words unswapped
    assert decode_address("7F000001:1F90", "big") == ("127.0.0.1", 8080)
    assert decode_address("00000000000000000000000000000001:0050", "big") == ("::1", 80)


def test_decode_rejects_garbage() -> None:
    with pytest.raises(ValueError):
        decode_address("zz:1")


def test_recorded_tcp_table() -> None:
    rows = parse_tcp_table((FIX / "proc-net-tcp.txt").read_text(), "tcp", "little")
    assert len(rows) == 3
    listen = [r for r in rows if r.listening]
    assert len(listen) == 1
    assert (listen[0].local_address, listen[0].local_port, listen[0].inode) == ("127.0.0.1", 39655, 59952)
    established = [r for r in rows if r.state == "ESTABLISHED"]
    assert {r.remote_port for r in established} == {39655, 0xCDCA}
    assert state_counts(rows) == {"ESTABLISHED": 2, "LISTEN": 1}
    assert state_counts_by_remote_port(rows, "ESTABLISHED") == {0xCDCA: 1, 39655: 1}


def test_recorded_tcp6_and_unix_tables() -> None:
    rows6 = parse_tcp_table((FIX / "proc-net-tcp6.txt").read_text(), "tcp6", "little")
    assert [(r.local_address, r.local_port, r.state) for r in rows6] == [("::1", 42037, "LISTEN")]
    unix = parse_unix_table((FIX / "proc-net-unix.txt").read_text())
    assert len(unix) == 1
    assert unix[0].path == "/tmp/tmpixq0myqt/rec.sock"
    assert unix[0].listening and unix[0].type == "stream" and unix[0].inode == 59954


def test_unix_table_unnamed_and_abstract() -> None:
    text = (
        "Num       RefCount Protocol Flags    Type St Inode Path\n"
        "0000000054b2b067: 00000003 00000000 00000000 0001 03  1671\n"
        "00000000aa: 00000002 00000000 00010000 0001 01 77 @/tmp/.X11-unix/X0\n"
        "garbage line\n"
    )
    rows = parse_unix_table(text)
    assert rows[0].path is None and not rows[0].listening
    assert rows[1].path == "@/tmp/.X11-unix/X0" and rows[1].listening


def test_format_endpoint() -> None:
    assert format_endpoint("::1", 80) == "[::1]:80"
    assert format_endpoint("127.0.0.1", 80) == "127.0.0.1:80"


# ------------------------------------------------------------------------------------------
# live listeners


@pytest.fixture
def live_listeners() -> Iterator[dict[str, object]]:
    """Real listening sockets in this process: 127.0.0.1, ::1 (same port if possible), unix."""
    v4 = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    v4.bind(("127.0.0.1", 0))
    v4.listen(8)
    port4 = v4.getsockname()[1]
    v6: socket.socket | None = None
    port6: int | None = None
    try:
        v6 = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
        v6.bind(("::1", 0))
        v6.listen(8)
        port6 = v6.getsockname()[1]
    except OSError:
        v6 = None
    tmp = tempfile.mkdtemp(prefix="why502-sys-")
    path = os.path.join(tmp, "app.sock")
    ux = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    ux.bind(path)
    ux.listen(8)
    yield {"port4": port4, "port6": port6, "path": path, "dir": tmp}
    for s in (v4, v6, ux):
        if s is not None:
            s.close()
    os.unlink(path)
    os.rmdir(tmp)


def _mine(listeners: list[Listener]) -> list[Listener]:
    return [lst for lst in listeners if lst.pid == os.getpid()]


def test_read_listeners_finds_our_sockets_and_pid(live_listeners: dict[str, object]) -> None:
    table = read_listener_table()
    mine = _mine(table.listeners)
    endpoints = {lst.endpoint for lst in mine}
    assert f"127.0.0.1:{live_listeners['port4']}" in endpoints
    assert f"unix:{live_listeners['path']}" in endpoints
    if live_listeners["port6"] is not None:
        assert f"[::1]:{live_listeners['port6']}" in endpoints
    comm = Path(f"/proc/{os.getpid()}/comm").read_text().strip()
    assert all(lst.process == comm for lst in mine)
    if os.geteuid() == 0:
        # root sees every process's fds: no "could not read" diagnostic
        assert not [d for d in table.diagnostics if "open files" in d.message]
    assert read_listeners()  # the plain list API


def test_wrong_family_is_a_fact(live_listeners: dict[str, object]) -> None:
    if live_listeners["port6"] is None:
        pytest.skip("no IPv6 loopback here")
    port6 = int(str(live_listeners["port6"]))
    listeners = read_listeners()
    exact, near = listeners_for(listeners, "127.0.0.1", port6)
    assert not [x for x in exact if x.pid == os.getpid()]
    assert [x for x in near if x.pid == os.getpid() and x.address == "::1"]
    sentence = describe_target_listeners(listeners, "127.0.0.1", port6)
    assert sentence.startswith(f"nothing listens on 127.0.0.1:{port6}, but ")
    assert f"pid {os.getpid()}" in sentence and f"[::1]:{port6}" in sentence


def test_unix_target_exact_and_elsewhere(live_listeners: dict[str, object]) -> None:
    path = str(live_listeners["path"])
    listeners = read_listeners()
    exact, _ = listeners_for(listeners, path=path)
    assert [x.pid for x in exact] == [os.getpid()]
    other = os.path.join(str(live_listeners["dir"]), "other.sock")
    exact2, near2 = listeners_for(listeners, path=other)
    assert exact2 == [] and [x.path for x in near2 if x.pid == os.getpid()] == [path]
    assert describe_target_listeners(listeners, path=other).startswith(
        f"nothing listens on unix:{other}, but "
    )


def test_wildcard_listener_serves_loopback() -> None:
    wild = Listener("tcp", "0.0.0.0", 9000, None, 1, pid=7, process="php-fpm")
    six = Listener("tcp6", "::", 9000, None, 2, pid=8, process="node")
    exact, near = listeners_for([wild, six], "127.0.0.1", 9000)
    assert exact == [wild] and near == [six]
    exact6, near6 = listeners_for([wild, six], "::1", 9000)
    assert exact6 == [six] and near6 == [wild]


def test_missing_table_is_a_diagnostic(tmp_path: Path) -> None:
    """A /proc without net/unix: the TCP listeners still come back, the gap is a Diagnostic."""
    net = tmp_path / "net"
    net.mkdir()
    net.joinpath("tcp").write_text((FIX / "proc-net-tcp.txt").read_text())
    net.joinpath("tcp6").write_text((FIX / "proc-net-tcp6.txt").read_text())
    # no unix table: reported, not fatal
    table = read_listener_table(tmp_path)
    assert {lst.endpoint for lst in table.listeners} >= {"127.0.0.1:39655"}
    assert any(
        "cannot read" in d.message and d.message.endswith("No such file or directory")
        for d in table.diagnostics
    )


def test_as_nobody_reports_unreadable_processes(live_listeners: dict[str, object]) -> None:
    """Without root, /proc/<pid>/fd of other users is unreadable: that must be a Diagnostic."""
    import pwd

    if os.geteuid() != 0:
        table = read_listener_table()
        assert any("not root" in d.message for d in table.diagnostics)
        return
    try:
        nobody = pwd.getpwnam("nobody")
    except KeyError:
        pytest.skip("no 'nobody' user to switch to")
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:  # child: drop to nobody, read the tables, report
        try:
            os.close(r)
            # drop the listening sockets inherited by fork(): the child must not own them
            os.closerange(3, w)
            os.closerange(w + 1, 1024)
            os.setgroups([])
            os.setgid(nobody.pw_gid)
            os.setuid(nobody.pw_uid)
            table = read_listener_table()
            ours = [x for x in table.listeners if x.port == live_listeners["port4"]]
            msg = "|".join(d.message for d in table.diagnostics)
            line = f"{len(ours)};{ours[0].pid if ours else 'x'};{ours[0].user if ours else 'x'};{msg}"
            os.write(w, line.encode())
        finally:
            os._exit(0)
    os.close(w)
    with os.fdopen(r) as fh:
        out = fh.read()
    os.waitpid(pid, 0)
    count, owner_pid, user, diags = out.split(";", 3)
    assert count == "1"
    assert owner_pid == "None"  # nobody cannot map root's socket inode to our pid
    assert user == "root"  # but the table's uid column still names the user
    assert "not root" in diags


def test_a_listeners_start_time_is_its_process_start(live_listeners: dict[str, object]) -> None:
    """The owner's start time (what decides whether a kernel kill can be its kill) is what
    ps(1) says for the same process, to the second (ps rounds, we truncate)."""
    import subprocess
    from datetime import datetime

    mine = _mine(read_listener_table().listeners)
    assert mine and all(lst.started for lst in mine)
    lstart = subprocess.run(["ps", "-o", "lstart=", "-p", str(os.getpid())], capture_output=True,
                            text=True, check=True, timeout=10).stdout.strip()
    ps_time = datetime.strptime(lstart, "%a %b %d %H:%M:%S %Y")
    ours = datetime.fromisoformat(str(mine[0].started))
    assert abs((ours - ps_time).total_seconds()) <= 1, (ours, ps_time)
