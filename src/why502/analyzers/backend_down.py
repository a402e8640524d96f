"""Connect failures: backend-not-running, wrong-target, backend-crash-loop.

nginx logs ``connect() failed (111: Connection refused)`` when nothing accepts on a TCP peer and
``connect() to unix:... failed (2: No such file or directory)`` when the socket path does not
exist (``src/event/ngx_event_connect.c`` ``ngx_event_connect_peer()``, ``ngx_http_upstream.c``
``ngx_http_upstream_test_connect()``).  Which root cause it is depends on what listens *now* and
*where*: nothing anywhere (not running), the same port on another address family or another
socket path (wrong target), or a unit that keeps restarting (crash loop).
"""

from __future__ import annotations

import os.path
from dataclasses import replace
from datetime import datetime, timedelta

from why502.analyzers import kubernetes
from why502.analyzers.base import (
    Candidate,
    by_peer,
    claims,
    config_item,
    died_then_refused,
    event_item,
    group_items,
    groups_of,
    make_finding,
    probe_item,
    proxy_name,
    proxy_of,
    reload_commands,
    upstream_name,
)
from why502.evidence.model import Evidence, SymptomGroup, TargetFact
from why502.facts.fpm import FpmPool
from why502.facts.net import Listener, split_key
from why502.findings.model import EvidenceItem, Fix
from why502.findings.patch import replace_line
from why502.proxies import proxy_programs

CONNECT_SYMPTOMS = ("connection-refused", "socket-not-found")


def analyze(ev: Evidence) -> list[Candidate]:
    out: list[Candidate] = []
    for peer, groups in by_peer(groups_of(ev, *CONNECT_SYMPTOMS)).items():
        if peer is None:
            out.append(_unknown_target(ev, groups))
            continue
        target = ev.target(peer)
        wrong = _wrong_target(ev, peer, target, groups)
        if wrong:
            out.append(wrong)
            continue
        loop = _crash_loop(ev, peer, target, groups)
        if loop:
            out.append(loop)
            continue
        cand = _not_running(ev, peer, target, groups)
        if died_then_refused(ev, peer, groups):
            # it dropped a request before refusing: a death (backend_death) explains the refusals
            cand.finding = replace(cand.finding, confidence=min(cand.finding.confidence, 0.6))
        out.append(cand)
    out.extend(kubernetes.crash_loop(ev))  # --k8s: a pod in CrashLoopBackOff in the window
    # Down right now, before any request failed (or outside the logs read): the live probe says so.
    seen = {g.peer for g in groups_of(ev, *CONNECT_SYMPTOMS)}
    for key, probe in (ev.live.probes or {}).items():
        if key in seen or probe.ok or probe.connect_state not in CONNECT_SYMPTOMS:
            continue
        target = ev.target(key)
        cand = (_wrong_target(ev, key, target, []) or _crash_loop(ev, key, target, [])
                or _not_running(ev, key, target, []))
        cand.finding = replace(cand.finding, confidence=min(cand.finding.confidence, 0.6))
        out.append(cand)
    return out


