"""The head of a line of every program other than nginx: its time, level, errno and fields.

Each program writes its own head before the message (Apache ``ap_log_error_core()``, HAProxy
``sess_build_logline()``, PHP-FPM ``zlog()``, gunicorn's ``glogging``, uWSGI, PM2, audit,
Envoy's access log, systemd); ``head_for(source, text)`` cuts it off and returns what it holds,
so the rules of ``catalog/data/patterns.toml`` match the message alone.  Pure ``re``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from why502.catalog.patterns import families
from why502.parsers import wrappers
from why502.parsers.normalize import errno_of_text

_APACHE = re.compile(
    r"^\[(?P<time>[A-Z][a-z]{2} [A-Z][a-z]{2} [ \d]?\d \d\d:\d\d:\d\d(?:\.\d+)? \d{4})\] "
    r"\[(?:(?P<module>[\w-]+):)?(?P<level>[a-z]+\d?)\] ?(?P<rest>.*)$"
)
_APACHE_PID = re.compile(r"^\[pid \d+(?::tid \d+)?\] ?")
_APACHE_FILE = re.compile(r"^\S+\(\d+\): ")
# an errno has a few digits: bounded, so "(" + 5000 digits + ")" is no errno rather than an int()
# of 5000 digits, which CPython refuses with a ValueError (bench/fuzz.py)
_APACHE_ERRNO = re.compile(r"^\((?:OS |EAI )?(?P<errno>-?\d{1,9})\)[^:]*: ")
_APACHE_CLIENT = re.compile(r"^\[(?:client|remote) (?P<client>[^\]]*)\] ?")
# the errno text without its number (lost in a paste): "Resource temporarily unavailable: "
_APACHE_ERRNO_TEXT = re.compile(r"^([A-Z][a-z]+(?: [a-z]+){1,5}): ")
_APACHE_ERRNO_ANY = re.compile(r"\((\d{1,9})\)[A-Za-z][^:()]*: ")
# HAProxy session lines (doc/configuration.txt 8.2.3 "HTTP log format", 8.2.2 "TCP log format"):
# found by their tail -- timers, status, bytes, cookies, termination state, counters -- wherever the
# line starts (syslog with or without host/tag, stdout "raw", a custom prefix, a pasted tail).  The
# counters after the state ("actconn/feconn/beconn/srv_conn/retries srv_queue/backend_queue") keep
# the match specific.  A timer may carry spaces after its slash when a log viewer padded it.
# Bounded quantifiers, anchored at token starts (``(?<![^\s])``): an unbounded ``\d+``/``\S+``
# searched through a long run of digits is quadratic (bench/fuzz.py found 1.5 s on a 5 KB line).
_HAPROXY_HTTP = re.compile(
    r"(?<!\S)(?:(?P<backend>[^/\s]{1,256})/(?P<server>\S{1,256}) +)?(?:-?\d{1,20}/ {0,8}){3,5}\+?-?\d{1,20} +"
    r"(?P<status>-?\d{3}) +\+?\d{1,20} "
    r"\S{1,256} \S{1,256} (?P<ts>[-A-Za-z]{2})[-A-Za-z]{2} +"
    r"\+?\d{1,20}/\d{1,20}/\d{1,20}/\d{1,20}/\+?\d{1,20} \d{1,20}/\d{1,20}"
)
_HAPROXY_TCP = re.compile(
    r"(?<!\S)(?:(?P<backend>[^/\s]{1,256})/(?P<server>\S{1,256}) +)?-?\d{1,20}/-?\d{1,20}/\+?-?\d{1,20} "
    r"\+?\d{1,20} (?P<ts>[-A-Za-z]{2}) \+?\d{1,20}/\d{1,20}/\d{1,20}/\d{1,20}/\+?\d{1,20} \d{1,20}/\d{1,20}"
)
# log-format "%{+json}o" / a JSON log-format naming the state (%tsc)
_HAPROXY_JSON = re.compile(r'"termination_state"\s*:\s*"(?P<ts>[-A-Za-z]{2})')
_HAPROXY_DATE = re.compile(
    r"(?:(?<![\w.:\[\]-])(?P<client>[\w.:\[\]-]{1,64}?):\d{1,5} )?"
    r"\[(?P<time>\d\d/[A-Z][a-z]{2}/\d{4}:\d\d:\d\d:\d\d(?:\.\d{1,9})?)\] (?P<frontend>\S{1,256})"
)
_HAPROXY_REQUEST = re.compile(r'"([^"]*)"?$')
_FPM = re.compile(
    r"^\[(?P<time>\d\d-[A-Z][a-z]{2}-\d{4} \d\d:\d\d:\d\d(?:\.\d+)?)\] (?P<level>[A-Z]+): "
    r"(?:pid \d+, [^,]*, line \d+: )?(?P<msg>.*)$"
)
_FPM_BARE = re.compile(r"^(?:\[(?P<level>[A-Z]+)\]|(?P<level2>NOTICE|WARNING|ERROR|ALERT):) (?P<msg>.*)$")
_GUNICORN = re.compile(
    r"^\[(?P<time>\d{4}-\d\d-\d\d \d\d:\d\d:\d\d)(?: (?P<zone>[+-]\d{4}))?\] \[\d+\] "
    r"\[(?P<level>[A-Z]+)\] (?P<msg>.*)$"
)
_PM2 = re.compile(
    r"^(?P<time>\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d+)?(?:Z|[+-]\d\d:?\d\d)?): "
    r"PM2 (?:log|error): (?P<msg>.*)$"
)
_UWSGI = re.compile(
    r"^(?P<time>[A-Z][a-z]{2} [A-Z][a-z]{2} [ \d]?\d \d\d:\d\d:\d\d \d{4}) - (?P<msg>.*)$"
)
_AUDIT = re.compile(r"audit\((?P<epoch>\d+(?:\.\d+)?):\d+\)")
_ENVOY = re.compile(
    r'^\[(?P<time>\d{4}-\d\d-\d\dT[\d:.]+(?:Z|[+-]\d\d:?\d\d)?)\] "(?P<request>[^"]*)" (?P<status>\d{3}) '
)
_ENVOY_UPSTREAM = re.compile(r'"(?P<upstream>[^"]*)"$')
# supervisord's own log (supervisor/loggers.py): "2026-11-21 21:53:05,120 INFO spawned: ..."; the
# unwrapper may already have taken the time off (wrappers._TS_PREFIX)
_SUPERVISORD = re.compile(
    r"^(?:(?P<time>\d{4}-\d\d-\d\d \d\d:\d\d:\d\d),\d{3} )?"
    r"(?P<level>CRIT|ERRO|WARN|INFO|DEBG|TRAC|BLAT) (?P<msg>.*)$"
)
_SYSTEMD_UNIT = re.compile(
    r"(?<![\w@.:\\-])(?P<unit>[\w@.:\\-]{1,256}\.(?:service|scope|socket|mount|slice|timer)): ")
_MONTHS = {m: i for i, m in enumerate(
    ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"), start=1)}


@dataclass
class Head:
    msg: str
    time: str | None = None
    level: str | None = None
    errno: int | None = None
    client: str | None = None
    request: str | None = None
    upstream: str | None = None
    server: str | None = None
    unit: str | None = None  # systemd: the unit the message is about ("php8.2-fpm.service: ...")


def _apache_time(raw: str) -> str | None:
    # "Tue Oct 26 17:27:20.477742 2021"
    parts = raw.split()
    if len(parts) != 5 or parts[1] not in _MONTHS:
        return None
    return f"{parts[4]}-{_MONTHS[parts[1]]:02d}-{int(parts[2]):02d}T{parts[3]}"


def _fpm_time(raw: str) -> str | None:
    # "01-May-2024 12:00:01"
    date, clock = raw.split(" ", 1)
    d, mon, y = date.split("-")
    if mon not in _MONTHS:
        return None
    return f"{y}-{_MONTHS[mon]:02d}-{d}T{clock}"


def _haproxy_time(raw: str) -> str | None:
    # "06/Feb/2009:12:14:14.655"
    d, mon, rest = raw.split("/", 2)
    y, clock = rest.split(":", 1)
    if mon not in _MONTHS:
        return None
    return f"{y}-{_MONTHS[mon]:02d}-{d}T{clock}"


def _head_apache(text: str) -> Head | None:
    m = _APACHE.match(text)
    if not m:
        me = _APACHE_ERRNO_ANY.search(text)
        if me:
            return Head(msg=text, errno=int(me.group(1)))
        mt = _APACHE_ERRNO_TEXT.match(text)
        errno = errno_of_text(mt.group(1)) if mt else None
        return Head(msg=text, errno=errno) if errno is not None else None
    head = Head(msg="", time=_apache_time(m.group("time")), level=m.group("level"))
    rest = m.group("rest")
    for _ in range(5):
        mm = _APACHE_PID.match(rest) or _APACHE_FILE.match(rest)
        if mm:
            rest = rest[mm.end():]
            continue
        mm = _APACHE_ERRNO.match(rest)
        if mm:
            head.errno = int(mm.group("errno"))
            rest = rest[mm.end():]
            continue
        mm = _APACHE_CLIENT.match(rest)
        if mm:
            head.client = mm.group("client")
            rest = rest[mm.end():]
            continue
        break
    head.msg = rest
    return head


@dataclass(frozen=True)
class HaproxySession:
    """What a session line says: termination state (two characters), backend/server, status."""

    ts: str
    nosrv: bool
    head: Head


def haproxy_session(text: str) -> HaproxySession | None:
    """The session summary in an HAProxy httplog/tcplog/JSON line, or None (module doc)."""
    m = _HAPROXY_HTTP.search(text) or _HAPROXY_TCP.search(text) or _HAPROXY_JSON.search(text)
    if not m:
        return None
    gd = m.groupdict()
    backend, server = gd.get("backend"), gd.get("server")
    dm = _HAPROXY_DATE.search(text, 0, m.start() + 1) if "[" in text else None
    rq = _HAPROXY_REQUEST.search(text[m.end():])
    head = Head(
        msg=text, time=_haproxy_time(dm.group("time")) if dm else None,
        client=dm.group("client") if dm else None,
        upstream=f"{backend}/{server}" if backend and server else None,
        server=dm.group("frontend") if dm else None, request=rq.group(1) if rq else None,
    )
    return HaproxySession(ts=m.group("ts"), nosrv=bool(server and "<NOSRV>" in server), head=head)


def _head_simple(rx: re.Pattern[str], text: str, conv: str) -> Head | None:
    m = rx.match(text)
    if not m:
        return None
    gd = m.groupdict()
    raw_time = gd.get("time")
    time: str | None = None
    if raw_time:
        if conv == "fpm":
            time = _fpm_time(raw_time)
        elif conv == "uwsgi":
            time = _apache_time(raw_time)
        elif conv == "gunicorn":
            zone = gd.get("zone")
            time = raw_time.replace(" ", "T") + (f"{zone[:3]}:{zone[3:]}" if zone else "")
        else:
            time = wrappers.iso_time(raw_time)
    level = gd.get("level") or gd.get("level2")
    return Head(msg=gd["msg"], time=time, level=level.lower() if level else None)


def head_for(source: str, text: str) -> Head | None:
    """The head ``source``'s lines start with, cut off ``text`` (None: no head of that shape, or
    the source has none).  Which head a source writes is data (``patterns.toml`` ``[heads]``,
    ``catalog.patterns.families``): this module, below the proxy registry, names no proxy."""
    shape = families().heads.get(source)
    if shape == "apache-error":
        return _head_apache(text)
    if shape == "fpm":
        return _head_simple(_FPM, text, "fpm") or _head_simple(_FPM_BARE, text, "")
    if shape == "gunicorn":
        return _head_simple(_GUNICORN, text, "gunicorn")
    if shape == "supervisord":
        return _head_simple(_SUPERVISORD, text, "gunicorn")
    if shape == "pm2":
        return _head_simple(_PM2, text, "")
    if shape == "uwsgi":
        return _head_simple(_UWSGI, text, "uwsgi")
    if shape == "audit":
        m = _AUDIT.search(text)
        return Head(msg=text, time=wrappers.epoch_iso(m.group("epoch"))) if m else None
    if shape == "envoy-access":
        m = _ENVOY.match(text)
        if not m:
            return None
        up = _ENVOY_UPSTREAM.search(text)
        upstream = up.group("upstream") if up and up.group("upstream") != "-" else None
        return Head(msg=text, time=wrappers.iso_time(m.group("time")), request=m.group("request"),
                     upstream=upstream)
    if shape == "systemd-unit":
        m = _SYSTEMD_UNIT.search(text)
        return Head(msg=text, upstream=m.group("unit"), unit=m.group("unit")) if m else None
    return None
