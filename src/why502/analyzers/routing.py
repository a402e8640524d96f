"""Requests that never reach the right backend: proxy-rate-limited, proxy-misrouted.

- ``limiting requests, excess: ... by zone "%V"`` / ``limiting connections by zone "%V"``: nginx's
  own ``limit_req``/``limit_conn`` rejected the request with ``limit_req_status`` /
  ``limit_conn_status`` (default 503; ``ngx_http_limit_req_module.c``,
  ``ngx_http_limit_conn_module.c``).  No backend was involved.
- HAProxy's ``<NOSRV> ... PR--`` (``request-denied``: its own ``http-request deny``/``reject``/
  ``tarpit`` answered, no server chosen, configuration.txt 8.5) is its rate limit when a rule that
  denies on a rate is configured (``proxies.haproxy.facts.limit_settings``): with ``deny_status
  503`` the refusals look like an unavailable backend.  No backend was involved either.
- A ``proxy_pass`` whose target is one of nginx's own ``listen`` addresses sends requests back into
  nginx (a loop that ends in ``worker_connections are not enough`` or 508/500/502): the request
  never reaches the intended backend.
"""

from __future__ import annotations

from why502.analyzers.base import (
    Candidate,
    claims,
    config_grep,
    config_item,
    group_items,
    make_finding,
    proxy_name,
)
from why502.evidence.model import Evidence
from why502.findings.model import EvidenceItem, Fix

RATE_SYMPTOMS = ("rate-limited", "limit-req", "limit-conn", "proxy-rate-limited", "limit-exceeded")
# what a proxy that proxies to itself runs out of (connections, then files): the loop's doing
LOOP_EXHAUSTION = ("fd-exhaustion",)
# the proxy's own rule refused the request (HAProxy's ``<NOSRV>`` with ``PR--``): a rate limit
# only when the config has a rule that denies on a rate (``ConfigFacts.limit_settings``)
DENIED = "request-denied"


def analyze(ev: Evidence) -> list[Candidate]:
    out: list[Candidate] = []
    who = proxy_name(ev.proxy)
    limited = [g for g in ev.logs.symptoms if g.symptom in RATE_SYMPTOMS
               or (g.symptom == DENIED and ev.config.limit_settings)]
    if limited:
        items = [i for g in limited for i in group_items(g)]
        items += [EvidenceItem(kind="config", summary=f"{s.value}", source=s.file, line=s.line)
                  for s in ev.config.limit_settings[:3]]
        zone = next((s.value for s in ev.config.limit_settings), None)
        # what the clients got: the lines' own statuses (HAProxy's deny_status is the rule's)
        seen = sorted({code for g in limited for code in (g.clients or g.statuses) if code >= 400})
        codes = "/".join(str(c) for c in seen) or "503"
        denied = any(g.symptom == DENIED for g in limited)
        out.append(Candidate(finding=make_finding(
            "proxy-rate-limited", confidence=0.92, groups=limited,
            explanation=(f"{who} itself rejected these requests with {codes}: its own rule "
                         f"that limits a request rate ({zone}) denied them. The backend never saw them."
                         if denied else
                         f"{who} itself rejected these requests with {codes}: they exceeded a "
                         "limit_req / limit_conn zone. The backend never saw them."),
            evidence=items,
            fix=Fix(summary="raise the rule's threshold if the traffic is legitimate, or deny with 429 "
                            "so clients can tell it from an outage" if denied else
                            "raise the zone's rate/burst (add nodelay) if the traffic is legitimate, "
                            "or set limit_req_status 429 so clients can tell it from an outage",
                    commands=[config_grep(ev, "http-request (deny|reject|tarpit)|stick-table|track-sc"
                                          if denied else "limit_(req|conn)")],
                    notes=[f"current: {zone}"] if zone else []),
            status_codes=seen or [503]), claims=claims(limited)))
    own = set(ev.config.listens)
    for t in ev.config.targets:
        if t.key in own or (t.host in {"127.0.0.1", "localhost"} and f"0.0.0.0:{t.port}" in own):
            related = [g for g in ev.logs.symptoms if g.peer == t.key]
            if related:
                # the loop is what spends the proxy's connections: each hop holds one from the
                # client side and one to "upstream", itself, until the worker has none left
                # (nginx ``%ui worker_connections are not enough``, src/core/ngx_connection.c
                # ngx_get_connection(), a line with no upstream field); with the loop in the logs
                # the exhaustion is its consequence, not a limit to raise (stop 47: fd-limit was
                # ranked above it on the fault matrix's self-loop cells)
                related += [g for g in ev.logs.symptoms if g.symptom in LOOP_EXHAUSTION and g not in related]
            items = [config_item(t, f"{t.kind}_pass to {t.key}, which is {who}'s own listen address")]
            items += [i for g in related for i in group_items(g)]
            out.append(Candidate(finding=make_finding(
                "proxy-misrouted", confidence=0.95 if related else 0.5, groups=related,
                explanation=f"proxy_pass sends requests to {t.key}, where {who} itself listens: "
                            f"the request loops back into {who} instead of reaching the backend.",
                evidence=items,
                fix=Fix(summary=f"point proxy_pass at the backend's address, not {who}'s own listener",
                        commands=[config_grep(ev, "listen|proxy_pass")]),
                upstream=t.group or t.key, target=t.key), claims=claims(related)))
    return out
