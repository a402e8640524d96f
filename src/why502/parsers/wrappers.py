"""Peel the wrappers that real log pipelines put around a log line.

Logs rarely arrive as the program wrote them: docker's json-file driver, CRI runtimes (containerd,
CRI-O), ``docker logs --timestamps`` / ``kubectl logs --timestamps``, ``kubectl logs --prefix``'s
``[pod/NAME/CONTAINER]``, docker compose's service prefix, syslog and journald (plain or
``journalctl -o json``), ``dmesg`` and log shippers that JSON-escape quotes, and a pretty-printed
object's message member alone on its line.  ``unwrap`` removes those layers (up to a few, in any
order) and keeps the outermost timestamp it saw, so a line is classified by its own content
whatever carried it.

Pure standard library, no third-party imports: ``why502 explain "<pasted line>"`` uses it.
"""

from __future__ import annotations

import json
import re
from typing import NamedTuple

_ISO = r"\d{4}-\d\d-\d\d[T ]\d\d:\d\d:\d\d(?:[.,]\d+)?(?:Z|[+-]\d\d:?\d\d)?"
# CRI (containerd / CRI-O) log file line: "<RFC3339Nano> <stream> <P|F> <text>"
_CRI = re.compile(rf"^(?P<time>{_ISO}) (?:stdout|stderr) [FP] ?")
# syslog RFC 5424 / journalctl -o short-iso: "<ISO> host tag[pid]: "
# (the host is never one of supervisord's level names: "<time>,ms INFO spawned: 'app' ..." is a
# supervisord line, not "host INFO, tag spawned")
_SYSLOG_ISO = re.compile(rf"^(?:\d \S+ )?(?P<time>{_ISO}) "
                         r"(?!(?:CRIT|ERRO|WARN|INFO|DEBG|TRAC|BLAT) )\S+ "
                         r"(?P<tag>[\w./@-]+)(?:\[\d+\])?: ")
# RFC 5424 with structured data: "<ISO> host app procid msgid - ".  The host is never a second
# stamp: RFC 5424 6.2.4's HOSTNAME is a name, an address or "-", and no name or address holds an
# ISO time; read as one, ``kubectl logs --timestamps`` of HAProxy's ``log ... format iso`` lines
# ("<kubectl time> <ISO> lb haproxy[9]: client:port [accept date] ...") lost their client, accept
# date and frontend as msgid and structured data.  Such a line is kubectl's stamp (``_TS_PREFIX``)
# around an ISO syslog line.
_SYSLOG_5424 = re.compile(rf"^(?P<time>{_ISO}) (?!{_ISO} )\S+ (?P<tag>\S+) \S+ \S+ (?:-|\[.*?\]) ")
# BSD syslog / journalctl default: "May  1 12:00:01 host tag[pid]: "
_SYSLOG_BSD = re.compile(
    r"^(?P<time>[A-Z][a-z]{2} [ \d]?\d \d\d:\d\d:\d\d(?:\.\d+)?) \S+ (?P<tag>[\w./@-]+)(?:\[\d+\])?: "
)
# docker logs --timestamps / kubectl logs --timestamps: "<RFC3339Nano> <text>"
_TS_PREFIX = re.compile(rf"^(?P<time>{_ISO}) ")
# The same two prefixes for the Rust regex engine too (``errorlog_peel``, which peels whole columns)
CRI_PREFIX = _CRI.pattern
TS_PREFIX = _TS_PREFIX.pattern
# docker compose: "web-1  | ", "web_1  | ", "nginx  | "
_COMPOSE = re.compile(r"^[A-Za-z0-9][\w.-]*\s+\| ?")
_PRI = re.compile(r"^<\d{1,3}>(?:1 )?")
_DMESG = re.compile(r"^\[\s*\d+\.\d+\] ")
# kubectl logs --prefix: "[pod/<pod>/<container>] " before each line (kubectl pkg/cmd/logs/logs.go
# addPrefixIfNeeded: fmt.Sprintf("[pod/%s/%s] ", ref.Name, containerName)); a pod's name is a DNS
# subdomain, a container's a DNS label, empty when kubectl could not read it from the field path
_KUBECTL_POD = r"\[pod/[a-z0-9][a-z0-9.-]*/[a-z0-9-]*\] "
_KUBECTL_PREFIX = re.compile(rf"^{_KUBECTL_POD}")
# kubectl logs --timestamps: the kubelet writes each line's time as Go's RFC3339Nano (fixed at
# nine digits: pkg/kubelet/kuberuntime/logs/logs.go timeFormatOut, RFC3339NanoFixed) and one space
# before it.  Stricter than _ISO -- "T", a real month, day, hour, minute and second, at most nine
# fraction digits, a zone (Z or +hh:mm) -- since it is peeled off lines an edge's reader refused
# (``parsers.lblogs.family``), which are hostile: only a time kubectl could have written goes.
_RFC3339_NANO = (r"[0-9]{4}-(?:0[1-9]|1[0-2])-(?:0[1-9]|[12][0-9]|3[01])"
                 r"T(?:[01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9](?:\.[0-9]{1,9})?"
                 r"(?:Z|[+-](?:[01][0-9]|2[0-3]):[0-5][0-9])")
