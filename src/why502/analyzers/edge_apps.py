"""What the app servers' logs, the config and the live probe add to an edge proxy's finding
(``analyzers.cloud_lb``: Envoy's response flags, Caddy's access log), where the edge's own words
cannot decide between causes.  Pure; each rule reads evidence the edge log does not have.

- **Killed at its own time limit.**  Envoy logs ``UC`` (the upstream connection was terminated)
  and relays a 500 without a flag; neither says that the app server killed the request at its
  own limit.  gunicorn's arbiter kills a worker past ``--timeout`` (``WORKER TIMEOUT (pid:N)``,
  gunicorn/arbiter.py ``murder_workers``) and its sync worker answers 500 itself
  (workers/base.py ``handle_abort`` -> ``sys.exit(1)``, caught in workers/sync.py ``handle``);
  uWSGI's master kills a worker past ``harakiri`` (``HARAKIRI ON WORKER``, core/master_utils.c)
  and the connection closes.  With such a kill in that app server's log within seconds of the
  edge's failures, the cause is the slow request (``backend-too-slow``), as behind nginx
  (``analyzers.capacity``).
- **TLS to a plain listener.**  Envoy logs ``UF`` for any connection failure, a failed TLS
  handshake included (source/common/tls: the transport socket closes the connection, the router
  sees a connection failure).  When the cluster speaks TLS (``UpstreamTlsContext``: the target's
  scheme is https) and the live probe connects to the target, nothing is "not running": the
  handshake failed (``upstream-tls-mismatch``).
- **A reused idle connection.**  ``UC`` on a target that answered before and after, with no crash
  and no kill in the app server's log, and a target that accepts connections (when probed; the
  answers after the failure say it did then): the app closed an idle keep-alive
  connection just as the proxy reused it -- Envoy keeps idle upstream connections for the
  cluster's ``idle_timeout``, 1 h by default (api/envoy/config/core/v3/protocol.proto
  ``HttpProtocolOptions.idle_timeout``), longer than any app server's keep-alive
  (``keepalive-race``).  Weighed, worded and fixed by ``analyzers.keepalive.race``, the one
  place of that finding.
- **HTTP spoken badly.**  Envoy's ``UPE`` (upstream protocol error: its HTTP/1 codec rejected the
  response, source/common/stream_info/utility.cc) and Caddy's ``malformed HTTP response`` (Go's
  net/http transport.go) say only that the answer did not parse.  When the live probe of that
  target gets back the very protocol the proxy speaks to it (an HTTP status line to plain HTTP),
  the port is right and the app answers HTTP badly: ``backend-invalid-response``, its bug, as
  behind nginx and HAProxy (``analyzers.protocol``); a port answering another protocol stays
  ``protocol-mismatch``.  Caddy's own words can decide without a probe: Go's
  ``ReadResponse`` (net/http/response.go) says ``malformed HTTP status code "X"`` only after the
  line split into a protocol and a status (an HTTP status line with a bad code), and quotes the
  line in ``malformed HTTP response "..."``: one that starts ``HTTP/`` is HTTP spoken badly; a
  TLS alert or FastCGI record quoted there is the mismatch.  Envoy's default line says only
  ``UPE``: live, with its ``--config``, the targets it names are probed even when its log is read
  alone (``app.diagnose.probes.edge_probes``); offline it stays the mismatch, the commoner cause.
"""

from __future__ import annotations

import re
from dataclasses import replace
from datetime import datetime, timedelta

from why502.analyzers import keepalive, protocol
from why502.analyzers.application import pool_fatal_errors
from why502.analyzers.connectivity import local_peer
from why502.catalog import load_catalog
from why502.catalog.calibration import calibrate
from why502.evidence.lb_evidence import LbEvidence, TargetLife
from why502.evidence.model import Evidence, LogEvent
from why502.facts.appserver import AppServer
from why502.facts.probes import ProbeResult
from why502.findings.model import EvidenceItem, Finding, Fix
from why502.findings.targets import ProbeTarget
from why502.proxies.base import Capability

