"""Run every analyzer, then order and fold (most likely first, symptoms counted once).

Order: confidence weighted by impact (``score``).  Folding: each candidate claims the symptom
groups it explains.  Walking candidates from the most
to the least confident, a *fallback* candidate (a generic reading of symptoms, e.g. "the backend
crashed" from premature closes alone) whose groups are all claimed already is dropped, and any
candidate that explains nothing new beyond what a stronger one explains is folded into it (its
evidence kept as "also consistent with").  Candidates that explain no log line at all (config-only
or access-log-only findings) are kept only if nothing else was found or they are confident.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import replace
from datetime import datetime, timedelta

from why502.analyzers.alike import group_alike
from why502.analyzers.base import Candidate, GroupKey, proxy_of, sample_item
from why502.analyzers.registry import REGISTRY
from why502.catalog.calibration import calibrate
from why502.evidence.model import Evidence
from why502.findings.model import Diagnostic, EvidenceItem, Finding
from why502.proxies import Capability

# Config-only candidates (no symptom seen) below this are pitfalls for `why502 lint`, not causes.
MIN_UNOBSERVED = 0.5


def run_all(ev: Evidence) -> tuple[list[Finding], list[Diagnostic]]:
    """All findings, ordered most likely first, plus diagnostics for analyzers that failed."""
    candidates: list[Candidate] = []
    diagnostics: list[Diagnostic] = []
    for family, (analyze, _) in REGISTRY.items():
        try:
            # each finding names the proxy it is about; an edge's (a load balancer's log) none
            # of PROXIES (the report schema's ``proxy`` is one of them)
            candidates.extend(c if c.edge else _about(c, ev.proxy) for c in analyze(ev))
        except Exception as err:
            diagnostics.append(Diagnostic("warning", f"analyzer {family} failed: "
                                          f"{type(err).__name__}: {err}"))
    newest = max((t for t in (_newest(candidates), _naive(ev.clock.inputs_end)) if t is not None),
                 default=None)
    past = [c for c in candidates if _ended_before(c, newest)]
    if candidates and len(past) == len(candidates):
        # nothing fails now: yesterday's outage in a rotated log is a note, not today's cause
        return [], diagnostics + [Diagnostic("info", _past_note(c, newest)) for c in past[:3]]
    findings = _past_last(fold([_recover(_age(c, newest), ev) for c in candidates]), newest)
    # the number people read is calibrated on the lab's runs (catalog/data/calibration.toml);
    # ranking and folding above used the analyzers' raw scores (a monotone map keeps the order)
    findings = [replace(f, confidence=calibrate(f.confidence)) for f in findings]
    proxy = proxy_of(ev)
    if not proxy.can(Capability.CATALOG_WORDING):
        # the catalog's titles are written in one proxy's words ("nginx's worker user may not
        # connect ..."): the others reword them (Proxy.reword)
        findings = [replace(f, title=proxy.reword(f.title)) if f.proxy else f for f in findings]
    # the same config defect in many blocks: one finding, one diff (schema 1.3, ``places``)
    return group_alike(findings, ev.config.files), diagnostics


def _about(c: Candidate, proxy: str) -> Candidate:
    c.finding = replace(c.finding, proxy=proxy)
    return c


def _naive(t: datetime | None) -> datetime | None:
    return t.replace(tzinfo=None) if t is not None else None


def _when(text: str | None) -> datetime | None:
    """A finding's ``first_seen``/``last_seen`` as a naive time (None: unset or unreadable)."""
    try:
        return _naive(datetime.fromisoformat(text)) if text else None
    except ValueError:
        return None


def _ended_before(c: Candidate, newest: datetime | None) -> bool:
    """Did this cause's failures end over an hour before the inputs end (a recovered incident)?"""
    return _long_before(_last_seen(c), newest)


def _long_before(seen: datetime | None, newest: datetime | None) -> bool:
    """Is ``seen`` over ``RECOVERED`` before ``newest`` (both known)?"""
    return newest is not None and seen is not None and newest - seen > RECOVERED


