"""Pure parsing of system texts: kernel log lines, ``systemctl show``, ``journalctl -o json``,
``/proc/PID/cgroup``, ``/proc/PID/limits``, SELinux AVC records, sysctl values.

Why: a 502 burst often has its cause outside nginx — the kernel's OOM killer took the backend
(``backend-oom-killed``), systemd keeps restarting it (``backend-crash-loop``), SELinux denies the
connect (``selinux-denial``), or ports/file descriptors ran out.  Reading these sources is I/O and
lives in ``why502.sources.system``; the text rules are here so they are tested on recorded and
public real lines.

The kernel, systemd and audit lines are recognised by the catalog's patterns
(``catalog/data/patterns.toml`` through ``why502.parsers.errorlog.match_source``), the same rules
``why502 classify`` uses, and the facts below come from their named groups.  Message formats:

- kernel ``mm/oom_kill.c``: ``<comm> invoked oom-killer: gfp_mask=...``,
  ``oom-kill:constraint=...,task_memcg=...,task=<comm>,pid=<pid>,uid=<uid>``,
  ``[Out of memory|Memory cgroup out of memory]: Killed process <pid> (<comm>) total-vm:...kB,
  anon-rss:...kB, file-rss:...kB, shmem-rss:...kB[, UID:<uid> pgtables:...kB oom_score_adj:<n>]``
  (``__oom_kill_process()``; older kernels: ``Kill process <pid> (<comm>) score <n> or sacrifice
  child`` then ``Killed process ...`` without prefix; RHEL 6's 2.6.32: ``Killed process <pid>,
  UID <uid>, (<comm>) total-vm:...``); ``oom-kill:`` is ``dump_oom_victim()`` (``dump_oom_summary()``
  before 6.x; 4.19 padded ``pid=%5d``); ``arch/x86/mm/fault.c`` ``show_signal_msg()``:
  ``<comm>[<pid>]: segfault at <addr> ip <ip> sp <sp> error <n> in <vma>`` (6.2+ adds ``likely
  on CPU <n> (core <n>, socket <n>)``).
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
from functools import lru_cache

from why502.catalog.patterns import load_patterns
from why502.facts.system import AvcDenial, JournalEntry, KernelEvent, Limit, UnitState
from why502.parsers.errorlog import match_source

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


# "<comm> invoked oom-killer: gfp_mask=..." (mm/oom_kill.c dump_header()) opens an OOM report.
# It is context, not a kill (the kill is its own line: the catalog's kernel-oom-killed), so the
# catalog leaves it out -- classify must not count one OOM twice -- and it is recognised here only.
_INVOKED = re.compile(r"^(?P<comm>.+?) invoked oom-killer: ")
_INVOKED_NEEDLE = "invoked oom-killer"


@lru_cache(maxsize=1)
def _kernel_needles() -> tuple[str, ...]:
    return (*(n for p in load_patterns() if p.source == "kernel" for n in p.needles), _INVOKED_NEEDLE)


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
    """Recognise one kernel OOM/segfault line (with any journal/syslog/dmesg prefix).

    The kill, the ``oom-kill:constraint=`` summary and the segfault are the catalog's kernel
    patterns (``match_source``), whose captures give the pid, comm, uid, memory and memcg; the
    old kernels' ``Kill process <pid> (<comm>) score <n> or sacrifice child`` (the chosen
    victim, before its ``Killed process`` line) is the same pattern with a ``score``."""
    low = line.lower()
    if not any(n in low for n in _kernel_needles()):
        return None
    ll = split_log_line(line, year, boot_time)
    msg = ll.message
    when = iso(ll.time)
    # "php-fpm8.2[4243]: segfault at ..." with no prefix at all (dmesg --notime) reads like a
    # syslog tag: split_log_line() took the task for the tag, so look at the whole line too
    rec = match_source("kernel", msg) or match_source("kernel", ll.raw)
    if rec is not None:
        c = dict(rec.captures)
        kind = ("segfault" if rec.symptom == "worker-crashed" else "oom-constraint" if "constraint" in c
                else "oom-chosen" if "score" in c else "oom-kill")
        if kind == "oom-constraint":
            oom_type: str | None = "memcg" if c["constraint"] == "CONSTRAINT_MEMCG" else "global"
        else:
            oom_type = _oom_type(c.get("reason"))
        return KernelEvent(kind, when, _opt_int(c.get("pid")), c.get("process"), msg, ll.raw, number,
                           oom_type=None if kind == "segfault" else oom_type,
                           memcg=c.get("task_memcg") or c.get("oom_memcg"), uid=_opt_int(c.get("uid")),
                           anon_rss_kb=_opt_int(c.get("anon_rss")),
                           total_vm_kb=_opt_int(c.get("total_vm")),
                           pattern=rec.pattern, captures=rec.captures)
    m = _INVOKED.search(msg)
    if m:
        return KernelEvent("oom-invoked", when, None, m.group("comm"), msg, ll.raw, number)
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


def classify_unit_message(message: str) -> str | None:
    """The evidence-event ID of a systemd unit message (``unit-restart``, ``oom-kill``,
    ``unit-failed``): the catalog's systemd patterns, as classify reads the same lines."""
    rec = match_source("systemd", message)
    return rec.symptom if rec is not None else None


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


_AUDIT_TIME = re.compile(r"audit\((?P<epoch>\d+)(?:\.(?P<frac>\d+))?:\d+\)")
# a key starts a run of word characters: a start inside the run finds what the run's first does
# (and ``findall`` never resumes inside one), each read the run to its end (12.9 s for 32 KB of
# digits); tests/project/test_linear_regexes.py
_KV = re.compile(r'(?<!\w)(\w+)=("(?:[^"]*)"|\S+)')


def parse_avc_denials(text: str, since: datetime | None = None) -> list[AvcDenial]:
    """AVC denials in ``audit.log``, ``ausearch -m avc`` or journal/kernel text."""
    out: list[AvcDenial] = []
    for line in text.splitlines():
        rec = match_source("selinux", line) if "avc:" in line else None
        body = rec.capture("fields") if rec is not None else None
        if rec is None or body is None:
            continue
        when: datetime | None = None
        t = _AUDIT_TIME.search(line)
        if t:
            when = datetime.fromtimestamp(int(t.group("epoch")), tz=timezone.utc)
        if not is_after(when, since):
            continue
        kv = {k: v.strip('"') for k, v in _KV.findall(body)}
        pid = kv.get("pid", "")
        dest = kv.get("dest", "")
        permissive = kv.get("permissive")
        out.append(
            AvcDenial(
                time=iso(when),
                permissions=(rec.capture("perm") or "").split(),
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
