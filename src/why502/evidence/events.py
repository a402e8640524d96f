"""Lines of other programs as ``LogEvent``: who they are about, from what the catalog captured.

The kernel, PHP-FPM, systemd, supervisord and the app servers each write their own lines; the
catalog's patterns (``catalog/data/patterns.toml``) recognise them once, in the classify engines
or ``parsers.errorlog.match_source``, and their named groups are the facts used here: ``pid``,
``process`` (the OOM victim's or segfaulting task's comm), ``pool`` (PHP-FPM's ``[pool www]``),
``unit`` (systemd's ``php8.2-fpm.service:``), ``program`` (supervisord's).  The analyzers match
them against the listeners, the pools and the units serving a peer (identity), so a kill of
another program is not taken for the backend's.
"""

from __future__ import annotations

from datetime import datetime
from string import Formatter

from why502.catalog.patterns import patterns_by_id
from why502.evidence.model import LogEvent
from why502.facts.captures import Captures
from why502.parsers.errorlog import classify_line


def log_event(kind: str, text: str, *, source: str = "", pattern: str = "", captures: Captures = (),
              time: datetime | None = None, file: str | None = None,
              line: int | None = None) -> LogEvent:
    """The event of a line recognised by catalog ``pattern`` with these ``captures``.

    ``process`` is the captured comm; PHP-FPM's pool lines are about ``php-fpm`` (the master
    names its pool, not its program: ``fpm_children.c`` logs ``[pool www] child 42 ...``);
    supervisord's are about the program it runs (``spawned: 'app' with pid 42``)."""
    found = dict(captures)
    pid = found.get("pid", "")
    process = found.get("process")
    if found.get("pool"):
        process = "php-fpm"
    if source == "supervisord":
        process = found.get("program")
    return LogEvent(kind=kind, text=text, source=source, time=time, file=file, line=line,
                    pid=int(pid) if pid.isdigit() else None, process=process,
                    unit=found.get("unit"), pool=found.get("pool"),
                    detail=event_summary(pattern, captures), pattern=pattern, captures=captures)


def event_summary(pattern: str, captures: Captures) -> str | None:
    """The pattern's ``event_summary`` filled from ``captures``; None when it has none or
    names a fact this line did not show."""
    info = patterns_by_id().get(pattern)
    if info is None or not info.event_summary:
        return None
    found = dict(captures)
    names = {name for _, name, _, _ in Formatter().parse(info.event_summary) if name}
    if not names <= found.keys():
        return None
    return info.event_summary.format_map(found)


def event_from_text(kind: str, text: str, *, source: str = "", time: datetime | None = None,
                    file: str | None = None, line: int | None = None) -> LogEvent:
    """A ``LogEvent`` of kind ``kind`` for one raw line, recognised by the catalog.

    For callers that hold a line but no record (tests, hand-built evidence); the pipeline keeps
    the record of the classify engines instead of recognising the line again.  The line's
    facts are used only when the catalog says ``source`` wrote it (or no source is given): the
    same words from another program are not that program's."""
    record = classify_line(text)
    if record is None or (source and record.source != source):
        return log_event(kind, text, source=source, time=time, file=file, line=line)
    return log_event(kind, text, source=source, pattern=record.pattern,
                     captures=record.captures, time=time, file=file, line=line)
