"""The backend died mid-request: backend-oom-killed, backend-crashed.

A killed backend drops its in-flight connections, so nginx logs ``upstream prematurely closed
connection while reading response header from upstream`` or ``recv() failed (104: Connection reset
by peer)`` (``ngx_http_upstream.c`` ``ngx_http_upstream_process_header()``), then ``connect()
failed (111: Connection refused)`` until it is back.  The kernel's ``Out of memory: Killed process
PID (NAME)`` (``mm/oom_kill.c`` ``__oom_kill_process()``) names the victim; it explains those lines
when the victim is the process serving the target (identity: pid, process name, unit) and the
failures start when it died (time).
"""

from __future__ import annotations

from datetime import datetime

from why502.analyzers import kubernetes
from why502.analyzers.apps import serving, shown
from why502.analyzers.base import (
    Candidate,
    by_peer,
    claims,
    config_item,
    died_then_refused,
    event_item,
    group_items,
    groups_of,
    iso,
    listener_item,
    make_finding,
    process_matches,
    proxy_name,
    upstream_name,
)
from why502.analyzers.identity import (
    could_be_backend,
    killed_by_timeout,
    matching_groups,
    name_match,
)
from why502.evidence.model import Evidence, LogEvent, SymptomGroup
from why502.facts.appserver import AppServer
from why502.findings.model import EvidenceItem, Fix

DEATH_SYMPTOMS = ("premature-close", "connection-reset", "broken-pipe")
AFTER_DEATH = ("connection-refused", "socket-not-found")


def analyze(ev: Evidence) -> list[Candidate]:
    out: list[Candidate] = []
    ooms = [e for e in ev.all_events if e.kind == "oom-kill"]
    death_groups = by_peer(groups_of(ev, *DEATH_SYMPTOMS, *AFTER_DEATH))
    explained: set[tuple[str, str | None]] = set()
    for peer, groups in death_groups.items():
        cand = _oom(ev, peer, groups, ooms)
        if cand:
            out.append(cand)
            explained |= cand.claims
    for cand in kubernetes.oom(ev):  # --k8s: a container OOMKilled (lastState.terminated)
        out.append(cand)
        explained |= cand.claims
    after = by_peer(groups_of(ev, *AFTER_DEATH))
    for peer, groups in by_peer(groups_of(ev, *DEATH_SYMPTOMS)).items():
        rest = [g for g in groups if (g.symptom, g.peer) not in explained]
        if rest:
            # died mid-request, then refused: the death explains the refusals that follow it
            down = [g for g in after.get(peer, []) if (g.symptom, g.peer) not in explained
                    and died_then_refused(ev, peer, [g])]
            out.append(_crashed(ev, peer, rest, down))
    return out


