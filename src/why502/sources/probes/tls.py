"""The TLS step: a handshake the way nginx makes it (no SNI unless ``proxy_ssl_server_name on``),
one with SNI and a verifying one (``proxy_ssl_verify on``), with OpenSSL's reason in nginx's
words (``wrong version number``)."""

from __future__ import annotations

import contextlib
import os
import socket
import ssl
import time
from typing import Any

from why502.facts.probes import TlsAttempt
from why502.sources.probes.connect import ms_since


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
            mode, server_name, False, error=f"connect: {_ssl_reason(err)}", elapsed_ms=ms_since(start)
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
            elapsed_ms=ms_since(start),
        )
    except (OSError, ssl.SSLError) as err:
        raw.close()
        return None, TlsAttempt(mode, server_name, False, error=_ssl_reason(err), elapsed_ms=ms_since(start))
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
        elapsed_ms=ms_since(start),
    )
