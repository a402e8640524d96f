"""Config-caused failures: buffer-too-small, keepalive-misconfigured, keepalive-race.

- ``upstream sent too big header while reading response header from upstream``: the status line
  and headers did not fit ``proxy_buffer_size`` (default one memory page, 4k/8k;
  ``ngx_http_proxy_module.c`` ``ngx_http_proxy_merge_loc_conf``), 502.
- Upstream ``keepalive`` only keeps connections open when nginx speaks HTTP/1.1 and does not send
  ``Connection: close`` (nginx's default for proxied requests is HTTP/1.0 + ``Connection: close``;
  docs: ngx_http_upstream_module ``keepalive``).
- With keep-alive working, a backend whose idle timeout is shorter than nginx's reuse window closes
  the connection just as nginx reuses it: sporadic resets / premature closes.
"""

from __future__ import annotations

from dataclasses import replace

from why502 import proxies
from why502.analyzers import edge_apps, keepalive
from why502.analyzers.base import (
    Candidate,
    by_peer,
    claims,
    config_item,
    edit,
    group_items,
    groups_of,
    make_finding,
    proxy_name,
    reload_commands,
    route_of,
    upstream_name,
)
from why502.evidence.lb_evidence import TargetLife
from why502.evidence.model import Evidence, SymptomGroup, TargetFact
from why502.facts.edits import Place, RaiseHeaderBuffer, ReuseConnections
from why502.facts.setting import Setting
from why502.findings.model import EvidenceItem, Fix
from why502.proxies.base import Capability

_UNITS = {"k": 1024, "K": 1024, "m": 1024 * 1024, "M": 1024 * 1024}


def size_bytes(value: str | None) -> int | None:
    """nginx size value (``4k``, ``8K``, ``1m``, ``4096``) in bytes (``ngx_parse_size``)."""
    if not value:
        return None
    v = value.strip()
    mult = _UNITS.get(v[-1:], 1)
    digits = v[:-1] if v[-1:] in _UNITS else v
    return int(digits) * mult if digits.isdigit() else None


def over_header_limit(ev: Evidence, peer: str | None) -> int | None:
    """The live probe's response-header size from ``peer`` when it is more than the proxy takes
    (``ConfigFacts.header_limit``), else None.

    A proxy whose word for a refused response does not say why (HAProxy's ``PH``: "the proxy
    blocked the server's response, because it was invalid, incomplete, dangerous",
    configuration.txt 8.5) refuses headers that do not fit its buffer with the same word as a
    malformed one; a probe that gets a well-formed answer whose headers end past the buffer
    says which (src/http_ana.c http_wait_for_response(): the buffer full before the headers
    end, 502)."""
    probe = ev.live.probes.get(peer) if ev.live.probes and peer else None
    limit = ev.config.header_limit
    if probe is None or limit is None or probe.answer != "http" or not probe.header_bytes:
        return None
    return probe.header_bytes if probe.header_bytes > limit[0] else None


def analyze(ev: Evidence) -> list[Candidate]:
    out: list[Candidate] = []
    for peer, groups in by_peer(groups_of(ev, "header-too-big")).items():
        out.append(_buffer(ev, peer, groups))
    for peer, groups in by_peer(groups_of(ev, "invalid-response")).items():
        needed = over_header_limit(ev, peer)
        if needed:
            out.append(_over_limit(ev, peer, groups, needed))
    out += _keepalive(ev)
    return out


