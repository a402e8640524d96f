"""HAProxy's lab runtime (the plug-in of ``why502.lab``, reached through ``Hooks.lab_runtime``):
write ``haproxy.cfg``, check it with ``haproxy -c``, start it.

HAProxy runs in the foreground (``-db``: no daemon) so the stack stops it by the PID it started;
with ``master_worker`` it runs as Debian's systemd unit runs it (``-W``: a master that reloads on
SIGUSR2 and its worker), still in the foreground, the worker in the master's process group. It
listens on the stack's proxy address (``stack.listen``, where ``stack.request`` sends), logs its
httplog lines and server alerts to stdout in RFC 3164 form (``log stdout format rfc3164 local0``,
configuration.txt 3.1 "log") -- the lines rsyslog writes to ``/var/log/haproxy.log`` on Debian,
with a ``<PRI>`` header -- into ``logs/haproxy.log``; its own stderr (the same alerts as
``[WARNING] (pid) : ...``) goes to ``logs/haproxy.out``. A ``stats socket`` in the stack's run
directory serves the runtime API.
"""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import TYPE_CHECKING

from why502.lab.runtime.errors import LabError, LabSkip
from why502.lab.runtime.machine import find_haproxy
from why502.lab.runtime.processes import Process, can_connect, wait_for

if TYPE_CHECKING:
    from why502.lab.runtime.stack import Stack

MISSING = "haproxy is not installed (apt-get install haproxy)"


def unavailable() -> str | None:
    """Why this machine cannot run the lab's HAProxy (None: it can)."""
    return None if find_haproxy() else MISSING


def haproxy_paths(stack: Stack) -> tuple[Path, Path, Path]:
    """(config, log, stats socket) of the stack's HAProxy."""
    root = stack.p.root
    return root / "haproxy.cfg", root / "logs" / "haproxy.log", stack.p.run / "haproxy.sock"


def haproxy_config(stack: Stack, backend: str, *, defaults: str = "", frontend: str = "",
                   sections: str = "") -> str:
    """A complete ``haproxy.cfg``: global (log, stats socket), defaults (http mode, httplog,
    1 s connect / 5 s client+server unless ``defaults`` overrides), a frontend on
    ``stack.listen``, the scenario's ``backend app`` body, then ``sections`` as written (other
    top-level sections, e.g. an ``fcgi-app``)."""
    _conf, _log, sock = haproxy_paths(stack)
    base = {"timeout connect": "1s", "timeout client": "5s", "timeout server": "5s"}
    extra = [ln.strip() for ln in defaults.splitlines() if ln.strip()]
    for ln in extra:
        for key in list(base):
            if ln.startswith(key + " "):
                del base[key]
    lines = ["global", "    log stdout format rfc3164 local0",
             f"    stats socket {sock} mode 600 level admin", "    maxconn 200", "",
             "defaults", "    mode http", "    log global", "    option httplog",
             *(f"    {k} {v}" for k, v in base.items()), *(f"    {ln}" for ln in extra), "",
             "frontend fe", f"    bind {stack.listen}", "    default_backend app",
             *(f"    {ln.strip()}" for ln in frontend.splitlines() if ln.strip()), "",
             "backend app", *(f"    {ln.strip()}" for ln in backend.splitlines() if ln.strip()), ""]
    if sections.strip():
        lines += [sections.strip(), ""]
    return "\n".join(lines)


def start_haproxy(stack: Stack, backend: str, *, defaults: str = "", frontend: str = "",
                  master_worker: bool = False, sections: str = "") -> Process:
    """Write, check (``haproxy -c -f``) and start HAProxy; wait until it accepts connections."""
    binary = find_haproxy()
    if binary is None:
        raise LabSkip(MISSING)
    conf, log, _sock = haproxy_paths(stack)
    conf.write_text(haproxy_config(stack, backend, defaults=defaults, frontend=frontend,
                                  sections=sections))
    check = subprocess.run([binary, "-c", "-f", str(conf)], capture_output=True, text=True,
                           timeout=15, check=False)
    if check.returncode != 0:
        raise LabError(f"haproxy -c rejected the lab config: {(check.stdout + check.stderr)[-400:]}")
    argv = [binary, *(["-W"] if master_worker else []), "-f", str(conf), "-db"]
    proc = stack.spawn("haproxy", argv, stdout=log)
    wait_for(lambda: can_connect(stack.listen), proc, "haproxy", log=log)
    stack.proxy = proc
    return proc
