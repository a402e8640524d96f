"""The nginx configuration as a typed model: servers, locations, upstreams, targets, logs.

Why a model and not crossplane's JSON: every analyzer asks the same questions ("which timeout
applies to this location?", "where does this ``proxy_pass`` go?", "which ``log_format`` does this
access log use?") and each answer must point at ``file:line`` so a finding can cite the line and
a fix can be a unified diff against the real file.  Lint and diagnose read the config through
these same objects: :meth:`NginxConfig.located_targets` (each ``*_pass`` with its server and
location), :meth:`Location.effective` (inheritance and defaults), :meth:`NginxConfig.peers`
(a group target as its servers).

The model is built by :mod:`why502.proxies.nginx.config.assemble` from the directive tree that
:mod:`why502.proxies.nginx.config.load` reads.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

from why502.proxies.nginx.config.directives import PASS_DIRECTIVES
from why502.proxies.nginx.config.targets import Listen, Target, UpstreamGroup, group_peers, make_target
from why502.proxies.nginx.config.tree import Directive, Scope, Setting, effective_setting


@dataclass(frozen=True)
class Location:
    """A ``location`` (or ``if`` inside a location) with its ancestry of scopes."""

    modifier: str | None  # None, "=", "~", "~*", "^~", "@" (named)
    path: str
    file: str
    line: int
    scopes: tuple[Scope, ...]  # main?, http, server, outer locations..., this one
    locations: tuple[Location, ...] = ()
    server_index: int = 0
    depth: int = 0

    @property
    def directives(self) -> tuple[Directive, ...]:
        return self.scopes[-1].directives

    @property
    def is_regex(self) -> bool:
        return self.modifier in ("~", "~*")

    @property
    def is_named(self) -> bool:
        return self.modifier == "@" or self.path.startswith("@")

    @property
    def label(self) -> str:
        return f"{self.modifier} {self.path}" if self.modifier and self.modifier != "@" else self.path

    def effective(self, name: str) -> Setting:
        """The value of ``name`` that applies in this location (inheritance + defaults)."""
        return effective_setting(name, self.scopes)

    def header(self, directive: str, name: str) -> Directive | None:
        """The ``directive NAME value`` entry that applies here for header ``name`` (the last of
        the level whose entries win, see :func:`effective_setting`), e.g. ``header(
        "proxy_set_header", "Connection")``; ``None`` when no level sets it (nginx's own
        default then applies: ``Connection: close`` for proxied requests,
        ``ngx_http_proxy_headers`` in ``ngx_http_proxy_module.c``)."""
        found = [e for e in self.effective(directive).entries if e.args and e.args[0].lower() == name.lower()]
        return found[-1] if found else None

    def walk(self) -> Iterator[Location]:
        yield self
        for child in self.locations:
            yield from child.walk()

    @property
    def where(self) -> str:
        return f"{self.file}:{self.line}"



@dataclass(frozen=True)
class Server:
    """An ``http`` (or ``stream``) ``server`` block."""

    listens: tuple[Listen, ...]
    server_names: tuple[str, ...]
    file: str
    line: int
    scopes: tuple[Scope, ...]
    locations: tuple[Location, ...]
    context: str = "http"  # http | stream
    index: int = 0

    @property
    def name(self) -> str:
        """nginx's ``server:`` field in error lines: the first server_name (may be empty)."""
        return self.server_names[0] if self.server_names else ""

    def effective(self, name: str) -> Setting:
        return effective_setting(name, self.scopes)

    def all_locations(self) -> list[Location]:
        return [loc for top in self.locations for loc in top.walk()]

    @property
    def where(self) -> str:
        return f"{self.file}:{self.line}"



@dataclass(frozen=True)
class LogTarget:
    """An ``error_log`` or ``access_log`` directive: path, format (access) or level (error)."""

    path: str
    format: str | None
    level: str | None
    file: str
    line: int
    context: str
    server: str | None = None
    params: tuple[str, ...] = ()

    @property
    def is_off(self) -> bool:
        return self.path == "off"


@dataclass(frozen=True)
class LogFormat:
    """A ``log_format NAME [escape=...] STRING ...;`` with its parts joined (nginx concatenates them)."""

    name: str
    escape: str  # default | json | none
    format: str
    file: str | None = None
    line: int | None = None


@dataclass(frozen=True)
class ParseProblem:
    """Something the parser could not read; the caller turns it into a diagnostic."""

    severity: str  # error | warning | info
    message: str
    file: str | None = None
    line: int | None = None
    # a file the config includes is there but could not be read (a device, a FIFO, no
    # permission, a symlink loop, over the size bound): what nginx would read was not seen
    unread: bool = False


