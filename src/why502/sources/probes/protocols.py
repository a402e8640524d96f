"""The protocol step: what the target answers (``GET / HTTP/1.1`` with ``Connection: close``, a
FastCGI ``FCGI_GET_VALUES`` management record, the HTTP/2 preface), named as nginx would see it
(HTTP, FastCGI, HTTP/2, TLS alert, empty close, reset)."""

from __future__ import annotations

import errno as errno_mod
import os
import re
import socket
import ssl
import struct
import time

from why502.facts.probes import ProtocolResult
from why502.sources.probes.connect import ms_since
from why502.textutil import strip_terminal_escapes


def _enough(data: bytes) -> bool:
    """Enough bytes to name the protocol: a line, a TLS record header, a FastCGI record header,
    or an HTTP/2 SETTINGS/GOAWAY frame header (servers then wait for us, so don't wait for more)."""
    if b"\n" in data:
        return True
    if len(data) >= 5 and data[0] in (0x15, 0x16) and data[1] == 0x03:
        return len(data) >= 7 or data[0] == 0x16
    if len(data) >= 8 and data[0] == 0x01:
        return True
    return len(data) >= 9 and data[3] in (0x04, 0x07)


def _recv(sock: socket.socket | ssl.SSLSocket, n: int, deadline: float) -> bytes:
    """``recv`` with what is left until ``deadline`` as its timeout.  The probe's timeout is for
    the whole answer: a socket timeout bounds each ``recv`` only, so a server sending one byte
    just within it held a probe for ``limit`` x ``timeout`` (4096 x 2 s; 65536 x 2 s for
    FastCGI)."""
    left = deadline - time.monotonic()
    if left <= 0:
        raise TimeoutError("probe deadline")
    sock.settimeout(left)
    return sock.recv(n)


def _deadline(sock: socket.socket | ssl.SSLSocket) -> float:
    """Now plus the socket's timeout (set by the caller to the probe's)."""
    timeout = sock.gettimeout()
    return time.monotonic() + (timeout if timeout is not None else 3600.0)


def _read_some(sock: socket.socket | ssl.SSLSocket, limit: int = 4096) -> tuple[bytes, str | None]:
    """Read until a line ends, the peer closes, ``limit`` bytes or the socket's timeout, which
    bounds the whole read."""
    data = b""
    deadline = _deadline(sock)
    try:
        while len(data) < limit:
            chunk = _recv(sock, limit - len(data), deadline)
            if not chunk:
                return data, "closed"
            data += chunk
            if _enough(data):
                return data, None
    except TimeoutError:
        return data, "timeout"
    except ssl.SSLError as err:
        return data, f"tls: {err.reason or err}"
    except OSError as err:
        if err.errno == errno_mod.ECONNRESET:
            return data, "reset"
        return data, os.strerror(err.errno) if err.errno else str(err)
    return data, None


_STATUS_LINE = re.compile(rb"^HTTP/(\d)(?:\.(\d))? (\d{3})(?: ([^\r\n]*))?")


def classify_answer(data: bytes) -> tuple[str, str]:
    """Name what a server sent: ``("http", ...)``, ``("tls", "TLS alert ...")``, ``("fastcgi", ...)``.

    The recognisers are byte-level facts of each protocol: a TLS record starts with content type
    21 (alert) or 22 (handshake) and major version 3 (RFC 8446 5.1); a FastCGI record with version
    1 and a type 1..11 (FastCGI spec 3.3); an HTTP/2 frame has its type in byte 4 (RFC 9113 4.1).
    """
    if not data:
        return "empty", "closed the connection without answering"
    if data.startswith(b"HTTP/"):
        # the status line is the backend's text: make it inert before it reaches a terminal
        return "http", strip_terminal_escapes(data.split(b"\r\n", 1)[0].split(b"\n", 1)[0].decode("latin-1"))[
            :200
        ]
    if len(data) >= 2 and data[0] in (0x15, 0x16) and data[1] == 0x03:
        kind = "alert" if data[0] == 0x15 else "handshake"
        extra = ""
        if data[0] == 0x15 and len(data) >= 7:
            extra = f" (level {data[5]}, description {data[6]})"
        return "tls", f"TLS {kind} record{extra}: this port speaks TLS"
    if len(data) >= 8 and data[0] == 1 and 1 <= data[1] <= 11:
        return "fastcgi", f"FastCGI record type {data[1]}: this port speaks FastCGI"
    if len(data) >= 9 and data[3] in (0x04, 0x07) and data[5:9] == b"\x00\x00\x00\x00":
        return "http2", "an HTTP/2 frame: this port speaks HTTP/2 (gRPC?)"
    if data.startswith(b"SSH-"):
        return "unknown", "an SSH banner"
    return "unknown", f"an unrecognised answer {data[:24]!r}"