_BEFORE = timedelta(seconds=3)  # per-second timestamps of two logs
_AFTER = timedelta(seconds=60)  # a kill is logged after the request that hit it ended
_APP_SERVERS = ("gunicorn", "uvicorn", "uwsgi", "puma")
_DEATHS = ("worker-crashed", "worker-timeout", "oom-kill")
# Go's net/http ReadResponse on an answer that began as an HTTP status line (see the docstring)
_HTTP_SPOKEN_BADLY = re.compile(r'malformed HTTP status code|malformed HTTP response \\*"HTTP/\d')


def when(text: str | None) -> datetime | None:
    """A finding's ISO time as naive local time (the app logs' clock)."""
    if not text:
        return None
    try:
        t = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    return t.astimezone().replace(tzinfo=None) if t.tzinfo else t


def _near(ev: Evidence, f: Finding, kinds: tuple[str, ...]) -> list[LogEvent]:
    """The app servers' events of ``kinds`` within seconds of ``f``'s failures, from the log of an
    app server listening on its target (named by a server found there, or saying so in its own
    start-up line), or any app log read when none is known to listen there."""
    first, last = when(f.first_seen), when(f.last_seen)
    if first is None or last is None:
        return []
    logs = (ev.apps.logs_serving(f.target) if f.target else set()) or set(ev.apps.logs)
    out = []
    for e in ev.all_events:
        if e.kind not in kinds or e.source not in _APP_SERVERS:
            continue
        if e.file not in logs or (f.target and ev.apps.other_servers_log(e.file, f.target)):
            continue
        if e.time is not None and not first - _BEFORE <= e.time.replace(tzinfo=None) <= last + _AFTER:
            continue
        out.append(e)
    return out


def _log_items(events: list[LogEvent], summary: str) -> list[EvidenceItem]:
    return [EvidenceItem(kind="log", summary=summary, source=e.file, line=e.line, text=e.text[:2000],
                         time=e.time.isoformat(timespec="seconds") if e.time else None)
            for e in events[:3]]


def _as(f: Finding, cause: str, why: str, items: list[EvidenceItem], fix: str, confidence: float,
        *, at_most: bool = False) -> Finding:
    """``f`` as ``cause``; its confidence raised to ``confidence`` (``at_most``: lowered to it --
    a reading from the absence of a crash is not as sure as the edge's own word)."""
    entry = load_catalog().get(cause)
    title = (entry.title if entry else cause) + f" ({why})"
    first_para = entry.explanation.strip().split("\n\n")[0] if entry else ""
    sure = min(f.confidence, confidence) if at_most else max(f.confidence, confidence)
    return replace(f, cause=cause, title=title, confidence=sure,
                   explanation=f"{why[0].upper()}{why[1:]}. {first_para}".strip(),
                   evidence=[*items, *f.evidence],
                   fix=Fix(summary=fix, commands=f.fix.commands if f.fix else [],
                           notes=f.fix.notes if f.fix else []))


def _plain_listener(ev: Evidence, f: Finding) -> list[LogEvent]:
    """The app servers' own start-up lines saying they listen on ``f``'s target in plain HTTP
    (gunicorn's ``Listening at: http://...``, uvicorn's ``Uvicorn running on http://...``), the
    newest such line of each log first, written before ``f``'s last failure and not followed in
    that log by a line for the same address in ``https`` (a restart with a certificate).  The
    address in the line is the identity: it names the port the proxy failed on (a wildcard bind
    serves every local address, ``facts.appserver.AppServer.serves``)."""
    last = when(f.last_seen)
    newest: dict[str | None, LogEvent] = {}
    for e in ev.all_events:
        if e.kind != "app-listening" or e.source not in _APP_SERVERS:
            continue
        if not AppServer(e.source, binds=(e.capture("upstream") or "",)).serves(f.target):
            continue
        if e.time is not None and last is not None and e.time.replace(tzinfo=None) > last + _BEFORE:
            continue
        seen = newest.get(e.file)
        if seen is None or (e.line or 0) > (seen.line or 0):
            newest[e.file] = e
    return [e for e in newest.values() if e.capture("scheme") == "http"]


