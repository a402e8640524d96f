"""Reaching the backend at all: all-upstreams-down, dns-unresolvable, network-unreachable,
port-exhaustion, fd-limit.

- ``no live upstreams while connecting to upstream``: the balancer found every server failed
  (``max_fails`` within ``fail_timeout``) or ``down`` (``ngx_http_upstream_round_robin.c``
  ``ngx_http_upstream_get_round_robin_peer()`` → ``NGX_BUSY``), 502.
- ``host not found in upstream`` / ``%V could not be resolved`` / ``no resolver defined to resolve``
  (``ngx_http_upstream.c`` ``ngx_http_upstream_resolve_handler()``, ``…init_request()``), 502.
- ``(113: No route to host)`` / ``(101: Network is unreachable)`` and connect timeouts to remote
  hosts: the route or a firewall.
- ``(99: Cannot assign requested address) while connecting to upstream``: no free ephemeral port
  towards that peer (``ngx_event_connect_peer()`` [crit]).
- ``socket() failed (24: Too many open files)`` / ``worker_connections are not enough``: nginx
  itself ran out of descriptors (``ngx_event_connect_peer()``, ``ngx_get_connection()``), 500.
"""

from __future__ import annotations

from typing import Protocol, cast

from why502.analyzers.base import (
    Candidate,
    by_peer,
    claims,
    config_item,
    edit,
    event_item,
    group_items,
    groups_of,
    lookups_that_emptied,
    make_finding,
    probe_item,
    proxy_name,
    proxy_of,
    reload_commands,
    route_of,
    upstream_name,
)
from why502.evidence.model import PROXY_NOFILE, Evidence, GroupFact, SymptomGroup
from why502.facts.edits import (
    AddResolver,
    Intent,
    KeepIdleConnections,
    Place,
    RaiseConnectionLimit,
    RaiseOpenFiles,
    ReturnServers,
    ServerMarks,
    TolerateFailures,
)
from why502.facts.net import split_key
from why502.findings.model import EvidenceItem, Fix
from why502.proxies import Capability
from why502.proxies.base import resolve


def analyze(ev: Evidence) -> list[Candidate]:
    out: list[Candidate] = []
    # servers a health check and a runtime API vouch for are judged from their states, by the
    # proxy's own analyze plug-in (Hooks.analyze: HAProxy's DOWN reasons and runtime API)
    checked = _checks_plugin(ev)
    for peer, groups in by_peer(groups_of(ev, "no-live-upstreams")).items():
        out.append(checked.all_down(ev, peer, groups) if checked is not None
                   else _all_down(ev, peer, groups))
    if checked is not None:
        out += checked.down_now(ev, {g.peer for g in groups_of(ev, "no-live-upstreams")})
    for peer, groups in by_peer(groups_of(ev, "dns-failure")).items():
        out.append(_dns(ev, peer, groups))
    unreachable = groups_of(ev, "unreachable") + [
        g for g in groups_of(ev, "connect-timeout") if not local_peer(g.peer)]
    for peer, groups in by_peer(unreachable).items():
        out.append(_unreachable(ev, peer, groups))
    for peer, groups in by_peer(groups_of(ev, "port-exhaustion")).items():
        out.append(_ports(ev, peer, groups))
    fd = groups_of(ev, "fd-exhaustion")
    if fd:
        out.append(_fd(ev, fd))
    return out


class _HealthChecks(Protocol):
    """A proxy's ``analyze`` plug-in for servers its health checks take out (``Hooks.analyze``)."""

    def all_down(self, ev: Evidence, name: str | None, groups: list[SymptomGroup]) -> Candidate: ...

    def down_now(self, ev: Evidence, seen: set[str | None]) -> list[Candidate]: ...


def _checks_plugin(ev: Evidence) -> _HealthChecks | None:
    """The proxy's ``analyze`` plug-in when its servers are health-checked
    (``Capability.HEALTH_CHECKED_SERVERS``), resolved by name (``proxies.base.resolve``)."""
    proxy = proxy_of(ev)
    if not proxy.can(Capability.HEALTH_CHECKED_SERVERS) or not proxy.hooks.analyze:
        return None
    return cast("_HealthChecks", resolve(proxy.hooks.analyze))


