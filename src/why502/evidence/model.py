"""Typed evidence: the facts ``why502 diagnose`` joins before any analyzer runs.

Why a layer of its own (docs/architecture.md, "evidence joins facts"): analyzers must be pure
functions of facts, and they must not depend on *how* a fact was obtained (``nginx -T`` or a
file, ``/proc`` or ``ss``, a recorded fixture or the live host).  Everything here is plain frozen
data.  What the sources read is kept in its own types (``why502.facts``: ``ProbeResult``,
``Listener``, ``FpmPool``, ``UnitState``); this module adds what only the join makes: the
config's targets and groups, the log lines aggregated per symptom and peer, the events of
other programs, the access log's view per upstream.  Each proxy's ``facts`` plug-in
(``proxies.<name>.facts``), ``aggregate``, ``events`` and ``client_view`` build them; tests
build them from recorded lab fixtures.

Identity keys are strings that both the config and the logs can produce (``why502.facts.net``):
``host:port`` (IPv6 in brackets), ``unix:/path``, and an upstream group's name (``backend``),
which nginx prints for ``no live upstreams`` (``ngx_http_upstream_round_robin.c``:
``pc->name = peers->name``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from functools import cached_property

from why502.evidence.appservers import AppServerEvidence
from why502.evidence.lb_evidence import LbEvidence
from why502.facts.captures import Captures, find_capture
from why502.facts.fpm import FpmPool
from why502.facts.fpm_access import FpmAccessLog
from why502.facts.kubernetes import KubeFacts
from why502.facts.net import Listener, split_key
from why502.facts.probes import ProbeResult
from why502.facts.routes import PathRouter
from why502.facts.server_state import ServerState
from why502.facts.setting import Setting
from why502.facts.system import UnitState
from why502.proxies import DEFAULT, ENGINE


@dataclass(frozen=True)
class TargetFact:
    """One place nginx sends requests to (a ``proxy_pass``/``fastcgi_pass``/... or a group server)."""

    key: str  # identity key, see module docstring
    kind: str = "proxy"  # proxy | fastcgi | uwsgi | scgi | grpc | memcached
    scheme: str | None = None  # http | https | grpc | grpcs | None for fastcgi & co
    host: str | None = None
    port: int | None = None
    unix_path: str | None = None
    group: str | None = None  # upstream{} name when the pass names a group
    uses_variables: bool = False
    file: str | None = None  # file:line of the *_pass directive (or of the group's server line)
    line: int | None = None
    server: str | None = None  # server_name of the server block
    location: str | None = None
    settings: Mapping[str, Setting] = field(default_factory=dict)  # effective, per location
    pass_file: str | None = None  # the *_pass directive when ``file`` points at the group server
    pass_line: int | None = None
    # the proxy's own nameservers for ``host`` (HAProxy's ``resolvers`` section a server line
    # names): a name the proxy resolves at run time through them, not the host's resolver
    resolvers: tuple[str, ...] = ()


@dataclass(frozen=True)
class GroupFact:
    """An ``upstream {}`` block: its servers, ``keepalive`` and where it is."""

    name: str
    servers: tuple[str, ...] = ()
    keepalive: int | None = None
    file: str | None = None
    line: int | None = None
    max_fails: Mapping[str, int] = field(default_factory=dict)  # server key -> max_fails
    fail_timeout: Mapping[str, float] = field(default_factory=dict)  # server key -> seconds
    down: frozenset[str] = frozenset()  # servers the config marks ``down`` (never tried)
    server_lines: Mapping[str, tuple[str, int]] = field(default_factory=dict)  # key -> file, line
    keepalive_line: int | None = None
    keepalive_timeout: Setting | None = None  # upstream-level keepalive_timeout (default 60s)


@dataclass(frozen=True)
class Sample:
    """One concrete log line kept as proof (``text`` is verbatim: hostile, escape when shown)."""

    text: str
    file: str | None = None
    line: int | None = None
    time: datetime | None = None


@dataclass(frozen=True)
class SymptomGroup:
    """All proxy error-log lines with one symptom towards one peer, aggregated.

    Aggregated because a busy host has millions of lines; the analyzers need counts, the time
    span, the statuses and a few real lines to show, not every line.
    """

    symptom: str
    peer: str | None  # identity key of the peer (or the group name); None when not in the line
    count: int
    first: datetime | None = None
    last: datetime | None = None
    statuses: Mapping[int, int] = field(default_factory=dict)
    samples: tuple[Sample, ...] = ()
    scheme: str | None = None  # from ``upstream: "http://..."``
    source: str = ENGINE  # the program that wrote the lines (``Classified.source``)
    times: tuple[datetime, ...] = ()  # up to a few hundred event times, for time correlation
    message: str | None = None
    # What clients actually got, from the access log (``None``: no access log for this peer).
    # ``count`` is failed *attempts* (one error line each); a request can fail several times
    # and a retry can rescue it, so these are the requests: final 5xx statuses nginx made ...
    clients: Mapping[int, int] | None = None
    # ... and the failed attempts a later attempt rescued (final status < 500)
    rescued: int | None = None
    # the peer's access-log counts were shared out between several symptom groups by their
    # share of error lines (the access log does not say which symptom each request had)
    clients_estimated: bool = False


@dataclass(frozen=True)
class LogEvent:
    """One line from a log other than the proxy's (kernel, systemd, PHP-FPM, app server).

    ``pid``, ``process``, ``unit`` and ``pool`` name who the line is about (the identity the
    analyzers match against listeners, pools and units); ``captures`` keeps every fact the
    catalog pattern found in the line (``script``, ``signal``, ``uid``, ``restarts``, ...).
    """

    kind: str  # evidence-event ID (docs/causes/README.md), e.g. oom-kill, worker-crashed, unit-restart
    text: str
    source: str = ""  # kernel | systemd | php-fpm | gunicorn | ...
    time: datetime | None = None
    file: str | None = None
    line: int | None = None
    pid: int | None = None
    process: str | None = None
    unit: str | None = None
    pool: str | None = None
    detail: str | None = None
    pattern: str = ""  # the catalog pattern that recognised the line
    captures: Captures = ()

    def capture(self, name: str) -> str | None:
        """A fact the pattern found (``script``, ``signal``, ...), or None."""
        return find_capture(self.captures, name)


@dataclass(frozen=True)
class SocketStat:
    """``stat()`` of a unix socket path named in the config or an FPM pool."""

    path: str
    exists: bool
    is_socket: bool = False
    owner: str | None = None
    group: str | None = None
    uid: int | None = None
    gid: int | None = None
    mode: int | None = None  # permission bits, e.g. 0o660
    error: str | None = None
    worker_allowed: bool | None = None  # may nginx's worker user connect (dirs + socket)?
    worker_reason: str | None = None  # why not, e.g. "no search (x) permission on /run/php ..."


@dataclass(frozen=True)
class UpstreamTiming:
    """Access-log truth for one upstream peer/group (from ``AccessStats``)."""

    upstream: str
    requests: int = 0
    statuses: Mapping[int, int] = field(default_factory=dict)  # final $status counts
    backend_5xx: Mapping[int, int] = field(default_factory=dict)  # 5xx with numeric header time
    proxy_5xx: Mapping[int, int] = field(default_factory=dict)  # 5xx nginx made ("-" header time)
    p50_ms: float | None = None
    p95_ms: float | None = None
    max_ms: float | None = None
    at_timeout: int = 0  # requests whose response time reached the configured read timeout
    timeout_s: float | None = None
    first: datetime | None = None
    last: datetime | None = None
    samples: tuple[Sample, ...] = ()
    # the last request clients got a final status below 500 for, this upstream last (naive
    # local time; None: none, or no access log): later than a cause's failures, it recovered
    last_ok: datetime | None = None


@dataclass(frozen=True)
class LocationOutcome:
    """The 5xx clients of one config location got, from the access log, with who made them.

    Needed when the access log has no upstream fields (nginx's default ``combined`` format): the
    per-upstream view (``UpstreamTiming``) is then empty, but nginx's own choice of location
    (``proxies.nginx.config.locations``) still ties each request to the ``*_pass`` that served it.
    ``by_proxy`` counts the 5xx an error-log line or an empty ``$upstream_addr`` proves the proxy
    made (nginx; the stats tables' ``by_proxy`` column, ``by_nginx`` before issue 23),
    ``by_backend`` those a numeric ``$upstream_header_time`` proves the backend sent; the rest is
    of unknown make.
    """

    label: str  # "server_name location", as proxies.nginx.config.locations labels it
    statuses: Mapping[int, int] = field(default_factory=dict)  # 5xx status -> requests
    by_proxy: int = 0
    by_backend: int = 0

    @property
    def total(self) -> int:
        return sum(self.statuses.values())


@dataclass(frozen=True)
class ClientFailures:
    """The 5xx the clients got, from the access log, and who made them.

    Kept for the one guard that a host whose clients got 5xx the proxy made (or that nothing
    shows the backend made) is never reported healthy (``analyzers.unexplained``): the
    per-upstream and per-location views above are empty when the log format has no upstream
    field, which is how 120 ``502`` of 200 requests once read as "healthy", exit 0.
    """

    statuses: Mapping[int, int] = field(default_factory=dict)  # final 5xx status -> requests
    by_proxy: int = 0  # proven made by the proxy (an error line, an empty $upstream_addr)
    by_backend: int = 0  # proven made by the backend (a numeric $upstream_header_time)
    requests: int = 0  # every request of the log
    first: datetime | None = None  # the first and last minute with a 5xx
    last: datetime | None = None
    file: str | None = None  # the first 5xx line, as proof
    line: int | None = None
    request: str | None = None

    @property
    def total(self) -> int:
        return sum(self.statuses.values())

    @property
    def not_backend(self) -> int:
        """The 5xx the proxy made or of unknown make: what the backend is not shown to have sent."""
        return max(0, self.total - self.by_backend)


@dataclass(frozen=True)
class ConfigFacts:
    """What the proxy's config (and PHP-FPM's pool files) say, in proxy-neutral names.

    Filled by one provider, ``app.diagnose.proxies.read_config``, from the one parse of each
    config of the run.  ``user``/``group`` are the worker identity the config *names*
    (nginx ``user``, HAProxy ``user``/``group``, Apache ``User``); the identity the host
    resolves for it is ``HostFacts.worker_user``.
    """

    targets: tuple[TargetFact, ...] = ()
    groups: Mapping[str, GroupFact] = field(default_factory=dict)
    files: Mapping[str, tuple[str, ...]] = field(default_factory=dict)  # config file -> lines
    listens: tuple[str, ...] = ()  # the proxy's own listen keys (a proxy loop targets one)
    limit_settings: tuple[Setting, ...] = ()  # rate/connection limits (nginx limit_req/limit_conn)
    # the most response-header bytes the proxy takes from a target, and the setting(s) that say
    # so (HAProxy's tune.bufsize less tune.maxrewrite); None: not read for this proxy
    header_limit: tuple[int, Setting] | None = None
    main_file: str | None = None  # the config's main file (reload commands name it)
    user: str | None = None  # the worker user the config names
    group: str | None = None  # the worker group the config names
    max_connections: Setting | None = None  # connections per worker (nginx worker_connections)
    max_open_files: Setting | None = None  # the workers' fd limit (nginx worker_rlimit_nofile)
    fpm_pools: tuple[FpmPool, ...] = ()  # PHP-FPM's pools, from its config files
    runtime_socket: str | None = None  # the proxy's runtime API address (HAProxy ``stats socket``)
    # True when the error log read is the one the config writes and its level lets ``error``
    # through: a failure the proxy makes itself would be in it, so its silence is evidence
    # (``analyzers.application``); None: not known (the proxy's plug-in does not say)
    own_failures_logged: bool | None = None
    # the running master's systemd unit (a reload names it) and nginx's -p (commands name it):
    # what discovery read of it (sources.proxyprocs), None when no master was found
    unit: str | None = None
    prefix: str | None = None
    # which targets a request path is routed to, as the proxy decides it (its ``diagnose``
    # plug-in's ``facts.routes.PathRouter``: nginx's location search, Apache's ProxyPass order);
    # None: the proxy has none, and an analyzer that needs it says nothing
    router: PathRouter | None = field(default=None, compare=False, repr=False)


@dataclass(frozen=True)
class LogFacts:
    """What the logs say: the proxy's error lines per symptom and peer, other programs' events
    (FPM, app servers, a ``--kernel-log`` file) and the access log's view.

    Filled by one provider, ``app.diagnose.logfacts.read_logs``, each file read once.
    """

    symptoms: tuple[SymptomGroup, ...] = ()
    events: tuple[LogEvent, ...] = ()  # in time order
    per_minute: Mapping[str, Mapping[str, int]] = field(default_factory=dict)  # proxy errors
    access: Mapping[str, UpstreamTiming] = field(default_factory=dict)
    locations_5xx: tuple[LocationOutcome, ...] = ()  # access-log 5xx per config location
    client_5xx: ClientFailures | None = None  # what the clients got in all (None: no access log)
    access_has_upstream: bool = True  # the access log's format has $upstream_addr
    # PHP-FPM pools' own access logs (``access.log``): the app server's record of each request
    # it finished, with the status its script set (``app.diagnose.fpm_access``)
    fpm_access: tuple[FpmAccessLog, ...] = ()


@dataclass(frozen=True)
class EdgeFacts:
    """What the logs of a cloud load balancer, CDN or mesh/edge proxy say (ALB, Classic ELB,
    Cloudflare, Envoy/Istio, Caddy, Traefik: ``parsers.lblogs``), one ``LbEvidence`` per family
    read (a file may mix several), each in the edge's own words.  Nothing of the machine: the
    log is the evidence.

    Filled by one provider, ``app.diagnose.lb.read_edge``, each file read once; empty when no
    input is such a log.  The ``LbEvidence`` are built while reading and only read afterwards.
    """

    families: tuple[LbEvidence, ...] = ()
    # the edge proxy's own config targets when its --config was read next to its log alone
    # (``app.diagnose.gather``; with the proxy's inputs they are ``Evidence.config``'s): which
    # upstream a line that names none went to, when there is one (analyzers.edge_apps)
    targets: tuple[TargetFact, ...] = ()
    # that config's lines by file, for a fix's diff written against them (analyzers.keepalive)
    files: Mapping[str, tuple[str, ...]] = field(default_factory=dict)


PROXY_NOFILE = "proxy-nofile"
"""``HostFacts.limits``' key of the soft open-files limit of the proxy's first listening process
(``app.diagnose.system.nofile_limit``; the fd-limit finding reads it)."""


@dataclass(frozen=True)
class HostFacts:
    """The machine around the proxy, read live (``None``/empty: not read, e.g. ``--offline``).

    Filled by one provider, ``app.diagnose.live.read_host``.  ``events`` are the host's own
    records (kernel ring buffer, systemd journal, SELinux audit), joined with the logs' events
    by ``Evidence.all_events``.
    """

    listeners: tuple[Listener, ...] | None = None
    sockets: Mapping[str, SocketStat] = field(default_factory=dict)
    units: Mapping[str, UnitState] = field(default_factory=dict)
    target_units: Mapping[str, str] = field(default_factory=dict)  # peer key -> systemd unit
    sysctls: Mapping[str, str] = field(default_factory=dict)
    limits: Mapping[str, int] = field(default_factory=dict)  # e.g. PROXY_NOFILE
    time_wait: Mapping[str, int] = field(default_factory=dict)  # peer key -> TIME_WAIT sockets
    selinux_mode: str | None = None  # enforcing | permissive | disabled | None (unknown)
    resolvers: tuple[str, ...] = ()  # nameservers of /etc/resolv.conf
    worker_user: str | None = None  # the proxy worker's user, resolved on this host
    worker_group: str | None = None
    worker_groups: tuple[str, ...] = ()  # primary + supplementary group names of the worker
    events: tuple[LogEvent, ...] = ()


@dataclass(frozen=True)
class LiveFacts:
    """What asking the running services found: a probe of each target and the proxy's own
    runtime view (HAProxy's ``show stat``).  Filled by ``app.diagnose.live.read_live``."""

    probes: Mapping[str, ProbeResult] | None = None  # target key -> what its probe found
    server_states: Mapping[str, ServerState] | None = None  # target key -> state (None: not read)


@dataclass(frozen=True)
class RunClock:
    """The run's time: ``now`` (the analyzers' "recent"), ``inputs_end`` (the access log's last
    request: the inputs' own end, for recorded logs) and whether the run was ``--offline``."""

    offline: bool = False
    now: datetime | None = None
    inputs_end: datetime | None = None


@dataclass(frozen=True)
class Evidence:
    """Everything the analyzers may look at: one record per provider (docs/architecture.md).

    ``proxy`` is which proxy the config and logs are of (a name of ``why502.proxies.PROXIES``).
    """

    proxy: str = DEFAULT
    config: ConfigFacts = field(default_factory=ConfigFacts)
    logs: LogFacts = field(default_factory=LogFacts)
    host: HostFacts = field(default_factory=HostFacts)
    live: LiveFacts = field(default_factory=LiveFacts)
    clock: RunClock = field(default_factory=RunClock)
    # the app servers behind the proxy: one provider (app.diagnose.appservers), identity-checked
    apps: AppServerEvidence = field(default_factory=AppServerEvidence)
    # ``--k8s``: the Kubernetes objects read (pods, EndpointSlices, Services, Events, Gateway API
    # routes); joined to the failures by pod IP and time in ``evidence.kubernetes``
    k8s: KubeFacts = field(default_factory=KubeFacts)
    # the load balancers' / edge proxies' own logs: one provider (app.diagnose.lb)
    edge: EdgeFacts = field(default_factory=EdgeFacts)

    @cached_property
    def all_events(self) -> tuple[LogEvent, ...]:
        """The logs' and the host's events in one time order (a stable sort: equal times keep
        the logs' events first, as they were read)."""
        if not self.host.events:
            return self.logs.events
        return tuple(sorted((*self.logs.events, *self.host.events),
                            key=lambda e: e.time or datetime.min))

    def target(self, key: str | None) -> TargetFact | None:
        """The config target with this identity key (or any member of the group of that name)."""
        if key is None:
            return None
        targets = self.config.targets
        for t in targets:
            if t.key == key:
                return t
        for t in targets:
            if t.group == key:
                return t
        # a config that names hosts: nginx logs the resolved address (``upstream: "http://10...``)
        host, port, _ = split_key(key)
        for t in targets:
            probe = (self.live.probes or {}).get(t.key)
            if probe is not None and t.port == port and host in probe.addresses:
                return t
        return None

    def location_target(self, label: str) -> TargetFact | None:
        """The target of the location labelled ``label`` (``"server_name location"``)."""
        for t in self.config.targets:
            if t.location is not None and f"{t.server or ''} {t.location}".strip() == label.strip():
                return t
        return None

    def listeners_for(self, key: str) -> list[Listener]:
        """Listeners that serve exactly this key (wildcard binds serve every local address)."""
        if self.host.listeners is None:
            return []
        out = []
        host, port, path = split_key(key)
        for listener in self.host.listeners:
            if path is not None:
                if listener.proto == "unix" and listener.path == path:
                    out.append(listener)
                continue
            if listener.proto == "unix" or listener.port != port:
                continue
            if serves(listener, host):
                out.append(listener)
        return out


_LOOPBACK4 = {"127.0.0.1", "localhost"}
_WILDCARD4 = {"0.0.0.0", "*", ""}  # noqa: S104 - a wildcard bind we read, not make
_WILDCARD6 = {"::", "[::]"}


def serves(listener: Listener, host: str | None) -> bool:
    """Does a TCP listener accept connections addressed to ``host``?

    A ``0.0.0.0`` bind serves every IPv4 address; ``::`` serves IPv6 and, unless ``IPV6_V6ONLY``,
    IPv4 too (Linux default ``net.ipv6.bindv6only=0``), which is why a backend on ``[::]:8080`` is
    reachable as ``127.0.0.1:8080`` but one on ``[::1]:8080`` is not.
    """
    addr = (listener.address or "").strip("[]")
    target = (host or "").strip("[]")
    if target == "localhost":
        return addr in _LOOPBACK4 | _WILDCARD4 | {"::1", "::"}
    is_v6_target = ":" in target
    if addr in _WILDCARD6 or addr == "::":
        return True
    if addr in _WILDCARD4:
        return not is_v6_target
    if addr.startswith("::ffff:") and not is_v6_target:
        return addr[7:] == target
    return addr == target
