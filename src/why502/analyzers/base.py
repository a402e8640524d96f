"""What every analyzer returns, and the small helpers they share.

An analyzer is a pure function ``analyze(ev: Evidence) -> list[Candidate]``.  A ``Candidate`` is
a ``Finding`` plus the symptom groups it *claims* to explain, so ranking can fold symptoms into
the most likely root cause (``why502.analyzers.rank``) instead of listing them twice.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from why502 import proxies
from why502.catalog import Entry, load_catalog
from why502.evidence.model import Evidence, LogEvent, Sample, SymptomGroup, TargetFact
from why502.facts.edits import Intent, Place, Route
from why502.facts.net import Listener
from why502.facts.probes import ProbeResult
from why502.findings.model import EvidenceItem, Finding, Fix
from why502.proxies import Proxy

GroupKey = tuple[str, str | None]  # (symptom, peer)

# Used only when the catalog (catalog/data/causes.toml) lacks an entry; the catalog wins.  Said of
# "the proxy": no proxy is known here (the catalog's titles are reworded per proxy by ``Proxy.reword``).
_FALLBACK_TITLES: dict[str, str] = {
    "backend-not-running": "The backend is not running",
    "backend-crash-loop": "The backend keeps crashing and restarting",
    "backend-oom-killed": "The kernel killed the backend for memory (OOM)",
    "backend-crashed": "The backend died or dropped the connection mid-request",
    "wrong-target": "The proxy points where the backend is not listening",
    "socket-permissions": "The proxy may not connect to the backend's unix socket",
    "selinux-denial": "SELinux/AppArmor blocks the proxy's connection to the backend",
    "backend-too-slow": "The backend answers later than the proxy waits",
    "workers-exhausted": "Every backend worker is busy",
    "buffer-too-small": "The backend's response headers exceed the proxy's buffer",
    "keepalive-race": "The backend closes idle keep-alive connections the proxy reuses",
    "keepalive-misconfigured": "Upstream keepalive without HTTP/1.1 and an empty Connection header",
    "all-upstreams-down": "Every server of the upstream group is marked down",
    "dns-unresolvable": "The upstream name does not resolve",
    "upstream-tls-mismatch": "TLS between the proxy and the backend fails",
    "protocol-mismatch": "The proxy speaks the wrong protocol to the backend",
    "upstream-returned-5xx": "The backend itself returned the 5xx",
    "port-exhaustion": "Ephemeral ports to the backend are used up",
    "fd-limit": "The proxy hit its open-files / worker_connections limit",
    "app-fatal-error": "The application failed the request (fatal error)",
    "network-unreachable": "The backend host or route is unreachable",
    "proxy-misrouted": "Requests never reach the intended backend",
    "proxy-rate-limited": "The proxy's own rate limit rejects requests (503)",
}


@dataclass
class Candidate:
    """A finding plus the symptom groups it explains.

    ``caused_by``/``link``: see the fields.
    ``fallback``: a generic reading of the symptoms (e.g. "backend crashed" from premature closes)
    that is dropped when a more specific root cause already explains every group it claims.
    ``last_resort``: see the field.
    """

    finding: Finding
    claims: frozenset[GroupKey] = field(default_factory=frozenset)
    fallback: bool = False
    # A consequence of other failures, as data: the groups of the failures that led to it and
    # the causal link ("marks servers down").  Ranking folds it under the cause that explains
    # those groups (analyzers.rank.fold) instead of ranking it above that cause.
    caused_by: frozenset[GroupKey] = field(default_factory=frozenset)
    link: str = ""
    # The log lines that show the consequence (nginx's "no live upstreams"): when it is folded,
    # the cause's evidence says how many there were, with the first as proof.
    shows: tuple[SymptomGroup, ...] = ()
    # The last resort (``analyzers.unexplained``): kept only when no other candidate is, so the
    # clients' 5xx are never reported as "healthy" and never crowd out a named cause.
    last_resort: bool = False
    # The edge family whose log the finding reads (``analyzers.cloud_lb``: alb, envoy, ...), None
    # for the proxy's own (``Evidence.proxy``): ``rank`` names the proxy of the others only.
    edge: str | None = None


def title(cause: str) -> str:
    """The catalog title of a root cause."""
    entry = _catalog_entry(cause)
    return entry.title if entry else _FALLBACK_TITLES.get(cause, cause)


def catalog_fix(cause: str) -> list[str]:
    """The catalog's generic fix steps for a cause (shown as notes under the specific fix)."""
    entry = _catalog_entry(cause)
    return list(entry.fix) if entry else []


