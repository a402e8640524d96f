"""The backend answered, badly: upstream-returned-5xx, app-fatal-error.

nginx writes its own 502/504 into ``$upstream_status`` too, so the only proof that the backend
produced a 5xx is "no error-log line for it and a numeric ``$upstream_header_time``"
(``ngx_http_upstream.c``: ``header_time`` is set only when ``process_header`` returned OK;
``ngx_http_upstream_response_time_variable()`` prints ``-`` otherwise).  PHP's fatal errors reach
nginx as ``FastCGI sent in stderr: "PHP message: PHP Fatal error: ..."``
(``ngx_http_fastcgi_module.c`` ``ngx_http_fastcgi_process_header()``).
"""

from __future__ import annotations

from dataclasses import replace

from why502.analyzers.apps import killed_at_own_limit
from why502.analyzers.base import (
    Candidate,
    by_peer,
    claims,
    config_item,
    group_items,
    groups_of,
    make_finding,
    probe_item,
    proxy_name,
    proxy_of,
    upstream_name,
)
from why502.evidence.model import Evidence, LocationOutcome, UpstreamTiming
from why502.findings.model import EvidenceItem, Finding, Fix

_FATAL = ("fatal", "uncaught", "exception", "traceback", "allowed memory size", "maximum execution")


def analyze(ev: Evidence) -> list[Candidate]:
    out: list[Candidate] = []
    for peer, groups in by_peer(groups_of(ev, "app-error")).items():
        fatal = [g for g in groups if any(k in (s.text.lower()) for s in g.samples for k in _FATAL)
                 or any(k in (g.message or "").lower() for k in _FATAL)]
        if not fatal:
            continue
        items = [i for g in fatal for i in group_items(g)]
        target = ev.target(peer)
        if target:
            items.append(config_item(target))
        out.append(Candidate(finding=make_finding(
            "app-fatal-error", confidence=0.85, groups=fatal,
            explanation="The application itself failed these requests (its fatal error is in "
                        f"{proxy_name(ev.proxy)}'s error log via FastCGI stderr); "
                        f"{proxy_name(ev.proxy)} and the connection are fine.",
            evidence=items,
            fix=Fix(summary="fix the error in the application code or its config (the message names "
                            "the file and line)",
                    commands=[f"grep -F 'PHP Fatal' {_error_log(ev)} | tail -5",
                              "tail -50 /var/log/php*-fpm.log"]),
            upstream=upstream_name(ev, peer), target=peer, status_codes=[500]),
            claims=claims(fatal)))
    failing_peers = {g.peer for g in ev.logs.symptoms}
    for name, timing in ev.logs.access.items():
        made = sum(n for s, n in timing.backend_5xx.items() if s in (500, 502, 503, 504))
        if not made or killed_at_own_limit(ev, name, timing):
            # the app server's own time limit made them (capacity: backend-too-slow)
            continue
        group = ev.config.groups.get(name)
        related = failing_peers & ({name} | set(group.servers if group else ()))
        conf = 0.85 if not related else 0.5
        items = [EvidenceItem(
            kind="stat", summary=f"access log: {made} responses from {name} with status "
            + ", ".join(f"{s}×{n}" for s, n in sorted(timing.backend_5xx.items()))
            + " carry a numeric $upstream_header_time (the backend sent them)", count=made)]
        items += [EvidenceItem(kind="log", summary="access-log line", source=s.file, line=s.line,
                               text=s.text, time=s.time.isoformat() if s.time else None)
                  for s in timing.samples[:2]]
        if not related:
            items.append(EvidenceItem(kind="stat", summary=f"no nginx error-log line for {name}: "
                                      "nginx itself saw nothing wrong"))
        target = ev.target(name)
        if target:
            items.append(config_item(target))
        finding = make_finding(
            "upstream-returned-5xx", confidence=conf, groups=[],
            explanation=f"The 5xx came from the backend behind {name} (or a proxy behind it): it sent "
                        "a complete response with that status and nginx passed it through.",
            evidence=items,
            fix=Fix(summary="look at the backend's own logs for these requests; nginx is only the "
                            "messenger", commands=["journalctl -u <backend unit> --since -1h"]),
            upstream=name, target=target.key if target else None,
            status_codes=sorted(s for s in timing.backend_5xx if s >= 500))
        out.append(Candidate(finding=_with_count(finding, made, timing)))
    if not ev.logs.access_has_upstream:
        out += [c for loc in ev.logs.locations_5xx if (c := _location_made_5xx(ev, loc, failing_peers))]
    return out


