"""``Stack``: a real nginx, real PHP-FPM pools and real backends in one temp dir.

Why real programs: the messages why502 matches are nginx's and PHP-FPM's own, and their exact
text, level and order depend on the build, the kernel and the libc.  A :class:`Stack` starts
everything on loopback (``127.0.0.1``, ``::1`` or unix sockets inside its temp dir) on random free
ports, waits for readiness with bounded timeouts, and stops every process **by the PID it
started** (SIGTERM, then SIGKILL of that process group), also when a scenario fails half-way.
Nothing here ever targets another address.

The stack itself only holds the state (paths, processes, backends, pools) and the lifecycle; each
job is done by the module that owns it and reached through a method of the stack: network
namespaces (``netns``), memory cgroups (``cgroups``), processes (``processes``), certificates
(``tls``), the client (``client``) and the launchers (``fpm``, ``backends``, ``supervisor``).
The proxies' launchers are their folders' lab plug-ins (``proxies/<name>/lab.py``), reached
through the registry (:func:`plugins.lab_plugin`).
"""

from __future__ import annotations

import contextlib
import shutil
import tempfile
import threading
from collections.abc import Sequence
from pathlib import Path
from types import TracebackType

from why502.lab.runtime import backends, client, fpm, machine, supervisor, tls
from why502.lab.runtime.backends import Backend
from why502.lab.runtime.cgroups import MemoryCgroups
from why502.lab.runtime.client import Response, SourcePorts
from why502.lab.runtime.errors import LabError
from why502.lab.runtime.fpm import FpmPool
from why502.lab.runtime.netns import Namespaces, NetNamespace
from why502.lab.runtime.paths import SUBDIRS, StackPaths
from why502.lab.runtime.plugins import lab_plugin
from why502.lab.runtime.processes import Process, children_of, spawn, stop_process, wait_for_log


