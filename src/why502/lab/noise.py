"""A noisy host: what a real machine's logs hold besides the failure a scenario reproduces.

``add_noise(stack, run)`` lays, after a scenario ran, the baseline every shared production host
has, so ``diagnose`` is checked on it and not only on a clean lab (``why502 lab check --noisy``,
tests/lab/test_lab_noise.py).  The answer must not change:

- the kernel log holds OOM kills and segfaults of *other* processes with the backends' names
  (``python3``, ``php-fpm8.2``): another job, other PIDs, an hour before the scenario ran and
  before its nginx started;
- the rotated error log (``error.log.1``) holds an old incident that ended long ago, towards an
  upstream this config no longer has;
- another application behind the same nginx is healthy and gets traffic: an ``upstream`` of its
  own and a ``location /other/`` in the scenario's server (200s with ``$upstream_addr``);
- static files: ``location /static/`` serves one file and 404s the ones that are missing (nginx
  logs ``open() ... failed (2: No such file or directory)`` at ``error``,
  ``ngx_http_static_module.c`` ``ngx_http_static_handler()``);
- clients: a TLS ClientHello made by Python's ``ssl`` module on the plain-HTTP port (nginx
  answers 400 and logs ``client sent invalid method`` at ``info``, ``ngx_http_parse.c`` /
  ``ngx_http_request.c`` ``ngx_http_process_request_line()``), and a client that hangs up before
  a slow answer (access-log 499, ``NGX_HTTP_CLIENT_CLOSED_REQUEST`` in ``ngx_http_request.h``;
  ``client prematurely closed connection`` at ``info``, ``ngx_http_upstream.c``
  ``ngx_http_upstream_check_broken_connection()``).

Live, that traffic is made for real on the scenario's own nginx (the blocks are added to its
config and nginx is reloaded); Apache and HAProxy scenarios get their own proxy's version of it
(:mod:`why502.lab.noise_proxies`).  Offline, :mod:`why502.lab.noise_replay` lays the same baseline,
*recorded* from a real nginx by :func:`record_baseline` (``scripts/record-noise`` writes
``lab/assets/noise.json``), over the recorded inputs of every scenario.

The kernel lines follow ``dmesg -T`` and the kernel's own format strings (``mm/oom_kill.c``
``__oom_kill_process()``, ``arch/x86/mm/fault.c`` ``show_signal_msg()``); the error-log lines
are the recorded lines of ``backend-down-tcp`` with another peer and an older date.
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import json
import re
import socket
import ssl
import subprocess
import time
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from why502.lab.runtime import Stack, find_nginx
from why502.lab.runtime.errors import LabError
from why502.lab.runtime.processes import can_connect

if TYPE_CHECKING:
    from why502.lab.runtime.backends import Backend
    from why502.lab.scenarios.model import ScenarioRun

# (minutes before now, pid, process): other jobs of the same names, long before the scenario
_OOM_VICTIMS = ((75, 3101, "python3"), (62, 3377, "python3"), (58, 4120, "php-fpm8.2"))
_SEGFAULTS = ((70, 2890, "python3"), (55, 5012, "node"))

OTHER_UPSTREAM = "noise_other_app"
PLACEHOLDER = "/lab"
ASSET = Path(__file__).resolve().parent / "assets" / "noise.json"


def kernel_noise(now: datetime) -> list[str]:
    """OOM kills and segfaults of same-named processes an hour before ``now`` (``dmesg -T``)."""
    lines = []
    for ago, pid, name in _OOM_VICTIMS:
        stamp = (now - timedelta(minutes=ago)).strftime("%a %b %d %H:%M:%S %Y")
        lines.append(f"[{stamp}] Out of memory: Killed process {pid} ({name}) total-vm:1716580kB, "
                     "anon-rss:1461342kB, file-rss:0kB, shmem-rss:0kB, UID:1001 pgtables:3371kB "
                     "oom_score_adj:0")
    for ago, pid, name in _SEGFAULTS:
        stamp = (now - timedelta(minutes=ago)).strftime("%a %b %d %H:%M:%S %Y")
        lines.append(f"[{stamp}] {name}[{pid}]: segfault at 0 ip 00007f3a1c2b4e10 sp 00007ffd4c1e2a08 "
                     "error 4 in libc.so.6[7f3a1c200000+195000]")
    return lines


def old_incident(now: datetime) -> list[str]:
    """A finished outage of an upstream long gone, a day before ``now`` (nginx error-log lines)."""
    out = []
    for n in range(3):
        stamp = (now - timedelta(days=1, minutes=30 - n)).strftime("%Y/%m/%d %H:%M:%S")
        out.append(f"{stamp} [error] 812#812: *{40 + n} connect() failed (111: Connection refused) "
                   "while connecting to upstream, client: 198.51.100.7, server: old.example, "
                   'request: "GET /legacy HTTP/1.1", upstream: "http://127.0.0.1:9/legacy", '
                   'host: "old.example"')
    return out


def noise_blocks(backend: str, www: str) -> tuple[str, str]:
    """The other application's ``upstream`` block and the two locations the baseline adds to the
    scenario's server: ``/other/`` (proxied to it) and ``/static/`` (files under ``www``)."""
    upstream = f"upstream {OTHER_UPSTREAM} {{\n    server {backend};\n}}\n"
    locations = (f"location /other/ {{\n    proxy_pass http://{OTHER_UPSTREAM};\n}}\n"
                 f"location /static/ {{\n    root {www};\n}}\n")
    return upstream, locations


