"""Go's own error texts, as the reverse proxies written in Go (Caddy, Traefik) put them in their
logs (``dial tcp 127.0.0.1:9000: connect: connection refused``, ``net/http: timeout awaiting
response headers``, ``EOF``): ``go_error_code`` maps that text onto the vocabulary (the terms of
``catalog.terms.go_error_family``, in ``proxy_terms.toml``), for both.
"""

from __future__ import annotations

import datetime as dt
import re

# Go error texts -> the term code, most specific first.
# A TLS or DNS failure is written inside "dial tcp ...", so they come before the dial errors;
# Windows words refusal and reset its own way (WSAECONNREFUSED, WSAECONNRESET).  The go-proxy
# patterns (catalog/data/patterns.toml) read the same texts outside an access log.
_GO_ERRORS: tuple[tuple[str, str], ...] = (
    ("no upstreams available", "no upstreams available"),
    # Caddy v1's word for the same state (caddyhttp/proxy/proxy.go errUnreachable), 502 there
    ("unreachable backend", "no upstreams available"),
    ("unknown network", "unknown network"),
    ("unsupported protocol scheme", "unsupported protocol scheme"),
    ("x509: ", "TLS"),
    ("tls: ", "TLS"),
    ("remote error: tls", "TLS"),
    ("no such host", "no such host"),
    (": lookup ", "DNS lookup"),
    # a unix socket's connect errno (Go: "dial unix PATH: connect: " + the errno's text)
    ("connect: no such file or directory", "no such file or directory"),
    ("connect: permission denied", "permission denied"),
    # EAGAIN: the socket's listen backlog is full (Linux net/unix/af_unix.c unix_stream_connect()
    # answers a non-blocking connect so, and Go dials non-blocking: src/net/fd_unix.go connect()
    # returns any errno but EINPROGRESS/EALREADY/EINTR at once), nginx's "(11: Resource
    # temporarily unavailable)": every worker of the pool is busy and its queue is full
    ("connect: resource temporarily unavailable", "resource temporarily unavailable"),
    ("connection refused", "connection refused"),
    ("actively refused", "connection refused"),
    ("no route to host", "no route to host"),
    ("timeout awaiting response headers", "timeout awaiting response headers"),
    # the upstream's response headers past the transport's MaxResponseHeaderBytes (Go's
    # src/net/http/transport.go persistConn.readLoop(): "net/http: server response headers
    # exceeded %d bytes; aborted"; Caddy's ``max_response_header``): the proxy's header limit
    ("server response headers exceeded", "server response headers exceeded"),
    ("i/o timeout", "i/o timeout"),
    ("connection reset by peer", "connection reset by peer"),
    ("forcibly closed by the remote host", "connection reset by peer"),
    ("goaway", "GOAWAY"),
    ("malformed", "malformed"),
    # Caddy's FastCGI transport reading a record whose version byte is not 1
    # (modules/caddyhttp/reverseproxy/fastcgi/record.go ``fill()``: errors.New("fcgi: invalid
    # header version")): what answered does not speak FastCGI (an HTTP server's "HTTP/1.1 400"
    # starts with "H", 72), the words of a php_fastcgi aimed at an HTTP port (stop 45)
    ("fcgi: invalid header version", "fcgi: invalid header version"),
    # gorilla/websocket client.go: ErrBadHandshake "websocket: bad handshake", "returned when the
    # server response to opening handshake is invalid" (not 101 Switching Protocols): the peer
    # answered, and not as the protocol wants -- an invalid response, as a malformed one is
    ("websocket: bad handshake", "malformed"),
    ("eof", "EOF"),
)
_DIAL = re.compile(r"dial tcp[46]? (\S+?): ")  # a unix socket: ``_UNIX`` (its identity key)
# A read past its deadline on an established connection (net.OpError Op "read": ``read tcp
# LOCAL->PEER: i/o timeout``, ``read unix @->PATH: i/o timeout``): the peer accepted and did not
# answer in time -- Caddy's FastCGI transport's ``read_timeout`` (modules/caddyhttp/reverseproxy/
# fastcgi: SetReadDeadline), not a dial timeout
_READ_TIMEOUT = re.compile(r"^read (?:tcp[46]?|unix) \S+: i/o timeout")
_READ = re.compile(r"read tcp \S+->(\S+?): ")
# a unix socket, named as the config's identity key ``unix:PATH`` (Go's net.OpError writes
# "dial unix PATH: ..." and "read unix @->PATH: ...": src/net/net.go OpError.Error())
_UNIX = re.compile(r"(?:dial unix |(?:read|write) unix \S*->)(/\S+?): ")


def go_error_code(msg: str) -> str | None:
    low = msg.lower()
    if _READ_TIMEOUT.search(low):
        return "read i/o timeout"
    for needle, code in _GO_ERRORS:
        if needle == "eof":
            if low == "eof" or low.endswith(": eof") or "unexpected eof" in low:
                return code
        elif needle in low:
            return code
    return None


def go_target(msg: str) -> str | None:
    """The peer a Go network error names (``dial tcp ADDR:``, ``read tcp LOCAL->ADDR:``)."""
    m = _DIAL.search(msg) or _READ.search(msg)
    if m:
        return m.group(1)
    u = _UNIX.search(msg)
    return f"unix:{u.group(1)}" if u else None


def clf_time(raw: str) -> str:
    """A Common Log Format time (``02/Jan/2006:15:04:05 -0700``) in ISO 8601, else as written."""
    try:
        return dt.datetime.strptime(raw, "%d/%b/%Y:%H:%M:%S %z").isoformat()
    except ValueError:
        return raw
