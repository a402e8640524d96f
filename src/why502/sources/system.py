"""System evidence: kernel OOM kills, systemd units and journal, SELinux, socket/fd limits.

Why: a backend that the kernel killed for memory, that systemd keeps restarting, that SELinux may
not reach, or a host out of ephemeral ports or file descriptors, all show up in nginx as 502s with
no explanation in nginx's own logs.  This module reads those facts read-only and never fails the
run: each function returns its data plus ``Diagnostic`` items saying what could not be read and why
(no systemd, not root, missing file, command not installed).  Text parsing is pure and lives in
``why502.parsers.system_text`` / ``why502.parsers.procnet``.

Kernel log sources, first that works (each failure is recorded): ``--kernel-log PATH``;
``journalctl -k -o short-iso --since``; ``dmesg -T`` (needs root or
``kernel.dmesg_restrict=0``); ``/var/log/kern.log``.
"""

from __future__ import annotations

import gzip
import os
import shutil
import subprocess
import zlib
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from why502.facts.system import (
    Journal,
    KernelEvents,
    NetLimits,
    ProcessLimits,
    SelinuxState,
    UnitStates,
)
from why502.findings import Diagnostic
from why502.parsers.procnet import parse_tcp_table, state_counts, state_counts_by_remote_port
from why502.parsers.system_text import UNIT_PROPERTIES as UNIT_PROPERTIES
from why502.parsers.system_text import (
    parse_avc_denials,
    parse_int_value,
    parse_journal_json,
    parse_kernel_log,
    parse_port_range,
    parse_proc_limits,
    parse_systemctl_show,
    unit_from_cgroup,
)
from why502.sources.opening import is_stream, open_stream

COMMAND_TIMEOUT = 10.0  # seconds for journalctl/systemctl/dmesg/ausearch
JOURNAL_MAX_LINES = 20000  # newest records per journalctl call: bounded on busy hosts
MAX_TEXT_BYTES = 64 * 1024 * 1024  # never read more than this of a kernel/audit log file


@dataclass
class CommandResult:
    """What one external command did; ``error`` says why it cannot be used."""

    argv: list[str]
    returncode: int | None
    stdout: str
    stderr: str
    error: str | None = None


def run_command(argv: list[str], timeout: float = COMMAND_TIMEOUT) -> CommandResult:
    """Run a read-only command with a timeout; a missing binary or timeout becomes ``error``."""
    if shutil.which(argv[0]) is None:
        return CommandResult(argv, None, "", "", f"{argv[0]} is not installed")
    try:
        proc = subprocess.run(
            argv,
            capture_output=True,
            timeout=timeout,
            check=False,
            env={**os.environ, "LC_ALL": "C", "SYSTEMD_PAGER": "", "PAGER": "cat"},
        )
    except subprocess.TimeoutExpired:
        return CommandResult(argv, None, "", "", f"{argv[0]} did not finish within {timeout:g}s")
    except OSError as err:
        return CommandResult(argv, None, "", "", f"{argv[0]}: {err.strerror or err}")
    out = proc.stdout.decode("utf-8", "replace")
    err_text = proc.stderr.decode("utf-8", "replace").strip()
    result = CommandResult(argv, proc.returncode, out, err_text)
    if proc.returncode != 0:
        first = err_text.splitlines()[0] if err_text else f"exit status {proc.returncode}"
        result.error = f"{' '.join(argv[:2])}: {first}"
    return result


def systemd_running() -> bool:
    """``sd_booted()``: systemd is PID 1 when ``/run/systemd/system`` exists."""
    return os.path.isdir("/run/systemd/system")


JOURNAL_DIRS = ("/run/log/journal", "/var/log/journal")


def journal_unavailable() -> CommandResult | None:
    """A failed result when journald has no journal files here; ``None`` when journalctl may be asked.

    Why: with no journal files ``journalctl`` prints nothing (or ``-- No entries --``) and exits 0,
    which must not read as "no OOM kills, no restarts".  A directory we may not list (not root,
    not in ``systemd-journal``) is given the benefit of the doubt.
    """
    for d in JOURNAL_DIRS:
        if not os.path.isdir(d):
            continue
        try:
            for _root, _dirs, files in os.walk(d):
                if any(f.endswith((".journal", ".journal~")) for f in files):
                    return None
        except OSError:
            return None
        if not os.access(d, os.R_OK | os.X_OK):
            return None
    return CommandResult(
        ["journalctl"],
        None,
        "",
        "",
        "no journal files in " + " or ".join(JOURNAL_DIRS) + " (systemd-journald is not running here)",
    )


def _since_arg(since: datetime) -> str:
    local = since.astimezone() if since.tzinfo is not None else since
    return local.strftime("%Y-%m-%d %H:%M:%S")