#: what ``kubectl logs [--prefix] [--timestamps]`` writes before each line, either part optional
#: and in kubectl's order (the prefix is added to the kubelet's stream, timestamps already in it);
#: unanchored, for a reader's regex to embed (``native/unwrap_ascii.h`` ``ua_kubectl_framing``)
KUBECTL_FRAMING = rf"(?:{_KUBECTL_POD})?(?:{_RFC3339_NANO} )?"
_KUBECTL_FRAMING = re.compile(KUBECTL_FRAMING)
_KERNEL_TAG = re.compile(r"^kernel: (?:\[\s*\d+\.\d+\] )?")
_JSON_FIELD = re.compile(r'"(?:log|MESSAGE|message|msg)"\s*:\s*"((?:[^"\\]|\\.)*)')
# one member of a pretty-printed object on its own line, the message's (``journalctl -o json-pretty``
# writes '"MESSAGE" : "..."', jq and most viewers '  "msg": "...",'): the same JSON spread over lines
_JSON_MEMBER = re.compile(r'^\s*"(?:log|MESSAGE|message|msg)"\s*:\s*"((?:[^"\\]|\\.)*)"\s*,?\s*$')
_JSON_TIME = re.compile(r'"(?:time|@timestamp|timestamp|ts)"\s*:\s*"([^"]*)"')
_ISO_PARTS = re.compile(
    r"^(\d{4}-\d\d-\d\d)[T ](\d\d:\d\d:\d\d)(?:[.,](\d+))?(Z|[+-]\d\d:?\d\d)?"
)

