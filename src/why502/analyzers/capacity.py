"""Capacity: backend-too-slow, workers-exhausted.

``upstream timed out (110: Connection timed out) while reading response header from upstream``
is nginx's own ``proxy_read_timeout`` timer firing (``ngx_http_upstream.c``
``ngx_http_upstream_next()`` with ``NGX_HTTP_UPSTREAM_FT_TIMEOUT`` → 504; default 60s,
``ngx_http_proxy_merge_loc_conf``).  The proof that the backend is merely slow is the access
log: upstream response times sitting at the configured timeout.  When every worker is busy
instead, PHP-FPM says ``server reached pm.max_children setting`` (``sapi/fpm/fpm/fpm_process_ctl.c``)
and a full unix-socket backlog makes connect() fail with EAGAIN (``(11: Resource temporarily
unavailable)``, special-cased for Linux unix sockets in ``ngx_event_connect_peer()``).
"""

from __future__ import annotations

from dataclasses import replace

from why502.analyzers.apps import (
    killed_at_own_limit,
    serving,
    setting_item,
    shown,
    unclaimed_timing,
    where_to_set,
)
from why502.analyzers.base import (
    DEATH_SYMPTOMS,
    Candidate,
    by_peer,
    claims,
    edit,
    event_item,
    group_items,
    groups_of,
    make_finding,
    proxy_name,
    proxy_of,
    reload_commands,
    upstream_name,
)
from why502.analyzers.identity import belongs
from why502.evidence.model import Evidence, LogEvent, SymptomGroup, TargetFact, UpstreamTiming
from why502.facts.edits import Place, RaiseServerConnections, Route
from why502.facts.fpm import FpmPool
from why502.facts.net import split_key
from why502.facts.setting import Setting
from why502.findings.model import EvidenceItem, Fix
from why502.findings.patch import combine, replace_line
from why502.proxies.base import seconds


def analyze(ev: Evidence) -> list[Candidate]:
    out: list[Candidate] = []
    fpm_max = [e for e in ev.all_events if e.kind == "fpm-max-children"]
    busy = groups_of(ev, "backlog-full")
    local_ct = [g for g in groups_of(ev, "connect-timeout") if _is_local(g.peer)]
    slow_groups = by_peer(groups_of(ev, "read-timeout", "send-timeout"))
    if fpm_max or busy or local_ct:
        out.append(_exhausted(ev, fpm_max, busy + local_ct, slow_groups))
    for peer, groups in slow_groups.items():
        target = ev.target(peer)
        held = target.settings.get("held-idle-connections") if target else None
        out.append(_slow(ev, peer, groups, bool(fpm_max), held=held is not None))
        if held is not None:
            out.append(_held(ev, peer, groups, held))
    kills = [e for e in ev.all_events if e.kind == "worker-timeout"]
    for peer, groups in by_peer(groups_of(ev, *DEATH_SYMPTOMS)).items():
        mine = [e for e in kills if belongs(ev, peer, e, groups)]
        if mine:
            out.append(_killed_by_own_limit(ev, peer, groups, mine))
    for peer, groups in by_peer(groups_of(ev, "queue-timeout")).items():
        out.append(_queued(ev, peer, groups))
    for name, timing in ev.logs.access.items():
        made = sum(n for st, n in timing.backend_5xx.items() if st >= 500)
        kills = killed_at_own_limit(ev, name, timing) if made else []
        if kills:
            out.append(_killed_answered_500(ev, name, timing, kills, made))
    # an access log that does not name the backend (Apache's combined): the unclaimed 5xx and
    # the app server's own kills of a target it serves, at the same time
    for target in ev.config.targets:
        unclaimed = unclaimed_timing(ev, target)
        kills = killed_at_own_limit(ev, target.key, unclaimed) if unclaimed is not None else []
        if unclaimed is not None and kills:
            made = sum(unclaimed.backend_5xx.values())
            out.append(_killed_answered_500(ev, target.key, unclaimed, kills, made,
                                            how="no error-log line claims them: the proxy relayed them"))
    return out


