"""Typed evidence: the facts ``why502 diagnose`` joins before any analyzer runs.

Why a layer of its own (docs/architecture.md, "evidence joins facts"): analyzers must be pure functions of
facts, and they must not depend on *how* a fact was obtained (``nginx -T`` or a file, ``/proc`` or
``ss``, a recorded fixture or the live host).  Everything here is plain frozen data; the
``why502.app.diagnose`` wiring converts what ``sources`` and ``parsers`` return into these records
(see ``why502.evidence.build``), and tests build them from recorded lab fixtures.

Identity keys are strings that both the config and the logs can produce:

- a TCP peer is ``host:port`` with IPv6 in brackets (``127.0.0.1:8080``, ``[::1]:8080``), exactly
  as nginx prints the peer in ``upstream: "http://127.0.0.1:8080/x"`` (``ngx_sock_ntop()``);
- a unix socket is ``unix:/run/php/php8.2-fpm.sock`` (nginx prints ``unix:`` + path);
- an upstream group is its name (``backend``), which nginx prints for ``no live upstreams``
  (``ngx_http_upstream_round_robin.c``: ``pc->name = peers->name``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime


@dataclass(frozen=True)
class Setting:
    """An effective directive value and where it comes from (``is_default``: nginx's default)."""

    value: str
    file: str | None = None
    line: int | None = None
    is_default: bool = False


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


@dataclass(frozen=True)
class GroupFact:
    """An ``upstream {}`` block: its servers, ``keepalive`` and where it is."""

    name: str
    servers: tuple[str, ...] = ()
    keepalive: int | None = None
    file: str | None = None
    line: int | None = None
    max_fails: Mapping[str, int] = field(default_factory=dict)  # server key -> max_fails
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
    source: str = "nginx"
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
    """One line from a log other than the proxy's (kernel, systemd, PHP-FPM, app server)."""

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


@dataclass(frozen=True)
class ProbeFact:
    """A live probe of one target (DNS, connect, protocol, TLS)."""

    key: str
    ok: bool
    dns: str | None = None  # ok | failed | None (not applicable)
    connect: str | None = None  # ok | refused | timeout | not-found | denied | unreachable | ...
    protocol: str | None = None  # http | fastcgi | tls | unknown | None
    tls: str | None = None
    error: str | None = None
    errno: int | None = None
    elapsed_ms: float | None = None
    detail: str | None = None
    addresses: tuple[str, ...] = ()
    header_bytes: int | None = None  # size of the response header the probe received


@dataclass(frozen=True)
class ListenerFact:
    """A listening socket on this host and the process that owns it (if visible)."""

    proto: str  # tcp | tcp6 | unix
    address: str | None = None
    port: int | None = None
    path: str | None = None
    pid: int | None = None
    process: str | None = None
    user: str | None = None
    accept_queue: int | None = None  # connections waiting to be accepted (TCP LISTEN rx_queue)

    @property
    def key(self) -> str:
        if self.proto == "unix":
            return f"unix:{self.path}"
        host = self.address or ""
        if ":" in host and not host.startswith("["):
            host = f"[{host}]"
        return f"{host}:{self.port}"


@dataclass(frozen=True)
class FpmPoolFact:
    """A PHP-FPM pool and where its ``listen`` line is (for a diff)."""

    name: str
    listen: str
    file: str | None = None
    line: int | None = None  # the [pool] header line
    listen_line: int | None = None
    listen_owner: str | None = None
    listen_group: str | None = None
    listen_mode: str | None = None
    listen_backlog: int | None = None
    pm: str | None = None
    max_children: int | None = None
    max_children_line: int | None = None
    request_terminate_timeout: str | None = None
    user: str | None = None
    group: str | None = None

    @property
    def key(self) -> str:
        """Identity key of the pool's listen address (``/path`` -> ``unix:/path``)."""
        return listen_key(self.listen)


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
class UnitFact:
    """A systemd unit that serves a target (state + restart counter)."""

    name: str
    active_state: str | None = None
    sub_state: str | None = None
    result: str | None = None
    n_restarts: int | None = None
    main_pid: int | None = None


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


@dataclass(frozen=True)
class Evidence:
    """Everything the analyzers may look at.  ``None`` means "not read" (offline / no access)."""

    targets: tuple[TargetFact, ...] = ()
    groups: Mapping[str, GroupFact] = field(default_factory=dict)
    symptoms: tuple[SymptomGroup, ...] = ()
    events: tuple[LogEvent, ...] = ()
    probes: Mapping[str, ProbeFact] | None = None
    listeners: tuple[ListenerFact, ...] | None = None
    fpm_pools: tuple[FpmPoolFact, ...] = ()
    sockets: Mapping[str, SocketStat] = field(default_factory=dict)
    units: Mapping[str, UnitFact] = field(default_factory=dict)
    target_units: Mapping[str, str] = field(default_factory=dict)  # peer key -> systemd unit
    access: Mapping[str, UpstreamTiming] = field(default_factory=dict)
    nginx_user: str | None = None
    nginx_user_groups: tuple[str, ...] = ()  # primary + supplementary group names of the worker
    nginx_group: str | None = None  # the worker's group (``user USER [GROUP]``)
    nginx_conf_file: str | None = None
    worker_connections: Setting | None = None
    worker_rlimit_nofile: Setting | None = None
    selinux_mode: str | None = None  # enforcing | permissive | disabled | None (unknown)
    sysctls: Mapping[str, str] = field(default_factory=dict)
    limits: Mapping[str, int] = field(default_factory=dict)  # e.g. nginx-nofile
    time_wait: Mapping[str, int] = field(default_factory=dict)  # peer key -> TIME_WAIT sockets
    files: Mapping[str, tuple[str, ...]] = field(default_factory=dict)  # config file -> lines
    resolvers: tuple[str, ...] = ()  # nameservers of /etc/resolv.conf (live only)
    nginx_listens: tuple[str, ...] = ()  # nginx's own listen keys (a proxy loop targets one)
    limits_config: tuple[Setting, ...] = ()  # limit_req / limit_conn directives in the config
    per_minute: Mapping[str, Mapping[str, int]] = field(default_factory=dict)  # proxy errors
    offline: bool = False
    now: datetime | None = None

    def target(self, key: str | None) -> TargetFact | None:
        """The config target with this identity key (or any member of the group of that name)."""
        if key is None:
            return None
        for t in self.targets:
            if t.key == key:
                return t
        for t in self.targets:
            if t.group == key:
                return t
        # a config that names hosts: nginx logs the resolved address (``upstream: "http://10...``)
        host, port, _ = split_key(key)
        for t in self.targets:
            probe = (self.probes or {}).get(t.key)
            if probe is not None and t.port == port and host in probe.addresses:
                return t
        return None

    def listeners_for(self, key: str) -> list[ListenerFact]:
        """Listeners that serve exactly this key (wildcard binds serve every local address)."""
        if self.listeners is None:
            return []
        out = []
        host, port, path = split_key(key)
        for listener in self.listeners:
            if path is not None:
                if listener.proto == "unix" and listener.path == path:
                    out.append(listener)
                continue
            if listener.proto == "unix" or listener.port != port:
                continue
            if serves(listener, host):
                out.append(listener)
        return out


def listen_key(listen: str) -> str:
    """Identity key of an FPM ``listen`` value (``/run/x.sock``, ``9000``, ``127.0.0.1:9000``)."""
    value = listen.strip()
    if value.startswith("/"):
        return f"unix:{value}"
    if value.isdigit():
        return f"0.0.0.0:{value}"  # PHP-FPM: a bare port listens on all addresses
    return value


def split_key(key: str) -> tuple[str | None, int | None, str | None]:
    """``127.0.0.1:80`` -> (host, port, None); ``unix:/p`` -> (None, None, /p); ``[::1]:80``."""
    if key.startswith("unix:"):
        return None, None, key[5:]
    host, sep, port = key.rpartition(":")
    if not sep or not port.isdigit():
        return key, None, None
    return host.strip("[]") or None, int(port), None


_LOOPBACK4 = {"127.0.0.1", "localhost"}
_WILDCARD4 = {"0.0.0.0", "*", ""}  # noqa: S104 - a wildcard bind we read, not make
_WILDCARD6 = {"::", "[::]"}


def serves(listener: ListenerFact, host: str | None) -> bool:
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
