"""The host around the backends: the proxy's worker identity and the unix sockets it must open,
systemd's units and journal, SELinux, ephemeral ports and the proxy's file-descriptor limit.

Everything is read with ``sources`` (``/proc``, ``systemctl``, ``journalctl``, ``ausearch``) and
each failure becomes a ``Diagnostic``: a host without systemd or SELinux is normal.
"""

from __future__ import annotations

import grp
from dataclasses import replace
from datetime import datetime

from why502.evidence.aggregate import parse_time
from why502.evidence.events import log_event
from why502.evidence.model import Evidence, HostFacts, LogEvent, SocketStat, TargetFact
from why502.facts.accounts import WorkerIdentity
from why502.facts.fpm import debian_php_version
from why502.facts.net import Listener
from why502.facts.system import UnitState
from why502.findings.model import Diagnostic
from why502.parsers.errorlog import classify_line
from why502.proxies import DEFAULT, PROXIES
from why502.sources import system
from why502.sources.accounts import check_socket_access, stat_path
from why502.sources.accounts import worker_identity as resolve_worker

# The default proxy's executables (nginx's): its own listeners serve no target, its AVC denials
# and its file-descriptor limit are the ones read here (``Detection.programs``)
PROGRAMS = PROXIES[DEFAULT].detection.programs


def worker_identity(diags: list[Diagnostic], directive: str | None = None,
                    proxy: str | None = None) -> WorkerIdentity | None:
    """Who the workers of ``proxy`` (the default one when None) run as: ``directive``, the
    ``USER [GROUP]`` its config sets (``ProxyView.user_directive``: nginx's ``user``, HAProxy's
    ``user``/``group``), else its compiled-in default (``Detection.worker_user``,
    ``sources.accounts.worker_identity``)."""
    ident, more = resolve_worker(directive, proxy)
    diags += more
    return ident


def group_names(ident: WorkerIdentity) -> tuple[str, ...]:
    """The worker's groups by name (the gid when a group has no name)."""
    names = []
    for gid in ident.gids:
        try:
            names.append(grp.getgrgid(gid).gr_name)
        except KeyError:
            names.append(str(gid))
    return tuple(names)


def socket_stats(paths: set[str], ident: WorkerIdentity | None) -> dict[str, SocketStat]:
    """``stat()`` of each unix socket path and whether nginx's worker may connect to it."""
    sockets = {}
    for path in sorted(x for x in paths if x):
        st = stat_path(path)
        allowed: bool | None = None
        reason: str | None = None
        if ident is not None and ident.uid is not None and st.exists:
            access = check_socket_access(path, ident.uid, ident.gids)
            allowed, reason = access.allowed, access.reason
        sockets[path] = SocketStat(path=path, exists=st.exists, is_socket=st.is_socket,
                                   owner=st.owner, group=st.group,
                                   uid=st.st_uid if st.exists else None,
                                   gid=st.st_gid if st.exists else None,
                                   mode=(st.st_mode & 0o7777) if st.exists else None,
                                   error=st.error, worker_allowed=allowed, worker_reason=reason)
    return sockets


def target_units(targets: list[TargetFact], fpm_files: list[str],
                 listeners: list[Listener]) -> dict[str, str]:
    """peer key -> the systemd unit serving it: the cgroup of the process listening there
    (``/proc/PID/cgroup``); for PHP-FPM targets, Debian's ``phpX.Y-fpm.service`` from the pool's
    config path (so a stopped FPM still gets its unit)."""
    ev = Evidence(host=HostFacts(listeners=tuple(listeners)))
    out: dict[str, str] = {}
    fpm_units = sorted({f"php{version}-fpm.service" for f in fpm_files
                        if (version := debian_php_version(f))})
    for t in targets:
        for lst in ev.listeners_for(t.key):
            if lst.pid and lst.process not in PROGRAMS:
                unit, _ = system.unit_of_pid(lst.pid)
                if unit:
                    out[t.key] = unit
                    break
        if t.key not in out and t.kind == "fastcgi" and len(fpm_units) == 1:
            out[t.key] = fpm_units[0]
    return out


def unit_states(names: list[str], diags: list[Diagnostic]) -> dict[str, UnitState]:
    """``systemctl show`` of the units serving the targets (the ones that exist)."""
    states = system.read_unit_states(names)
    diags += states.diagnostics
    return {u.name: u for u in states.units if u.exists}


def journal_events(units: list[str], since: datetime | None, diags: list[Diagnostic],
                   events: list[LogEvent]) -> None:
    """The units' journal lines as events: systemd's messages about a unit, or the unit's own
    output (PHP-FPM with ``error_log = syslog``, gunicorn, uwsgi), recognised by the catalog
    like any log line."""
    if not units:
        return
    journal = system.read_journal(units, since)
    diags += journal.diagnostics
    for e in journal.entries:
        c = classify_line(e.message)
        if c is not None:
            item = log_event(c.symptom, e.message, source=c.source, pattern=c.pattern,
                             captures=c.captures, time=parse_time(e.time), file="journal")
            events.append(replace(item, unit=e.unit or item.unit))


def selinux(since: datetime | None, diags: list[Diagnostic], events: list[LogEvent]) -> str | None:
    """SELinux's mode; its AVC denials of nginx become events."""
    se = system.selinux_denials(since)
    diags += se.diagnostics
    for d in se.denials:
        if d.comm is None or d.comm in PROGRAMS:
            events.append(LogEvent(kind="selinux-avc", text=d.raw, source="audit",
                                   time=parse_time(d.time), pid=d.pid, process=d.comm,
                                   detail="SELinux denied " + " ".join(d.permissions)
                                   + (f" to port {d.dest_port}" if d.dest_port else "")))
    return se.mode


def nofile_limit(listeners: list[Listener]) -> int | None:
    """The soft ``Max open files`` of the default proxy (nginx: its first listening process)."""
    pids = [x.pid for x in listeners if x.process in PROGRAMS and x.pid]
    if not pids:
        return None
    lim = system.read_process_limits(pids[0]).max_open_files
    return lim.soft if lim is not None else None


def resolvers(path: str = "/etc/resolv.conf") -> tuple[str, ...]:
    """The host's nameservers (for a ``resolver`` fix that works here)."""
    try:
        with open(path, encoding="utf-8", errors="replace") as fh:
            text = fh.read()
    except OSError:
        return ()
    out = []
    for line in text.splitlines():
        parts = line.split()
        if len(parts) >= 2 and parts[0] == "nameserver":
            out.append(f"[{parts[1]}]" if ":" in parts[1] else parts[1])
    return tuple(out)
