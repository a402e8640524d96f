"""Live probes against real servers on loopback (lab runtime: Python backends, PHP-FPM, TLS).

Every server here is real: the lab's Python backend (``why502.lab.runtime.Stack.add_backend``),
a real PHP-FPM master with a unix-socket pool and a TCP pool, a TLS backend whose self-signed
certificate the lab makes with the openssl CLI, and plain sockets for closed ports, a full unix
backlog and a 0600 unix socket.  All on 127.0.0.1 / ::1, stopped by PID by the stack.
"""

from __future__ import annotations

import errno
import json
import os
import pwd
import shutil
import socket
import struct
import tempfile
import threading
import time
from collections.abc import Iterator
from types import SimpleNamespace

import pytest

from why502.facts.probes import ProbeTarget
from why502.lab import runtime
from why502.sources.probes import as_probe_target, probe, probe_all
from why502.sources.probes.protocols import classify_answer, fcgi_get_values_record, parse_fcgi_pairs

pytestmark = pytest.mark.real


@pytest.fixture(scope="module")
def stack() -> Iterator[object]:
    if runtime.find_php_fpm() is None:
        pytest.skip("php-fpm is not installed")
    with runtime.Stack(prefix="why502-probe-") as st:
        st.add_php_fpm({"pm.max_children": "1"}, name="sock", start=False)
        st.add_php_fpm({"pm.max_children": "1"}, name="tcp", tcp=True)
        st.add_backend("ok", name="http")
        st.add_backend("status502", name="five")
        st.add_backend("tls", name="tls")
        if runtime.ipv6_loopback_available():
            st.add_backend("ok", name="v6", host="::1")
        yield st


def _tcp(backend: object) -> tuple[str, int]:
    return backend.host, backend.port  # type: ignore[attr-defined]


# ------------------------------------------------------------------------------------------
# HTTP


def test_http_ok(stack: object) -> None:
    host, port = _tcp(stack.backends["http"])  # type: ignore[attr-defined]
    r = probe(ProbeTarget("proxy", "http", host, port))
    assert r.ok and r.error is None
    assert r.protocol is not None and r.protocol.answer == "http" and r.protocol.status == 200
    assert r.connect[0].ok and r.dns is not None and r.dns.literal
    assert f"{host}:{port}" in r.detail and "200" in r.detail
    json.dumps(r.to_dict())  # JSON-able for UpstreamSummary.probes


def test_backend_own_502_is_still_an_http_answer(stack: object) -> None:
    host, port = _tcp(stack.backends["five"])  # type: ignore[attr-defined]
    r = probe(ProbeTarget("proxy", "http", host, port))
    assert r.ok and r.protocol is not None and r.protocol.status == 502


def test_closed_port_is_refused() -> None:
    port = runtime.free_port()
    r = probe(ProbeTarget("proxy", "http", "127.0.0.1", port))
    assert not r.ok
    assert r.errno == errno.ECONNREFUSED and r.symptom == "connection-refused"
    assert r.connect[0].errno_name == "ECONNREFUSED" and r.connect[0].error == "Connection refused"


def test_ipv6_only_backend(stack: object) -> None:
    if "v6" not in stack.backends:  # type: ignore[attr-defined]
        pytest.skip("no IPv6 loopback")
    port = stack.backends["v6"].port  # type: ignore[attr-defined]
    assert probe(ProbeTarget("proxy", "http", "::1", port)).ok
    wrong = probe(ProbeTarget("proxy", "http", "127.0.0.1", port))
    assert not wrong.ok and wrong.symptom == "connection-refused"


def test_localhost_name_resolves_and_each_address_is_tried(stack: object) -> None:
    port = stack.backends["http"].port  # type: ignore[attr-defined]
    r = probe(ProbeTarget("proxy", "http", "localhost", port))
    assert r.dns is not None and not r.dns.literal and "127.0.0.1" in r.dns.addresses
    assert len(r.connect) == len(r.dns.addresses)
    assert r.ok  # at least 127.0.0.1 answers


def test_unresolvable_name() -> None:
    # RFC 6761: .invalid never resolves
    r = probe(ProbeTarget("proxy", "http", "why502-probe.invalid", 80), timeout=3.0)
    assert not r.ok and r.symptom == "dns-failure"
    assert r.dns is not None and r.dns.error and r.connect == []


# ------------------------------------------------------------------------------------------
# TLS


def test_https_to_tls_backend(stack: object) -> None:
    host, port = _tcp(stack.backends["tls"])  # type: ignore[attr-defined]
    r = probe(ProbeTarget("proxy", "https", host, port))
    assert r.ok, r.detail
    modes = {t.mode: t for t in r.tls}
    assert modes["no-sni"].ok and modes["no-sni"].version and modes["sni"].ok
    verify = modes["verify"]
    assert not verify.ok and verify.verify_code == 18 and verify.verify_error == "self-signed certificate"
    assert "self-signed certificate" in r.detail and r.protocol is not None and r.protocol.status == 200


