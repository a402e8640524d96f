"""The lab runtime: a real nginx, real PHP-FPM pools and real backends in one temp dir.

Why real programs: the messages why502 matches are nginx's and PHP-FPM's own (docs/architecture.md, "Real
parts, real tests"), and their exact text, level and order depend on the build, the kernel and
the libc.  A :class:`Stack` starts everything on loopback (``127.0.0.1``, ``::1`` or unix sockets
inside its temp dir) on random free ports, waits for readiness with bounded timeouts, and stops
every process **by the PID it started** (SIGTERM, then SIGKILL of that process group), also when a
scenario fails half-way.  Nothing here ever targets another address.

Typical use::

    with Stack() as stack:
        app = stack.add_backend("slow", delay=3)
        stack.start_nginx(f"server {{ listen {stack.listen}; "
                          f"location / {{ proxy_pass http://{app.address}; }} }}")
        stack.request("/")
        print(stack.paths.error_log.read_text())

This module is a layer above ``app`` (import-linter ``layers`` contract) and may use subprocess,
socket and the file system freely: it is a test and learning harness, not part of diagnosis.
"""

from __future__ import annotations

import contextlib
import ctypes
import glob
import http.client
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType

from why502.errors import Why502Error

NGINX_CANDIDATES = ("/usr/sbin/nginx", "/usr/local/sbin/nginx", "/usr/local/nginx/sbin/nginx")
READY_TIMEOUT = 8.0
STOP_TIMEOUT = 3.0
MAX_CONCURRENCY = 16
MAX_REQUESTS = 200

# The access-log format every lab nginx writes: the combined format plus the upstream timings
# (ngx_http_upstream_module embedded variables) that diagnose and stats need to tell a proxy-made
# 502/504 from a backend-made one.
LOG_FORMAT_NAME = "why502"
LOG_FORMAT = (
    "'$remote_addr - $remote_user [$time_local] \"$request\" $status $body_bytes_sent '\n"
    "        '\"$http_referer\" \"$http_user_agent\" '\n"
    "        'upstream_addr=\"$upstream_addr\" upstream_status=\"$upstream_status\" '\n"
    "        'upstream_connect_time=\"$upstream_connect_time\" '\n"
    "        'upstream_header_time=\"$upstream_header_time\" '\n"
    "        'upstream_response_time=\"$upstream_response_time\" request_time=$request_time'"
)


# Network namespaces (``ip netns``) the lab creates are named with this prefix, and the veth pairs
# between two of them get addresses from this private range: they exist only inside those
# namespaces (never in the host's, never routed anywhere).
NETNS_PREFIX = "why502-"
NETNS_DIR = Path("/run/netns")
LAB_NET = "10.251."
CLONE_NEWNET = 0x40000000  # <sched.h>; os.setns() only exists from Python 3.12
CGROUP_ROOT = Path("/sys/fs/cgroup")


class LabError(Why502Error):
    """The lab could not build its stack (missing program, a process died at start)."""

    exit_code = 3


class LabSkip(LabError):
    """A scenario cannot run on this machine (needs root, IPv6, php-fpm...); not a failure."""


def find_nginx() -> str | None:
    """The nginx binary: ``$WHY502_NGINX``, then the usual install paths, then ``$PATH``."""
    env = os.environ.get("WHY502_NGINX")
    if env:
        return env if os.access(env, os.X_OK) else None
    for cand in NGINX_CANDIDATES:
        if os.access(cand, os.X_OK):
            return cand
    return shutil.which("nginx")


def find_php_fpm() -> str | None:
    """The PHP-FPM binary (Debian names it ``php-fpm8.2``; a glob finds any version)."""
    env = os.environ.get("WHY502_PHP_FPM")
    if env:
        return env if os.access(env, os.X_OK) else None
    found = sorted(glob.glob("/usr/sbin/php-fpm*")) + sorted(glob.glob("/usr/local/sbin/php-fpm*"))
    for cand in found:
        if os.access(cand, os.X_OK) and not cand.endswith(".conf"):
            return cand
    return shutil.which("php-fpm")


def program_version(binary: str, flag: str = "-v") -> str:
    """First line of ``binary -v`` (nginx prints it on stderr, php-fpm on stdout)."""
    try:
        out = subprocess.run([binary, flag], capture_output=True, text=True, timeout=5, check=False)
    except (OSError, subprocess.TimeoutExpired) as err:
        return f"unknown ({err})"
    text = (out.stderr or out.stdout).strip()
    return text.splitlines()[0] if text else "unknown"


def ipv6_loopback_available() -> bool:
    """True when ``::1`` can be bound (containers often run without IPv6)."""
    try:
        with socket.socket(socket.AF_INET6, socket.SOCK_STREAM) as s:
            s.bind(("::1", 0))
        return True
    except OSError:
        return False