def _buffer(ev: Evidence, peer: str | None, groups: list[SymptomGroup]) -> Candidate:
    target = ev.target(peer)
    kind = target.kind if target else "proxy"
    name = f"{kind}_buffer_size"
    setting = target.settings.get(name) if target else None
    current = size_bytes(setting.value) if setting else 4096
    current = current or 4096
    probe = ev.live.probes.get(peer) if ev.live.probes and peer else None
    needed = probe.header_bytes if probe and probe.header_bytes else None
    # The error line does not say how big the header was.  Without a measured size, 16k covers
    # the usual offenders (large cookies, CSP) with room; with one, the next power of two above it.
    new_bytes = max(current * 2, 16384)
    if needed:
        new_bytes = max(current * 2, 8192)
        while new_bytes < needed + 1024:
            new_bytes *= 2
    new = f"{new_bytes // 1024}k"
    items = [i for g in groups for i in group_items(g)]
    items.append(EvidenceItem(
        kind="config", summary=f"{name} {setting.value if setting else '4k'}"
        + (f" ({proxies.of(ev.proxy).vocabulary.title} default: one memory page)"
           if setting is None or setting.is_default else ""),
        source=setting.file if setting and not setting.is_default else (target.file if target else None),
        line=setting.line if setting and not setting.is_default else (target.line if target else None)))
    if needed:
        items.append(EvidenceItem(kind="probe", summary=f"the backend's response header is {needed} "
                                  f"bytes, more than {current}", source="probe"))
    diff, notes = None, list[str]()
    v = proxies.of(ev.proxy).vocabulary
    if target:
        # the proxy writes the buffer (and what must grow with it) in its grammar
        diff, notes = edit(ev, RaiseHeaderBuffer(route_of(target), setting, new_bytes),
                           f"make the buffer that holds the backend's response headers {new} for "
                           f"this {v.route}, or send smaller headers")
    return Candidate(finding=make_finding(
        "buffer-too-small", confidence=0.93, groups=groups,
        explanation=f"The response headers from {peer or 'the backend'} (often many or large "
                    f"Set-Cookie / CSP headers) did not fit {name} ({setting.value if setting else '4k'}), "
                    f"so {v.title} refused the response with 502.",
        evidence=items,
        fix=Fix(summary=f"raise {name} to {new} for this location (or send smaller headers)",
                commands=[*reload_commands(ev),
                          f"curl -sI http://{peer or 'backend'}/ | wc -c  # header size"],
                diff=diff, file=(target.pass_file or target.file) if target else None, notes=notes),
        upstream=upstream_name(ev, peer), target=peer), claims=claims(groups))