def local_peer(peer: str | None) -> bool:
    """Whether ``peer`` is on this host (loopback or a unix socket): no route or firewall lies
    between the proxy and it, so a connect to it that times out is a listener that does not
    accept (a full queue), not an unreachable network (``analyzers.capacity``, ``edge_apps``)."""
    if not peer:
        return False
    host, _, path = split_key(peer)
    return path is not None or (host or "").startswith("127.") or host in {"::1", "localhost"}


def _all_down(ev: Evidence, name: str | None, groups: list[SymptomGroup]) -> Candidate:
    group = ev.config.groups.get(name or "")
    marks = proxy_of(ev).can(Capability.CONFIG_SERVER_MARKS)  # down / max_fails in the config
    if group and group.servers and set(group.servers) <= group.down and marks:
        return _down_in_config(ev, group, groups)
    items = [i for g in groups for i in group_items(g)]
    marked = [e for e in ev.all_events if e.kind == "upstream-marked-down"]
    items += [event_item(e, f"{proxy_of(ev).vocabulary.title} marked a server down") for e in marked[:2]]
    marked_groups = [g for g in ev.logs.symptoms if g.symptom == "upstream-marked-down"]
    items += [i for g in marked_groups[:2] for i in group_items(g)]
    members: list[SymptomGroup] = []
    conf = 0.8
    if group:
        items.append(EvidenceItem(kind="config", summary=f"upstream {group.name}: servers "
                                  f"{', '.join(group.servers)}", source=group.file, line=group.line))
        members = [g for g in ev.logs.symptoms if g.peer in group.servers
                   and g.symptom not in {"upstream-marked-down"}]
        for g in members[:3]:
            items += group_items(g, f"{g.count} × {g.symptom} to {g.peer} (what marked it failed)")
        if {g.peer for g in members} >= set(group.servers):
            conf = 0.93  # every server failed: the group is the unit of the outage
        else:
            members = []
    kinds = sorted({g.symptom for g in members})
    why = (f" Each server failed with {', '.join(kinds)}" + (
        ": nothing listens on them, the backends are not running." if kinds == ["connection-refused"]
        else ".") if kinds else " The failures that marked them are the real problem.")
    v = proxy_of(ev).vocabulary
    # the proxy's own failure marking (nginx's max_fails/fail_timeout, Caddy's max_fails/
    # fail_duration), else said in words
    marking = "/".join(w for w in (v.failure_count, v.failure_window) if w) or "how servers are marked failed"
    summary = (f"start the backends of {v.group} " + (name or "") + " (" + ", ".join(
        group.servers if group else ()) + f"), then check {marking} and add a backup "
        "server" if kinds == ["connection-refused"] else "fix what fails on every server (see the "
        f"evidence); then check {marking} and add a backup server")
    # nginx marks servers failed *because* they failed: the failures are the cause, unless the
    # servers answer again while nginx still refuses them (max_fails/fail_timeout are the problem)
    recovered = bool(group) and all(_answers_now(ev, s) for s in group.servers) if group else False
    caused_by = claims(members) if members and not recovered else frozenset()
    lookups = [] if members else lookups_that_emptied(ev, groups)
    if lookups:
        caused_by = claims(lookups)
        items += [i for g in lookups[:2] for i in group_items(
            g, f"{g.count} × the lookup of {g.peer or 'the upstream name'} failed at the same time")]
    fix_diff = fix_file = None
    notes: list[str] = []
    if recovered and group and members and marks:
        # they answer again, nginx still refuses them: max_fails/fail_timeout are the problem
        why, summary, fix_diff, fix_file, notes = _marking_is_the_problem(ev, group)
        conf = max(conf, 0.93)
    return Candidate(finding=make_finding(
        "all-upstreams-down", confidence=conf, groups=groups + marked_groups + members,
        explanation=(f"Every server of {v.group} {name} was marked failed ({v.failure_count} within "
                     f"{v.failure_window}) or down, so {v.title} had no server to try and answered "
                     "502 at once." if marks else
                     # the proxy's own rule (Apache's retry=, Caddy's health checks)
                     (v.all_failed or "Every server of {name} was marked failed, so "
                      f"{v.title} had none to try.").format(name=name or "the backend")) + why,
        evidence=items,
        fix=Fix(summary=summary,
                commands=proxy_of(ev).show_group_commands(name),
                diff=fix_diff, file=fix_file, notes=notes),
        upstream=name, target=name), claims=claims(groups + marked_groups + members),
        caused_by=caused_by, shows=tuple(groups),
        link=f"then {proxy_name(ev.proxy)} marked every server of {v.group} {name} failed"
             + (f" ({v.failure_count})" if v.failure_count else "")
             + (f" and answered {v.no_server_answer}" if v.no_server_answer else ""))


