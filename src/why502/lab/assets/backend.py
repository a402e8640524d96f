"""A tiny, deliberately misbehaving backend for ``why502 lab`` (standard library only).

The lab copies this file into its temp dir and starts it with ``sys.executable``.  Each ``--mode``
reproduces one way a real backend makes nginx return 502/503/504; the bytes on the wire are what
matters, so the HTTP handling is written by hand on raw sockets instead of ``http.server`` (which
would always answer politely).

When the socket is listening the script creates ``--ready FILE`` so the lab can wait for it
without connecting (a connection would disturb the ``blackhole`` and ``keepalive-closer`` modes).
Only loopback addresses are accepted, plus ``10.251.0.0/16``: the addresses the lab gives to
the veth pairs it creates between its own network namespaces (never routed to the host).
"""

from __future__ import annotations

import argparse
import contextlib
import fcntl
import os
import select
import signal
import socket
import ssl
import struct
import sys
import termios
import threading
import time

LOOPBACK = {"127.0.0.1", "::1"}
LAB_NETNS_PREFIX = "10.251."  # lab-private namespaces only (runtime.Stack.link_netns)


def read_head(conn: socket.socket, pending: bytes = b"") -> tuple[bytes, bytes] | None:
    """Read up to the end of the request head; returns (head, rest) or None on EOF."""
    data = pending
    while b"\r\n\r\n" not in data:
        chunk = conn.recv(65536)
        if not chunk:
            return None
        data += chunk
        if not looks_like_http(data):
            # TLS ClientHello, a FastCGI record...: answer like any plain HTTP server would.
            conn.sendall(response("400 Bad Request", b"bad request\n"))
            return None
        if len(data) > 1 << 20:
            return None
    head, _, rest = data.partition(b"\r\n\r\n")
    return head, rest


def looks_like_http(data: bytes) -> bool:
    """True while ``data`` can still be the start of an HTTP/1.x request line."""
    method = data.split(b" ", 1)[0]
    return method[:16].isalpha() and method[:16].isupper() if method else True


def content_length(head: bytes) -> int:
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            try:
                return int(value.strip())
            except ValueError:
                return 0
    return 0


def read_body(conn: socket.socket, head: bytes, rest: bytes) -> bytes:
    """Consume the request body (Content-Length only; nginx never sends chunked upstream)."""
    need = content_length(head) - len(rest)
    leftover = b""
    while need > 0:
        chunk = conn.recv(min(need, 65536))
        if not chunk:
            break
        need -= len(chunk)
    if need < 0:
        leftover = rest[content_length(head):]
    return leftover


def response(status: str, body: bytes, extra: list[str] | None = None, keepalive: bool = False) -> bytes:
    lines = [f"HTTP/1.1 {status}", "Content-Type: text/plain", f"Content-Length: {len(body)}",
             "Connection: keep-alive" if keepalive else "Connection: close"]
    lines.extend(extra or [])
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


def wants_keepalive(head: bytes) -> bool:
    first = head.split(b"\r\n", 1)[0]
    lower = head.lower()
    if first.endswith(b"HTTP/1.0"):
        return b"connection: keep-alive" in lower
    return b"connection: close" not in lower


def request_path(head: bytes) -> str:
    parts = head.split(b"\r\n", 1)[0].split(b" ")
    return parts[1].decode("latin-1") if len(parts) > 1 else "/"


def queued(conn: socket.socket) -> int:
    """Bytes waiting in the socket's receive queue (``FIONREAD``, i.e. ``SIOCINQ``: tcp(7))."""
    out = fcntl.ioctl(conn.fileno(), termios.FIONREAD, b"\0\0\0\0")
    return int(struct.unpack("i", out)[0])


