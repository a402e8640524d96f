"""The app server's own settings as evidence, said in its own terms, for every analyzer.

An analyzer that weighs a reset or a closed connection asks here for the app server serving the
peer (``Evidence.apps``, identity-checked by ``evidence.appservers``) and the knob that decides
between causes: its idle keep-alive timeout (the keep-alive race), its per-request time limit
(a worker killed at its own limit), its listen backlog (connections refused when it is full).
Shown as ``gunicorn --keep-alive 2 (default)`` with the file and line that set it, so the fix can
name the setting where it lives (gunicorn.conf.py, the uWSGI ini, puma.rb, the Node script).
"""

from __future__ import annotations

from datetime import timedelta

from why502.evidence.model import Evidence, LogEvent, TargetFact, UpstreamTiming
from why502.facts.appserver import AppServer
from why502.findings.model import EvidenceItem

_SKEW = timedelta(seconds=3)  # per-second timestamps of two logs
_MINUTE = timedelta(minutes=1)  # the access log's first/last are per minute


def serving(ev: Evidence, peer: str | None) -> list[AppServer]:
    """The app servers listening where ``peer`` points (a group name: any of its servers)."""
    group = ev.config.groups.get(peer or "")
    return ev.apps.serving(peer, group.servers if group else ())


def logs_serving(ev: Evidence, peer: str | None) -> set[str]:
    """The app-server logs known to be written by a server listening where ``peer`` points: a
    server found names the file, or the file's own start-up line says so
    (``AppServerEvidence.logs_serving``)."""
    group = ev.config.groups.get(peer or "")
    return ev.apps.logs_serving(peer, group.servers if group else ())


def shown(server: AppServer, role: str) -> str | None:
    """``gunicorn --keep-alive 2 (default)`` / ``uwsgi harakiri = 20``, or None."""
    knob, value = server.knob(role), server.setting(role)
    if knob is None or value is None:
        return None
    unit = " ms" if knob.scale == 0.001 else "s" if value.value.replace("_", "").isdigit() else ""
    sep = " = " if not knob.flag.startswith("-") else " "
    return f"{server.kind} {knob.flag}{sep}{value.value}{unit}" + (" (default)" if value.is_default else "")


def setting_item(server: AppServer, role: str, extra: str = "") -> EvidenceItem | None:
    """The knob as a config evidence item at its file:line (the command line: ``/proc/PID``)."""
    text = shown(server, role)
    if text is None:
        return None
    value = server.setting(role)
    return EvidenceItem(kind="config", summary=f"{text}{extra} [{server.where}]",
                        source=value.file if value and value.file else server.origin or None,
                        line=value.line if value else None)


def where_to_set(server: AppServer, role: str, new: str) -> str:
    """Where and how to change the knob, in the app server's own terms."""
    knob, value = server.knob(role), server.setting(role)
    if knob is None:
        return ""
    if value is not None and value.file and value.line:
        name = knob.name
        line = {"gunicorn": f"{name} = {new}", "uwsgi": f"{name} = {new}",
                "puma": f"{name} {new}", "node": f"server.{name} = {new};"}.get(server.kind,
                                                                               f"{name} {new}")
        return f"{value.file}:{value.line}: {line}"
    if value is not None and value.file and value.file.startswith("/proc/"):
        return f"its command line: {knob.flag} {new}"
    return {"gunicorn": f"{knob.flag} {new} (or {knob.name} = {new} in gunicorn.conf.py)",
            "uvicorn": f"{knob.flag} {new}",
            "uwsgi": f"{knob.name} = {new} in its ini (or --{knob.name} {new})",
            "puma": f"{knob.name} {new} in config/puma.rb",
            "node": f"server.{knob.name} = {new}; on the http.Server"}.get(server.kind, f"{knob.flag} {new}")


def unclaimed_timing(ev: Evidence, target: TargetFact) -> UpstreamTiming | None:
    """What the access log says of a target when it cannot say which backend served a request
    (no upstream fields: Apache's ``combined``): the clients' 5xx that no error-log line claims,
    credited to ``target`` only when nothing else could have sent them -- an app server known to
    listen on it (``serving``; or an app-server log read whose own start-up line says its server
    listens there: ``logs_serving``), or the config's only target.  None otherwise."""
    cf = ev.logs.client_5xx
    if ev.logs.access_has_upstream or cf is None or cf.total - cf.by_proxy <= 0:
        return None
    if (not serving(ev, target.key) and not logs_serving(ev, target.key)
            and len({t.key for t in ev.config.targets}) != 1):
        return None
    return UpstreamTiming(upstream=target.key, backend_5xx=dict(cf.statuses), first=cf.first,
                          last=cf.last)


def killed_at_own_limit(ev: Evidence, peer: str, timing: UpstreamTiming) -> list[LogEvent]:
    """The app server's own time-limit kills (``WORKER TIMEOUT``, ``HARAKIRI``) that explain the
    5xx the backend itself sent to ``peer``: gunicorn's sync worker turns its SIGABRT into a
    ``SystemExit`` inside the request and answers **500** (gunicorn/workers/base.py
    ``handle_abort()`` -> ``sys.exit(1)``; gunicorn/workers/sync.py ``handle()`` catches
    ``BaseException`` and ``handle_error()`` writes the 500), so nginx logs nothing and relays a
    500.  Identity: the line is from the log of an app server listening on ``peer`` (or, with no
    app server known, from an app server's log at all and not one known to listen elsewhere);
    time: within seconds of the backend's 5xx."""
    times = [t for t in (timing.first, timing.last, *(x.time for x in timing.samples)) if t is not None]
    if not times and ev.logs.client_5xx is not None:
        times = [t for t in (ev.logs.client_5xx.first, ev.logs.client_5xx.last) if t is not None]
    if not times:
        return []
    servers = serving(ev, peer)
    logs = {p for s in servers for p in s.logs} | set(ev.apps.logs)
    lo = min(times).replace(tzinfo=None) - _SKEW
    hi = max(times).replace(tzinfo=None) + _MINUTE + _SKEW
    out = []
    for e in ev.all_events:
        if e.kind != "worker-timeout" or e.source not in ("gunicorn", "uwsgi", "puma") or e.time is None:
            continue
        if ev.apps.other_servers_log(e.file, peer) or (e.file not in logs and not servers):
            continue
        if servers and not any(s.kind == e.source for s in servers):
            continue
        if lo <= e.time.replace(tzinfo=None) <= hi:
            out.append(e)
    return out