@dataclass(frozen=True)
class NginxConfig:
    """Everything why502 needs from an nginx config."""

    main_file: str
    files: list[str]
    main: Scope
    http: Scope | None
    servers: list[Server]
    upstreams: dict[str, UpstreamGroup]
    user: str | None
    group: str | None
    user_is_default: bool
    worker_connections: int
    worker_connections_line: Directive | None
    worker_rlimit_nofile: int | None
    worker_processes: str
    error_logs: list[LogTarget]
    access_logs: list[LogTarget]
    log_formats: dict[str, LogFormat]
    problems: list[ParseProblem] = field(default_factory=list)
    source: str = "file"  # file | dump | nginx -T
    texts: dict[str, str] = field(default_factory=dict)  # file -> text (dumps; files read lazily)
    stream_servers: list[Server] = field(default_factory=list)
    stream_upstreams: dict[str, UpstreamGroup] = field(default_factory=dict)

    def located_targets(self) -> list[tuple[Server, Location, Target]]:
        """Every http ``*_pass`` (in a location, or an ``if`` inside one) with the server and the
        location it is written in, in config order (made once: lint's checks each ask)."""
        return list(self._located_targets)

    @cached_property
    def _located_targets(self) -> tuple[tuple[Server, Location, Target], ...]:
        out: list[tuple[Server, Location, Target]] = []
        for server in self.servers:
            for loc in server.all_locations():
                for d in loc.directives:
                    if d.name in PASS_DIRECTIVES and d.args:
                        out.append((server, loc, make_target(d, PASS_DIRECTIVES[d.name], self.upstreams,
                                                             server, loc.label)))
        return tuple(out)

    def targets(self) -> list[Target]:
        """Every ``*_pass`` in every location (and ``if`` inside one), plus stream ``proxy_pass``."""
        out = [t for _server, _loc, t in self.located_targets()]
        for server in self.stream_servers:
            for d in server.scopes[-1].directives:
                if d.name == "proxy_pass" and d.args:
                    out.append(make_target(d, "proxy", self.stream_upstreams, server, None, "stream"))
        return out

    def peers(self, target: Target) -> list[Target]:
        """Where ``target`` connects: one target per server of the upstream group it names (of
        its own context, http or stream), else the target itself."""
        groups = self.stream_upstreams if target.context == "stream" else self.upstreams
        return group_peers(target, groups)

    def worker_identity(self) -> tuple[str, str]:
        """The user and group nginx's workers run as, by the config: ``user USER [GROUP];``
        with GROUP defaulting to USER's name (``ngx_set_user()`` in ``src/core/nginx.c``); without
        the directive the build's default, ``nobody``/``nogroup`` (``auto/options``: NGX_USER,
        NGX_GROUP where no group ``nobody`` exists, as on Debian)."""
        user = self.user or "nobody"
        return user, self.group or (user if self.user else "nogroup")

    def directive_names(self) -> frozenset[str]:
        """The name of every directive in the config, at any depth (included files too)."""
        names: set[str] = set()
        stack = [self.main.directives]
        while stack:
            for d in stack.pop():
                names.add(d.name)
                if d.block:
                    stack.append(d.block)
        return frozenset(names)

    def http_effective(self, name: str) -> Setting:
        scopes = [self.main] + ([self.http] if self.http else [])
        return effective_setting(name, scopes)

    def file_text(self, path: str) -> str | None:
        """The text of a config file (from the dump, or read from disk)."""
        if path in self._read_texts:
            return self._read_texts[path]
        if path in self.texts:
            return self.texts[path]
        try:
            text: str | None = Path(path).read_text(encoding="utf-8", errors="surrogateescape")
        except OSError:
            text = None
        self._read_texts[path] = text
        return text

    def keep_texts(self, texts: dict[str, str]) -> None:
        """The texts of the files the loader read from disk, kept so :meth:`file_text` does not
        read them again (issue 23 item 3: each input read once per run)."""
        self._read_texts.update(texts)

    @cached_property
    def _read_texts(self) -> dict[str, str | None]:
        """Files read from disk, once per run: every fix of a 5000-server config asks for the
        same file, and reading it again per fix made lint quadratic (the fixes also agree on
        one snapshot of the file)."""
        return {}

    def all_locations(self) -> list[Location]:
        return [loc for s in self.servers for loc in s.all_locations()]

    def location_of(self, target: Target) -> Location | None:
        """The location whose own directives include the target's (``file:line``)."""
        for server_index, loc in self._locations_by_line.get((target.file, target.line), ()):
            if target.server_index is None or server_index == target.server_index:
                return loc
        return None

    @cached_property
    def _locations_by_line(self) -> dict[tuple[str, int], list[tuple[int, Location]]]:
        """Each directive's ``file:line`` -> the locations holding it (with their server), in
        config order: made once, so finding the location of every target is linear."""
        index: dict[tuple[str, int], list[tuple[int, Location]]] = {}
        for server in self.servers:
            for loc in server.all_locations():
                for d in loc.directives:
                    entry = index.setdefault((d.file, d.line), [])
                    if not entry or entry[-1][1] is not loc:
                        entry.append((server.index, loc))
        return index

