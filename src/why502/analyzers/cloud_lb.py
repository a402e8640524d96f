"""The edge family: root causes from a cloud load balancer / proxy log (``diagnose --access-log``
on an ALB, Classic ELB, Cloudflare, Envoy/Istio, Caddy or Traefik log: ``Evidence.edge``).

Each such log already says who failed and why in its own words; the vocabulary table maps every
word to a root cause (``catalog/data/proxy_terms.toml``), so this analyzer only weighs them: the
share of the load balancer's own failures that point to each cause, the pattern in time (a
target that answered and then failed every request: it stopped or was deregistered while still
receiving traffic; a burst of one word), and, apart, the 5xx the backend itself made.  The fix
is said in the platform's terms (target group health check, idle timeout, keep-alive, origin
firewall, cluster timeouts and outlier detection) with the documentation URL.  Pure.

One family of ``analyzers.registry`` like the others: each finding is a ``Candidate`` that
claims the edge's failures it explains (``claim``), so ``analyzers.rank`` ranks and folds them
with the proxy's own.  Its scores are the confidence the report says (no lab run measures them:
``catalog/data/calibration.toml`` is fitted on the proxies' analyzers), so it hands ``rank`` their
raw equivalent (``catalog.calibration.uncalibrate``), which ``rank`` maps back.
"""

from __future__ import annotations

from dataclasses import replace

from why502.analyzers import edge_apps, unexplained
from why502.analyzers.base import Candidate, GroupKey, together
from why502.catalog import load_catalog
from why502.catalog.calibration import uncalibrate
from why502.catalog.terms import Term, go_error_family, go_error_readers, load_terms, term
from why502.evidence.lb_evidence import FailureGroup, LbEvidence
from why502.evidence.model import Evidence
from why502.findings.model import EvidenceItem, Finding, Fix
from why502.proxies import PROXIES
from why502.proxies.base import CATALOG_WORDS

LB_NAMES: dict[str, str] = {
    "alb": "the ALB", "elb": "the Classic ELB", "cloudflare": "Cloudflare's edge",
}
"""Families that are not proxies of ``why502.proxies``; a registered one (Envoy, Caddy, Traefik) is named and
commanded by its ``Proxy`` (``_lb_name``, ``_commands``)."""

COMMANDS: dict[str, list[str]] = {
    "alb": ["aws elbv2 describe-target-health --target-group-arn TARGET_GROUP_ARN",
            "aws elbv2 describe-load-balancer-attributes --load-balancer-arn LB_ARN "
            "--query \"Attributes[?Key=='idle_timeout.timeout_seconds']\""],
    "elb": ["aws elb describe-instance-health --load-balancer-name NAME"],
    "cloudflare": ["curl -sv -o /dev/null --resolve HOST:443:ORIGIN_IP https://HOST/   # the origin itself",
                   "curl -s https://www.cloudflare.com/ips-v4   # ranges the origin firewall must allow"],
}


def _said_by(title: str, name: str) -> str:
    """A catalog title (written in the catalog proxy's words, ``Capability.CATALOG_WORDING``)
    naming the edge ``name`` instead ("...; nginx only passed it on": "...; Envoy only ...")."""
    return title.replace(CATALOG_WORDS, name)


def _lb_name(family: str) -> str:
    proxy = PROXIES.get(family)
    return proxy.vocabulary.title if proxy is not None else LB_NAMES.get(family, family)


def _commands(family: str, group: str | None = None) -> list[str]:
    proxy = PROXIES.get(family)
    return proxy.show_group_commands(group) if proxy is not None else list(COMMANDS.get(family, []))


def _top(counter: dict[str, int], n: int = 3) -> str:
    return ", ".join(f"{k} ({v:,})" for k, v in sorted(counter.items(), key=lambda kv: -kv[1])[:n])


def _term_of(family: str, grp: FailureGroup) -> Term | None:
    go_reader = family in go_error_readers()
    if go_reader:  # the fix in the family's own terms when it has a word for this cause
        own = next((t for t in load_terms() if t.family == family and t.cause == grp.cause), None)
        if own is not None:
            return own
    for code, _ in grp.codes.most_common():
        # its error lines carry Go's error text, the vocabulary go_error_family's terms describe
        t = term(family, code) or (term(go_error_family(), code) if go_reader else None)
        if t is not None:
            return t
    return None