def test_tls_port_probed_as_plain_http(stack: object) -> None:
    host, port = _tcp(stack.backends["tls"])  # type: ignore[attr-defined]
    r = probe(ProbeTarget("proxy", "http", host, port))
    assert not r.ok
    assert r.protocol is not None and r.protocol.answer in ("tls", "empty", "reset")
    assert r.symptom in ("protocol-mismatch", "premature-close", "connection-reset")


def test_plain_port_probed_with_tls(stack: object) -> None:
    host, port = _tcp(stack.backends["http"])  # type: ignore[attr-defined]
    r = probe(ProbeTarget("proxy", "https", host, port))
    assert not r.ok and r.symptom == "tls-failure"
    assert r.tls[0].error == "wrong version number"
    assert "plain text, not TLS" in r.detail


def test_grpc_h2_preface_to_http1_server(stack: object) -> None:
    host, port = _tcp(stack.backends["http"])  # type: ignore[attr-defined]
    r = probe(ProbeTarget("grpc", "grpc", host, port))
    assert not r.ok and r.protocol is not None and r.protocol.sent == "http2"
    assert r.protocol.answer != "http2"


# ------------------------------------------------------------------------------------------
# FastCGI (real PHP-FPM)


def test_fastcgi_unix_pool_answers_get_values(stack: object) -> None:
    path = stack.pools["sock"].listen  # type: ignore[attr-defined]
    r = probe(ProbeTarget("fastcgi", "http", None, None, path))
    assert r.ok, r.detail
    assert r.protocol is not None and r.protocol.answer == "fastcgi"
    # PHP-FPM answers the management record itself; it reports FCGI_MPXS_CONNS=0
    assert r.protocol.values.get("FCGI_MPXS_CONNS") == "0"
    assert r.connect[0].address == f"unix:{path}"


def test_fastcgi_tcp_pool(stack: object) -> None:
    host, _, port = stack.pools["tcp"].listen.rpartition(":")  # type: ignore[attr-defined]
    r = probe(ProbeTarget("fastcgi", "http", host, int(port)))
    assert r.ok and r.protocol is not None and r.protocol.answer == "fastcgi"


def test_http_probe_to_fpm_port_is_not_http(stack: object) -> None:
    host, _, port = stack.pools["tcp"].listen.rpartition(":")  # type: ignore[attr-defined]
    r = probe(ProbeTarget("proxy", "http", host, int(port)))
    assert not r.ok and r.protocol is not None and r.protocol.answer != "http"


def test_fastcgi_probe_to_http_port_is_not_fastcgi(stack: object) -> None:
    host, port = _tcp(stack.backends["http"])  # type: ignore[attr-defined]
    r = probe(ProbeTarget("fastcgi", "http", host, port), timeout=1.0)
    assert not r.ok and r.protocol is not None and r.protocol.answer != "fastcgi"


def test_fcgi_record_roundtrip() -> None:
    rec = fcgi_get_values_record()
    version, rtype, req_id, clen, pad, _ = struct.unpack("!BBHHBB", rec[:8])
    assert (version, rtype, req_id) == (1, 9, 0) and (clen + pad) % 8 == 0
    assert parse_fcgi_pairs(rec[8 : 8 + clen]) == {
        "FCGI_MAX_CONNS": "",
        "FCGI_MAX_REQS": "",
        "FCGI_MPXS_CONNS": "",
    }


def test_classify_answer_bytes() -> None:
    assert classify_answer(b"")[0] == "empty"
    assert classify_answer(b"HTTP/1.1 200 OK\r\n")[0] == "http"
    assert classify_answer(b"\x15\x03\x03\x00\x02\x02\x46")[0] == "tls"  # alert: protocol_version
    assert classify_answer(b"\x01\x06\x00\x01\x00\x10\x00\x00")[0] == "fastcgi"
    assert classify_answer(b"\x00\x00\x00\x04\x00\x00\x00\x00\x00")[0] == "http2"
    assert classify_answer(b"SSH-2.0-OpenSSH")[1] == "an SSH banner"


# ------------------------------------------------------------------------------------------
# unix sockets: missing, backlog full, permissions


def test_missing_unix_socket() -> None:
    r = probe(ProbeTarget("fastcgi", "http", None, None, "/tmp/why502-no-such-dir/php.sock"))
    assert not r.ok and r.errno == errno.ENOENT and r.symptom == "socket-not-found"