def _read_text(path: str) -> str:
    if is_stream(path):  # --kernel-log <(journalctl -k ...), or /dev/kmsg: polled, bounded
        with open_stream(path) as stream:
            return stream.read(MAX_TEXT_BYTES).decode("utf-8", errors="replace")
    opener = gzip.open if path.endswith(".gz") else open
    try:
        with opener(path, "rt", encoding="utf-8", errors="replace") as fh:  # type: ignore[operator]
            text: str = fh.read(MAX_TEXT_BYTES)
    except (EOFError, zlib.error) as err:
        # a .gz cut short (full disk, interrupted copy) or corrupt: unreadable like any OSError,
        # so callers turn it into a Diagnostic instead of an internal error
        raise OSError(f"damaged gzip file ({err})") from None
    return text


def boot_time(proc: str = "/proc") -> datetime | None:
    """Boot time from ``/proc/stat`` ``btime`` (to date raw ``dmesg`` seconds)."""
    try:
        for line in Path(proc, "stat").read_text().splitlines():
            if line.startswith("btime "):
                return datetime.fromtimestamp(int(line.split()[1]))
    except (OSError, ValueError):
        return None
    return None


# --------------------------------------------------------------------------------------------
# kernel


def read_kernel_events(path: str | None = None, since: datetime | None = None) -> KernelEvents:
    """Kernel OOM/segfault events from ``path`` or the first kernel log source that works."""
    result = KernelEvents()
    if path:
        try:
            text = _read_text(path)
        except OSError as err:
            result.diagnostics.append(
                Diagnostic("error", f"cannot read kernel log {path}: {err.strerror or err}", path)
            )
            return result
        year = datetime.fromtimestamp(os.path.getmtime(path)).year
        result.events = parse_kernel_log(text, since, year=year, boot_time=boot_time())
        result.source = f"file:{path}"
        return result

    failures: list[str] = []
    argv = ["journalctl", "-k", "-o", "short-iso", "--no-pager", "-n", str(JOURNAL_MAX_LINES)]
    if since is not None:
        argv += ["--since", _since_arg(since)]
    res = journal_unavailable() or run_command(argv)
    if res.error is None and "No journal files were found" not in res.stderr:
        result.events = parse_kernel_log(res.stdout, since)
        result.source = "journalctl -k"
    else:
        failures.append(f"journalctl -k: {res.error or res.stderr.splitlines()[0]}")
        res = run_command(["dmesg", "-T"])
        if res.error is None:
            result.events = parse_kernel_log(res.stdout, since)
            result.source = "dmesg -T"
        else:
            why = res.error
            if "Operation not permitted" in res.stderr:
                why += " (reading the kernel ring buffer needs root or kernel.dmesg_restrict=0)"
            failures.append(why)
            kern = "/var/log/kern.log"
            try:
                text = _read_text(kern)
                year = datetime.fromtimestamp(os.path.getmtime(kern)).year
                result.events = parse_kernel_log(text, since, year=year)
                result.source = f"file:{kern}"
            except OSError as err:
                failures.append(f"{kern}: {err.strerror or err}")
    for why in failures:
        result.diagnostics.append(Diagnostic("info" if result.source else "warning", f"kernel log: {why}"))
    if result.source is None:
        result.diagnostics.append(
            Diagnostic(
                "warning", "no kernel log could be read: OOM kills cannot be checked (pass --kernel-log PATH)"
            )
        )
    return result


# --------------------------------------------------------------------------------------------
# systemd


def read_unit_states(names: list[str]) -> UnitStates:
    """``systemctl show`` for each unit (state, restarts, result, main PID)."""
    result = UnitStates()
    if not names:
        return result
    if not systemd_running():
        result.diagnostics.append(
            Diagnostic(
                "info",
                "systemd is not running here (no /run/systemd/system; a container?): "
                "unit state and restarts of " + ", ".join(names) + " are unknown",
            )
        )
        return result
    res = run_command(["systemctl", "show", *names, "--no-pager", "-p", ",".join(UNIT_PROPERTIES)])
    if res.error is not None:
        result.diagnostics.append(Diagnostic("warning", f"systemctl show: {res.error}"))
        return result
    result.units = parse_systemctl_show(res.stdout, names)
    return result


def read_journal(units: list[str], since: datetime | None = None) -> Journal:
    """``journalctl -u UNIT... -o json --since``: systemd's messages about the units and their output."""
    result = Journal()
    if not units:
        return result
    argv = ["journalctl", "-o", "json", "--no-pager", "-n", str(JOURNAL_MAX_LINES)]
    for u in units:
        argv += ["-u", u]
    if since is not None:
        argv += ["--since", _since_arg(since)]
    res = journal_unavailable() or run_command(argv)
    if res.error is not None:
        result.diagnostics.append(Diagnostic("info", f"journal of {', '.join(units)}: {res.error}"))
        return result
    if "No journal files were found" in res.stderr:
        result.diagnostics.append(
            Diagnostic(
                "info", f"journal of {', '.join(units)}: no journal files on this host (no systemd-journald)"
            )
        )
        return result
    if os.geteuid() != 0 and "not seeing messages from other users" in res.stderr:
        result.diagnostics.append(
            Diagnostic(
                "info",
                "journal: not root and not in the systemd-journal/adm group: "
                "system units' messages may be missing",
            )
        )
    result.entries = parse_journal_json(res.stdout, since)
    return result


