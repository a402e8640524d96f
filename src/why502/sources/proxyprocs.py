"""The proxies running on this host, from ``/proc``: the masters of every registered proxy whose
``Hooks.master_args`` reads its command line (nginx, Apache httpd, HAProxy), with the config
each was started with, and the edge processes (Caddy: ``Capability.EDGE_PROCESS``).

A master is a process of one of these programs whose parent is not the same program (its
workers are its children).  What each command line says is the proxy's own knowledge
(``proxies/<name>/process.py``: nginx's ``-c``/``-p`` after its retitled ``master process``,
httpd's ``-f``/``-d``/``-D``, HAProxy's ``-f``/``-W``/``-p``); nothing here names a proxy.

``WHY502_PROC_PIDS`` (a comma list) restricts the scan to those PIDs and their children, so a
test that starts its own proxies sees only them (``sources.procscan``, the one rule of every
scan of ``/proc``).  Processes of other users whose command line cannot be read are skipped
silently: their config is not ours to read either.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field

from why502.proxies import DEFAULT, PROXIES, Capability, detect_process, get
from why502.proxies.base import resolve
from why502.proxies.process import MasterArgs, absolute, option
from why502.sources import procscan
from why502.sources.procscan import PIDS_ENV, allowed_pids, parent_pid

__all__ = ["PIDS_ENV", "allowed_pids", "parent_pid"]  # where the scans' rule lives: procscan

# the program names and default configs each proxy declares (why502.proxies, the one registry)
PROGRAMS = {prog: p.name for p in PROXIES.values() for prog in p.detection.programs}
DEFAULT_CONFIGS = {p.name: p.vocabulary.default_config for p in PROXIES.values()}
# the edge processes' program names (Caddy's ``caddy``), each proxy's own
EDGE_PROGRAMS = {prog: p.name for p in PROXIES.values() if p.can(Capability.EDGE_PROCESS)
                 for prog in p.detection.programs}


@dataclass(frozen=True)
class ProxyProcess:
    """A running proxy master and what its command line says about its config."""

    kind: str  # a name of why502.proxies.PROXIES
    pid: int
    argv: tuple[str, ...]
    binary: str
    config: str | None  # the main config (absolute when the command line allows)
    server_root: str | None = None  # httpd -d
    defines: tuple[str, ...] = ()  # httpd -D NAME
    master_worker: bool = False  # haproxy -W / -Ws
    pid_file: str | None = None  # haproxy -p
    children: tuple[int, ...] = field(default_factory=tuple)
    prefix: str | None = None  # nginx -p PREFIX (absolute); None: the compiled-in prefix
    unit: str | None = None  # the systemd service whose cgroup the master is in
    container: str | None = None  # the container (cgroup scope) the master runs in, if any
    more_configs: tuple[str, ...] = ()  # haproxy: the -f after the first (not read yet)


def _kind(comm: str, argv: list[str]) -> str | None:
    return detect_process(comm, argv)


def _option(argv: list[str], flag: str) -> list[str]:
    return option(argv, flag)


def _cwd(pid: int) -> str | None:
    try:
        return os.readlink(f"/proc/{pid}/cwd")
    except OSError:
        return None


def _absolute(path: str, pid: int, base: str | None = None) -> str:
    """``path`` as the process meant it: relative to ``base`` or to its working directory."""
    return absolute(path, None if os.path.isabs(path) or base else _cwd(pid), base)


def master_args(kind: str, pid: int, argv: list[str]) -> MasterArgs:
    """What a master's command line says, read by its proxy's ``Hooks.master_args``."""
    proxy = get(kind)
    read = resolve(proxy.hooks.master_args)
    args: MasterArgs = read(argv, _cwd(pid), proxy.vocabulary.default_config)  # type: ignore[operator]
    return args


def describe(kind: str, pid: int, argv: list[str]) -> ProxyProcess:
    """What a master's command line says (see the module docstring)."""
    a = master_args(kind, pid, argv)
    return ProxyProcess(kind, pid, a.argv, a.argv[0] if a.argv else kind, a.config, a.server_root,
                        a.defines, a.master_worker, a.pid_file, prefix=a.prefix,
                        more_configs=a.more_configs)


