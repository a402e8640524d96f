"""The head of a line of every program other than the engine's: its time, level, errno and fields.

Each program writes its own head before the message (Apache ``ap_log_error_core()``, HAProxy
``sess_build_logline()``, PHP-FPM ``zlog()``, gunicorn's ``glogging``, uWSGI, PM2, audit,
Envoy's access log, systemd); ``head_for(source, text)`` cuts it off and returns what it holds,
so the rules of ``catalog/data/patterns.toml`` match the message alone.  Pure ``re``.

A registered proxy's heads are data in its folder (``proxies/<name>/heads.toml``, read as package
data through ``catalog.folders``, with the proxy source that writes each line): its ``[shapes]``
are cut by :func:`_head_declared`, and the session lines of the ``[families]`` ``session``
source (HAProxy's) by :func:`session_line` from that folder's ``[session]``.  The programs that
are no proxy (PHP-FPM, gunicorn, ...) keep their heads here.  This module, below the registry,
names no proxy (issue 23).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from why502.catalog.folders import folder_tables
from why502.catalog.patterns import families
from why502.parsers import wrappers
from why502.parsers.normalize import errno_of_text

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


def _ctime_time(raw: str) -> str | None:
    # C's ctime() shape, as APR's apr_ctime()/ap_recent_ctime_ex() and uWSGI write it:
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


def _clf_time(raw: str) -> str | None:
    # the common log format's date ("06/Feb/2009:12:14:14.655", HAProxy's accept date)
    d, mon, rest = raw.split("/", 2)
    y, clock = rest.split(":", 1)
    if mon not in _MONTHS:
        return None
    return f"{y}-{_MONTHS[mon]:02d}-{d}T{clock}"


_TIMES = {"ctime": _ctime_time, "clf": _clf_time, "iso": wrappers.iso_time}
"""How a declared head's ``time`` is written (``heads.toml`` ``time``) -> its converter."""


def _compiled(rxs: list[str]) -> tuple[re.Pattern[str], ...]:
    return tuple(re.compile(rx) for rx in rxs)


@dataclass(frozen=True)
class Shape:
    """A head a proxy declares in its folder (``proxies/<name>/heads.toml`` ``[shapes.NAME]``).

    ``line`` is matched at the line's start; its groups ``time`` (converted as ``time`` says),
    ``level``, ``request``, ``client`` and ``errno`` are the head's, ``msg`` the message (none: the
    whole line).  ``peel``: prefixes cut off the message, whichever matches first, at most
    ``peel_max`` times, their ``errno``/``client`` kept.  ``search``: searched in the whole line,
    a value written ``absent`` is none.  ``headless``: when ``line`` does not match, searched in
    the line for an ``errno`` (``errno_text``: its text, ``normalize.errno_of_text``); the message
    is the whole line, and none found is no head."""

    line: re.Pattern[str]
    time: str = ""
    peel: tuple[re.Pattern[str], ...] = ()
    peel_max: int = 0
    search: tuple[re.Pattern[str], ...] = ()
    absent: str | None = None
    headless: tuple[re.Pattern[str], ...] = ()
    # the peels as one alternation, tried in their order: ``match`` takes the first alternative
    # that matches, as a loop over ``peel`` does, in one call (a line of Apache's tried ~11 peel
    # regexes one by one; BENCHMARKS.md stop 44)
    peel_any: re.Pattern[str] | None = None

    @classmethod
    def of(cls, data: dict[str, Any]) -> Shape:
        absent = data.get("absent")
        peels = [str(rx) for rx in data.get("peel", [])]
        return cls(line=re.compile(str(data["line"])), time=str(data.get("time", "")),
                   peel=_compiled(peels), peel_max=int(data.get("peel_max", 0)),
                   peel_any=_alternation(peels),
                   search=_compiled(data.get("search", [])),
                   absent=str(absent) if absent is not None else None,
                   headless=_compiled(data.get("headless", [])))


@dataclass(frozen=True)
class Session:
    """A session line's recognisers (``heads.toml`` ``[session]`` of the folder the catalog's
    ``[families]`` ``session`` names): ``tails`` give the termination state ``ts`` (and
    ``backend``/``server``), ``date`` the client, time and server searched before the tail,
    ``request`` the request after it; ``no_server`` the server of a backend with none to send to."""

    tails: tuple[re.Pattern[str], ...] = ()
    date: re.Pattern[str] | None = None
    time: str = ""
    request: re.Pattern[str] | None = None
    no_server: str = ""

    @classmethod
    def of(cls, data: dict[str, Any]) -> Session:
        date, request = data.get("date"), data.get("request")
        return cls(tails=_compiled(data.get("tails", [])), date=re.compile(str(date)) if date else None,
                   time=str(data.get("time", "")), request=re.compile(str(request)) if request else None,
                   no_server=str(data.get("no_server", "")))


@lru_cache(maxsize=1)
def declared() -> dict[str, dict[str, Any]]:
    """Every proxy folder's ``heads.toml``, by folder (the proxy's name), parsed once."""
    return dict(folder_tables("heads.toml"))


@lru_cache(maxsize=1)
def _shapes() -> dict[str, Shape]:
    """The heads the proxies declare (``[shapes.NAME]``), by the shape's name."""
    return {name: Shape.of(data) for own in declared().values()
            for name, data in own.get("shapes", {}).items()}