@pytest.fixture
def open_dir() -> Iterator[str]:
    d = tempfile.mkdtemp(prefix="why502-probe-", dir="/tmp")
    os.chmod(d, 0o755)
    yield d
    shutil.rmtree(d, ignore_errors=True)


def test_unix_backlog_full_is_eagain(open_dir: str) -> None:
    """A listener that never accepts: once its backlog is full, a non-blocking connect gets EAGAIN."""
    path = os.path.join(open_dir, "full.sock")
    srv = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    srv.bind(path)
    srv.listen(1)
    fillers: list[socket.socket] = []
    try:
        for _ in range(64):  # bounded
            c = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            c.setblocking(False)
            try:
                c.connect(path)
            except BlockingIOError:
                c.close()
                break
            fillers.append(c)
        r = probe(ProbeTarget("fastcgi", "http", None, None, path))
        assert not r.ok and r.errno == errno.EAGAIN and r.symptom == "backlog-full"
    finally:
        for c in fillers:
            c.close()
        srv.close()


def test_unix_socket_0600_not_accessible_for_nobody(open_dir: str) -> None:
    if os.geteuid() != 0:
        pytest.skip("needs root to switch to the 'nobody' user")
    try:
        nobody = pwd.getpwnam("nobody")
    except KeyError:
        pytest.skip("no 'nobody' user")
    path = os.path.join(open_dir, "private.sock")
    srv = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    srv.bind(path)
    srv.listen(4)
    os.chmod(path, 0o600)
    r_fd, w_fd = os.pipe()
    pid = os.fork()
    if pid == 0:
        try:
            os.close(r_fd)
            os.setgroups([])
            os.setgid(nobody.pw_gid)
            os.setuid(nobody.pw_uid)
            res = probe(ProbeTarget("fastcgi", "http", None, None, path), timeout=1.0)
            os.write(w_fd, f"{res.errno};{res.symptom}".encode())
        finally:
            os._exit(0)
    os.close(w_fd)
    with os.fdopen(r_fd) as fh:
        out = fh.read()
    os.waitpid(pid, 0)
    srv.close()
    assert out == f"{errno.EACCES};permission-denied"


# ------------------------------------------------------------------------------------------
# targets from the nginx config


def test_converter_accepts_config_targets() -> None:
    duck = SimpleNamespace(kind="fastcgi", scheme=None, host=None, port=None, unix_path="/run/php/x.sock")
    t = as_probe_target(duck)
    assert t == ProbeTarget("fastcgi", "http", None, None, "/run/php/x.sock")
    from why502.proxies.nginx import config as nginx_config
    real = nginx_config.Target(
        kind="proxy",
        scheme="https",
        host="backend.test",
        port=None,
        unix_path=None,
        group=None,
        uses_variables=False,
        file="/etc/nginx/nginx.conf",
        line=12,
        server="x",
        location="/",
    )
    pt = as_probe_target(real)
    assert (pt.kind, pt.scheme, pt.host, pt.effective_port) == ("proxy", "https", "backend.test", 443)
    assert pt.label == "https://backend.test:443"


def test_group_and_variable_targets_are_not_probed() -> None:
    r = probe(ProbeTarget("proxy", "http", "app", None, group="app"))
    assert not r.ok and r.connect == [] and "upstream group" in r.detail
    r2 = probe(ProbeTarget("proxy", "http", "$backend", 80, uses_variables=True))
    assert not r2.ok and r2.connect == [] and "variables" in r2.detail


def test_probe_all_dedupes(stack: object) -> None:
    host, port = _tcp(stack.backends["http"])  # type: ignore[attr-defined]
    t = ProbeTarget("proxy", "http", host, port)
    results = probe_all([t, t])
    assert len(results) == 2 and results[0] is results[1]


def _fcgi_request(path: str, script: str) -> bytes:
    """A real FastCGI request (BEGIN_REQUEST, PARAMS, STDIN) for ``script``; returns the answer."""

    def record(rtype: int, body: bytes) -> bytes:
        return struct.pack("!BBHHBB", 1, rtype, 1, len(body), 0, 0) + body

    def pair(k: str, v: str) -> bytes:
        return bytes([len(k), len(v)]) + k.encode() + v.encode()

    params = b"".join(
        pair(k, v)
        for k, v in {
            "SCRIPT_FILENAME": script,
            "REQUEST_METHOD": "GET",
            "SERVER_PROTOCOL": "HTTP/1.1",
        }.items()
    )
    c = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    c.settimeout(10)
    c.connect(path)
    c.sendall(record(1, struct.pack("!HB5x", 1, 0)) + record(4, params) + record(4, b"") + record(5, b""))
    data = b""
    while chunk := c.recv(4096):
        data += chunk
    c.close()
    return data