def _alternatives(ev: Evidence, peer: str, target: TargetFact | None) -> list[tuple[str, str, str]]:
    """Where the backend really is: (new key, who, why) for listeners/pools near ``peer``."""
    _host, port, path = split_key(peer)
    alts: list[tuple[str, str, str]] = []
    targeted = {t.key for t in ev.config.targets}
    if path is not None:
        for pool in ev.config.fpm_pools:
            if pool.key != peer and pool.key not in targeted and _pool_running(ev, pool, True):
                alts.append((pool.key, f"PHP-FPM pool [{pool.name}]",
                             f"listen = {pool.listen} ({pool.file}:{pool.listen_line or pool.line})"))
        for lst in ev.host.listeners or ():
            if (lst.proto == "unix" and lst.path and lst.key != peer and lst.key not in targeted
                    and _similar_socket(path, lst.path) and lst.key not in {a[0] for a in alts}
                    and os.path.dirname(lst.path) == os.path.dirname(path)):
                alts.append((lst.key, _who(lst), f"listens on {lst.key}"))
        return alts
    if port is None:
        return alts
    for lst in ev.host.listeners or ():
        if lst.proto != "unix" and lst.port == port and lst.key != peer:
            alts.append((lst.key, _who(lst), f"listens on {lst.key}"))
    if not alts:
        alts += _near_port(ev, peer, port, targeted, first_failure(ev, peer))
    if target is not None and target.kind == "fastcgi":
        for pool in ev.config.fpm_pools:
            if pool.key not in targeted and pool.key != peer and _pool_running(ev, pool):
                alts.append((pool.key, f"PHP-FPM pool [{pool.name}]", f"listen = {pool.listen}"))
    return alts


NEAR_PORTS = 2  # "one port up": a backend moved 8080 -> 8081 (issue 31); further is another service


def first_failure(ev: Evidence, peer: str) -> datetime | None:
    """When the first connection to ``peer`` failed in the logs read (None: none or no time)."""
    times = [g.first for g in groups_of(ev, *CONNECT_SYMPTOMS) if g.peer == peer and g.first]
    return min(times) if times else None


def _near_port(ev: Evidence, peer: str, port: int, targeted: set[str],
               since: datetime | None) -> list[tuple[str, str, str]]:
    """Listeners on the same host as ``peer`` within ``NEAR_PORTS`` of its port that no target of
    the config uses and no proxy owns: the backend that moved one port up.  Said from the
    listening-socket table, never guessed: the issue's host printed "nothing similar listens
    elsewhere" while the moved app listened on the next port since a second before the first
    502 (issue 31).  The nearest port first; when the socket's process start time is known it
    is said, with how long before the first failure it started."""
    host, _p, _path = split_key(peer)
    found: list[tuple[int, tuple[str, str, str]]] = []
    if since is None:
        return []  # no failure seen: nothing "appeared" relative to it
    if _ephemeral(ev, port):
        return []  # its neighbours are other programs' kernel-chosen ports, not a moved service
    for lst in ev.host.listeners or ():
        if (lst.proto == "unix" or lst.port is None or lst.port == port or abs(lst.port - port) > NEAR_PORTS
                or lst.key in targeted or (lst.process or "") in proxy_programs()
                or not _appeared(lst, since)):
            continue
        if lst.address not in (host, "0.0.0.0", "::", None) and not (  # noqa: S104 (a wildcard listener)
                host in ("localhost", "127.0.0.1", "::1") and lst.address in ("127.0.0.1", "::1")):
            continue
        start = datetime.fromisoformat(str(lst.started)).replace(tzinfo=None)
        gap = (since.replace(tzinfo=None) - start).total_seconds()
        when = (f" (started {lst.started}, " + (f"{gap:.0f} s before the first failure)" if gap >= 0
                                                 else f"{-gap:.0f} s after the first failure)"))
        found.append((abs(lst.port - port), (lst.key, _who(lst),
                                              f"listens near the old port, on {lst.endpoint}{when}")))
    return [alt for _d, alt in sorted(found, key=lambda x: x[0])]


APPEARED = timedelta(minutes=1)  # started at most this long before the first failure, or after it
EPHEMERAL = (32768, 60999)  # Linux's default net.ipv4.ip_local_port_range (ip-sysctl.rst)