def _failure_finding(ev: LbEvidence, grp: FailureGroup, lb_total: int) -> Finding:
    catalog = load_catalog()
    entry = catalog.get(grp.cause)
    name = _lb_name(ev.family)
    t = _term_of(ev.family, grp)
    words = _top(dict(grp.codes)) or "no reason in this log"
    share = grp.count / lb_total if lb_total else 0.0
    told = bool(grp.symptoms)  # the log named the failure (not only a status)
    confidence = round(min(0.95, (0.55 if told else 0.35) + 0.4 * share), 2)
    items = [EvidenceItem(
        kind="stat",
        summary=(f"{grp.count:,} requests failed by {name} itself ({words}){_span(grp.first, grp.last)}: "
                 f"{_top({str(k): v for k, v in grp.statuses.items()})}"
                 + (f"; Proxy-Status {_top(dict(grp.proxy_status), 2)}" if grp.proxy_status else "")),
        count=grp.count, time=grp.first)]
    if grp.minutes:
        minute, peak = grp.minutes.most_common(1)[0]
        items.append(EvidenceItem(kind="stat", summary=f"peak {peak:,}/min at {minute} "
                                  f"({len(grp.minutes):,} minutes with these failures)"))
    if grp.groups:
        items.append(EvidenceItem(kind="stat", summary=f"by group (target group / cluster / service / host): "
                                  f"{_top(dict(grp.groups))}"))
    if grp.targets:
        items.append(EvidenceItem(kind="stat", summary=f"by target: {_top(dict(grp.targets))}"))
    for target in list(grp.targets)[:3]:
        life = ev.targets.get(target)
        if life and life.ok and life.first_failed_after_ok and not life.ok_after_failure:
            items.append(EvidenceItem(
                kind="stat", time=life.first_failed_after_ok,
                summary=(f"target {target} answered {life.ok:,} requests (last at {life.last_ok}); from "
                         f"{life.first_failed_after_ok} every request to it failed ({life.failed:,}): it "
                         "stopped, or was deregistered / replaced while still receiving traffic")))
    if grp.details:
        items.append(EvidenceItem(kind="log", summary=f"{name} said: {_top(dict(grp.details), 2)}"))
    if grp.cause == "backend-too-slow" and grp.worst_ms is not None:
        worst = grp.worst_ms
        items.append(EvidenceItem(kind="stat", summary=f"these requests waited up to {worst / 1000:.2f}s: "
                                  "the load balancer's timeout expired before the backend answered"))
    for s in grp.samples:
        items.append(EvidenceItem(kind="log", summary=f"{name}: {words.split(' (')[0]}", source=s.file,
                                  line=s.line, time=s.time, text=s.text[:2000],
                                  symptom=next(iter(grp.symptoms), None)))
    fix = Fix(summary=t.fix if t else (entry.fix[0] if entry and entry.fix else "see why502 explain"),
              commands=_commands(ev.family),
              notes=[t.url] if t else [])
    title = _said_by(entry.title if entry else grp.cause, name) + f" ({name}: {words.split(' (')[0]})"
    # the platform's meaning, then the first paragraph of the cause page (the rest is nginx's
    # view) unless that is in the catalog proxy's words too (its directives are not this edge's)
    first_para = entry.explanation.strip().split("\n\n")[0] if entry else ""
    if t and CATALOG_WORDS in first_para:
        first_para = ""
    explanation = (t.meaning if t else "") + (f" {first_para}" if first_para else "")
    return Finding(
        cause=grp.cause, title=title, confidence=confidence,
        status_codes=sorted(grp.statuses), symptoms=sorted(grp.symptoms), explanation=explanation.strip(),
        upstream=grp.groups.most_common(1)[0][0] if grp.groups else None,
        target=grp.targets.most_common(1)[0][0] if grp.targets else None,
        evidence=items, fix=fix, first_seen=grp.first, last_seen=grp.last, count=grp.count,
    )


def _span(first: str | None, last: str | None) -> str:
    """" between FIRST and LAST", or nothing when the log's format has no time (a user's own
    key=value format without one printed "between None and None")."""
    return f" between {first} and {last}" if first and last else ""