def _killed_answered_500(ev: Evidence, name: str, timing: UpstreamTiming, kills: list[LogEvent],
                         made: int, how: str = "numeric $upstream_header_time") -> Candidate:
    """The app server's time limit killed the worker and the app server itself answered 5xx
    (gunicorn's sync worker: 500, ``analyzers.apps.killed_at_own_limit``): the 5xx the access
    log shows the backend sent are the slow requests, not an application bug."""
    cand = _killed_by_own_limit(ev, name, [], kills)
    server = _app_server(kills[0])
    statuses = sorted(st for st in timing.backend_5xx if st >= 500)
    shown_5xx = ", ".join(f"{st}×{n}" for st, n in sorted(timing.backend_5xx.items()))
    items = [EvidenceItem(kind="stat", count=made, summary=f"access log: {made} responses from {name} "
                          f"with status {shown_5xx}"
                          f" sent by {server} itself ({how}) when it killed "
                          "the worker")]
    f = cand.finding
    who = proxy_of(ev).vocabulary.title  # as _killed_by_own_limit's explanation names it
    explanation = f.explanation.replace(f"{who} saw the connection drop (502)",
                                        f"{server} answered {'/'.join(map(str, statuses))} itself "
                                        f"({who} only passed it on)")
    return Candidate(finding=replace(f, explanation=explanation, evidence=items + list(f.evidence),
                                     status_codes=statuses, count=made,
                                     first_seen=timing.first.isoformat(timespec="seconds")
                                     if timing.first else None,
                                     last_seen=timing.last.isoformat(timespec="seconds")
                                     if timing.last else None))


# The app server's own per-request limit, named as its docs name it, and its default.
_APP_LIMITS = {
    "php-fpm": ("request_terminate_timeout", "0 (off)"),
    "gunicorn": ("--timeout", "30s"),
    "uwsgi": ("harakiri", "0 (off)"),
    "puma": ("worker_timeout", "60s"),
}