def _ephemeral(ev: Evidence, port: int) -> bool:
    """Is ``port`` in the host's ephemeral range (``net.ipv4.ip_local_port_range``, read by the
    host provider; Linux's default when it was not read)?  The kernel hands those ports out to
    ``bind(0)`` and to outgoing connections, so the listeners next to one are whatever programs
    got the neighbouring numbers -- on a CI host or a busy box, a new one appears there every
    minute.  A backend that moved (8080 -> 8081) was moved by a person to a chosen port; near
    an ephemeral port, nearness proves nothing (a suite run named another test's backend as
    "the backend that moved")."""
    lo, hi = EPHEMERAL
    raw = ev.host.sysctls.get("net.ipv4.ip_local_port_range")
    if raw:
        parts = raw.split()
        if len(parts) == 2 and parts[0].isdigit() and parts[1].isdigit():
            lo, hi = int(parts[0]), int(parts[1])
    return lo <= port <= hi


def _appeared(lst: Listener, since: datetime) -> bool:
    """Did this listener's process start around the failures (at most ``APPEARED`` before the
    first one, or since)?  A busy host has listeners on many ports; one that was there long
    before the backend went away is another service, not the backend that moved."""
    if not lst.started:
        return False
    try:
        start = datetime.fromisoformat(lst.started).replace(tzinfo=None)
    except ValueError:
        return False
    return start >= since.replace(tzinfo=None) - APPEARED


def listen_check(peer: str) -> str:
    """The command that shows what listens on ``peer`` (``ss(8)``'s filter syntax: ``sport``;
    ``-x`` for unix sockets), with the process (``-p``)."""
    if peer.startswith("unix:"):
        return f"ss -lxp | grep -F '{peer[5:]}'"
    return f"ss -ltnp 'sport = :{peer.rsplit(':', 1)[-1]}'"


def _pool_running(ev: Evidence, pool: FpmPool, strict: bool = False) -> bool:
    """Does the pool listen now?  Offline (no listener table) the pool config is the best lead."""
    if ev.host.listeners is None:
        return True
    return bool(ev.listeners_for(pool.key if not pool.key.startswith("0.0.0.0:")
                                 else "127.0.0.1:" + pool.key.split(":")[1]))


def _similar_socket(a: str, b: str) -> bool:
    name_a, name_b = a.rsplit("/", 1)[-1], b.rsplit("/", 1)[-1]
    return _stem(name_a) == _stem(name_b) or ("fpm" in name_a and "fpm" in name_b)


def _stem(name: str) -> str:
    return "".join(ch for ch in name.split(".")[0] if ch.isalpha())


def _who(lst: Listener) -> str:
    if lst.process and lst.pid:
        return f"{lst.process} pid {lst.pid}"
    return lst.process or "a process"


def _wrong_target(ev: Evidence, peer: str, target: TargetFact | None,
                  groups: list[SymptomGroup]) -> Candidate | None:
    if ev.host.listeners is not None and ev.listeners_for(peer):
        return None  # something listens there now
    alts = _alternatives(ev, peer, target)
    if not alts:
        return None
    new_key, who, why = alts[0]
    items: list[EvidenceItem] = [*(i for g in groups for i in group_items(g))]
    # where the backend went is this finding's proof: among the first three items (the first
    # screen shows three)
    items.insert(min(1, len(items)), EvidenceItem(kind="listener" if "pool" not in who else "config",
                                                  summary=f"nothing listens on {peer}, but {who} {why}",
                                                  source="listeners" if "pool" not in who else None))
    if target:
        items.append(config_item(target))
    if ev.live.probes and peer in ev.live.probes:
        items.append(probe_item(peer, ev.live.probes[peer]))
    fix = _retarget_fix(ev, target, peer, new_key)
    proxy = proxy_name(ev.proxy)
    nothing = "nothing listens on" if ev.host.listeners is not None else f"{proxy} could not connect to"
    return Candidate(
        finding=make_finding(
            # a listener one port up is a strong lead, not the proof a same-port listener is
            "wrong-target", confidence=(0.8 if "near the old port" in why else 0.92)
            if ev.host.listeners is not None else 0.75, groups=groups,
            explanation=f"{proxy} sends requests to {peer}, but {nothing} {peer}; {who} {why}. "
                        f"Point {proxy} at the address the backend really uses (or make the backend "
                        f"listen where {proxy} points).",
            evidence=items, fix=fix, upstream=upstream_name(ev, peer), target=peer),
        claims=claims(groups))


