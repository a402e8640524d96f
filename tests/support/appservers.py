"""Real app servers behind the lab's real nginx, for tests/appservers (loopback, random ports,
temp dirs, stopped by PID through ``why502.lab.runtime.Stack``).

The apps are tiny: ``/`` answers ``ok``, ``/slow/N`` sleeps N seconds (a request longer than the
app server's own time limit), ``/cpu`` burns ~30 ms of CPU (so the server's event loop or main
thread is busy when a keep-alive timer fires: the keep-alive race becomes reproducible in
seconds instead of hours -- measured: ~40 resets in 40 s of bursty POSTs on this machine).
"""

from __future__ import annotations

import random
import shutil
import socket
import sys
import time
from pathlib import Path

from why502.lab.runtime import Stack
from why502.lab.runtime.machine import free_port
from why502.lab.runtime.processes import Process, read_text

WSGI_APP = '''\
import time


def app(environ, start_response):
    path = environ.get("PATH_INFO", "/")
    n = int(environ.get("CONTENT_LENGTH") or 0)
    if n:
        environ["wsgi.input"].read(n)
    if path.startswith("/slow/"):
        time.sleep(float(path.rsplit("/", 1)[-1]))
    if path.startswith("/cpu"):
        end = time.perf_counter() + 0.03
        while time.perf_counter() < end:
            pass
    body = b"ok\\n"
    start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", str(len(body)))])
    return [body]


application = app
'''

NODE_APP = '''\
const http = require("http");
const server = http.createServer((req, res) => {
  req.resume();
  req.on("end", () => {
    if (req.url.startsWith("/cpu")) {
      const end = Date.now() + 60;
      while (Date.now() < end) {}
    }
    res.writeHead(200, {"Content-Type": "text/plain", "Content-Length": "3"});
    res.end("ok\\n");
  });
});
server.keepAliveTimeout = 1000;
server.listen(PORT, "127.0.0.1");
'''


def bin_of(name: str) -> str | None:
    """A program next to this Python (the venv's gunicorn) or on PATH."""
    here = Path(sys.executable).with_name(name)
    return str(here) if here.exists() else shutil.which(name)


def wait_port(port: int, proc: Process, timeout: float = 20.0) -> None:
    """Until something accepts on 127.0.0.1:port (bounded); fail with the process output."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not proc.alive():
            break
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return
        except OSError:
            time.sleep(0.1)
    raise AssertionError(f"{proc.name} did not listen on {port}: {proc.output_tail()}")


def start_gunicorn(stack: Stack, conf: str, *, argv: tuple[str, ...] = ()) -> tuple[Process, int, Path]:
    """gunicorn on a random loopback port with ``conf`` as its ``gunicorn.conf.py`` (``bind`` is
    added); its error log in logs/gunicorn.log.  Returns the master, the port, the conf file."""
    exe = bin_of("gunicorn")
    assert exe, "gunicorn is in the dev extra (pip install -e '.[dev]')"
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


def start_uwsgi(stack: Stack, ini: str) -> tuple[Process, int, Path]:
    """uWSGI (Debian's uwsgi-core + python3 plugin) speaking HTTP on a random loopback port."""
    exe = shutil.which("uwsgi") or shutil.which("uwsgi-core")
    assert exe
    port = free_port()
    stack.write_file("app/app.py", WSGI_APP)
    log = stack.root / "logs" / "uwsgi.log"
    ini_path = stack.write_file("app/uwsgi.ini", (
        f"[uwsgi]\nplugins = python3\nmaster = true\nhttp-socket = 127.0.0.1:{port}\n"
        f"wsgi-file = {stack.root / 'app' / 'app.py'}\nlogto = {log}\n{ini}"))
    proc = stack.spawn("uwsgi", [exe, "--ini", str(ini_path)], cwd=stack.root / "app")
    wait_port(port, proc)
    return proc, port, ini_path


def start_node(stack: Stack) -> tuple[Process, int, Path]:
    """Node's http.Server with ``keepAliveTimeout = 1000`` on a random loopback port."""
    exe = shutil.which("node")
    assert exe
    port = free_port()
    script = stack.write_file("app/server.js", NODE_APP.replace("PORT", str(port)))
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


def bursty_posts(stack: Stack, seconds: float = 40.0, want: int = 3) -> int:
    # Node blocks its loop 60 ms per request (NODE_APP): its keep-alive timer fires in the timers
    # phase before the poll phase reads a request that arrived meanwhile, and destroys the socket
    """Bursts of 16 concurrent POSTs to /cpu with idle gaps around a 1 s keep-alive timeout,
    until nginx's error log shows ``want`` dropped connections or ``seconds`` pass (bounded);
    returns how many failed."""
    rng = random.Random(502)
    failed = 0
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        got = stack.requests("/cpu", count=16, concurrency=16, method="POST", body=b"x" * 64)
        failed += sum(1 for r in got if r.status != 200)
        if read_text(stack.p.error_log).count("upstream") >= want:
            break
        time.sleep(rng.uniform(0.7, 1.2))
    return failed