def _server_places(group: GroupFact) -> tuple[Place, ...]:
    """Where each server line of ``group`` is, in the order of its servers."""
    return tuple(Place(*group.server_lines[k]) for k in group.servers if k in group.server_lines)


def _edit_servers(ev: Evidence, group: GroupFact, intent: Intent, by_hand: str
                  ) -> tuple[str | None, str | None, list[str]]:
    """The proxy's diff of ``intent`` on the server lines of ``group`` (one file: the first
    server's, which the fix names), and the note when the proxy writes no such change."""
    places = _server_places(group)
    diff, notes = edit(ev, intent, by_hand) if places else (None, [])
    return (diff, places[0].file, notes) if diff else (None, None, notes)


def _down_in_config(ev: Evidence, group: GroupFact, groups: list[SymptomGroup]) -> Candidate:
    """Every server of the group is marked ``down`` in the config: nginx never tries them and
    answers 502 'no live upstreams' at once (``ngx_http_upstream_get_round_robin_peer()`` skips
    ``peer->down``; ngx_http_upstream_round_robin.c).  The config is the cause, not a failure."""
    items = [i for g in groups for i in group_items(g)]
    for key in group.servers:
        file, line = group.server_lines.get(key, (group.file, group.line))
        items.append(EvidenceItem(kind="config", summary=f"server {key} is marked down in upstream "
                                  f"{group.name}", source=file, line=line))
    diff, path, notes = _edit_servers(ev, group, ReturnServers(_server_places(group)),
                                      "take the mark that disables them off the servers' lines")
    proxy = proxy_of(ev)
    title = proxy.vocabulary.title
    return Candidate(finding=make_finding(
        "all-upstreams-down", confidence=0.95, groups=groups,
        explanation=f"Every server of upstream {group.name} is marked `down` in the config, so "
                    f"{title} tries none of them and answers 502 'no live upstreams' to every request. "
                    "No backend failed: the config is the cause (a maintenance flag left in place).",
        evidence=items,
        fix=Fix(summary=f"remove `down` from the servers of upstream {group.name} (or add a server "
                        f"that is not down), then reload {title}",
                commands=[*proxy.show_group_commands(group.name), *reload_commands(ev)],
                diff=diff, file=path, notes=notes),
        upstream=group.name, target=group.name), claims=claims(groups))


def _marking_is_the_problem(ev: Evidence, group: GroupFact
                            ) -> tuple[str, str, str | None, str | None, list[str]]:
    """The servers answer again, nginx still refuses them: each was taken out for
    ``fail_timeout`` after ``max_fails`` failed attempts (ngx_http_upstream_free_round_robin_peer()
    counts fails; ..._get_peer() skips a peer with ``fails >= max_fails`` within ``fail_timeout``).
    With ``max_fails=1`` one refused connection during a restart does it."""
    marks = sorted({(group.max_fails.get(k, 1), group.fail_timeout.get(k, 10.0)) for k in group.servers})
    said = ", ".join(f"max_fails={m} fail_timeout={t:g}s" for m, t in marks)
    why = (f" The servers answer again, but {proxy_of(ev).vocabulary.title} keeps each out for "
           "fail_timeout after max_fails "
           f"failed attempts ({said}): the marking, not the backends, fails these requests now.")

    servers = tuple(ServerMarks(Place(*group.server_lines[k]), max(3, group.max_fails.get(k, 1)),
                                min(10.0, group.fail_timeout.get(k, 10.0)))
                    for k in group.servers if k in group.server_lines)
    diff, path, notes = _edit_servers(ev, group, TolerateFailures(servers),
                                      "let a server fail 3 times within 10s before it is taken out")
    summary = (f"raise max_fails (3) and shorten fail_timeout (10s) on the servers of upstream "
               f"{group.name} so one failed attempt during a restart does not take a server out; "
               "restart servers one at a time")
    return why, summary, diff, path, notes