def wrong_target(ev: Evidence, peer: str, target: TargetFact | None) -> Candidate | None:
    """The wrong-target reading of connect failures to ``peer`` read elsewhere (an edge's
    response flags, ``analyzers.edge_apps``), with no symptom group of its own to claim."""
    return _wrong_target(ev, peer, target, [])


def crash_loop(ev: Evidence, peer: str, target: TargetFact | None) -> Candidate | None:
    """The crash-loop reading of connect failures to ``peer`` read elsewhere (see
    ``wrong_target``)."""
    return _crash_loop(ev, peer, target, [])


def _retarget_fix(ev: Evidence, target: TargetFact | None, old: str, new: str) -> Fix:
    diff = None
    file = None
    if target and target.file and target.line:
        lines = ev.config.files.get(target.file)
        if lines and 1 <= target.line <= len(lines):
            text = lines[target.line - 1]
            new_text = _swap_address(text, target, old, new)
            if new_text != text:
                diff = replace_line(ev.config.files, target.file, target.line, [new_text])
                file = target.file
    new_addr = new if not new.startswith("0.0.0.0:") else "127.0.0.1:" + new.split(":")[1]
    return Fix(summary=f"point {proxy_name(ev.proxy)} at {new_addr} instead of {old}, then reload it",
               commands=reload_commands(ev), diff=diff, file=file,
               notes=["or change the backend to listen on " + old])


def _swap_address(text: str, target: TargetFact, old: str, new: str) -> str:
    new = new if not new.startswith("0.0.0.0:") else "127.0.0.1:" + new.split(":")[1]
    candidates = [old]
    if target.host and target.port:
        candidates.append(f"{target.host}:{target.port}")
    if target.unix_path:
        candidates.append(f"unix:{target.unix_path}")
    for c in candidates:
        if c in text:
            return text.replace(c, new, 1)
    return text


def _crash_loop(ev: Evidence, peer: str, target: TargetFact | None,
                groups: list[SymptomGroup]) -> Candidate | None:
    mine = ev.host.target_units.get(peer)
    restarts = [e for e in ev.all_events if e.kind == "unit-restart" and (mine is None or e.unit in
                                                                       (None, mine))]
    failed = [e for e in ev.all_events if e.kind == "unit-failed" and (mine is None or e.unit in
                                                                    (None, mine))]
    units = [u for u in ev.host.units.values() if (u.n_restarts or 0) >= 3 and (mine is None or
                                                                          u.name == mine)]
    if len(restarts) < 2 and not units:
        return None
    items = [*(i for g in groups for i in group_items(g))]
    items += [event_item(e, e.detail if e.source == "supervisord" and e.detail
                         else f"{e.unit or 'unit'}: {e.detail or 'restart'}") for e in restarts[-3:]]
    items += [event_item(e, e.detail if e.source == "supervisord" and e.detail
                         else f"{e.unit or 'unit'} failed") for e in failed[-2:]]
    for u in units:
        items.append(EvidenceItem(kind="unit", summary=f"{u.name}: {u.active_state}/{u.sub_state}, "
                                  f"restarted {u.n_restarts} times", source="systemd"))
    if target:
        items.append(config_item(target))
    unit = (units[0].name if units else next((e.unit for e in restarts if e.unit), None)) or "<unit>"
    program = next((e.process for e in restarts if e.source == "supervisord" and e.process), None)
    if program and not units:
        # supervisord's own log (supervisor/process.py): the program, not a systemd unit, loops
        fix = Fix(summary=f"find why program '{program}' exits right after starting, fix that, "
                          "then start it once",
                  commands=[f"supervisorctl status {program}", f"supervisorctl tail {program}",
                            f"supervisorctl start {program}"])
        who = f"program '{program}' keeps dying and being restarted by supervisord"
        log = "the program's own log (its stdout_logfile)"
    else:
        fix = Fix(summary=f"find why {unit} exits right after starting, fix that, then start it once",
                  commands=[f"systemctl status {unit}", f"journalctl -u {unit} -n 100 --no-pager",
                            f"systemctl reset-failed {unit} && systemctl start {unit}"])
        who = f"{unit} keeps dying and being restarted by systemd"
        log = "the unit's journal"
    return Candidate(
        finding=make_finding(
            "backend-crash-loop", confidence=0.85, groups=groups,
            explanation=f"{who}; while it is down {proxy_name(ev.proxy)} "
                        f"gets connection refused from {peer}. The restarts hide the real error: "
                        f"read {log} for the exit reason.",
            evidence=items, fix=fix, upstream=upstream_name(ev, peer), target=peer),
        claims=claims(groups))


