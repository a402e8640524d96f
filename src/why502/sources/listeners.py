"""What listens where, and which process owns it: ``/proc/net/{tcp,tcp6,unix}`` + ``/proc/<pid>/fd``.

Why: a ``connection-refused`` 502 is explained by the listener table — nothing on the target,
or the backend on another address (``::1`` vs ``127.0.0.1``), port or socket path.  The tables are
world-readable; mapping a socket inode to its process needs ``/proc/<pid>/fd``, which only root (or
the process owner) may read, so without root some owners stay unknown and we say so as a
``Diagnostic`` rather than guessing.  For TCP the table's own ``uid`` column still names the owning
user.  Text parsing is in ``why502.parsers.procnet``.
"""

from __future__ import annotations

import ipaddress
import os
import pwd
from datetime import datetime
from pathlib import Path

from why502.facts.net import Listener, ListenerTable, format_endpoint
from why502.findings import Diagnostic
from why502.parsers.procnet import parse_tcp_table, parse_unix_table


def _user_name(uid: int) -> str:
    try:
        return pwd.getpwuid(uid).pw_name
    except KeyError:
        return str(uid)


def socket_inodes(pid: int, proc: Path = Path("/proc")) -> set[int]:
    """Inodes of the sockets ``pid`` holds: its ``/proc/<pid>/fd/*`` links read ``socket:[INODE]``.

    Raises ``PermissionError`` when its fd directory may not be read (another user's process,
    without root); a process that exited meanwhile holds nothing."""
    fd_dir = proc / str(pid) / "fd"
    try:
        fds = os.listdir(fd_dir)
    except PermissionError:
        raise
    except OSError:
        return set()
    inodes: set[int] = set()
    for fd in fds:
        try:
            link = os.readlink(fd_dir / fd)
        except OSError:
            continue
        if link.startswith("socket:["):
            inodes.add(int(link[8:-1]))
    return inodes


def socket_owners(proc: Path = Path("/proc")) -> tuple[dict[int, int], int]:
    """Map socket inode -> pid by reading every ``/proc/<pid>/fd/*`` link (``socket:[INODE]``).

    Returns the map and how many processes could not be inspected (permission denied).
    """
    owners: dict[int, int] = {}
    denied = 0
    try:
        pids = [int(p.name) for p in proc.iterdir() if p.name.isdigit()]
    except OSError:
        return owners, 0
    for pid in sorted(pids):
        try:
            inodes = socket_inodes(pid, proc)
        except PermissionError:
            denied += 1
            continue
        for inode in inodes:
            owners.setdefault(inode, pid)
    return owners, denied


def _process_info(proc: Path, pid: int) -> tuple[str | None, str | None]:
    """(comm, user name) of ``pid``; comm and status are world-readable."""
    comm: str | None = None
    user: str | None = None
    try:
        comm = (proc / str(pid) / "comm").read_text().strip()
        for line in (proc / str(pid) / "status").read_text().splitlines():
            if line.startswith("Uid:"):
                user = _user_name(int(line.split()[1]))
                break
    except (OSError, ValueError, IndexError):
        pass
    return comm, user


def process_started(proc: Path, pid: int) -> str | None:
    """When ``pid`` started, as local ISO time (seconds): ``starttime`` (field 22 of
    ``/proc/<pid>/stat``, clock ticks after boot; proc(5)) plus ``btime`` of ``/proc/stat``."""
    try:
        stat = (proc / str(pid) / "stat").read_text()
        ticks = int(stat.rsplit(")", 1)[1].split()[19])
        btime = next(int(line.split()[1]) for line in (proc / "stat").read_text().splitlines()
                     if line.startswith("btime "))
        hz = os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError, StopIteration):
        return None
    return datetime.fromtimestamp(btime + ticks / hz).isoformat(timespec="seconds")


def read_listeners(proc: str | Path = "/proc") -> list[Listener]:
    """Every listening TCP/TCP6/unix stream socket (see ``read_listener_table`` for diagnostics)."""
    return read_listener_table(proc).listeners


