"""Ask a proxy's own nameserver about a name, as the proxy does, not the host's resolver.

Why: a proxy that resolves its backends' names at run time does it through nameservers of its
own configuration, never through ``getaddrinfo()``: HAProxy's ``resolvers`` section
(configuration.txt 5.3, "nameserver <name> <address>[:port]"), nginx's ``resolver``, Envoy's
``dns_resolvers``, Caddy's dynamic upstreams' ``resolvers``.  Asking the host's resolver
(``/etc/resolv.conf``) about such a name answers another question: inside Docker the proxy asks
127.0.0.11, the host another server, and a name only that one knows (or no longer knows) reads
differently.  So a probe of such a target asks the proxy's first nameserver, over UDP, one A and
one AAAA question (RFC 1035 4.1: header, question, answers; the name compressed by pointers,
4.1.4), bounded by the probe's timeout, and reads the answer's RCODE as the proxy does (3:
NXDOMAIN, HAProxy's "DNS NX status"; 2: SERVFAIL).
"""

from __future__ import annotations

import random
import socket
import struct
import time

from why502.facts.probes import DnsResult

A, AAAA = 1, 28
RCODES = {1: "FORMERR (format error)", 2: "SERVFAIL (server failure)",
          3: "NXDOMAIN (no such name)", 4: "NOTIMP (not implemented)", 5: "REFUSED (refused)"}


def _question(ident: int, name: str, qtype: int) -> bytes:
    """A standard query (RD set) for ``name`` of ``qtype``, class IN."""
    parts = (x.encode("idna") for x in name.rstrip(".").split("."))
    labels = b"".join(bytes([len(p)]) + p for p in parts if p)
    return struct.pack("!HHHHHH", ident, 0x0100, 1, 0, 0, 0) + labels + b"\x00" + struct.pack("!HH", qtype, 1)


def _skip_name(data: bytes, at: int) -> int:
    """The offset after the (possibly compressed) name at ``at``."""
    while at < len(data):
        n = data[at]
        if n == 0:
            return at + 1
        if n & 0xC0 == 0xC0:  # a pointer ends the name (RFC 1035 4.1.4)
            return at + 2
        at += 1 + n
    raise ValueError("a name runs past the answer")


def _answer(data: bytes, ident: int, qtype: int) -> tuple[int, list[str]]:
    """(RCODE, addresses of ``qtype``) of one answer to the question ``ident``."""
    got, flags, qd, an, _ns, _ar = struct.unpack("!HHHHHH", data[:12])
    if got != ident or not flags & 0x8000:
        raise ValueError("not the answer to this question")
    at = 12
    for _ in range(qd):
        at = _skip_name(data, at) + 4
    out: list[str] = []
    for _ in range(an):
        at = _skip_name(data, at)
        rtype, _cls, _ttl, size = struct.unpack("!HHIH", data[at:at + 10])
        at += 10
        rdata = data[at:at + size]
        at += size
        if rtype == qtype == A and size == 4:
            out.append(socket.inet_ntop(socket.AF_INET, rdata))
        elif rtype == qtype == AAAA and size == 16:
            out.append(socket.inet_ntop(socket.AF_INET6, rdata))
    return flags & 0x000F, out


def _split(server: str) -> tuple[str, int]:
    """``127.0.0.11:53``, ``[::1]:5353``, ``10.0.0.2`` -> (host, port)."""
    server = server.removeprefix("udp@").removeprefix("udp/")
    if server.startswith("["):
        host, _, port = server[1:].partition("]")
        return host, int(port.lstrip(":") or 53)
    host, sep, port = server.rpartition(":")
    if not sep or ":" in host:  # no port, or a bare IPv6 address
        return server, 53
    return host, int(port)


def ask(name: str, server: str, timeout: float) -> DnsResult:
    """Ask ``server`` (``host:port``, the proxy's nameserver) for ``name``'s A and AAAA records,
    ``timeout`` seconds in all: the addresses, or the RCODE's error (NXDOMAIN, SERVFAIL...)."""
    start = time.monotonic()
    host, port = _split(server)
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    addresses: list[str] = []
    error: str | None = None
    try:
        with socket.socket(family, socket.SOCK_DGRAM) as sock:
            for qtype in (A, AAAA):
                ident = random.randrange(1 << 16)
                sock.sendto(_question(ident, name, qtype), (host, port))
                while True:
                    left = timeout - (time.monotonic() - start)
                    if left <= 0:
                        raise TimeoutError
                    sock.settimeout(left)
                    data, _peer = sock.recvfrom(4096)
                    try:
                        rcode, found = _answer(data, ident, qtype)
                    except (ValueError, struct.error):
                        continue  # another answer, or a broken one: wait for ours
                    break
                if rcode:
                    error = f"{server} answered {RCODES.get(rcode, f'RCODE {rcode}')}"
                    break
                addresses += [a for a in found if a not in addresses]
    except TimeoutError:
        error = f"{server} gave no answer within {timeout:g}s"
    except OSError as err:
        error = f"{server}: {err.strerror or err}"
    elapsed = round((time.monotonic() - start) * 1000, 1)
    if error is None and not addresses:
        error = f"{server} answered no address"
    return DnsResult(name, addresses if error is None else [], error=error, elapsed_ms=elapsed)