def close_while_sending(conn: socket.socket, read_bytes: int) -> None:
    """Take part of the body, then close with bytes unread *while nginx is in its write loop*.

    close() with unread data makes the kernel send a RST (RFC 1122 4.2.2.13).  nginx names the
    step it was in: a writev() that meets the RST logs ``... while sending request to upstream``,
    but a RST that lands while nginx waits in epoll for room wakes the read handler first
    (``ngx_epoll_process_events`` runs EPOLLIN before EPOLLOUT), which logs ``... while reading
    response header from upstream``.  Closing right after a recv() leaves that to the scheduler:
    on a loaded machine nginx has often filled both socket buffers and sleeps.  So once enough
    is read, drain the queue until it is empty -- then nginx's send buffer has been pushed out
    too, so nginx has megabytes of room and is in its writev() loop -- and close the moment its
    next bytes arrive.  Under six busy loops on two cores this met the writev() on 15 of 16
    first uploads, against 4 of 10 for closing right after the last recv().  Bounded: ~3 s.
    """
    got_bytes = 0
    while got_bytes < read_bytes:
        chunk = conn.recv(1 << 20)
        if not chunk:
            return
        got_bytes += len(chunk)
    deadline = time.monotonic() + 3.0
    while time.monotonic() < deadline:
        if queued(conn) == 0:
            select.select([conn], [], [], max(0.0, deadline - time.monotonic()))
            break
        if not conn.recv(1 << 20):
            return
    conn.close()


def serve_connection(conn: socket.socket, args: argparse.Namespace) -> None:
    served = 0
    last = time.monotonic()
    pending = b""
    try:
        if args.mode == "drip":
            # Whatever was asked (HTTP, a FastCGI record), one byte every ``delay`` s and never
            # a newline or a whole record: only a deadline on the whole read ends the wait.
            conn.recv(65536)
            for _ in range(1 << 20):
                conn.sendall(b"x")
                time.sleep(args.delay)
            return
        while True:
            got = read_head(conn, pending)
            if got is None:
                return
            head, rest = got
            idle = time.monotonic() - last
            mode = args.mode
            if args.fail_path and not request_path(head).startswith(args.fail_path):
                mode = "ok"  # only the buggy endpoint misbehaves; health checks still pass
            if mode == "banner":
                # Not HTTP at all (a Redis/memcached-style reply): nginx relays it as HTTP/0.9.
                conn.sendall(b"-ERR unknown command 'GET'\r\n")
                return
            if mode == "noread":
                # Never read the body: the kernel buffers fill and nginx's send stalls.
                time.sleep(args.delay)
                return
            if mode == "close-early":
                close_while_sending(conn, args.read_bytes - len(rest))
                return
            pending = read_body(conn, head, rest)
            keep = wants_keepalive(head) and mode in {"ok", "keepalive-closer", "slow"}
            if mode == "keepalive-closer" and served > 0 and idle > args.idle_timeout:
                # The backend's idle timer fired just as nginx reused the connection: the request
                # lands on a socket the backend is closing (RST because data is unread).
                conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                return
            if mode == "slow":
                time.sleep(args.delay)
            elif mode == "memhog":
                # A request that needs far more memory than the backend may have (a report
                # built in RAM): touch every page so the kernel must really charge it.
                hog = []
                for _ in range(args.alloc_mb):
                    hog.append(bytearray(b"x" * (1 << 20)))
                del hog
            elif mode == "crash":
                time.sleep(args.delay)
                os.kill(os.getpid(), signal.SIGKILL)
            elif mode == "reset":
                time.sleep(args.delay)
                conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                return
            if mode == "status502":
                conn.sendall(response("502 Bad Gateway", b"backend says: bad gateway\n"))
                return
            if mode == "status503":
                conn.sendall(response("503 Service Unavailable", b"backend says: overloaded\n",
                                      ["Retry-After: 5"]))
                return
            if mode == "bigheader":
                cookie = "x" * args.header_bytes
                conn.sendall(response("200 OK", b"ok\n", [f"Set-Cookie: session={cookie}"]))
                return
            if mode in ("truncate", "stall-body"):
                # Headers and the first part of the body go out, then the backend dies
                # (truncate) or stops sending (stall-body): the client already has its 200.
                conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: text/csv\r\n"
                             b"Content-Length: 1000000\r\nConnection: close\r\n\r\n" + b"x" * 4096)
                if mode == "stall-body":
                    time.sleep(args.delay)
                return
            if mode in HOSTILE_ANSWERS:
                HOSTILE_ANSWERS[mode](conn, args)
                return
            if mode == "bad-status-line":
                # a hand-written status line without the code (RFC 9112 4: status-code is required)
                conn.sendall(b"HTTP/1.1 OK\r\nContent-Length: 3\r\n\r\nok\n")
                return
            if mode == "invalid-header":
                conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\nX-Bad\x01Header: yes\r\n\r\nok\n")
                return
            body = f"ok from {args.name}\n".encode()
            if args.body_bytes:
                body = (body * (args.body_bytes // len(body) + 1))[: args.body_bytes]
            conn.sendall(response("200 OK", body, keepalive=keep))
            served += 1
            last = time.monotonic()
            if not keep:
                return
    except OSError:
        return
    finally:
        with contextlib.suppress(OSError):
            conn.close()


# Hostile answers to an HTTP API client (``why502 fleet`` asking Prometheus, the Alertmanager
# sender): the head is polite, the body is what a broken or malicious server (or a proxy in
# front of it) sends.  Every query gets the same answer.
_VECTOR_HEAD = b'{"status":"success","data":{"resultType":"vector","result":['


def answer_trickle(conn: socket.socket, args: argparse.Namespace) -> None:
    """A valid Prometheus answer, one byte every ``delay`` seconds (each read gets data in time,
    so only a deadline on the whole exchange ends it)."""
    body = _VECTOR_HEAD + b"]}}"
    conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                 b"Content-Length: %d\r\nConnection: close\r\n\r\n" % len(body))
    for i in range(len(body)):
        conn.sendall(body[i:i + 1])
        time.sleep(args.delay)


def answer_series(conn: socket.socket, args: argparse.Namespace) -> None:
    """A vector of ``count`` distinct series (no Content-Length: streamed until close)."""
    conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nConnection: close\r\n\r\n"
                 + _VECTOR_HEAD)
    for start in range(0, args.count, 10_000):
        conn.sendall(b",".join(b'%s{"metric":{"instance":"host-%07d:9502","cause":"x"},'
                               b'"value":[1700000000.123,"1"]}' % (b"," if i and i == start else b"", i)
                               for i in range(start, min(args.count, start + 10_000))))
    conn.sendall(b"]}}")