def _not_running(ev: Evidence, peer: str, target: TargetFact | None,
                 groups: list[SymptomGroup]) -> Candidate:
    items = [*(i for g in groups for i in group_items(g))]
    if target:
        items.append(config_item(target))
    probe = ev.live.probes.get(peer) if ev.live.probes else None
    if probe:
        items.append(probe_item(peer, probe))
    # a probe that connected says something listens, whatever it then answered (a TLS port's
    # failed handshake, another protocol): "nothing listens" would contradict it
    up_now = bool(ev.listeners_for(peer)) or (probe is not None and (probe.ok or probe.connect_state == "ok"))
    pools = [p for p in ev.config.fpm_pools if p.key == peer]
    for pool in pools:
        items.append(EvidenceItem(kind="config", summary=f"PHP-FPM pool [{pool.name}] is configured "
                                  f"to listen on {pool.listen}", source=pool.file,
                                  line=pool.listen_line or pool.line))
    unit_name = ev.host.target_units.get(peer) or (
        "php-fpm" if pools or (target and target.kind == "fastcgi") else "<backend unit>")
    for unit in ev.host.units.values():
        if ev.host.target_units.get(peer) not in (None, unit.name):
            continue
        items.append(EvidenceItem(kind="unit", summary=f"{unit.name}: {unit.active_state}/"
                                  f"{unit.sub_state}" + (f" (result {unit.result})" if unit.result else ""),
                                  source="systemd"))
        if unit.active_state in {"failed", "inactive"} and peer not in ev.host.target_units:
            unit_name = unit.name
    if ev.host.listeners is not None and not up_now:
        items.append(EvidenceItem(kind="listener", summary=f"no process listens on {peer}",
                                  source="listeners"))
    recovered_at: str | None = None
    if up_now:
        confidence = 0.55
        how = (f"Something listens on {peer} now, so the backend was down at the time of these "
               "errors and has come back (restarted or started late).")
        last = max((g.last for g in groups if g.last), default=None)
        if last is not None:
            # a recovered incident: the cause is right, but it is the past (look after it)
            after = (last + timedelta(seconds=1)).isoformat(timespec="seconds")
            recovered_at = last.isoformat(timespec="seconds")
            how += (f" A past incident, recovered: the last failure was at "
                    f"{last.isoformat(timespec='seconds')}; `why502 diagnose --since {after}` "
                    "looks at the time after it.")
    elif ev.host.listeners is not None or probe is not None:
        confidence = 0.9
        how = f"Nothing listens on {peer} now and nothing similar listens elsewhere."
    else:
        confidence = 0.7
        how = "Live checks were off (--offline), so whether it is still down was not checked."
    kind = "socket file does not exist" if peer.startswith("unix:") else "connection refused"
    # systemctl only for a unit this run saw (systemd there, the unit known): on a host without
    # systemd, "systemctl status <backend unit>" is a command that cannot work as printed
    # (issue 31); else what listens on that port, the fact the person checks first
    known = unit_name if unit_name in ev.host.units or peer in ev.host.target_units else None
    fix = Fix(summary=f"start the backend that should serve {peer} and make it start on boot",
              commands=[f"systemctl status {known}", f"systemctl start {known}",
                        f"systemctl enable {known}"] if known else [listen_check(peer)])
    if up_now:
        # it answers again: nothing to start; what is left is why it stopped (issue 31: a
        # recovered incident printed "start the backend" commands)
        fix = Fix(summary=f"nothing to start: {peer} answers again; find why it stopped in its own "
                          "log around the last failure" + (f" (systemctl status {known})" if known else ""),
                  commands=[f"journalctl -u {known} --since '{(recovered_at or 'today').replace('T', ' ')}'"]
                  if known else [])
    if not groups:
        how += " No request has failed in the logs read yet: found by the live probe."
    finding = make_finding(
        "backend-not-running", confidence=confidence, groups=groups,
        explanation=f"{proxy_name(ev.proxy)} could not connect to {peer} ({kind}): no backend "
                    f"was serving it. {how}",
        evidence=items, fix=fix, upstream=upstream_name(ev, peer), target=peer)
    if recovered_at is not None:
        # the headline says it is the past: the person on call reads the first line only
        finding = replace(finding, title=f"Past incident, recovered: {peer} was not running "
                                         f"(last failure {recovered_at}; it answers now)")
    if up_now:
        finding = replace(finding, recovered=True)
    return Candidate(finding=finding, claims=claims(groups))


