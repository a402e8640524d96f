"""Backends for a lab stack: the Python backend in its many failure modes, and a real Node.js app.

``lab/assets/backend.py`` is one small server whose ``--mode`` picks the misbehaviour a scenario
needs (slow, crashing, resetting, oversized headers, TLS, DNS...); it is copied into the stack's
dir and started like any other process of the stack.  Backends listen on loopback only, or on a
lab-private veth address inside one of the stack's own network namespaces.
"""

from __future__ import annotations

import re
import shutil
import socket
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from why502.lab.runtime import machine
from why502.lab.runtime.errors import LabError, LabSkip
from why502.lab.runtime.netns import LAB_NET, NetNamespace
from why502.lab.runtime.processes import Process, wait_for

if TYPE_CHECKING:
    from why502.lab.runtime.stack import Stack

ASSETS = Path(__file__).resolve().parent.parent / "assets"


@dataclass
class Backend:
    """A lab backend: ``address`` is what goes after ``http://`` in ``proxy_pass``."""

    name: str
    kind: str
    host: str
    port: int
    process: Process | None = None
    unix: str = ""  # the socket path of a backend on a unix socket (``add_backend(unix=True)``)

    @property
    def address(self) -> str:
        if self.unix:
            return f"unix:{self.unix}"
        return f"[{self.host}]:{self.port}" if ":" in self.host else f"{self.host}:{self.port}"


def asset(stack: Stack, name: str) -> Path:
    """``lab/assets/NAME`` copied into the stack's ``assets/`` (once), so it runs from there."""
    dest = stack.p.assets / name
    if not dest.exists():
        shutil.copyfile(ASSETS / name, dest)
    return dest


def add_backend(stack: Stack, kind: str = "ok", *, name: str | None = None,
                host: str = "127.0.0.1", port: int | None = None, delay: float = 0.0,
                header_bytes: int = 16384, idle_timeout: float = 0.5, backlog: int = 64,
                tls: bool = False, fail_path: str = "", body_bytes: int = 0, alloc_mb: int = 0,
                memory_limit_mb: int = 0, netns: NetNamespace | None = None, count: int = 0,
                body_file: str = "", unix: bool = False) -> Backend:
    """Start a Python backend (``lab/assets/backend.py``) in mode ``kind``.

    Modes: ``ok``, ``slow`` (``delay`` s), ``crash`` (SIGKILLs itself mid-request), ``reset``
    (RST mid-request), ``status502``/``status503`` (the backend itself answers 5xx),
    ``bigheader`` (a ``header_bytes`` Set-Cookie), ``invalid-header``, ``bad-status-line`` (a
    status line without its code), ``keepalive-closer``
    (drops a reused keep-alive connection idle for more than ``idle_timeout``), ``noread``
    (never reads the body), ``close-early`` (closes while the body is still arriving),
    ``blackhole`` (never accepts; queue full), ``tls`` (HTTPS, self-signed), ``tls-sni`` (HTTPS
    that rejects handshakes without SNI), ``dns-nxdomain``
    / ``dns-silent`` (UDP DNS), ``dns-vanish`` (UDP DNS: 127.0.0.1 for every A question
    until the file ``body_file`` exists, NXDOMAIN from then on), ``memhog`` (allocates
    ``alloc_mb`` MiB per request); hostile
    answers to an HTTP API client: ``trickle`` (a valid Prometheus answer, one byte every
    ``delay`` s), ``series`` (a vector of ``count`` series), ``deep`` (``count`` nested arrays),
    ``answer`` (the bytes of ``body_file``); ``drip`` (to any request, one byte every ``delay``
    s, never a line or a record).
    ``host`` must be a loopback address (``127.0.0.0/8``, ``::1``) -- or a ``10.251.x.x``
    address of a veth this stack made, with ``netns`` (the namespace to run in; default: the
    stack's own).  With ``fail_path`` only requests whose path starts with it misbehave (the
    rest get 200, like a health check).  ``memory_limit_mb`` runs the backend in its own memory cgroup.
    With ``unix`` it listens on ``run/<name>.sock`` in the stack's dir instead of a port
    (``address`` is then ``unix:PATH``).
    """
    ns = netns or stack.netns
    if ns is not None and ns not in stack.namespaces:
        raise LabError("backends run in namespaces this stack created only")
    lab_net = host.startswith(LAB_NET) and ns is not None
    # 127.0.0.0/8 is loopback on Linux: 127.0.0.2 is a backend bound to "another" loopback address
    if host != "::1" and not re.fullmatch(r"127(\.\d{1,3}){3}", host) and not lab_net:
        raise LabError(f"lab backends listen on loopback only, not {host!r}")
    if host == "::1" and not machine.ipv6_loopback_available():
        raise LabSkip("IPv6 loopback (::1) is not available on this machine")
    udp = kind.startswith("dns-")
    sock_type = socket.SOCK_DGRAM if udp else socket.SOCK_STREAM
    auto_port = port is None
    if port is not None and not udp:
        machine.release_port(host, port)  # a port kept dead until now (lab.scenarios.dead_port)
    try:
        with stack.inside(ns):
            port = port or machine.free_port(host, sock_type)
    except OSError as err:
        where = f"network namespace {ns.name}" if ns else "this host"
        raise LabError(f"cannot listen on {host} in {where}: {err.strerror}") from err
    name = name or f"{kind}-{stack.serial()}"
    ready = stack.p.run / f"{name}.ready"
    argv = [sys.executable, str(asset(stack, "backend.py")), "--mode", kind, "--name", name,
            "--host", host, "--port", str(port), "--ready", str(ready), "--delay", str(delay),
            "--header-bytes", str(header_bytes), "--idle-timeout", str(idle_timeout),
            "--backlog", str(backlog)]
    sock = stack.p.run / f"{name}.sock" if unix else None
    if sock is not None:
        argv += ["--unix", str(sock)]
    if fail_path:
        argv += ["--fail-path", fail_path]
    if body_bytes:
        argv += ["--body-bytes", str(body_bytes)]
    if alloc_mb:
        argv += ["--alloc-mb", str(alloc_mb)]
    if count:
        argv += ["--count", str(count)]
    if body_file:
        argv += ["--body-file", body_file]
    cgroup = stack.memory_cgroup(memory_limit_mb) if memory_limit_mb else None
    if tls or kind in ("tls", "tls-sni"):
        cert, key = stack.tls_cert()
        argv += ["--tls", "--cert", str(cert), "--key", str(key)]
    for attempt in range(3):
        proc = stack.spawn(f"backend-{name}", argv, netns=ns)
        if cgroup is not None:
            stack.move_to_cgroup(proc, cgroup)
        try:
            wait_for(lambda: ready.exists(), proc, f"backend {name} ({kind}) on {host}:{port}")
            break
        except LabError as err:
            # Another program took the "free" port between free_port() and bind(): retry.
            if not (auto_port and "Address already in use" in str(err)) or attempt == 2:
                raise
            stack.stop_process(proc)
            with stack.inside(ns):
                port = machine.free_port(host, sock_type)
            argv[argv.index("--port") + 1] = str(port)
    backend = Backend(name=name, kind=kind, host=host, port=port, process=proc,
                      unix=str(sock) if sock is not None else "")
    stack.backends[name] = backend
    return backend


