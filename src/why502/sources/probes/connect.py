"""The first two steps of a probe: DNS (``getaddrinfo()``, every address, as nginx resolves
names in ``proxy_pass``/``server`` at start-up: ``ngx_inet_resolve_host()`` in
src/core/ngx_inet.c) and ``connect()`` to each address or the unix socket, with the errno named
the way nginx's log names it (``ECONNREFUSED`` -> ``connection-refused``)."""

from __future__ import annotations

import errno as errno_mod
import ipaddress
import os
import socket
import threading
import time
from typing import Any

from why502.facts.probes import ConnectAttempt, DnsResult

# errno -> causes.md symptom ID, for the connect() step.
ERRNO_SYMPTOMS: dict[int, str] = {
    errno_mod.ECONNREFUSED: "connection-refused",
    errno_mod.ENOENT: "socket-not-found",
    errno_mod.EACCES: "permission-denied",
    errno_mod.EPERM: "permission-denied",
    errno_mod.EAGAIN: "backlog-full",
    errno_mod.ETIMEDOUT: "connect-timeout",
    errno_mod.EHOSTUNREACH: "unreachable",
    errno_mod.ENETUNREACH: "unreachable",
    errno_mod.EADDRNOTAVAIL: "port-exhaustion",
    errno_mod.ECONNRESET: "connection-reset",
}


def ms_since(start: float) -> float:
    """Milliseconds since ``time.monotonic()`` was ``start`` (one decimal)."""
    return round((time.monotonic() - start) * 1000, 1)


def resolve(host: str, port: int | None, timeout: float) -> DnsResult:
    """``getaddrinfo(host, port, AF_UNSPEC, SOCK_STREAM)`` bounded by ``timeout``.

    ``getaddrinfo`` has no timeout of its own, so it runs in a daemon thread we stop waiting for.
    """
    start = time.monotonic()
    try:
        ipaddress.ip_address(host)
        return DnsResult(host, [host], literal=True)
    except ValueError:
        pass
    box: dict[str, Any] = {}

    def work() -> None:
        try:
            box["infos"] = socket.getaddrinfo(host, port, 0, socket.SOCK_STREAM)
        except OSError as err:  # socket.gaierror is an OSError
            box["error"] = err.strerror or str(err)

    worker = threading.Thread(target=work, name="why502-dns", daemon=True)
    worker.start()
    worker.join(timeout)
    if worker.is_alive():
        return DnsResult(host, error=f"no answer within {timeout:g}s", elapsed_ms=ms_since(start))
    if "error" in box:
        return DnsResult(host, error=str(box["error"]), elapsed_ms=ms_since(start))
    addresses: list[str] = []
    for _family, _type, _proto, _canon, sockaddr in box.get("infos", []):
        addr = str(sockaddr[0])
        if addr not in addresses:
            addresses.append(addr)
    return DnsResult(host, addresses, elapsed_ms=ms_since(start))


def _errno_fields(err: OSError) -> dict[str, Any]:
    num = err.errno
    if isinstance(err, (socket.timeout, TimeoutError)) and num is None:
        num = errno_mod.ETIMEDOUT
    name = errno_mod.errorcode.get(num) if num is not None else None
    text = os.strerror(num) if num is not None else str(err)
    return {
        "errno": num,
        "errno_name": name,
        "error": text,
        "symptom": ERRNO_SYMPTOMS.get(num) if num is not None else None,
    }


def connect_unix(path: str, timeout: float) -> tuple[socket.socket | None, ConnectAttempt]:
    """Connect to a unix stream socket; a full backlog is ``EAGAIN`` (non-blocking, like nginx)."""
    start = time.monotonic()
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    # nginx connects non-blocking, so a full listen backlog on a unix socket fails at once with
    # EAGAIN (src/event/ngx_event_connect.c ngx_event_connect_peer()); a blocking connect would
    # wait instead, hiding the symptom.
    sock.setblocking(False)
    try:
        sock.connect(path)
    except OSError as err:
        sock.close()
        return None, ConnectAttempt(f"unix:{path}", False, elapsed_ms=ms_since(start), **_errno_fields(err))
    sock.settimeout(timeout)
    return sock, ConnectAttempt(f"unix:{path}", True, elapsed_ms=ms_since(start))


def connect_tcp(address: str, port: int, timeout: float) -> tuple[socket.socket | None, ConnectAttempt]:
    """Connect to ``address:port``; a timeout is reported as ``ETIMEDOUT``."""
    start = time.monotonic()
    family = socket.AF_INET6 if ":" in address else socket.AF_INET
    label = f"[{address}]:{port}" if family == socket.AF_INET6 else f"{address}:{port}"
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.settimeout(timeout)
    try:
        sock.connect((address, port))
    except OSError as err:
        sock.close()
        fields = _errno_fields(err)
        if fields["errno"] is None:
            fields.update(errno=errno_mod.ETIMEDOUT, errno_name="ETIMEDOUT", symptom="connect-timeout")
            fields["error"] = f"no answer within {timeout:g}s"
        return None, ConnectAttempt(label, False, elapsed_ms=ms_since(start), **fields)
    return sock, ConnectAttempt(label, True, elapsed_ms=ms_since(start))