_MONTHS = {m: i for i, m in enumerate(
    ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"), start=1)}


class Unwrapped(NamedTuple):
    """The innermost text, the outermost wrapper's time (ISO 8601) and the syslog tag, if any.
    A named tuple: a frozen dataclass's ``__init__`` was ~0.5 us of the ~3.5 an unwrap takes,
    and every line of a log classified through the per-line path is unwrapped."""

    text: str
    time: str | None = None
    tag: str | None = None


def iso_time(raw: str) -> str | None:
    """Normalise an RFC 3339-ish timestamp to ``YYYY-MM-DDTHH:MM:SS[.ffffff][+HH:MM]``."""
    m = _ISO_PARTS.match(raw.strip())
    if not m:
        return None
    date, clock, frac, zone = m.groups()
    out = f"{date}T{clock}"
    if frac:
        out += "." + frac[:6]
    if zone:
        out += "+00:00" if zone == "Z" else (zone if ":" in zone else f"{zone[:3]}:{zone[3:]}")
    return out


def bsd_time(raw: str, year: int) -> str | None:
    """``May  1 12:00:01`` (no year in BSD syslog) to ISO, with the year the caller assumes."""
    parts = raw.split()
    if len(parts) != 3 or parts[0] not in _MONTHS:
        return None
    return f"{year:04d}-{_MONTHS[parts[0]]:02d}-{int(parts[1]):02d}T{parts[2]}"


def _decode_json_string(body: str) -> str:
    try:
        value = json.loads(f'"{body}"')
        return value if isinstance(value, str) else body
    except ValueError:
        return body.replace('\\"', '"').replace("\\n", "\n").replace("\\t", "\t").replace("\\\\", "\\")


def _from_json(text: str) -> tuple[str, str | None] | None:
    """docker json-file, journalctl -o json, generic shippers; truncated objects too."""
    try:
        obj = json.loads(text)
    except ValueError:
        obj = None
    if isinstance(obj, dict):
        for name in ("log", "MESSAGE", "message", "msg"):
            value = obj.get(name)
            if isinstance(value, list):  # journald binary MESSAGE: list of byte values
                try:
                    value = bytes(int(v) & 0xFF for v in value).decode("utf-8", "replace")
                except (TypeError, ValueError):
                    value = None
            if isinstance(value, str):
                err = obj.get("error")
                if name in ("message", "msg") and isinstance(err, str) and err and err not in value:
                    # zerolog (cloudflared) and zap (Caddy) keep the Go error in its own field beside
                    # the message; their console encoders print it as ' error="..."' after it
                    value = f'{value} error="{err}"'
                time: str | None = None
                for tname in ("time", "@timestamp", "timestamp", "ts"):
                    if isinstance(obj.get(tname), str):
                        time = iso_time(obj[tname])
                        break
                if time is None and isinstance(obj.get("__REALTIME_TIMESTAMP"), str):
                    time = _epoch_iso(obj["__REALTIME_TIMESTAMP"], micro=True)
                return value, time
        return None
    m = _JSON_FIELD.search(text)  # cut-short JSON: take what is there
    if not m:
        return None
    tm = _JSON_TIME.search(text)
    return _decode_json_string(m.group(1)), (iso_time(tm.group(1)) if tm else None)


def _epoch_iso(raw: str, micro: bool = False) -> str | None:
    import datetime as _dt

    try:
        value = int(raw) / 1_000_000 if micro else float(raw)
        stamp = _dt.datetime.fromtimestamp(value, tz=_dt.timezone.utc)
    except (ValueError, OverflowError, OSError):
        return None
    return stamp.isoformat()


def epoch_iso(raw: str) -> str | None:
    """Seconds since the epoch (audit's ``msg=audit(1714564801.123:456)``) as UTC ISO 8601."""
    return _epoch_iso(raw)


def kubectl_unframed(line: str) -> str | None:
    """``line`` without the framing ``kubectl logs --prefix`` / ``--timestamps`` put before it
    (``KUBECTL_FRAMING``), or None when it has none.  Unlike ``unwrap`` it peels no other layer
    and keeps no time: the edges' readers ask it only for a line they refused as written, and
    keep the time the inner line holds (the request's, not when kubelet read the line)."""
    if not line or (line[0] != "[" and not "0" <= line[0] <= "9"):
        return None
    m = _KUBECTL_FRAMING.match(line)
    return line[m.end():] if m is not None and m.end() else None


def unwrap(line: str, year: int = 1970) -> Unwrapped:
    """Remove transport layers from ``line`` (see module doc).  Never raises.

    ``year`` is used for BSD syslog stamps, which carry none (callers pass the current year).
    """
    text = line.rstrip("\r\n")
    time: str | None = None
    tag: str | None = None
    for _ in range(8):
        before = text
        # each layer's regex is tried only where the line's first character can start it (every
        # one is anchored): a line of no layer tried a dozen regexes per round -- 4 us a line,
        # the largest part of ``classify``'s records of a 1M-line HAProxy log (BENCHMARKS.md)
        first = text[:1]
        digit = first.isdecimal()  # ``\d`` is any Unicode decimal digit
        stripped = text.lstrip() if first.isspace() or first == "{" else text
        if stripped.startswith("{"):
            got = _from_json(stripped)
            if got is not None:
                text = got[0].rstrip("\r\n")
                time = time or got[1]
                continue
        m = _JSON_MEMBER.match(text) if first == '"' or first.isspace() else None
        if m:
            text = _decode_json_string(m.group(1)).rstrip("\r\n")
            continue
        m = _CRI.match(text) if digit else None
        if m:
            time = time or iso_time(m.group("time"))
            text = text[m.end():]
            continue
        m = _PRI.match(text) if first == "<" else None
        if m:
            text = text[m.end():]
            continue
        m = (_SYSLOG_ISO.match(text) or _SYSLOG_5424.match(text)) if digit else None
        if m:
            time = time or iso_time(m.group("time"))
            tag = tag or m.group("tag")
            text = text[m.end():]
            continue
        m = _SYSLOG_BSD.match(text) if "A" <= first <= "Z" else None
        if m:
            time = time or bsd_time(m.group("time"), year)
            tag = tag or m.group("tag")
            text = text[m.end():]
            continue
        m = _TS_PREFIX.match(text) if digit else None
        if m:
            time = time or iso_time(m.group("time"))
            text = text[m.end():]
            continue
        m = _COMPOSE.match(text) if first.isascii() and first.isalnum() else None
        if m:
            text = text[m.end():]
            continue
        m = _KUBECTL_PREFIX.match(text) if first == "[" else None
        if m:
            text = text[m.end():]
            continue
        m = (_DMESG.match(text) if first == "[" else _KERNEL_TAG.match(text) if first == "k" else None)
        if m:
            tag = tag or "kernel"
            text = text[m.end():]
            continue
        if text == before:
            break
    if '\\"' in text:  # JSON-escaped by a shipper but not wrapped in an object
        text = text.replace('\\"', '"')
    if text.endswith("\\n"):
        text = text[:-2]
    return Unwrapped(text=text, time=time, tag=tag)