def read_listener_table(proc: str | Path = "/proc") -> ListenerTable:
    """Read the socket tables and map each listener to its process where we are allowed to."""
    root = Path(proc)
    table = ListenerTable()
    raw: list[Listener] = []
    for name in ("tcp", "tcp6"):
        path = root / "net" / name
        try:
            text = path.read_text()
        except OSError as err:
            table.diagnostics.append(
                Diagnostic("warning", f"cannot read {path}: {err.strerror or err}", str(path))
            )
            continue
        for e in parse_tcp_table(text, name):
            if e.listening:
                raw.append(
                    Listener(
                        proto=name,
                        address=e.local_address,
                        port=e.local_port,
                        path=None,
                        inode=e.inode,
                        user=_user_name(e.uid),
                        accept_queue=e.rx_queue,
                    )
                )
    upath = root / "net" / "unix"
    try:
        for u in parse_unix_table(upath.read_text()):
            if u.listening and u.type in ("stream", "seqpacket"):
                raw.append(Listener("unix", None, None, u.path, u.inode))
    except OSError as err:
        why = f"cannot read {upath}: {err.strerror or err}"
        table.diagnostics.append(Diagnostic("warning", why, str(upath)))

    owners, denied = socket_owners(root)
    unknown = 0
    for lst in raw:
        pid = owners.get(lst.inode)
        if pid is None:
            if lst.inode:
                unknown += 1
            table.listeners.append(lst)
            continue
        comm, user = _process_info(root, pid)
        table.listeners.append(
            Listener(
                proto=lst.proto,
                address=lst.address,
                port=lst.port,
                path=lst.path,
                inode=lst.inode,
                pid=pid,
                process=comm,
                user=user or lst.user,
                accept_queue=lst.accept_queue,
                started=process_started(root, pid),
            )
        )
    if denied:
        table.diagnostics.append(
            Diagnostic(
                "info",
                f"could not read the open files of {denied} processes (not root: /proc/<pid>/fd is "
                f"readable by the owner only); {unknown} listeners have no known process — run as root "
                "to see every owner",
                str(root),
            )
        )
    return table


def _is_wildcard(address: str) -> bool:
    return ipaddress.ip_address(address).is_unspecified


def listeners_for(
    listeners: list[Listener], host: str | None = None, port: int | None = None, path: str | None = None
) -> tuple[list[Listener], list[Listener]]:
    """Split listeners into (serves this target, same port/socket name elsewhere).

    A TCP target ``host:port`` is served by a listener on that address or the wildcard of its
    family; ``[::]`` also accepts IPv4 unless the socket is ``IPV6_V6ONLY`` (not visible in
    ``/proc``; nginx's own ``listen [::]`` sets it by default), so ``[::]`` counts for an IPv4
    target only as "elsewhere".  A unix target is served by a listener bound to the same path.
    """
    exact: list[Listener] = []
    near: list[Listener] = []
    if path is not None:
        want = os.path.normpath(path)
        base = os.path.basename(want)
        for lst in listeners:
            if lst.proto != "unix" or not lst.path:
                continue
            if os.path.normpath(lst.path) == want:
                exact.append(lst)
            elif (
                os.path.basename(lst.path) == base
                or os.path.dirname(os.path.normpath(lst.path)) == os.path.dirname(want)
                or ("fpm" in lst.path and "fpm" in want)
            ):
                near.append(lst)
        return exact, near
    if port is None:
        return exact, near
    try:
        ip = ipaddress.ip_address(host) if host else None
    except ValueError:
        ip = None
    for lst in listeners:
        if lst.proto == "unix" or lst.port != port or lst.address is None:
            continue
        laddr = ipaddress.ip_address(lst.address)
        mapped = laddr.ipv4_mapped if isinstance(laddr, ipaddress.IPv6Address) else None
        if ip is None:
            near.append(lst)
        elif (
            laddr == ip
            or (mapped is not None and mapped == ip)
            or (_is_wildcard(lst.address) and laddr.version == ip.version)
        ):
            exact.append(lst)
        else:
            near.append(lst)
    return exact, near


def describe_target_listeners(
    listeners: list[Listener], host: str | None = None, port: int | None = None, path: str | None = None
) -> str:
    """One sentence of fact: who serves the target, or that nobody does and who is nearby."""
    exact, near = listeners_for(listeners, host, port, path)
    target = f"unix:{path}" if path is not None else format_endpoint(host or "*", port or 0)
    if exact:
        return "; ".join(lst.describe() for lst in exact)
    if near:
        return f"nothing listens on {target}, but " + "; ".join(lst.describe() for lst in near)
    return f"nothing listens on {target}"