HEADER_READ_LIMIT = 256 << 10  # bytes of a response header the probe reads at most


def _header_size(sock: socket.socket | ssl.SSLSocket, data: bytes,
                 limit: int = HEADER_READ_LIMIT) -> int | None:
    """How many bytes the response's status line and headers take (to the blank line that ends
    them), reading on from ``data`` up to ``limit`` bytes within the socket's timeout; None when
    they do not end there (what a proxy's header buffer is compared with: ``header-too-big``)."""
    deadline = _deadline(sock)
    try:
        while b"\r\n\r\n" not in data and len(data) < limit:
            chunk = _recv(sock, min(65536, limit - len(data)), deadline)
            if not chunk:
                break
            data += chunk
    except (TimeoutError, OSError):
        pass
    end = data.find(b"\r\n\r\n")
    return end + 4 if end >= 0 else None


def http_probe(sock: socket.socket | ssl.SSLSocket, host_header: str, timeout: float,
               path: str = "/") -> ProtocolResult:
    """``GET <path> HTTP/1.1`` (``/`` unless a health-check path is given), ``Connection: close``;
    parse the status line, read no body, close.

    ``GET`` rather than ``HEAD``: some servers (``openssl s_server -www``) only answer ``GET``, and
    nginx itself forwards the client's method (usually ``GET``).  Only the status line is read.
    """
    start = time.monotonic()
    request = (
        f"GET {path} HTTP/1.1\r\nHost: {host_header}\r\nUser-Agent: why502-probe\r\n"
        "Accept: */*\r\nConnection: close\r\n\r\n"
    ).encode("ascii", "replace")
    sock.settimeout(timeout)
    try:
        sock.sendall(request)
    except OSError as err:
        return ProtocolResult("http", "reset", detail=f"sending failed: {os.strerror(err.errno or 0)}")
    data, end = _read_some(sock)
    answer, what = classify_answer(data)
    if answer == "http":
        m = _STATUS_LINE.match(data)
        status = int(m.group(3)) if m else None
        size = _header_size(sock, data) if end in (None, "closed") else None
        return ProtocolResult("http", "http", status, what, detail=f"answered {what}",
                              elapsed_ms=ms_since(start),
                              values={"header_bytes": str(size)} if size else {})
    if answer == "empty":
        if end == "timeout":
            return ProtocolResult(
                "http",
                "timeout",
                detail=f"accepted the connection but sent nothing within {timeout:g}s",
                elapsed_ms=ms_since(start),
            )
        if end == "reset":
            return ProtocolResult(
                "http", "reset", detail="reset the connection without answering", elapsed_ms=ms_since(start)
            )
    return ProtocolResult("http", answer, first_bytes=repr(data[:32]), detail=what,
                          elapsed_ms=ms_since(start))


# FastCGI (https://fastcgi-archives.github.io/FastCGI_Specification.html): record header
# version(1) type(1) requestId(2) contentLength(2) paddingLength(1) reserved(1).
FCGI_GET_VALUES = 9
FCGI_GET_VALUES_RESULT = 10
FCGI_UNKNOWN_TYPE = 11


def _fcgi_pair(name: bytes, value: bytes = b"") -> bytes:
    def length(n: int) -> bytes:
        return bytes([n]) if n < 128 else struct.pack("!I", n | 0x80000000)

    return length(len(name)) + length(len(value)) + name + value


def fcgi_get_values_record(
    names: tuple[str, ...] = ("FCGI_MAX_CONNS", "FCGI_MAX_REQS", "FCGI_MPXS_CONNS"),
) -> bytes:
    """A management record (requestId 0) asking for the given variables."""
    body = b"".join(_fcgi_pair(n.encode()) for n in names)
    pad = (8 - len(body) % 8) % 8
    return struct.pack("!BBHHBB", 1, FCGI_GET_VALUES, 0, len(body), pad, 0) + body + b"\x00" * pad


def parse_fcgi_pairs(body: bytes) -> dict[str, str]:
    """Decode FastCGI name-value pairs (1- or 4-byte lengths)."""
    out: dict[str, str] = {}
    i = 0

    def length() -> int:
        nonlocal i
        if body[i] & 0x80:
            n = struct.unpack("!I", body[i : i + 4])[0] & 0x7FFFFFFF
            i += 4
        else:
            n = body[i]
            i += 1
        return int(n)

    try:
        while i < len(body):
            nlen = length()
            vlen = length()
            name = body[i : i + nlen].decode("latin-1")
            i += nlen
            out[name] = body[i : i + vlen].decode("latin-1")
            i += vlen
    except (IndexError, struct.error):
        pass
    return out