def _catalog_entry(cause: str) -> Entry | None:
    try:
        return load_catalog().get(cause)
    except (OSError, ValueError, TypeError, KeyError, FileNotFoundError, ModuleNotFoundError):
        return None


def iso(t: datetime | None) -> str | None:
    return t.isoformat(timespec="seconds") if t else None


def proxy_of(ev: Evidence) -> Proxy:
    """The proxy that wrote the evidence, from the one registry (``why502.proxies``): what an
    analyzer needs to know about it is its vocabulary and capabilities, never its name."""
    return proxies.of(ev.proxy)


def proxy_name(proxy: str) -> str:
    """How a report names the proxy (its ``Vocabulary.title``: ``nginx``, ``HAProxy``,
    ``Apache``); a symptom group's ``source`` or ``Evidence.proxy``, any other program as it is."""
    return proxies.title(proxy)


def reload_commands(ev: Evidence) -> list[str]:
    """Check the edited config with the proxy's own test, then reload it -- the commands as the
    running master needs them: its own config and prefix (``nginx -t -p P -c FILE``), and
    ``systemctl reload UNIT`` when a systemd unit runs it (a reload behind systemd's back leaves
    the unit's state wrong; a packaged unit name for a master started by hand reloads another
    one or nothing: issue 31)."""
    commands = proxy_of(ev).reload_commands(ev.config.main_file, prefix=ev.config.prefix)
    if ev.config.unit:
        return [*commands[:-1], f"systemctl reload {ev.config.unit}"]
    return commands


def config_grep(ev: Evidence, pattern: str) -> str:
    """A command that shows the lines of the proxy's config matching ``pattern`` (an ERE):
    through the dump of the config as its program reads it when it has one (``nginx -T``,
    ``Vocabulary.config_dump``), else in its main config file."""
    v = proxy_of(ev).vocabulary
    if v.config_dump:
        return f"{v.config_dump} | grep -n -E '{pattern}'"
    return f"grep -n -E '{pattern}' {ev.config.main_file or v.default_config}"


def sample_item(s: Sample, summary: str, symptom: str | None, count: int | None = None) -> EvidenceItem:
    return EvidenceItem(kind="log", summary=summary, source=s.file, line=s.line, time=iso(s.time),
                        text=s.text, symptom=symptom, count=count)


def group_items(g: SymptomGroup, what: str | None = None) -> list[EvidenceItem]:
    """Evidence for one symptom group: the first line as proof, with the count and time span.

    Error-log lines are failed *attempts*: nginx logs each failed attempt and may retry it
    (``proxy_next_upstream``; a failed cached keep-alive connection is retried without counting
    a try, ``ngx_http_upstream_next`` in src/http/ngx_http_upstream.c), so what the clients got
    is said only from the access log (``g.clients``, ``evidence.client_view.with_client_view``).
    """
    span = ""
    if g.first and g.last:
        span = f" between {g.first:%Y-%m-%d %H:%M:%S} and {g.last:%H:%M:%S}"
    summary = (what or f"{g.count} × {g.symptom}" + (f" to {g.peer}" if g.peer else "")) + span
    tail = attempts_phrase(g)
    if tail:
        summary += f" ({tail})"
    if not g.samples:
        return [EvidenceItem(kind="stat", summary=summary, symptom=g.symptom, count=g.count)]
    return [sample_item(g.samples[0], summary, g.symptom, g.count)]


