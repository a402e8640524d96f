"""Which app servers to read: ``--app-conf`` files, and (live runs) the process table and units.

``--app-conf FILE`` is strict like every named input: unreadable is exit 3 (checked with the
others in ``options.check_named_inputs``), and a file that configures none of gunicorn, uWSGI,
Puma or a Node server is a one-line error too.  Discovery runs when this host's config is read
(not ``--offline``, not a logs-only run): masters from ``/proc``, ``ExecStart=`` of systemd units,
and the servers' default log paths, each log then read as a discovered input (a note if it
cannot be).  Which of them count is decided by identity in ``evidence.appservers``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from why502.app.diagnose.options import DiagnoseOptions
from why502.errors import InputError
from why502.evidence.appservers import AppServerEvidence, app_server_evidence
from why502.evidence.model import GroupFact, LogEvent, TargetFact
from why502.facts.appserver import AppServer
from why502.findings.model import Diagnostic
from why502.parsers.appserver_config import bind_key
from why502.sources import appservers as source


@dataclass
class AppServersRead:
    """The app servers found and the logs they name (to classify as discovered app logs)."""

    found: list[AppServer] = field(default_factory=list)
    logs: list[str] = field(default_factory=list)
    looked: bool = False


def read_app_servers(options: DiagnoseOptions, diags: list[Diagnostic]) -> AppServersRead:
    """``--app-conf`` files, then (live, config read) the running masters and unit files."""
    out = AppServersRead(looked=bool(options.app_confs or options.app_logs))
    for path in options.app_confs:
        got = source.from_files([path])
        if not got:
            raise InputError(f"cannot tell which app server {path} configures (--app-conf): give a "
                             "gunicorn.conf.py, a uWSGI .ini, a Puma .rb or a Node server's .js")
        out.found += got
    if not (options.offline or options.logs_only()):
        out.looked = True
        out.found += source.running()
        out.found += source.from_units()
        out.logs += source.default_logs()
    for s in out.found:
        out.logs += [p for p in s.logs if p not in options.app_logs]
    out.logs = list(dict.fromkeys(out.logs))
    return out


def target_keys(targets: Iterable[TargetFact], groups: Mapping[str, GroupFact]) -> list[str]:
    """Every key the proxy sends requests to: its targets and its groups' servers."""
    keys = {t.key for t in targets if not t.uses_variables}
    for g in groups.values():
        keys |= set(g.servers)
    return sorted(k for k in keys if k not in groups)


def said_listening(events: Iterable[LogEvent], logs_read: list[str]) -> list[tuple[str, str]]:
    """(log, bind key) for each start-up line of an app-server log read that says where its
    server listens (``app-listening``: gunicorn ``Listening at:``, uvicorn ``Uvicorn running
    on``, uWSGI ``bound to TCP|UNIX address``): the log's own identity (``evidence.appservers``)."""
    read = set(logs_read)
    out = []
    for e in events:
        if e.kind != "app-listening" or e.file not in read:
            continue
        key = bind_key(e.capture("upstream") or e.capture("bind") or "")
        if key is not None and e.file is not None:
            out.append((e.file, key))
    return out


def evidence(read: AppServersRead, targets: Iterable[TargetFact], groups: Mapping[str, GroupFact],
             logs_read: list[str], diags: list[Diagnostic], inputs: dict[str, Any],
             events: Iterable[LogEvent] = ()) -> AppServerEvidence:
    """The grouped record (``evidence.appservers``), and what the report says was read."""
    ev = app_server_evidence(read.found, target_keys(targets, groups), logs_read, looked=read.looked,
                             said=said_listening(events, logs_read))
    if ev.servers:  # the report's inputs say which app servers were read (absent: none)
        inputs["app_servers"] = [f"{s.where} from {s.origin}" for s in ev.servers]
    for s in ev.others:
        if s.origin.startswith("--app-conf"):
            diags.append(Diagnostic("warning", f"{s.origin}: {s.kind} listens on "
                                    f"{', '.join(s.binds) or 'an unknown address'}, where the proxy "
                                    "sends no request: not used as evidence"))
    return ev
