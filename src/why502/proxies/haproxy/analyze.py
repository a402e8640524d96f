"""HAProxy's ``analyze`` plug-in: a backend whose every server its health checks took DOWN.

HAProxy takes a server out of a backend by its own active health checks (``check``, ``inter``,
``fall``, ``rise``: configuration.txt 5.2) and says why in an alert line (``Server app/web1 is
DOWN, reason: Layer4 connection problem, info: "Connection refused"``, src/server.c
``srv_set_stopped``) and in its runtime API (``show stat``, management.txt 9.3).  When every
server of a backend is DOWN, requests get ``503`` with ``<NOSRV>`` (configuration.txt 8.5, 'SC').
The root cause is what failed the checks, which only these words of HAProxy's say: this module
reads them for ``analyzers.connectivity`` (``Hooks.analyze``; ``Capability.HEALTH_CHECKED_SERVERS``),
moved out of the proxy-neutral analyzer by issue 23 item 2.
"""

from __future__ import annotations

import re
from dataclasses import replace

from why502.analyzers.base import Candidate, claims, group_items, lookups_that_emptied, make_finding
from why502.evidence.model import Evidence, SymptomGroup
from why502.findings.model import EvidenceItem, Fix

#: where Debian's haproxy.cfg puts the admin socket (``stats socket /run/haproxy/admin.sock``)
#: when the config read names none
DEFAULT_SOCKET = "/run/haproxy/admin.sock"

_REASON = re.compile(r'Server (?P<server>\S+) is DOWN, reason: (?P<reason>[^,]+)'
                     r'(?:, info: "(?P<info>[^"]*)")?')
# health-check reasons (HAProxy src/check.c check_reason_string / doc/configuration.txt 9.1
# check_status: L4CON, L4TOUT, L6RSP, L7STS, ...) -> what they mean for the backend
_MEANING = (("Connection refused", "nothing listens on them: the backends are not running"),
            ("Layer4 timeout", "they do not accept connections in time (down host, firewall, "
                               "or a backend too busy to accept)"),
            ("Layer7 wrong status", "the health-check request gets an error status: the "
                                    "application is failing (or the check URL is wrong)"),
            ("Layer7 timeout", "the application does not answer the health check in time"),
            ("Layer6", "the TLS or protocol of the check does not match the server"),
            ("Layer7 invalid response", "the server does not speak HTTP on that port"))


def _down_reasons(ev: Evidence, name: str | None) -> tuple[list[str], list[EvidenceItem]]:
    """Why HAProxy took the servers of backend ``name`` down: the alert lines' ``reason``/
    ``info`` (``Server app/web1 is DOWN, reason: Layer4 connection problem, info: "Connection
    refused"``, src/server.c srv_set_stopped) and the runtime API's last check."""
    reasons: list[str] = []
    items: list[EvidenceItem] = []
    # a DOWN alert line is classified by its reason (connection-refused, connect-timeout, ...)
    # with the event upstream-marked-down beside it: read the reason from any group's samples
    for g in ev.logs.symptoms:
        for smp in g.samples:
            m = _REASON.search(smp.text)
            if m and (name is None or m.group("server").split("/")[0] == name):
                why = m.group("reason") + (f": {m.group('info')}" if m.group("info") else "")
                if why not in reasons:
                    reasons.append(why)
    for key, st in (ev.live.server_states or {}).items():
        if (name is None or st.backend == name) and st.down:
            items.append(EvidenceItem(kind="probe", summary=f"runtime API (show stat): {st.name} "
                                      f"{st.status}" + (f", last check {st.reason}" if st.reason
                                                        else "") + f" ({key})",
                                      source="runtime API"))
            if st.reason and st.reason not in reasons:
                reasons.append(st.reason)
    return reasons, items


def _meaning(reasons: list[str]) -> str:
    text = " ".join(reasons)
    for needle, meaning in _MEANING:
        if needle in text:
            return meaning
    return "see the reason HAProxy gives"


def all_down(ev: Evidence, name: str | None, groups: list[SymptomGroup]) -> Candidate:
    """``backend app has no server available!`` / ``<NOSRV>`` with 503: every server (backups
    too) failed its health checks (src/backend.c set_backend_down; configuration.txt 8.5 'SC'
    with <NOSRV>).  The root cause is what failed the checks: the DOWN reasons say it."""
    group = ev.config.groups.get(name or "")
    marked = [g for g in ev.logs.symptoms if g.symptom == "upstream-marked-down"
              and (g.peer == name or (group is not None and g.peer in group.servers))]
    items = [i for g in groups + marked for i in group_items(g)]
    reasons, state_items = _down_reasons(ev, name)
    items += state_items
    members = [t for t in ev.config.targets if t.group == name]
    for t in members[:4]:
        chk = t.settings.get("check")
        items.append(EvidenceItem(
            kind="config", summary=f"server {t.key}" + ("" if chk is None or chk.value == "on"
                                                       else " (no check)")
            + "".join(f", {k} {t.settings[k].value}" for k in ("inter", "fall", "rise")
                      if k in t.settings),
            source=t.file, line=t.line))
    meaning = _meaning(reasons)
    conf = 0.93 if reasons else 0.8
    # servers HAProxy put in maintenance because their name stopped resolving ("is going DOWN
    # for maintenance (DNS NX status)", src/server.c srv_adm_st_chg_cause[]; the patterns'
    # dns-failure of that server): no server is left because of the lookup, its cause (stop 47:
    # the matrix's dns-nxdomain cells ranked all-upstreams-down first)
    lookups = [g for g in ev.logs.symptoms if g.symptom == "dns-failure"
               and group is not None and g.peer in group.servers] or lookups_that_emptied(ev, groups)
    refused = "Connection refused" in " ".join(reasons)
    return Candidate(finding=make_finding(
        "all-upstreams-down", confidence=conf, groups=groups + marked,
        explanation=f"HAProxy's health checks took every server of backend {name} DOWN, so it had no "
                    "server for the requests and answered 503 (<NOSRV>)."
                    + (f" Reason: {'; '.join(reasons[:3])}: {meaning}." if reasons else ""),
        evidence=items,
        fix=Fix(summary=(f"start the backends of {name} ("
                         + ", ".join(group.servers if group else ()) + ")" if refused else
                         "fix what fails the health checks on every server (the reason above)")
                + "; HAProxy puts them back UP after 'rise' good checks",
                commands=[f"echo 'show stat' | socat stdio {_socket_hint(ev)} | cut -d, -f1,2,18,37,57",
                          *(f"curl -sv http://{k}/ -o /dev/null" for k in (group.servers[:2]
                                                                          if group else ()))]),
        upstream=name, target=name), claims=claims(groups + marked), caused_by=claims(lookups),
        link=f"then HAProxy had no server left in backend {name}" if lookups else "")


def _socket_hint(ev: Evidence) -> str:
    sock = ev.config.runtime_socket or DEFAULT_SOCKET
    return sock.split("@", 1)[1] if sock.startswith("unix@") else sock


def down_now(ev: Evidence, seen: set[str | None]) -> list[Candidate]:
    """Every server of a backend DOWN right now (runtime API), before any request failed."""
    out = []
    for name, group in ev.config.groups.items():
        states = [st for k, st in (ev.live.server_states or {}).items() if k in group.servers]
        if name in seen or not states or len(states) < len(group.servers) \
                or not all(st.down for st in states):
            continue
        cand = all_down(ev, name, [])
        cand.finding = replace(cand.finding, confidence=min(cand.finding.confidence, 0.85))
        out.append(cand)
    return out