_SERVER = re.compile(r"^(?P<pad>[ \t]*)server\s*\{[ \t]*$", re.M)


def insert_blocks(conf: str, upstream: str, locations: str) -> str | None:
    """``conf`` with ``upstream`` before its first ``server {`` and ``locations`` at the top of that
    server; None when the config has no such line (not a config the lab wrote)."""
    m = _SERVER.search(conf)
    if m is None:
        return None
    pad = m.group("pad")

    def indent(text: str, n: str) -> str:
        return "".join(n + line + "\n" for line in text.splitlines())

    # the locations go after the server's listen/server_name lines, where a person writes them
    at = m.end()
    head = re.compile(r"\n[ \t]*(?:listen|server_name)\b[^\n{]*;[ \t]*(?=\n)")
    while (line := head.match(conf, at)) is not None:
        at = line.end()
    return (conf[:m.start()] + indent(upstream, pad) + conf[m.start():at] + "\n"
            + indent(locations, pad + "    ") + conf[at:].lstrip("\n"))


def make_traffic(stack: Stack) -> None:
    """The baseline's requests, for real: the other app's 200s, static 200/404s, a TLS
    ClientHello on the HTTP port and a client that hangs up before a slow answer (499)."""
    for path in ("/other/api/items", "/other/api/items?page=2", "/other/health", "/static/site.css",
                 "/static/missing-logo.png", "/other/api/items", "/static/old/app.js"):
        stack.request(path)
    _tls_to_plain_port(stack)
    stack.request("/other/report", timeout=0.4)  # the client gives up: 499
    stack.request("/other/api/items")
    time.sleep(0.2)  # nginx writes the access-log line after the response went out


def start_other_app(stack: Stack) -> Backend:
    """The other application: healthy, but ``/other/report`` takes 2 s (the 499's request)."""
    stack.write_file("www/static/site.css", "body { margin: 0 }\n")
    return stack.add_backend("slow", name="other-app", delay=2.0, fail_path="/other/report")


