"""The findings of an edge proxy's own log (``analyzers.cloud_lb``) joined to its config, when
one was given (``diagnose --config envoy.yaml --access-log ...``): the group (Envoy's cluster)
and the target's config line named, the route's response timeout with the file:line it is set on
(or the proxy's default), and for a timeout the diff that raises it (``Proxy.timeout_diff``).

Proxy-neutral: what a group, a route and the timeout are called comes from the proxy's
vocabulary (``why502.proxies``); the facts are ``TargetFact``/``GroupFact``.  Pure."""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import replace

from why502.evidence.model import GroupFact, TargetFact
from why502.facts.live_group import GroupLive
from why502.findings.model import EvidenceItem, Finding, Fix
from why502.proxies import of


def with_config(findings: Sequence[Finding], proxy: str, targets: Sequence[TargetFact],
                groups: Mapping[str, GroupFact], files: Mapping[str, tuple[str, ...]],
                live: Mapping[str, GroupLive] | None = None) -> list[Finding]:
    """``findings`` with the config's facts about their target and group, and what the proxy's
    admin API says of that group now (``live``: :func:`with_live`)."""
    p = of(proxy)
    v = p.vocabulary
    by_key = {t.key: t for t in targets}
    out: list[Finding] = []
    for f in findings:
        t = by_key.get(f.target or "")
        group = f.upstream or (t.group if t else None)
        if t is None and group is not None:
            t = next((x for x in targets if x.group == group), None)
        if t is None and (group is None or group not in groups):
            # the log line names no upstream (Envoy's UH/UT lines, Caddy's access log: its
            # "host" is the site's): the request's path picks the route that sent it
            t = _routed(f, targets)
            if t is not None:
                group = t.group or t.key
                f = replace(f, target=f.target or t.key)
        state = (live or {}).get(group or "")
        if state is not None:
            f = with_live(f, state, v.group)
        if t is None:
            out.append(f)
            continue
        items: list[EvidenceItem] = []
        # a group of one (Caddy's reverse_proxy with one upstream) has no name of its own
        named = f"{v.group} {t.group}" if t.group else f"its {v.group}"
        g = groups.get(group or "")
        if g is not None:
            items.append(EvidenceItem(kind="config", summary=(
                f"{v.group} {g.name}: {len(g.servers)} {'endpoint' if len(g.servers) == 1 else 'endpoints'}"
                f" ({', '.join(g.servers[:4])})"), source=g.file, line=g.line))
        if t.file and t.line:
            items.append(EvidenceItem(kind="config", summary=f"{t.key} is an endpoint of {named}",
                                      source=t.file, line=t.line))
        name, setting = p.response_timeout(t.settings, t.kind)
        fix = f.fix
        if t.location is not None:
            secs = p.timeout_seconds(setting)
            shown = (f"{setting.value} (default)" if setting is None or setting.is_default
                     else setting.value) if setting else f"{v.timeout_default} (default)"
            items.append(EvidenceItem(kind="config", summary=(
                f"{v.route} {t.location} sends to {named}; its {name} is {shown}"),
                source=setting.file if setting and setting.file else t.pass_file,
                line=setting.line if setting and setting.line else t.pass_line))
            if f.cause == "backend-too-slow" and fix is not None and secs:
                diff = p.timeout_diff(files, name, setting, (t.pass_file, t.pass_line), (t.file, t.line),
                                      max(30, math.ceil(secs * 2)))
                if diff:
                    fix = replace(fix, diff=diff, file=t.pass_file,
                                  summary=f"{fix.summary} If the backend is only slow, raise the {v.route}'s "
                                  f"{name} above the time it needs (the diff doubles it, at least 30s).")
        out.append(replace(f, upstream=group, evidence=[*f.evidence, *items], fix=fix))
    said = {f.upstream for f in out if f.upstream}
    for group_name, state in (live or {}).items():
        if state.all_out and group_name not in said:
            out.append(with_live(_every_host_out(state, p.vocabulary.group, p.vocabulary.title),
                                 state, v.group))
    return out


def _every_host_out(state: GroupLive, group_word: str, title: str) -> Finding:
    """A group whose every host its admin API shows out of load balancing now: a finding of its
    own, even when no request has failed in the logs read (none came yet, or no log was named).
    The proxy answers every request routed to such a group itself, without trying a host (Envoy:
    503 ``no healthy upstream``, ``UH``; source/common/router/router.cc ``Filter::decodeHeaders``
    when the load balancer picks no host), so the host is never "healthy" while it lasts.  The
    state is read now (``facts.live_group``), so the finding says so."""
    hosts = state.hosts
    return Finding(
        cause="all-upstreams-down",
        title=f"Every host of {group_word} {state.name} is out of load balancing (its admin API, now)",
        confidence=0.85, status_codes=[503], symptoms=["no-live-upstreams"],
        explanation=(f"{title} takes a host out of load balancing when it fails its health checks or is "
                     f"ejected by outlier detection; with every host of {group_word} {state.name} out, "
                     f"{title} answers each request routed there itself (503), without trying one."),
        upstream=state.name, target=hosts[0].address if len(hosts) == 1 else None,
        fix=Fix(summary=(f"Find why every host of {group_word} {state.name} fails: check that each "
                         "host answers the health check (its path, port and expected status) and that "
                         f"the app is up; {title} puts a host back after its healthy threshold of good "
                         "checks, or when its ejection time ends.")))