def free_port(host: str = "127.0.0.1", kind: int = socket.SOCK_STREAM) -> int:
    """A port the kernel says is free right now on ``host`` (small race accepted: loopback only)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, kind) as s:
        s.bind((host, 0))
        port: int = s.getsockname()[1]
        return port


def is_root() -> bool:
    return hasattr(os, "geteuid") and os.geteuid() == 0


def netns_unavailable() -> str | None:
    """Why this machine cannot run a stack in its own network namespace (None: it can)."""
    if not is_root():
        return "needs root: creating a network namespace (ip netns add) is privileged"
    if shutil.which("ip") is None or shutil.which("nsenter") is None:
        return "needs iproute2 (ip) and util-linux (nsenter)"
    return None


def _setns(fd: int) -> None:
    """Move the calling thread into the network namespace open at ``fd`` (setns(2))."""
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.setns(fd, CLONE_NEWNET) != 0:
        err = ctypes.get_errno()
        raise LabError(f"setns(CLONE_NEWNET) failed: {os.strerror(err)}")


@dataclass(frozen=True)
class NetNamespace:
    """A network namespace this stack created (``ip netns add NAME``) and deletes in ``stop()``."""

    name: str

    @property
    def path(self) -> Path:
        return NETNS_DIR / self.name

    def prefix(self) -> list[str]:
        """argv prefix that runs a program inside it: ``nsenter --net=/run/netns/NAME --`` (the
        program keeps nsenter's PID: nsenter execs it after setns(2), no fork)."""
        return [shutil.which("nsenter") or "nsenter", f"--net={self.path}", "--"]


def memory_cgroup_parent() -> tuple[Path, str]:
    """Where a child memory cgroup can be made: (directory, "v1"|"v2").

    cgroup v2 (``/sys/fs/cgroup/cgroup.controllers`` lists ``memory``) or the v1 ``memory``
    hierarchy (``/sys/fs/cgroup/memory``); the child goes under this process's own cgroup so the
    lab stays inside whatever the container already limits.  Raises LabSkip with the reason.
    """
    if not is_root():
        raise LabSkip("needs root: creating a memory cgroup is privileged")
    own: dict[str, str] = {}
    try:
        for line in Path("/proc/self/cgroup").read_text().splitlines():
            _id, ctrls, path = line.split(":", 2)
            for c in ctrls.split(",") if ctrls else [""]:
                own[c] = path
    except (OSError, ValueError) as err:
        raise LabSkip(f"cannot read /proc/self/cgroup: {err}") from err
    v2 = CGROUP_ROOT / "cgroup.controllers"
    if v2.exists() and "memory" in v2.read_text().split():
        return CGROUP_ROOT / own.get("", "/").lstrip("/"), "v2"
    v1 = CGROUP_ROOT / "memory"
    if (v1 / "memory.limit_in_bytes").exists():
        return v1 / own.get("memory", "/").lstrip("/"), "v1"
    raise LabSkip("no writable memory cgroup controller (neither cgroup v2 with 'memory' in "
                  "/sys/fs/cgroup/cgroup.controllers nor a v1 /sys/fs/cgroup/memory hierarchy)")


@dataclass
class StackPaths:
    """Where a stack keeps its files (all inside ``root``)."""

    root: Path
    nginx_conf: Path
    error_log: Path
    access_log: Path
    fpm_conf: Path
    fpm_pool_dir: Path
    fpm_log: Path
    www: Path
    run: Path

    @classmethod
    def under(cls, root: Path) -> StackPaths:
        return cls(
            root=root,
            nginx_conf=root / "nginx.conf",
            error_log=root / "logs" / "error.log",
            access_log=root / "logs" / "access.log",
            fpm_conf=root / "php-fpm.conf",
            fpm_pool_dir=root / "php-fpm.d",
            fpm_log=root / "logs" / "php-fpm.log",
            www=root / "www",
            run=root / "run",
        )


@dataclass
class Process:
    """A child process the stack started; stopped by its PID and process group only."""

    name: str
    argv: list[str]
    popen: subprocess.Popen[bytes]
    output: Path

    @property
    def pid(self) -> int:
        return self.popen.pid

    def alive(self) -> bool:
        return self.popen.poll() is None

    def output_tail(self, limit: int = 800) -> str:
        try:
            return self.output.read_text(errors="replace")[-limit:]
        except OSError:
            return ""


@dataclass
class Backend:
    """A lab backend: ``address`` is what goes after ``http://`` in ``proxy_pass``."""

    name: str
    kind: str
    host: str
    port: int
    process: Process | None = None

    @property
    def address(self) -> str:
        return f"[{self.host}]:{self.port}" if ":" in self.host else f"{self.host}:{self.port}"


@dataclass
class FpmPool:
    """A PHP-FPM pool: ``listen`` is a unix socket path or ``127.0.0.1:PORT``."""

    name: str
    listen: str
    conf: Path
    options: dict[str, str] = field(default_factory=dict)

    @property
    def fastcgi_pass(self) -> str:
        """The ``fastcgi_pass`` argument that reaches this pool."""
        return self.listen if ":" in self.listen and not self.listen.startswith("/") \
            else f"unix:{self.listen}"


@dataclass
class Response:
    """What the lab client saw.  ``status`` is None when the connection failed or was cut."""

    status: int | None
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)
    error: str | None = None
    elapsed: float = 0.0


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
        self.nginx_port = 0
        self._lock = threading.Lock()
        self._counter = 0
        # network namespaces and memory cgroups this stack created (removed by name in stop())
        self.netns: NetNamespace | None = None  # where nginx, backends and the client run
        self.namespaces: list[NetNamespace] = []
        self.cgroups: list[Path] = []
        self.supervisord: Process | None = None
        self._client_port = 20000  # explicit client source ports inside a namespace (see request)

    # -- lifecycle -------------------------------------------------------------------------------

    def __enter__(self) -> Stack:
        root = Path(tempfile.mkdtemp(prefix=self._prefix, dir=self._base_dir)).resolve()
        self.paths = StackPaths.under(root)
        for sub in ("logs", "run", "www", "tmp", "php-fpm.d", "assets"):
            (root / sub).mkdir()
        self.nginx_port = free_port()
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

    def stop(self) -> None:
        """Stop every started process by PID: SIGTERM, a bounded wait, then SIGKILL its group.

        Then remove what the stack created outside its temp dir, by the names it recorded: its
        memory cgroups (``rmdir``, once empty) and its network namespaces (``ip netns del``).
        """
        for proc in reversed(self.processes):
            _stop_process(proc)
        self.processes.clear()
        for cg in reversed(self.cgroups):
            _remove_cgroup(cg)
        self.cgroups.clear()
        for ns in reversed(self.namespaces):
            subprocess.run(["ip", "netns", "del", ns.name], capture_output=True, timeout=10, check=False)
        self.namespaces.clear()
        self.netns = None

    def stop_process(self, proc: Process) -> None:
        """Stop one process now (e.g. "the backend went away")."""
        _stop_process(proc)
        if proc in self.processes:
            self.processes.remove(proc)

    # -- network namespaces and cgroups --------------------------------------------------------

    def add_netns(self, label: str = "lab") -> NetNamespace:
        """Create a fresh network namespace (only ``lo``, brought up) owned by this stack."""
        why = netns_unavailable()
        if why:
            raise LabSkip(why)
        ns = NetNamespace(f"{NETNS_PREFIX}{label}-{os.getpid()}-{secrets.token_hex(3)}")
        res = subprocess.run(["ip", "netns", "add", ns.name], capture_output=True, text=True,
                             timeout=10, check=False)
        if res.returncode != 0:
            raise LabSkip(f"cannot create a network namespace (ip netns add): {res.stderr.strip()}")
        self.namespaces.append(ns)
        self._ip(ns, "link", "set", "lo", "up")
        return ns

    def use_netns(self, sysctls: dict[str, str] | None = None) -> NetNamespace:
        """Run this whole stack (nginx, backends, PHP-FPM, the lab client) in its own network
        namespace, with per-namespace ``net.*`` sysctls; call it before starting anything."""
        if self.processes:
            raise LabError("use_netns() must come before any process is started")
        ns = self.add_netns("lab")
        self.netns = ns
        for key, value in (sysctls or {}).items():
            self.netns_sysctl(ns, key, value)
        return ns

    def netns_sysctl(self, ns: NetNamespace, key: str, value: str) -> None:
        """Set a per-namespace ``net.*`` sysctl inside ``ns`` (never the host's)."""
        if not key.startswith("net."):
            raise LabError(f"only per-namespace net.* sysctls may be set, not {key}")
        proc = Path("/proc/sys") / key.replace(".", "/")
        self._run_in(ns, ["sh", "-c", 'echo "$1" > "$2"', "sh", value, str(proc)])
        got = self._run_in(ns, ["cat", str(proc)]).split()
        if got != value.split():
            raise LabError(f"{key} is {' '.join(got)!r} in {ns.name}, wanted {value!r}")

    def link_netns(self, a: NetNamespace, b: NetNamespace, addr_a: str, addr_b: str,
                   prefix_len: int = 30) -> tuple[str, str]:
        """Join two of this stack's namespaces with a veth pair created inside ``a`` (its peer
        moved straight into ``b``: the host namespace never sees it).  Returns the two device
        names.  Addresses must be in the lab range ``10.251.0.0/16``."""
        if a not in self.namespaces or b not in self.namespaces:
            raise LabError("link_netns joins namespaces this stack created only")
        if not (addr_a.startswith(LAB_NET) and addr_b.startswith(LAB_NET)):
            raise LabError(f"lab namespace addresses come from {LAB_NET}0.0/16 only")
        with self._lock:
            self._counter += 1
            n = self._counter
        dev_a, dev_b = f"w502a{n}", f"w502b{n}"
        self._ip(a, "link", "add", dev_a, "type", "veth", "peer", "name", dev_b, "netns", b.name)
        self._ip(a, "addr", "add", f"{addr_a}/{prefix_len}", "dev", dev_a)
        self._ip(b, "addr", "add", f"{addr_b}/{prefix_len}", "dev", dev_b)
        self._ip(a, "link", "set", dev_a, "up")
        self._ip(b, "link", "set", dev_b, "up")
        return dev_a, dev_b

    def netns_ip(self, ns: NetNamespace, *args: str) -> None:
        """``ip -n NAME ARGS`` in one of this stack's namespaces (routes, links)."""
        if ns not in self.namespaces:
            raise LabError("netns_ip works on namespaces this stack created only")
        self._ip(ns, *args)

    def _ip(self, ns: NetNamespace, *args: str) -> None:
        res = subprocess.run(["ip", "-n", ns.name, *args], capture_output=True, text=True,
                             timeout=10, check=False)
        if res.returncode != 0:
            raise LabError(f"ip -n {ns.name} {' '.join(args)}: {res.stderr.strip()}")

    def _run_in(self, ns: NetNamespace, argv: list[str]) -> str:
        res = subprocess.run([*ns.prefix(), *argv], capture_output=True, text=True, timeout=10,
                             check=False)
        if res.returncode != 0:
            raise LabError(f"{' '.join(argv)} in {ns.name}: {res.stderr.strip()}")
        return res.stdout

    @contextlib.contextmanager
    def inside(self, ns: NetNamespace | None = None) -> Iterator[None]:
        """Run the body with the calling *thread* in ``ns`` (default: the stack's namespace; no-op
        without one): sockets made there belong to it.  Threads started inside inherit it.  Used
        for the lab client, readiness checks and the live diagnosis of a namespaced stack."""
        ns = ns or self.netns
        if ns is None:
            yield
            return
        own = os.open("/proc/thread-self/ns/net", os.O_RDONLY)
        try:
            target = os.open(ns.path, os.O_RDONLY)
            try:
                _setns(target)
            finally:
                os.close(target)
            try:
                yield
            finally:
                _setns(own)
        finally:
            os.close(own)

    def memory_cgroup(self, limit_mb: int) -> Path:
        """A child memory cgroup (``why502-lab-...``) limited to ``limit_mb`` MiB with no swap;
        removed in ``stop()``.  Raises LabSkip with the precise error when cgroups are not
        writable here."""
        parent, version = memory_cgroup_parent()
        cg = parent / f"why502-lab-{os.getpid()}-{secrets.token_hex(3)}"
        limit = str(limit_mb << 20)
        try:
            cg.mkdir()
        except OSError as err:
            raise LabSkip(f"cannot create a memory cgroup: mkdir {cg}: {err.strerror}") from err
        self.cgroups.append(cg)
        files = ({"memory.max": limit, "memory.swap.max": "0"} if version == "v2"
                 else {"memory.limit_in_bytes": limit, "memory.memsw.limit_in_bytes": limit})
        for fname, value in files.items():
            if not (cg / fname).exists() and fname.startswith("memory.memsw"):
                continue  # v1 without swap accounting: no swap limit to set
            try:
                (cg / fname).write_text(value)
            except OSError as err:
                raise LabSkip(f"cannot limit the memory cgroup: write {cg / fname}: "
                              f"{err.strerror}") from err
        return cg

    def move_to_cgroup(self, proc: Process, cg: Path) -> None:
        """Put one of our processes into a cgroup this stack created (``cgroup.procs``)."""
        if cg not in self.cgroups or proc not in self.processes:
            raise LabError("move_to_cgroup moves this stack's processes into its own cgroups only")
        try:
            (cg / "cgroup.procs").write_text(str(proc.pid))
        except OSError as err:
            raise LabSkip(f"cannot move pid {proc.pid} into {cg}: {err.strerror}") from err

    def _spawn(self, name: str, argv: Sequence[str], cwd: Path | None = None,
               netns: NetNamespace | None = None) -> Process:
        out = self.p.root / "logs" / f"{name}.out"
        ns = netns or self.netns
        if ns is not None:
            argv = [*ns.prefix(), *argv]
        with open(out, "ab") as fh:
            popen = subprocess.Popen(
                list(argv), stdin=subprocess.DEVNULL, stdout=fh, stderr=subprocess.STDOUT,
                cwd=str(cwd or self.p.root), start_new_session=True,
            )
        proc = Process(name=name, argv=list(argv), popen=popen, output=out)
        self.processes.append(proc)
        return proc

    # -- backends --------------------------------------------------------------------------------

    def _backend_script(self) -> Path:
        dest = self.p.root / "assets" / "backend.py"
        if not dest.exists():
            shutil.copyfile(Path(__file__).with_name("assets") / "backend.py", dest)
        return dest

    def tls_cert(self) -> tuple[Path, Path]:
        """A self-signed certificate for ``localhost`` made with the openssl CLI (cached)."""
        cert, key = self.p.root / "assets" / "backend.crt", self.p.root / "assets" / "backend.key"
        if not cert.exists():
            _make_cert(cert, key, "localhost")
        return cert, key

    def other_ca(self) -> Path:
        """A second, unrelated self-signed certificate to use as a (wrong) trust anchor."""
        cert, key = self.p.root / "assets" / "other-ca.crt", self.p.root / "assets" / "other-ca.key"
        if not cert.exists():
            _make_cert(cert, key, "why502 lab unrelated CA")
        return cert

    def add_backend(self, kind: str = "ok", *, name: str | None = None, host: str = "127.0.0.1",
                    port: int | None = None, delay: float = 0.0, header_bytes: int = 16384,
                    idle_timeout: float = 0.5, backlog: int = 64, tls: bool = False,
                    fail_path: str = "", body_bytes: int = 0, alloc_mb: int = 0,
                    memory_limit_mb: int = 0, netns: NetNamespace | None = None) -> Backend:
        """Start a Python backend (``lab/assets/backend.py``) in mode ``kind``.

        Modes: ``ok``, ``slow`` (``delay`` s), ``crash`` (SIGKILLs itself mid-request), ``reset``
        (RST mid-request), ``status502``/``status503`` (the backend itself answers 5xx),
        ``bigheader`` (a ``header_bytes`` Set-Cookie), ``invalid-header``, ``keepalive-closer``
        (drops a reused keep-alive connection idle for more than ``idle_timeout``), ``noread``
        (never reads the body), ``close-early`` (closes while the body is still arriving),
        ``blackhole`` (never accepts; queue full), ``tls`` (HTTPS, self-signed), ``tls-sni`` (HTTPS
        that rejects handshakes without SNI), ``dns-nxdomain``
        / ``dns-silent`` (UDP DNS), ``memhog`` (allocates ``alloc_mb`` MiB per request).
        ``host`` must be ``127.0.0.1`` or ``::1`` -- or a ``10.251.x.x`` address of a veth this
        stack made, with ``netns`` (the namespace to run in; default: the stack's own).  With
        ``fail_path`` only requests whose path starts with it misbehave (the rest get 200, like a
        health check).  ``memory_limit_mb`` runs the backend in its own memory cgroup.
        """
        ns = netns or self.netns
        if ns is not None and ns not in self.namespaces:
            raise LabError("backends run in namespaces this stack created only")
        lab_net = host.startswith(LAB_NET) and ns is not None
        if host not in ("127.0.0.1", "::1") and not lab_net:
            raise LabError(f"lab backends listen on loopback only, not {host!r}")
        if host == "::1" and not ipv6_loopback_available():
            raise LabSkip("IPv6 loopback (::1) is not available on this machine")
        udp = kind.startswith("dns-")
        auto_port = port is None
        try:
            with self.inside(ns):
                port = port or free_port(host, socket.SOCK_DGRAM if udp else socket.SOCK_STREAM)
        except OSError as err:
            where = f"network namespace {ns.name}" if ns else "this host"
            raise LabError(f"cannot listen on {host} in {where}: {err.strerror}") from err
        with self._lock:
            self._counter += 1
            name = name or f"{kind}-{self._counter}"
        ready = self.p.run / f"{name}.ready"
        argv = [sys.executable, str(self._backend_script()), "--mode", kind, "--name", name,
                "--host", host, "--port", str(port), "--ready", str(ready), "--delay", str(delay),
                "--header-bytes", str(header_bytes), "--idle-timeout", str(idle_timeout),
                "--backlog", str(backlog)]
        if fail_path:
            argv += ["--fail-path", fail_path]
        if body_bytes:
            argv += ["--body-bytes", str(body_bytes)]
        if alloc_mb:
            argv += ["--alloc-mb", str(alloc_mb)]
        cgroup = self.memory_cgroup(memory_limit_mb) if memory_limit_mb else None
        if tls or kind in ("tls", "tls-sni"):
            cert, key = self.tls_cert()
            argv += ["--tls", "--cert", str(cert), "--key", str(key)]
        for attempt in range(3):
            proc = self._spawn(f"backend-{name}", argv, netns=ns)
            if cgroup is not None:
                self.move_to_cgroup(proc, cgroup)
            try:
                _wait_for(lambda: ready.exists(), proc, f"backend {name} ({kind}) on {host}:{port}")
                break
            except LabError as err:
                # Another program took the "free" port between free_port() and bind(): retry.
                if not (auto_port and "Address already in use" in str(err)) or attempt == 2:
                    raise
                self.stop_process(proc)
                with self.inside(ns):
                    port = free_port(host, socket.SOCK_DGRAM if udp else socket.SOCK_STREAM)
                argv[argv.index("--port") + 1] = str(port)
        backend = Backend(name=name, kind=kind, host=host, port=port, process=proc)
        self.backends[name] = backend
        return backend

    def add_node_backend(self, *, name: str = "node-app", host: str = "127.0.0.1",
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
        port = port or free_port(host)
        dest = self.p.root / "assets" / "node_backend.js"
        if not dest.exists():
            shutil.copyfile(Path(__file__).with_name("assets") / "node_backend.js", dest)
        ready = self.p.run / f"{name}.ready"
        proc = self._spawn(f"backend-{name}", [node, str(dest), host, str(port), str(ready)])
        _wait_for(lambda: ready.exists(), proc, f"node backend {name} on {host}:{port}")
        backend = Backend(name=name, kind="node", host=host, port=port, process=proc)
        self.backends[name] = backend
        return backend

    def add_supervised_backend(self, kind: str = "fail-start", *, name: str = "app",
                               port: int | None = None, startretries: int = 3,
                               startsecs: int = 1) -> Backend:
        """Run a lab backend under a real supervisord (Debian's ``supervisor``) with its own
        config, socket, pid file and logs in the temp dir: ``autorestart=true`` and
        ``startretries``, so a backend that dies at start-up is restarted until supervisord gives
        up (``supervisor/process.py``: ``spawned:``, ``exited: ... not expected``, ``gave up: ...
        entered FATAL state``).  Does not wait for the backend to be ready; the supervisor's log is
        ``stack.supervisor_log``.
        """
        supervisord = shutil.which("supervisord")
        if supervisord is None:
            raise LabSkip("supervisord is not installed (apt-get install supervisor)")
        port = port or free_port()
        r = self.p.root
        ready = self.p.run / f"{name}.ready"
        command = " ".join([sys.executable, str(self._backend_script()), "--mode", kind, "--name",
                            name, "--host", "127.0.0.1", "--port", str(port), "--ready", str(ready)])
        conf = r / "supervisord.conf"
        conf.write_text(
            "; why502 lab supervisor (everything under the stack's temp dir)\n"
            "[unix_http_server]\n"
            f"file={r}/run/supervisor.sock\n"
            "chmod=0700\n"
            "[supervisord]\n"
            f"logfile={self.supervisor_log}\n"
            f"pidfile={r}/run/supervisord.pid\n"
            f"childlogdir={r}/logs\n"
            "nodaemon=true\n"
            "logfile_backups=0\n"
            + ("user=root\n" if is_root() else "")
            + "[rpcinterface:supervisor]\n"
            "supervisor.rpcinterface_factory = supervisor.rpcinterface:make_main_rpcinterface\n"
            "[supervisorctl]\n"
            f"serverurl=unix://{r}/run/supervisor.sock\n"
            f"[program:{name}]\n"
            f"command={command}\n"
            f"directory={r}\n"
            "autostart=true\n"
            "autorestart=true\n"
            f"startretries={startretries}\n"
            f"startsecs={startsecs}\n"
            "stopsignal=TERM\n"
            "stopwaitsecs=2\n"
            "redirect_stderr=true\n"
            f"stdout_logfile={r}/logs/{name}.log\n"
        )
        proc = self._spawn("supervisord", [supervisord, "-n", "-c", str(conf)])
        self.supervisord = proc
        _wait_for(lambda: "spawned:" in _read(self.supervisor_log), proc, "supervisord",
                  log=self.supervisor_log)
        backend = Backend(name=name, kind=kind, host="127.0.0.1", port=port, process=None)
        self.backends[name] = backend
        return backend

    @property
    def supervisor_log(self) -> Path:
        return self.p.root / "logs" / "supervisord.log"

    def wait_backend_exit(self, backend: Backend, wait: float = 5.0) -> None:
        """Wait (bounded) until a backend that crashes on purpose has really exited."""
        if backend.process is None:
            return
        try:
            backend.process.popen.wait(timeout=wait)
        except subprocess.TimeoutExpired as err:
            raise LabError(f"backend {backend.name} did not exit within {wait}s") from err

    def restart_backend(self, backend: Backend, wait: float = 5.0) -> Backend:
        """Start ``backend`` again on the same address once its process has exited (a supervisor:
        systemd ``Restart=always``, pm2...).  Waits (bounded) for the old process to be gone."""
        old = backend.process
        if old is not None:
            self.wait_backend_exit(backend, wait)
            if old in self.processes:
                self.processes.remove(old)
        (self.p.run / f"{backend.name}.ready").unlink(missing_ok=True)
        if backend.kind == "node":
            return self.add_node_backend(name=backend.name, host=backend.host, port=backend.port)
        raise LabError("restart_backend supports node backends only")

    def write_file(self, relative: str, text: str) -> Path:
        """Write a file under the stack root (PHP scripts, extra config)."""
        path = self.p.root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
        return path

    # -- PHP-FPM ---------------------------------------------------------------------------------

    def add_php_fpm(self, pool_options: dict[str, str] | None = None, *, name: str = "www",
                    tcp: bool = False, scripts: dict[str, str] | None = None,
                    log_level: str = "notice", start: bool = True,
                    global_options: dict[str, str] | None = None) -> FpmPool:
        """Write ``php-fpm.conf`` + ``php-fpm.d/<name>.conf`` and start PHP-FPM in the foreground.

        The pool listens on ``run/<name>.sock`` (or ``127.0.0.1:PORT`` with ``tcp``) unless
        ``pool_options`` sets ``listen``.  ``scripts`` are written to ``www/``; ``global_options``
        go to the ``[global]`` section.  Only one PHP-FPM
        master per stack; call once with every pool's options (pools added later need a restart).
        """
        fpm = find_php_fpm()
        if fpm is None:
            raise LabSkip("php-fpm is not installed (apt-get install php-fpm)")
        for fname, body in (scripts or {}).items():
            self.write_file(f"www/{fname}", body)
        options = {
            "listen": f"127.0.0.1:{free_port()}" if tcp else str(self.p.run / f"{name}.sock"),
            "pm": "static",
            "pm.max_children": "2",
            "catch_workers_output": "yes",
            "decorate_workers_output": "no",
            "clear_env": "no",
            "php_admin_value[error_log]": "",
            "php_admin_flag[log_errors]": "on",
            "php_admin_flag[display_errors]": "off",
        }
        if not is_root():
            options.pop("listen.owner", None)
        options.update(pool_options or {})
        conf = self.p.fpm_pool_dir / f"{name}.conf"
        lines = [f"[{name}]"]
        if is_root() and "user" not in options:
            options["user"] = "root"
            options["group"] = "root"
        lines += [f"{k} = {v}" for k, v in options.items() if v != ""]
        # php_admin_value[error_log] = "" means "no file": PHP then sends errors to FastCGI stderr.
        conf.write_text("\n".join(lines) + "\n")
        pool = FpmPool(name=name, listen=options["listen"], conf=conf, options=options)
        self.pools[name] = pool
        self.p.fpm_conf.write_text(
            "[global]\n"
            f"pid = {self.p.run / 'php-fpm.pid'}\n"
            f"error_log = {self.p.fpm_log}\n"
            f"log_level = {log_level}\n"
            "daemonize = no\n"
            "process_control_timeout = 2\n"
            + "".join(f"{k} = {v}\n" for k, v in (global_options or {}).items())
            + f"include = {self.p.fpm_pool_dir}/*.conf\n"
        )
        if start:
            self.start_php_fpm()
        return pool

    def start_php_fpm(self) -> Process:
        fpm = find_php_fpm()
        if fpm is None:
            raise LabSkip("php-fpm is not installed (apt-get install php-fpm)")
        if self.fpm is not None and self.fpm.alive():
            self.stop_process(self.fpm)
        argv = [fpm, "-F", "-y", str(self.p.fpm_conf)]
        if is_root():
            argv.insert(1, "-R")
        proc = self._spawn("php-fpm", argv)
        self.fpm = proc

        def ready() -> bool:
            with self.inside():
                return all(_can_connect(pool.listen) for pool in self.pools.values())

        _wait_for(ready, proc, "php-fpm", log=self.p.fpm_log)
        return proc

    # -- nginx -----------------------------------------------------------------------------------

    def fastcgi_params(self) -> str:
        """The FastCGI params a PHP location needs (what Debian's ``fastcgi_params`` provides)."""
        return (
            f"fastcgi_param SCRIPT_FILENAME {self.p.www}$fastcgi_script_name;\n"
            "            fastcgi_param SCRIPT_NAME $fastcgi_script_name;\n"
            "            fastcgi_param QUERY_STRING $query_string;\n"
            "            fastcgi_param REQUEST_METHOD $request_method;\n"
            "            fastcgi_param CONTENT_TYPE $content_type;\n"
            "            fastcgi_param CONTENT_LENGTH $content_length;\n"
            "            fastcgi_param REQUEST_URI $request_uri;\n"
            "            fastcgi_param SERVER_PROTOCOL $server_protocol;\n"
            "            fastcgi_param GATEWAY_INTERFACE CGI/1.1;\n"
            "            fastcgi_param REMOTE_ADDR $remote_addr;\n"
            "            fastcgi_param SERVER_NAME $server_name;\n"
            "            fastcgi_param SERVER_PORT $server_port;"
        )

    def nginx_config(self, http_body: str, *, error_level: str = "warn",
                     worker_connections: int = 64, main_extra: str = "",
                     worker_user: str | None = None) -> str:
        """A complete ``nginx.conf`` wrapping ``http_body`` (server/upstream blocks).

        Everything nginx writes goes under the stack root (pid, logs, temp paths), so a stack
        needs no privileges and leaves nothing behind.
        """
        r = self.p.root
        user = ""
        if is_root():
            user = f"user {worker_user} {_primary_group(worker_user)};\n" if worker_user \
                else "user root root;\n"
        return (
            "# why502 lab stack\n"
            f"{user}"
            "daemon off;\n"
            "master_process on;\n"
            "worker_processes 1;\n"
            f"pid {r}/run/nginx.pid;\n"
            f"error_log {self.p.error_log} {error_level};\n"
            f"{main_extra}"
            "events {\n"
            f"    worker_connections {worker_connections};\n"
            "}\n"
            "http {\n"
            f"    log_format {LOG_FORMAT_NAME} {LOG_FORMAT};\n"
            f"    access_log {self.p.access_log} {LOG_FORMAT_NAME};\n"
            f"    client_body_temp_path {r}/tmp/client_body;\n"  # noqa: S108 - under the stack root
            f"    proxy_temp_path {r}/tmp/proxy;\n"  # noqa: S108 - under the stack root
            f"    fastcgi_temp_path {r}/tmp/fastcgi;\n"  # noqa: S108 - under the stack root
            f"    uwsgi_temp_path {r}/tmp/uwsgi;\n"  # noqa: S108 - under the stack root
            f"    scgi_temp_path {r}/tmp/scgi;\n"  # noqa: S108 - under the stack root
            "    default_type text/plain;\n"
            f"{_indent(http_body.strip(), 4)}\n"
            "}\n"
        )

    def start_nginx(self, http_body: str, *, error_level: str = "warn", worker_connections: int = 64,
                    main_extra: str = "", worker_user: str | None = None) -> Process:
        """Write ``nginx.conf`` around ``http_body``, check it with ``nginx -t`` and start it.

        ``http_body`` holds ``upstream``/``server`` blocks; listen on :attr:`listen`.
        """
        nginx = find_nginx()
        if nginx is None:
            raise LabSkip("nginx is not installed (apt-get install nginx-light)")
        if worker_user and not is_root():
            raise LabSkip("this scenario needs root: nginx workers must run as another user")
        text = self.nginx_config(http_body, error_level=error_level,
                                 worker_connections=worker_connections, main_extra=main_extra,
                                 worker_user=worker_user)
        base = [nginx, "-p", str(self.p.root), "-c", str(self.p.nginx_conf), "-e", str(self.p.error_log)]
        for attempt in range(3):
            self.p.nginx_conf.write_text(text)
            check = subprocess.run([*base, "-t", "-q"], capture_output=True, text=True, timeout=15,
                                   check=False)
            error = check.stderr.strip()[-400:] if check.returncode != 0 else ""
            if not error:
                pidfile = self.p.run / "nginx.pid"
                pidfile.unlink(missing_ok=True)
                proc = self._spawn("nginx", base)

                def ready(pidfile: Path = pidfile) -> bool:
                    # nginx writes its pid file only after every listen socket is bound
                    # (ngx_create_pidfile() runs after ngx_init_cycle(), src/core/nginx.c).
                    with self.inside():
                        return pidfile.exists() and _can_connect(self.listen)

                try:
                    _wait_for(ready, proc, "nginx", log=self.p.error_log)
                    self.nginx = proc
                    return proc
                except LabError as err:
                    self.stop_process(proc)
                    error = str(err)
            if "Address already in use" not in error or attempt == 2:
                raise LabError(f"nginx could not start with the lab config: {error}")
            # Another program took our "free" port in the meantime: move the server block.
            old_listen = f"listen {self.listen};"
            with self.inside():
                self.nginx_port = free_port()
            text = text.replace(old_listen, f"listen {self.listen};")
        raise LabError("nginx could not start")  # pragma: no cover - the loop returns or raises

    def reload_nginx(self) -> None:
        """Reload nginx (SIGHUP to the master we started) after ``nginx.conf`` changed."""
        if self.nginx is None or not self.nginx.alive():
            raise LabError("nginx is not running")
        os.kill(self.nginx.pid, signal.SIGHUP)
        time.sleep(0.5)

    # -- client ----------------------------------------------------------------------------------

    def request(self, path: str = "/", *, method: str = "GET", body: bytes | None = None,
                headers: dict[str, str] | None = None, timeout: float = 10.0,
                host: str = "lab.example") -> Response:
        """One HTTP/1.1 request to the lab nginx on 127.0.0.1 (``Connection: close``).

        Connection errors and client timeouts come back as ``Response(status=None, error=...)``:
        a failing request is what the lab is for.  A response whose body is cut keeps its status
        with ``error="truncated body: ..."``.  A client ``timeout`` shorter than the backend
        makes nginx log a 499 (client closed the connection).
        """
        start = time.monotonic()
        source: tuple[str, int] | None = None
        if self.netns is not None:
            # In a namespace whose ephemeral range may be tiny on purpose (port exhaustion), the
            # client must not compete with nginx for it: bind explicit ports below the range.
            with self._lock:
                self._client_port = self._client_port + 1 if self._client_port < 29999 else 20001
                source = ("127.0.0.1", self._client_port)
        conn = http.client.HTTPConnection("127.0.0.1", self.nginx_port, timeout=timeout,
                                          source_address=source)
        hdrs = {"Host": host, "Connection": "close", "User-Agent": "why502-lab"}
        hdrs.update(headers or {})
        try:
            with self.inside():
                conn.connect()  # the socket belongs to the namespace it was made in
            conn.request(method, path, body=body, headers=hdrs)
            resp = conn.getresponse()
            try:
                data = resp.read()
            except (OSError, http.client.HTTPException) as err:
                # The status line arrived, the body was cut (an error "while reading upstream").
                return Response(status=resp.status, headers=dict(resp.getheaders()),
                                error=f"truncated body: {type(err).__name__}",
                                elapsed=time.monotonic() - start)
            return Response(status=resp.status, body=data, headers=dict(resp.getheaders()),
                            elapsed=time.monotonic() - start)
        except (OSError, http.client.HTTPException) as err:
            return Response(status=None, error=f"{type(err).__name__}: {err}",
                            elapsed=time.monotonic() - start)
        finally:
            conn.close()

    def requests(self, path: str = "/", count: int = 5, concurrency: int = 1, *, method: str = "GET",
                 body: bytes | None = None, headers: dict[str, str] | None = None,
                 timeout: float = 10.0) -> list[Response]:
        """``count`` requests with at most ``concurrency`` in flight (both bounded for safety)."""
        count = max(1, min(count, MAX_REQUESTS))
        concurrency = max(1, min(concurrency, MAX_CONCURRENCY, count))

        def one() -> Response:
            return self.request(path, method=method, body=body, headers=headers, timeout=timeout)

        if concurrency == 1:
            return [one() for _ in range(count)]
        with ThreadPoolExecutor(max_workers=concurrency) as pool:
            futures = [pool.submit(one) for _ in range(count)]
            return [f.result() for f in futures]

    # -- helpers for scenarios -------------------------------------------------------------------

    def wait_for_log(self, path: Path, needle: str, timeout: float = 5.0) -> bool:
        """Poll ``path`` until it contains ``needle`` (bounded); True when found."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with contextlib.suppress(OSError):
                if needle in path.read_text(errors="replace"):
                    return True
            time.sleep(0.1)
        return False

    def fpm_children(self) -> list[int]:
        """PIDs of the PHP-FPM master's children (read from /proc: they are ours)."""
        if self.fpm is None:
            return []
        return _children_of(self.fpm.pid)


# -- module helpers ------------------------------------------------------------------------------


def _indent(text: str, n: int) -> str:
    pad = " " * n
    return "\n".join(pad + line if line.strip() else line for line in text.splitlines())


def _primary_group(user: str) -> str:
    import grp
    import pwd

    try:
        return grp.getgrgid(pwd.getpwnam(user).pw_gid).gr_name
    except KeyError as err:
        raise LabSkip(f"no such user {user!r} for the nginx workers") from err


def _make_cert(cert: Path, key: Path, cn: str) -> None:
    openssl = shutil.which("openssl")
    if openssl is None:
        raise LabSkip("openssl CLI is not installed (needed for the TLS scenarios)")
    res = subprocess.run(
        [openssl, "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(key), "-out", str(cert),
         "-days", "2", "-subj", f"/CN={cn}"],
        capture_output=True, text=True, timeout=30, check=False,
    )
    if res.returncode != 0:
        raise LabError(f"openssl req failed: {res.stderr.strip()[-300:]}")


def _can_connect(address: str, timeout: float = 0.3) -> bool:
    """Connect test for ``host:port``, ``[v6]:port``, ``unix:/path`` or ``/path``."""
    try:
        if address.startswith("unix:") or address.startswith("/"):
            path = address.removeprefix("unix:")
            with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
                s.settimeout(timeout)
                s.connect(path)
            return True
        host, _, port = address.rpartition(":")
        host = host.strip("[]")
        with socket.create_connection((host, int(port)), timeout=timeout):
            return True
    except OSError:
        return False


def _wait_for(check: Callable[[], bool], proc: Process, what: str, log: Path | None = None,
              timeout: float = READY_TIMEOUT) -> None:
    """Wait (bounded) until ``check()`` is true; fail fast with the process output if it died."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        if not proc.alive():
            break
        time.sleep(0.05)
    detail = proc.output_tail()
    if log is not None:
        with contextlib.suppress(OSError):
            detail += "\n" + log.read_text(errors="replace")[-600:]
    state = "exited" if not proc.alive() else f"not ready after {timeout:.0f}s"
    raise LabError(f"{what} {state}: {' '.join(detail.split())[-600:]}")


def _stop_process(proc: Process) -> None:
    """SIGTERM the PID, wait (bounded), then SIGKILL its process group if it is still there.

    The process was started with ``start_new_session=True``: its group id is its PID and only its
    own children (nginx workers, php-fpm children) are in the group.  The group is signalled only
    while the leader is not yet reaped, so the PID cannot have been reused by then.
    """
    popen = proc.popen
    if popen.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            popen.send_signal(signal.SIGTERM)
        try:
            popen.wait(timeout=STOP_TIMEOUT)
            return
        except subprocess.TimeoutExpired:
            pass
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(popen.pid, signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            popen.wait(timeout=STOP_TIMEOUT)


def _read(path: Path) -> str:
    try:
        return path.read_text(errors="replace")
    except OSError:
        return ""


def _remove_cgroup(cg: Path, wait: float = 3.0) -> None:
    """rmdir a cgroup we created once its processes are gone (bounded wait; EBUSY until then)."""
    deadline = time.monotonic() + wait
    while True:
        try:
            cg.rmdir()
            return
        except FileNotFoundError:
            return
        except OSError:
            if time.monotonic() > deadline:
                return
            time.sleep(0.05)


def _children_of(pid: int) -> list[int]:
    kids: list[int] = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        # pid (comm) state ppid ...: comm may contain spaces, so split after the last ')'.
        fields = stat.rpartition(")")[2].split()
        if len(fields) > 1 and fields[1] == str(pid):
            kids.append(int(entry.name))
    return sorted(kids)


def iter_log_lines(path: Path) -> Iterator[str]:
    """Lines of a lab log (empty when the file does not exist yet)."""
    try:
        yield from path.read_text(errors="replace").splitlines()
    except OSError:
        return