def _killed_by_own_limit(ev: Evidence, peer: str | None, groups: list[SymptomGroup],
                         kills: list[LogEvent]) -> Candidate:
    """The backend's own time limit killed a slow request: the root cause is the slow request.

    PHP-FPM's ``request_terminate_timeout`` (``execution timed out (%d.%06d sec), terminating``,
    then SIGTERM: sapi/fpm/fpm/fpm_request.c), gunicorn's ``--timeout`` (``WORKER TIMEOUT``,
    gunicorn/arbiter.py ``murder_workers``) and uWSGI's ``harakiri`` (``HARAKIRI ON WORKER``,
    core/master_utils.c) kill the worker in the middle of the request, so nginx sees a reset or a
    premature close -- which reads like a crash.  Two limits are in play, the app server's and
    nginx's ``*_read_timeout``; the fix says both, since raising one alone moves the failure to
    the other.
    """
    target = ev.target(peer)
    name, setting = _timeout_setting(ev, target)
    v = proxy_of(ev).vocabulary  # the proxy's words: its title and its timer's default
    proxy_s = seconds(setting.value) if setting else 60.0
    server = _app_server(kills[0])
    limit_name, default = _APP_LIMITS[server]
    pool = next((p for p in ev.config.fpm_pools
                 if p.key == peer or (kills[0].pool and p.name == kills[0].pool)),
                None) if server == "php-fpm" else None
    app_setting = pool.settings.get("request_terminate_timeout") if pool else None
    app_s = float(pool.request_terminate_timeout) if pool and pool.request_terminate_timeout else None
    # gunicorn / uWSGI: the app server serving peer (identity: its bind), its own limit as read
    app = next((a for a in serving(ev, peer) if a.kind == server), None)
    app_where = ""
    if app is not None and app.setting("request") is not None:
        app_setting, app_s = app.setting("request"), app.seconds("request")
        knob = app.knob("request")
        limit_name = knob.flag if knob else limit_name
        app_where = where_to_set(app, "request", str(int(max((app_s or 0) * 2, 30, proxy_s or 60.0)) + 5))
    items = [event_item(e, f"{server} killed the worker at its own time limit ({limit_name})")
             for e in kills[:2]]
    if len(kills) > 2:
        items.append(EvidenceItem(kind="stat", summary=f"{len(kills)} × {server} timeout kills",
                                  count=len(kills)))
    items += [i for g in groups for i in group_items(g)]
    where = f" in pool [{pool.name}]" if pool else ""
    app_text = f"{limit_name} = {app_setting.value if app_setting else (f'{app_s:g}s' if app_s else default)}"
    if app is not None and app_setting is not None:
        app_text = (shown(app, "request") or app_text).removeprefix(f"{server} ")
    items.append(EvidenceItem(kind="config", summary=f"{server}: {app_text}{where}"
                              + (f" [{app.where}]" if app is not None else ""),
                              source=app_setting.file if app_setting else (pool.file if pool else None),
                              line=app_setting.line if app_setting else None))
    if target:
        items.append(EvidenceItem(
            kind="config", summary=f"{v.title}: {name} {setting.value if setting else v.timeout_default}"
            + (f" ({v.title} default)" if setting is None or setting.is_default else ""),
            source=setting.file if setting and not setting.is_default else target.file,
            line=setting.line if setting and not setting.is_default else target.line))
    scripts = sorted({s for e in kills if (s := e.capture("script"))})
    # raise both: the proxy's to twice the limit that killed (at least 30s), the app's a little above
    # it, so the proxy answers a clear 504 first and the app's limit stays a backstop
    proxy_new = int(max((app_s or 0) * 2, 30, proxy_s or 60.0))
    diffs = []
    if server == "php-fpm" and app_setting is not None and app_setting.line:
        diffs.append(replace_line(ev.config.files, app_setting.file, app_setting.line,
                                  [f"request_terminate_timeout = {proxy_new + 5}s"]))
    if target and proxy_new > (proxy_s or 60.0):
        # the proxy's own response timeout, in its grammar (``Proxy.timeout_diff``)
        diffs.append(proxy_of(ev).timeout_diff(ev.config.files, name, setting,
                                               (target.pass_file, target.pass_line),
                                               (target.file, target.line), proxy_new))
    diff = "".join(d for d in diffs if d) or None
    notes = [f"{server}: {app_where}"] if app_where else []
    fix = Fix(notes=notes, summary="make the slow requests faster"
                      + (f" ({', '.join(scripts[:3])})" if scripts else "")
                      + f"; if they are legitimately slow, raise {limit_name}{where} and {v.title}'s "
                        f"{name} together, keeping {limit_name} a little above {name}: {v.title} then "
                        "answers a clear 504 first and the app's limit stays the backstop",
              commands=[*reload_commands(ev),
                        f"systemctl reload {ev.host.target_units.get(peer or '', 'php*-fpm')}"
                        if server == "php-fpm" else f"restart {server} with the new {limit_name}"],
              diff=diff)
    return Candidate(finding=make_finding(
        "backend-too-slow", confidence=0.9, groups=groups,
        explanation=f"Requests to {peer or 'the backend'} ran longer than {server}'s own limit "
                    f"({app_text}{where}), so {server} killed the worker mid-request and {v.title} saw "
                    f"the connection drop (502). {v.title}'s own limit is {name} "
                    f"{setting.value if setting else v.timeout_default}. The worker did not crash: "
                    "the request was too slow.",
        evidence=items, fix=fix, upstream=upstream_name(ev, peer), target=peer),
        claims=claims(groups))


