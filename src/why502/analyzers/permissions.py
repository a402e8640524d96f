"""Access control: socket-permissions, selinux-denial.

``connect() to unix:/run/x.sock failed (13: Permission denied)`` ([crit], ``ngx_event_connect.c``)
means the worker user (nginx ``user``) lacks write permission on the socket file: connecting to
a unix socket needs write access to it (unix(7)).  On a TCP peer EACCES does not come from file
modes; it comes from a MAC policy (SELinux ``name_connect`` denied unless
``httpd_can_network_connect``; AppArmor).
"""

from __future__ import annotations

from why502.analyzers.base import (
    Candidate,
    by_peer,
    claims,
    config_item,
    event_item,
    group_items,
    groups_of,
    make_finding,
    proxy_name,
    proxy_of,
    upstream_name,
)
from why502.evidence.model import Evidence, SocketStat, SymptomGroup
from why502.facts.fpm import FpmPool
from why502.findings.model import EvidenceItem, Fix
from why502.findings.patch import unified


def analyze(ev: Evidence) -> list[Candidate]:
    out: list[Candidate] = []
    avcs = [e for e in ev.all_events if e.kind == "selinux-avc"]
    # the proxy as the report names it, and its program's name as the audit log's comm= has it
    who = proxy_name(ev.proxy)
    programs = proxy_of(ev).detection.programs[:1]
    for peer, groups in by_peer(groups_of(ev, "permission-denied")).items():
        if peer is not None and peer.startswith("unix:") and not avcs:
            out.append(_socket(ev, peer, groups))
        else:
            items = [i for g in groups for i in group_items(g)]
            items += [event_item(e, "SELinux AVC denial") for e in avcs[:2]]
            target = ev.target(peer)
            if target:
                items.append(config_item(target))
            if ev.host.selinux_mode:
                items.append(EvidenceItem(kind="process", summary=f"SELinux is {ev.host.selinux_mode}",
                                          source="getenforce"))
            conf = 0.9 if avcs else (0.75 if ev.host.selinux_mode == "enforcing" else 0.55)
            out.append(Candidate(finding=make_finding(
                "selinux-denial", confidence=conf, groups=groups,
                explanation=f"The kernel refused {who}'s connect() to {peer} with EACCES. For a TCP "
                            "peer that is not a file mode: a MAC policy (SELinux "
                            "httpd_can_network_connect, AppArmor) blocks it.",
                evidence=items,
                fix=Fix(summary=f"allow {who} to make network connections",
                        commands=[*(f"ausearch -m avc -c {prog} --start recent" for prog in programs),
                                  "setsebool -P httpd_can_network_connect 1"],
                        notes=[f"AppArmor: aa-status; add the network rule to {who}'s profile"]),
                upstream=upstream_name(ev, peer), target=peer), claims=claims(groups)))
    if avcs and not groups_of(ev, "permission-denied"):
        items = [event_item(e, f"SELinux AVC denial for {who}") for e in avcs[:3]]
        out.append(Candidate(finding=make_finding(
            "selinux-denial", confidence=0.5, groups=[],
            explanation=f"SELinux denied {who} an operation (see the AVC lines).",
            evidence=items, fix=Fix(summary=f"allow {who} to make network connections",
                                    commands=["setsebool -P httpd_can_network_connect 1"]))))
    return out


def _socket(ev: Evidence, peer: str, groups: list[SymptomGroup]) -> Candidate:
    path = peer[5:]
    stat = ev.host.sockets.get(path)
    pool = next((p for p in ev.config.fpm_pools if p.key == peer), None)
    user = ev.host.worker_user or ev.config.user or "www-data"
    items = [i for g in groups for i in group_items(g)]
    target = ev.target(peer)
    if target:
        items.append(config_item(target))
    if stat is not None and stat.exists:
        items.append(EvidenceItem(kind="process", summary=_stat_text(stat), source=path))
        if stat.worker_allowed is False and stat.worker_reason:
            items.append(EvidenceItem(kind="process", summary=f"{user} may not connect: "
                                      f"{stat.worker_reason}", source=path))
    items.append(EvidenceItem(kind="config", summary=f"{proxy_name(ev.proxy)} worker user: {user}"
                              + (f" (groups {', '.join(ev.host.worker_groups)})"
                                 if ev.host.worker_groups else ""),
                              source=ev.config.main_file))
    fix = _pool_fix(ev, pool, user, ev.host.worker_group or ev.config.group or user) if pool else None
    if fix is None:
        fix = Fix(summary=f"let {user} write to {path}: make it the socket's owner or group, mode 0660",
                  commands=[f"ls -l {path}", f"id {user}"])
    conf = 0.9 if stat is not None and stat.exists else 0.8
    if stat is not None and stat.worker_allowed is False:
        conf = 0.95  # checked now: the worker user really cannot connect
    return Candidate(finding=make_finding(
        "socket-permissions", confidence=conf, groups=groups,
        explanation=f"{proxy_name(ev.proxy)}'s workers run as {user}, and connecting to the unix "
                    f"socket {path} needs write permission on it, which its owner/group/mode do not give.",
        evidence=items, fix=fix, upstream=upstream_name(ev, peer), target=peer),
        claims=claims(groups))


def _stat_text(stat: SocketStat) -> str:
    mode = f"{stat.mode:04o}" if stat.mode is not None else "?"
    return f"{stat.path}: owner {stat.owner or stat.uid}, group {stat.group or stat.gid}, mode {mode}"


def _pool_fix(ev: Evidence, pool: FpmPool, user: str, group: str) -> Fix | None:
    """Diff setting ``listen.owner/group`` to nginx's user and ``listen.mode = 0660``."""
    lines = ev.config.files.get(pool.file or "")
    if not lines or not pool.listen_line:
        return Fix(summary=f"in PHP-FPM pool [{pool.name}] set listen.owner = {user}, "
                           f"listen.group = {group}, listen.mode = 0660, then restart php-fpm",
                   commands=["systemctl restart php-fpm*"], file=pool.file)
    wanted = {"listen.owner": user, "listen.group": group, "listen.mode": "0660"}
    # find existing settings inside this pool section
    start = (pool.line or 1) - 1
    end = len(lines)
    for i in range(start + 1, len(lines)):
        if lines[i].strip().startswith("[") and lines[i].strip().endswith("]"):
            end = i
            break
    new = list(lines)
    missing = []
    for key, value in wanted.items():
        for i in range(start, end):
            text = new[i].strip()
            if text.split("=")[0].strip() == key:
                new[i] = f"{key} = {value}"
                break
        else:
            missing.append(f"{key} = {value}")
    diff = None
    if missing:
        new = [*new[: pool.listen_line], *missing, *new[pool.listen_line:]]
    if new != list(lines):
        diff = unified(pool.file or "", lines, new)
    return Fix(summary=f"let {proxy_name(ev.proxy)} ({user}) connect: set the pool's "
                       "listen.owner/group/mode, then restart php-fpm",
               commands=["systemctl restart php*-fpm"], diff=diff, file=pool.file)
