"""The keep-alive inversion (``keepalive-race``), weighed in one place for every proxy.

A proxy keeps an idle upstream connection to reuse it; the app server closes an idle keep-alive
connection after its own timeout.  When the app's timeout is the shorter one, a request the proxy
sends on a connection the app is closing gets a reset or an EOF: nginx's ``recv() failed (104:
Connection reset by peer)`` / ``upstream prematurely closed connection`` on an upstream with
``keepalive``, Envoy's ``UC`` (``upstream_reset_before_response_started{connection_termination}``),
Caddy's ``EOF`` / ``connection reset by peer`` (Go's net/http transport does not resend a
non-idempotent request: transport.go ``shouldRetryRequest``), HAProxy's ``SH``/``SD`` on a reused
connection.  Two analyzers see the drops -- ``config_limits`` (a group's keep-alive pool in the
config, the proxy's own error log) and ``edge_apps.refine`` (an edge log's ``UC``/``EOF`` on a
target that answered around them) -- and both hand what they saw to :func:`race`, which alone
weighs it, words it and asks the proxy's plug-in for the fix (issue 25 item 2: one place per
symptom; before, the same evidence was stated 0.6 behind Envoy and 0.71 behind Caddy, with two
different fixes).

The evidence families, strongest first:

- **The two timeouts** (decisive when both are read).  The app server's idle keep-alive timeout
  from its config or command line (``facts.appserver``: gunicorn ``--keep-alive`` default 2 s,
  gunicorn/config.py ``Keepalive``; uvicorn ``--timeout-keep-alive`` 5 s, uvicorn/config.py
  ``Config.__init__``; Node ``server.keepAliveTimeout`` 5000 ms, doc/api/http.md) against the
  proxy's upstream idle timeout from its config, or the proxy's default when unset: nginx's
  upstream ``keepalive_timeout`` 60 s (ngx_http_upstream_keepalive_module.c
  ``ngx_http_upstream_keepalive_init``: ``ngx_conf_init_msec_value(kcf->timeout, 60000)``),
  Envoy's cluster ``common_http_protocol_options.idle_timeout`` 1 h
  (api/envoy/config/core/v3/protocol.proto ``HttpProtocolOptions.idle_timeout``: "If not
  specified, this defaults to 1 hour"), Caddy's ``transport http { keepalive }`` 2 min
  (modules/caddyhttp/reverseproxy/httptransport.go ``NewTransport``: ``if
  h.KeepAlive.IdleConnTimeout == 0 { ... 2 * time.Minute }``).  App shorter: **0.85** -- the
  mechanism is in both configs and the drops are its effect; only a coincidence of a crash at the
  same moments would remain.  App longer, or an app that keeps no idle connection at all
  (gunicorn's sync worker): **0.3** -- its own setting refutes the race; the finding stays as a
  fallback for what nothing else explains.
- **The backend alive around the drops** (when the timeouts are not both read).  The target
  answered before and after its drops (an edge log: ``edge_apps.answered_around``) or answered
  other requests (the proxy's access log), or the drops are sporadic (< 5 % of its requests):
  **0.7** -- a dead backend does not answer between its failures; the one competing reading left
  is a crash and a restart between them, which the app's log would show.  The number is the one
  nginx's finding has had since the lab first measured it; an edge's "before *and* after" is no
  weaker than nginx's "others answered", so no proxy states less for it.
- **Only the drops on a reused pool**: **0.55** -- a pool the config asked for, drops of the
  kind a race makes, nothing showing the backend alive: as likely a race as a crash.
- **A pool nobody asked for** (Caddy's and Envoy's default idle connections), no access log
  showing the drops sporadic among answers: **0.45** -- a backend that resets every request is
  the commoner reading; the race stays a competing cause below it.

The fix is asked of the proxy's plug-in in its own terms, the proxy's side first (its idle
timeout below the app's: a ``facts.edits.CloseIdleBefore`` its edit module renders as a diff --
nginx's ``keepalive_timeout``, Caddy's ``keepalive``, Envoy's ``idle_timeout``), then the app's
(its keep-alive above the proxy's idle timeout, named in the app server's terms).  Pure.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from why502 import proxies
from why502.analyzers.apps import serving, setting_item, shown, where_to_set
from why502.analyzers.base import edit, route_of
from why502.catalog import load_catalog
from why502.evidence.model import Evidence, TargetFact
from why502.facts.appserver import AppServer
from why502.facts.edits import CloseIdleBefore, Place
from why502.facts.setting import Setting
from why502.findings.model import EvidenceItem, Fix
from why502.proxies import Proxy
from why502.proxies.base import CATALOG_WORDS, seconds

SHORTER, ALIVE, DROPS, UNASKED, REFUTED = 0.85, 0.7, 0.55, 0.45, 0.3
"""The confidences of the one rule (:func:`weigh`; the module's docstring says why each)."""
APP_SIDE_MAX = 600
"""s: an app keep-alive above this (Envoy's 1 h default) is not offered as a setting to copy."""


@dataclass(frozen=True)
class Reuse:
    """What one analyzer saw of a proxy reusing idle connections to one backend: the drops'
    own evidence items are the caller's (``items``); the rest is weighed by :func:`race`."""

    proxy: Proxy | None  # the proxy whose pool it is (None: a cloud load balancer, no plug-in)
    name: str  # how the report names it ("nginx", "Envoy", "the ALB")
    group: str | None  # its group of servers (an nginx upstream, an Envoy cluster), if any
    members: tuple[TargetFact, ...] = ()  # the group's targets as the config names them
    idle: Setting | None = None  # the proxy's upstream idle timeout (its default when unset)
    by_default: bool = False  # the proxy keeps idle connections without the config asking
    alive: str | None = None  # why the backend is alive around the drops (the caller's item says it)
    sporadic: bool = False  # the drops are < 5 % of the backend's requests
    mostly_ok: bool = False  # the clients' requests were mostly answered
    items: Sequence[EvidenceItem] = field(default_factory=tuple)
    commands: Sequence[str] = ()  # how to apply a change (the proxy's config test and reload)
    group_place: Place | None = None  # the group's block (nginx's ``upstream``)
    keepalive_line: int | None = None  # its pool statement


@dataclass(frozen=True)
class Race:
    """The finding's substance: what :func:`race` says of a :class:`Reuse`."""

    title: str  # the cause's title in this proxy's words
    confidence: float  # raw (``catalog.calibration`` maps it)
    explanation: str
    evidence: list[EvidenceItem]
    fix: Fix
    refuted: bool  # the app's own setting refutes it: a fallback only


def idle_seconds(r: Reuse) -> float | None:
    """The proxy's upstream idle timeout in seconds (None: not known)."""
    if r.idle is None:
        return None
    secs = r.proxy.timeout_seconds(r.idle) if r.proxy is not None else None
    return secs if secs else seconds(r.idle.value)


def weigh(verdict: str | None, r: Reuse) -> float:
    """The one confidence rule (the module's docstring says why each number)."""
    if verdict == "shorter":
        return SHORTER
    if verdict in ("longer", "closes"):
        return REFUTED
    if r.alive or r.sporadic:
        return ALIVE
    return UNASKED if r.by_default and not r.mostly_ok else DROPS


def race(ev: Evidence, r: Reuse) -> Race:
    """The keep-alive-race finding's confidence, explanation, evidence and fix for ``r``."""
    proxy_idle = idle_seconds(r)
    knob = r.proxy.vocabulary.keepalive_timeout if r.proxy is not None else "idle timeout"
    where = r.group or (r.members[0].key if r.members else None)
    apps = serving(ev, where) if where else []
    verdict, app_items, app = app_keepalive(apps, proxy_idle, r.name, knob)
    confidence = weigh(verdict, r)
    items = [*r.items, *app_items]
    whose = f"{r.proxy.vocabulary.group} {r.group}" if r.group and r.proxy is not None else (
        where or "the backend")
    idle_text = _idle_text(r)
    explanation = (f"The servers of {whose} close idle keep-alive connections sooner than {r.name} "
                   "stops reusing them, so a request sometimes lands on a connection the backend is "
                   "closing.")
    if r.by_default:
        explanation += f" {r.name} keeps idle upstream connections by default, for {knob}{idle_text}."
    if verdict == "shorter":
        explanation = (f"{app[0]} closes an idle keep-alive connection, but {r.name} keeps idle "
                       f"connections to {whose} for {knob}{idle_text} and reuses them: a request "
                       "sent on a connection the app server is closing is reset or closed without a "
                       "response (502).")
    elif verdict is None:
        # what would decide it was not seen: say so (evidence over defaults, issue 25 item 2)
        explanation += (" The app server's own keep-alive timeout was not read (--app-conf FILE, "
                        "or run where the app server runs): it would confirm or refute this.")
        if r.alive:
            explanation += (" Competing reading: a backend that crashed and was restarted "
                            "between the answers (backend-crashed); its own log or the "
                            "service manager's restarts at these times would decide.")
    else:
        explanation += " But " + app[0] + (
            " answers every request with 'Connection: close' (no idle connection to reuse)"
            if verdict == "closes" else f" keeps idle connections for {app[1]}, longer "
            f"than {r.name}'s {knob}{idle_text}") + ": this reading is unlikely."
    fix = _fix(ev, r, knob, proxy_idle, verdict, app)
    entry = load_catalog().get("keepalive-race")
    # the catalog's title is written in nginx's words (Capability.CATALOG_WORDING): this proxy's
    title = (entry.title if entry else "keepalive-race").replace(CATALOG_WORDS, r.name)
    return Race(title, round(confidence, 2), explanation, items, fix, verdict in ("longer", "closes"))


def _idle_text(r: Reuse) -> str:
    """`` 2m (its default)`` / `` 60s``: the proxy's idle timeout as its config spells it."""
    if r.idle is None:
        return ""
    return f" {r.idle.value}" + (" (its default)" if r.idle.is_default else "")


def _fix(ev: Evidence, r: Reuse, knob: str, proxy_idle: float | None, verdict: str | None,
         app: tuple[str, str, float | None, str, str]) -> Fix:
    """The proxy's side first (its idle timeout below the app's, as its plug-in writes it), then
    the app's (its keep-alive above the proxy's idle timeout)."""
    app_idle = app[2]  # the app's own idle timeout when read (the diff's value goes below it)
    below = f"below {app[0]}" if verdict == "shorter" else "below the backend's idle timeout"
    proxy_side = f"make {r.name} drop idle upstream connections before the backend does ({knob} {below}"
    diff, notes, file = None, list[str](), None
    if r.proxy is not None and r.members:
        first = r.members[0]
        place = r.group_place or Place(first.pass_file or first.file, first.pass_line or first.line)
        # the run's proxy's config, or an edge proxy's read next to its log alone
        files = ev.config.files if ev.proxy == r.proxy.name or not ev.edge.files else ev.edge.files
        diff, notes = edit(ev, CloseIdleBefore(r.group or first.key, place, r.keepalive_line, r.idle,
                                               app_idle, tuple(route_of(m) for m in r.members)),
                           f"set {knob} {below}", proxy=r.proxy, files=files)
        file = place.file
    proxy_side += "; the diff)" if diff else ")"
    new = int(proxy_idle) + 15 if proxy_idle is not None else None
    above = f"above {r.name}'s {knob}" + (f" {r.idle.value}" if r.idle is not None else "")
    if verdict == "shorter" and app[3]:
        app_side = f"raise {app[3]} {above} -- {app[4]}"
    else:
        app_side = f"raise the backend's keep-alive timeout {above}"
        if new is not None and new > APP_SIDE_MAX:
            notes.append(f"the proxy's side is the practical one: an app server keeping idle connections "
                         f"over {r.idle.value if r.idle else new} holds a socket and a worker's slot "
                         "that long for each")
        elif new is not None:
            notes.append(f"the app server's side: gunicorn --keep-alive {new}; uvicorn --timeout-keep-alive "
                         f"{new}; node: server.keepAliveTimeout = {new * 1000}")
    return Fix(summary=f"{proxy_side}, or {app_side}", commands=list(r.commands), diff=diff, file=file,
               notes=notes)


def app_keepalive(servers: Sequence[AppServer], proxy_idle: float | None, title: str, knob: str
                  ) -> tuple[str | None, list[EvidenceItem], tuple[str, str, float | None, str, str]]:
    """The app server's idle keep-alive timeout against the proxy's (``title``'s ``knob``).

    ``shorter``: the app server (gunicorn ``--keep-alive``, default 2 s; uvicorn
    ``--timeout-keep-alive``, 5 s; Puma ``persistent_timeout``; Node ``server.keepAliveTimeout``,
    5000 ms: ``facts.appserver``) closes idle connections before the proxy stops reusing them --
    the race's cause, named in the app server's terms.  ``longer``: it keeps them longer, the
    race is unlikely.  ``closes``: it never keeps one (gunicorn's sync worker).  None: no app
    server known, or the proxy's idle timeout not known.  The tuple: (the app server as named,
    its idle timeout as shown, in seconds, its knob's flag, where and how to raise it)."""
    items: list[EvidenceItem] = []
    none: tuple[str, str, float | None, str, str] = ("", "", None, "", "")
    for server in servers:
        if not server.keeps_idle_connections():
            item = setting_item(server, "idle", ": the sync worker closes every connection")
            items += [item] if item else []
            return "closes", items, (f"{server.kind} ({server.where})", "", None, "", "")
        idle = server.seconds("idle")
        if idle is None or proxy_idle is None:
            continue
        if idle < proxy_idle:
            item = setting_item(server, "idle", f" < {title} {knob} {proxy_idle:g}s")
            items += [item] if item else []
            flag = server.knob("idle")
            name = f"{server.kind} ({(shown(server, 'idle') or '').removeprefix(server.kind + ' ')})"
            new = str(int(proxy_idle + 15) * (1000 if flag and flag.scale == 0.001 else 1))
            return "shorter", items, (name, f"{idle:g}s", idle,
                                      f"{server.kind}'s {flag.flag if flag else 'keep-alive'}",
                                      where_to_set(server, "idle", new))
        item = setting_item(server, "idle", f" >= {title} {knob} {proxy_idle:g}s")
        items += [item] if item else []
        return "longer", items, (f"{server.kind} ({server.where})", f"{idle:g}s", idle, "", "")
    return None, items, none


def proxy_of(name: str | None) -> Proxy | None:
    """The registered proxy called ``name`` (an edge log's family), None for a cloud load balancer."""
    return proxies.PROXIES.get(name or "")