TRUNCATED = 2047
"""nginx writes an error line into a buffer of ``NGX_MAX_ERROR_STR`` (2048) bytes and cuts what
does not fit, newline included (``src/core/ngx_log.h``; ``ngx_log_error_core()`` in
``src/core/ngx_log.c`` stops every field at ``last``): a line of 2047 bytes was cut."""


def _unknown_target(ev: Evidence, groups: list[SymptomGroup]) -> Candidate:
    """Connect failures whose lines name no upstream: still failures, with an unknown target.

    nginx appends ``upstream: "..."`` after the client, server and request fields, so a long
    request line (a URI of a few KB) pushes it past the 2048-byte limit and it is lost
    (:data:`TRUNCATED`).  The refusals are real — nginx could not connect — so the answer is
    "a backend is not running", never "healthy"; which one the lines cannot say."""
    n = sum(g.count for g in groups)
    cut = any(len(x.text.encode("utf-8", "surrogateescape")) >= TRUNCATED for g in groups for x in g.samples)
    limit = proxy_of(ev).vocabulary.error_line_cut
    why = (f"the lines were cut at {limit} before their upstream field" if cut and limit
           else "the lines name no upstream")
    items = [*(i for g in groups for i in group_items(g)),
             EvidenceItem(kind="stat", summary=f"{n} connect failures with an unknown target: {why}")]
    names = sorted({t.group or t.key for t in ev.config.targets})
    if names:
        items.append(EvidenceItem(kind="config", summary="the config's backends (one of them refused): "
                                  + ", ".join(names[:10]) + (f" and {len(names) - 10} more" if len(names) > 10
                                                             else "")))
    finding = make_finding(
        "backend-not-running", confidence=0.5, groups=groups,
        explanation=f"{proxy_name(ev.proxy)} could not connect to a backend ({n} refused connections), "
                    f"but {why}, so "
                    "which backend is not known. Match the request, client and time of these lines "
                    "against the access log, or log the upstream in the access log "
                    "($upstream_addr), to name it.",
        evidence=items,
        fix=Fix(summary="find which backend refuses (its requests' location in the access log, "
                        "$upstream_addr) and start it",
                commands=["grep -c 'connect() failed' <error log>", "systemctl --failed"]),
        upstream=None, target=None)
    return Candidate(finding=finding, claims=claims(groups))
