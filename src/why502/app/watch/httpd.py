"""The HTTP listener of ``why502 watch`` (``--listen``): ``/metrics`` today, more routes later
(the live page), none of which a client can stall.

Why not ``wsgiref.simple_server`` (what served ``/metrics`` before): it handles one connection at
a time with no timeout, so one client that sends half a request blocks every scrape
(Prometheus marks the target down) and a few more fill the listen backlog.  Here:

- each connection has its own thread (``socketserver.ThreadingMixIn``), so a slow one delays
  nobody else;
- the request head must arrive **whole within** ``Limits.head_seconds`` (a deadline on the sum of
  the reads, not a per-read timeout a client resets by sending one byte at a time) and within
  ``Limits.head_bytes`` (431 beyond; ``http.server`` alone allows 100 header lines of 64 KiB);
- the answer must be taken within ``Limits.write_seconds`` (``socket.sendall``'s timeout is the
  total for the call since Python 3.5);
- at most ``Limits.per_client`` connections from one peer address (beyond: ``503`` and a close
  at once), so one noisy host cannot take the slots Prometheus needs;
- at most ``Limits.connections`` at once: a new connection then closes the one that has waited
  longest for its request head (a scrape sends its head at once, so the one still waiting is
  the slow one), or gets ``503`` when every slot is serving an answer.  The accept loop never
  stops, so the backlog never fills.

A route is a function of a :class:`Request` to a :class:`Response`, registered by path
(``routes={"/metrics": ...}``): adding a page is adding an entry.  A key ending in ``/*`` (e.g.
``"/reports/*"``) takes every path under it (``/reports/...``); the route reads
``Request.path``, the raw path (nobody decoded it), and checks it itself.  Only ``GET`` and ``HEAD``
are served; the protocol is HTTP/1.0 (one request per connection, ``Connection: close``).
"""

from __future__ import annotations

import contextlib
import io
import socket
import socketserver
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from email.message import Message
from http.server import BaseHTTPRequestHandler
from typing import Any
from urllib.parse import parse_qs, urlsplit

__all__ = ["HttpServer", "Limits", "Request", "Response", "Route", "serve"]


@dataclass(frozen=True)
class Limits:
    """What one client may take of the listener.  A Prometheus scrape sends a head of ~300
    bytes at once and reads the answer at once; a browser's head with cookies is a few KiB."""

    head_seconds: float = 5.0
    write_seconds: float = 10.0
    head_bytes: int = 16384
    connections: int = 64
    per_client: int = 8


@dataclass(frozen=True)
class Request:
    method: str
    path: str
    query: dict[str, list[str]]
    headers: Message


@dataclass(frozen=True)
class Response:
    status: int
    content_type: str
    body: bytes
    headers: tuple[tuple[str, str], ...] = field(default=())


Route = Callable[[Request], Response]


@dataclass
class _Slot:
    """One admitted connection: its peer, its socket, when it came, whether its head is still
    being read."""

    peer: str
    sock: socket.socket
    since: float
    reading: bool = True


class _HeadTooBig(OSError):
    pass


class _HeadReader(io.RawIOBase):
    """The connection's reads for the request head: all of them end by one deadline and take at
    most ``limit`` bytes in total."""

    def __init__(self, sock: socket.socket, deadline: float, limit: int) -> None:
        super().__init__()
        self.sock = sock
        self.deadline = deadline
        self.left = limit

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        if self.left <= 0:
            raise _HeadTooBig("request head too large")
        remaining = self.deadline - time.monotonic()
        if remaining <= 0:
            raise TimeoutError("request head not complete in time")
        self.sock.settimeout(remaining)
        view = memoryview(buffer)[: self.left]
        n = self.sock.recv_into(view)
        self.left -= n
        return n


class _Handler(BaseHTTPRequestHandler):
    server: HttpServer
    server_version = "why502"
    sys_version = ""

    def setup(self) -> None:
        super().setup()
        limits = self.server.limits
        # every read of the connection goes through the head's deadline and byte budget (a GET
        # has no body: reading ahead is harmless)
        self.rfile = io.BufferedReader(
            _HeadReader(self.connection, time.monotonic() + limits.head_seconds, limits.head_bytes),
            buffer_size=1024)

    def handle(self) -> None:
        try:
            super().handle()
        except _HeadTooBig:
            with contextlib.suppress(OSError):
                self.connection.settimeout(1.0)
                self.connection.sendall(b"HTTP/1.0 431 Request Header Fields Too Large\r\n"
                                        b"Connection: close\r\nContent-Length: 0\r\n\r\n")
        except OSError:  # timeouts, resets: the client's problem, not a line on stderr
            return

    def _answer(self, head_only: bool) -> None:
        self.server.head_read(self.connection)
        parts = urlsplit(self.path)
        route = self.server.route_for(parts.path)
        if route is None:
            resp = Response(404, "text/plain; charset=utf-8", b"not found\n")
        else:
            resp = route(Request(self.command, parts.path, parse_qs(parts.query), self.headers))
        self.connection.settimeout(self.server.limits.write_seconds)
        self.send_response(resp.status)
        self.send_header("Content-Type", resp.content_type)
        self.send_header("Content-Length", str(len(resp.body)))
        self.send_header("Connection", "close")
        for name, value in resp.headers:
            self.send_header(name, value)
        self.end_headers()
        if not head_only:
            self.wfile.write(resp.body)

    def do_GET(self) -> None:
        self._answer(head_only=False)

    def do_HEAD(self) -> None:
        self._answer(head_only=True)

    def log_message(self, format: str, *args: Any) -> None:
        """No access-log line on stderr for every scrape."""
        return


