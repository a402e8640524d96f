"""The last resort: clients got 5xx the proxy made, and nothing read says why.

Every other analyzer needs a fact to name a cause (a log message, a probe, a config line).  When
none of them fires, the report used to say "healthy" and exit 0 even though the access log
showed 60% of the requests answered 502, or the error log held thousands of failed attempts
no rule knew: the on-call engineer read "nothing is wrong".  This module is the one guard
against that, for every reader: ``analyze`` (nginx, Apache, HAProxy: a *last-resort*
candidate, which ``rank.fold`` keeps only when no other candidate is kept) and ``finding``
(also used by ``cloud_lb`` for the load balancer logs).  It names the symptom (the statuses and
how many), its source (the log and a first line) and who made the 5xx, and says what to read
next; it never guesses a cause.  Pure.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from dataclasses import replace
from datetime import datetime

from why502.analyzers.base import Candidate, iso, proxy_name, sample_item
from why502.analyzers.fpm_access import pool_record
from why502.catalog import load_catalog
from why502.catalog.patterns import program_names
from why502.evidence.model import Evidence
from why502.findings.model import EvidenceItem, Finding, Fix

CAUSE = "unexplained-5xx"
CONFIDENCE = 0.3  # a symptom without a cause: below every named cause that fired


def _top(counts: Mapping[str, int], n: int = 4) -> str:
    return ", ".join(f"{k} × {v:,}" for k, v in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))[:n])


def finding(*, who: str, count: int, statuses: Mapping[int, int], source: str,
            made: Mapping[str, int], evidence: list[EvidenceItem], first: str | None,
            last: str | None, next_steps: list[str]) -> Finding:
    """The last-resort finding: ``count`` 5xx (``statuses``) that ``who`` answered to clients,
    seen in ``source`` (what the count comes from: an access log, an error log, a load
    balancer's log), ``made`` saying who made them (``proxy``, ``backend``, ``unknown``)."""
    shown = _top({str(s): n for s, n in statuses.items()}) or "5xx"
    makers = ", ".join(f"{k} {v:,}" for k, v in made.items() if v)
    items = [EvidenceItem(kind="stat", count=count, time=first, summary=(
        f"{count:,} 5xx answered by {who} ({shown}) between {first or '?'} and {last or '?'}, "
        f"from {source}" + (f"; made by: {makers}" if makers else "")))]
    return Finding(
        cause=CAUSE, title=f"Clients got {count:,} 5xx from {who}, and nothing read says why",
        confidence=CONFIDENCE, status_codes=sorted(statuses) or [502],
        symptoms=[], explanation=(
            f"{who} answered {count:,} requests with a 5xx ({shown}), but no message, probe or "
            "config line in the inputs points to a cause that why502 knows. This is not a healthy "
            "host: the failures are real, only their reason is missing from what was read."),
        evidence=[*evidence, *items][:6],
        fix=Fix(summary="Find the reason in what was not read", commands=[], notes=next_steps),
        first_seen=first, last_seen=last, count=count)


def analyze(ev: Evidence) -> list[Candidate]:
    """A last-resort candidate when the clients got 5xx the backend is not shown to have made
    (access log), or, without an access log, when the proxy logged failed attempts."""
    who = proxy_name(ev.proxy)
    steps = [f"read {who}'s error log for these minutes (pass it with --error-log)",
             "pass the config (--config) so each failure is tied to its upstream",
             "add $upstream_addr $upstream_status $upstream_header_time to the log_format, so "
             "the access log says who made each 5xx"]
    seen = ev.logs.client_5xx
    if seen is not None:
        if not seen.not_backend:
            return []  # none, or every 5xx the backend's own (analyzers.application)
        evidence = []
        if seen.file:
            evidence.append(EvidenceItem(kind="log", summary=f"first 5xx: {seen.request or ''}".strip(),
                                         source=seen.file, line=seen.line, time=iso(seen.first)))
        made = {"proxy": seen.by_proxy, "backend": seen.by_backend,
                "unknown": seen.total - seen.by_proxy - seen.by_backend}
        f = finding(who=who, count=seen.not_backend, statuses=seen.statuses,
                    source=f"the access log ({seen.requests:,} requests)", made=made,
                    evidence=evidence, first=iso(seen.first), last=iso(seen.last), next_steps=steps)
        return [Candidate(_fastcgi_doubt(ev, f, who) if not seen.by_proxy else f, last_resort=True)]
    groups = [g for g in ev.logs.symptoms if g.count]
    if not groups:
        return _relayed_by_another(ev)
    count = sum(g.count for g in groups)
    by_symptom: Counter[str] = Counter()
    statuses: Counter[int] = Counter()
    for g in groups:
        by_symptom[g.symptom] += g.count
        statuses.update({s: n for s, n in g.statuses.items() if s >= 500})
    firsts = [g.first.replace(tzinfo=None) for g in groups if g.first]
    lasts = [g.last.replace(tzinfo=None) for g in groups if g.last]
    sample = next((g.samples[0] for g in groups if g.samples), None)
    evidence = ([sample_item(sample, f"{who}: {_top(by_symptom, 3)}", groups[0].symptom)]
                if sample is not None else [])
    f = finding(who=who, count=count, statuses=dict(statuses), made={"proxy": count},
                source=f"the error log (failed attempts: {_top(by_symptom)})", evidence=evidence,
                first=iso(min(firsts, default=None)), last=iso(_latest(lasts)), next_steps=steps)
    return [Candidate(f, last_resort=True)]


def _fastcgi_doubt(ev: Evidence, f: Finding, who: str) -> Finding:
    """``f`` with the two readings it cannot decide between, and what decides, when every
    backend of the config is a FastCGI server (PHP-FPM) and the proxy's error log, read, has no
    failure line at all: a complete FastCGI answer is relayed silently whatever its status
    (mod_proxy_fcgi.c ``dispatch()`` passes the script's ``Status:`` header on, and mod_proxy_fcgi
    sets no ``proxy-status`` note as mod_proxy_http does; nginx's ``ngx_http_fastcgi_module``
    logs nothing for a parsed answer), and a FastCGI port does not answer the HTTP probe.  So the
    app's own 5xx (``upstream-returned-5xx``) is one reading; the proxy's own failures with their
    lines not in the log read (a ``LogLevel`` above ``error``, another file) the other.  What
    decides is the pool's own record of the same requests: its access log with the status
    (``access.log`` and ``access.format`` with ``%s``, php-src sapi/fpm/fpm/fpm_log.c; off by
    default in Debian's www.conf), or the same script asked of the pool directly.  Calibrated
    doubt (issue 25 item 3): the finding says so, its confidence stays the last resort's."""
    pools = [t for t in ev.config.targets if t.kind == "fastcgi"]
    if not pools or len(pools) != len(ev.config.targets) or any(g.count for g in ev.logs.symptoms):
        return f
    where = ", ".join(dict.fromkeys(t.key for t in pools))
    connect = pools[0].unix_path or pools[0].key
    said = [p.access_log for p in ev.config.fpm_pools if p.access_log]
    explanation = (
        f"{f.explanation} {who}'s error log has no failure line for them, and every backend of "
        f"the config is a FastCGI server ({where}): two readings fit. The PHP app answered these "
        "statuses itself (upstream-returned-5xx): a complete FastCGI answer is relayed without a "
        f"log line, whatever its status. Or {who} made them and its lines are not in the log read "
        "(a LogLevel above error, another file). What decides: the pool's own record of these "
        "requests.")
    cf = ev.logs.client_5xx
    record = pool_record(ev, pools[0], cf) if cf is not None and len({t.key for t in pools}) == 1 else None
    if record is not None and record.answered and not record.made:
        explanation += (f" The pool's access log ({record.log.file}) records {len(record.answered)} "
                        "answers below 500 for these requests and no 5xx: the app did not make them, "
                        "which refutes the first reading.")
    elif record is not None and not record.lines:
        explanation += (f" The pool's access log ({record.log.file}) has no line for these requests: "
                        "the pool did not finish them (a child killed mid-request writes none).")
    steps = [(f"the pool's access log at these times ({said[0]})" if said else
              "the pool's access log: access.log = /var/log/php-fpm/$pool.access.log and "
              "access.format = \"%R - %u %t \\\"%m %r\\\" %s\" in the pool's conf (off by default)")
             + ": a 5xx there at these times is the app's own (give it to why502: --fpm-conf "
               "with the pool's conf, or --app-log FILE)",
             f"ask the pool for the same script: SCRIPT_FILENAME=/path/to/script.php "
             f"REQUEST_METHOD=GET cgi-fcgi -bind -connect {connect} | head -3 (a 'Status: 5xx' "
             "line is the app's answer)",
             f"{who}'s error log at LogLevel warn or lower for these minutes (--error-log): a "
             "failure of its own is logged at error"]
    return replace(f, explanation=explanation, fix=replace(f.fix, notes=steps) if f.fix else f.fix)


def _latest(times: list[datetime]) -> datetime | None:
    return max(times) if times else None


def _relayed_by_another(ev: Evidence) -> list[Candidate]:
    """Failures another proxy-like program wrote into the logs named (``cloudflared``'s
    "Unable to reach the origin service ...", read by the catalog's ``go-proxy`` rules, in a
    ``--error-log`` with no proxy of the registry's lines): they are that program's events, not
    this proxy's symptoms, so no family weighs them; each is a request it answered with a 5xx
    (the catalog symptom's statuses), and the report said "healthy" (issue 24 item 5).  The
    last resort names them, by program; nothing else is guessed."""
    catalog = load_catalog()
    rows = []
    for e in ev.logs.events:
        entry = catalog.get(e.kind)
        if entry is not None and entry.kind == "symptom" and any(s >= 500 for s in entry.status_codes):
            rows.append((e, [s for s in entry.status_codes if s >= 500]))
    if not rows:
        return []
    by_symptom: Counter[str] = Counter(e.kind for e, _ in rows)
    statuses: Counter[int] = Counter(codes[0] for _, codes in rows)
    sources = sorted({e.source for e, _ in rows if e.source})
    who = " or ".join(n for s in sources for n in program_names(s)) or "another program"
    first = rows[0][0]
    times = [e.time.replace(tzinfo=None) for e, _ in rows if e.time]
    evidence = [EvidenceItem(kind="log", summary=f"{who}: {_top(by_symptom, 3)}", source=first.file,
                             line=first.line, time=iso(first.time), text=first.text[:2000],
                             symptom=first.kind)]
    steps = [f"these are {who}'s own lines: read them with its log type, or its config, so each "
             "failure is tied to its origin",
             "the symptoms' pages: why502 explain " + " / ".join(sorted(by_symptom)[:3])]
    f = finding(who=who, count=len(rows), statuses=dict(statuses), made={"proxy": len(rows)},
                source=f"its lines in the logs named ({_top(by_symptom)})", evidence=evidence,
                first=iso(min(times, default=None)), last=iso(_latest(times)), next_steps=steps)
    return [Candidate(replace(f, symptoms=sorted(by_symptom)), last_resort=True)]