def unit_of_pid(pid: int, proc: str = "/proc") -> tuple[str | None, list[Diagnostic]]:
    """Which systemd unit runs ``pid`` (``/proc/PID/cgroup`` -> ``*.service``)."""
    path = Path(proc, str(pid), "cgroup")
    try:
        text = path.read_text()
    except OSError as err:
        return None, [Diagnostic("info", f"cannot read {path}: {err.strerror or err}", str(path))]
    unit = unit_from_cgroup(text)
    diags: list[Diagnostic] = []
    if unit is None:
        diags.append(
            Diagnostic("info", f"process {pid} is not in a systemd unit's cgroup ({path})", str(path))
        )
    return unit, diags


# --------------------------------------------------------------------------------------------
# SELinux


def selinux_denials(
    since: datetime | None = None,
    audit_log: str = "/var/log/audit/audit.log",
    selinuxfs: str = "/sys/fs/selinux",
) -> SelinuxState:
    """SELinux mode and AVC denials (``ausearch -m avc`` when installed, else ``audit.log``)."""
    result = SelinuxState()
    enforce = Path(selinuxfs, "enforce")
    if enforce.exists():
        try:
            result.mode = "enforcing" if enforce.read_text().strip() == "1" else "permissive"
        except OSError as err:
            result.diagnostics.append(Diagnostic("info", f"cannot read {enforce}: {err.strerror or err}"))
    else:
        res = run_command(["getenforce"])
        if res.error is None and res.stdout.strip():
            result.mode = res.stdout.strip().lower()
        else:
            result.mode = "disabled"
            result.diagnostics.append(
                Diagnostic(
                    "info", f"SELinux is not active on this host (no {enforce}): no AVC denials to check"
                )
            )
            return result
    if shutil.which("ausearch"):
        argv = ["ausearch", "-m", "avc"]
        if since is not None:
            local = since.astimezone() if since.tzinfo is not None else since
            argv += ["--start", local.strftime("%x"), local.strftime("%H:%M:%S")]
        res = run_command(argv)
        if res.returncode == 0 or (res.returncode == 1 and "<no matches>" in res.stdout + res.stderr):
            result.denials = parse_avc_denials(res.stdout, since)
            result.source = "ausearch -m avc"
            return result
        result.diagnostics.append(Diagnostic("info", f"ausearch: {res.error or res.stderr}"))
    try:
        result.denials = parse_avc_denials(_read_text(audit_log), since)
        result.source = f"file:{audit_log}"
    except OSError as err:
        hint = " (root only)" if isinstance(err, PermissionError) else ""
        result.diagnostics.append(
            Diagnostic(
                "warning",
                f"cannot read {audit_log}: {err.strerror or err}{hint}: SELinux denials unknown",
                audit_log,
            )
        )
    return result


# --------------------------------------------------------------------------------------------
# limits: ports, backlog, file descriptors


def read_net_limits(proc: str = "/proc") -> NetLimits:
    """``net.core.somaxconn``, ``fs.file-max``, ``ip_local_port_range`` and TCP state counts."""
    result = NetLimits()

    def read(rel: str) -> str | None:
        p = Path(proc, rel)
        try:
            return p.read_text()
        except OSError as err:
            result.diagnostics.append(Diagnostic("info", f"cannot read {p}: {err.strerror or err}", str(p)))
            return None

    if (text := read("sys/net/core/somaxconn")) is not None:
        result.somaxconn = parse_int_value(text)
    if (text := read("sys/fs/file-max")) is not None:
        result.file_max = parse_int_value(text)
    if (text := read("sys/fs/file-nr")) is not None:
        parts = text.split()
        if len(parts) == 3 and parts[0].isdigit() and parts[2].isdigit():
            result.file_nr = (int(parts[0]), int(parts[2]))
    if (text := read("sys/net/ipv4/ip_local_port_range")) is not None:
        result.port_range = parse_port_range(text)
    entries = []
    for name in ("tcp", "tcp6"):
        if (text := read(f"net/{name}")) is not None:
            entries.extend(parse_tcp_table(text, name))
    result.tcp_states = state_counts(entries)
    result.time_wait_by_remote_port = state_counts_by_remote_port(entries, "TIME_WAIT")
    return result


def read_process_limits(pid: int, proc: str = "/proc") -> ProcessLimits:
    """``Max open files`` from ``/proc/PID/limits`` and the current fd count when allowed."""
    result = ProcessLimits(pid)
    path = Path(proc, str(pid), "limits")
    try:
        result.max_open_files = parse_proc_limits(path.read_text()).get("Max open files")
    except OSError as err:
        result.diagnostics.append(Diagnostic("info", f"cannot read {path}: {err.strerror or err}", str(path)))
    fd_dir = Path(proc, str(pid), "fd")
    try:
        result.open_files = len(os.listdir(fd_dir))
    except PermissionError:
        result.diagnostics.append(
            Diagnostic("info", f"cannot count open files of pid {pid} ({fd_dir}): not root and not its owner")
        )
    except OSError as err:
        result.diagnostics.append(Diagnostic("info", f"cannot list {fd_dir}: {err.strerror or err}"))
    return result
