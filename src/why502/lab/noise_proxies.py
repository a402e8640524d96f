"""The noisy host's baseline for Apache httpd and HAProxy: their own client and app noise.

The same baseline as nginx's (:mod:`why502.lab.noise`), written by the proxy the scenario runs:

- another healthy application behind the same proxy gets 200s on ``/other/`` (Apache:
  ``ProxyPass /other/ ...`` before the scenario's own ProxyPass, first match wins, mod_proxy
  docs "Ordering ProxyPass Directives"; HAProxy: ``use_backend noise_other if { path_beg
  /other/ }`` in the frontend, a ``backend noise_other`` of its own);
- static files, some missing: Apache serves ``/static/`` from its ``DocumentRoot`` itself
  (``ProxyPass /static/ !`` excludes it from proxying); HAProxy serves no files, so a static
  file server (Python's ``http.server``) behind ``backend noise_static`` answers the 200/404s;
- a TLS ClientHello on the plain-HTTP port: Apache answers 400 and its access log holds the
  raw bytes as the request line (``"\x16\x03\x01\x02" 400``, ``ap_escape_logitem()``); the
  recorded Debian 2.4.71 wrote no error-log line for it at ``LogLevel info`` (server/protocol.c
  ``read_request_line()`` logs the bad request line below that level); HAProxy answers 400 and
  logs ``<BADREQ>`` with termination state ``PR--`` (configuration.txt 8.5: ``P`` a protocol
  error, ``R`` while waiting for the request; the lab's connect-only readiness probes log
  ``CR--``);
- a client that gives up and resets the connection before a slow answer of the other
  application: HAProxy logs ``CD--`` (``C`` the client aborted, ``D`` during the data phase:
  client-side, configuration.txt 8.5), Apache logs the request (200) when the answer is written;
- an old, finished incident of that proxy: yesterday's requests to an application that no
  longer exists (``/legacy`` towards a port where nothing listened: Apache ``AH00957``
  refused, 503; HAProxy ``SC--`` 503 on ``backend noise_legacy``), recorded for real and moved
  a day back.

:func:`record` runs that traffic on a real ``apache2``/``haproxy`` (loopback, random ports,
temp dir, stopped by PID) for ``scripts/record-noise``; :func:`add_live` adds the routes to a
scenario's running proxy (config rewritten and checked, Apache gracefully restarted with
SIGUSR1, HAProxy restarted by PID) and makes the same traffic for real.
"""

from __future__ import annotations

import os
import signal
import socket
import struct
import subprocess
import sys
import time
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from why502.lab.noise import PLACEHOLDER, make_traffic, start_other_app
from why502.lab.runtime import Stack, free_port
from why502.lab.runtime.errors import LabError
from why502.lab.runtime.machine import find_haproxy
from why502.lab.runtime.plugins import lab_plugin
from why502.lab.runtime.processes import can_connect, wait_for

if TYPE_CHECKING:
    from why502.lab.runtime.processes import Process
    from why502.lab.scenarios.model import ScenarioRun

OTHER_BACKEND = "noise_other"
STATIC_BACKEND = "noise_static"
LEGACY_BACKEND = "noise_legacy"
_APACHE_ROUTES = ("ProxyPass ", "ProxyPassMatch ", "<Proxy ", "<Location ", "SetHandler ")


def apache_directives(other: str, legacy: int | None = None) -> str:
    """The lines laid before the scenario's first ProxyPass (first match wins)."""
    # timeout=5: the other app's own limit (a worker parameter, mod_proxy "ProxyPass" docs), so
    # a scenario's short ProxyTimeout does not make its slow report a 504 of its own
    lines = ["LogLevel info", f"ProxyPass /other/ http://{other}/other/ timeout=5",
             "ProxyPass /static/ !"]
    if legacy is not None:
        lines.append(f"ProxyPass /legacy http://127.0.0.1:{legacy}/legacy")
    return "".join(line + "\n" for line in lines)


def insert_apache(conf: str, directives: str) -> str:
    """``conf`` with ``directives`` before its first routing line (or at its end)."""
    lines = conf.splitlines(keepends=True)
    at = next((i for i, ln in enumerate(lines) if ln.lstrip().startswith(_APACHE_ROUTES)),
              len(lines))
    return "".join(lines[:at]) + directives + "".join(lines[at:])


