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
from datetime import datetime, timedelta

from why502.analyzers.apps import killed_at_own_limit, unclaimed_timing
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
from why502.analyzers.fpm_access import SLACK, PoolRecord, pool_record
from why502.evidence.model import (
    ClientFailures,
    Evidence,
    LocationOutcome,
    LogEvent,
    TargetFact,
    UpstreamTiming,
)
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
            + " " + proxy_of(ev).vocabulary.relayed_5xx, count=made)]
        items += [EvidenceItem(kind="log", summary="access-log line", source=s.file, line=s.line,
                               text=s.text, time=s.time.isoformat() if s.time else None)
                  for s in timing.samples[:2]]
        if not related:
            who = proxy_name(ev.proxy)
            items.append(EvidenceItem(kind="stat", summary=f"no {who} error-log line for {name}: "
                                      f"{who} itself saw nothing wrong"))
        target = ev.target(name)
        if target:
            items.append(config_item(target))
        php_fatal = _pool_fatal_errors(ev, target, timing) if target is not None else []
        if target is not None and php_fatal:
            out.append(_fatal_relayed(ev, name, target, timing, made, php_fatal, items))
            continue
        finding = make_finding(
            "upstream-returned-5xx", confidence=conf, groups=[],
            explanation=f"The 5xx came from the backend behind {name} (or a proxy behind it): it sent "
                        f"a complete response with that status and {proxy_name(ev.proxy)} passed it "
                        "through.",
            evidence=items,
            fix=Fix(summary=f"look at the backend's own logs for these requests; {proxy_name(ev.proxy)} "
                            "is only the messenger", commands=["journalctl -u <backend unit> --since -1h"]),
            upstream=name, target=target.key if target else None,
            status_codes=sorted(s for s in timing.backend_5xx if s >= 500))
        out.append(Candidate(finding=_with_count(finding, made, timing)))
    if not ev.logs.access_has_upstream:
        out += [c for loc in ev.logs.locations_5xx if (c := _location_made_5xx(ev, loc, failing_peers))]
        if not ev.logs.locations_5xx:
            out += _probed_made_5xx(ev, failing_peers) or _fastcgi_made_5xx(ev)
    return out


def _pool_fatal_errors(ev: Evidence, target: TargetFact, timing: UpstreamTiming) -> list[LogEvent]:
    """``pool_fatal_errors`` for the 5xx of ``timing``: in its minutes -- the timing's own
    (nginx's access log), else its sample lines' (HAProxy's), else the clients' 5xx of the log."""
    times = [t for t in (timing.first, timing.last) if t is not None] or [
        x.time for x in timing.samples if x.time is not None]
    cf = ev.logs.client_5xx
    if not times and cf is not None:
        times = [t for t in (cf.first, cf.last) if t is not None]
    return pool_fatal_errors(ev, target, times, dict(timing.backend_5xx))


def pool_fatal_errors(ev: Evidence, target: TargetFact, times: list[datetime],
                      statuses: dict[int, int]) -> list[LogEvent]:
    """PHP's fatal errors in PHP-FPM's own log (``--fpm-log``: the worker's stderr, caught by
    the master, ``catch_workers_output``) for the 5xx a FastCGI ``target`` answered itself.

    Why: a proxy that does not log a FastCGI server's stderr (HAProxy's ``fcgi-app`` without
    ``log-stderr``, configuration.txt 10.1.1; Caddy's FastCGI transport) relays PHP's 500 with
    no word of its own, so its log says "the backend made it" (upstream-returned-5xx) and the
    reason is only in PHP-FPM's log: ``PHP Fatal error:  Uncaught Error: ...`` (main/main.c
    ``php_error_cb()``; pattern ``php-fatal-error``), the catalog's app-fatal-error, as nginx's
    ``FastCGI sent in stderr`` and Apache's AH01071 say it themselves (stop 45).

    Identity and time: the target is a FastCGI one; a dated line must fall in the minutes of the
    relayed 5xx (``times``).  A worker's stderr copied undecorated (``decorate_workers_output = no``) has no
    time: such lines count only when the pool's own access log (``analyzers.fpm_access``, the
    pool serving this target) records 5xx it answered itself in those minutes."""
    if target.kind != "fastcgi" or not times:
        return []
    first, last = min(t.replace(tzinfo=None) for t in times), max(t.replace(tzinfo=None) for t in times)
    start, end = first - SLACK, last + SLACK + timedelta(minutes=1)
    fatal = [e for e in ev.all_events if e.kind == "app-error" and e.source == "php"
             and any(k in e.text.lower() for k in _FATAL)]
    dated = [e for e in fatal if e.time is not None and start <= e.time.replace(tzinfo=None) <= end]
    if dated:
        return dated
    undated = [e for e in fatal if e.time is None]
    if not undated:
        return []
    record = pool_record(ev, target, ClientFailures(statuses=statuses, first=first, last=last))
    return undated if record is not None and record.made else []