def add_node_backend(stack: Stack, *, name: str = "node-app", host: str = "127.0.0.1",
                     port: int | None = None) -> Backend:
    """Start ``lab/assets/node_backend.js`` with Node.js (optional: LabSkip without ``node``).

    A real Node process behaves like production Node apps: an uncaught exception in a
    request callback terminates the whole process, printing the stack and ``Node.js vNN``.
    """
    node = shutil.which("node")
    if node is None:
        raise LabSkip("node (Node.js) is not installed; this scenario is optional")
    if host not in ("127.0.0.1", "::1"):
        raise LabError(f"lab backends listen on loopback only, not {host!r}")
    if port is not None:
        machine.release_port(host, port)
    port = port or machine.free_port(host)
    script = asset(stack, "node_backend.js")
    ready = stack.p.run / f"{name}.ready"
    proc = stack.spawn(f"backend-{name}", [node, str(script), host, str(port), str(ready)])
    wait_for(lambda: ready.exists(), proc, f"node backend {name} on {host}:{port}")
    backend = Backend(name=name, kind="node", host=host, port=port, process=proc)
    stack.backends[name] = backend
    return backend


def wait_backend_exit(backend: Backend, wait: float = 5.0) -> None:
    """Wait (bounded) until a backend that crashes on purpose has really exited."""
    if backend.process is None:
        return
    try:
        backend.process.popen.wait(timeout=wait)
    except subprocess.TimeoutExpired as err:
        raise LabError(f"backend {backend.name} did not exit within {wait}s") from err


def restart_backend(stack: Stack, backend: Backend, wait: float = 5.0) -> Backend:
    """Start ``backend`` again on the same address once its process has exited (a supervisor:
    systemd ``Restart=always``, pm2...).  Waits (bounded) for the old process to be gone."""
    old = backend.process
    if old is not None:
        wait_backend_exit(backend, wait)
        if old in stack.processes:
            stack.processes.remove(old)
    (stack.p.run / f"{backend.name}.ready").unlink(missing_ok=True)
    if backend.kind == "node":
        return add_node_backend(stack, name=backend.name, host=backend.host, port=backend.port)
    raise LabError("restart_backend supports node backends only")
