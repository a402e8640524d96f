"""Near misses (recording only): alarming-looking lines next to 502s that are not upstream failures.

``Primary script unknown`` (a 404), a response buffered to a temp file, clients that close
first (499) or leave a keep-alive connection.  The fixtures they record keep classify and
diagnose from blaming the backend for them.
"""

from __future__ import annotations

import socket
import time

from why502.lab.runtime import Response, Stack
from why502.lab.scenarios.common import PHP_SCRIPTS, php_location, proxy_location, server
from why502.lab.scenarios.model import ScenarioRun, scenario


@scenario(
    name="near-misses",
    cause=None,
    title="Alarming-looking lines that are not upstream failures",
    description="Primary script unknown (404), a response buffered to a temp file, a client closing its "
                "keep-alive connection (info level).",
    symptoms=(),
    expect=(("error", r'FastCGI sent in stderr: "Primary script unknown"'),
            ("error", r"an upstream response is buffered to a temporary file"),
            ("error", r"client \d+\.\d+\.\d+\.\d+ closed keepalive connection|client closed keepalive"),
            ("access", r'" 404 ')),
    needs=("php-fpm",),
    lab=False,
)
def _near_misses(stack: Stack, run: ScenarioRun) -> None:
    """Lines that look alarming next to 502s but are not upstream failures."""
    pool = stack.add_php_fpm({}, scripts=PHP_SCRIPTS)
    app = stack.add_backend("ok", name="files", body_bytes=8 << 20)
    stack.start_nginx(server(stack, php_location(stack, pool.fastcgi_pass) + f"""
        location /download/ {{
            proxy_pass http://{app.address};
            proxy_buffers 4 4k;
        }}
    """), error_level="info")
    run.steps.append("a request for a PHP script that does not exist (PHP-FPM answers 404)")
    run.record("GET /missing.php", stack.requests("/missing.php", count=1))
    run.steps.append("a slow client downloads 8 MB through small proxy_buffers (nginx spools the "
                     "response to a temp file)")
    with socket.create_connection(("127.0.0.1", stack.nginx_port), timeout=5) as sock:
        sock.sendall(b"GET /download/report.pdf HTTP/1.1\r\nHost: lab.example\r\nConnection: close\r\n\r\n")
        time.sleep(0.5)
        got = 0
        while chunk := sock.recv(1 << 20):
            got += len(chunk)
        run.record("GET /download/report.pdf", [Response(status=200 if got > (8 << 20) else None)])
    run.steps.append("a client that opens a keep-alive connection and leaves without a request")
    with socket.create_connection(("127.0.0.1", stack.nginx_port), timeout=2) as sock:
        sock.sendall(b"GET /index.php HTTP/1.1\r\nHost: lab.example\r\n\r\n")
        sock.recv(65536)
    time.sleep(0.3)


@scenario(
    name="client-abort",
    cause=None,
    title="Clients give up first (499, not a backend failure)",
    description="Near-miss: the client closes before the backend answers; nginx logs 499 at info level.",
    symptoms=(),
    expect=(("access", r'" 499 '), ("error", r"client prematurely closed connection")),
    lab=False,
)
def _client_abort(stack: Stack, run: ScenarioRun) -> None:
    app = stack.add_backend("slow", name="search", delay=1.5)
    stack.start_nginx(server(stack, f"""
        location / {{
            proxy_pass http://{app.address};
        }}
    """), error_level="info")
    run.steps.append("clients give up after 0.3 s on a 1.5 s backend (499, info-level lines only)")
    run.record("GET /search", stack.requests("/search?q=x", count=3, concurrency=3, timeout=0.3))
    run.record("GET /search", [stack.request("/search?q=y", timeout=5)])
    time.sleep(1.5)


@scenario(
    name="healthy-control",
    cause=None,
    title="A healthy backend: nothing to find",
    description="A working backend answers every request; diagnose must say healthy, also on a "
                "noisy host's baseline.",
    symptoms=(),
    expect=(("access", r'"GET /ok HTTP/1\.1" 200 '),),
    lab=False,
)
def _healthy_control(stack: Stack, run: ScenarioRun) -> None:
    app = stack.add_backend("ok", name="web")
    stack.start_nginx(server(stack, proxy_location(app.address)))
    run.steps.append("a working backend answers every request")
    run.record("GET /ok", stack.requests("/ok", count=3))