def _answers_now(ev: Evidence, server: str) -> bool:
    """Does ``server`` take connections now (an ok probe, or a listener on this host)?"""
    probe = (ev.live.probes or {}).get(server)
    if probe is not None:
        return probe.connect_state == "ok"
    return bool(ev.listeners_for(server))


def _dns(ev: Evidence, peer: str | None, groups: list[SymptomGroup]) -> Candidate:
    target = ev.target(peer)
    items = [i for g in groups for i in group_items(g)]
    text = " ".join(s.text for g in groups for s in g.samples)
    no_resolver = "no resolver defined" in text
    variable = [t for t in ev.config.targets if t.uses_variables]
    probe = ev.live.probes.get(peer) if ev.live.probes and peer else None
    if probe:
        items.append(probe_item(peer, probe))
    if target:
        items.append(config_item(target))
    diff, notes = None, list[str]()
    if no_resolver and variable:
        t = variable[0]
        items.append(config_item(t, f"{t.kind}_pass with variables and no resolver"))
        # the host's own nameserver (/etc/resolv.conf) when read; else systemd-resolved's stub
        ns = ev.host.resolvers[0] if ev.host.resolvers else "127.0.0.53"
        diff, notes = edit(ev, AddResolver(route_of(t), ns),
                           f"make {proxy_of(ev).vocabulary.title} resolve the name at run time ({ns})")
    host = split_key(peer)[0] if peer else None
    return Candidate(finding=make_finding(
        "dns-unresolvable", confidence=0.9 if probe and not probe.ok else 0.8, groups=groups,
        explanation=(f"proxy_pass uses variables, so {proxy_of(ev).vocabulary.title} resolves the name "
                     "per request and needs a 'resolver' directive, which is missing." if no_resolver else
                     f"The upstream name {host or peer} does not resolve, so "
                     f"{proxy_of(ev).vocabulary.title} cannot connect."),
        evidence=items,
        fix=Fix(summary="add a resolver for the variable proxy_pass" if no_resolver else
                f"fix the name {host or ''} (typo, DNS record, /etc/hosts) or use an address",
                commands=[f"getent hosts {host or '<name>'}", *reload_commands(ev)],
                diff=diff, file=(variable[0].pass_file or variable[0].file) if diff else None,
                notes=notes),
        upstream=upstream_name(ev, peer), target=peer), claims=claims(groups))


def _unreachable(ev: Evidence, peer: str | None, groups: list[SymptomGroup]) -> Candidate:
    host = split_key(peer)[0] if peer else None
    items = [i for g in groups for i in group_items(g)]
    probe = ev.live.probes.get(peer) if ev.live.probes and peer else None
    if probe:
        items.append(probe_item(peer, probe))
    target = ev.target(peer)
    if target:
        items.append(config_item(target))
    return Candidate(finding=make_finding(
        "network-unreachable", confidence=0.8 if probe and not probe.ok else 0.7, groups=groups,
        explanation=f"The route to {peer} is down or filtered: packets do not reach the backend "
                    "host (host down, firewall dropping/rejecting, no route).",
        evidence=items,
        fix=Fix(summary=f"restore the route/host or open the firewall towards {peer}",
                commands=[f"ip route get {host or '<host>'}", f"ping -c2 {host or '<host>'}",
                          "iptables -S | head -50"]),
        upstream=upstream_name(ev, peer), target=peer), claims=claims(groups))