def _php_fatal(ev: Evidence, f: Finding) -> list[LogEvent]:
    """PHP's fatal errors in PHP-FPM's own log for the 5xx of ``f`` (an edge's relayed 5xx),
    checked as ``application.pool_fatal_errors`` checks them behind any proxy: Caddy's FastCGI
    transport logs no stderr of its own, so PHP's 500 is a relayed status there and the reason
    is only in PHP-FPM's log (fault-matrix.md stop 45).  The target: ``f``'s, else the config's
    only FastCGI one (Caddy's access lines name no upstream)."""
    fastcgi = [t for t in ev.config.targets if t.kind == "fastcgi"]
    target = ev.target(f.target) if f.target else (fastcgi[0] if len(fastcgi) == 1 else None)
    times = [t for t in (when(f.first_seen), when(f.last_seen)) if t is not None]
    if target is None or not times:
        return []
    return pool_fatal_errors(ev, target, times, {s: 1 for s in f.status_codes if s >= 500})


def _probe_of(ev: Evidence, key: str) -> ProbeResult | None:
    """The live probe of the target an edge log names ``key``: keyed by that name (an edge log
    read alone, ``app.diagnose.probes.edge_probes``) or by the config's key, which writes a
    unix socket ``unix:PATH`` where Envoy's ``%UPSTREAM_HOST%`` writes the bare path."""
    probes = ev.live.probes or {}
    return probes.get(key) or (probes.get(f"unix:{key}") if key.startswith("/") else None)


def _asked(ev: Evidence, key: str) -> ProbeTarget | None:
    """What the probe of ``key`` asked (the config's target as the probe saw it): an edge log
    read alone has no config facts in the evidence, its probes name their target."""
    probe = _probe_of(ev, key)
    return probe.target if probe is not None else None


def _probed(ev: Evidence, key: str | None) -> bool:
    return ev.live.probes is not None and (key or "") in ev.live.probes


def _probe_connects(ev: Evidence, key: str | None) -> bool:
    probes = ev.live.probes or {}
    probe = probes.get(key or "")
    return probe is not None and any(c.ok for c in probe.connect)


