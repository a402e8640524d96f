"""Pure parsing of system texts: kernel log lines, ``systemctl show``, ``journalctl -o json``,
``/proc/PID/cgroup``, ``/proc/PID/limits``, SELinux AVC records, sysctl values.

Why: a 502 burst often has its cause outside nginx — the kernel's OOM killer took the backend
(``backend-oom-killed``), systemd keeps restarting it (``backend-crash-loop``), SELinux denies the
connect (``selinux-denial``), or ports/file descriptors ran out.  Reading these sources is I/O and
lives in ``why502.sources.system``; the text rules are here so they are tested on recorded and
public real lines.

Message formats (``/work/shared/reference/proxy-messages.md`` sections 8 and 9):

- kernel ``mm/oom_kill.c``: ``<comm> invoked oom-killer: gfp_mask=...``,
  ``oom-kill:constraint=...,task_memcg=...,task=<comm>,pid=<pid>,uid=<uid>``,
  ``[Out of memory|Memory cgroup out of memory]: Killed process <pid> (<comm>) total-vm:...kB,
  anon-rss:...kB, file-rss:...kB, shmem-rss:...kB[, UID:<uid> pgtables:...kB oom_score_adj:<n>]``
  (older kernels: ``Kill process <pid> (<comm>) score <n> or sacrifice child`` then ``Killed
  process ...`` without prefix); ``arch/x86/mm/fault.c``: ``<comm>[<pid>]: segfault at ...``.
- systemd ``src/core/service.c``/``unit.c``: journal messages ``<unit>: Main process exited,
  code=killed, status=9/KILL``, ``Failed with result 'oom-kill'.``, ``Scheduled restart job, restart
  counter is at N.``, ``Start request repeated too quickly.``
- audit: ``type=AVC msg=audit(<epoch>.<ms>:<serial>): avc:  denied  { name_connect } for pid=...
  comm="nginx" dest=8080 scontext=... tcontext=... tclass=tcp_socket permissive=0``.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

from why502.facts.system import AvcDenial, JournalEntry, KernelEvent, Limit, UnitState

MONTHS = {
    m: i
    for i, m in enumerate(
        ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"], 1
    )
}

# --------------------------------------------------------------------------------------------
# timestamps of log-line prefixes

_ISO_PREFIX = re.compile(
    r"^(?P<ts>\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d+)?(?:Z|[+-]\d{2}:?\d{2})?)\s+(?P<host>\S+)\s+(?P<rest>.*)$"
)
_SYSLOG_PREFIX = re.compile(
    r"^(?P<mon>[A-Z][a-z]{2})\s+(?P<day>\d{1,2})\s(?P<hms>\d{2}:\d{2}:\d{2})\s+(?P<host>\S+)\s+(?P<rest>.*)$"
)
_DMESG_T = re.compile(
    r"^\[(?:[A-Z][a-z]{2}\s+)?(?P<mon>[A-Z][a-z]{2})\s+(?P<day>\d{1,2})\s+(?P<hms>\d{2}:\d{2}:\d{2})\s+"
    r"(?P<year>\d{4})\]\s?(?P<rest>.*)$"
)
_DMESG_MONO = re.compile(r"^\[\s*(?P<mono>\d+\.\d+)\]\s?(?P<rest>.*)$")
_TAG = re.compile(r"^(?P<tag>[\w.@/-]+)(?:\[(?P<pid>\d+)\])?:\s(?P<msg>.*)$")


@dataclass(frozen=True)
class LogLine:
    """A system log line split into time, tag (``kernel``, ``systemd``) and message."""

    time: datetime | None
    tag: str | None
    message: str
    raw: str


def _parse_iso(ts: str) -> datetime | None:
    text = ts.replace("Z", "+00:00")
    m = re.match(r"^(.*[+-]\d{2})(\d{2})$", text)
    if m and not text.endswith(":" + m.group(2)) and "T" in text:
        text = f"{m.group(1)}:{m.group(2)}"
    try:
        return datetime.fromisoformat(text)
    except ValueError:
        return None


def split_log_line(line: str, year: int | None = None, boot_time: datetime | None = None) -> LogLine:
    """Recognise the prefix of a journal (``-o short-iso``), syslog, ``dmesg -T`` or ``dmesg`` line.

    ``year`` completes traditional syslog stamps (which have none); ``boot_time`` turns ``dmesg``'s
    seconds-since-boot into wall time (approximate: suspend time is not counted).
    """
    raw = line.rstrip("\n")
    when: datetime | None = None
    rest = raw
    m = _ISO_PREFIX.match(raw)
    if m:
        when = _parse_iso(m.group("ts"))
        rest = m.group("rest")
    else:
        m = _SYSLOG_PREFIX.match(raw)
        if m and m.group("mon") in MONTHS:
            y = year or datetime.now().year
            h, mi, s = (int(x) for x in m.group("hms").split(":"))
            try:
                when = datetime(y, MONTHS[m.group("mon")], int(m.group("day")), h, mi, s)
            except ValueError:
                when = None
            rest = m.group("rest")
        else:
            m = _DMESG_T.match(raw)
            if m and m.group("mon") in MONTHS:
                h, mi, s = (int(x) for x in m.group("hms").split(":"))
                try:
                    when = datetime(
                        int(m.group("year")), MONTHS[m.group("mon")], int(m.group("day")), h, mi, s
                    )
                except ValueError:
                    when = None
                return LogLine(when, "kernel", m.group("rest"), raw)
            m = _DMESG_MONO.match(raw)
            if m:
                if boot_time is not None:
                    when = boot_time + timedelta(seconds=float(m.group("mono")))
                return LogLine(when, "kernel", m.group("rest"), raw)
    tag: str | None = None
    t = _TAG.match(rest)
    if t:
        tag = t.group("tag")
        rest = t.group("msg")
    # kern.log keeps the kernel's own "[ 1234.567890] " stamp after "kernel: "
    mono = _DMESG_MONO.match(rest)
    if mono:
        rest = mono.group("rest")
    return LogLine(when, tag, rest, raw)


def iso(when: datetime | None) -> str | None:
    """ISO 8601 text; naive datetimes stay naive (local time, as the log had no zone)."""
    return when.isoformat() if when is not None else None


def is_after(when: datetime | None, since: datetime | None) -> bool:
    """``when >= since``; unknown times are kept; naive vs aware compares as local time."""
    if since is None or when is None:
        return True
    a, b = when, since
    if (a.tzinfo is None) != (b.tzinfo is None):
        a = a.astimezone() if a.tzinfo is None else a
        b = b.astimezone() if b.tzinfo is None else b
    return a >= b


# --------------------------------------------------------------------------------------------
# kernel events


_KILLED = re.compile(
    r"(?:(?P<why>Out of memory(?: \(oom_kill_allocating_task\))?|Memory cgroup out of memory):\s+)?"
    r"Killed process (?P<pid>\d+) \((?P<comm>.*?)\)(?=,| total-vm|\s*$)"
    r"(?:,? total-vm:(?P<vm>\d+)kB, anon-rss:(?P<anon>\d+)kB)?"
    r"(?:.*?UID:(?P<uid>\d+))?"
)
_CHOSEN = re.compile(
    r"(?:(?P<why>Out of memory(?: \(oom_kill_allocating_task\))?|Memory cgroup out of memory):\s+)?"
    r"Kill process (?P<pid>\d+) \((?P<comm>.*?)\) score"
)
_CONSTRAINT = re.compile(r"oom-kill:constraint=(?P<constraint>[^,]+),(?P<body>.*)$")
_INVOKED = re.compile(r"^(?P<comm>.+?) invoked oom-killer: ")
_SEGFAULT = re.compile(r"^(?P<comm>\S.*?)\[(?P<pid>\d+)\]: segfault at ")


def _oom_type(why: str | None) -> str | None:
    if not why:
        return None
    if why.startswith("Memory cgroup"):
        return "memcg"
    if "allocating" in why:
        return "allocating-task"
    return "global"


def parse_kernel_line(
    line: str, number: int = 0, year: int | None = None, boot_time: datetime | None = None
) -> KernelEvent | None:
    """Recognise one kernel OOM/segfault line (with any journal/syslog/dmesg prefix)."""
    if (
        "oom" not in line
        and "Killed process" not in line
        and "Kill process" not in line
        and "segfault" not in line
    ):
        return None
    ll = split_log_line(line, year, boot_time)
    msg = ll.message
    when = iso(ll.time)
    m = _KILLED.search(msg)
    if m:
        return KernelEvent(
            "oom-kill",
            when,
            int(m.group("pid")),
            m.group("comm"),
            msg,
            ll.raw,
            number,
            oom_type=_oom_type(m.group("why")),
            uid=int(m.group("uid")) if m.group("uid") else None,
            anon_rss_kb=int(m.group("anon")) if m.group("anon") else None,
            total_vm_kb=int(m.group("vm")) if m.group("vm") else None,
        )
    m = _CHOSEN.search(msg)
    if m:
        return KernelEvent(
            "oom-chosen",
            when,
            int(m.group("pid")),
            m.group("comm"),
            msg,
            ll.raw,
            number,
            oom_type=_oom_type(m.group("why")),
        )
    m = _CONSTRAINT.search(msg)
    if m:
        fields = dict(part.split("=", 1) for part in m.group("body").split(",") if "=" in part)
        pid = fields.get("pid", "").strip()
        uid = fields.get("uid", "").strip()
        return KernelEvent(
            "oom-constraint",
            when,
            int(pid) if pid.isdigit() else None,
            fields.get("task"),
            msg,
            ll.raw,
            number,
            oom_type="memcg" if m.group("constraint") == "CONSTRAINT_MEMCG" else "global",
            memcg=fields.get("task_memcg") or fields.get("oom_memcg"),
            uid=int(uid) if uid.isdigit() else None,
        )
    m = _INVOKED.search(msg)
    if m:
        return KernelEvent("oom-invoked", when, None, m.group("comm"), msg, ll.raw, number)
    m = _SEGFAULT.search(msg)
    if m:
        return KernelEvent("segfault", when, int(m.group("pid")), m.group("comm"), msg, ll.raw, number)
    return None


def parse_kernel_log(
    text: str, since: datetime | None = None, year: int | None = None, boot_time: datetime | None = None
) -> list[KernelEvent]:
    """All OOM/segfault events in a kernel log text, at or after ``since`` when times are known."""
    events: list[KernelEvent] = []
    for number, line in enumerate(text.splitlines(), 1):
        ev = parse_kernel_line(line, number, year, boot_time)
        if ev is None:
            continue
        if since is not None and ev.time is not None and not is_after(datetime.fromisoformat(ev.time), since):
            continue
        events.append(ev)
    return events


# --------------------------------------------------------------------------------------------
# systemd


UNIT_PROPERTIES = (
    "Id",
    "LoadState",
    "ActiveState",
    "SubState",
    "NRestarts",
    "Restart",
    "Result",
    "ExecMainPID",
    "ExecMainStatus",
    "ExecMainCode",
    "MainPID",
    "ActiveEnterTimestamp",
    "InactiveEnterTimestamp",
)


def _opt_int(value: str | None) -> int | None:
    if value is None or not value.strip().lstrip("-").isdigit():
        return None
    return int(value)


def parse_systemctl_show(text: str, names: list[str] | None = None) -> list[UnitState]:
    """Parse ``systemctl show UNIT... -p ...``: ``Key=Value`` lines, one blank-line-separated block
    per unit, in the order asked (``names`` fills in ``Id`` when it was not requested)."""
    blocks: list[dict[str, str]] = []
    current: dict[str, str] = {}
    for line in text.splitlines():
        if not line.strip():
            if current:
                blocks.append(current)
                current = {}
            continue
        key, sep, value = line.partition("=")
        if sep:
            current[key.strip()] = value
    if current:
        blocks.append(current)
    units: list[UnitState] = []
    for i, props in enumerate(blocks):
        name = props.get("Id") or (names[i] if names and i < len(names) else f"unit-{i}")
        units.append(
            UnitState(
                name=name,
                load_state=props.get("LoadState"),
                active_state=props.get("ActiveState"),
                sub_state=props.get("SubState"),
                n_restarts=_opt_int(props.get("NRestarts")),
                restart=props.get("Restart"),
                result=props.get("Result"),
                exec_main_pid=_opt_int(props.get("ExecMainPID")),
                exec_main_status=_opt_int(props.get("ExecMainStatus")),
                main_pid=_opt_int(props.get("MainPID")),
                active_enter_timestamp=props.get("ActiveEnterTimestamp") or None,
                properties=props,
            )
        )
    return units


_UNIT_EVENTS = (
    (re.compile(r"Scheduled restart job, restart counter is at \d+"), "unit-restart"),
    (re.compile(r"Start request repeated too quickly"), "unit-restart"),
    (re.compile(r"Service hold-off time over, scheduling restart"), "unit-restart"),
    (re.compile(r"killed by the OOM killer|Failed with result 'oom-kill'"), "oom-kill"),
    (
        re.compile(r"Main process exited, code=(?:killed|dumped)|Failed with result '|Failed to start "),
        "unit-failed",
    ),
)


def classify_unit_message(message: str) -> str | None:
    """The evidence-event ID of a systemd unit message (``unit-restart``, ``oom-kill``, ``unit-failed``)."""
    for pattern, event in _UNIT_EVENTS:
        if pattern.search(message):
            return event
    if re.search(r"Main process exited, code=exited, status=(?!0/)", message):
        return "unit-failed"
    return None


def _journal_message(value: object) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, list) and all(isinstance(b, int) for b in value):
        # journalctl prints non-UTF-8 (or binary) fields as an array of byte values
        return bytes(b & 0xFF for b in value).decode("utf-8", "replace")
    return "" if value is None else str(value)


def parse_journal_json(text: str, since: datetime | None = None) -> list[JournalEntry]:
    """Parse ``journalctl -o json`` output (one JSON object per line); bad lines are skipped."""
    out: list[JournalEntry] = []
    for line in text.splitlines():
        line = line.strip()
        if not line.startswith("{"):
            continue
        try:
            rec = json.loads(line)
        except json.JSONDecodeError:
            continue
        if not isinstance(rec, dict):
            continue
        when: datetime | None = None
        ts = rec.get("__REALTIME_TIMESTAMP")
        if isinstance(ts, str) and ts.isdigit():
            when = datetime.fromtimestamp(int(ts) / 1_000_000, tz=timezone.utc)
        if not is_after(when, since):
            continue
        message = _journal_message(rec.get("MESSAGE"))
        unit = rec.get("UNIT") or rec.get("_SYSTEMD_UNIT") or rec.get("USER_UNIT")
        pid = rec.get("_PID")
        prio = rec.get("PRIORITY")
        out.append(
            JournalEntry(
                time=iso(when),
                unit=str(unit) if unit else None,
                message=message,
                pid=int(pid) if isinstance(pid, str) and pid.isdigit() else None,
                comm=rec.get("_COMM"),
                identifier=rec.get("SYSLOG_IDENTIFIER"),
                priority=int(prio) if isinstance(prio, str) and prio.isdigit() else None,
                event=classify_unit_message(message),
            )
        )
    return out


def unit_from_cgroup(text: str) -> str | None:
    """The systemd unit owning a process, from ``/proc/PID/cgroup`` (v2 ``0::/...`` or v1 ``name=systemd``).

    The deepest ``*.service`` path component wins (``user@1000.service/app.slice/x.service`` ->
    ``x.service``); a ``*.scope`` is returned only when no service appears.
    """
    paths: list[str] = []
    for line in text.splitlines():
        parts = line.split(":", 2)
        if len(parts) != 3:
            continue
        hid, controllers, path = parts
        if (hid == "0" and controllers == "") or "name=systemd" in controllers:
            paths.append(path)
    for path in paths:
        services = [c for c in path.split("/") if c.endswith(".service")]
        if services:
            return services[-1]
    for path in paths:
        scopes = [c for c in path.split("/") if c.endswith(".scope")]
        if scopes:
            return scopes[-1]
    return None


# --------------------------------------------------------------------------------------------
# limits, sysctls


def parse_proc_limits(text: str) -> dict[str, Limit]:
    """Parse ``/proc/PID/limits`` (``Max open files  1024  524288  files``)."""
    out: dict[str, Limit] = {}
    for line in text.splitlines()[1:]:
        m = re.match(r"^(?P<name>\S.*?)\s{2,}(?P<soft>\S+)\s+(?P<hard>\S+)(?:\s+(?P<units>\S+))?\s*$", line)
        if not m:
            continue

        def num(v: str) -> int | None:
            return None if v == "unlimited" else _opt_int(v)

        out[m.group("name")] = Limit(
            m.group("name"), num(m.group("soft")), num(m.group("hard")), m.group("units") or ""
        )
    return out


def parse_port_range(text: str) -> tuple[int, int] | None:
    """``/proc/sys/net/ipv4/ip_local_port_range`` (``32768\\t60999``)."""
    parts = text.split()
    if len(parts) != 2 or not all(p.isdigit() for p in parts):
        return None
    return int(parts[0]), int(parts[1])


def parse_int_value(text: str) -> int | None:
    """A single-integer ``/proc/sys`` value (``somaxconn``, ``file-max``)."""
    return _opt_int(text.strip())


# --------------------------------------------------------------------------------------------
# SELinux


_AVC = re.compile(r"avc:\s+denied\s+\{(?P<perms>[^}]*)\}\s+for\s+(?P<body>.*)$")
_AUDIT_TIME = re.compile(r"audit\((?P<epoch>\d+)(?:\.(?P<frac>\d+))?:\d+\)")
_KV = re.compile(r'(\w+)=("(?:[^"]*)"|\S+)')


def parse_avc_denials(text: str, since: datetime | None = None) -> list[AvcDenial]:
    """AVC denials in ``audit.log``, ``ausearch -m avc`` or journal/kernel text."""
    out: list[AvcDenial] = []
    for line in text.splitlines():
        m = _AVC.search(line)
        if not m:
            continue
        when: datetime | None = None
        t = _AUDIT_TIME.search(line)
        if t:
            when = datetime.fromtimestamp(int(t.group("epoch")), tz=timezone.utc)
        if not is_after(when, since):
            continue
        kv = {k: v.strip('"') for k, v in _KV.findall(m.group("body"))}
        pid = kv.get("pid", "")
        dest = kv.get("dest", "")
        permissive = kv.get("permissive")
        out.append(
            AvcDenial(
                time=iso(when),
                permissions=m.group("perms").split(),
                comm=kv.get("comm"),
                pid=int(pid) if pid.isdigit() else None,
                scontext=kv.get("scontext"),
                tcontext=kv.get("tcontext"),
                tclass=kv.get("tclass"),
                permissive=None if permissive is None else permissive == "1",
                dest_port=int(dest) if dest.isdigit() else None,
                path=kv.get("path") or kv.get("name"),
                raw=line,
            )
        )
    return out