MASTERS = tuple(name for name, p in PROXIES.items() if p.hooks.master_args)
"""The proxies whose masters :func:`running_proxies` describes (the others: ``running_edges``)."""


def running_proxies(kinds: tuple[str, ...] = MASTERS, *,
                    use_env: bool = True) -> list[ProxyProcess]:
    """Every proxy master on this host (or among ``WHY502_PROC_PIDS`` when ``use_env``), lowest
    PID first."""
    procs: dict[int, tuple[str, int, list[str]]] = {}
    for pid in procscan.pids(use_env=use_env):
        st = procscan.stat(pid)
        if st is None:
            continue
        comm, ppid = st
        if comm not in PROGRAMS and not comm.startswith(tuple(PROXIES)):
            continue
        raw = procscan.cmdline(pid, limit=-1)
        if not raw:
            continue
        argv = [a.decode("utf-8", "replace") for a in raw.rstrip(b"\0").split(b"\0")]
        kind = _kind(comm, argv)
        if kind in kinds:
            procs[pid] = (kind, ppid, argv)
    out: list[ProxyProcess] = []
    for pid, (kind, ppid, argv) in sorted(procs.items()):
        if ppid in procs and procs[ppid][0] == kind:
            continue  # a worker of a master we list
        if master_args(kind, pid, argv).worker:
            continue  # a worker whose master is not listed (it says so in its title)
        kids = tuple(p for p, (k, pp, _a) in procs.items() if pp == pid and k == kind)
        base = describe(kind, pid, argv)
        unit, container = cgroup_of(pid)
        out.append(ProxyProcess(**{**base.__dict__, "children": kids, "unit": unit,
                                   "container": container}))
    return out


# a container runtime's cgroup scope: docker-<64 hex>.scope, /docker/<id>, cri-containerd-<id>,
# libpod-<id> (podman), /kubepods/.../<id>
_CONTAINER = re.compile(r"(?:docker|cri-containerd|crio|libpod|containerd)[-/]([0-9a-f]{12,64})|"
                        r"/kubepods[^\n]*/([0-9a-f]{12,64})")


def cgroup_of(pid: int) -> tuple[str | None, str | None]:
    """(the systemd service, the container) whose cgroup holds ``pid``, from ``/proc/PID/cgroup``
    (cgroup v2: ``0::/system.slice/nginx.service``; v1: the ``name=systemd`` line).  A unit is
    what ``systemctl reload`` must name (nginx started by hand has none: the session's
    ``session-N.scope`` is not a service); a container is said because its files are not this
    host's paths (``/proc/PID/root`` is its root)."""
    raw = procscan.read_file(f"/proc/{pid}/cgroup")
    unit, container = parse_cgroup(raw.decode("utf-8", "replace") if raw else "")
    if container is None and _other_mount_namespace(pid):
        container = f"mount namespace of pid {pid}"
    return unit, container


def _other_mount_namespace(pid: int) -> bool:
    """Does ``pid`` see another filesystem than this process (a container without a runtime's
    cgroup name, ``unshare -m``)?  Unknown (not readable): no."""
    try:
        return os.readlink(f"/proc/{pid}/ns/mnt") != os.readlink("/proc/self/ns/mnt")
    except OSError:
        return False


def parse_cgroup(text: str) -> tuple[str | None, str | None]:
    """(unit, container) of a ``/proc/PID/cgroup`` text (``cgroup_of``)."""
    paths = [line.split(":", 2)[2] for line in text.splitlines()
             if line.count(":") >= 2 and (line.startswith("0::") or "name=systemd" in line)]
    container = None
    m = _CONTAINER.search(text)
    if m:
        container = (m.group(1) or m.group(2))[:12]
    unit = None
    for path in paths:
        for part in reversed(path.split("/")):
            if part.endswith(".service") and not container:
                unit = part
                break
        if unit:
            break
    return unit, container