def refine(ev: Evidence, lb: LbEvidence, f: Finding) -> Finding:
    """``f`` (one finding of the edge ``lb``) with the cause the other evidence decides, or as is."""
    if f.cause == "network-unreachable" and "connect-timeout" in f.symptoms and local_peer(f.target):
        # the edge's dial timed out (Caddy's "dial tcp ADDR: i/o timeout", a term whose default
        # reading is a route or a firewall) towards this host's own loopback: nothing lies between
        # them, the listener did not accept in time because its accept queue is full (Linux drops
        # a SYN for a listener whose queue is full, tcp_abort_on_overflow 0: net/ipv4/tcp_input.c
        # tcp_conn_request), every worker busy -- as a proxy's connect timeout to a local backend
        # is read from a config's evidence (analyzers.capacity); watch read the same window as
        # network-unreachable while diagnose said workers-exhausted (stop 46)
        return _as(f, "workers-exhausted", f"{f.target} is on this host and did not accept the "
                   "connection in time: its listen queue is full",
                   [EvidenceItem(kind="stat", count=f.count, summary=f"{f.count} connects to {f.target} "
                                 "(this host) timed out: no network lies between, the listener's queue "
                                 "was full")],
                   "Give the backend more workers or a longer listen queue (PHP-FPM: pm.max_children, "
                   "listen.backlog; gunicorn: workers, backlog), or make its requests faster.", 0.85)
    if f.cause in ("backend-crashed", "upstream-returned-5xx", "unexplained-5xx"):
        kills = _near(ev, f, ("worker-timeout",))
        if kills:
            server = kills[0].source
            return _as(f, "backend-too-slow", f"{server} killed the request at its own time limit",
                       _log_items(kills, f"{server} killed the worker at its own time limit"),
                       f"The request is slower than {server}'s own limit (gunicorn --timeout, uWSGI "
                       "harakiri, puma worker_timeout): make it faster, or raise that limit above what "
                       "it needs and keep the proxy's route timeout above it.", 0.85)
    if f.cause == "upstream-returned-5xx":
        fatal = _php_fatal(ev, f)
        if fatal:
            first = fatal[0]
            return _as(f, "app-fatal-error", "the PHP app died on a fatal error and PHP answered "
                       "the 500 itself", _log_items(fatal[:1], f"PHP-FPM's log: {len(fatal)} PHP "
                                                    "fatal error(s) for these 500s"),
                       "Fix the error in the application code or its config (PHP-FPM's log names "
                       "the file and line)" + (f": grep -F 'PHP Fatal' {first.file}" if first.file
                                              else "") + ".", 0.85)
    if f.cause == "backend-crashed" and f.target:
        # a port that answers the probe in another protocol than the proxy speaks to it (TLS,
        # FastCGI: the probe's second look, app.diagnose.probes._second_look): it resets every
        # request the proxy sends, which an edge's own words (Envoy ``UC``, Caddy's "connection
        # reset by peer") write as a crash would be (fault-matrix.md stop 45)
        probe = _probe_of(ev, f.target)
        asked = ev.target(f.target) or (probe.target if probe is not None else None)
        if probe is not None and asked is not None and protocol.mismatch(asked, probe.answer):
            speaks = {"fastcgi": "FastCGI", "tls": "TLS", "http": "HTTP", "http2": "HTTP/2",
                      "uwsgi": "uwsgi"}.get(probe.answer or "", probe.answer or "")
            return _as(f, "protocol-mismatch", f"{f.target} speaks {speaks}, not what the proxy "
                       "speaks to it",
                       [EvidenceItem(kind="probe", summary=f"{f.target} answers the probe in {speaks} "
                                     f"({probe.detail}): every request the proxy sends there in "
                                     "another protocol is dropped")],
                       f"Make the proxy speak {speaks} to {f.target} (or point it at the port that "
                       "speaks what it sends).", 0.9)
    if f.cause == "backend-not-running" and f.target:
        moved = _elsewhere_or_looping(ev, f)
        if moved is not None:
            return moved
        target = ev.target(f.target) or _asked(ev, f.target)
        if target is not None and target.scheme == "https" and _probe_connects(ev, f.target):
            return _as(f, "upstream-tls-mismatch", f"{f.target} accepts connections but the "
                       "TLS handshake to it failed",
                       [EvidenceItem(kind="probe", summary=f"{f.target} accepts TCP connections now: "
                                     "the connection failures are the TLS handshake's")],
                       "Make both ends agree: remove the cluster's TLS transport socket if the app "
                       "speaks plain HTTP, or serve TLS on that port.", 0.8)
        if target is not None and target.scheme == "https" and not _probed(ev, f.target):
            plain = _plain_listener(ev, f)
            if plain:
                said = plain[0]
                bad = [e for e in _near(ev, f, ("app-bad-request",)) if e.file == said.file]
                return _as(f, "upstream-tls-mismatch", f"the app server on {f.target} says it speaks "
                           "plain HTTP there, and the proxy speaks TLS to it",
                           [*_log_items([said], f"{said.source} listens on {f.target} in plain HTTP "
                                        "(its own start-up line): it was running, and not speaking TLS"),
                            *_log_items(bad, f"{said.source} could not parse what it was sent at the "
                                        "moments of the failures: a TLS handshake read as HTTP")],
                           "Make both ends agree: remove the cluster's TLS transport socket if the app "
                           "speaks plain HTTP, or serve TLS on that port.", 0.8 if bad else 0.7)
            # offline: Envoy's default access line says only UF for a refused connection and
            # for a failed TLS handshake alike (%RESPONSE_FLAGS%: "UF: upstream connection
            # failure"); the config's TLS makes the mismatch a competing reading: say what decides
            return replace(f, explanation=f.explanation + (
                f" Competing reading: the config speaks TLS to {f.target}, and a plain-HTTP app "
                "there fails the handshake, which the log writes the same way "
                "(upstream-tls-mismatch). What decides: whether anything accepts TCP there now "
                f"(a live run probes it; or `openssl s_client -connect {f.target}`), or the app "
                "server's own log naming its listen scheme (gunicorn: 'Listening at: http://...')."),
                evidence=[*f.evidence, EvidenceItem(kind="config", summary=(
                    f"{f.target} is reached over TLS (the cluster's transport_socket): "
                    "upstream-tls-mismatch is a competing reading of these failures"))])
    if f.cause == "backend-crashed" and f.target:
        life = answered_around(ev, lb, f.target)
        deaths = _near(ev, f, _DEATHS)
        probed = ev.live.probes is not None and f.target in ev.live.probes
        if life is not None and not deaths and (_probe_connects(ev, f.target) or not probed):
            return _reused(ev, lb, f, life)
    if f.cause == "protocol-mismatch":
        return _too_big(ev, f) or _spoken_badly(ev, f)
    return f