def _location_made_5xx(ev: Evidence, loc: LocationOutcome, failing: set[str | None]) -> Candidate | None:
    """A backend answering 5xx itself behind an access log without upstream fields (``combined``).

    Three facts together: the access log's 5xx of one location that no error-log line claims,
    the error log's silence about that location's target (nginx logs nothing when a backend sends
    a complete response, whatever its status: ``ngx_http_upstream_process_header()``), and the
    live probe of that target, which got a 5xx status line itself.  Without the probe (offline,
    or the probe's ``GET /`` got another status) the first two still point at the backend -- the
    location passes every request to it and nginx logs each failure of its own at ``error``
    level -- but less surely (an ``error_log`` above ``error`` would hide nginx's own lines).
    """
    unknown = loc.total - loc.by_nginx
    target = ev.location_target(loc.label)
    if unknown <= 0 or target is None or target.key in failing or target.group in failing:
        return None
    if None in failing:
        # error lines that name no upstream (cut at nginx's 2048 bytes, NGX_MAX_ERROR_STR in
        # src/core/ngx_log.h, before their ``upstream:`` field) may be these very 5xx: the
        # error log is not silent, so "the backend made them" is no longer what the logs say
        return None
    probe = (ev.live.probes or {}).get(target.key)
    probed = probe.protocol.status if probe is not None and probe.protocol is not None else None
    seen = probed is not None and probed >= 500
    where = f"location {target.location}" + (f" of {target.server}" if target.server else "")
    statuses = ", ".join(f"{s}×{n}" for s, n in sorted(loc.statuses.items()))
    items = [EvidenceItem(kind="stat", count=unknown,
                          summary=f"access log: {where} answered {statuses}; no error-log line "
                                  "for any of them (nginx relays a complete response silently)"),
             EvidenceItem(kind="stat", summary=f"no nginx error-log line for {target.key}: nginx "
                                               "reached the backend and got an answer")]
    if probe is not None:
        items.append(probe_item(target.key, probe))
    items.append(config_item(target))
    got = probe.protocol.status_line if probe is not None and probe.protocol is not None else None
    explanation = (f"The backend {target.key} behind {where} answers {probed if seen else '5xx'} "
                   "itself: nginx reached it, got a complete response with that status and passed "
                   "it on. The access log has no $upstream_status to say so, but the error log is "
                   "silent" + (f" and a live request to the backend got {got or probed}." if seen else "."))
    finding = make_finding(
        "upstream-returned-5xx", confidence=0.85 if seen else 0.55, groups=[],
        explanation=explanation, evidence=items,
        fix=Fix(summary=f"look at the logs of the backend {target.key} for these requests; nginx "
                        "is only the messenger. Add $upstream_status and $upstream_header_time to "
                        "the access log's log_format so the next 5xx says who made it",
                commands=[f"curl -sS -o /dev/null -w '%{{http_code}}\\n' http://{target.key}/",
                          "journalctl -u <backend unit> --since -1h"]),
        upstream=target.group, target=target.key,
        status_codes=sorted(s for s in loc.statuses if s >= 500))
    return Candidate(finding=replace(finding, count=unknown))


def _with_count(f: Finding, made: int, timing: UpstreamTiming) -> Finding:
    return replace(f, count=made, first_seen=timing.first.isoformat(timespec="seconds")
                   if timing.first else None,
                   last_seen=timing.last.isoformat(timespec="seconds") if timing.last else None)


def _error_log(ev: Evidence) -> str:
    return proxy_of(ev).vocabulary.default_error_log