def _backend_finding(ev: LbEvidence) -> Finding:
    grp = ev.backend_5xx
    name = _lb_name(ev.family)
    entry = load_catalog().get("upstream-returned-5xx")
    share = grp.count / ev.five if ev.five else 0.0
    items = [EvidenceItem(kind="stat", count=grp.count, time=grp.first, summary=(
        f"{grp.count:,} 5xx were the backend's own answers, relayed by {name} "
        f"({_top({str(k): v for k, v in grp.statuses.items()})}){_span(grp.first, grp.last)}"))]
    if grp.targets:
        items.append(EvidenceItem(kind="stat", summary=f"by target: {_top(dict(grp.targets))}"))
    if grp.groups:
        items.append(EvidenceItem(kind="stat", summary=f"by group: {_top(dict(grp.groups))}"))
    for s in grp.samples:
        items.append(EvidenceItem(kind="log", summary="backend's own 5xx", source=s.file, line=s.line,
                                  time=s.time, text=s.text[:2000]))
    explanation = entry.explanation.strip() if entry else ""
    if CATALOG_WORDS in explanation:  # the cause page tells how nginx's own logs prove it
        explanation = (f"The backend (or another proxy behind it) answered 502/503/504 itself, and {name} "
                       "relayed it as is: its log says the status came from the upstream.")
    return Finding(
        cause="upstream-returned-5xx",
        title=_said_by(entry.title, name) if entry else "The backend returned the 5xx",
        confidence=round(min(0.9, 0.4 + 0.5 * share), 2), status_codes=sorted(grp.statuses), symptoms=[],
        explanation=explanation,
        upstream=grp.groups.most_common(1)[0][0] if grp.groups else None,
        target=grp.targets.most_common(1)[0][0] if grp.targets else None, evidence=items,
        fix=Fix(summary="Read the application's own logs at these times: the load balancer only relayed "
                "its answers.", commands=[]),
        first_seen=grp.first, last_seen=grp.last, count=grp.count,
    )


def analyze(ev: Evidence) -> list[Candidate]:
    """A candidate per root cause each edge log read points to (``Evidence.edge``), and for an
    edge whose 5xx no word of its log explains, ``analyzers.unexplained``'s finding.  That one is
    not a *last resort* here: it claims that edge's failures, which nothing else explains, so a
    named cause of another edge or of the proxy does not hide them."""
    out: list[Candidate] = []
    for lb in ev.edge.families:
        # most likely first within the family: equal ranks keep this order (rank.fold is stable)
        found, folded = _died_then_refused(lb, findings(lb))
        found, emptied = _lookup_emptied(found)
        folded |= emptied
        found = [edge_apps.refine(ev, lb, f) for f in found]
        for f in sorted(found, key=lambda f: (-f.confidence, -f.count, f.cause)):
            claimed = {claim(lb.family, f.cause)} | {claim(lb.family, c) for c in folded.get(f.cause, ())}
            out.append(Candidate(replace(f, confidence=uncalibrate(f.confidence)),
                                 claims=frozenset(claimed), edge=lb.family))
    return out


DEATH_WINDOW_S = 60.0  # the refusals start at most this long after the first drop (base.died_then_refused)


def _died_then_refused(lb: LbEvidence, found: list[Finding],
                       ) -> tuple[list[Finding], dict[str, tuple[str, ...]]]:
    """A backend that dropped requests mid-way and from then on refused every connection crashed:
    the refusals are the crash's consequence, so the crash's finding takes them in (the edge's
    form of ``analyzers.base.died_then_refused``, which folds nginx's ``upstream prematurely
    closed`` then ``connect() failed (111)``, HAProxy's SH then SC, Apache's AH01102 then
    AH00957).  In an edge log: Envoy's ``UC`` then ``UF`` (source/common/stream_info/utility.cc),
    Caddy's ``EOF`` / ``connection reset by peer`` then ``connect: connection refused``.  Only
    when the drops start before the refusals, within ``DEATH_WINDOW_S``, none long after they
    began (drops scattered all day are not a death), at the same target (Caddy's ``EOF`` names
    none: then the log's only target).  Returns the findings and, per cause, the causes folded
    into it (its candidate claims their failures too)."""
    crashed = next((f for f in found if f.cause == "backend-crashed"), None)
    refused = next((f for f in found if f.cause == "backend-not-running"), None)
    if crashed is None or refused is None:
        return found, {}
    drop_first, drop_last = edge_apps.when(crashed.first_seen), edge_apps.when(crashed.last_seen)
    refuse_first = edge_apps.when(refused.first_seen)
    if drop_first is None or drop_last is None or refuse_first is None:
        return found, {}
    same = (crashed.target == refused.target
            or (None in (crashed.target, refused.target) and len(lb.targets) <= 1))
    before = 0 <= (refuse_first - drop_first).total_seconds() <= DEATH_WINDOW_S
    if not same or not before or (drop_last - refuse_first).total_seconds() > DEATH_WINDOW_S:
        return found, {}
    item = EvidenceItem(kind="stat", time=refused.first_seen, summary=(
        f"after the first dropped request ({crashed.first_seen}), {refused.count:,} requests found "
        f"nothing listening at {refused.target or 'the target'} (from {refused.first_seen}): it "
        "died mid-request and did not come back"))
    merged = replace(
        crashed, count=crashed.count + refused.count,
        status_codes=sorted(set(crashed.status_codes) | set(refused.status_codes)),
        symptoms=sorted(set(crashed.symptoms) | set(refused.symptoms)),
        target=crashed.target or refused.target, upstream=crashed.upstream or refused.upstream,
        last_seen=max(crashed.last_seen or "", refused.last_seen or "") or None,
        confidence=max(crashed.confidence, refused.confidence),
        evidence=[*crashed.evidence[:1], item, *crashed.evidence[1:], *refused.evidence])
    return ([merged if f is crashed else f for f in found if f is not refused],
            {"backend-crashed": ("backend-not-running",)})