def attempts_phrase(g: SymptomGroup) -> str:
    """``6 failed attempts; clients got 3×502, 3 were retried and answered without a 5xx``."""
    codes = sorted(s for s in g.statuses if s >= 500)
    if not codes and g.clients is None:
        return ""
    plural = "s" if g.count != 1 else ""
    said = "/".join(map(str, codes))
    if g.symptom == "app-error":  # the backend answered; nginx copied its stderr
        return (f"{g.count} line{plural} the backend wrote to stderr; the client gets the "
                f"application's own answer{f', here {said}' if said else ''}")
    if g.symptom == "rate-limited":  # limit_req/limit_conn: one line per rejected request
        return (f"{g.count} request{plural} rejected before any upstream attempt"
                f"{f', {proxy_name(g.source)} answered {said}' if said else ''}")
    out = f"{g.count} failed attempt{plural}"
    if g.clients is None:
        return out + (f"; {proxy_name(g.source)} answers {said} for this when it is the last "
                      "attempt")
    about = "about " if g.clients_estimated else ""
    got = ", ".join(f"{n}×{s}" for s, n in sorted(g.clients.items()) if n)
    out += f"; clients got {about}{got}" if got else "; no client got a 5xx from it"
    if g.rescued:
        were = "was" if g.rescued == 1 else "were"
        out += f", {about if not got else ''}{g.rescued} {were} retried and answered without a 5xx"
    if g.clients_estimated:
        out += " (the access log's counts for this server shared out by error lines)"
    return out


def requests_of(g: SymptomGroup) -> int:
    """Requests a group stands for: final 5xx from the access log when read, else its lines."""
    return sum(g.clients.values()) if g.clients is not None else g.count


def event_item(e: LogEvent, summary: str) -> EvidenceItem:
    kind = "kernel" if e.source == "kernel" else ("unit" if e.source == "systemd" else "log")
    return EvidenceItem(kind=kind, summary=summary, source=e.file, line=e.line, time=iso(e.time),
                        text=e.text, symptom=e.kind)


def config_item(t: TargetFact, summary: str | None = None) -> EvidenceItem:
    section = t.settings.get("section")
    if section is not None and summary is None:  # HAProxy: the server line of a backend
        return EvidenceItem(kind="config", summary=f"server {t.key} in {section.value}"
                            + (f" (frontend {t.server})" if t.server else ""),
                            source=t.file, line=t.line)
    named = t.settings.get("directive")  # Apache: ProxyPass, BalancerMember, SetHandler, ...
    directive = named.value if named is not None else (
        f"{t.kind}_pass" if t.kind != "proxy" else "proxy_pass")
    where = t.pass_file or t.file
    line = t.pass_line or t.line
    return EvidenceItem(kind="config", summary=summary or f"{directive} to {t.key}"
                        + (f" (upstream {t.group})" if t.group else "")
                        + (f" in server {t.server}" if t.server else "")
                        + (f" location {t.location}" if t.location else ""),
                        source=where, line=line)


def probe_item(key: str | None, p: ProbeResult) -> EvidenceItem:
    """The probe of target ``key`` as evidence: ``probe 127.0.0.1:8080: connection refused``."""
    parts = [f"probe {key}:"]
    parts.append("ok" if p.ok else (p.error or p.connect_state or "failed"))
    if p.answer:
        parts.append(f"protocol={p.answer}")
    if p.detail:
        parts.append(f"({p.detail})")
    return EvidenceItem(kind="probe", summary=" ".join(parts), source="probe",
                        text=p.detail)


def listener_item(lst: Listener, summary: str | None = None) -> EvidenceItem:
    who = f"{lst.process or '?'} pid {lst.pid}" if lst.pid else (lst.process or "a process")
    return EvidenceItem(kind="listener", summary=summary or f"{who} listens on {lst.key}",
                        source="listeners")


