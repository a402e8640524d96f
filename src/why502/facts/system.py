"""What the system said: kernel OOM kills and segfaults, systemd units and their journal,
SELinux denials, socket and file-descriptor limits.

The text rules are in ``why502.parsers.system_text`` (kernel and systemd lines through the
catalog's patterns, ``catalog/data/patterns.toml``); reading the sources (``journalctl``,
``dmesg``, ``/proc``) is ``why502.sources.system``.  Each reader returns its data plus
``Diagnostic`` items saying what could not be read and why.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from why502.facts.captures import Captures
from why502.findings import Diagnostic


@dataclass(frozen=True)
class KernelEvent:
    """One kernel fact: an OOM kill (and its context lines) or a segfault."""

    kind: str  # "oom-kill" | "oom-invoked" | "oom-constraint" | "oom-chosen" | "segfault"
    time: str | None
    pid: int | None
    process: str | None
    message: str
    raw: str
    line: int  # 1-based line in the source text
    oom_type: str | None = None  # "global" | "memcg" | "allocating-task"
    memcg: str | None = None  # task_memcg= (the systemd unit's cgroup, e.g. /system.slice/x.service)
    uid: int | None = None
    anon_rss_kb: int | None = None
    total_vm_kb: int | None = None
    pattern: str = ""  # the catalog pattern that recognised the line ("" for oom-invoked)
    captures: Captures = ()  # what its named groups found

    @property
    def event_id(self) -> str:
        """The causes.md evidence-event ID: ``oom-kill`` or ``worker-crashed``."""
        return "worker-crashed" if self.kind == "segfault" else "oom-kill"


@dataclass(frozen=True)
class UnitState:
    """``systemctl show`` of one unit, typed."""

    name: str
    load_state: str | None = None  # "loaded" | "not-found" | ...
    active_state: str | None = None  # "active" | "failed" | "activating" | "inactive"
    sub_state: str | None = None  # "running" | "auto-restart" | "dead" | "failed"
    n_restarts: int | None = None
    restart: str | None = None  # Restart= policy
    result: str | None = None  # "success" | "oom-kill" | "exit-code" | "signal" | "start-limit-hit"
    exec_main_pid: int | None = None
    exec_main_status: int | None = None
    main_pid: int | None = None
    active_enter_timestamp: str | None = None
    properties: dict[str, str] = field(default_factory=dict)

    @property
    def exists(self) -> bool:
        return self.load_state not in (None, "not-found")

    def describe(self) -> str:
        """``php8.2-fpm.service: failed (failed), result oom-kill, 5 restarts``."""
        if not self.exists:
            return f"{self.name}: no such unit"
        parts = [f"{self.name}: {self.active_state} ({self.sub_state})"]
        if self.result and self.result != "success":
            parts.append(f"result {self.result}")
        if self.n_restarts:
            parts.append(f"{self.n_restarts} restarts")
        if self.main_pid:
            parts.append(f"main PID {self.main_pid}")
        return ", ".join(parts)


@dataclass(frozen=True)
class JournalEntry:
    """One ``journalctl -o json`` record, the fields why502 uses."""

    time: str | None  # ISO 8601 UTC from __REALTIME_TIMESTAMP
    unit: str | None  # UNIT (systemd's messages about a unit) or _SYSTEMD_UNIT (the unit's own output)
    message: str
    pid: int | None = None
    comm: str | None = None
    identifier: str | None = None  # SYSLOG_IDENTIFIER
    priority: int | None = None
    event: str | None = None  # causes.md evidence-event ID, when recognised


@dataclass(frozen=True)
class Limit:
    name: str
    soft: int | None  # None = unlimited
    hard: int | None
    units: str


@dataclass(frozen=True)
class AvcDenial:
    """One SELinux AVC denial."""

    time: str | None
    permissions: list[str]
    comm: str | None
    pid: int | None
    scontext: str | None
    tcontext: str | None
    tclass: str | None
    permissive: bool | None
    dest_port: int | None
    path: str | None
    raw: str

    def describe(self) -> str:
        what = " ".join(self.permissions)
        target = f" port {self.dest_port}" if self.dest_port else (f" {self.path}" if self.path else "")
        return f"SELinux denied {{ {what} }} for {self.comm or '?'}{target} ({self.tclass})"


@dataclass
class KernelEvents:
    """OOM kills and segfaults, which source gave them, and why the others did not."""

    events: list[KernelEvent] = field(default_factory=list)
    source: str | None = None  # "file:/var/log/kern.log", "journalctl -k", "dmesg -T"
    diagnostics: list[Diagnostic] = field(default_factory=list)


@dataclass
class UnitStates:
    units: list[UnitState] = field(default_factory=list)
    diagnostics: list[Diagnostic] = field(default_factory=list)


@dataclass
class Journal:
    entries: list[JournalEntry] = field(default_factory=list)
    diagnostics: list[Diagnostic] = field(default_factory=list)


@dataclass
class SelinuxState:
    mode: str | None = None  # "enforcing" | "permissive" | "disabled" | None (unknown/not present)
    denials: list[AvcDenial] = field(default_factory=list)
    source: str | None = None
    diagnostics: list[Diagnostic] = field(default_factory=list)


@dataclass
class NetLimits:
    """Host-wide numbers behind port-exhaustion, backlog and fd-limit findings."""

    somaxconn: int | None = None
    file_max: int | None = None
    file_nr: tuple[int, int] | None = None  # (allocated, max) from /proc/sys/fs/file-nr
    port_range: tuple[int, int] | None = None
    tcp_states: dict[str, int] = field(default_factory=dict)
    time_wait_by_remote_port: dict[int, int] = field(default_factory=dict)
    diagnostics: list[Diagnostic] = field(default_factory=list)

    @property
    def ephemeral_ports(self) -> int | None:
        return self.port_range[1] - self.port_range[0] + 1 if self.port_range else None


@dataclass
class ProcessLimits:
    pid: int
    max_open_files: Limit | None = None
    open_files: int | None = None  # entries in /proc/PID/fd (root or same user only)
    diagnostics: list[Diagnostic] = field(default_factory=list)