# the counters a cause is read from, and what they prove (facts.live_group: set by the plug-in
# that read the admin API, from the proxy's own stat names)
_PROOF: dict[str, tuple[str, str]] = {
    "backend-not-running": ("connect_failures", "connections to its hosts failed"),
    "workers-exhausted": ("overflows", "requests were refused by its circuit breakers (overflow)"),
    "keepalive-race": ("remote_resets", "connections were closed by the upstream with a request "
                                        "in flight"),
}


def with_live(f: Finding, state: GroupLive, group_word: str) -> Finding:
    """``f`` with its group's live state as evidence: the hosts taken out of balancing (with the
    proxy's own flag words), the counters that are not zero, and -- when they prove the cause
    (every host out for ``all-upstreams-down``, the counter of :data:`_PROOF`) -- a sentence and a
    higher confidence.  Read now, so it says what holds now, not at the log's time."""
    items: list[EvidenceItem] = []
    target = state.host(f.target)
    for h in (state.hosts_out or ())[:4]:
        items.append(EvidenceItem(kind="probe", source=f"{state.source}/clusters", summary=(
            f"admin API /clusters: {group_word} {state.name} host {h.address} health_flags "
            f"{''.join(h.flags)} ({'; '.join(h.reasons)})")))
    if target is not None and not target.out:
        items.append(EvidenceItem(kind="probe", source=f"{state.source}/clusters", summary=(
            f"admin API /clusters: {group_word} {state.name} host {target.address} health_flags "
            + ("".join(target.flags) or "healthy") + " now")))
    shown = {k: n for k, n in state.counters.items() if n}
    if shown:
        items.append(EvidenceItem(kind="probe", source=f"{state.source}/stats", summary=(
            f"admin API /stats: {group_word} {state.name}: "
            + ", ".join(f"{k} {n:,}" for k, n in shown.items()))))
    said: list[str] = []
    conf = f.confidence
    if f.cause == "all-upstreams-down" and state.all_out:
        said.append(f"its admin API shows every host of {group_word} {state.name} out of load "
                    "balancing now (" + "; ".join(sorted({r for h in state.hosts for r in h.reasons}))
                    + ")")
        conf = max(conf, 0.95)
    proof = _PROOF.get(f.cause)
    if proof is not None and getattr(state, proof[0]):
        said.append(f"its admin API counts {getattr(state, proof[0]):,} times that {proof[1]} "
                    f"in {group_word} {state.name}")
        conf = max(conf, 0.93)
    ejected = [h for h in state.hosts_out if h.ejected]
    if ejected:
        said.append("outlier detection has ejected " + ", ".join(h.address for h in ejected[:3])
                    + ": no request goes there until its ejection time ends")
    explanation = f.explanation + ("" if not said else " Now, " + "; ".join(said) + ".")
    return replace(f, evidence=[*f.evidence, *items], confidence=conf, explanation=explanation)


# The request's path in an edge log line: Envoy's default format ``"GET /api/x HTTP/1.1"``
# (source/common/formatter: DEFAULT_FORMAT), Caddy's JSON access/error log ``"uri":"/api/x"``
# (modules/caddyhttp/marshalers.go LoggableHTTPRequest).
_REQUEST = re.compile(r'"[A-Z]+ (/[^ "?]*)[^"]* HTTP/[\d.]+"|"uri":\s*"(/[^"?]*)')


def _routed(f: Finding, targets: Sequence[TargetFact]) -> TargetFact | None:
    """The target of the route every sampled request of ``f`` matches (the longest route path
    that prefixes the request path: an Envoy ``prefix``, a Caddy ``handle /api/*``), or None when
    the samples name no path or go to different targets."""
    paths = {m.group(1) or m.group(2) for e in f.evidence if e.text
             for m in [_REQUEST.search(e.text)] if m}
    chosen: set[str] = set()
    found: TargetFact | None = None
    for path in paths:
        best: TargetFact | None = None
        longest = 0
        for t in targets:
            loc = _route_path(t.location)
            if loc and path.startswith(loc) and len(loc) > longest:
                best, longest = t, len(loc)
        if best is None:
            return None
        chosen.add(best.group or best.key)
        found = best
    return found if len(chosen) == 1 else None


def _route_path(location: str | None) -> str:
    """The path prefix a target's route matches: Envoy's facts say ``prefix /api`` or ``path
    /x`` (proxies.envoy.facts), Caddy's ``/api/*`` (a handle's path matcher)."""
    loc = location or ""
    kind, _, rest = loc.partition(" ")
    if rest and kind in ("prefix", "path"):
        return rest
    return loc.rstrip("*") if loc.startswith("/") else ""
