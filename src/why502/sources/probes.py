"""Live, read-only probes of one upstream target: DNS, connect, protocol, TLS.

Why: the error log says what nginx saw *then*; a probe says what the target does *now*, in the
same terms (errno names nginx prints, ``wrong version number``, "not HTTP").  Every step has a
short timeout and nothing changes state on the backend:

- DNS: ``getaddrinfo()`` for both families, all addresses — nginx resolves names in
  ``proxy_pass``/``server`` at start-up with the system resolver and tries each address as its own
  peer (``src/core/ngx_inet.c`` ``ngx_inet_resolve_host()``).
- connect: every address in turn (or the unix socket), capturing the errno (``ECONNREFUSED`` →
  ``connection-refused``, ``ENOENT`` → ``socket-not-found``, ``EACCES`` → ``permission-denied``,
  ``EAGAIN`` on a unix socket → ``backlog-full``, timeout → ``connect-timeout``).
- protocol: ``GET / HTTP/1.1`` with ``Connection: close`` for HTTP targets (the status line is
  parsed; TLS alerts, FastCGI records, HTTP/2 frames and an empty close are recognised as "not
  HTTP"); a FastCGI ``FCGI_GET_VALUES`` management record for ``fastcgi_pass`` targets (answered
  by PHP-FPM's worker without running any script, FastCGI spec 4.1; php-src
  ``main/fastcgi.c`` ``fcgi_read_request()``); the HTTP/2 connection preface for plaintext
  ``grpc://``; uwsgi/SCGI/memcached are connect-only (any request would run the application).
- TLS (``https``/``grpcs``): a handshake without SNI (nginx's default, ``proxy_ssl_server_name
  off``), one with SNI, and a verifying one (``proxy_ssl_verify on`` would fail the same way).

Tests run these against real servers on loopback (``tests/test_sources_probes.py``).
"""

from __future__ import annotations

import contextlib
import errno as errno_mod
import ipaddress
import os
import re
import socket
import ssl
import struct
import threading
import time
from typing import Any, Protocol

from why502.facts.probes import ConnectAttempt, DnsResult, ProtocolResult, TlsAttempt
from why502.facts.probes import ProbeResult as ProbeResult  # what probe() returns
from why502.facts.probes import ProbeTarget as ProbeTarget  # what probe() takes
from why502.textutil import strip_terminal_escapes

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


class TargetLike(Protocol):
    """Anything with the fields of ``why502.parsers.nginx_config.Target`` that a probe needs."""

    @property
    def kind(self) -> str: ...

    @property
    def scheme(self) -> str | None: ...

    @property
    def host(self) -> str | None: ...

    @property
    def port(self) -> int | None: ...

    @property
    def unix_path(self) -> str | None: ...


def as_probe_target(target: TargetLike | ProbeTarget) -> ProbeTarget:
    """Convert a config ``Target`` (duck-typed) into a ``ProbeTarget``."""
    if isinstance(target, ProbeTarget):
        return target
    kind = str(getattr(target, "kind", "proxy") or "proxy")
    scheme = getattr(target, "scheme", None) or ("grpc" if kind == "grpc" else "http")
    return ProbeTarget(
        kind=kind,
        scheme=str(scheme),
        host=getattr(target, "host", None),
        port=getattr(target, "port", None),
        unix_path=getattr(target, "unix_path", None),
        group=getattr(target, "group", None),
        uses_variables=bool(getattr(target, "uses_variables", False)),
    )


# --------------------------------------------------------------------------------------------
# steps


def _ms(start: float) -> float:
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
        return DnsResult(host, error=f"no answer within {timeout:g}s", elapsed_ms=_ms(start))
    if "error" in box:
        return DnsResult(host, error=str(box["error"]), elapsed_ms=_ms(start))
    addresses: list[str] = []
    for _family, _type, _proto, _canon, sockaddr in box.get("infos", []):
        addr = str(sockaddr[0])
        if addr not in addresses:
            addresses.append(addr)
    return DnsResult(host, addresses, elapsed_ms=_ms(start))


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
        return None, ConnectAttempt(f"unix:{path}", False, elapsed_ms=_ms(start), **_errno_fields(err))
    sock.settimeout(timeout)
    return sock, ConnectAttempt(f"unix:{path}", True, elapsed_ms=_ms(start))


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
        return None, ConnectAttempt(label, False, elapsed_ms=_ms(start), **fields)
    return sock, ConnectAttempt(label, True, elapsed_ms=_ms(start))


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