def _fatal_relayed(ev: Evidence, name: str, target: TargetFact, timing: UpstreamTiming, made: int,
                   fatal: list[LogEvent], items: list[EvidenceItem]) -> Candidate:
    """app-fatal-error for the 5xx ``target`` answered, from PHP-FPM's own log (``_pool_fatal_errors``)."""
    first = fatal[0]
    said = [EvidenceItem(kind="log", summary=f"PHP-FPM's log: {len(fatal)} PHP fatal error(s)"
                         + ("" if first.time is not None else " (the workers' output, undated: "
                            "the pool's own access log dates its 500s)"),
                         source=first.file, line=first.line, text=first.text,
                         time=first.time.isoformat() if first.time else None, count=len(fatal))]
    finding = make_finding(
        "app-fatal-error", confidence=0.85 if first.time is not None else 0.8, groups=[],
        explanation=f"The PHP application behind {name} died on a fatal error and PHP answered "
                    f"the 500 itself; {proxy_name(ev.proxy)} relayed it and logs no FastCGI "
                    "stderr, so the reason is in PHP-FPM's own log. The proxy and the connection "
                    "are fine.",
        evidence=[*said, *items],
        fix=Fix(summary="fix the error in the application code or its config (PHP-FPM's log names "
                        "the file and line)",
                commands=[f"grep -F 'PHP Fatal' {first.file} | tail -5" if first.file
                          else "tail -50 /var/log/php*-fpm.log"]),
        upstream=name, target=target.key, status_codes=sorted(s for s in timing.backend_5xx if s >= 500))
    return Candidate(finding=_with_count(finding, made, timing))


def _fastcgi_made_5xx(ev: Evidence) -> list[Candidate]:
    """A FastCGI app (PHP-FPM) answering 5xx itself, behind an access log with no upstream
    field, where no probe can ask it (a FastCGI port does not answer the HTTP probe).

    The facts, each the proxy's documented behaviour:

    - clients got 5xx (``ClientFailures``) that no error-log line claims;
    - the error log read is the one the config writes, at a level that lets ``error`` through
      (``ConfigFacts.own_failures_logged``, the proxy's plug-in: Apache's ``ErrorLog`` and
      ``LogLevel``), and it has no failure line near these 5xx: every 5xx the proxy makes
      itself towards a FastCGI server is logged at ``error`` (mod_proxy_fcgi.c
      ``fcgi_do_request``: AH01073/AH01074/AH01075 before its 503/504, ``proxy_fcgi_handler``
      AH01079; proxy_util.c AH00957/AH02454/AH00940/AH00941), while a complete FastCGI answer is
      relayed with the script's ``Status:`` and no line (``dispatch()``).  Lines over an hour
      before the first 5xx are another incident (``rank.RECOVERED``), not these;
    - the first 5xx's request is routed to one FastCGI target and to no other target, as the
      proxy itself routes it (``ConfigFacts.router``: its own matcher, ``facts.routes``; a
      proxy without one: nothing is said).

    Without the level (None: a proxy whose plug-in does not say, or an ``ErrorLog`` not read)
    this says nothing, and ``unexplained`` states both readings and what decides.  The
    confidence is below a probed answer's (0.8) without the pool's own record of the requests;
    with it (``analyzers.fpm_access``: the pool's access log, identity- and time-checked) the
    pool's own 5xx lines raise it (0.85), lines below 500 only refute this reading, and no line
    at all leaves it in doubt (0.45: a killed child writes none)."""
    from why502.analyzers.rank import RECOVERED

    cf = ev.logs.client_5xx
    if cf is None or cf.by_proxy or ev.config.own_failures_logged is not True or cf.first is None:
        return []
    unclaimed = cf.total - cf.by_proxy
    first = cf.first.replace(tzinfo=None)
    near = [g for g in ev.logs.symptoms if g.count and (
        g.last is None or g.last.replace(tzinfo=None) >= first - RECOVERED)]
    keys = _routed(ev, cf.request)
    serving = [t for t in ev.config.targets if keys and t.key in keys]
    if unclaimed <= 0 or near or not keys or len(keys) != 1 or not serving \
            or any(t.kind != "fastcgi" for t in serving):
        return []
    target = serving[0]
    record = pool_record(ev, target, cf)
    if record is not None and record.answered and not record.made:
        return []  # the pool answered these requests below 500 itself: not its 5xx
    who = proxy_name(ev.proxy)
    statuses = ", ".join(f"{s}×{n}" for s, n in sorted(cf.statuses.items()))
    items = _unclaimed_items(cf, unclaimed, f"{who} relays a complete FastCGI answer silently")
    items += [EvidenceItem(kind="stat", summary=f"{who}'s error log is the one its config writes, "
                           "at a level that records its own failures of a backend (error): it "
                           f"would hold a line for each 5xx {who} made itself"),
              config_item(target)]
    confidence, proof = 0.6, ("What would prove it: the pool's access log with the status "
                              "(access.format with %s), or the same script asked of the pool (cgi-fcgi).")
    if record is not None:
        items += _pool_items(record)
        if record.made:
            confidence = 0.85
            made = ", ".join(f"{s}×{n}" for s, n in sorted(record.statuses.items()))
            proof = (f"The pool recorded them itself: its access log ({record.log.file}) has "
                     f"{len(record.made)} lines with {made} for these requests in this window.")
        else:
            confidence = 0.45
            proof = ("But the pool's access log has no line for these requests in this window: a "
                     "request the pool never finished (its child killed, as "
                     "request_terminate_timeout does) leaves none, so this reading stays in doubt.")
    finding = make_finding(
        "upstream-returned-5xx", confidence=confidence, groups=[],
        explanation=f"The FastCGI app behind {target.key} answered {statuses} itself: {who} "
                    "passed its complete answer on, which it does without a log line whatever the "
                    f"status, while each failure of its own towards a FastCGI server is logged at "
                    f"error, and {who}'s error log, at that level, is silent about these requests. "
                    + proof,
        evidence=items,
        fix=Fix(summary=f"look at the app's own logs for these requests (PHP's error_log, the "
                        f"pool's slow log); {who} is only the messenger",
                commands=[f"SCRIPT_FILENAME=/path/to/script.php REQUEST_METHOD=GET cgi-fcgi -bind "
                          f"-connect {target.unix_path or target.key} | head -3"]),
        upstream=target.group, target=target.key,
        status_codes=sorted(s for s in cf.statuses if s >= 500))
    return [Candidate(finding=replace(
        finding, count=unclaimed, first_seen=cf.first.isoformat(timespec="seconds"),
        last_seen=cf.last.isoformat(timespec="seconds") if cf.last else None))]


