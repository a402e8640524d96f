"""Find and read HAProxy: its config (``/etc/haproxy/haproxy.cfg``, Debian's and upstream's
default path) and the live state of its servers over the runtime API.

The runtime API (doc/management.txt 9.3) is a unix or TCP socket the config opens with ``stats
socket PATH [mode 660] [level admin]`` in ``global``; one command per connection, the answer
ends when haproxy closes it.  Only ``show stat`` and ``show servers state`` are sent: they read
counters and states and change nothing (why502 is read-only).
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
from collections.abc import Callable

from why502.errors import InputError
from why502.facts.server_state import ServerState
from why502.proxies.haproxy.config import HaproxyConfig, load_haproxy
from why502.proxies.haproxy.runtime import parse_servers_state, parse_show_stat
from why502.sources.once import parsed

DEFAULT_CONF = "/etc/haproxy/haproxy.cfg"
CANDIDATES = ("/usr/sbin/haproxy", "/usr/local/sbin/haproxy")


def find_haproxy() -> str | None:
    """The haproxy binary: on PATH or in the usual sbin directories."""
    for cand in CANDIDATES:
        if os.access(cand, os.X_OK):
            return cand
    return shutil.which("haproxy")


def haproxy_config(path: str) -> HaproxyConfig:
    """``proxies.haproxy.config.load_haproxy`` of ``path``, once per run (``sources.once``);
    ``OSError`` when it cannot be read."""
    return parsed(__name__, path, lambda: load_haproxy(path), files=lambda cfg: cfg.files)


def load_config(path: str | None) -> HaproxyConfig:
    """``path`` (or the default config) parsed; ``InputError`` when it cannot be read."""
    path = path or DEFAULT_CONF
    try:
        return haproxy_config(path)
    except OSError as err:
        raise InputError(f"cannot read {path}: {err.strerror or err}") from None


def check_config(path: str, timeout: float = 10.0) -> tuple[bool, str]:
    """``haproxy -c -f path``: does HAProxy accept the file (its own verdict, for fix diffs)?"""
    binary = find_haproxy()
    if binary is None:
        return False, "haproxy is not installed"
    try:
        proc = subprocess.run([binary, "-c", "-f", path], capture_output=True, text=True,
                              timeout=timeout, check=False)
    except (OSError, subprocess.TimeoutExpired) as err:
        return False, str(err)
    return proc.returncode == 0, (proc.stdout + proc.stderr).strip()


def _connect(address: str, timeout: float) -> socket.socket:
    """A connection to a ``stats socket`` address: a path, ``unix@/path``, ``ipv4@host:port``."""
    addr = address.split("@", 1)[1] if "@" in address else address
    if address.startswith(("ipv4@", "ipv6@")) or (not addr.startswith("/") and ":" in addr):
        host, _, port = addr.rpartition(":")
        sock = socket.create_connection((host.strip("[]"), int(port)), timeout=timeout)
        return sock
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.settimeout(timeout)
    sock.connect(addr)
    return sock


def runtime_command(address: str, command: str, timeout: float = 2.0, limit: int = 4 << 20) -> str:
    """Send one runtime-API command and read the whole answer (bounded)."""
    with _connect(address, timeout) as sock:
        sock.sendall(command.encode() + b"\n")
        chunks: list[bytes] = []
        size = 0
        while size < limit:
            data = sock.recv(65536)
            if not data:
                break
            chunks.append(data)
            size += len(data)
    return b"".join(chunks).decode("utf-8", errors="replace")


def _first_answer(cfg: HaproxyConfig, command: str, parse: Callable[[str], list[ServerState]],
                  timeout: float) -> tuple[list[ServerState], list[str]]:
    """``command`` on the first stats socket whose answer has server rows; (rows, why none
    answered)."""
    notes = []
    for address in cfg.stats_sockets:
        try:
            rows = parse(runtime_command(address, command, timeout))
        except (OSError, ValueError) as err:
            notes.append(f"HAProxy runtime API {address} not read: {err}")
            continue
        if rows:
            return rows, []
        notes.append(f"HAProxy runtime API {address}: no server rows in '{command}'")
    return [], notes


def servers_state(cfg: HaproxyConfig, timeout: float = 2.0) -> tuple[list[ServerState], list[str]]:
    """``show servers state`` (read-only, management.txt 9.3): each server's operational and
    admin state and last check, as a reload would keep them."""
    return _first_answer(cfg, "show servers state", parse_servers_state, timeout)


def server_states(cfg: HaproxyConfig, timeout: float = 2.0) -> tuple[list[ServerState], list[str]]:
    """``show stat``: each server's status, last check, queue and sessions."""
    return _first_answer(cfg, "show stat", parse_show_stat, timeout)