def _read_some(sock: socket.socket | ssl.SSLSocket, limit: int = 4096) -> tuple[bytes, str | None]:
    """Read until a line ends, the peer closes, ``limit`` bytes or the socket's timeout."""
    data = b""
    try:
        while len(data) < limit:
            chunk = sock.recv(limit - len(data))
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


def http_probe(sock: socket.socket | ssl.SSLSocket, host_header: str, timeout: float) -> ProtocolResult:
    """``GET / HTTP/1.1``, ``Connection: close``; parse the status line, read no body, close.

    ``GET`` rather than ``HEAD``: some servers (``openssl s_server -www``) only answer ``GET``, and
    nginx itself forwards the client's method (usually ``GET``).  Only the status line is read.
    """
    start = time.monotonic()
    request = (
        f"GET / HTTP/1.1\r\nHost: {host_header}\r\nUser-Agent: why502-probe\r\n"
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
        return ProtocolResult("http", "http", status, what, detail=f"answered {what}", elapsed_ms=_ms(start))
    if answer == "empty":
        if end == "timeout":
            return ProtocolResult(
                "http",
                "timeout",
                detail=f"accepted the connection but sent nothing within {timeout:g}s",
                elapsed_ms=_ms(start),
            )
        if end == "reset":
            return ProtocolResult(
                "http", "reset", detail="reset the connection without answering", elapsed_ms=_ms(start)
            )
    return ProtocolResult("http", answer, first_bytes=repr(data[:32]), detail=what, elapsed_ms=_ms(start))


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
    try:
        while len(data) < 8 or len(data) < 8 + struct.unpack("!H", data[4:6])[0] + data[6]:
            chunk = sock.recv(4096)
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
                elapsed_ms=_ms(start),
            )
        if rtype == FCGI_UNKNOWN_TYPE or 1 <= rtype <= 11:
            return ProtocolResult(
                "fastcgi",
                "fastcgi",
                detail=f"FastCGI server answered with record type {rtype}",
                elapsed_ms=_ms(start),
            )
    answer, what = classify_answer(data)
    if answer == "empty":
        if end == "timeout":
            return ProtocolResult(
                "fastcgi",
                "timeout",
                detail=f"accepted the connection but no worker answered within {timeout:g}s "
                "(all workers busy, or not a FastCGI server)",
                elapsed_ms=_ms(start),
            )
        if end == "reset":
            return ProtocolResult(
                "fastcgi", "reset", detail="reset the connection without answering", elapsed_ms=_ms(start)
            )
        return ProtocolResult(
            "fastcgi",
            "empty",
            detail="closed the connection without answering FCGI_GET_VALUES",
            elapsed_ms=_ms(start),
        )
    hint = {
        "http": f"not FastCGI: answered {what} — this port speaks HTTP (proxy_pass, not fastcgi_pass)",
        "tls": f"not FastCGI: {what}",
    }.get(answer, f"not FastCGI: {what}")
    return ProtocolResult("fastcgi", answer, first_bytes=repr(data[:32]), detail=hint, elapsed_ms=_ms(start))


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
            "http2", "http2", detail="answered the HTTP/2 preface with a frame", elapsed_ms=_ms(start)
        )
    if answer == "empty" and end == "timeout":
        return ProtocolResult(
            "http2", "timeout", detail=f"sent nothing within {timeout:g}s", elapsed_ms=_ms(start)
        )
    return ProtocolResult("http2", answer, first_bytes=repr(data[:32]), detail=what, elapsed_ms=_ms(start))


def _ssl_reason(err: BaseException) -> str:
    """OpenSSL's reason text in nginx's spelling: ``WRONG_VERSION_NUMBER`` -> ``wrong version number``."""
    reason = getattr(err, "reason", None)
    if isinstance(err, ssl.SSLCertVerificationError):
        return f"certificate verify failed: {err.verify_message}"
    if reason:
        return str(reason).lower().replace("_", " ")
    if isinstance(err, (TimeoutError, socket.timeout)):
        return "handshake timed out"
    if isinstance(err, ssl.SSLEOFError) or "EOF" in str(err):
        return "unexpected eof while reading"
    if isinstance(err, OSError) and err.errno:
        return os.strerror(err.errno)
    return str(err)