def make_finding(cause: str, *, confidence: float, groups: Sequence[SymptomGroup],
                 explanation: str, evidence: Iterable[EvidenceItem], fix: Fix | None,
                 upstream: str | None = None, target: str | None = None,
                 status_codes: Iterable[int] = ()) -> Finding:
    """Build a Finding whose count, time span, symptoms and statuses come from ``groups``."""
    statuses: set[int] = set(status_codes)
    firsts = [g.first for g in groups if g.first]
    lasts = [g.last for g in groups if g.last]
    symptoms: list[str] = []
    for g in groups:
        statuses.update(s for s in g.statuses if s >= 500 or s == 9)
        if g.symptom not in symptoms:
            symptoms.append(g.symptom)
    return Finding(
        cause=cause,
        title=title(cause),
        confidence=round(max(0.0, min(1.0, confidence)), 2),
        status_codes=sorted(statuses),
        symptoms=symptoms,
        explanation=explanation,
        upstream=upstream,
        target=target,
        evidence=list(evidence),
        fix=fix,
        first_seen=iso(min(firsts)) if firsts else None,
        last_seen=iso(max(lasts)) if lasts else None,
        count=sum(requests_of(g) for g in groups),
    )


def claims(groups: Iterable[SymptomGroup]) -> frozenset[GroupKey]:
    return frozenset((g.symptom, g.peer) for g in groups)


def groups_of(ev: Evidence, *symptoms: str) -> list[SymptomGroup]:
    wanted = set(symptoms)
    return [g for g in ev.logs.symptoms if g.symptom in wanted]


def by_peer(groups: Iterable[SymptomGroup]) -> dict[str | None, list[SymptomGroup]]:
    out: dict[str | None, list[SymptomGroup]] = {}
    for g in groups:
        out.setdefault(g.peer, []).append(g)
    return out


def upstream_name(ev: Evidence, peer: str | None) -> str | None:
    t = ev.target(peer)
    return t.group if t and t.group else peer


def process_matches(a: str | None, b: str | None) -> bool:
    """Process names match loosely: ``php-fpm8.2`` ~ ``php-fpm: pool www`` ~ ``php-fpm``."""
    if not a or not b:
        return False
    x, y = _norm_proc(a), _norm_proc(b)
    return bool(x) and bool(y) and (x == y or x.startswith(y) or y.startswith(x))


def _norm_proc(name: str) -> str:
    n = name.strip().lower().split(":")[0].split()[0] if name.strip() else ""
    n = n.rsplit("/", 1)[-1]
    for suffix in ("8.1", "8.2", "8.3", "8.4", "7.4", "3"):
        if n.endswith(suffix) and n != suffix:
            n = n[: -len(suffix)]
            break
    return n


DEATH_SYMPTOMS = ("premature-close", "connection-reset", "broken-pipe")


# How far out of order a proxy may write two lines about one moment: concurrent requests are
# logged by different workers/threads as each finishes (Apache's event MPM, nginx's workers),
# so the refusal of a request that connected just after the backend died can be stamped
# before the premature close of the request that was in flight when it died (seen: 1 ms).
SAME_MOMENT_S = 1.0


def died_then_refused(ev: Evidence, peer: str | None, refused: Iterable[SymptomGroup],
                      window_s: float = 60.0) -> bool:
    """Did ``peer`` drop a request (premature close/reset) shortly before it started refusing?

    The signature of a backend that died mid-request and did not come back, in the time order
    of the two symptoms at one target, whatever proxy logged them: nginx's ``upstream
    prematurely closed connection`` / ``recv() failed (104)`` then ``connect() failed (111)``,
    HAProxy's ``SH`` then ``SC``, Apache mod_proxy_http's ``AH01102: error reading status line
    from remote server`` then ``(111)Connection refused: AH00957``.  A backend that answered,
    broke mid-response and then refused every connect crashed (the root cause); the refusals
    are its consequence.  The last death symptom at most ``window_s`` before the first refusal,
    or within ``SAME_MOMENT_S`` after it (concurrent requests' lines out of order).
    """
    refused = list(refused)
    first = min((g.first for g in refused if g.first), default=None)
    last = max((g.last for g in refused if g.last), default=None)
    if first is None or last is None:
        return False
    deaths = [t for g in ev.logs.symptoms if g.peer == peer and g.symptom in DEATH_SYMPTOMS
              for t in (g.times or tuple(x for x in (g.first, g.last) if x))]
    just_before = [t for t in deaths if -SAME_MOMENT_S <= (first - t).total_seconds() <= window_s]
    # background noise (closes scattered all day) is not a death: most closes must sit at the
    # start of the outage
    around = [t for t in deaths if -window_s <= (t - first).total_seconds()
              and (t - last).total_seconds() <= window_s]
    return bool(just_before) and len(around) * 2 >= len(deaths)