def _pool_items(record: PoolRecord) -> list[EvidenceItem]:
    """The pool's own lines about the failing requests, as evidence (verbatim: escaped when
    shown)."""
    log = record.log
    whose = f"pool {log.pool}'s access log" if log.pool else "the PHP-FPM access log"
    if record.made:
        made = ", ".join(f"{s}×{n}" for s, n in sorted(record.statuses.items()))
        summary = f"{whose}: the pool answered {made} itself in the window of these 5xx"
    else:
        summary = (f"{whose}: no 5xx line in the window of these 5xx "
                   f"({len(record.answered)} lines below 500)")
    items = [EvidenceItem(kind="stat", summary=summary, source=log.file, count=len(record.made))]
    items += [EvidenceItem(kind="log", summary="PHP-FPM access-log line", source=log.file, line=r.line,
                           text=r.text, time=r.time.isoformat() if r.time else None)
              for r in (record.made or record.lines)[:2]]
    return items


def _routed(ev: Evidence, request: str | None) -> set[str] | None:
    """The target keys the proxy routes ``request``'s path to, by its own matcher
    (``ConfigFacts.router``, the proxy's ``facts.routes.PathRouter``); None when it cannot tell
    (no router for this proxy, no path in the request line)."""
    parts = (request or "").split(" ")
    if ev.config.router is None or len(parts) < 2 or not parts[1]:
        return None
    keys = ev.config.router.serving(parts[1])
    return set(keys) if keys is not None else None