def _queued(ev: Evidence, peer: str | None, groups: list[SymptomGroup]) -> Candidate:
    """HAProxy ``sQ``: every server of the backend had ``maxconn`` requests in flight, the
    request waited in the queue for ``timeout queue`` and got a 503 (configuration.txt 8.5, 'sQ';
    4.2 'timeout queue').  The servers' workers are the bottleneck: raise ``maxconn`` only as
    far as the backend really has workers, else make the requests faster."""
    group = ev.config.groups.get(peer or "")
    members = [t for t in ev.config.targets if t.group == (group.name if group else peer)] or \
        [t for t in (ev.target(peer),) if t is not None]
    items = [i for g in groups for i in group_items(g)]
    proxy = proxy_name(ev.proxy)
    diffs: list[str | None] = []
    notes: list[str] = []
    for t in members[:4]:
        mc = t.settings.get("maxconn")
        q = t.settings.get("timeout queue")
        if mc is not None:
            unlimited = mc.is_default or mc.value in ("", "0")
            items.append(EvidenceItem(
                kind="config", summary=f"server {t.key}: maxconn {'unlimited' if unlimited else mc.value}"
                + (f", timeout queue {q.value or 'infinite'}" + (" (default: timeout connect)"
                                                                   if q.is_default else "")
                   if q is not None else ""), source=t.file, line=t.line))
            if not unlimited and mc.value.isdigit():
                diff, unwritten = edit(ev, RaiseServerConnections(
                    Route(Place(t.file, t.line), t.kind), int(mc.value) * 2),
                    "raise the servers' concurrent-request limit to what they can serve at once")
                diffs.append(diff)
                notes += [n for n in unwritten if n not in notes]
        state = (ev.live.server_states or {}).get(t.key)
        if state is not None:
            items.append(EvidenceItem(kind="probe", summary=f"runtime API: {state.name} {state.status}, "
                                      f"{state.sessions} in flight, {state.queued} queued"
                                      + (f" (maxconn {state.limit})" if state.limit else ""),
                                      source="runtime API"))
    fix = Fix(summary="add backend workers (and raise the servers' maxconn to match what they can "
                      "serve at once), add servers, or make the slow requests faster; raising "
                      "maxconn beyond the backend's workers only moves the queue into the backend",
              commands=reload_commands(ev), diff=combine(diffs),
              file=members[0].file if diffs and members else None, notes=notes)
    return Candidate(finding=make_finding(
        "workers-exhausted", confidence=0.85, groups=groups,
        explanation=f"Every server of {peer or 'the backend'} was at its maxconn: requests waited in "
                    f"{proxy}'s queue until timeout queue expired and got 503 (termination state sQ).",
        evidence=items, fix=fix, upstream=upstream_name(ev, peer), target=peer),
        claims=claims(groups))


def _app_server(e: LogEvent) -> str:
    if e.source in _APP_LIMITS:
        return e.source
    text = f"{e.source} {e.pattern} {e.text}".lower()
    if "harakiri" in text or "uwsgi" in text:
        return "uwsgi"
    if "gunicorn" in text or "worker timeout" in text:
        return "gunicorn"
    return "php-fpm"


def _is_local(peer: str | None) -> bool:
    return peer is not None and peer.startswith(("unix:", "127.", "[::1]", "localhost"))


def _timeout_setting(ev: Evidence, t: TargetFact | None) -> tuple[str, Setting | None]:
    """The timer that gives up on a slow response header, as the proxy names it
    (``Proxy.response_timeout``: nginx's ``*_read_timeout``, HAProxy's ``timeout server``,
    Apache's ``ProxyTimeout``/``timeout=``)."""
    return proxy_of(ev).response_timeout(t.settings if t else {}, t.kind if t else "proxy")


def _timeout_seconds(ev: Evidence, setting: Setting | None) -> float | None:
    return proxy_of(ev).timeout_seconds(setting)