def edit(ev: Evidence, intent: Intent, by_hand: str, *, proxy: Proxy | None = None,
         files: Mapping[str, Sequence[str]] | None = None) -> tuple[str | None, list[str]]:
    """The proxy's diff of ``intent`` (``proxies.render_edit``) and the notes a fix adds: when the
    proxy declares it does not write this kind of change (``proxies.writable_intents``), one
    neutral sentence saying so and ``by_hand``, what to change by hand, instead of no word or
    nginx's statement (issue 23).  No diff for a kind it writes (the config lacks the place the
    intent names) adds no note: the summary says the change.  ``proxy``/``files``: another proxy
    than the run's and its config's lines (an edge proxy's config read next to its log alone)."""
    name = proxy.name if proxy is not None else ev.proxy
    diff = proxies.render_edit(name, ev.config.files if files is None else files, intent)
    if diff is None and type(intent) not in proxies.writable_intents(name):
        title = proxy.vocabulary.title if proxy is not None else proxy_of(ev).vocabulary.title
        return None, [f"why502 writes no {title} config change for this; by hand: {by_hand}"]
    return diff, []


def unwritten(ev: Evidence, by_hand: str) -> str:
    """The sentence of a change the proxy's config edits do not write (:func:`edit`)."""
    return f"why502 writes no {proxy_of(ev).vocabulary.title} config change for this; by hand: {by_hand}"


def route_of(t: TargetFact) -> Route:
    """Where ``t`` is passed to (its ``proxy_pass``, ``ProxyPass``, ``server`` line; its own line
    when there is none) and how it is spoken to: the place a ``facts.edits`` intent names for the
    proxy's renderer (``proxies.render_edit``)."""
    return Route(Place(t.pass_file or t.file, t.pass_line or t.line), t.kind)


LOOKUP_WINDOW_S = 10.0  # the failed lookups and the no-server answers happen together within this


def lookups_that_emptied(ev: Evidence, groups: list[SymptomGroup]) -> list[SymptomGroup]:
    """The failed name lookups that left the proxy no server at all, when its servers come from
    a lookup at request time: Caddy's dynamic upstreams (``dynamic a``/``srv``) log the lookup's
    Go error ("failed getting dynamic upstreams; falling back to static upstreams: lookup NAME
    ...: no such host") and, with no static upstream to fall back on, answer 503 "no upstreams
    available" (caddyserver/caddy modules/caddyhttp/reverseproxy/reverseproxy.go
    proxyLoopIteration(), then errNoUpstream).  Those answers are the lookup's consequence, not
    a marking of failed servers: the dns-failure groups whose lines fall within
    ``LOOKUP_WINDOW_S`` of the no-server lines (stop 47: the matrix's dns-nxdomain cells behind
    Caddy were ranked all-upstreams-down)."""
    spans = [(g.first, g.last) for g in groups if g.first and g.last]
    if not spans:
        return []
    first = min(a for a, _ in spans)
    last = max(b for _, b in spans)
    return [g for g in groups_of(ev, "dns-failure") if g.first and g.last
            and together((first, last), (g.first, g.last))]


def together(one: tuple[datetime, datetime], other: tuple[datetime, datetime],
             seconds: float = LOOKUP_WINDOW_S) -> bool:
    """Whether two spans of time (first, last) overlap, or come within ``seconds`` of each other."""
    return ((one[0] - other[1]).total_seconds() <= seconds
            and (other[0] - one[1]).total_seconds() <= seconds)