def _probed_made_5xx(ev: Evidence, failing: set[str | None]) -> list[Candidate]:
    """A backend answering 5xx itself behind an access log with neither upstream fields nor a
    location model to tie a request to a target (Apache's ``combined``/``common``: mod_log_config
    has no upstream item; a config whose routes the stats engine cannot match).

    The facts, each the proxy's documented behaviour, not a guess:

    - clients got 5xx (``ClientFailures``) that no error-log line claims (``by_proxy`` is the
      5xx an error line was joined to);
    - the error log names no failure at the target: a proxy logs its own failures of a backend
      (nginx's ``connect() failed``/``upstream timed out``/``prematurely closed`` at ``error``;
      Apache mod_proxy_http's ``AH00957`` refused connect, ``AH01102`` "error reading status
      line from remote server", ``(70007)`` timeout, all at ``error``), and relays a complete
      response silently whatever its status (mod_proxy_http.c ``ap_proxy_http_process_response``
      passes the backend's status line on; nginx ``ngx_http_upstream_process_header()``);
    - the live probe of that target got a 5xx status line itself: the backend makes them.

    Only a target the probe saw answering 5xx is named (a finding that names a backend names
    the failing one); without such a probe this says nothing (``unexplained`` keeps the host
    from reading healthy)."""
    cf = ev.logs.client_5xx
    if cf is None or not ev.live.probes or None in failing:
        return []
    unclaimed = cf.total - cf.by_proxy
    if unclaimed <= 0:
        return []
    out = []
    for target in ev.config.targets:
        probe = ev.live.probes.get(target.key)
        status = probe.protocol.status if probe is not None and probe.protocol is not None else None
        if status is None or status < 500 or target.key in failing or (
                target.group is not None and target.group in failing):
            continue
        timing = unclaimed_timing(ev, target)
        if timing is not None and killed_at_own_limit(ev, target.key, timing):
            continue  # the app server's own time limit made them (capacity: backend-too-slow)
        who = proxy_name(ev.proxy)
        items = _unclaimed_items(cf, unclaimed, f"{who} relays a complete response silently")
        items.append(EvidenceItem(kind="stat", summary=f"no {who} error-log line for {target.key}: "
                                                       f"{who} reached the backend and got an answer"))
        items.append(probe_item(target.key, probe))  # type: ignore[arg-type]
        items.append(config_item(target))
        got = probe.protocol.status_line if probe is not None and probe.protocol is not None else None
        finding = make_finding(
            "upstream-returned-5xx", confidence=0.8, groups=[],
            explanation=f"The backend {target.key} answers {status} itself: {who} reached it, got a "
                        "complete response with that status and passed it on. The access log does "
                        f"not say which backend served each request, but {who}'s error log is silent "
                        f"about it and a live request to it got {got or status}.",
            evidence=items,
            fix=Fix(summary=f"look at the logs of the backend {target.key} for these requests; {who} "
                            "is only the messenger",
                    commands=[f"curl -sS -o /dev/null -w '%{{http_code}}\\n' http://{target.key}/",
                              "journalctl -u <backend unit> --since -1h"]),
            upstream=target.group, target=target.key,
            status_codes=sorted(s for s in cf.statuses if s >= 500))
        out.append(Candidate(finding=replace(
            finding, count=unclaimed,
            first_seen=cf.first.isoformat(timespec="seconds") if cf.first else None,
            last_seen=cf.last.isoformat(timespec="seconds") if cf.last else None)))
    return out


def _unclaimed_items(cf: ClientFailures, unclaimed: int, silently: str) -> list[EvidenceItem]:
    """The access log's 5xx that no error-log line claims, and its first such line."""
    statuses = ", ".join(f"{s}×{n}" for s, n in sorted(cf.statuses.items()))
    when = f" between {cf.first:%H:%M} and {cf.last:%H:%M}" if cf.first and cf.last else ""
    items = [EvidenceItem(kind="stat", count=unclaimed,
                          summary=f"access log: clients got {statuses}{when}; no error-log line "
                                  f"for any of them ({silently})")]
    if cf.file and cf.line:
        items.append(EvidenceItem(kind="log", summary="first 5xx in the access log", source=cf.file,
                                  line=cf.line, text=cf.request))
    return items


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
    unknown = loc.total - loc.by_proxy
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
    who = proxy_name(ev.proxy)
    items = [EvidenceItem(kind="stat", count=unknown,
                          summary=f"access log: {where} answered {statuses}; no error-log line "
                                  f"for any of them ({who} relays a complete response silently)"),
             EvidenceItem(kind="stat", summary=f"no {who} error-log line for {target.key}: {who} "
                                               "reached the backend and got an answer")]
    if probe is not None:
        items.append(probe_item(target.key, probe))
    items.append(config_item(target))
    got = probe.protocol.status_line if probe is not None and probe.protocol is not None else None
    explanation = (f"The backend {target.key} behind {where} answers {probed if seen else '5xx'} "
                   f"itself: {who} reached it, got a complete response with that status and passed "
                   "it on. The access log has no $upstream_status to say so, but the error log is "
                   "silent" + (f" and a live request to the backend got {got or probed}." if seen else "."))
    finding = make_finding(
        "upstream-returned-5xx", confidence=0.85 if seen else 0.55, groups=[],
        explanation=explanation, evidence=items,
        fix=Fix(summary=f"look at the logs of the backend {target.key} for these requests; {who} "
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