def _past_last(findings: list[Finding], newest: datetime | None) -> list[Finding]:
    """Every finding whose failures ended over an hour before the inputs end after the findings
    of failures that go on (kept in their order otherwise), when there are such.

    ``_age`` halves a past incident's confidence, which keeps it under a current cause the
    analyzers are sure of, but not under a weak one: yesterday's refused connects in a rotated
    Apache log (0.57 after halving) headed a report whose only current reading was the last
    resort, ``unexplained-5xx`` at 0.39, for the 502s a PHP-FPM pool made a minute before (the
    matrix's backend-5xx-apache-fpm-unix-bursty-noisy, stop 41).  Issue 25 item 4: no cause
    rests on evidence from another time; watch, which windows by time, named the current one."""
    def past(f: Finding) -> bool:
        return _long_before(_when(f.last_seen), newest)

    if not any(_when(f.last_seen) is not None and not past(f) for f in findings):
        return findings
    return sorted(findings, key=past)  # stable: the order of fold within each group


def _past_note(c: Candidate, newest: datetime | None) -> str:
    f = c.finding
    where = f" at {f.target}" if f.target else ""
    return (f"past incident: {f.cause}{where}, last seen {f.last_seen}, "
            f"{_hours(newest, f.last_seen)} before the inputs end; nothing fails now "
            "(use --since/--until to diagnose that time)")


def _hours(newest: datetime | None, last_seen: str | None) -> str:
    seen = _when(last_seen)
    if newest is None or seen is None:
        return "long"
    return f"{(newest - seen).total_seconds() / 3600:.0f} h"


STALE = timedelta(hours=24)
RECOVERED = timedelta(hours=1)


def _last_seen(c: Candidate) -> datetime | None:
    return _when(c.finding.last_seen)


def _newest(candidates: list[Candidate]) -> datetime | None:
    """The latest failure any candidate has seen: the moment the inputs end.

    Age is measured from there, not from the wall clock, so a bundle of logs diagnosed a week
    after the incident ranks its causes as it would have on the day, and a live host's ranking is
    the same (its newest failure is minutes old)."""
    seen = [t for c in candidates if (t := _last_seen(c)) is not None]
    return max(seen) if seen else None