def _lookup_emptied(found: list[Finding]) -> tuple[list[Finding], dict[str, tuple[str, ...]]]:
    """An edge whose upstreams come from a name lookup at request time (Caddy's dynamic
    upstreams) has none when the lookup fails, and answers "no upstreams available" (503): those
    answers are the lookup's consequence, not health checks that took every upstream out
    (``base.lookups_that_emptied``, the same reading of a proxy's error log; here of an
    edge's log, as ``watch`` reads Caddy's).  The name's finding takes them in when the failed
    lookups and the 503s come together (``base.together``).  Returns the findings and the
    causes folded, as ``_died_then_refused``."""
    dns = next((f for f in found if f.cause == "dns-unresolvable"), None)
    empty = next((f for f in found if f.cause == "all-upstreams-down"), None)
    if dns is None or empty is None:
        return found, {}
    d_first, d_last = edge_apps.when(dns.first_seen), edge_apps.when(dns.last_seen)
    e_first, e_last = edge_apps.when(empty.first_seen), edge_apps.when(empty.last_seen)
    if not (d_first and d_last and e_first and e_last) or not together((d_first, d_last), (e_first, e_last)):
        return found, {}
    item = EvidenceItem(kind="stat", time=empty.first_seen, summary=(
        f"{empty.count:,} requests found no upstream at all while the lookup of "
        f"{dns.target or 'the upstream name'} failed: the upstreams come from that lookup"))
    merged = replace(
        dns, count=dns.count + empty.count,
        status_codes=sorted(set(dns.status_codes) | set(empty.status_codes)),
        symptoms=sorted(set(dns.symptoms) | set(empty.symptoms)),
        first_seen=min(dns.first_seen or "", empty.first_seen or "") or None,
        last_seen=max(dns.last_seen or "", empty.last_seen or "") or None,
        confidence=max(dns.confidence, empty.confidence),
        evidence=[*dns.evidence[:1], item, *dns.evidence[1:], *empty.evidence])
    return ([merged if f is dns else f for f in found if f is not empty],
            {"dns-unresolvable": ("all-upstreams-down",)})


def claim(family: str, cause: str) -> GroupKey:
    """The failures of one edge that one cause explains, as ``rank`` keys what a candidate
    claims: ``(cause, "edge:<family>")`` (no proxy error-log group has such a peer)."""
    return (cause, f"edge:{family}")


def findings(ev: LbEvidence) -> list[Finding]:
    """The findings of one edge's log: its own failures per cause, the backend's 5xx it relayed,
    or, when neither, the 5xx nothing in the log explains."""
    groups = ev.lb_failures
    lb_total = sum(g.count for g in groups.values())
    out = [_failure_finding(ev, g, lb_total) for g in groups.values()]
    if ev.backend_5xx.count:
        out.append(_backend_finding(ev))
    # the failures the proxy's error log records (``joined``) are weighed by its own diagnosis
    if not out and (made := ev.five - ev.made_by.get("backend", 0) - ev.joined) > 0:
        out.append(_unexplained_finding(ev, made))
    return out


def _unexplained_finding(ev: LbEvidence, count: int) -> Finding:
    """The clients got 5xx the load balancer made (or of unknown make) and no word of this log
    names a cause: the last resort of ``analyzers.unexplained``, never "healthy"."""
    name = _lb_name(ev.family)
    statuses = {s: n for s, n in ev.statuses.items() if s >= 500}
    return unexplained.finding(
        who=name, count=count, statuses=statuses, source=f"the {ev.family} log ({ev.requests:,} requests)",
        made={"the load balancer": ev.made_by.get("lb", 0), "unknown": ev.made_by.get("unknown", 0)},
        evidence=[EvidenceItem(kind="log", summary=f"a 5xx answered by {name}",
                               source=s.file, line=s.line, time=s.time, text=s.text[:2000])
                  for s in ev.five_samples],
        first=ev.first, last=ev.last,
        next_steps=[f"read {name}'s error/debug log for these minutes (pass it with --error-log)",
                    *_commands(ev.family)])

