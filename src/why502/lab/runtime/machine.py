"""What this machine offers the lab: which programs are installed, root, IPv6, free ports.

Everything here only looks (no process is left running, nothing is changed).  The other runtime
modules and the scenarios' requirement checks call these through the module (``machine.is_root()``),
so a test can pretend to be another machine by patching one attribute.
"""

from __future__ import annotations

import glob
import os
import shutil
import socket
import subprocess
import threading
from collections import deque

NGINX_CANDIDATES = ("/usr/sbin/nginx", "/usr/local/sbin/nginx", "/usr/local/nginx/sbin/nginx")
HAPROXY_CANDIDATES = ("/usr/sbin/haproxy", "/usr/local/sbin/haproxy")


def find_program(name: str, candidates: tuple[str, ...]) -> str | None:
    """A proxy binary: ``$WHY502_<NAME>``, then the usual install paths, then ``$PATH``."""
    env = os.environ.get(f"WHY502_{name.upper()}")
    if env:
        return env if os.access(env, os.X_OK) else None
    for cand in candidates:
        if os.access(cand, os.X_OK):
            return cand
    return shutil.which(name)


def find_nginx() -> str | None:
    """The nginx binary (``$WHY502_NGINX`` first)."""
    return find_program("nginx", NGINX_CANDIDATES)


def find_haproxy() -> str | None:
    """The haproxy binary (``$WHY502_HAPROXY`` first)."""
    return find_program("haproxy", HAPROXY_CANDIDATES)


def find_php_fpm() -> str | None:
    """The PHP-FPM binary (Debian names it ``php-fpm8.2``; a glob finds any version)."""
    env = os.environ.get("WHY502_PHP_FPM")
    if env:
        return env if os.access(env, os.X_OK) else None
    found = sorted(glob.glob("/usr/sbin/php-fpm*")) + sorted(glob.glob("/usr/local/sbin/php-fpm*"))
    for cand in found:
        if os.access(cand, os.X_OK) and not cand.endswith(".conf"):
            return cand
    return shutil.which("php-fpm")


def program_version(binary: str, flag: str = "-v") -> str:
    """First line of ``binary -v`` (nginx prints it on stderr, php-fpm on stdout)."""
    try:
        out = subprocess.run([binary, flag], capture_output=True, text=True, timeout=5, check=False)
    except (OSError, subprocess.TimeoutExpired) as err:
        return f"unknown ({err})"
    text = (out.stderr or out.stdout).strip()
    return text.splitlines()[0] if text else "unknown"


def ipv6_loopback_available() -> bool:
    """True when ``::1`` can be bound (containers often run without IPv6)."""
    try:
        with socket.socket(socket.AF_INET6, socket.SOCK_STREAM) as s:
            s.bind(("::1", 0))
        return True
    except OSError:
        return False


# the ports free_port handed out lately in this process (bounded): never handed out again, so
# two lab stacks of one process (``lab matrix --jobs``) cannot be given the same port, one to
# listen on, the other as a port where nothing listens (a stopped backend's)
_HANDED_OUT: deque[tuple[int, int]] = deque(maxlen=8192)
_HANDED_OUT_LOCK = threading.Lock()


def free_port(host: str = "127.0.0.1", kind: int = socket.SOCK_STREAM) -> int:
    """A port the kernel says is free right now on ``host``, not one this process was given in
    its last 8192 calls (small race with other processes accepted: loopback only)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with _HANDED_OUT_LOCK:
        for _ in range(64):
            with socket.socket(family, kind) as s:
                s.bind((host, 0))
                port: int = s.getsockname()[1]
            if (kind, port) not in _HANDED_OUT:
                break
        _HANDED_OUT.append((kind, port))
        return port


# The ports dead_port() keeps bound for this process, newest last (bounded: by the time 256 newer
# ones were asked for, the stack that asked for the oldest is long gone).
_RESERVED: dict[tuple[str, int], socket.socket] = {}
_RESERVED_MAX = 256


def reserve_port(host: str = "127.0.0.1") -> int:
    """A loopback port where nothing listens, and nothing else can start listening while it is
    reserved: a TCP socket bound to it, never listening, without ``SO_REUSEADDR``.

    Why: a port that is merely free when asked for (``free_port``) can be taken a moment later by
    another test's or another cell's server (the kernel hands the same ephemeral range to every
    ``bind(host, 0)``), and a "stopped backend" then answers -- seen in the suite as a
    ``backend-not-running`` whose live probe found something listening there.  A bound socket
    that is not listening is in no listening hash, so a connect to it is refused (RST) exactly as
    to a closed port, ``/proc/net/tcp`` and ``ss -tln`` do not list it, and Linux refuses any
    other ``bind()`` to the port unless both sockets set ``SO_REUSEADDR``
    (``inet_csk_bind_conflict()``).  A stack that starts a backend on the port later releases it
    first (``release_port``)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with _HANDED_OUT_LOCK:
        sock = socket.socket(family, socket.SOCK_STREAM)
        try:
            for _ in range(64):
                sock.bind((host, 0))
                port: int = sock.getsockname()[1]
                if (socket.SOCK_STREAM, port) not in _HANDED_OUT:
                    break
                sock.close()
                sock = socket.socket(family, socket.SOCK_STREAM)
        except OSError:
            sock.close()
            raise
        _HANDED_OUT.append((socket.SOCK_STREAM, port))
        _RESERVED[(host, port)] = sock
        while len(_RESERVED) > _RESERVED_MAX:
            _RESERVED.pop(next(iter(_RESERVED))).close()
        return port


def release_port(host: str, port: int) -> None:
    """Let a server bind ``host:port`` again if ``reserve_port`` holds it (else nothing)."""
    with _HANDED_OUT_LOCK:
        sock = _RESERVED.pop((host, port), None)
    if sock is not None:
        sock.close()


def is_root() -> bool:
    return hasattr(os, "geteuid") and os.geteuid() == 0


def netns_unavailable() -> str | None:
    """Why this machine cannot run a stack in its own network namespace (None: it can)."""
    if not is_root():
        return "needs root: creating a network namespace (ip netns add) is privileged"
    if shutil.which("ip") is None or shutil.which("nsenter") is None:
        return "needs iproute2 (ip) and util-linux (nsenter)"
    return None