def _age(c: Candidate, newest: datetime | None) -> Candidate:
    """A cause last seen long before the latest failure ranks below what failed then (and says so).

    Over an hour before it, the failure had ended while others went on: a past incident (a
    rotated log keeps yesterday's outage of a server long replaced).  Over a day, doubly so."""
    seen = _last_seen(c)
    if newest is None or seen is None:
        return c
    age = newest - seen
    if age <= RECOVERED:
        return c
    if age <= STALE:
        hours = int(age.total_seconds() // 3600)
        c.finding = replace(c.finding, confidence=round(c.finding.confidence * 0.5, 2),
                            explanation=c.finding.explanation + f" (It ended {hours} hour"
                            f"{'s' if hours != 1 else ''} before the latest failure in these "
                            "inputs: a past incident; use --since to look at recent logs only.)")
        return c
    days = age.days
    c.finding = replace(c.finding, confidence=round(c.finding.confidence * 0.25, 2),
                        explanation=c.finding.explanation + f" (Last seen {days} day"
                        f"{'s' if days != 1 else ''} before the latest failure in these inputs: "
                        "use --since to look at recent logs only.)")
    return c


ACTING = re.compile(r"^\s*(?:sudo\s+)?(?:systemctl|service|docker|podman|kubectl|supervisorctl|"
                    r"rc-service|pm2)\b.*\b(?:start|restart|enable|reload|rollout|scale|up)\b")
"""A command that acts on a service (starts, restarts, reloads it): never printed for a cause
that recovered; looking (``status``, ``journalctl``, ``ss``) is still useful."""


def peers_of(c: Candidate) -> list[str]:
    """Where a candidate's failures were: its claimed groups' peers, else its finding's target."""
    peers = sorted({peer for _, peer in c.claims if peer})
    if not peers and c.finding.target:
        peers = [p.strip() for p in c.finding.target.split(",") if p.strip()]
    return peers


QUIET = timedelta(seconds=30)
"""How long clients' requests must have kept succeeding after a cause's last failure, at least,
for it to be recovered: an intermittent failure (one PHP script that crashes its worker while
the others answer, a burst of port exhaustion) has successes between its failures too."""


def quiet_needed(first: datetime | None, last: datetime | None, count: int) -> timedelta:
    """``QUIET``, or three of the failures' mean intervals when they were sparser than that."""
    if first is None or last is None or count < 2:
        return QUIET
    return max(QUIET, 3 * (last - first) / (count - 1))


def recovered_since(ev: Evidence, peers: Iterable[str], last: datetime | None,
                    quiet: timedelta = QUIET) -> datetime | None:
    """The clients' proof that failures at ``peers`` ending at ``last`` stopped: for every peer,
    the access log shows a request answered (a final status below 500, not 444/499) ``quiet``
    or more after the last failure; the latest such time, or None.  Conservative: no access log,
    a peer it does not name, no failure time, or a peer without such a success is never
    recovered."""
    peers = list(peers)
    if last is None or not peers:
        return None
    seen: list[datetime] = []
    for peer in peers:
        timing = ev.logs.access.get(peer)
        ok = timing.last_ok.replace(tzinfo=None) if timing is not None and timing.last_ok else None
        if ok is None or ok - last < quiet:
            return None
        seen.append(ok)
    return max(seen)


def _recover(c: Candidate, ev: Evidence) -> Candidate:
    """Mark a cause's finding ``recovered`` when the evidence says its failures stopped: every
    peer it failed at answered clients' later requests (:func:`recovered_since`).  One place for
    every cause (``analyzers.backend_down`` also marks one whose target listens again): current
    findings then rank above it (``order``), a report of only these exits 0, and its fix keeps
    what prevents a recurrence (a diff, commands that look) but no command that starts, restarts
    or reloads anything."""
    f = c.finding
    if f.recovered or c.last_resort:
        return c
    peers = peers_of(c)
    first = _when(f.first_seen)
    last = _last_seen(c)
    since = recovered_since(ev, peers, last, quiet_needed(first, last, f.count))
    if since is None:
        return c
    at = since.isoformat(sep=" ", timespec="seconds")
    fix = f.fix
    if fix is not None:
        kept = [cmd for cmd in fix.commands if not ACTING.search(cmd)]
        verb = "answers" if len(peers) == 1 else "answer"
        fix = replace(fix, summary=f"nothing to restart: {', '.join(peers)} {verb} clients again; to "
                      f"keep it from coming back: {fix.summary}", commands=kept)
    c.finding = replace(f, recovered=True, fix=fix, explanation=(
        f"{f.explanation} A past incident, recovered: the access log shows clients' requests to "
        f"{', '.join(peers)} answered after the last failure ({f.last_seen}), the latest at {at}."))
    return c


def score(f: Finding, biggest: int) -> float:
    """Rank = confidence weighted by impact: among equally sure explanations, the one behind
    thousands of failed requests comes before one behind a handful (background noise)."""
    share = f.count / biggest if biggest else 0.0
    return f.confidence * (0.6 + 0.4 * share) if biggest else f.confidence


def fold(candidates: list[Candidate]) -> list[Finding]:
    """Order most likely first and fold candidates whose symptoms a stronger one explains."""
    kept: list[tuple[Candidate, list[EvidenceItem]]] = []
    owner: dict[GroupKey, int] = {}
    biggest = max((c.finding.count for c in candidates), default=0)

    def _order(c: Candidate) -> tuple[bool, float, float, int, int]:
        # consequences after causes, so a cause owns its failures first
        return (bool(c.caused_by), -score(c.finding, biggest), -c.finding.confidence, -len(c.claims),
                -c.finding.count)

    resort = [c for c in candidates if c.last_resort]
    for c in sorted((c for c in candidates if not c.last_resort), key=_order):
        if c.caused_by and c.caused_by <= owner.keys():
            # a consequence (e.g. servers marked down) of failures a cause explains: fold it there
            idx = owner[next(iter(sorted(c.caused_by, key=str)))]
            kept[idx][1].insert(0, consequence_item(c))
            for key in c.claims:
                owner.setdefault(key, idx)
            continue
        new = c.claims - owner.keys()
        if c.claims and not new:
            if c.fallback:
                continue
            # fold: a weaker explanation of symptoms already explained
            idx = owner[next(iter(c.claims))]
            kept[idx][1].append(EvidenceItem(
                kind="stat", summary=f"also consistent with {c.finding.cause} "
                f"(confidence {c.finding.confidence:.2f}), judged less likely"))
            continue
        if not c.claims and c.finding.confidence < MIN_UNOBSERVED:
            continue
        for key in c.claims:
            owner.setdefault(key, len(kept))
        kept.append((c, []))
    # nothing named a cause of these failures: they are still said (analyzers.unexplained),
    # also when every cause named is of another time (a rotated log's past incident explains
    # nothing of today's 5xx, and must not stand alone at the top of the report)
    kept += [(c, []) for c in sorted(resort, key=_order)
             if not any(_same_time(k.finding, c.finding) for k, _extra in kept)]
    out: list[Finding] = []
    for c, extra in kept:
        f = c.finding
        if extra:
            # a folded consequence's symptom is one the cause explains (JSON "symptoms")
            shown = [e.symptom for e in extra[:2] if e.symptom and e.symptom not in f.symptoms]
            f = replace(f, evidence=[*f.evidence, *extra[:2]], symptoms=[*f.symptoms, *shown])
        out.append(f)
    merged = merge_servers(out)
    top = max((f.count for f in merged), default=0)
    return sorted(merged, key=lambda f: order(f, top))


def _same_time(a: Finding, b: Finding) -> bool:
    """Whether ``a``'s failures and ``b``'s could be the same incident: their spans overlap,
    within ``RECOVERED`` (an hour) of each other.  A finding without a time could be of any
    time: it counts as the same (the last resort is then left out, as before)."""
    a_first, b_first = _when(a.first_seen), _when(b.first_seen)
    a_last, b_last = _when(a.last_seen) or a_first, _when(b.last_seen) or b_first
    if a_first is None or a_last is None or b_first is None or b_last is None:
        return True
    return a_last >= b_first - RECOVERED and a_first <= b_last + RECOVERED


def order(f: Finding, biggest: int) -> tuple[bool, float, float]:
    """The sort key of findings, most likely first: every current finding before every
    recovered one (``Finding.recovered``: the failures stopped, the target answers now), then
    ``score`` (confidence weighted by impact).  A recovered incident of a minute ago headed the
    report above a live outage because it had more failed requests (issue 31)."""
    return (f.recovered, -score(f, biggest), -f.confidence)


def consequence_item(c: Candidate) -> EvidenceItem:
    """The evidence a folded consequence leaves under its cause: the link, how many of its own
    lines were folded (``12 'no live upstreams' lines``), the first of them as proof, and the
    requests it answered (its ``count``; the line count is the item's ``count`` in the JSON)."""
    lines = sum(g.count for g in c.shows)
    requests = f"{c.finding.count} request{'s' if c.finding.count != 1 else ''}"
    if not c.shows:
        return EvidenceItem(kind="stat", summary=f"consequence: {c.link} ({c.finding.cause}, "
                            f"{requests})", count=c.finding.count)
    symptom = c.shows[0].symptom
    words = symptom.replace("-", " ")
    summary = (f"consequence: {c.link}: {lines} '{words}' line{'s' if lines != 1 else ''} folded "
               f"here ({c.finding.cause}, {requests})")
    sample = next((g.samples[0] for g in c.shows if g.samples), None)
    if sample is None:
        return EvidenceItem(kind="stat", summary=summary, symptom=symptom, count=lines)
    return sample_item(sample, summary, symptom, lines)


def merge_servers(findings: list[Finding]) -> list[Finding]:
    """One finding per (cause, upstream group): "both servers of app3 are down" is one answer,
    not two findings that differ only by port."""
    out: list[Finding] = []
    index: dict[tuple[str, str], int] = {}
    for f in findings:
        grouped = f.upstream is not None and f.target is not None and f.upstream != f.target
        key = (f.cause, f.upstream or "")
        if not grouped or key not in index:
            if grouped:
                index[key] = len(out)
            out.append(f)
            continue
        first = out[index[key]]
        seen = {(e.summary, e.source, e.line) for e in first.evidence}
        diffs = [d for d in (first.fix.diff if first.fix else None, f.fix.diff if f.fix else None) if d]
        fix = first.fix
        if fix is not None and len(diffs) > 1 and diffs[1] not in diffs[0]:
            fix = replace(fix, diff=diffs[0] + diffs[1])
        out[index[key]] = replace(
            first,
            target=f"{first.target}, {f.target}",
            confidence=max(first.confidence, f.confidence),
            count=first.count + f.count,
            status_codes=sorted(set(first.status_codes) | set(f.status_codes)),
            symptoms=[*first.symptoms, *(s for s in f.symptoms if s not in first.symptoms)],
            evidence=[*first.evidence, *(e for e in f.evidence
                                         if (e.summary, e.source, e.line) not in seen)],
            first_seen=min(x for x in (first.first_seen, f.first_seen) if x) if (
                first.first_seen or f.first_seen) else None,
            last_seen=max(x for x in (first.last_seen, f.last_seen) if x) if (
                first.last_seen or f.last_seen) else None,
            explanation=first.explanation + f" The same holds for {f.target} of upstream "
                                            f"{f.upstream}.",
            fix=fix, recovered=first.recovered and f.recovered)
    return out