def _oom(ev: Evidence, peer: str | None, groups: list[SymptomGroup],
         ooms: list[LogEvent]) -> Candidate | None:
    best: tuple[float, LogEvent, str | None, list[SymptomGroup]] | None = None
    for oom in ooms:
        # identity and time (analyzers.identity): another job's python3 killed an hour ago, or
        # before this backend started, is not this backend's death
        near, who = matching_groups(ev, peer, oom, groups)
        if not near:
            continue
        named = name_match(ev, peer, oom)
        conf = 0.95 if who else 0.85 if named else (0.75 if len(ooms) == 1 else 0.6)
        who = who or named
        if best is None or conf > best[0]:
            best = (conf, oom, who, near)
    if best is None:
        return None
    conf, oom, who, near = best
    victim = f"{oom.process or 'a process'}" + (f" pid {oom.pid}" if oom.pid else "")
    when = f" at {oom.time:%Y-%m-%d %H:%M:%S}" if oom.time else ""
    same = [e for e in ooms if e is not oom and process_matches(e.process, oom.process)]
    items: list[EvidenceItem] = [event_item(oom, f"kernel OOM-killed {victim}{when}")]
    items += [event_item(e, f"another OOM kill of {e.process}") for e in same[:2]]
    if who:
        items.append(EvidenceItem(kind="listener", summary=f"identity: {who}", source="listeners"))
    items += [i for g in near for i in group_items(g)]
    first_fail = min((g.first for g in near if g.first), default=None)
    if first_fail and oom.time:
        items.append(EvidenceItem(kind="stat", summary=f"failures to {peer} start {iso(first_fail)}, "
                                  f"{(first_fail - oom.time).total_seconds():+.0f}s from the OOM kill"))
    target = ev.target(peer)
    if target:
        items.append(config_item(target))
    for lst in ev.listeners_for(peer or "")[:1]:
        items.append(listener_item(lst))
    name = oom.process or "the backend"
    fix = Fix(summary=f"give {name} the memory it needs or cap its memory use per worker "
                      "(fewer workers, a leak fixed, a memory limit that restarts it gracefully)",
              commands=["journalctl -k --grep 'Out of memory' --since -1d",
                        f"ps -o pid,rss,cmd -C {name.split()[0]}", "free -m"],
              notes=["PHP-FPM: lower pm.max_children so max_children × memory per child fits "
                     "in RAM; set pm.max_requests to recycle leaky children",
                     "systemd: MemoryMax= on the backend's unit makes the kernel kill only it"])
    return Candidate(
        finding=make_finding(
            "backend-oom-killed", confidence=conf, groups=near,
            explanation=f"The kernel ran out of memory and killed {victim}{when}"
                        + (f" ({who})" if who else "")
                        + f"; its in-flight requests failed and {peer} stopped answering, "
                        + _timing(first_fail, oom.time, proxy_name(ev.proxy)),
            evidence=items, fix=fix, upstream=upstream_name(ev, peer), target=peer),
        claims=claims(near))


def _timing(first_fail: datetime | None, killed: datetime | None, who: str) -> str:
    """How the first error relates to the kill: "exactly when" only if it is within seconds
    (``who``: the proxy whose errors they are, as the report names it)."""
    if first_fail is None or killed is None or abs((first_fail - killed).total_seconds()) <= 5:
        return f"which is exactly when {who}'s errors start."
    gap = (first_fail - killed).total_seconds()
    return (f"and {who}'s errors start {gap:.0f}s after the kill (the backend still down or "
            "restarting)." if gap > 0 else f"{-gap:.0f}s after {who}'s first error.")


