"""Live state, read only without ``--offline``: what listens where (and which process), the
proxy worker's identity and the unix sockets it must open, systemd, SELinux, limits (the
``HostFacts`` record, ``read_host``); a probe of every target and the proxy's runtime API (the
``LiveFacts`` record, ``read_live``).

An offline run gets the empty records: ``None`` listeners and probes mean "not read", which the
analyzers tell apart from "read, and nothing there".
"""

from __future__ import annotations

import contextvars
import threading
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

from why502.app.diagnose.logs import kernel_log_events
from why502.evidence.model import PROXY_NOFILE, HostFacts, LiveFacts, LogEvent, SocketStat, TargetFact
from why502.facts.fpm import FpmPool
from why502.facts.net import Listener, split_key
from why502.findings.model import Diagnostic

if TYPE_CHECKING:
    from why502.app.diagnose.inputs import ConfigRead
    from why502.app.diagnose.probes import Probing
    from why502.facts.system import UnitState


@dataclass
class _Host:
    """``HostFacts`` while it is read (the record is frozen)."""

    listeners: tuple[Listener, ...] | None = None
    user: str | None = None
    group: str | None = None
    user_groups: tuple[str, ...] = ()
    sockets: dict[str, SocketStat] = field(default_factory=dict)
    events: list[LogEvent] = field(default_factory=list)
    target_units: dict[str, str] = field(default_factory=dict)
    units: dict[str, UnitState] = field(default_factory=dict)
    selinux: str | None = None
    sysctls: dict[str, str] = field(default_factory=dict)
    limits: dict[str, int] = field(default_factory=dict)
    time_wait: dict[str, int] = field(default_factory=dict)


def read_host(conf: ConfigRead, since: datetime | None, diags: list[Diagnostic],
              kernel_log_given: bool) -> HostFacts:
    """The one provider of ``HostFacts``; every failure is a ``Diagnostic``, none stops the
    diagnosis.

    The system readers are imported here: ``--offline`` and ``--demo`` runs never load them
    (~50 ms of start-up)."""
    from why502.app.diagnose import system

    live = _Host()
    targets = list(conf.facts.targets)
    fpm_pools = conf.facts.fpm_pools
    live.listeners = _listener_table(diags)
    # sockets and the proxy worker's identity
    ident = system.worker_identity(diags, conf.view.user_directive if conf.view is not None else None,
                                   conf.view.kind if conf.view is not None else None)
    if ident is not None:
        live.user = ident.user
        live.group = ident.group if ident.gid is not None else None
        live.user_groups = system.group_names(ident)
    paths = {t.unix_path for t in targets if t.unix_path}
    paths |= {split_key(p.key)[2] or "" for p in fpm_pools if p.key.startswith("unix:")}
    live.sockets = system.socket_stats(paths, ident)
    _read_system(live, targets, fpm_pools, since, diags, kernel_log_given)
    return HostFacts(
        listeners=live.listeners, sockets=live.sockets, units=live.units,
        target_units=live.target_units, sysctls=live.sysctls, limits=live.limits,
        time_wait=live.time_wait, selinux_mode=live.selinux, resolvers=system.resolvers(),
        worker_user=live.user, worker_group=live.group, worker_groups=live.user_groups,
        events=tuple(sorted(live.events, key=lambda e: e.time or datetime.min)))


class HostReading:
    """``read_host`` started on a thread of its own while the logs are read (issue 28 item 1).

    Why: most of it waits on other programs -- ``journalctl -k`` or ``dmesg -T`` for the
    kernel's OOM kills, ``systemctl show`` and ``journalctl -u`` for the targets' units --
    ~0.15-0.2 s of a live diagnose on the 100 MB host (bench/diagnose_stages.py), spent after
    the log pass; none of it needs the logs.  Its diagnostics and notes are kept apart and
    handed to the caller's lists in ``result``, in the place ``read_host``'s own would be, so a
    report reads the same.  A daemon thread, as ``probes.Probing``: a run that fails before it
    asks does not wait; ``result`` raises what ``read_host`` raised."""

    def __init__(self, conf: ConfigRead, since: datetime | None, kernel_log_given: bool) -> None:
        self._diags: list[Diagnostic] = []
        self._notes: list[str] = []
        self._found: HostFacts | None = None
        self._error: BaseException | None = None
        # in a copy of the caller's context, as the access-log thread: the run's registry of
        # files read once (``sources.once``) is a ContextVar
        context = contextvars.copy_context()
        self._thread = threading.Thread(target=context.run, args=(self._run, conf, since, kernel_log_given),
                                        name="why502-host", daemon=True)
        self._thread.start()

    def _run(self, conf: ConfigRead, since: datetime | None, kernel_log_given: bool) -> None:
        from why502.sources.opening import own_notes

        try:
            with own_notes() as notes:
                self._found = read_host(conf, since, self._diags, kernel_log_given)
            self._notes = notes
        except BaseException as err:  # raised again by result, on the caller's thread
            self._error = err

    def result(self, diags: list[Diagnostic]) -> HostFacts:
        from why502.sources.opening import note

        self._thread.join()
        diags += self._diags
        for text in self._notes:  # into the store of the thread that asks, as if read there
            note(text)
        if self._error is not None:
            raise self._error
        assert self._found is not None
        return self._found