def _slow(ev: Evidence, peer: str | None, groups: list[SymptomGroup], fpm_busy: bool,
          held: bool = False) -> Candidate:
    target = ev.target(peer)
    name, setting = _timeout_setting(ev, target)
    timeout = _timeout_seconds(ev, setting)
    proxy = proxy_name(ev.proxy)
    items = [i for g in groups for i in group_items(g)]
    if target:
        where = f" ({proxy} default)" if (setting is None or setting.is_default) else ""
        shown = (setting.value if setting else "") or proxy_of(ev).vocabulary.timeout_default
        items.append(EvidenceItem(kind="config", summary=f"{name} {shown}"
                                  f"{where}", source=setting.file if setting else target.file,
                                  line=setting.line if setting else target.line))
    timing = _timing(ev, peer, target)
    conf = 0.7
    if timing is not None:
        # no timeout known (logs alone: no config read, and the log says none) -- the requests'
        # times are said without one (was: a TypeError that lost the analyzer's finding)
        limit = timeout if timeout is not None else timing.timeout_s
        reached = (f"{timing.at_timeout} of {timing.requests} requests to {timing.upstream} took ≥ "
                   f"the {limit:g}s timeout" if limit is not None else
                   f"{timing.requests} requests to {timing.upstream} (no timeout read to compare them with)")
        items.append(EvidenceItem(
            kind="stat", summary=f"access log: {reached}"
                                 + (f"; p95 {timing.p95_ms / 1000:.1f}s" if timing.p95_ms else ""),
            count=timing.at_timeout))
        if timing.at_timeout:
            conf = 0.9
        elif timing.requests >= 20:
            conf = 0.5  # the access log does not show requests waiting that long: doubtful
    if fpm_busy:
        conf -= 0.15  # busy workers queue requests: exhaustion explains the wait better
    if held and timing is not None and timing.requests > 2 * max(timing.at_timeout,
                                                                 sum(g.count for g in groups)):
        # most requests answered at once while the proxy's idle FastCGI connections can hold
        # every worker (``_held``): a wait for a worker explains the few timeouts better
        conf -= 0.25
    fix_diff = None
    vocabulary = proxy_of(ev).vocabulary
    if target and timeout:
        fix_diff = proxy_of(ev).timeout_diff(ev.config.files, name, setting,
                                             (target.pass_file, target.pass_line),
                                             (target.file, target.line), int(max(timeout * 2, 30)))
    fix = Fix(summary="make the slow requests faster (profile the endpoint, add an index, move work "
                      f"to a queue); if they are legitimately slow, raise {name} for that "
                      + vocabulary.route,
              commands=reload_commands(ev), diff=fix_diff,
              file=(setting.file if setting and not setting.is_default else
                    (target.pass_file or target.file) if target else None))
    return Candidate(finding=make_finding(
        "backend-too-slow", confidence=conf, groups=groups,
        # its value when read (none: logs alone, no config -- "(0s)" was said)
        explanation=f"{peer or 'The backend'} did not send its response header within {name}"
                    + (f" ({timeout:g}s)" if timeout else "")
                    + f", so {proxy} gave up and answered {_answered(groups)}"
                    + vocabulary.timeout_state + ".",
        evidence=items, fix=fix, upstream=upstream_name(ev, peer), target=peer),
        claims=claims(groups))