def _crashed(ev: Evidence, peer: str | None, groups: list[SymptomGroup],
             down: list[SymptomGroup] | None = None) -> Candidate:
    crashes = [e for e in ev.all_events if e.kind in {"worker-crashed", "worker-timeout"}]
    # systemd: "Main process exited, code=killed|dumped" or "Failed with result 'signal'"
    unit_kills = [e for e in ev.all_events if e.kind == "unit-failed"
                  and (e.capture("code") in ("killed", "dumped") or e.capture("result") == "signal")]
    # A crash record explains these failures only if it is the same backend (identity) and, when
    # it carries a time, happened when they did: a segfault of some other program in dmesg an
    # hour ago is not evidence (seen live: an apache2 segfault "explaining" a Python backend).
    # A worker its own time limit killed did not crash: that is backend-too-slow (capacity).
    timeouts = [e for e in crashes if e.kind == "worker-timeout"]
    candidates = [e for e in crashes + unit_kills if not killed_by_timeout(e, timeouts)]
    near = [e for e in candidates if matching_groups(ev, peer, e, groups)[0]] or [
        e for e in candidates if e.time is None and could_be_backend(ev, peer, e)]
    items = [i for g in groups for i in group_items(g)]
    items += [event_item(e, e.detail or f"{e.source}: {e.kind}") for e in near[:3]]
    target = ev.target(peer)
    if target:
        items.append(config_item(target))
    down = down or []
    if down:
        items += [i for g in down for i in group_items(
            g, f"then {g.count} × {g.symptom} to {g.peer}: it did not come back")]
    if near:
        conf, fallback = 0.85, False
        why = "the backend's own log shows its workers dying at the same time"
    elif down:
        conf, fallback = 0.8, False
        why = ("it dropped an in-flight request and from then on refused connections: the "
               "process died and nothing restarted it")
    else:
        conf, fallback = 0.45, True
        why = ("no crash, OOM or restart record was found, so this is the likely reading of the "
               "symptoms alone")
        unseen = _unseen(ev, peer, target.kind if target else None)
        if unseen:
            why += f"; {unseen}"
    summary = "find why the backend's workers die (signal, exception, kill) in its own log"
    unit = ev.host.target_units.get(peer or "") or "<backend unit>"
    logs = sorted({e.file for e in near if e.file and e.file != "journal"})
    commands = [f"journalctl -u {unit} --since -1h",
                f"grep -i -E 'signal|segfault|timeout|exited' {logs[0] if logs else '<backend log>'}"]
    notes: list[str] = []
    fpm = [e for e in near if e.pool or (e.process or "").startswith("php")]
    if fpm:
        summary = ("PHP-FPM children die on a signal mid-request (usually an extension or opcache "
                   "bug, or a kill): get a backtrace and fix or disable the culprit")
        notes += ["core dumps: rlimit_core = unlimited in the pool, and a kernel.core_pattern path; "
                  "then gdb php-fpm <core> -ex bt",
                  "check what changed: php -m, recently upgraded extensions, opcache settings"]
    for server in serving(ev, peer)[:1]:
        notes += _app_notes(server, near)
    if down:
        summary += "; it is still down: start it again (and let systemd restart it: Restart=on-failure)"
        commands.append(f"systemctl start {unit}")
    fix = Fix(summary=summary, commands=commands, notes=notes)
    return Candidate(
        finding=make_finding(
            "backend-crashed", confidence=conf, groups=groups + down,
            explanation=f"{peer or 'The backend'} closed or reset connections while "
                        f"{proxy_name(ev.proxy)} waited for the response: {why}.",
            evidence=items, fix=fix, upstream=upstream_name(ev, peer), target=peer),
        claims=claims(groups + down), fallback=fallback)


def _unseen(ev: Evidence, peer: str | None, kind: str | None) -> str:
    """What this run could not see that would decide between a crash and the other readings of
    a reset (a worker killed at its time limit, killed for memory, a keep-alive closed under the
    proxy): the app server's own log, and its config."""
    if kind == "fastcgi" or any(p.key == peer for p in ev.config.fpm_pools):
        return "" if ev.apps.logs else "PHP-FPM's log was not read (--fpm-log FILE)"
    servers = serving(ev, peer)
    if ev.apps.logs and servers:
        return ""
    missing = []
    if not ev.apps.logs:
        missing.append("the app server's own log was not read (--app-log FILE: gunicorn, uWSGI, "
                       "Puma, Node/PM2 write worker timeouts and kills there)")
    if not servers:
        missing.append("no app server was found listening there (--app-conf FILE gives its "
                       "keep-alive and time limits)")
    return "; ".join(missing)


def _app_notes(server: AppServer, near: list[LogEvent]) -> list[str]:
    """The app server's own terms for a worker that died mid-request."""
    killed = any((e.capture("signal") or "").upper() == "SIGKILL" or " signal 9" in e.text for e in near)
    limit = shown(server, "request")
    notes = []
    if killed:
        notes.append(f"{server.kind}: a worker got SIGKILL -- from the kernel's OOM killer (dmesg) "
                     "or a second-stage timeout kill; fewer workers or a per-worker memory cap "
                     + ("(--max-requests N recycles leaky workers)" if server.kind == "gunicorn" else
                        "(max-requests / reload-on-rss recycle leaky workers)" if server.kind == "uwsgi"
                        else ""))
    if limit:
        notes.append(f"its time limit: {limit}")
    return notes
