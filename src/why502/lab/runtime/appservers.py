"""Real app servers behind a lab proxy: gunicorn, uWSGI and Node's ``http.Server`` on loopback,
random ports, in the stack's temp dir, stopped by PID (``Stack.spawn``).

The lab's Python backends (``backends``) reproduce a fault's bytes; these reproduce the app
server's own behaviour -- gunicorn's ``timeout`` killing a worker (``[CRITICAL] WORKER TIMEOUT``,
gunicorn/arbiter.py ``murder_workers``), its 2 s ``keepalive`` default (gunicorn/config.py
``Keepalive``), uWSGI's ``harakiri``, Node's 5 s ``server.keepAliveTimeout`` (node
lib/_http_server.js) -- which is what a proxy meets in production.

The apps are tiny and the same on each server: ``/`` answers ``ok``; ``/slow/N`` sleeps N seconds
(longer than a proxy's or the app server's own time limit); ``/cpu`` burns ~30 ms of CPU (the
server's loop is busy when a keep-alive timer fires: the keep-alive race becomes reproducible in
seconds -- measured ~40 resets in 40 s of bursty POSTs); ``/crash`` kills the serving process
mid-request (``os._exit``; in Node an uncaught exception, which ends the process with its stack
and ``Node.js vNN`` on stderr); ``/status/NNN`` answers NNN itself (a 5xx the app
made, which the proxy relays).  The paths match anywhere in the URL (``/api/slow/3``): Envoy and
Caddy pass the route's prefix on.  ``tests/support/appservers.py`` re-exports this module for the
tests of ``tests/appservers``.
"""

from __future__ import annotations

import random
import shutil
import socket
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING

from why502.lab.runtime.errors import LabError, LabSkip
from why502.lab.runtime.machine import free_port
from why502.lab.runtime.processes import Process, read_text

if TYPE_CHECKING:
    from why502.lab.runtime.stack import Stack

WSGI_APP = '''\
import os
import time


def app(environ, start_response):
    path = environ.get("PATH_INFO", "/")
    n = int(environ.get("CONTENT_LENGTH") or 0)
    if n:
        environ["wsgi.input"].read(n)
    if "/slow/" in path:
        time.sleep(float(path.rsplit("/", 1)[-1]))
    if "/cpu" in path:
        end = time.perf_counter() + 0.03
        while time.perf_counter() < end:
            pass
    if "/crash" in path:
        os._exit(1)
    status = "200 OK"
    if "/status/" in path:
        status = path.rsplit("/", 1)[-1] + " App Error"
    body = b"ok\\n"
    start_response(status, [("Content-Type", "text/plain"), ("Content-Length", str(len(body)))])
    return [body]


application = app
'''

# The same app as ASGI, for uvicorn: /crash ends the one server process (``os._exit``: uvicorn
# without --workers serves in a single process, so it is gone, as Node is after an uncaught
# exception); uvicorn itself logs a request's exception and answers 500.
ASGI_APP = '''\
import asyncio
import os


async def app(scope, receive, send):
    if scope["type"] != "http":
        return
    path = scope.get("path", "/")
    more = True
    while more:
        message = await receive()
        more = message.get("more_body", False)
    if "/slow/" in path:
        await asyncio.sleep(float(path.rsplit("/", 1)[-1]))
    if "/crash" in path:
        os._exit(1)
    status = int(path.rsplit("/", 1)[-1]) if "/status/" in path else 200
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"text/plain"), (b"content-length", b"3")]})
    await send({"type": "http.response.body", "body": b"ok\\n"})
'''

NODE_APP = '''\
const http = require("http");
const server = http.createServer((req, res) => {
  req.resume();
  req.on("end", () => {
    if (req.url.includes("/cpu")) {
      const end = Date.now() + 60;
      while (Date.now() < end) {}
    }
    if (req.url.includes("/crash")) {
      throw new Error("invoice renderer failed");  // uncaught: Node prints it and exits 1
    }
    if (req.url.includes("/slow/")) {
      setTimeout(() => { res.writeHead(200); res.end("ok\\n"); },
                 1000 * parseFloat(req.url.split("/").pop()));
      return;
    }
    const status = req.url.includes("/status/") ? parseInt(req.url.split("/").pop(), 10) : 200;
    res.writeHead(status, {"Content-Type": "text/plain", "Content-Length": "3"});
    res.end("ok\\n");
  });
});
server.keepAliveTimeout = KEEPALIVE;
server.listen(PORT, "127.0.0.1");
'''


def bin_of(name: str) -> str | None:
    """A program next to this Python (the venv's gunicorn) or on PATH."""
    here = Path(sys.executable).with_name(name)
    return str(here) if here.exists() else shutil.which(name)