def haproxy_blocks(other: str, static: str, legacy: int | None = None) -> tuple[str, str]:
    """(frontend lines, backend sections) of the other app, the static files, the legacy app."""
    front = [f"use_backend {OTHER_BACKEND} if {{ path_beg /other/ }}",
             f"use_backend {STATIC_BACKEND} if {{ path_beg /static/ }}"]
    # abortonclose: a client that hangs up aborts its request to the server (configuration.txt
    # 4.2 "option abortonclose"), so HAProxy logs the client-side termination state
    # timeout server 5s: the other app's own limit, not the scenario's (configuration.txt 4.2)
    back = [f"backend {OTHER_BACKEND}", "    option abortonclose", "    timeout server 5s",
            f"    server other1 {other}", "",
            f"backend {STATIC_BACKEND}", f"    server static1 {static}", ""]
    if legacy is not None:
        front.append(f"use_backend {LEGACY_BACKEND} if {{ path_beg /legacy }}")
        back += [f"backend {LEGACY_BACKEND}", f"    server old1 127.0.0.1:{legacy}", ""]
    return "".join(f"    {ln}\n" for ln in front), "\n".join(back)


def insert_haproxy(conf: str, front: str, back: str) -> str:
    """``conf`` with ``front`` at the end of its first ``frontend`` and ``back`` appended."""
    lines = conf.splitlines(keepends=True)
    start = next((i for i, ln in enumerate(lines) if ln.startswith("frontend ")), None)
    if start is None:
        raise LabError("the noisy baseline found no frontend in haproxy.cfg")
    end = next((i for i in range(start + 1, len(lines))
                if lines[i].strip() and not lines[i][0].isspace()), len(lines))
    while end > start + 1 and not lines[end - 1].strip():
        end -= 1
    text = "".join(lines[:end]) + front + "".join(lines[end:])
    return text.rstrip("\n") + "\n\n" + back


def start_static_server(stack: Stack) -> tuple[Process, str]:
    """A static file server (Python's ``http.server``) on ``www``: HAProxy serves no files."""
    port = free_port()
    www = stack.p.root / "www"
    proc = stack.spawn("static-files", [sys.executable, "-m", "http.server", "--bind", "127.0.0.1",
                                        str(port), "--directory", str(www)])
    address = f"127.0.0.1:{port}"
    wait_for(lambda: can_connect(address), proc, "static-files")
    return proc, address


def _traffic(stack: Stack, log: Path, legacy: bool) -> None:
    """The baseline's requests; the hang-up's line is written when the slow answer came."""
    if legacy:
        for _ in range(3):
            stack.request("/legacy")
    make_traffic(stack)
    _reset_after(stack, "/other/report?client=mobile", 0.4)
    deadline = time.monotonic() + 5.0
    while time.monotonic() < deadline and "client=mobile" not in log.read_text(errors="replace"):
        time.sleep(0.1)
    time.sleep(0.3)


def _reset_after(stack: Stack, path: str, wait: float) -> None:
    """A client that gives up after ``wait`` s and resets the connection (``SO_LINGER`` 0, as a
    client whose process or network went away does): the proxy sees the hang-up while it waits
    for the answer, not only when it writes it."""
    host, _, port = stack.listen.rpartition(":")
    with stack.inside(), socket.create_connection((host.strip("[]"), int(port)), timeout=2) as s:
        s.sendall(f"GET {path} HTTP/1.1\r\nHost: lab.example\r\nUser-Agent: why502-lab\r\n"
                  "\r\n".encode())
        time.sleep(wait)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))


def _restart_apache(stack: Stack, conf: Path) -> None:
    """``apache2 -t`` on the new config, then a graceful restart (SIGUSR1 to the parent)."""
    binary = lab_plugin("apache").find_apache()
    if binary is None or stack.proxy is None:
        raise LabError("no Apache to lay the noisy baseline on")
    check = subprocess.run([binary, "-t", "-f", str(conf)], capture_output=True, text=True,
                           timeout=15, check=False)
    if check.returncode != 0:
        raise LabError(f"apache2 -t rejected the noisy config: {check.stderr[-400:]}")
    os.kill(stack.proxy.popen.pid, signal.SIGUSR1)
    time.sleep(1.0)  # the new generation of children takes over the listener
    wait_for(lambda: can_connect(stack.listen), stack.proxy, "apache2")