class HttpServer(socketserver.ThreadingMixIn, socketserver.TCPServer):
    """A threaded server with the caps of :class:`Limits` (see the module's docstring)."""

    daemon_threads = True
    block_on_close = False
    allow_reuse_address = True
    request_queue_size = 128

    def __init__(self, address: tuple[str, int], routes: Mapping[str, Route],
                 limits: Limits = Limits()) -> None:
        self.address_family = socket.AF_INET6 if ":" in address[0] else socket.AF_INET
        self.routes = dict(routes)
        self.limits = limits
        self._lock = threading.Lock()
        self._slots: dict[int, _Slot] = {}  # id(connection) -> its slot, while it holds one
        self._by_peer: dict[str, int] = {}
        super().__init__(address, _Handler)

    def route_for(self, path: str) -> Route | None:
        """The route of ``path``: its exact entry, else the longest ``.../*`` entry above it."""
        route = self.routes.get(path)
        if route is None:
            under = [k for k in self.routes if k.endswith("/*") and path.startswith(k[:-1])]
            if under:
                route = self.routes[max(under, key=len)]
        return route

    @property
    def server_port(self) -> int:
        return int(self.server_address[1])

    @property
    def active(self) -> int:
        """Connections holding a slot now."""
        with self._lock:
            return len(self._slots)

    def verify_request(self, request: Any, client_address: Any) -> bool:
        """Take a slot for the connection.  A peer at its cap gets 503 and a close.  When every
        slot is taken, the connection that has waited longest for its request head is closed to
        make room (it is the slow one: a scrape sends its head at once), so clients from many
        addresses holding half requests cannot keep a scrape out; with no such connection, 503."""
        peer = str(client_address[0])
        victim: _Slot | None = None
        with self._lock:
            admit = self._by_peer.get(peer, 0) < self.limits.per_client
            if admit and len(self._slots) >= self.limits.connections:
                waiting = [k for k, slot in self._slots.items() if slot.reading]
                if waiting:
                    key = min(waiting, key=lambda k: self._slots[k].since)
                    victim = self._release(key)
                else:
                    admit = False
            if admit:
                self._slots[id(request)] = _Slot(peer, request, time.monotonic())
                self._by_peer[peer] = self._by_peer.get(peer, 0) + 1
        if victim is not None:
            with contextlib.suppress(OSError):
                victim.sock.shutdown(socket.SHUT_RDWR)  # its reads end at once
        if not admit:
            with contextlib.suppress(OSError):
                request.setblocking(False)
                request.send(b"HTTP/1.0 503 Service Unavailable\r\nConnection: close\r\n"
                             b"Retry-After: 1\r\nContent-Length: 0\r\n\r\n")
        return admit

    def head_read(self, request: Any) -> None:
        """The connection's request head is complete: it is being served, never evicted."""
        with self._lock:
            slot = self._slots.get(id(request))
            if slot is not None:
                slot.reading = False

    def _release(self, key: int) -> _Slot | None:
        slot = self._slots.pop(key, None)
        if slot is not None:
            self._by_peer[slot.peer] -= 1
            if self._by_peer[slot.peer] <= 0:
                del self._by_peer[slot.peer]
        return slot

    def shutdown_request(self, request: Any) -> None:
        with self._lock:
            self._release(id(request))
        super().shutdown_request(request)

    def handle_error(self, request: Any, client_address: Any) -> None:
        """A route that raised: the client gets a closed connection, stderr no traceback (the
        watch loop itself is untouched)."""
        return


def serve(host: str, port: int, routes: Mapping[str, Route], limits: Limits = Limits()) -> HttpServer:
    """Listen on ``host:port`` and serve ``routes`` from a daemon thread; returns the server
    (``server_port`` is the real port when ``port`` was 0)."""
    server = HttpServer((host, port), routes, limits)
    threading.Thread(target=server.serve_forever, name="why502-http", daemon=True).start()
    return server
