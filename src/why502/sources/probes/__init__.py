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

Steps: ``connect`` (DNS, connect), ``protocols`` (HTTP, FastCGI, HTTP/2), ``tls``; ``probe`` here
runs them in order.  Tests run these against real servers on loopback
(``tests/sources/test_sources_probes.py``).
"""


from __future__ import annotations

import errno as errno_mod
import ipaddress
import socket
import time
from typing import Any, Protocol

from why502.facts.probes import ConnectAttempt, DnsResult, ProtocolResult, TlsAttempt
from why502.facts.probes import ProbeResult as ProbeResult  # what probe() returns
from why502.facts.probes import ProbeTarget as ProbeTarget  # what probe() takes
from why502.sources.probes.connect import connect_tcp, connect_unix, ms_since, resolve
from why502.sources.probes.dnsask import ask
from why502.sources.probes.protocols import fastcgi_probe, http2_probe, http_probe
from why502.sources.probes.tls import tls_handshake


class TargetLike(Protocol):
    """Anything with the fields of ``why502.proxies.nginx.config.Target`` that a probe needs."""

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
        resolvers=tuple(getattr(target, "resolvers", ()) or ()),
    )


def probe(target: TargetLike | ProbeTarget, timeout: float = 2.0, *, path: str = "/") -> ProbeResult:
    """Probe ``target`` (DNS, connect, protocol, TLS) with ``timeout`` seconds per step; an HTTP
    target is asked ``GET path`` (a health-check URL, ``why502 watch --probe-path``)."""
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
            ms_since(start),
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
        # a name the proxy resolves through its own nameserver is asked of that one
        # (``dnsask``): the host's resolver may answer another question
        dns = ask(t.host, t.resolvers[0], timeout) if t.resolvers and not _is_ip(t.host) else resolve(
            t.host, port, timeout)
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
                protocol = http_probe(tls_sock, host_header, timeout, path)
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
        protocol = (http2_probe(sock, timeout) if t.kind == "grpc"
                    else http_probe(sock, host_header, timeout, path))
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
