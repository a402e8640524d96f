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

from why502.analyzers.base import (
    Candidate,
    by_peer,
    claims,
    config_item,
    group_items,
    groups_of,
    make_finding,
    proxy_name,
    upstream_name,
)
from why502.evidence.model import Evidence, UpstreamTiming
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
    failing_peers = {g.peer for g in ev.symptoms}
    for name, timing in ev.access.items():
        made = sum(n for s, n in timing.backend_5xx.items() if s in (500, 502, 503, 504))
        if not made:
            continue
        group = ev.groups.get(name)
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
    return out


def _with_count(f: Finding, made: int, timing: UpstreamTiming) -> Finding:
    return replace(f, count=made, first_seen=timing.first.isoformat(timespec="seconds")
                   if timing.first else None,
                   last_seen=timing.last.isoformat(timespec="seconds") if timing.last else None)


def _error_log(ev: Evidence) -> str:
    return {"apache": "/var/log/apache2/error.log",
            "haproxy": "/var/log/haproxy.log"}.get(ev.proxy, "/var/log/nginx/error.log")