def fastcgi_probe(sock: socket.socket, timeout: float) -> ProtocolResult:
    """Send ``FCGI_GET_VALUES``; PHP-FPM answers ``FCGI_GET_VALUES_RESULT`` without running PHP.

    No answer within ``timeout`` after a successful connect means no worker accepted the
    connection: every PHP-FPM child is busy (the connection waits in the listen backlog).
    """
    start = time.monotonic()
    sock.settimeout(timeout)
    try:
        sock.sendall(fcgi_get_values_record())
    except OSError as err:
        return ProtocolResult("fastcgi", "reset", detail=f"sending failed: {os.strerror(err.errno or 0)}")
    data = b""
    end: str | None = None
    deadline = _deadline(sock)
    try:
        while len(data) < 8 or len(data) < 8 + struct.unpack("!H", data[4:6])[0] + data[6]:
            chunk = _recv(sock, 4096, deadline)
            if not chunk:
                end = "closed"
                break
            data += chunk
            if len(data) > 65536:
                break
    except TimeoutError:
        end = "timeout"
    except OSError as err:
        end = (
            "reset"
            if err.errno == errno_mod.ECONNRESET
            else (os.strerror(err.errno) if err.errno else str(err))
        )
    if len(data) >= 8 and data[0] == 1:
        rtype = data[1]
        clen = struct.unpack("!H", data[4:6])[0]
        if rtype == FCGI_GET_VALUES_RESULT:
            values = parse_fcgi_pairs(data[8 : 8 + clen])
            shown = ", ".join(f"{k}={v}" for k, v in values.items())
            return ProtocolResult(
                "fastcgi",
                "fastcgi",
                values=values,
                detail=f"FastCGI server answered FCGI_GET_VALUES ({shown or 'no values'})",
                elapsed_ms=ms_since(start),
            )
        if rtype == FCGI_UNKNOWN_TYPE or 1 <= rtype <= 11:
            return ProtocolResult(
                "fastcgi",
                "fastcgi",
                detail=f"FastCGI server answered with record type {rtype}",
                elapsed_ms=ms_since(start),
            )
    answer, what = classify_answer(data)
    if answer == "empty":
        if end == "timeout":
            return ProtocolResult(
                "fastcgi",
                "timeout",
                detail=f"accepted the connection but no worker answered within {timeout:g}s "
                "(all workers busy, or not a FastCGI server)",
                elapsed_ms=ms_since(start),
            )
        if end == "reset":
            return ProtocolResult(
                "fastcgi", "reset", detail="reset the connection without answering",
                elapsed_ms=ms_since(start)
            )
        return ProtocolResult(
            "fastcgi",
            "empty",
            detail="closed the connection without answering FCGI_GET_VALUES",
            elapsed_ms=ms_since(start),
        )
    hint = {
        "http": f"not FastCGI: answered {what} — this port speaks HTTP (proxy_pass, not fastcgi_pass)",
        "tls": f"not FastCGI: {what}",
    }.get(answer, f"not FastCGI: {what}")
    return ProtocolResult("fastcgi", answer, first_bytes=repr(data[:32]), detail=hint,
                          elapsed_ms=ms_since(start))


_H2_PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n" + b"\x00\x00\x00\x04\x00\x00\x00\x00\x00"


def http2_probe(sock: socket.socket | ssl.SSLSocket, timeout: float) -> ProtocolResult:
    """Send the HTTP/2 client preface and an empty SETTINGS frame; expect a SETTINGS frame."""
    start = time.monotonic()
    sock.settimeout(timeout)
    try:
        sock.sendall(_H2_PREFACE)
    except OSError as err:
        return ProtocolResult("http2", "reset", detail=f"sending failed: {os.strerror(err.errno or 0)}")
    data, end = _read_some(sock, 64)
    answer, what = classify_answer(data)
    if answer == "http2":
        return ProtocolResult(
            "http2", "http2", detail="answered the HTTP/2 preface with a frame", elapsed_ms=ms_since(start)
        )
    if answer == "empty" and end == "timeout":
        return ProtocolResult(
            "http2", "timeout", detail=f"sent nothing within {timeout:g}s", elapsed_ms=ms_since(start)
        )
    return ProtocolResult("http2", answer, first_bytes=repr(data[:32]), detail=what,
                          elapsed_ms=ms_since(start))
