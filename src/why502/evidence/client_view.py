"""What the clients got, from the access log, next to the error log's failed attempts."""

from __future__ import annotations

import contextlib
from collections.abc import Iterable, Mapping
from dataclasses import replace
from datetime import datetime, timedelta

from why502.evidence.model import ClientFailures, LocationOutcome, SymptomGroup
from why502.evidence.stats import AccessStats
from why502.proxies import ENGINE


def with_client_view(groups: Iterable[SymptomGroup], stats: AccessStats | None) -> list[SymptomGroup]:
    """Add to each proxy symptom group what the clients got, from the access log (``stats``).

    An error-log line is one failed *attempt*, not one answer: nginx writes a line per failed
    attempt and retries with ``proxy_next_upstream`` (a failed cached keep-alive connection is
    even retried without counting a try: ``ngx_http_upstream_next`` in
    src/http/ngx_http_upstream.c), and a retry that succeeds gives the client a 2xx
    (``$upstream_status "502, 200"``).  The access log knows per peer how many requests ended in
    a 5xx nginx made there (``requests_5xx`` minus the backend-made ones) and how many failed
    attempts a later attempt rescued (``rescued_failures``, evidence/stats/).  When one
    peer has several symptom groups its final 5xx are split by the symptom of the error line the
    stats engine joined to each 5xx request (``errorlog.by_symptom``, exact for a symptom seen at
    this peer only); the rest (and rescued attempts) is shared out by error lines, never more
    than a group's own lines (``clients_estimated``).  A group outside the minutes the access
    log covers keeps ``clients`` None: that log cannot say what those clients got.
    Groups without an access log for their peer are returned unchanged (``clients`` None).
    """
    groups = list(groups)
    if stats is None:
        return groups
    # final 5xx requests per symptom of the error line joined to them (client + request + time)
    joined: Mapping[str, int] = stats.errorlog["by_symptom"] if stats.errorlog else {}
    covered = _access_span(stats)
    failing: dict[str, list[SymptomGroup]] = {}
    for g in groups:
        if (g.peer and g.source == ENGINE and any(s >= 500 for s in g.statuses)
                and _within(g, covered)):
            failing.setdefault(g.peer, []).append(g)
    peers_of: dict[str, int] = {}
    for gs in failing.values():
        for g in gs:
            peers_of[g.symptom] = peers_of.get(g.symptom, 0) + 1
    view: dict[tuple[str, str | None], SymptomGroup] = {}
    for peer, gs in failing.items():
        u = stats.upstream(peer)
        if u is None:
            continue
        remaining = max(0, u.requests_5xx - u.made_by.get("backend", 0))
        rescued = u.rescued_failures
        # the join is global per symptom: exact for a symptom seen at this peer only, and
        # never trusted beyond the symptom's own lines (identical requests in one second make
        # it ambiguous)
        got: dict[str, int] = {}
        for g in gs:
            n = int(joined.get(g.symptom, 0))
            if peers_of[g.symptom] == 1 and 0 < n <= g.count:
                got[g.symptom] = min(n, remaining)
                remaining -= got[g.symptom]
        rest = [g for g in gs if g.symptom not in got]
        rest_lines = sum(g.count for g in rest) or 1
        for g in rest:
            got[g.symptom] = min(g.count, round(remaining * g.count / rest_lines))
        all_lines = sum(g.count for g in gs) or 1
        estimated = (len(rest) > 1 and remaining > 0) or (len(gs) > 1 and rescued > 0)
        for g in gs:
            status = max((s for s in g.statuses if s >= 500), key=lambda s: g.statuses[s])
            view[(g.symptom, g.peer)] = replace(
                g, clients={status: got[g.symptom]},
                rescued=min(g.count, round(rescued * g.count / all_lines)),
                clients_estimated=estimated)
    return [view.get((g.symptom, g.peer), g) for g in groups]


def _access_span(stats: AccessStats) -> tuple[datetime, datetime] | None:
    """The minutes the access log covers (``first_time``..``last_time``, ISO minutes)."""
    if stats.first_time is None or stats.last_time is None:
        return None
    try:
        first = datetime.fromisoformat(stats.first_time[:16])
        last = datetime.fromisoformat(stats.last_time[:16])
    except ValueError:
        return None
    return first, last + timedelta(minutes=1)


def _within(g: SymptomGroup, span: tuple[datetime, datetime] | None) -> bool:
    """Only an access log covering the group's whole time span can say what clients got."""
    if span is None or g.first is None or g.last is None:
        return span is not None
    first, last = (t.replace(tzinfo=None) for t in (g.first, g.last))
    return span[0] <= first and last < span[1]


def location_outcomes(stats: AccessStats | None) -> tuple[LocationOutcome, ...]:
    """The access log's 5xx per config location (``AccessStats.by_location``), typed."""
    if stats is None:
        return ()
    out = []
    for row in stats.by_location:
        label = row.get("location")
        if not isinstance(label, str):
            continue
        statuses = {int(k): int(v) for k, v in row.items()
                    if k.isdigit() and isinstance(v, int) and v}
        other = int(row.get("5xx") or 0) - sum(statuses.values())
        if other > 0:
            statuses[500] = other  # a 500 or another 5xx the table does not split out
        out.append(LocationOutcome(label=label, statuses=statuses,
                                   by_proxy=int(row.get("by_proxy") or 0),
                                   by_backend=int(row.get("by_backend") or 0)))
    return tuple(out)


def client_failures(stats: AccessStats | None) -> ClientFailures | None:
    """Every 5xx the access log says the clients got, with who made them (``stats.made_by``):
    the one count that does not depend on the log format naming an upstream."""
    if stats is None:
        return None
    statuses = {int(s): n for s, n in stats.by_status.items() if s.isdigit() and s.startswith("5") and n}
    minutes = [row["minute"][:16] for row in stats.timeline if row["5xx"]]
    first = last = None
    with contextlib.suppress(ValueError):
        first = datetime.fromisoformat(minutes[0]) if minutes else None
        last = datetime.fromisoformat(minutes[-1]) + timedelta(seconds=59) if minutes else None
    sample = stats.requests_5xx[0] if stats.requests_5xx else {}
    where, line, request = sample.get("file"), sample.get("line"), sample.get("request")
    return ClientFailures(
        statuses=statuses, by_proxy=int(stats.made_by.get(ENGINE, 0)),
        by_backend=int(stats.made_by.get("backend", 0)), requests=stats.requests, first=first,
        last=last, file=where if isinstance(where, str) else None,
        line=line if isinstance(line, int) else None,
        request=request if isinstance(request, str) else None)
