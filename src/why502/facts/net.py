"""Identity keys of peers, and the listening sockets of this host.

A TCP peer is ``host:port`` with IPv6 in brackets (``127.0.0.1:8080``, ``[::1]:8080``), exactly
as nginx prints the peer in ``upstream: "http://[::1]:8080/x"`` (``ngx_sock_ntop()`` in
src/core/ngx_inet.c); a unix socket is ``unix:/run/php/php8.2-fpm.sock`` (nginx prints
``unix:`` + path).  The config, the logs, the socket table and the probes all produce these
keys, which is how the evidence is joined.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from typing import Any

from why502.findings import Diagnostic


def hostport(host: str | None, port: int | None) -> str:
    """``127.0.0.1:80``, ``[::1]:80``; the host alone when there is no port."""
    h = host or ""
    if ":" in h and not h.startswith("["):
        h = f"[{h}]"
    return f"{h}:{port}" if port else h


def format_endpoint(address: str, port: int) -> str:
    """``127.0.0.1:8080`` / ``[::1]:8080``, the way nginx prints peers."""
    return f"[{address}]:{port}" if ":" in address else f"{address}:{port}"


def split_key(key: str) -> tuple[str | None, int | None, str | None]:
    """``127.0.0.1:80`` -> (host, port, None); ``unix:/p`` -> (None, None, /p); ``[::1]:80``."""
    if key.startswith("unix:"):
        return None, None, key[5:]
    host, sep, port = key.rpartition(":")
    if not sep or not port.isdigit():
        return key, None, None
    return host.strip("[]") or None, int(port), None


@dataclass(frozen=True)
class Listener:
    """A listening socket (``/proc/net/{tcp,tcp6,unix}``) and, when visible, its process."""

    proto: str  # "tcp" | "tcp6" | "unix"
    address: str | None = None  # IP for tcp/tcp6
    port: int | None = None
    path: str | None = None  # unix socket path ("@name" for abstract)
    inode: int = 0
    pid: int | None = None
    process: str | None = None  # /proc/<pid>/comm
    user: str | None = None
    accept_queue: int | None = None  # tcp LISTEN rx_queue: connections waiting to be accepted
    # when the owning process started (ISO, local time, seconds; /proc/<pid>/stat starttime):
    # a kernel kill before it is not a kill of this process
    started: str | None = None

    @property
    def key(self) -> str:
        """Identity key (module docstring): ``unix:/path`` or ``host:port``."""
        if self.proto == "unix":
            return f"unix:{self.path}"
        return hostport(self.address, self.port)

    @property
    def endpoint(self) -> str:
        """``127.0.0.1:8080``, ``[::1]:8080`` or ``unix:/run/php/php8.2-fpm.sock`` for messages
        (``?`` for an unknown address)."""
        if self.proto == "unix":
            return f"unix:{self.path}"
        return format_endpoint(self.address or "?", self.port or 0)

    def describe(self) -> str:
        """``python3 pid 412 (user www-data) listens on [::1]:8080``."""
        who = self.process or "unknown process"
        if self.pid is not None:
            who += f" pid {self.pid}"
        if self.user:
            who += f" (user {self.user})"
        return f"{who} listens on {self.endpoint}"

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Listener:
        """A listener saved as JSON (``dataclasses.asdict``, maybe with ``endpoint``)."""
        names = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in names})


@dataclass
class ListenerTable:
    """All listeners plus what could not be read."""

    listeners: list[Listener] = field(default_factory=list)
    diagnostics: list[Diagnostic] = field(default_factory=list)