def answer_deep(conn: socket.socket, args: argparse.Namespace) -> None:
    """A success answer whose ``data`` nests ``count`` arrays deep."""
    body = b'{"status":"success","data":' + b"[" * args.count + b"]" * args.count + b"}"
    conn.sendall(response("200 OK", body, ["Content-Type: application/json"]))


def answer_file(conn: socket.socket, args: argparse.Namespace) -> None:
    """The bytes of ``--body-file`` as a 200 JSON answer (wrong types, NaN, anything)."""
    with open(args.body_file, "rb") as fh:
        body = fh.read()
    conn.sendall(response("200 OK", body, ["Content-Type: application/json"]))


HOSTILE_ANSWERS = {"trickle": answer_trickle, "series": answer_series, "deep": answer_deep,
                   "answer": answer_file}


def run_tcp(args: argparse.Namespace) -> None:
    if args.unix:
        # An HTTP server on a unix socket (gunicorn --bind unix:..., uvicorn --uds): the same
        # modes, on a path in the lab's temp dir instead of a port.
        srv = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        srv.bind(args.unix)
        # Apache's children run as www-data: the socket (in the lab's own temp dir) is theirs too
        os.chmod(args.unix, 0o666)  # noqa: S103
        srv.listen(args.backlog)
        open(args.ready, "w").close()
        while True:
            conn, _ = srv.accept()
            threading.Thread(target=serve_connection, args=(conn, args), daemon=True).start()
    family = socket.AF_INET6 if ":" in args.host else socket.AF_INET
    srv = socket.socket(family, socket.SOCK_STREAM)
    srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    if family == socket.AF_INET6:
        srv.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
    srv.bind((args.host, args.port))
    if args.mode == "blackhole":
        # A server that stopped calling accept(): the accept queue fills, then the kernel drops new
        # SYNs, so connects hang until the proxy's connect timeout (a stuck sync worker pool).
        srv.listen(0)
        fillers: list[socket.socket] = []
        for _ in range(3):
            c = socket.socket(family, socket.SOCK_STREAM)
            c.setblocking(False)
            with contextlib.suppress(BlockingIOError):
                c.connect((args.host, args.port))
            fillers.append(c)
        time.sleep(0.3)
        open(args.ready, "w").close()
        while True:
            time.sleep(3600)
    srv.listen(args.backlog)
    context = None
    if args.mode in ("tls", "tls-sni") or args.tls:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(args.cert, args.key)
        if args.mode == "tls-sni":
            # Like a shared ingress/CDN edge: without SNI it cannot pick a certificate and
            # rejects the handshake with alert 112 (unrecognized_name, RFC 6066 section 3).
            def need_sni(sock: ssl.SSLObject, name: str | None, ctx: ssl.SSLContext) -> int | None:
                return None if name else ssl.ALERT_DESCRIPTION_UNRECOGNIZED_NAME

            context.sni_callback = need_sni  # type: ignore[assignment]
    open(args.ready, "w").close()
    while True:
        conn, _ = srv.accept()
        if context is not None:
            try:
                conn.settimeout(5)
                conn = context.wrap_socket(conn, server_side=True)
                conn.settimeout(None)
            except (OSError, ssl.SSLError):
                conn.close()
                continue
        threading.Thread(target=serve_connection, args=(conn, args), daemon=True).start()