@lru_cache(maxsize=1)
def _session() -> Session:
    return Session.of(declared().get(families().session, {}).get("session", {}))


def _time(conv: str, raw: str | None) -> str | None:
    return _TIMES[conv](raw) if raw and conv in _TIMES else None


def _errno(gd: dict[str, str | None]) -> int | None:
    if gd.get("errno"):
        return int(str(gd["errno"]))
    text = gd.get("errno_text")
    return errno_of_text(text) if text else None


def _alternation(rxs: list[str]) -> re.Pattern[str] | None:
    """``rxs`` as one regex whose first matching alternative wins; None when they cannot be one
    (none, or two of them name the same group)."""
    try:
        return re.compile("|".join(f"(?:{rx})" for rx in rxs)) if rxs else None
    except re.error:
        return None


def _peel(shape: Shape, rest: str) -> re.Match[str] | None:
    """The first of ``shape``'s peels that matches at the start of ``rest``, or None."""
    if shape.peel_any is not None:
        return shape.peel_any.match(rest)
    return next((found for rx in shape.peel if (found := rx.match(rest))), None)


def _head_declared(shape: Shape, text: str) -> Head | None:
    """The head ``shape`` describes, cut off ``text`` (class doc of :class:`Shape`)."""
    m = shape.line.match(text)
    if not m:
        for rx in shape.headless:
            mh = rx.search(text)
            errno = _errno(mh.groupdict()) if mh else None
            if errno is not None:
                return Head(msg=text, errno=errno)
        return None
    gd = m.groupdict()
    rest = gd.get("msg")
    head = Head(msg=text if rest is None else "", time=_time(shape.time, gd.get("time")),
                level=gd.get("level"), request=gd.get("request"), client=gd.get("client"),
                errno=_errno(gd))
    if rest is not None:
        for _ in range(shape.peel_max):
            mm = _peel(shape, rest)
            if mm is None:
                break
            got = mm.groupdict()
            if got.get("errno"):
                head.errno = int(got["errno"])
            if got.get("client") is not None:
                head.client = got["client"]
            rest = rest[mm.end():]
        head.msg = rest
    for rx in shape.search:
        ms = rx.search(text)
        for name, value in (ms.groupdict() if ms else {}).items():
            if value is not None and value != shape.absent:
                setattr(head, name, value)
    return head


@dataclass(frozen=True)
class SessionLine:
    """What a session line says: termination state (two characters), backend/server, status."""

    ts: str
    nosrv: bool
    head: Head
    status: int | None = None  # what the client got (httplog's status; None: not in the line)


def session_line(text: str) -> SessionLine | None:
    """The session summary in a line of the session family (``[families]`` ``session``: HAProxy's
    httplog/tcplog/JSON lines), or None (its folder's ``heads.toml`` ``[session]``)."""
    sess = _session()
    m = next((found for rx in sess.tails if (found := rx.search(text))), None)
    if not m:
        return None
    gd = m.groupdict()
    backend, server = gd.get("backend"), gd.get("server")
    dm = sess.date.search(text, 0, m.start() + 1) if sess.date is not None and "[" in text else None
    rq = sess.request.search(text[m.end():]) if sess.request is not None else None
    head = Head(
        msg=text, time=_time(sess.time, dm.group("time")) if dm else None,
        client=dm.group("client") if dm else None,
        upstream=f"{backend}/{server}" if backend and server else None,
        server=dm.group("server") if dm else None, request=rq.group("request") if rq else None,
    )
    code = gd.get("status")
    return SessionLine(ts=m.group("ts"), nosrv=bool(server and sess.no_server and sess.no_server in server),
                       head=head, status=int(code) if code and code.lstrip("-").isdigit() else None)

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
            time = _ctime_time(raw_time)
        elif conv == "gunicorn":
            zone = gd.get("zone")
            time = raw_time.replace(" ", "T") + (f"{zone[:3]}:{zone[3:]}" if zone else "")
        else:
            time = wrappers.iso_time(raw_time)
    level = gd.get("level") or gd.get("level2")
    return Head(msg=gd["msg"], time=time, level=level.lower() if level else None)


def starts_with_head(source: str, text: str) -> bool:
    """Whether ``text`` starts with the head a proxy declares for ``source``'s lines (its
    ``heads.toml`` shape's ``line``; not the headless fallbacks ``head_for`` also accepts): what
    says a log is that program's own error log (``Hooks.error_sniff``)."""
    shape_name = families().heads.get(source)
    shape = _shapes().get(shape_name) if shape_name else None
    return shape is not None and shape.line.match(text) is not None


def head_for(source: str, text: str) -> Head | None:
    """The head ``source``'s lines start with, cut off ``text`` (None: no head of that shape, or
    the source has none).  Which head a source writes is data (``patterns.toml`` ``[heads]``,
    ``catalog.patterns.families``), a proxy's head too (its folder's ``heads.toml``): this
    module, below the proxy registry, names no proxy."""
    shape = families().heads.get(source)
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
    if shape == "systemd-unit":
        m = _SYSTEMD_UNIT.search(text)
        return Head(msg=text, upstream=m.group("unit"), unit=m.group("unit")) if m else None
    declared_shape = _shapes().get(shape) if shape else None
    return _head_declared(declared_shape, text) if declared_shape is not None else None