def _ports(ev: Evidence, peer: str | None, groups: list[SymptomGroup]) -> Candidate:
    items = [i for g in groups for i in group_items(g)]
    rng = ev.host.sysctls.get("net.ipv4.ip_local_port_range")
    if rng:
        items.append(EvidenceItem(kind="process", summary=f"net.ipv4.ip_local_port_range = {rng}",
                                  source="/proc/sys/net/ipv4/ip_local_port_range"))
    tw = ev.host.time_wait.get(peer or "", 0)
    if tw:
        items.append(EvidenceItem(kind="stat", summary=f"{tw} sockets to {peer} in TIME_WAIT", count=tw))
    target = ev.target(peer)
    diff, notes = None, list[str]()
    v = proxy_of(ev).vocabulary
    upstreams = ev.config.groups
    if target and target.group and target.group in upstreams and not upstreams[target.group].keepalive:
        g = upstreams[target.group]
        members = tuple(route_of(m) for m in ev.config.targets if m.group == g.name)
        diff, notes = edit(ev, KeepIdleConnections(g.name, Place(g.file, g.line), members),
                           f"keep idle connections to {v.group} {g.name} for reuse")
    return Candidate(finding=make_finding(
        "port-exhaustion", confidence=0.85, groups=groups,
        explanation=f"Every local ephemeral port towards {peer} is in use (most in TIME_WAIT), so "
                    "connect() fails with EADDRNOTAVAIL: each request opens a new connection.",
        evidence=items,
        fix=Fix(summary=f"reuse connections: {v.reuse_connections or 'keep idle connections to the backend'}"
                        "; widen the port range",
                commands=[f"ss -tan state time-wait dst {(peer or '').split(':')[0]} | wc -l",
                          "sysctl -w net.ipv4.ip_local_port_range='1024 65000'"], diff=diff, notes=notes),
        upstream=upstream_name(ev, peer), target=peer), claims=claims(groups))


def _fd(ev: Evidence, groups: list[SymptomGroup]) -> Candidate:
    items = [i for g in groups for i in group_items(g)]
    s = ev.config.max_open_files
    wc = ev.config.max_connections
    proxy = proxy_of(ev)
    v = proxy.vocabulary
    nofile = ev.host.limits.get(PROXY_NOFILE)
    if nofile:
        items.append(EvidenceItem(kind="process", summary=f"{v.title} worker open-files limit {nofile}"))
    if wc:
        items.append(EvidenceItem(kind="config", summary=f"worker_connections {wc.value}",
                                  source=wc.file, line=wc.line))
    text = " ".join(x.text for g in groups for x in g.samples)
    conns = "worker_connections are not enough" in text
    diff, notes = None, list[str]()
    if conns and wc and wc.file and not wc.is_default:
        n = int(wc.value) * 4 if wc.value.isdigit() else 4096
        diff, notes = edit(ev, RaiseConnectionLimit(wc, n), f"raise its connections per process to {n}")
    elif ev.config.main_file and (s is None or s.is_default):
        diff, notes = edit(ev, RaiseOpenFiles(ev.config.main_file),
                           "raise its workers' open-files limit (and LimitNOFILE= of its unit)")
    return Candidate(finding=make_finding(
        "fd-limit", confidence=0.9, groups=groups,
        explanation=(f"{v.title} ran out of worker_connections (each proxied request needs two)."
                     if conns else f"{v.title} workers hit their open-files limit, so socket() fails "
                     f"and {v.title} answers 500."),
        evidence=items,
        fix=Fix(summary="raise worker_rlimit_nofile / worker_connections"
                        + (f" (and LimitNOFILE= of {v.service})" if v.service else ""),
                commands=[*(f"cat /proc/$(pgrep -o {prog})/limits | grep files"
                            for prog in proxy.detection.programs[:1]), *reload_commands(ev)],
                diff=diff, file=ev.config.main_file if diff else None, notes=notes)), claims=claims(groups))