def add_noise(stack: Stack, run: ScenarioRun) -> None:
    """Lay the noisy baseline over a finished scenario run (see the module docstring)."""
    now = datetime.now()
    kernel = run.kernel_log
    own = kernel.read_text() if kernel is not None and kernel.exists() else ""
    run.kernel_log = stack.write_file("logs/kernel.log", "\n".join(kernel_noise(now)) + "\n" + own)
    if run.error_log is not None and run.proxy == "nginx":  # nginx's lines, in nginx's log
        rotated = Path(f"{run.error_log}.1")
        rotated.write_text("\n".join(old_incident(now)) + "\n")
    if run.proxy in ("apache", "haproxy") and stack.proxy is not None and stack.proxy.alive():
        from why502.lab.noise_proxies import add_noise_live  # it builds on this module

        add_noise_live(stack, run)
        return
    if run.proxy != "nginx" or stack.nginx is None or not stack.nginx.alive():
        with contextlib.suppress(OSError):
            _tls_to_plain_port(stack)
        return
    other = start_other_app(stack)
    conf = stack.p.nginx_conf.read_text()
    upstream, locations = noise_blocks(other.address, str(stack.p.www))
    new = insert_blocks(conf, upstream, locations)
    if new is None:
        raise LabError("the noisy baseline found no server block in the scenario's nginx.conf")
    stack.p.nginx_conf.write_text(new)
    stack.reload_nginx()
    make_traffic(stack)


def _tls_to_plain_port(stack: Stack) -> None:
    """A real TLS ClientHello (Python's ``ssl``) on the HTTP port: nginx answers 400."""
    host, _, port = stack.listen.rpartition(":")
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    with stack.inside():
        if not can_connect(stack.listen):
            return
        with socket.create_connection((host.strip("[]"), int(port)), timeout=2) as raw, \
                contextlib.suppress(OSError, ssl.SSLError):
            ctx.wrap_socket(raw, server_hostname="lab.example").close()


def record_baseline() -> dict[str, Any]:
    """Run the baseline's traffic on a real nginx and return what it wrote (``noise.json``).

    The nginx logs at ``info`` so the client-side lines a verbose host has are in the recording;
    only the lines written while the traffic ran are kept, with the temp dir replaced by
    :data:`PLACEHOLDER`.
    """
    nginx = find_nginx()
    if nginx is None:
        raise LabError("nginx is not installed")
    with Stack() as stack:
        other = start_other_app(stack)
        upstream, locations = noise_blocks(other.address, str(stack.p.www))
        body = upstream + "server {\n    listen " + stack.listen + ";\n    server_name lab.example;\n" \
            + "".join("    " + line + "\n" for line in locations.splitlines()) \
            + "    location / {\n        return 200 'ok\\n';\n    }\n}\n"
        stack.start_nginx(body, error_level="info")
        access_at = stack.p.access_log.stat().st_size if stack.p.access_log.exists() else 0
        error_at = stack.p.error_log.stat().st_size
        make_traffic(stack)
        root = str(stack.root)
        # the ClientHello's bytes are in the error log raw (not UTF-8, a vertical tab inside):
        # kept byte for byte (surrogateescape), split on newlines only
        access = _tail(stack.p.access_log, access_at).replace(root, PLACEHOLDER)
        error = _tail(stack.p.error_log, error_at).replace(root, PLACEHOLDER)
        version = subprocess.run([nginx, "-v"], capture_output=True, text=True, check=False,
                                 timeout=10).stderr.strip()
        return {
            "recorded_at": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
            "recorded_by": "scripts/record-noise (why502.lab.noise.record_baseline)",
            "nginx": version,
            "backend": other.address,
            "upstream": upstream,
            "locations": locations.replace(root, PLACEHOLDER),
            "access": access.split("\n")[:-1],
            "error": [line for line in error.split("\n")[:-1] if "[notice]" not in line],
        }


def _tail(path: Path, offset: int) -> str:
    return path.read_bytes()[offset:].decode("utf-8", "surrogateescape")


def load_baseline() -> dict[str, Any]:
    """The recorded baseline (``lab/assets/noise.json``)."""
    data: dict[str, Any] = json.loads(ASSET.read_text())
    return data