def _too_big(ev: Evidence, f: Finding) -> Finding | None:
    """``f`` (an answer the proxy could not parse: Envoy's ``UPE``) as buffer-too-small when the
    live probe of its target gets well-formed HTTP whose headers are more than the cluster takes
    (``max_response_headers_kb``, 60 KiB by default: api/envoy/config/core/v3/protocol.proto; a
    larger header is a codec error, source/common/http/http1/codec_impl.cc, 502 UPE), else None."""
    known = ev.config.targets or ev.edge.targets  # an edge log read alone: its config's targets
    target = next((t for t in known if f.target and f.target in (t.key, t.unix_path)), None)
    probe = _probe_of(ev, f.target) if f.target else None
    limit = target.settings.get("max_response_headers_kb") if target is not None else None
    if (probe is None or limit is None or probe.answer != "http" or not probe.header_bytes
            or not limit.value.isdigit() or probe.header_bytes <= int(limit.value) * 1024):
        return None
    where = "" if limit.is_default else f" ({limit.file}:{limit.line})"
    item = EvidenceItem(kind="probe", summary=f"{f.target} answers well-formed HTTP whose headers are "
                        f"{probe.header_bytes} bytes, more than max_response_headers_kb {limit.value}"
                        f"{' (the default)' if limit.is_default else ''}{where}")
    return _as(f, "buffer-too-small",
               f"the response headers of {f.target} are larger than the proxy takes",
               [item], "Raise the cluster's max_response_headers_kb (typed_extension_protocol_options "
               "HttpProtocolOptions common_http_protocol_options), or send smaller headers.", 0.9)


def _elsewhere_or_looping(ev: Evidence, f: Finding) -> Finding | None:
    """``f`` (an edge's connect failures on a target nothing listens on: Envoy's ``UF``, Caddy's
    "connect: connection refused" read by its log family) as the wrong target or the crash loop
    when the host says so, read by the very rules that read a proxy's refused connects
    (``analyzers.backend_down``): a listener of the backend on another address, port or socket
    path; a supervisor's or systemd's restarts of the app in the window.  Behind Envoy the
    refusals are only the flag ``UF``, and watch reads Caddy by its log family: both said
    backend-not-running where nginx's refusals said the crash loop (fault-matrix.md stop 47)."""
    from why502.analyzers import backend_down  # backend_down's rules, asked for an edge's finding

    # Envoy's %UPSTREAM_HOST% writes a unix socket as its bare path; the rules key it ``unix:PATH``
    key = f"unix:{f.target}" if f.target and f.target.startswith("/") else f.target
    if key is None or (ev.host.listeners is not None and ev.listeners_for(key)):
        return None
    target = ev.target(key)
    cand = backend_down.wrong_target(ev, key, target) or backend_down.crash_loop(ev, key, target)
    if cand is None:
        return None
    g = cand.finding
    return replace(f, cause=g.cause, title=g.title, confidence=g.confidence, explanation=g.explanation,
                   evidence=[*g.evidence, *f.evidence], fix=g.fix)