def _held(ev: Evidence, peer: str | None, groups: list[SymptomGroup], held: Setting) -> Candidate:
    """The proxy's idle FastCGI connections hold the pool's workers (``held-idle-connections``:
    HAProxy's ``option keep-conn``, on by default, with ``http-reuse safe``, configuration.txt
    4.2 and 10.1.1; haproxy/haproxy#2936).  PHP-FPM gives each connection a whole worker, which
    waits in a blocking read for the next request on a kept connection; the first request of a
    new client never reuses an idle connection, so once they hold every worker it waits in FPM's
    backlog until the proxy's response timeout: a 504 (``sH``), or an answer after exactly that
    long.  The competing cause is a slow application; the pool's state at the time decides."""
    target = ev.target(peer)
    name, setting = _timeout_setting(ev, target)
    timeout = _timeout_seconds(ev, setting)
    timing = _timing(ev, peer, target)
    items = [i for g in groups for i in group_items(g)]
    items.append(EvidenceItem(kind="config", summary=f"{peer}: FastCGI with {held.value}: each idle "
                              "connection the proxy keeps holds a PHP-FPM worker",
                              source=held.file, line=held.line))
    conf = 0.6
    # a request that timed out has no response time in the access log (HAProxy's Tr is -1):
    # the timeouts are the groups' count
    waited = max(sum(g.count for g in groups), timing.at_timeout if timing is not None else 0)
    if timing is not None and timing.requests > waited:
        fast = timing.requests - waited
        items.append(EvidenceItem(
            kind="stat", count=waited,
            summary=f"access log: {waited} of {timing.requests} requests to {timing.upstream} "
                    f"waited the whole {name}" + (f" ({timeout:g}s)" if timeout else "")
                    + f"; the other {fast} were answered "
                    + (f"in {timing.p50_ms / 1000:.2f}s at the median" if timing.p50_ms is not None
                       else "before it")))
        if fast > waited:
            conf = 0.8
    pool = next((p for p in ev.config.fpm_pools if p.key == peer), None)
    if pool is not None and pool.max_children:
        items.append(EvidenceItem(kind="config", summary=f"pool [{pool.name}]: pm.max_children = "
                                  f"{pool.max_children}: that many idle connections hold the whole pool",
                                  source=pool.file, line=pool.max_children_line or pool.line))
    port = split_key(peer or "")[1]
    fix = Fix(summary="let PHP-FPM close each connection after its response (`no option keep-conn` in "
                      "the fcgi-app), or let new clients reuse the idle connections (`http-reuse "
                      "always` in the backend); raising pm.max_children only moves the point where "
                      "the idle connections fill the pool. `why502 fix --lint CONFIG --only "
                      "W502-041` writes the first, tests it and reloads",
              commands=[f"ss -tn state established '( dport = :{port} )' | wc -l   # ~ pm.max_children: "
                        "held" if port else "ss -xp | grep -F php   # connections to the pool: held",
                        *reload_commands(ev)])
    return Candidate(finding=make_finding(
        "workers-exhausted", confidence=conf, groups=groups,
        explanation=f"Requests to {peer or 'the backend'} waited the whole {name}"
                    + (f" ({timeout:g}s)" if timeout else "")
                    + " for a PHP-FPM worker while others were answered at once: "
                    f"the proxy keeps idle FastCGI connections ({held.value}), each holds a worker "
                    "blocked reading the next request on it, and a new client's first request never "
                    "reuses one, so once they hold every worker it waits in PHP-FPM's backlog. A slow "
                    "application is the other explanation: PHP-FPM's status page decides (a listen "
                    "queue while the workers are 'Reading headers', not 'Running').",
        evidence=items, fix=fix, upstream=upstream_name(ev, peer), target=peer),
        claims=claims(groups))


def _answered(groups: list[SymptomGroup]) -> int:
    """The status the proxy answered for the timeout: nginx and HAProxy 504; Apache 2.4's
    mod_proxy_http answered 502 in the lab's recordings (AH01102, tests/fixtures/recorded/
    apache-too-slow) -- so the one the log lines carry, 504 when they carry none."""
    codes: dict[int, int] = {}
    for g in groups:
        for code, n in g.statuses.items():
            if code >= 500:
                codes[code] = codes.get(code, 0) + n
    return max(codes, key=lambda c: codes[c]) if codes else 504


def _timing(ev: Evidence, peer: str | None, target: TargetFact | None) -> UpstreamTiming | None:
    for key in (peer, target.group if target else None):
        if key and key in ev.logs.access:
            return ev.logs.access[key]
    return None