class Stack:
    """A disposable nginx + PHP-FPM + backends setup in a temp dir (a context manager).

    ``keep=True`` leaves the directory (never the processes) for inspection.  As root the nginx
    workers run as root too (``user root root;``) unless ``worker_user`` names another account:
    the socket-permissions scenario needs a real unprivileged worker user.
    """

    def __init__(self, keep: bool = False, base_dir: str | None = None, prefix: str = "why502-lab-") -> None:
        self.keep = keep
        self._base_dir = base_dir
        self._prefix = prefix
        self.paths: StackPaths | None = None  # set by __enter__
        self.processes: list[Process] = []
        self.backends: dict[str, Backend] = {}
        self.pools: dict[str, FpmPool] = {}
        self.nginx: Process | None = None
        self.fpm: Process | None = None
        self.supervisord: Process | None = None
        self.proxy: Process | None = None  # a proxy other than nginx (HAProxy)
        self.nginx_port = 0
        self._lock = threading.Lock()
        self._counter = 0
        # network namespaces and memory cgroups this stack created (removed by name in stop())
        self.net = Namespaces(self.serial)
        self.memory = MemoryCgroups()
        self._source_ports = SourcePorts()

    # -- lifecycle -------------------------------------------------------------------------------

    def __enter__(self) -> Stack:
        root = Path(tempfile.mkdtemp(prefix=self._prefix, dir=self._base_dir)).resolve()
        self.paths = StackPaths.under(root)
        for sub in SUBDIRS:
            (root / sub).mkdir()
        self.nginx_port = machine.free_port()
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()
        if not self.keep and self.paths is not None:
            shutil.rmtree(self.paths.root, ignore_errors=True)

    @property
    def p(self) -> StackPaths:
        """``paths``, asserting the stack was entered."""
        if self.paths is None:
            raise LabError("the lab stack is not started (use it as a context manager)")
        return self.paths

    @property
    def root(self) -> Path:
        return self.p.root

    @property
    def listen(self) -> str:
        """The ``listen`` argument for the nginx server block."""
        return f"127.0.0.1:{self.nginx_port}"

    def serial(self) -> int:
        """The next number of this stack (default backend names, veth device names)."""
        with self._lock:
            self._counter += 1
            return self._counter

    def stop(self) -> None:
        """Stop every started process by PID: SIGTERM, a bounded wait, then SIGKILL its group.

        Then remove what the stack created outside its temp dir, by the names it recorded: its
        memory cgroups (``rmdir``, once empty) and its network namespaces (``ip netns del``).
        """
        for proc in reversed(self.processes):
            stop_process(proc)
        self.processes.clear()
        self.memory.remove_all()
        self.net.delete_all()

    # -- processes -------------------------------------------------------------------------------

    def spawn(self, name: str, argv: Sequence[str], cwd: Path | None = None,
              netns: NetNamespace | None = None, stdout: Path | None = None) -> Process:
        """Start ``argv`` as a process of this stack: in ``netns`` (default: the stack's own
        namespace, if any), output in ``logs/<name>.out``, stopped by PID in :meth:`stop`."""
        ns = netns or self.netns
        if ns is not None:
            argv = [*ns.prefix(), *argv]
        proc = spawn(name, argv, self.p.root / "logs" / f"{name}.out", cwd or self.p.root, stdout)
        self.processes.append(proc)
        return proc

    def stop_process(self, proc: Process) -> None:
        """Stop one process now (e.g. "the backend went away")."""
        stop_process(proc)
        if proc in self.processes:
            self.processes.remove(proc)

    def wait_for_log(self, path: Path, needle: str, timeout: float = 5.0) -> bool:
        """Poll ``path`` until it contains ``needle`` (bounded); True when found."""
        return wait_for_log(path, needle, timeout)

    def write_file(self, relative: str, text: str) -> Path:
        """Write a file under the stack root (PHP scripts, extra config)."""
        path = self.p.root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
        return path

    # -- network namespaces and cgroups ----------------------------------------------------------

    @property
    def netns(self) -> NetNamespace | None:
        """The namespace nginx, the backends and the client run in (None: the host's)."""
        return self.net.current

    @property
    def namespaces(self) -> list[NetNamespace]:
        """Every network namespace this stack created."""
        return self.net.created

    @property
    def cgroups(self) -> list[Path]:
        """Every memory cgroup this stack created."""
        return self.memory.created

    def add_netns(self, label: str = "lab") -> NetNamespace:
        """Create a fresh network namespace (only ``lo``, brought up) owned by this stack."""
        return self.net.add(label)

    def use_netns(self, sysctls: dict[str, str] | None = None) -> NetNamespace:
        """Run this whole stack (nginx, backends, PHP-FPM, the lab client) in its own network
        namespace, with per-namespace ``net.*`` sysctls; call it before starting anything."""
        if self.processes:
            raise LabError("use_netns() must come before any process is started")
        return self.net.use(sysctls)

    def netns_sysctl(self, ns: NetNamespace, key: str, value: str) -> None:
        """Set a per-namespace ``net.*`` sysctl inside ``ns`` (never the host's)."""
        self.net.sysctl(ns, key, value)

    def link_netns(self, a: NetNamespace, b: NetNamespace, addr_a: str, addr_b: str,
                   prefix_len: int = 30) -> tuple[str, str]:
        """Join two of this stack's namespaces with a veth pair (addresses from 10.251.0.0/16)."""
        return self.net.link(a, b, addr_a, addr_b, prefix_len)

    def netns_ip(self, ns: NetNamespace, *args: str) -> None:
        """``ip -n NAME ARGS`` in one of this stack's namespaces (routes, links)."""
        self.net.ip(ns, *args)

    def inside(self, ns: NetNamespace | None = None) -> contextlib.AbstractContextManager[None]:
        """Run the body with the calling *thread* in ``ns`` (default: the stack's namespace; no-op
        without one): sockets made there belong to it.  Threads started inside inherit it.  Used
        for the lab client, readiness checks and the live diagnosis of a namespaced stack."""
        return self.net.inside(ns)

    def memory_cgroup(self, limit_mb: int) -> Path:
        """A child memory cgroup (``why502-lab-...``) limited to ``limit_mb`` MiB with no swap;
        removed in ``stop()``.  Raises LabSkip with the precise error when cgroups are not
        writable here."""
        return self.memory.add(limit_mb)

    def move_to_cgroup(self, proc: Process, cg: Path) -> None:
        """Put one of our processes into a cgroup this stack created (``cgroup.procs``)."""
        if cg not in self.cgroups or proc not in self.processes:
            raise LabError("move_to_cgroup moves this stack's processes into its own cgroups only")
        self.memory.move(proc.pid, cg)

    # -- TLS -------------------------------------------------------------------------------------

    def tls_cert(self) -> tuple[Path, Path]:
        """A self-signed certificate for ``localhost`` made with the openssl CLI (cached)."""
        return tls.backend_cert(self.p.assets)

    def other_ca(self) -> Path:
        """A second, unrelated self-signed certificate to use as a (wrong) trust anchor."""
        return tls.unrelated_ca(self.p.assets)

    # -- backends --------------------------------------------------------------------------------

    def add_backend(self, kind: str = "ok", *, name: str | None = None, host: str = "127.0.0.1",
                    port: int | None = None, delay: float = 0.0, header_bytes: int = 16384,
                    idle_timeout: float = 0.5, backlog: int = 64, tls: bool = False,
                    fail_path: str = "", body_bytes: int = 0, alloc_mb: int = 0,
                    memory_limit_mb: int = 0, netns: NetNamespace | None = None, count: int = 0,
                    body_file: str = "", unix: bool = False) -> Backend:
        """Start a Python backend in mode ``kind`` (the modes: :func:`backends.add_backend`)."""
        return backends.add_backend(
            self, kind, name=name, host=host, port=port, delay=delay, header_bytes=header_bytes,
            idle_timeout=idle_timeout, backlog=backlog, tls=tls, fail_path=fail_path,
            body_bytes=body_bytes, alloc_mb=alloc_mb, memory_limit_mb=memory_limit_mb, netns=netns,
            count=count, body_file=body_file, unix=unix)

    def start_haproxy(self, backend: str, *, defaults: str = "", frontend: str = "",
                      master_worker: bool = False, sections: str = "") -> Process:
        """HAProxy in front of the backends (its lab plug-in's ``start_haproxy``): ``backend`` is
        the body of ``backend app`` (``server`` lines, ``balance``, ...); ``master_worker`` runs
        it as Debian's unit does (``-W``), so it can be reloaded with SIGUSR2; ``sections`` are
        further top-level sections (an ``fcgi-app``)."""
        proc: Process = lab_plugin("haproxy").start_haproxy(
            self, backend, defaults=defaults, frontend=frontend, master_worker=master_worker,
            sections=sections)
        return proc

    def start_apache(self, body: str, modules: tuple[str, ...] = ()) -> Process:
        """Apache httpd in front of the backends (its lab plug-in's ``start_apache``): ``body``
        holds the ProxyPass/BalancerMember/SetHandler lines; ``modules`` more modules to load
        (``ssl`` for ``SSLProxyEngine``)."""
        proc: Process = lab_plugin("apache").start_apache(self, body, modules)
        return proc

    def add_node_backend(self, *, name: str = "node-app", host: str = "127.0.0.1",
                         port: int | None = None) -> Backend:
        """Start ``lab/assets/node_backend.js`` with Node.js (optional: LabSkip without ``node``)."""
        return backends.add_node_backend(self, name=name, host=host, port=port)

    def add_supervised_backend(self, kind: str = "fail-start", *, name: str = "app",
                               port: int | None = None, startretries: int = 3,
                               startsecs: int = 1) -> Backend:
        """Run a lab backend under a real supervisord (:func:`supervisor.add_supervised_backend`)."""
        return supervisor.add_supervised_backend(self, kind, name=name, port=port,
                                                 startretries=startretries, startsecs=startsecs)

    @property
    def supervisor_log(self) -> Path:
        return self.p.supervisor_log

    def wait_backend_exit(self, backend: Backend, wait: float = 5.0) -> None:
        """Wait (bounded) until a backend that crashes on purpose has really exited."""
        backends.wait_backend_exit(backend, wait)

    def restart_backend(self, backend: Backend, wait: float = 5.0) -> Backend:
        """Start ``backend`` again on the same address once its process has exited."""
        return backends.restart_backend(self, backend, wait)

    # -- PHP-FPM ---------------------------------------------------------------------------------

    def add_php_fpm(self, pool_options: dict[str, str] | None = None, *, name: str = "www",
                    tcp: bool = False, scripts: dict[str, str] | None = None,
                    log_level: str = "notice", start: bool = True,
                    global_options: dict[str, str] | None = None) -> FpmPool:
        """Write ``php-fpm.conf`` + ``php-fpm.d/<name>.conf`` and start PHP-FPM in the foreground.

        Only one PHP-FPM master per stack; call once with every pool's options (pools added later
        need a restart).  Details: :func:`fpm.add_php_fpm`.
        """
        return fpm.add_php_fpm(self, pool_options, name=name, tcp=tcp, scripts=scripts,
                               log_level=log_level, start=start, global_options=global_options)

    def start_php_fpm(self) -> Process:
        return fpm.start_php_fpm(self)

    def fpm_children(self) -> list[int]:
        """PIDs of the PHP-FPM master's children (read from /proc: they are ours)."""
        if self.fpm is None:
            return []
        return children_of(self.fpm.pid)

    # -- nginx -----------------------------------------------------------------------------------

    def fastcgi_params(self) -> str:
        """The FastCGI params a PHP location needs (what Debian's ``fastcgi_params`` provides)."""
        params: str = lab_plugin("nginx").fastcgi_params(self.p.www)
        return params

    def nginx_config(self, http_body: str, *, error_level: str = "warn",
                     worker_connections: int = 64, main_extra: str = "",
                     worker_user: str | None = None) -> str:
        """A complete ``nginx.conf`` wrapping ``http_body`` (server/upstream blocks)."""
        text: str = lab_plugin("nginx").nginx_config(
            self.p, http_body, error_level=error_level, worker_connections=worker_connections,
            main_extra=main_extra, worker_user=worker_user)
        return text

    def start_nginx(self, http_body: str, *, error_level: str = "warn", worker_connections: int = 64,
                    main_extra: str = "", worker_user: str | None = None,
                    access_format: str | None = None) -> Process:
        """Write ``nginx.conf`` around ``http_body``, check it with ``nginx -t`` and start it
        (nginx's lab plug-in, ``start_nginx``).

        ``http_body`` holds ``upstream``/``server`` blocks; listen on :attr:`listen`; accesses
        are logged in the lab's format (the upstream timings) unless ``access_format`` names
        another: ``"combined"``, nginx's default format (no upstream fields).
        """
        lab = lab_plugin("nginx")
        proc: Process = lab.start_nginx(
            self, http_body, error_level=error_level, worker_connections=worker_connections,
            main_extra=main_extra, worker_user=worker_user,
            access_format=access_format or lab.LOG_FORMAT_NAME)
        return proc

    def reload_nginx(self) -> None:
        """Reload nginx (SIGHUP to the master we started) after ``nginx.conf`` changed."""
        lab_plugin("nginx").reload_nginx(self)

    # -- client ----------------------------------------------------------------------------------

    def request(self, path: str = "/", *, method: str = "GET", body: bytes | None = None,
                headers: dict[str, str] | None = None, timeout: float = 10.0,
                host: str = "lab.example") -> Response:
        """One HTTP/1.1 request to the lab nginx on 127.0.0.1 (``Connection: close``).

        Connection errors and client timeouts come back as ``Response(status=None, error=...)``:
        a failing request is what the lab is for.  A response whose body is cut keeps its status
        with ``error="truncated body: ..."``.  A client ``timeout`` shorter than the backend
        makes nginx log a 499 (client closed the connection).  Inside the stack's network
        namespace the client binds explicit source ports (:class:`client.SourcePorts`).
        """
        source = self._source_ports.next() if self.netns is not None else None
        return client.request(self.nginx_port, path, method=method, body=body, headers=headers,
                              timeout=timeout, host=host, source=source, enter=self.inside)

    def requests(self, path: str = "/", count: int = 5, concurrency: int = 1, *, method: str = "GET",
                 body: bytes | None = None, headers: dict[str, str] | None = None,
                 timeout: float = 10.0) -> list[Response]:
        """``count`` requests with at most ``concurrency`` in flight (both bounded for safety)."""

        def one() -> Response:
            return self.request(path, method=method, body=body, headers=headers, timeout=timeout)

        return client.fan_out(one, count, concurrency)
