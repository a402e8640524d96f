"""What a diagnosis wants changed in a proxy's config, said without any proxy's grammar.

An analyzer knows *what* should change (keep idle connections to a group, close them before the
backend does, send SNI, raise a limit) and *where* in the config the facts it read came from
(``file:line`` of a group, of the statement that passes to a target, of a setting).  How that
change is written -- nginx's ``keepalive 32;`` in an ``upstream`` block, HAProxy's
``http-reuse safe`` in a ``backend``, Apache's ``enablereuse=on`` on a ``ProxyPass`` line -- is
the proxy's: each proxy's edit module (``Hooks.edits``) renders the intents it can write as a
unified diff (``proxies.render_edit``) and returns None for the others, and the finding then says
the change in words only (issue 23: before, the analyzers wrote nginx's statements into every
proxy's config through nginx's edits).

The intents are named after what they mean; their fields are the facts a renderer needs, in the
proxy-neutral terms of ``evidence.model`` (``TargetFact.kind``, a group's name, a
:class:`~why502.facts.setting.Setting` with its file and line).  This module is pure data.
"""

from __future__ import annotations

from dataclasses import dataclass

from why502.facts.setting import Setting


@dataclass(frozen=True)
class Place:
    """Where a fact was read: a file and a 1-based line (None: not known)."""

    file: str | None = None
    line: int | None = None


@dataclass(frozen=True)
class Route:
    """The statement that passes requests to a target (nginx's ``proxy_pass``, Apache's
    ``ProxyPass``/``BalancerMember``, HAProxy's ``server``), or the target's own place when
    there is none; ``kind``: how it speaks to it (``proxy``, ``fastcgi``, ``uwsgi``, ``grpc``)."""

    place: Place
    kind: str = "proxy"


@dataclass(frozen=True)
class KeepIdleConnections:
    """Keep a pool of idle connections to the servers of ``group`` for reuse (port exhaustion:
    every request opens a new connection and leaves a TIME_WAIT socket)."""

    group: str
    place: Place  # the group's block / section
    members: tuple[Route, ...] = ()  # its servers' lines
    connections: int = 32


@dataclass(frozen=True)
class ReuseConnections:
    """Let the requests of a route use the group's idle connections: what is missing for it
    (HTTP/1.1 to the upstream, no ``Connection: close``, FastCGI's keep-conn flag)."""

    route: Route
    http11: bool = False
    clear_connection: bool = False
    keep_conn: bool = False


@dataclass(frozen=True)
class CloseIdleBefore:
    """Drop idle upstream connections of ``group`` before the backend closes them (the
    keep-alive race); ``backend_idle_s``: the app server's own idle timeout when read."""

    group: str
    place: Place  # the group's block
    keepalive_line: int | None  # its pool statement, in the group's file
    setting: Setting | None  # the idle timeout as set now (None: the default)
    backend_idle_s: float | None = None
    members: tuple[Route, ...] = ()


@dataclass(frozen=True)
class RaiseHeaderBuffer:
    """Make the buffer that holds a response's status line and headers ``size_bytes`` big."""

    route: Route
    setting: Setting | None  # the buffer's size as set now
    size_bytes: int


@dataclass(frozen=True)
class SendServerName:
    """Send SNI in the TLS handshake with the target of ``route``."""

    route: Route


@dataclass(frozen=True)
class AddResolver:
    """Resolve the names of a route's targets at run time through ``nameserver``."""

    route: Route
    nameserver: str


@dataclass(frozen=True)
class RaiseConnectionLimit:
    """Raise the proxy's own limit of connections per process to ``value``."""

    setting: Setting
    value: int


@dataclass(frozen=True)
class RaiseOpenFiles:
    """Raise the proxy's workers' open-files limit (``main_file``: the main config)."""

    main_file: str
    value: int = 65535


@dataclass(frozen=True)
class RaiseServerConnections:
    """Raise the number of requests one server is given at once to ``value``."""

    server: Route
    value: int


@dataclass(frozen=True)
class SpeakProtocol:
    """Speak ``protocol`` (``http``, ``fastcgi``, ``tls``: what the backend answered) to the
    target whose address is written at ``target``; ``was_tls``: the proxy spoke TLS to it."""

    target: Place
    protocol: str
    was_tls: bool = False


@dataclass(frozen=True)
class ServerMarks:
    """One server line of a group and the failure marking it should carry."""

    place: Place
    max_fails: int
    fail_timeout_s: float


@dataclass(frozen=True)
class ReturnServers:
    """Take the "never try this server" mark off the server lines at ``places`` (a maintenance
    flag left in the config: ``Capability.CONFIG_SERVER_MARKS``)."""

    places: tuple[Place, ...]


@dataclass(frozen=True)
class TolerateFailures:
    """Take a server out only after ``max_fails`` failed attempts, for ``fail_timeout_s``, on
    each of ``servers`` (one refused connection during a restart should not)."""

    servers: tuple[ServerMarks, ...]


Intent = (KeepIdleConnections | ReuseConnections | CloseIdleBefore | RaiseHeaderBuffer
          | SendServerName | AddResolver | RaiseConnectionLimit | RaiseOpenFiles
          | RaiseServerConnections | SpeakProtocol | ReturnServers | TolerateFailures)
