"""`why502 watch --listen`: no client can stall ``/metrics``.  A real watch process on a free
loopback port; real sockets that send half a request and wait, trickle a head byte by byte, send
a huge head, or open more connections than allowed.  Each test fails on the old single-threaded
server without timeouts (``wsgiref.simple_server``) or without the guard it names in
``why502.app.watch.httpd``.  No timing assertion: every wait is a generous bound on a real event."""

from __future__ import annotations

import contextlib
import select
import socket
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.clirun import WHY502
from tests.support.monitoring import wait_until
from why502.app.watch.httpd import Limits, Response, serve
from why502.lab.runtime import free_port

pytestmark = pytest.mark.real

HALF = b"GET /metrics HTTP/1.1\r\nHost: why502\r\nUser-Agent: half\r\n"  # no blank line


@pytest.fixture
def port(tmp_path: Path) -> Iterator[int]:
    """A ``why502 watch`` following an empty access log, serving on 127.0.0.1 (stopped by PID)."""
    log = tmp_path / "access.log"
    log.write_text("")
    p = free_port()
    proc = subprocess.Popen([WHY502, "watch", "--access-log", str(log), "--offline", "--listen",
                             f"127.0.0.1:{p}", "--format", "jsonl", "--duration", "300"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_until(lambda: "why502_log_lag_bytes" in scrape(p, 5), 30, "watch to serve /metrics")
        yield p
    finally:
        proc.terminate()
        proc.wait(timeout=15)


def scrape(port: int, timeout: float = 30.0, path: str = "/metrics") -> str:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=timeout) as resp:
        return str(resp.read().decode())


@contextlib.contextmanager
def stallers(port: int, sources: list[str]) -> Iterator[list[socket.socket]]:
    """One connection from each source address (127.0.0.0/8 is all loopback), each having sent
    half a request; closed on exit."""
    held: list[socket.socket] = []
    try:
        for src in sources:
            s = socket.create_connection(("127.0.0.1", port), timeout=10, source_address=(src, 0))
            s.sendall(HALF)
            held.append(s)
        yield held
    finally:
        for s in held:
            s.close()


def first_bytes(s: socket.socket, wait: float) -> bytes:
    """What the server sends on ``s`` within ``wait`` s (``b""`` for a close or nothing)."""
    s.settimeout(wait)
    try:
        return s.recv(64)
    except OSError:
        return b""


def test_a_scrape_is_answered_while_clients_hold_half_requests(port: int) -> None:
    """The old server handled one connection at a time with no timeout: the first client that
    sent half a request held it forever, and the scrape timed out.  (Serial with the 5 s head
    deadline, 6 x 5 s would still exceed the scrape's 20 s.)"""
    with stallers(port, ["127.0.0.1"] * 6):
        assert "why502_log_lag_bytes" in scrape(port, timeout=20)


def test_one_peer_cannot_take_every_slot(port: int) -> None:
    """12 half requests from 127.0.0.2: the 8 a peer may hold are served, the rest get 503 at
    once; a scrape from 127.0.0.1 still gets its answer."""
    n = Limits().per_client
    with stallers(port, ["127.0.0.2"] * (n + 4)) as held:
        assert "why502_log_lag_bytes" in scrape(port, timeout=30)
        refused = [first_bytes(s, 10) for s in held[n:]]
    assert all(r.startswith(b"HTTP/1.0 503") for r in refused), refused


def test_a_scrape_is_answered_when_stallers_from_many_addresses_hold_every_slot(port: int) -> None:
    """One half request from each of 70 addresses (no per-peer cap applies) takes all 64 slots;
    the scrape's connection then closes the one that waited longest for its head, instead of
    getting 503 (or, on the old server, waiting behind all of them)."""
    cap = Limits().connections
    with stallers(port, [f"127.0.1.{i}" for i in range(1, cap + 7)]):
        assert "why502_log_lag_bytes" in scrape(port, timeout=20)


def first_event(s: socket.socket, wait: float) -> bytes | None:
    """What the server sends within ``wait`` s: bytes, ``b""`` for a close, ``None`` for nothing."""
    s.settimeout(wait)
    try:
        return s.recv(64)
    except TimeoutError:
        return None
    except OSError:
        return b""


def test_over_the_cap_the_longest_waiting_head_is_closed() -> None:
    """4 slots, 6 half requests (long head deadline, so only the cap can close one): the 2 that
    waited longest are closed, the 4 newest are held; when every slot is serving an answer (to
    clients that do not read it), a new connection gets 503."""
    big = {"/big": lambda req: Response(200, "text/plain", b"x" * (32 << 20))}
    server = serve("127.0.0.1", 0, big, Limits(head_seconds=600, write_seconds=600,
                                                connections=4, per_client=100))
    held: list[socket.socket] = []
    try:
        for _ in range(6):
            s = socket.create_connection(("127.0.0.1", server.server_port), timeout=10)
            s.sendall(HALF)
            held.append(s)
            want = min(len(held), 4)
            wait_until(lambda want=want: server.active == want, 30, "the server to admit it")
        assert [first_event(s, 10) for s in held[:2]] == [b"", b""]
        assert [first_event(s, 0.5) for s in held[2:]] == [None] * 4
        for s in held:
            s.close()
        wait_until(lambda: server.active == 0, 30, "the slots to be free")
        held = []
        for _ in range(4):
            s = socket.create_connection(("127.0.0.1", server.server_port), timeout=10)
            s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
            s.sendall(b"GET /big HTTP/1.0\r\n\r\n")
            held.append(s)
        wait_until(lambda: server.active == 4, 30, "four connections admitted")
        # a slot stays evictable until its handler thread has read the head; the first bytes of
        # each answer prove that it has (under load the threads can lag the accept loop)
        for s in held:
            assert select.select([s], [], [], 30)[0], "an answer to start"
        late = socket.create_connection(("127.0.0.1", server.server_port), timeout=10)
        held.append(late)
        got = first_event(late, 10)
        assert got is not None and got.startswith(b"HTTP/1.0 503"), got
    finally:
        for s in held:
            s.close()
        server.shutdown()
        server.server_close()


def test_a_head_trickled_byte_by_byte_is_cut_at_its_deadline(port: int) -> None:
    """One byte every 0.3 s resets any per-read timeout; the head has one deadline for all its
    reads (5 s), after which the server closes: seen here within 60 s of trickling."""
    s = socket.create_connection(("127.0.0.1", port), timeout=10)
    try:
        s.sendall(b"GET /metrics HTTP/1.1\r\nX-Slow: ")
        end = time.monotonic() + 60
        closed = False
        while time.monotonic() < end and not closed:
            try:
                s.sendall(b"a")
            except OSError:
                closed = True
                break
            readable, _, _ = select.select([s], [], [], 0.3)
            if readable:
                try:
                    closed = s.recv(64) == b""
                except OSError:
                    closed = True
        assert closed, "the server still waited for the head after 60 s"
    finally:
        s.close()


def test_a_head_over_the_size_cap_gets_431(port: int) -> None:
    """http.server alone reads 100 header lines of 64 KiB each; the head is capped at 16 KiB."""
    s = socket.create_connection(("127.0.0.1", port), timeout=10)
    try:
        s.sendall(b"GET /metrics HTTP/1.1\r\nX-Big: " + b"a" * 20_000)
        assert first_bytes(s, 20).startswith(b"HTTP/1.0 431"), "no 431 for a 20 KB head"
    finally:
        s.close()


def test_routes_unknown_paths_and_head(port: int) -> None:
    with pytest.raises(urllib.error.HTTPError) as err:
        scrape(port, path="/nothing")
    assert err.value.code == 404
    req = urllib.request.Request(f"http://127.0.0.1:{port}/metrics", method="HEAD")
    with urllib.request.urlopen(req, timeout=30) as resp:
        assert resp.status == 200 and resp.read() == b""
        assert resp.headers["Content-Type"].startswith("text/plain")


def test_a_client_that_never_reads_the_answer_is_dropped() -> None:
    """The answer must be taken within ``write_seconds``: a client that asks for a big page and
    reads nothing frees its slot (with a long head deadline, so only the write bound can)."""
    server = serve("127.0.0.1", 0, {"/big": lambda req: Response(200, "text/plain", b"x" * (32 << 20))},
                   Limits(head_seconds=600, write_seconds=1))
    try:
        s = socket.create_connection(("127.0.0.1", server.server_port), timeout=10)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        s.sendall(b"GET /big HTTP/1.0\r\n\r\n")
        wait_until(lambda: server.active == 0, 30, "the server to drop the client that reads nothing")
        s.close()
    finally:
        server.shutdown()
        server.server_close()
