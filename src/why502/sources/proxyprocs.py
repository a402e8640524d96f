"""The proxies running on this host, from ``/proc``: nginx, Apache httpd and HAProxy masters with
the config each was started with.

A master is a process of one of these programs whose parent is not the same program (its
workers are its children).  What each command line says:

- nginx rewrites its title to ``nginx: master process /usr/sbin/nginx -c FILE -g ...``
  (``ngx_setproctitle()``, src/os/unix/ngx_setproctitle.c): the original argv follows
  ``master process``; ``-c`` names the config, else the compiled-in one (``nginx -V``
  ``--conf-path``, ``/etc/nginx/nginx.conf`` on Debian);
- httpd keeps its argv: ``-f FILE`` (relative to ``-d SERVERROOT``), ``-d``, ``-D NAME``;
  without ``-f`` the compiled-in ``SERVER_CONFIG_FILE`` under ``HTTPD_ROOT``
  (``apache2 -V``; Debian: ``/etc/apache2/apache2.conf``);
- HAProxy keeps its argv: every ``-f`` (a file or a directory), ``-W``/``-Ws`` for
  master-worker mode, ``-p PIDFILE``, ``-sf``/``-st`` PIDs of a legacy reload.

``WHY502_PROC_PIDS`` (a comma list) restricts the scan to those PIDs and their children, so a
test that starts its own proxies sees only them.  Processes of other users whose command line
cannot be read are skipped silently: their config is not ours to read either.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field

from why502.proxies import PROXIES, detect_process

# the program names and default configs each proxy declares (why502.proxies, the one registry)
PROGRAMS = {prog: p.name for p in PROXIES.values() for prog in p.detection.programs}
DEFAULT_CONFIGS = {p.name: p.vocabulary.default_config for p in PROXIES.values()}
PIDS_ENV = "WHY502_PROC_PIDS"


@dataclass(frozen=True)
class ProxyProcess:
    """A running proxy master and what its command line says about its config."""

    kind: str  # nginx | apache | haproxy
    pid: int
    argv: tuple[str, ...]
    binary: str
    config: str | None  # the main config (absolute when the command line allows)
    server_root: str | None = None  # httpd -d
    defines: tuple[str, ...] = ()  # httpd -D NAME
    master_worker: bool = False  # haproxy -W / -Ws
    pid_file: str | None = None  # haproxy -p
    children: tuple[int, ...] = field(default_factory=tuple)


def _read(path: str) -> bytes | None:
    try:
        with open(path, "rb") as fh:
            return fh.read()
    except OSError:
        return None


def _stat(pid: int) -> tuple[str, int] | None:
    """(comm, ppid) from ``/proc/PID/stat``."""
    raw = _read(f"/proc/{pid}/stat")
    if raw is None:
        return None
    text = raw.decode("ascii", "replace")
    comm = text[text.find("(") + 1:text.rfind(")")]
    fields = text[text.rfind(")") + 2:].split()
    return (comm, int(fields[1])) if len(fields) > 1 and fields[1].isdigit() else None


def _allowed() -> set[int] | None:
    text = os.environ.get(PIDS_ENV, "").strip()
    if not text:
        return None
    return {int(p) for p in text.replace(" ", "").split(",") if p.isdigit()}


def _kind(comm: str, argv: list[str]) -> str | None:
    return detect_process(comm, argv)


def _option(argv: list[str], flag: str) -> list[str]:
    """Values of ``flag VALUE`` and ``flagVALUE`` in ``argv``."""
    out: list[str] = []
    for i, a in enumerate(argv):
        if a == flag and i + 1 < len(argv):
            out.append(argv[i + 1])
        elif a.startswith(flag) and len(a) > len(flag) and flag in ("-f", "-d", "-D", "-c", "-p"):
            out.append(a[len(flag):])
    return out


def _absolute(path: str, pid: int, base: str | None = None) -> str:
    """``path`` as the process meant it: relative to ``base`` (httpd's ServerRoot) or to the
    process's working directory (``/proc/PID/cwd``)."""
    if os.path.isabs(path):
        return path
    if base:
        return os.path.join(base, path)
    try:
        return os.path.join(os.readlink(f"/proc/{pid}/cwd"), path)
    except OSError:
        return path


def describe(kind: str, pid: int, argv: list[str]) -> ProxyProcess:
    """What a master's command line says (see the module docstring)."""
    if kind == "nginx" and argv and argv[0].startswith("nginx:"):
        words = " ".join(argv).split("master process", 1)[-1].split()
        argv = words or argv
    binary = argv[0] if argv else kind
    if kind == "nginx":
        conf = _option(argv, "-c")
        return ProxyProcess(kind, pid, tuple(argv), binary,
                            _absolute(conf[-1], pid) if conf else DEFAULT_CONFIGS["nginx"])
    if kind == "apache":
        root = _option(argv, "-d")
        server_root = _absolute(root[-1], pid) if root else None
        conf = _option(argv, "-f")
        config = (_absolute(conf[-1], pid, server_root) if conf
                  else DEFAULT_CONFIGS["apache"] if server_root is None
                  else os.path.join(server_root, "apache2.conf"))
        return ProxyProcess(kind, pid, tuple(argv), binary, config, server_root,
                            tuple(_option(argv, "-D")))
    confs = _option(argv, "-f")
    pid_file = _option(argv, "-p")
    return ProxyProcess(kind, pid, tuple(argv), binary,
                        _absolute(confs[0], pid) if confs else DEFAULT_CONFIGS["haproxy"],
                        master_worker=any(a in ("-W", "-Ws") for a in argv),
                        pid_file=_absolute(pid_file[-1], pid) if pid_file else None)


def running_proxies(kinds: tuple[str, ...] = tuple(PROXIES), *,
                    use_env: bool = True) -> list[ProxyProcess]:
    """Every proxy master on this host (or among ``WHY502_PROC_PIDS`` when ``use_env``), lowest
    PID first."""
    allowed = _allowed() if use_env else None
    procs: dict[int, tuple[str, int, list[str]]] = {}
    try:
        entries = os.listdir("/proc")
    except OSError:
        return []
    for entry in entries:
        if not entry.isdigit():
            continue
        pid = int(entry)
        st = _stat(pid)
        if st is None:
            continue
        comm, ppid = st
        if allowed is not None and pid not in allowed and ppid not in allowed:
            continue
        if comm not in PROGRAMS and not comm.startswith(tuple(PROXIES)):
            continue
        raw = _read(f"/proc/{pid}/cmdline")
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
        if kind == "nginx" and argv and argv[0].startswith("nginx: worker"):
            continue
        kids = tuple(p for p, (k, pp, _a) in procs.items() if pp == pid and k == kind)
        base = describe(kind, pid, argv)
        out.append(ProxyProcess(**{**base.__dict__, "children": kids}))
    return out


def master_of(kind: str, config: str) -> ProxyProcess | None:
    """The running master of ``kind`` started with ``config`` (compared by real path; a config
    path names one master, so ``WHY502_PROC_PIDS`` does not apply)."""
    want = os.path.realpath(config)
    for p in running_proxies((kind,), use_env=False):
        if p.config and os.path.realpath(p.config) == want:
            return p
    return None


def own_nginx_config(masters: list[ProxyProcess] | None = None) -> str | None:
    """The config of the only nginx master running when it is not the compiled-in one (its
    ``-c FILE``), else None.  ``nginx -T`` reads the compiled-in config, not the one that runs:
    an nginx started with ``nginx -c /srv/app/nginx.conf`` was diagnosed "healthy" from
    /etc/nginx (issue 31).  ``diagnose`` and ``watch`` discovery both go through this."""
    nginxes = [p for p in (running_proxies() if masters is None else masters) if p.kind == "nginx"]
    if len(nginxes) != 1 or not nginxes[0].config:
        return None
    conf = nginxes[0].config
    same = os.path.realpath(conf) == os.path.realpath(DEFAULT_CONFIGS["nginx"])
    return None if same else conf