def test_fpm_with_every_worker_busy_does_not_answer() -> None:
    """pm.max_children=1 and one slow script running: connect() succeeds (the backlog queues it)
    but nothing answers FCGI_GET_VALUES — the live face of workers-exhausted."""
    import threading

    if runtime.find_php_fpm() is None:
        pytest.skip("php-fpm is not installed")
    with runtime.Stack(prefix="why502-busy-") as st:
        pool = st.add_php_fpm(
            {"pm.max_children": "1"}, name="busy", scripts={"slow.php": "<?php sleep(3); echo 'done';"}
        )
        script = str(st.root / "www" / "slow.php")
        answers: list[bytes] = []
        worker = threading.Thread(target=lambda: answers.append(_fcgi_request(pool.listen, script)))
        worker.start()
        time.sleep(0.5)  # let the only child pick the slow request up
        busy = probe(ProbeTarget("fastcgi", "http", None, None, pool.listen), timeout=1.0)
        worker.join(15)
        idle = probe(ProbeTarget("fastcgi", "http", None, None, pool.listen), timeout=2.0)
    assert busy.connect[0].ok and not busy.ok
    assert busy.protocol is not None and busy.protocol.answer == "timeout"
    assert busy.symptom == "workers-exhausted"
    assert answers and b"done" in answers[0]  # the slow request itself completed
    assert idle.ok  # and once the worker is free, the pool answers again


def test_http_over_unix_socket(open_dir: str) -> None:
    """``proxy_pass http://unix:/path:`` — a real Python HTTP server bound to a unix socket."""
    import http.server
    import socketserver
    import threading

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(204)
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    class UnixHTTPServer(socketserver.UnixStreamServer):
        def get_request(self):  # type: ignore[no-untyped-def]
            conn, _ = super().get_request()
            return conn, ("local", 0)  # BaseHTTPRequestHandler wants a (host, port) peer

    path = os.path.join(open_dir, "http.sock")
    server = UnixHTTPServer(path, Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        r = probe(ProbeTarget("proxy", "http", None, None, path))
    finally:
        server.shutdown()
        server.server_close()
    assert r.ok and r.protocol is not None and r.protocol.status == 204
    assert r.target.label == f"http://unix:{path}"


def test_hostile_status_line_is_made_inert() -> None:
    answer, text = classify_answer(b"HTTP/1.1 200 \x1b]0;pwned\x07OK\x1b[31m\r\n")
    assert answer == "http" and "\x1b" not in text and "\x07" not in text and text.startswith("HTTP/1.1 200")


def test_https_over_unix_socket(open_dir: str, stack: object) -> None:
    """``proxy_pass https://unix:/path:`` — TLS on a unix socket (Python ssl server, lab cert)."""
    import ssl
    import threading

    cert, key = stack.tls_cert()  # type: ignore[attr-defined]
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(str(cert), str(key))
    path = os.path.join(open_dir, "tls.sock")
    srv = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    srv.bind(path)
    srv.listen(8)
    srv.settimeout(5)

    def serve() -> None:
        for _ in range(3):  # no-SNI (+ GET), SNI, verify: one connection each
            try:
                conn, _ = srv.accept()
            except OSError:
                return
            try:
                with ctx.wrap_socket(conn, server_side=True) as tls:
                    tls.settimeout(2)
                    if tls.recv(4096):
                        tls.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
            except (OSError, ssl.SSLError):
                pass

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        r = probe(ProbeTarget("proxy", "https", None, None, path))
    finally:
        thread.join(10)
        srv.close()
    assert r.ok, r.detail
    assert r.tls[0].ok and r.protocol is not None and r.protocol.status == 200


@pytest.mark.parametrize("protocol", ["proxy", "fastcgi"])
def test_a_server_dripping_bytes_is_given_up_at_the_probe_timeout(protocol: str) -> None:
    """One byte every 0.2 s, never a line or a whole record: each recv gets data in time, so
    the probe's timeout must bound the whole read (a per-recv timeout: 4096 x 0.2 s = 14 min for
    HTTP, 65536 x 0.2 s for FastCGI)."""
    with runtime.Stack(prefix="why502-probe-") as st:
        b = st.add_backend("drip", delay=0.2)
        done: list[object] = []
        t = threading.Thread(target=lambda: done.append(
            probe(ProbeTarget(protocol, "http", b.host, b.port), timeout=1.0)), daemon=True)
        t.start()
        t.join(60)
        finished = list(done)  # before the stack stops the server (which ends any read)
    assert finished, "the probe still read the dripped answer after 60 s"
    assert not finished[0].ok  # type: ignore[attr-defined]