def _exhausted(ev: Evidence, fpm_max: list[LogEvent], groups: list[SymptomGroup],
               slow: dict[str | None, list[SymptomGroup]]) -> Candidate:
    items: list[EvidenceItem] = [event_item(e, e.detail or "PHP-FPM reached pm.max_children")
                                 for e in fpm_max[:2]]
    if len(fpm_max) > 2:
        items.append(EvidenceItem(kind="stat", summary=f"{len(fpm_max)} × pm.max_children warnings",
                                  count=len(fpm_max)))
    claimed = list(groups)
    full = {g.peer for g in groups if g.peer}
    for peer, gs in slow.items():
        target = ev.target(peer)
        fastcgi = any(p.key == peer for p in ev.config.fpm_pools) or (target and target.kind == "fastcgi")
        # queued behind busy children, requests time out: those timeouts are this cause's
        # symptoms -- behind a pool PHP-FPM says is full, or on the very target whose queue
        # refused or dropped the others (backlog-full, a local connect timeout): the requests it
        # did accept waited behind the same busy workers (a gunicorn of one sync worker behind
        # Apache: 3 read timeouts and 2 connect timeouts in one burst ranked backend-too-slow,
        # 2 and 3 workers-exhausted; fault-matrix.md stop 46)
        if (fpm_max and fastcgi) or peer in full:
            claimed += gs
    items += [i for g in claimed for i in group_items(g)]
    pool = _pool(ev, fpm_max, {g.peer for g in claimed})
    slowlog = [e for e in ev.all_events if e.kind in ("slow-request", "worker-timeout")]
    if slowlog:
        scripts = sorted({script for e in slowlog if (script := e.capture("script"))})
        items.append(EvidenceItem(
            kind="log", summary=f"{len(slowlog)} × PHP-FPM 'executing too slow' / timeout"
            + (f" ({', '.join(scripts[:3])})" if scripts else "") + ": the workers were busy with these",
            source=slowlog[0].file, line=slowlog[0].line, text=slowlog[0].text, symptom=slowlog[0].kind,
            count=len(slowlog)))
    peer_key = groups[0].peer if groups else (pool.key if pool else None)
    probe = ev.live.probes.get(peer_key) if ev.live.probes and peer_key else None
    if probe is not None and not probe.ok:
        items.append(EvidenceItem(kind="probe", summary=f"probe {peer_key}: {probe.error or probe.detail}",
                                  source="probe", text=probe.detail))
    for lst in ev.listeners_for(peer_key or ""):
        if lst.accept_queue:
            items.append(EvidenceItem(kind="listener", summary=f"{lst.accept_queue} connection"
                                      f"{'s' if lst.accept_queue != 1 else ''} waiting in the accept "
                                      f"queue of {lst.key} ({lst.process or 'backend'} is not "
                                      "accepting)", source="listeners"))
    if pool and pool.listen_backlog is not None:
        items.append(EvidenceItem(kind="config", summary=f"pool [{pool.name}]: pm.max_children = "
                                  f"{pool.max_children}, listen.backlog = {pool.listen_backlog}",
                                  source=pool.file, line=pool.max_children_line or pool.line))
    fix = _pool_fix(ev, pool)
    procs = [lst.process for lst in ev.listeners_for(peer_key or "") if lst.process]
    if pool is None and procs:
        port = split_key(peer_key or "")[1]
        fix = replace(fix, commands=[f"ps -o pid,stat,etime,cmd -C {procs[0]}",
                                     f"ss -ltn 'sport = :{port}'" if port else "ss -lx"])
    if pool is None:
        app_items, app_fix = _app_backlog(ev, peer_key, claimed)
        items += app_items
        fix = replace(fix, summary=app_fix, notes=[]) if app_fix else fix
    conf = 0.9 if fpm_max and (groups or claimed) else (0.8 if fpm_max or groups else 0.6)
    peer = groups[0].peer if groups else (pool.key if pool else None)
    return Candidate(finding=make_finding(
        "workers-exhausted", confidence=conf, groups=claimed,
        explanation="Every backend worker was busy: new requests queued (or were refused when the "
                    f"listen backlog filled) until {proxy_name(ev.proxy)} gave up."
                    + (f" PHP-FPM pool [{pool.name}] hit pm.max_children = {pool.max_children}."
                       if pool and pool.max_children else ""),
        evidence=items, fix=fix, upstream=upstream_name(ev, peer), target=peer),
        claims=claims(claimed))