def _reused(ev: Evidence, lb: LbEvidence, f: Finding, life: TargetLife) -> Finding:
    """``f`` (the edge's ``backend-crashed`` on a target alive around its drops) as the keep-alive
    race, weighed, worded and fixed by ``analyzers.keepalive.race`` -- the same function as the
    config's keep-alive pool (``config_limits``), so the same evidence says the same behind
    every proxy.  The edge's proxy (its log family: Envoy, Caddy) names its idle timeout and
    writes the fix; a cloud load balancer's has no plug-in and is said in words."""
    key = f.target or ""
    p = keepalive.proxy_of(lb.family)
    # the config's targets: the proxy's (Evidence.config), or an edge config read next to its log
    # alone (EdgeFacts.targets, which has no groups: the target's own settings then)
    known = ev.config.targets or ev.edge.targets
    target = next((t for t in known if t.key == key), None)
    cluster = target.group if target is not None else None
    group = ev.config.groups.get(cluster or "")
    members = tuple(t for t in known if cluster and t.group == cluster) or ((target,) if target else ())
    knob = p.vocabulary.keepalive_timeout if p is not None else ""
    idle = group.keepalive_timeout if group is not None else (
        target.settings.get(knob) if target is not None and knob else None)
    alive = (f"{key} answered {life.ok:,} requests, also after these failures; no crash or kill in the "
             "app servers' logs read")
    from why502.analyzers.cloud_lb import LB_NAMES  # cloud_lb asks refine: imported when asked

    found = keepalive.race(ev, keepalive.Reuse(
        proxy=p, name=p.vocabulary.title if p is not None else LB_NAMES.get(lb.family, lb.family),
        group=cluster,
        members=members, idle=idle, by_default=p is None or p.can(Capability.KEEPALIVE_BY_DEFAULT),
        alive=alive, items=[EvidenceItem(kind="stat", summary=alive)],
        commands=f.fix.commands if f.fix else []))
    # cloud_lb hands rank the raw equivalent of its findings' stated confidence (uncalibrate):
    # the one rule's score is raw, so it is stated here through the same map, and the report
    # says for this edge what it says for the config's pool
    return replace(f, cause="keepalive-race",
                   title=f"{found.title} ({key} answered before and after, nothing crashed)",
                   confidence=calibrate(found.confidence), explanation=found.explanation,
                   evidence=[*found.evidence, *f.evidence],
                   fix=replace(found.fix, notes=[*found.fix.notes, *(f.fix.notes if f.fix else [])]))


def answered_around(ev: Evidence, lb: LbEvidence, key: str) -> TargetLife | None:
    """The life of ``key`` in the edge log ``lb`` when it answered, then failed, then answered
    again -- the one test of "a reused idle connection, not a dead backend" for an edge log,
    whether the finding comes from the edge's own words (``refine``) or from the config's
    keep-alive pool (``config_limits``, Caddy's default idle connections).  A failure before any
    answer is no race: no idle connection existed to reuse.  None otherwise."""
    for life in (lb.targets.get(key), _only_target_life(ev, lb, key)):
        if life is not None and life.ok and life.ok_after_failure and life.first_failed_after_ok:
            return life
    return None


def _only_target_life(ev: Evidence, lb: LbEvidence, key: str) -> TargetLife | None:
    """The answers of the access lines that name no target (``LbEvidence.unnamed``: Caddy's),
    as ``key``'s when it is the config's only upstream: every request went to it.  None when the
    config has several (or none read): then an unnamed answer could be another's."""
    only = [t for t in ev.config.targets or ev.edge.targets if t.kind == "proxy"]
    if len(only) != 1 or only[0].key != key or not (lb.unnamed.ok or lb.unnamed.failed):
        return None
    return lb.unnamed


def _spoken_badly(ev: Evidence, f: Finding) -> Finding:
    """``f`` (protocol-mismatch) as backend-invalid-response when the proxy's own words or the
    live probe show the port speaks the protocol spoken to it, badly (see the docstring)."""
    said = " ".join(i.text or "" for i in f.evidence)
    quoted = _HTTP_SPOKEN_BADLY.search(said)
    # Caddy's error names no upstream for a response that did not parse: then the config's only
    # target is the one it spoke to
    only = [t for t in ev.config.targets if t.kind == "proxy"]
    key = f.target or (only[0].key if len(only) == 1 else None)
    target = ev.target(key)
    probe = (ev.live.probes or {}).get(target.key if target else key or "")
    # an edge log read alone has no config facts in the evidence: its probe names what was asked
    # (the config's target, app.diagnose.probes.edge_probes)
    asked = target if target is not None else probe.target if probe is not None else None
    spoken = "tls" if asked is not None and asked.scheme == "https" else "http"
    if quoted is not None:
        item = EvidenceItem(kind="log", summary=f"the proxy read an HTTP status line it could not "
                            f"parse ({quoted.group(0)}): the port speaks HTTP, badly")
    elif asked is not None and asked.kind == "proxy" and probe is not None and probe.answer == spoken:
        item = EvidenceItem(kind="probe", summary=f"{key} answers the probe in {spoken.upper()} "
                            f"({probe.detail or probe.answer}): the port speaks the right protocol, badly")
    else:
        return f
    return _as(f, "backend-invalid-response",
               f"{key or 'the backend'} answers {spoken.upper()}, but an answer the proxy could not parse",
               [item], "Fix the application's response (its status line and headers): the port "
               "speaks the protocol the proxy expects, the answers do not parse.", 0.75)