def tls_handshake(
    address: tuple[int, Any], mode: str, server_name: str | None, timeout: float
) -> tuple[ssl.SSLSocket | None, TlsAttempt]:
    """One handshake on a fresh connection.  ``mode="verify"`` checks the chain and the name."""
    family, sockaddr = address
    start = time.monotonic()
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    if mode == "verify":
        ctx.load_default_certs()
        ctx.check_hostname = server_name is not None
        ctx.verify_mode = ssl.CERT_REQUIRED
    else:
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
    raw = socket.socket(family, socket.SOCK_STREAM)
    raw.settimeout(timeout)
    try:
        raw.connect(sockaddr)
    except OSError as err:
        raw.close()
        return None, TlsAttempt(
            mode, server_name, False, error=f"connect: {_ssl_reason(err)}", elapsed_ms=_ms(start)
        )
    try:
        tls = ctx.wrap_socket(raw, server_hostname=server_name if mode != "no-sni" else None)
    except ssl.SSLCertVerificationError as err:
        raw.close()
        return None, TlsAttempt(
            mode,
            server_name,
            False,
            error=_ssl_reason(err),
            verify_code=err.verify_code,
            verify_error=err.verify_message,
            elapsed_ms=_ms(start),
        )
    except (OSError, ssl.SSLError) as err:
        raw.close()
        return None, TlsAttempt(mode, server_name, False, error=_ssl_reason(err), elapsed_ms=_ms(start))
    subject = None
    with contextlib.suppress(ValueError, OSError):
        der = tls.getpeercert(binary_form=True)
        if der and mode == "verify":
            cert = tls.getpeercert()
            subject = ", ".join("=".join(x) for rdn in cert.get("subject", ()) for x in rdn) if cert else None
    cipher = tls.cipher()
    return tls, TlsAttempt(
        mode,
        server_name,
        True,
        version=tls.version(),
        cipher=cipher[0] if cipher else None,
        subject=subject,
        elapsed_ms=_ms(start),
    )


# --------------------------------------------------------------------------------------------
# the probe