def _pool(ev: Evidence, fpm_max: list[LogEvent], peers: set[str | None]) -> FpmPool | None:
    """The exhausted pool: named by FPM's warning, else the pool listening where nginx failed
    (never an unrelated pool: a busy gunicorn is not fixed by raising pm.max_children)."""
    names = {e.pool for e in fpm_max if e.pool}
    for p in ev.config.fpm_pools:
        if p.name in names or p.key in peers:
            return p
    if fpm_max and len(ev.config.fpm_pools) == 1:
        return ev.config.fpm_pools[0]
    return None


def _fpm_process(ev: Evidence, pool: FpmPool) -> str:
    for lst in ev.listeners_for(pool.key):
        if lst.process:
            return lst.process
    return "php-fpm"


def _pool_fix(ev: Evidence, pool: FpmPool | None) -> Fix:
    if pool is None:
        return Fix(summary="add backend workers (gunicorn --workers, uwsgi processes, "
                           "pm.max_children) or make requests faster so workers free up sooner",
                   commands=["ps -eLf | grep -c <backend>"])
    new = (pool.max_children or 5) * 2
    diff = None
    if pool.max_children_line:
        diff = replace_line(ev.config.files, pool.file, pool.max_children_line, [f"pm.max_children = {new}"])
    return Fix(summary=f"raise pm.max_children of pool [{pool.name}] (check RAM: max_children × "
                       "memory per child must fit), or make the slow scripts faster",
               commands=[f"ps -o rss= -C {_fpm_process(ev, pool)} | sort -n | tail -3",
                         f"systemctl reload {ev.host.target_units.get(pool.key, 'php*-fpm')}"],
               diff=diff, file=pool.file)


def _app_backlog(ev: Evidence, peer: str | None,
                 groups: list[SymptomGroup]) -> tuple[list[EvidenceItem], str | None]:
    """An app server's full listen queue, in its own terms: uWSGI logs ``*** uWSGI listen queue
    of socket "%s" (fd: %d) full !!! (%llu/%llu) ***`` (core/master.c) when its ``listen`` backlog
    (default 100, core/init.c; capped by ``net.core.somaxconn``, in uWSGI's socket code) is full; gunicorn
    and uvicorn have ``--backlog`` (2048).  The fix: more workers, and a ``listen`` the kernel
    allows."""
    items: list[EvidenceItem] = []
    full = [e for e in ev.all_events if e.kind == "listen-queue-full"
            and (not groups or belongs(ev, peer, e, groups))]
    items += [event_item(e, f"{e.source or 'the app server'}: its listen queue is full") for e in full[:2]]
    servers = serving(ev, peer)
    if not servers and not full:
        return items, None
    server = servers[0] if servers else None
    if server is not None:
        for role in ("backlog", "request"):
            item = setting_item(server, role)
            if item is not None:
                items.append(item)
        workers = server.settings.get("processes") or server.settings.get("workers")
        if workers is not None:
            items.append(EvidenceItem(kind="config", summary=f"{server.kind} workers: {workers.value}",
                                      source=workers.file, line=workers.line))
    somaxconn = ev.host.sysctls.get("net.core.somaxconn")
    if somaxconn:
        items.append(EvidenceItem(kind="stat", summary=f"net.core.somaxconn = {somaxconn} (caps every "
                                  "listen backlog)", source="/proc/sys/net/core/somaxconn"))
    if server is None or server.knob("backlog") is None:
        return items, None
    backlog = server.seconds("backlog") or 100.0  # the backlog "seconds" is the plain number
    new = str(max(1024, int(backlog) * 4))
    return items, (f"every {server.kind} worker was busy and its listen queue overflowed: add workers "
                   f"(or make requests faster), and raise {server.kind}'s backlog -- "
                   f"{where_to_set(server, 'backlog', new)} -- with net.core.somaxconn >= {new} "
                   f"(sysctl -w net.core.somaxconn={new}; {server.kind} cannot queue more than it)")