def _listener_table(diags: list[Diagnostic]) -> tuple[Listener, ...] | None:
    """What listens where now (``sources.listeners``); None, with a warning, when unreadable."""
    from why502.sources.listeners import read_listener_table

    try:
        table = read_listener_table()
    except OSError as err:
        diags.append(Diagnostic("warning", f"listening sockets not read: {err}"))
        return None
    diags += table.diagnostics
    return tuple(table.listeners)


def read_listeners(diags: list[Diagnostic]) -> HostFacts:
    """The host facts of an edge log read alone, live: only what listens where.

    Why: an edge's refused connects (Envoy's ``UF``, Caddy's "connect: connection refused")
    name a target nothing listens on; whether the app runs elsewhere (the other loopback
    family, another port or socket path: the catalog's wrong-target) is in the listener table
    alone, as behind nginx (``analyzers.backend_down``).  Without it an Envoy log read alone,
    and watch following Caddy's logs by their family, said backend-not-running where diagnose
    of the same window with an app log said wrong-target (fault-matrix.md stop 47)."""
    return HostFacts(listeners=_listener_table(diags))


def read_live(conf: ConfigRead, probe_timeout: float, diags: list[Diagnostic],
              inputs: dict[str, Any], probing: Probing | None = None,
              ) -> tuple[LiveFacts, dict[str, dict[str, Any]]]:
    """The one provider of ``LiveFacts``: a probe of every target (and the probes as the
    report's JSON) and, for HAProxy, its runtime API's server states.  ``probing``: the
    probes of ``conf``'s targets, started already (``probes.Probing``)."""
    from why502.app.diagnose import probes
    from why502.app.diagnose.proxies import server_states

    found, probe_dicts = (probing.result() if probing is not None
                          else probes.probe_targets(list(conf.facts.targets), probe_timeout))
    states = (server_states(conf.view, probe_timeout, diags, inputs)
              if conf.view is not None else None)
    return LiveFacts(probes=found, server_states=states), probe_dicts


def _read_system(live: _Host, targets: list[TargetFact], fpm_pools: tuple[FpmPool, ...],
                 since: datetime | None, diags: list[Diagnostic], kernel_log_given: bool) -> None:
    """Kernel, systemd, SELinux, sysctls, nginx's fd limit; each failure is a Diagnostic."""
    from why502.app.diagnose import system
    from why502.sources import system as system_source

    if not kernel_log_given:
        try:
            live.events += kernel_log_events(None, since, diags)
        except Exception as err:
            diags.append(Diagnostic("warning", f"kernel log not read: {err}"))
    listeners = list(live.listeners or ())
    fpm_files = sorted({p.file for p in fpm_pools if p.file})
    live.target_units = system.target_units(targets, fpm_files, listeners)
    try:
        live.units = system.unit_states(sorted(set(live.target_units.values()))[:20], diags)
        system.journal_events(list(live.units), since, diags, live.events)
    except Exception as err:
        diags.append(Diagnostic("warning", f"systemd state not read: {err}"))
    try:
        live.selinux = system.selinux(since, diags, live.events)
    except Exception as err:
        diags.append(Diagnostic("warning", f"SELinux state not read: {err}"))
    time_wait_ports: dict[int, int] = {}
    try:
        net = system_source.read_net_limits()
        if net.port_range:
            live.sysctls = {"net.ipv4.ip_local_port_range": f"{net.port_range[0]} {net.port_range[1]}"}
        time_wait_ports = dict(net.time_wait_by_remote_port)
    except Exception as err:
        diags.append(Diagnostic("warning", f"network limits not read: {err}"))
    try:
        soft = system.nofile_limit(listeners)
        if soft is not None:
            live.limits = {PROXY_NOFILE: soft}
    except Exception:  # noqa: S110 -- /proc/PID/limits of a process that just exited
        pass
    live.time_wait = {t.key: time_wait_ports[t.port] for t in targets
                      if t.port and t.port in time_wait_ports}