def master_of(kind: str, config: str) -> ProxyProcess | None:
    """The running master of ``kind`` started with ``config`` (compared by real path; a config
    path names one master, so ``WHY502_PROC_PIDS`` does not apply).  A proxy with no master
    (``Capability.EDGE_PROCESS``, Caddy) is its server process (:func:`running_edges`)."""
    want = os.path.realpath(config)
    proxy = PROXIES.get(kind)
    if proxy is not None and proxy.can(Capability.EDGE_PROCESS):  # no master: a server (caddy run)
        edge = next((e for e in running_edges(use_env=False) if e.kind == kind and e.config
                     and os.path.realpath(e.config) == want), None)
        return ProxyProcess(kind, edge.pid, (), kind, edge.config) if edge is not None else None
    for p in running_proxies((kind,), use_env=False):
        if p.config and os.path.realpath(p.config) == want:
            return p
    return None


def own_default_config(masters: list[ProxyProcess] | None = None) -> str | None:
    """The config of the only master of the default proxy (nginx) running when it is not the
    compiled-in one (its ``-c FILE``), else None.  ``nginx -T`` reads the compiled-in config,
    not the one that runs: an nginx started with ``nginx -c /srv/app/nginx.conf`` was diagnosed
    "healthy" from /etc/nginx (issue 31).  ``diagnose`` discovery goes through this."""
    found = [p for p in (running_proxies() if masters is None else masters) if p.kind == DEFAULT]
    if len(found) != 1 or not found[0].config:
        return None
    conf = found[0].config
    same = os.path.realpath(conf) == os.path.realpath(DEFAULT_CONFIGS[DEFAULT])
    return None if same else conf


@dataclass(frozen=True)
class EdgeProcess:
    """A running proxy outside ``PROXIES`` whose logs ``diagnose`` reads (Caddy): its config, the
    access logs the config writes, and where its own log (standard error) goes."""

    kind: str  # a name of why502.proxies.PROXIES with Capability.EDGE_PROCESS (caddy)
    pid: int
    config: str | None
    access_logs: tuple[str, ...] = ()
    own_log: str | None = None  # /proc/PID/fd/2 when it is a regular file (Caddy's error lines)


def running_edges(*, use_env: bool = True) -> list[EdgeProcess]:
    """Every edge server running (``Capability.EDGE_PROCESS``: Caddy's ``caddy run``; ``caddy
    start`` runs one), or among ``WHY502_PROC_PIDS``, its config and access logs as its proxy's
    ``Hooks.edge_run`` reads them: ``diagnose`` with nothing named read the packaged nginx config
    while only Caddy ran and answered 502 to every request, and said "healthy" (issue 31)."""
    out: list[EdgeProcess] = []
    for pid in procscan.pids(use_env=use_env, children=False):  # the listed server itself
        st = procscan.stat(pid)
        if st is None or st[0] not in EDGE_PROGRAMS:
            continue
        raw = procscan.cmdline(pid, limit=-1)
        argv = [a.decode("utf-8", "replace") for a in (raw or b"").rstrip(b"\0").split(b"\0")]
        kind = EDGE_PROGRAMS[st[0]]
        hook = get(kind).hooks.edge_run
        run = resolve(hook)(argv, _cwd(pid)) if hook else None  # type: ignore[operator]
        if run is None:  # not a server (its proxy's edge_run says), or not read
            continue
        config, access_logs = run
        try:
            own = os.readlink(f"/proc/{pid}/fd/2")
        except OSError:
            own = None
        out.append(EdgeProcess(kind, pid, config, access_logs,
                               own if own and own.startswith("/") and os.path.isfile(own) else None))
    return out