def _restart_haproxy(stack: Stack, conf: Path, log: Path) -> None:
    """``haproxy -c`` on the new config, then the old process stopped by PID and a new one."""
    binary = find_haproxy()
    if binary is None or stack.proxy is None:
        raise LabError("no HAProxy to lay the noisy baseline on")
    check = subprocess.run([binary, "-c", "-f", str(conf)], capture_output=True, text=True,
                           timeout=15, check=False)
    if check.returncode != 0:
        raise LabError(f"haproxy -c rejected the noisy config: {(check.stdout + check.stderr)[-400:]}")
    stack.stop_process(stack.proxy)
    proc = stack.spawn("haproxy", [binary, "-f", str(conf), "-db"], stdout=log)
    wait_for(lambda: can_connect(stack.listen), proc, "haproxy", log=log)
    stack.proxy = proc


def add_live(stack: Stack, proxy: str, legacy: int | None = None) -> dict[str, str]:
    """Add the baseline's routes to the stack's running Apache/HAProxy and make its traffic;
    returns where the other application (and HAProxy's static file server) listened."""
    other = start_other_app(stack)
    if proxy == "apache":
        conf, _error, access = lab_plugin("apache").apache_paths(stack)
        conf.write_text(insert_apache(conf.read_text(), apache_directives(other.address, legacy)))
        _restart_apache(stack, conf)
        _traffic(stack, access, legacy is not None)
        return {"other": other.address}
    conf, log, _sock = lab_plugin("haproxy").haproxy_paths(stack)
    _proc, static = start_static_server(stack)
    front, back = haproxy_blocks(other.address, static, legacy)
    conf.write_text(insert_haproxy(conf.read_text(), front, back))
    _restart_haproxy(stack, conf, log)
    _traffic(stack, log, legacy is not None)
    return {"other": other.address, "static": static}


def add_noise_live(stack: Stack, run: ScenarioRun) -> None:
    """The baseline on a finished Apache/HAProxy scenario: its routes and traffic on the running
    proxy, and yesterday's recorded incident of that proxy in the rotated log (``<log>.1``)."""
    from why502.lab.noise import load_baseline
    from why502.lab.noise_replay_proxies import yesterday_lines

    add_live(stack, run.proxy)
    recorded = load_baseline().get(run.proxy)
    if run.error_log is not None and recorded is not None:
        Path(f"{run.error_log}.1").write_text(
            "".join(ln + "\n" for ln in yesterday_lines(run.proxy, recorded, datetime.now())))


def _lines(path: Path, offset: int, root: str) -> list[str]:
    text = path.read_bytes()[offset:].decode("utf-8", "surrogateescape").replace(root, PLACEHOLDER)
    return text.split("\n")[:-1]


def _size(path: Path) -> int:
    return path.stat().st_size if path.exists() else 0


def _split_legacy(lines: list[str]) -> tuple[list[str], list[str]]:
    """(the old incident's lines, the rest): the incident is every line about ``/legacy``."""
    old = [ln for ln in lines if "/legacy" in ln or "AH00957" in ln or "AH01114" in ln
           or LEGACY_BACKEND in ln]
    return old, [ln for ln in lines if ln not in old]


def record(proxy: str) -> dict[str, Any]:
    """Run the baseline's traffic on a real Apache or HAProxy; what it wrote (``noise.json``)."""
    legacy = free_port()
    with Stack() as stack:
        root = str(stack.root)
        stack.write_file("www/index.html", "ok\n")
        if proxy == "apache":
            stack.start_apache("ProxyPass / http://127.0.0.1:9/\n")
            conf, error, access = lab_plugin("apache").apache_paths(stack)
            at = (_size(error), _size(access))
            where = add_live(stack, "apache", legacy)
            errors = [ln for ln in _lines(error, at[0], root) if ":notice]" not in ln]
            old, rest = _split_legacy(errors)
            old_access, access_lines = _split_legacy(_lines(access, at[1], root))
            version = subprocess.run([lab_plugin("apache").find_apache() or "apache2", "-v"],
                                     capture_output=True, text=True, check=False,
                                     timeout=10).stdout.splitlines()[0]
            return {**where, "version": version, "config": _lines(conf, 0, root), "error": rest,
                    "access": access_lines, "old_error": old, "old_access": old_access}
        stack.start_haproxy("server web1 127.0.0.1:9", defaults="retries 0")
        conf, log, _sock = lab_plugin("haproxy").haproxy_paths(stack)
        at_log = _size(log)
        where = add_live(stack, "haproxy", legacy)
        old, rest = _split_legacy(_lines(log, at_log, root))
        version = subprocess.run([find_haproxy() or "haproxy", "-v"], capture_output=True,
                                 text=True, check=False, timeout=10).stdout.splitlines()[0]
        return {**where, "version": version, "config": _lines(conf, 0, root), "error": rest,
                "old_error": old}