def probe(target: TargetLike | ProbeTarget, timeout: float = 2.0) -> ProbeResult:
    """Probe ``target`` (DNS, connect, protocol, TLS) with ``timeout`` seconds per step."""
    t = as_probe_target(target)
    start = time.monotonic()
    dns: DnsResult | None = None
    attempts: list[ConnectAttempt] = []
    tls_attempts: list[TlsAttempt] = []
    protocol: ProtocolResult | None = None
    sock: socket.socket | None = None
    connected_family: int | None = None
    connected_sockaddr: Any = None

    def done(
        ok: bool, error: str | None, err_no: int | None, detail: str, symptom: str | None
    ) -> ProbeResult:
        if sock is not None:
            sock.close()
        return ProbeResult(
            t,
            dns,
            attempts,
            protocol,
            tls_attempts,
            ok,
            error,
            err_no,
            _ms(start),
            f"{t.label}: {detail}",
            symptom,
        )

    if t.group and not t.unix_path and t.port is None:
        why = f"names upstream group {t.group!r}: probe each of its servers"
        return done(False, "not probed", None, why, None)
    if t.uses_variables:
        return done(False, "not probed", None, "the address uses variables: known only per request", None)
    if t.unix_path:
        sock, attempt = connect_unix(t.unix_path, timeout)
        attempts.append(attempt)
        connected_family, connected_sockaddr = socket.AF_UNIX, t.unix_path
    else:
        port = t.effective_port
        if not t.host or port is None:
            return done(False, "no host or port to probe", None, "no host or port to probe", None)
        dns = resolve(t.host, port, timeout)
        if dns.error or not dns.addresses:
            return done(
                False,
                f"DNS: {dns.error or 'no addresses'}",
                None,
                f"{t.host} does not resolve ({dns.error or 'no addresses'})",
                "dns-failure",
            )
        for addr in dns.addresses:
            s, attempt = connect_tcp(addr, port, timeout)
            attempts.append(attempt)
            if s is not None and sock is None:
                sock = s
                connected_family = s.family
                connected_sockaddr = s.getpeername()
            elif s is not None:
                s.close()
    if sock is None:
        first = attempts[0]
        names = ", ".join(f"{a.address} {a.errno_name or a.error}" for a in attempts)
        return done(
            False,
            (first.error or "connect failed").lower(),
            first.errno,
            f"connect() failed: {names}",
            first.symptom,
        )

    failed = [a for a in attempts if not a.ok]
    partial = (
        f" ({len(failed)} of {len(attempts)} addresses failed: "
        + ", ".join(f"{a.address} {a.errno_name}" for a in failed)
        + ")"
        if failed
        else ""
    )
    host_header = t.host or "localhost"

    if t.kind == "fastcgi":
        protocol = fastcgi_probe(sock, timeout)
        if protocol.answer == "fastcgi":
            return done(True, None, None, protocol.detail + partial, None)
        symptom = "workers-exhausted" if protocol.answer == "timeout" else "protocol-mismatch"
        return done(False, protocol.detail, None, protocol.detail + partial, symptom)

    if t.kind in ("uwsgi", "scgi", "memcached"):
        protocol = ProtocolResult(
            "none", "skipped", detail=f"connected; no {t.kind} request sent (it would run the application)"
        )
        return done(True, None, None, protocol.detail + partial, None)

    if t.tls:
        sock.close()
        sock = None
        assert connected_family is not None
        peer: tuple[int, Any] = (connected_family, connected_sockaddr)
        sni_name: str | None = None
        if t.host and not _is_ip(t.host):
            sni_name = t.host
        # One connection at a time: single-threaded backends (openssl s_server, a PHP-FPM pool with
        # one child) would otherwise stall the second handshake behind the first.
        tls_sock, first_try = tls_handshake(peer, "no-sni", None, timeout)
        tls_attempts.append(first_try)
        if tls_sock is not None:
            if t.kind == "grpc":
                protocol = http2_probe(tls_sock, timeout)
            else:
                protocol = http_probe(tls_sock, host_header, timeout)
            tls_sock.close()
        s2, sni_try = tls_handshake(peer, "sni", sni_name or host_header, timeout)
        tls_attempts.append(sni_try)
        if s2 is not None:
            s2.close()
        s3, verify_try = tls_handshake(peer, "verify", sni_name, timeout)
        tls_attempts.append(verify_try)
        if s3 is not None:
            s3.close()
        verify_note = (
            ""
            if verify_try.ok
            else f"; certificate not verifiable: {verify_try.verify_error or verify_try.error}"
        )
        if tls_sock is None and sni_try.ok:
            return done(
                False,
                f"TLS without SNI failed: {first_try.error}",
                None,
                f"TLS handshake fails without SNI ({first_try.error}) but works with SNI "
                f"{sni_try.server_name!r}: set proxy_ssl_server_name on",
                "tls-failure",
            )
        if tls_sock is None or protocol is None:
            wrong = "wrong version number" in (first_try.error or "")
            hint = " — this port speaks plain text, not TLS" if wrong else ""
            return done(
                False,
                f"TLS handshake failed: {first_try.error}",
                None,
                f"TLS handshake failed: {first_try.error}{hint}",
                "tls-failure",
            )
        tls_text = f"TLS ok ({first_try.version}){verify_note}; "
    else:
        protocol = http2_probe(sock, timeout) if t.kind == "grpc" else http_probe(sock, host_header, timeout)
        tls_text = ""

    expected = "http2" if t.kind == "grpc" else "http"
    if protocol.answer == expected:
        return done(True, None, None, tls_text + protocol.detail + partial, None)
    if protocol.answer == "timeout":
        return done(
            False,
            f"no answer: {protocol.detail}",
            errno_mod.ETIMEDOUT,
            tls_text + protocol.detail + partial,
            "read-timeout",
        )
    hint = {
        "tls": " — this port speaks TLS (https:// / proxy_ssl)",
        "fastcgi": " — this port speaks FastCGI (fastcgi_pass, not proxy_pass)",
        "http2": " — this port speaks HTTP/2 only (grpc_pass?)",
        "http": " — this port speaks HTTP/1, not HTTP/2",
    }.get(protocol.answer, "")
    if protocol.answer in ("tls", "fastcgi", "http2", "http", "unknown"):
        symptom = "protocol-mismatch"
    elif protocol.answer == "empty":
        symptom = "premature-close"
    else:
        symptom = "connection-reset"
    return done(
        False,
        f"not {expected.upper()}: {protocol.detail}",
        None,
        f"{tls_text}not {expected.upper()}: {protocol.detail}{hint}{partial}",
        symptom,
    )


def _is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


def probe_all(targets: list[TargetLike | ProbeTarget], timeout: float = 2.0) -> list[ProbeResult]:
    """Probe each distinct target once, in order."""
    seen: dict[ProbeTarget, ProbeResult] = {}
    out: list[ProbeResult] = []
    for target in targets:
        t = as_probe_target(target)
        if t not in seen:
            seen[t] = probe(t, timeout)
        out.append(seen[t])
    return out