def run_dns(args: argparse.Namespace) -> None:
    """A loopback DNS server that answers NXDOMAIN to everything (``dns-nxdomain``) or nothing
    (``dns-silent``); ``dns-vanish``: every A question gets 127.0.0.1 (an AAAA one no record)
    until the file ``--body-file`` exists, NXDOMAIN from then on (a record deleted)."""
    family = socket.AF_INET6 if ":" in args.host else socket.AF_INET
    srv = socket.socket(family, socket.SOCK_DGRAM)
    srv.bind((args.host, args.port))
    open(args.ready, "w").close()
    while True:
        data, peer = srv.recvfrom(4096)
        if args.mode == "dns-silent" or len(data) < 12:
            continue
        ident = data[:2]
        question = data[12:]
        if args.mode == "dns-vanish" and not os.path.exists(args.body_file):
            # the question is one name (no compression in a query) then QTYPE, QCLASS
            end = question.index(b"\x00") + 5 if b"\x00" in question else len(question)
            question = question[:end]
            qtype = struct.unpack("!H", question[end - 4:end - 2])[0] if end >= 5 else 0
            answer = (b"\xc0\x0c" + struct.pack("!HHIH", 1, 1, 1, 4) + socket.inet_aton("127.0.0.1")
                      if qtype == 1 else b"")
            flags = struct.pack("!H", 0x8180)  # response, RD, RA, no error
            srv.sendto(ident + flags + struct.pack("!HHHH", 1, 1 if answer else 0, 0, 0) + question + answer,
                       peer)
            continue
        flags = struct.pack("!H", 0x8183)  # response, RD, RA, rcode 3 = NXDOMAIN
        counts = struct.pack("!HHHH", 1, 0, 0, 0)
        srv.sendto(ident + flags + counts + question, peer)


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--mode", default="ok")
    p.add_argument("--name", default="backend")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--unix", default="", help="listen on this unix socket path instead of host:port")
    p.add_argument("--ready", required=True)
    p.add_argument("--delay", type=float, default=0.0)
    p.add_argument("--header-bytes", type=int, default=16384)
    p.add_argument("--idle-timeout", type=float, default=0.5)
    p.add_argument("--backlog", type=int, default=64)
    p.add_argument("--body-bytes", type=int, default=0, help="ok: response body size")
    p.add_argument("--read-bytes", type=int, default=4 << 20, help="close-early: body bytes read first")
    p.add_argument("--fail-path", default="", help="misbehave only for paths with this prefix")
    p.add_argument("--count", type=int, default=0, help="series: how many; deep: how deep")
    p.add_argument("--body-file", default="", help="answer: the body to send; dns-vanish: the file "
                                                   "whose existence deletes the record")
    p.add_argument("--tls", action="store_true")
    p.add_argument("--cert")
    p.add_argument("--key")
    p.add_argument("--alloc-mb", type=int, default=256, help="memhog: MiB allocated per request")
    args = p.parse_args()
    # 127.0.0.0/8 is loopback on Linux (every address of it answers on lo)
    if (args.host not in LOOPBACK and not args.host.startswith("127.")
            and not args.host.startswith(LAB_NETNS_PREFIX)):
        sys.exit("backend.py: only loopback addresses are allowed")
    if args.mode == "fail-start":
        # A deploy broke the app: it dies at start-up, before it listens (a supervisor then
        # restarts it again and again).
        print(f"{args.name}: fatal: cannot load settings: DATABASE_URL is not set", file=sys.stderr,
              flush=True)
        sys.exit(1)
    signal.signal(signal.SIGTERM, lambda *_: os._exit(0))
    if args.mode.startswith("dns-"):
        run_dns(args)
    else:
        run_tcp(args)


if __name__ == "__main__":
    main()