def wait_port(port: int, proc: Process, timeout: float = 20.0) -> None:
    """Until something accepts on 127.0.0.1:port (bounded); LabError with the process output."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not proc.alive():
            break
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return
        except OSError:
            time.sleep(0.1)
    raise LabError(f"{proc.name} did not listen on {port}: {proc.output_tail()}")


def start_gunicorn(stack: Stack, conf: str, *, argv: tuple[str, ...] = ()) -> tuple[Process, int, Path]:
    """gunicorn on a random loopback port with ``conf`` as its ``gunicorn.conf.py`` (``bind`` is
    added); its error log in logs/gunicorn.log.  Returns the master, the port, the conf file."""
    exe = bin_of("gunicorn")
    if exe is None:
        raise LabSkip("gunicorn is not installed (pip install gunicorn)")
    port = free_port()
    stack.write_file("app/app.py", WSGI_APP)
    # gunicorn >= 27 opens a control socket under ~/.gunicorn unless told not to (unknown
    # settings in a config file are ignored by older versions)
    conf_path = stack.write_file("app/gunicorn.conf.py", f"bind = '127.0.0.1:{port}'\n{conf}"
                                 "control_socket_disable = True\n")
    log = stack.root / "logs" / "gunicorn.log"
    proc = stack.spawn("gunicorn", [exe, "-c", str(conf_path), "--chdir", str(stack.root / "app"),
                                    "--error-logfile", str(log), *argv, "app:app"],
                       cwd=stack.root / "app")
    wait_port(port, proc)
    return proc, port, conf_path


def start_uvicorn(stack: Stack) -> tuple[Process, int, Path]:
    """uvicorn (one process, its default) serving ``ASGI_APP`` on a random loopback port; its
    log (uvicorn logs to stderr) in logs/uvicorn.out.  Returns the process, the port, the app."""
    exe = bin_of("uvicorn")
    if exe is None:
        raise LabSkip("uvicorn is not installed (pip install uvicorn)")
    port = free_port()
    app = stack.write_file("app/asgi_app.py", ASGI_APP)
    proc = stack.spawn("uvicorn", [exe, "--host", "127.0.0.1", "--port", str(port),
                                   "--app-dir", str(stack.root / "app"), "asgi_app:app"],
                       cwd=stack.root / "app")
    wait_port(port, proc)
    return proc, port, app


def start_uwsgi(stack: Stack, ini: str) -> tuple[Process, int, Path]:
    """uWSGI (Debian's uwsgi-core + python3 plugin) speaking HTTP on a random loopback port."""
    exe = shutil.which("uwsgi") or shutil.which("uwsgi-core")
    if exe is None:
        raise LabSkip("uwsgi is not installed (apt-get install uwsgi-core uwsgi-plugin-python3)")
    port = free_port()
    stack.write_file("app/app.py", WSGI_APP)
    log = stack.root / "logs" / "uwsgi.log"
    ini_path = stack.write_file("app/uwsgi.ini", (
        f"[uwsgi]\nplugins = python3\nmaster = true\nhttp-socket = 127.0.0.1:{port}\n"
        f"wsgi-file = {stack.root / 'app' / 'app.py'}\nlogto = {log}\n{ini}"))
    proc = stack.spawn("uwsgi", [exe, "--ini", str(ini_path)], cwd=stack.root / "app")
    wait_port(port, proc)
    return proc, port, ini_path


def start_node(stack: Stack, keepalive_ms: int = 1000) -> tuple[Process, int, Path]:
    """Node's http.Server with ``keepAliveTimeout`` (ms; Node's default is 5000) on a random
    loopback port."""
    exe = shutil.which("node")
    if exe is None:
        raise LabSkip("node (Node.js) is not installed")
    port = free_port()
    script = stack.write_file("app/server.js", NODE_APP.replace("PORT", str(port))
                              .replace("KEEPALIVE", str(keepalive_ms)))
    proc = stack.spawn("node", [exe, str(script)], cwd=stack.root / "app")
    wait_port(port, proc)
    return proc, port, script


def proxy_to(stack: Stack, port: int, *, keepalive: bool = False, extra: str = "") -> None:
    """The lab nginx in front of 127.0.0.1:port (upstream ``app``; with ``keepalive``, idle
    connections are kept and reused: HTTP/1.1 and an empty Connection header)."""
    ka = "keepalive 16;" if keepalive else ""
    loc = 'proxy_http_version 1.1; proxy_set_header Connection "";' if keepalive else ""
    stack.start_nginx(f"upstream app {{ server 127.0.0.1:{port}; {ka} }}\n"
                      f"server {{ listen {stack.listen}; location / {{ proxy_pass http://app; "
                      f"{loc} {extra} }} }}\n")


def bursty_posts(stack: Stack, seconds: float = 40.0, want: int = 3, *,
                 log: Path | None = None, needle: str = "upstream") -> int:
    """Bursts of 16 concurrent POSTs to /cpu with idle gaps around a 1 s keep-alive timeout,
    until the proxy's log (default nginx's error log) shows ``needle`` ``want`` times or
    ``seconds`` pass (bounded); returns how many failed."""
    # Node blocks its loop 60 ms per request (NODE_APP): its keep-alive timer fires in the timers
    # phase before the poll phase reads a request that arrived meanwhile, and destroys the socket
    rng = random.Random(502)
    failed = 0
    deadline = time.monotonic() + seconds
    path = log or stack.p.error_log
    while time.monotonic() < deadline:
        got = stack.requests("/cpu", count=16, concurrency=16, method="POST", body=b"x" * 64)
        failed += sum(1 for r in got if r.status != 200)
        if read_text(path).count(needle) >= want:
            break
        time.sleep(rng.uniform(0.7, 1.2))
    return failed
