"""Pure parsing of the kernel's socket tables: ``/proc/net/tcp``, ``/proc/net/tcp6``, ``/proc/net/unix``.

Why: "nothing listens on 127.0.0.1:8080, but python3 listens on [::1]:8080" is the single most
useful fact behind a ``connection-refused`` 502, and the kernel tables give it without ``ss`` or
root.  Reading the files lives in ``why502.sources.listeners``; this module only turns their text
into records.

Formats (Linux ``net/ipv4/tcp_ipv4.c`` ``get_tcp4_sock()``, ``net/ipv6/tcp_ipv6.c``
``get_tcp6_sock()``, ``net/unix/af_unix.c`` ``unix_seq_show()``):

- tcp: ``sl local_address rem_address st tx_queue:rx_queue tr:tm->when retrnsmt uid timeout inode``;
  addresses are ``%08X:%04X`` (IPv4) or ``%08X%08X%08X%08X:%04X`` (IPv6): the address words are
  printed as native-endian 32-bit integers (so byte-swapped on little-endian machines), the port in
  host order.  For a LISTEN socket ``rx_queue`` is ``sk_ack_backlog``: connections waiting in the
  accept queue right now.
- unix: ``Num RefCount Protocol Flags Type St Inode Path``; ``Flags`` has ``__SO_ACCEPTCON``
  (``0x10000``) for a listening socket, ``Type`` is ``0001`` stream / ``0002`` dgram / ``0005``
  seqpacket, an abstract socket's path starts with ``@``.
"""

from __future__ import annotations

import ipaddress
import sys
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal

from why502.facts.net import format_endpoint as format_endpoint

ByteOrder = Literal["little", "big"]

# include/net/tcp_states.h
TCP_STATES: dict[int, str] = {
    0x01: "ESTABLISHED",
    0x02: "SYN_SENT",
    0x03: "SYN_RECV",
    0x04: "FIN_WAIT1",
    0x05: "FIN_WAIT2",
    0x06: "TIME_WAIT",
    0x07: "CLOSE",
    0x08: "CLOSE_WAIT",
    0x09: "LAST_ACK",
    0x0A: "LISTEN",
    0x0B: "CLOSING",
    0x0C: "NEW_SYN_RECV",
}

UNIX_TYPES: dict[int, str] = {1: "stream", 2: "dgram", 5: "seqpacket"}
SO_ACCEPTCON = 0x10000  # include/linux/net.h __SO_ACCEPTCON: "performed a listen"


@dataclass(frozen=True)
class TcpEntry:
    """One row of ``/proc/net/tcp`` or ``/proc/net/tcp6``."""

    proto: str  # "tcp" | "tcp6"
    local_address: str  # "127.0.0.1", "::1", "::ffff:127.0.0.1"
    local_port: int
    remote_address: str
    remote_port: int
    state: str  # "LISTEN", "TIME_WAIT", ...
    tx_queue: int
    rx_queue: int  # for LISTEN: connections waiting in the accept queue
    uid: int
    inode: int

    @property
    def listening(self) -> bool:
        return self.state == "LISTEN"


@dataclass(frozen=True)
class UnixEntry:
    """One row of ``/proc/net/unix``."""

    path: str | None  # None for unnamed sockets; "@name" for abstract ones
    type: str  # "stream" | "dgram" | "seqpacket" | "type-N"
    flags: int
    state: int
    inode: int

    @property
    def listening(self) -> bool:
        return bool(self.flags & SO_ACCEPTCON)


def decode_address(hexaddr: str, byteorder: ByteOrder = sys.byteorder) -> tuple[str, int]:
    """``"0100007F:1F90"`` -> ``("127.0.0.1", 8080)``; IPv6 has four native-endian words.

    ``byteorder`` is the byte order of the machine that wrote the text (the default: this one),
    so recorded fixtures from a little-endian host stay parseable anywhere.
    """
    addr_hex, _, port_hex = hexaddr.partition(":")
    if len(addr_hex) not in (8, 32) or not port_hex:
        raise ValueError(f"not a /proc/net address: {hexaddr!r}")
    raw = b"".join(int(addr_hex[i : i + 8], 16).to_bytes(4, byteorder) for i in range(0, len(addr_hex), 8))
    if len(raw) == 4:
        return str(ipaddress.IPv4Address(raw)), int(port_hex, 16)
    ip6 = ipaddress.IPv6Address(raw)
    if ip6.ipv4_mapped is not None:  # print ::ffff:127.0.0.1 on every Python version
        return f"::ffff:{ip6.ipv4_mapped}", int(port_hex, 16)
    return str(ip6), int(port_hex, 16)


def parse_tcp_table(text: str, proto: str = "tcp", byteorder: ByteOrder = sys.byteorder) -> list[TcpEntry]:
    """Parse the text of ``/proc/net/tcp`` (``proto="tcp"``) or ``/proc/net/tcp6``.

    Lines that do not have the expected columns are skipped (the header, truncated reads).
    """
    entries: list[TcpEntry] = []
    for line in text.splitlines():
        cols = line.split()
        if len(cols) < 10 or not cols[0].endswith(":") or not cols[0][:-1].isdigit():
            continue
        try:
            local, lport = decode_address(cols[1], byteorder)
            remote, rport = decode_address(cols[2], byteorder)
            state_num = int(cols[3], 16)
            tx_hex, _, rx_hex = cols[4].partition(":")
            entries.append(
                TcpEntry(
                    proto=proto,
                    local_address=local,
                    local_port=lport,
                    remote_address=remote,
                    remote_port=rport,
                    state=TCP_STATES.get(state_num, f"0x{state_num:02X}"),
                    tx_queue=int(tx_hex, 16),
                    rx_queue=int(rx_hex or "0", 16),
                    uid=int(cols[7]),
                    inode=int(cols[9]),
                )
            )
        except ValueError:
            continue
    return entries


def parse_unix_table(text: str) -> list[UnixEntry]:
    """Parse the text of ``/proc/net/unix``; the path column may be absent (unnamed sockets)."""
    entries: list[UnixEntry] = []
    for line in text.splitlines():
        cols = line.split(None, 7)
        if len(cols) < 7 or not cols[0].endswith(":"):
            continue
        try:
            flags = int(cols[3], 16)
            type_num = int(cols[4], 16)
            state = int(cols[5], 16)
            inode = int(cols[6])
        except ValueError:
            continue
        path = cols[7].rstrip("\n") if len(cols) > 7 else None
        entries.append(
            UnixEntry(
                path=path or None,
                type=UNIX_TYPES.get(type_num, f"type-{type_num}"),
                flags=flags,
                state=state,
                inode=inode,
            )
        )
    return entries


def state_counts_by_remote_port(entries: Iterable[TcpEntry], state: str = "TIME_WAIT") -> dict[int, int]:
    """How many sockets in ``state`` per remote port (e.g. TIME_WAIT to the backend's port).

    Why: thousands of TIME_WAIT sockets towards one backend port with no upstream ``keepalive``
    are the signature of ephemeral port exhaustion (``(99: Cannot assign requested address)``).
    """
    counts: Counter[int] = Counter(e.remote_port for e in entries if e.state == state)
    return dict(counts.most_common())


def state_counts(entries: Iterable[TcpEntry]) -> dict[str, int]:
    """Socket count per TCP state, most frequent first."""
    return dict(Counter(e.state for e in entries).most_common())