def _over_limit(ev: Evidence, peer: str | None, groups: list[SymptomGroup], needed: int) -> Candidate:
    """buffer-too-small from a refused response: the proxy's limit, as its config sets it, and
    the probe's measured header (``needed``: ``over_header_limit``'s answer)."""
    assert ev.config.header_limit is not None
    limit, setting = ev.config.header_limit
    who = proxy_name(ev.proxy)
    items = [i for g in groups for i in group_items(g)]
    items.append(EvidenceItem(kind="probe", summary=f"a probe of {peer} got a well-formed HTTP answer "
                              f"whose headers are {needed} bytes, more than {limit}", source="probe"))
    items.append(EvidenceItem(kind="config", summary=f"{setting.value}: {limit} bytes for response headers",
                              source=setting.file, line=setting.line))
    new = 1 << (needed + limit // 15).bit_length()  # the next power of two above, with the rewrite room
    return Candidate(finding=make_finding(
        "buffer-too-small", confidence=0.93, groups=groups,
        explanation=f"{peer or 'The backend'} answers well-formed HTTP, but its response headers "
                    f"({needed} bytes: often large Set-Cookie or CSP headers) do not fit the "
                    f"{limit} bytes {who} keeps for them ({setting.value}), so {who} refused the "
                    "response and answered 502.",
        evidence=items,
        fix=Fix(summary=f"raise the buffer that holds the response headers ({setting.value.split()[0]} "
                        f"{new}) or send smaller headers",
                commands=[*reload_commands(ev),
                          f"curl -s -D - -o /dev/null http://{peer or 'backend'}/ | wc -c  # header size"]),
        upstream=upstream_name(ev, peer), target=peer, status_codes=[502]), claims=claims(groups))


def _keepalive_ok(t: TargetFact, requires: tuple[tuple[str, str, str, str, str], ...]
                  ) -> tuple[bool, list[tuple[str, str]]]:
    """Is upstream keep-alive effective for this route?  ``requires``: what the proxy declares a
    route of each kind needs for it (``Vocabulary.reuse_requires``: nginx's HTTP/1.1 and empty
    Connection header, FastCGI's keep_conn).  Returns (ok, (statement, ``ReuseConnections``
    field) of each missing)."""
    missing = []
    for kind, name, wanted, statement, flag in requires:
        if kind != t.kind:
            continue
        setting = t.settings.get(name)
        if setting is None or setting.value.strip("\"'") != wanted:
            missing.append((statement, flag))
    return not missing, missing


def _keepalive(ev: Evidence) -> list[Candidate]:
    out: list[Candidate] = []
    p = proxies.of(ev.proxy)
    v = p.vocabulary
    # a proxy that keeps idle connections unless told not to (Caddy) needs no opt-in for them
    opt_in = Capability.KEEPALIVE_BY_DEFAULT not in p.capabilities
    by_key = {t.key: t for t in ev.config.targets}
    drop_symptoms = ("connection-reset", "premature-close", "broken-pipe")
    exhaustion = groups_of(ev, "port-exhaustion")
    by_group: dict[str, list[TargetFact]] = {}  # one pass: a scan of all targets per group was quadratic
    for t in ev.config.targets:
        if t.group:
            by_group.setdefault(t.group, []).append(t)
    for gname, group in ev.config.groups.items():
        if not group.keepalive:
            continue
        # a group of one upstream (Caddy's reverse_proxy with one dial address) is named by its
        # target only: its members are its servers
        members = by_group.get(gname) or [by_key[k] for k in group.servers if k in by_key]
        if not members:
            continue
        peers = set(group.servers) | {gname}
        related = [g for g in ev.logs.symptoms if g.peer in peers]
        bad = next(((t, missing) for t in members
                    for ok, missing in (_keepalive_ok(t, v.reuse_requires),) if not ok),
                   None) if opt_in else None
        if bad:
            t, wanting = bad
            missing = [statement for statement, _flag in wanting]
            tw = sum(ev.host.time_wait.get(p, 0) for p in group.servers)
            claimed = [g for g in exhaustion if g.peer in peers]
            # Ineffective keepalive is a defect even before it bites (every request opens a new
            # connection and leaves a TIME_WAIT socket); it becomes the cause once ports run out.
            conf = 0.75 if claimed or tw >= 1000 else 0.5
            items = [EvidenceItem(kind="config", summary=f"{v.group} {gname} has keepalive "
                                  f"{group.keepalive}", source=group.file, line=group.line),
                     config_item(t, f"proxy_pass to {gname} without {' '.join(missing)}")]
            if tw:
                items.append(EvidenceItem(kind="stat", summary=f"{tw} sockets to {gname} in TIME_WAIT",
                                          count=tw))
            items += [i for g in claimed for i in group_items(g)]
            diff, notes = edit(ev, ReuseConnections(route_of(t), **{flag: True for _s, flag in wanting}),
                               " ".join(missing))
            out.append(Candidate(finding=make_finding(
                "keepalive-misconfigured", confidence=conf, groups=claimed,
                explanation=f"{v.group} {gname} asks for keep-alive connections, but "
                            f"{v.reuse_off_by_default}, so every "
                            "request opens a new connection (and leaves a TIME_WAIT socket).",
                evidence=items,
                fix=Fix(summary=v.reuse_fix, commands=reload_commands(ev), diff=diff,
                        file=t.pass_file or t.file, notes=notes),
                upstream=gname, target=t.key), claims=claims(claimed)))
            continue
        drops = [g for g in related if g.symptom in drop_symptoms]
        if not drops:
            continue
        total = sum(ev.logs.access[k].requests for k in (gname, *group.servers) if k in ev.logs.access)
        n = sum(g.count for g in drops)
        ok = sum(c for k in (gname, *group.servers) if k in ev.logs.access
                 for st, c in ev.logs.access[k].statuses.items() if 200 <= st < 400)
        sporadic = bool(total) and n / total < 0.05
        items = [i for g in drops for i in group_items(g)]
        kt = group.keepalive_timeout
        knob = v.keepalive_timeout
        items.append(EvidenceItem(kind="config", summary=f"{v.group} {gname} keeps {group.keepalive} "
                                  f"{v.keepalive_pool} for {knob} "
                                  + (f"{kt.value}" + (" (default)" if kt.is_default else "") if kt
                                     else "60s (default)"),
                                  source=kt.file if kt and kt.file else group.file,
                                  line=kt.line if kt and kt.line else (group.keepalive_line or group.line)))
        alive = None
        if total:
            said = "sporadic, not a dead backend" if sporadic else (
                f"{ok} others were answered by the same backend: it is alive" if ok else "")
            items.append(EvidenceItem(kind="stat", summary=f"{n} of {total} requests failed "
                                      f"({100 * n / total:.1f}%)" + (f": {said}" if said else "")))
            alive = said if ok and not sporadic else None
        if opt_in and any(" \"POST " in x.text or "\"POST " in x.text for g in drops for x in g.samples):
            items.append(EvidenceItem(kind="stat", summary=f"the failed requests are POSTs: {v.title} "
                                      "does not retry a non-idempotent request on another "
                                      "connection (proxy_next_upstream without non_idempotent)"))
        elif any('"method":"POST"' in x.text for g in drops for x in g.samples):
            # Go's http.Transport retries a request on a reused connection only when it is
            # idempotent (net/http transport.go ``shouldRetryRequest``, ``isReplayable``)
            items.append(EvidenceItem(kind="stat", summary=f"the failed requests are POSTs: {v.title} "
                                      "(Go's http.Transport) does not resend a non-idempotent request "
                                      "on a fresh connection"))
        seen = ev.logs.client_5xx
        edge_requests = sum(fam.requests for fam in ev.edge.families)
        edge_5xx = sum(n for fam in ev.edge.families for st, n in fam.statuses.items() if st >= 500)
        mostly_ok = ((seen is not None and seen.requests > 2 * seen.total)
                     or edge_requests > 2 * edge_5xx)
        around = _edge_answered_around(ev, members) if not total else None
        if around is not None:
            # the access log names no upstream, but the config has one: it answered before
            # and after the drops, which a crashed backend does not do unless restarted
            alive = (f"{members[0].key}, the config's only upstream, answered {around.ok:,} requests, "
                     f"also after these failures ({around.failed:,} failed): the access log, whose "
                     "lines name no upstream, shows it alive between them")
            items.append(EvidenceItem(kind="stat", summary=alive))
        # nginx's upstream keepalive_timeout is 60s when unset (ngx_http_upstream_keepalive_module.c
        # ngx_http_upstream_keepalive_init: ngx_conf_init_msec_value(kcf->timeout, 60000))
        idle = kt if kt is not None else Setting("60s", is_default=True)
        # the one weighing, wording and fix of the race (analyzers.keepalive)
        found = keepalive.race(ev, keepalive.Reuse(
            proxy=p, name=v.title, group=gname, members=tuple(members), idle=idle,
            by_default=not opt_in, alive=alive, sporadic=sporadic, mostly_ok=mostly_ok, items=items,
            commands=reload_commands(ev),
            group_place=Place(group.file, group.line) if opt_in and group.file and group.line else None,
            keepalive_line=group.keepalive_line))
        # a group of one that has no name of its own (Caddy's): the backend is its target
        one = members[0].key if len(members) == 1 and not members[0].group else None
        finding = make_finding(
            "keepalive-race", confidence=found.confidence, groups=drops,
            explanation=found.explanation, evidence=found.evidence, fix=found.fix,
            upstream=one or gname, target=one)
        out.append(Candidate(finding=replace(finding, title=found.title), claims=claims(drops),
                             fallback=found.refuted))
    return out


def _edge_answered_around(ev: Evidence, members: list[TargetFact]) -> TargetLife | None:
    """The answers of an edge access log (Caddy's, whose lines name no upstream) around the
    drops, when the group has one member: ``edge_apps.answered_around``, the one test of it
    (the edge's own findings are refined by the same)."""
    if len(members) != 1:
        return None
    for fam in ev.edge.families:
        life = edge_apps.answered_around(ev, fam, members[0].key)
        if life is not None:
            return life
    return None
