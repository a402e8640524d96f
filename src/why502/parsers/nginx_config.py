"""The nginx configuration as a typed model: servers, locations, upstreams, targets, logs.

Why a model and not crossplane's JSON: every analyzer asks the same questions ("which timeout
applies to this location?", "where does this ``proxy_pass`` go?", "which ``log_format`` does this
access log use?") and each answer must point at ``file:line`` so a finding can cite the line and
a fix can be a unified diff against the real file.

Parsing uses crossplane (``crossplane.parse(..., single=True)``) one file at a time; ``include``
is followed here, not by crossplane, so the same code serves real files and ``nginx -T`` dumps
(where the files exist only inside the dump).  Relative include paths resolve against the
directory of the main file, which is nginx's conf prefix (``ngx_conf_full_name(cycle, name, 1)``
in ``src/core/ngx_conf_file.c`` ``ngx_conf_include()``); glob patterns match in sorted order and
may match nothing (``NGX_CONF_GLOB`` case), an explicit missing file is an error.

Inheritance follows the merge functions (``ngx_http_proxy_merge_loc_conf`` and friends in
``src/http/modules/``): a level that does not set a directive takes the enclosing level's value;
array-type directives (``proxy_set_header``, ``add_header``, ``fastcgi_param``) are inherited only
when the level defines none of them.  Defaults come from ``catalog/data/directives.toml``.

This module is pure: it reads the files it is given (crossplane needs paths) and nothing else.
"""

from __future__ import annotations

import difflib
import fnmatch
import glob
import os
import re
import sys
import tempfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib

DUMP_MARKER = re.compile(r"^# configuration file (.+):\s*$", re.MULTILINE)
"""``nginx -T`` writes ``# configuration file PATH:`` before each file it read
(``src/core/nginx.c`` ``ngx_show_configure``/dump loop)."""

PASS_DIRECTIVES: dict[str, str] = {
    "proxy_pass": "proxy",
    "fastcgi_pass": "fastcgi",
    "uwsgi_pass": "uwsgi",
    "scgi_pass": "scgi",
    "grpc_pass": "grpc",
    "memcached_pass": "memcached",
}

# nginx's built-in "combined" format (src/http/modules/ngx_http_log_module.c, ngx_http_combined_fmt).
COMBINED_FORMAT = (
    '$remote_addr - $remote_user [$time_local] "$request" $status $body_bytes_sent '
    '"$http_referer" "$http_user_agent"'
)


# --------------------------------------------------------------------------------------------
# value helpers


_SIZE_UNITS = {"": 1, "k": 1024, "m": 1024 * 1024, "g": 1024 * 1024 * 1024}
_TIME_UNITS = {
    "ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0, "w": 604800.0,
    "M": 2592000.0, "y": 31536000.0,
}
_TIME_PART = re.compile(r"(\d+)(ms|s|m|h|d|w|M|y)?")


def parse_size(text: str) -> int | None:
    """``4k`` -> 4096, ``1m`` -> 1048576, ``512`` -> 512 (``ngx_parse_size``, src/core/ngx_parse.c).

    Returns ``None`` when the text is not a size (a variable, garbage).
    """
    m = re.fullmatch(r"\s*(\d+)([kKmMgG]?)\s*", text)
    if not m:
        return None
    return int(m.group(1)) * _SIZE_UNITS[m.group(2).lower()]


def parse_time(text: str) -> float | None:
    """``60s`` -> 60.0, ``1m30s`` -> 90.0, ``500ms`` -> 0.5, ``75`` -> 75.0 seconds.

    ``ngx_parse_time`` (src/core/ngx_parse.c): a bare number is seconds; parts combine
    (``1h 30m`` with or without spaces).  ``None`` when the text is not a time.
    """
    compact = text.strip().replace(" ", "")
    if not compact:
        return None
    pos, total = 0, 0.0
    while pos < len(compact):
        m = _TIME_PART.match(compact, pos)
        if not m or m.end() == pos:
            return None
        total += int(m.group(1)) * _TIME_UNITS[m.group(2) or "s"]
        pos = m.end()
    return total


def format_seconds(seconds: float) -> str:
    """60.0 -> ``60s``, 0.5 -> ``500ms`` (for messages)."""
    if seconds < 1 and seconds > 0:
        return f"{round(seconds * 1000)}ms"
    return f"{seconds:g}s"


# --------------------------------------------------------------------------------------------
# directive knowledge (catalog/data/directives.toml)


@dataclass(frozen=True)
class DirectiveInfo:
    """One row of ``directives.toml``."""

    name: str
    module: str
    contexts: tuple[str, ...]
    default: str | None
    type: str
    inherit: str  # merge | array | none
    doc: str
    note: str | None = None


@lru_cache(maxsize=1)
def directive_table() -> dict[str, DirectiveInfo]:
    """The directive table, keyed by name (``name@context`` for context-specific rows)."""
    base = resources.files("why502.catalog").joinpath("data").joinpath("directives.toml")
    data = tomllib.loads(base.read_text(encoding="utf-8"))
    table: dict[str, DirectiveInfo] = {}
    for name, raw in data.get("directive", {}).items():
        table[name] = DirectiveInfo(
            name=name,
            module=str(raw["module"]),
            contexts=tuple(raw.get("contexts", [])),
            default=raw.get("default"),
            type=str(raw.get("type", "string")),
            inherit=str(raw.get("inherit", "merge")),
            doc=str(raw.get("doc", "")),
            note=raw.get("note"),
        )
    return table


def directive_info(name: str, context: str | None = None) -> DirectiveInfo | None:
    """Look up a directive; ``context`` picks ``name@context`` rows (``keepalive_timeout@upstream``)."""
    table = directive_table()
    if context and f"{name}@{context}" in table:
        return table[f"{name}@{context}"]
    return table.get(name)


# --------------------------------------------------------------------------------------------
# the model


@dataclass(frozen=True)
class Directive:
    """One statement with its arguments, where it is written, and its block (if any)."""

    name: str
    args: tuple[str, ...]
    file: str
    line: int
    block: tuple[Directive, ...] | None = None

    @property
    def value(self) -> str:
        return " ".join(self.args)

    def children(self, name: str) -> list[Directive]:
        return [d for d in self.block or () if d.name == name]

    def first(self, name: str) -> Directive | None:
        for d in self.block or ():
            if d.name == name:
                return d
        return None

    @property
    def where(self) -> str:
        return f"{self.file}:{self.line}"


@dataclass(frozen=True)
class Scope:
    """The directives written directly at one level (main, http, server, location, if)."""

    kind: str
    directives: tuple[Directive, ...]
    file: str | None = None
    line: int | None = None

    def get(self, name: str) -> list[Directive]:
        return [d for d in self.directives if d.name == name]


@dataclass(frozen=True)
class Setting:
    """The value that applies at a level, with where it came from.

    ``is_default`` means no level sets it and ``value`` is nginx's compiled-in default from the
    directive table (``file``/``line`` are then ``None``).  For array-type directives
    ``entries`` holds every occurrence of the level that won.
    """

    name: str
    value: str | None
    args: tuple[str, ...]
    file: str | None
    line: int | None
    is_default: bool
    level: str  # main | http | server | location | upstream | default
    entries: tuple[Directive, ...] = ()
    doc: str | None = None

    @property
    def seconds(self) -> float | None:
        return parse_time(self.value) if self.value is not None else None

    @property
    def bytes(self) -> int | None:
        return parse_size(self.value) if self.value is not None else None

    @property
    def where(self) -> str | None:
        return f"{self.file}:{self.line}" if self.file else None


def _effective(name: str, scopes: Iterable[Scope], context: str | None = None) -> Setting:
    """Innermost level that sets ``name`` wins (both inheritance kinds reduce to that rule
    once a level is chosen: merge takes its last value, array takes all of its entries)."""
    info = directive_info(name, context)
    ordered = list(scopes)
    for scope in reversed(ordered):
        found = scope.get(name)
        if found:
            last = found[-1]
            return Setting(name, last.value, last.args, last.file, last.line, False, scope.kind,
                           tuple(found), info.doc if info else None)
        if info and info.inherit == "none" and scope.kind in ("location", "if"):
            # content handlers are not inherited by nested locations
            break
    default = info.default if info else None
    args = tuple(default.split()) if default else ()
    return Setting(name, default, args, None, None, True, "default", (), info.doc if info else None)


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
        return _effective(name, self.scopes)

    def walk(self) -> Iterator[Location]:
        yield self
        for child in self.locations:
            yield from child.walk()

    @property
    def where(self) -> str:
        return f"{self.file}:{self.line}"


@dataclass(frozen=True)
class Listen:
    address: str
    port: int | None
    params: tuple[str, ...]
    file: str
    line: int


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
        return _effective(name, self.scopes)

    def all_locations(self) -> list[Location]:
        return [loc for top in self.locations for loc in top.walk()]

    @property
    def where(self) -> str:
        return f"{self.file}:{self.line}"


@dataclass(frozen=True)
class UpstreamServer:
    """One ``server`` line of an ``upstream`` block, with nginx's parameter defaults applied
    (``ngx_http_upstream_server()``: weight=1, max_fails=1, fail_timeout=10s, max_conns=0)."""

    address: str
    host: str | None
    port: int | None
    unix_path: str | None
    weight: int = 1
    max_fails: int = 1
    fail_timeout: float = 10.0
    max_conns: int = 0
    backup: bool = False
    down: bool = False
    resolve: bool = False
    service: str | None = None
    params: tuple[str, ...] = ()
    file: str = ""
    line: int = 0

    @property
    def where(self) -> str:
        return f"{self.file}:{self.line}"


@dataclass(frozen=True)
class UpstreamGroup:
    """An ``upstream NAME {}`` block (http or stream)."""

    name: str
    servers: tuple[UpstreamServer, ...]
    file: str
    line: int
    directives: tuple[Directive, ...]
    balancing: str = "round-robin"  # round-robin | least_conn | ip_hash | hash | random | ...
    keepalive: int | None = None
    keepalive_timeout: float = 60.0
    keepalive_line: int | None = None
    zone: str | None = None
    context: str = "http"

    def effective(self, name: str) -> Setting:
        return _effective(name, [Scope("upstream", self.directives, self.file, self.line)], "upstream")

    @property
    def where(self) -> str:
        return f"{self.file}:{self.line}"


@dataclass(frozen=True)
class Target:
    """Where a ``*_pass`` sends requests.

    ``group`` is set when the host names an ``upstream`` block (and no port is given: nginx
    refuses ``proxy_pass http://group:8080`` when ``group`` is an upstream, see
    ``ngx_http_upstream_add()``); otherwise ``host``/``port`` (default 80/443 for http/https,
    80 for grpc and 443 for grpcs per ``ngx_http_grpc_pass``) or ``unix_path``.
    """

    kind: str  # proxy | fastcgi | uwsgi | scgi | grpc | memcached
    scheme: str | None
    host: str | None
    port: int | None
    unix_path: str | None
    group: str | None
    uses_variables: bool
    file: str
    line: int
    server: str | None
    location: str | None
    raw: str = ""
    uri: str | None = None
    context: str = "http"
    server_index: int | None = None

    @property
    def address(self) -> str:
        """``host:port``, ``unix:/path`` or the group name, for messages and probes."""
        if self.unix_path:
            return f"unix:{self.unix_path}"
        if self.group:
            return self.group
        if self.host is None:
            return self.raw
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{host}:{self.port}" if self.port else host

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

    def targets(self) -> list[Target]:
        """Every ``*_pass`` in every location (and ``if`` inside one), plus stream ``proxy_pass``."""
        out: list[Target] = []
        for server in self.servers:
            for loc in server.all_locations():
                for d in loc.directives:
                    if d.name in PASS_DIRECTIVES and d.args:
                        out.append(make_target(d, PASS_DIRECTIVES[d.name], self.upstreams,
                                               server, loc.label))
        for server in self.stream_servers:
            for d in server.scopes[-1].directives:
                if d.name == "proxy_pass" and d.args:
                    out.append(make_target(d, "proxy", self.stream_upstreams, server, None, "stream"))
        return out

    def http_effective(self, name: str) -> Setting:
        scopes = [self.main] + ([self.http] if self.http else [])
        return _effective(name, scopes)

    def file_text(self, path: str) -> str | None:
        """The text of a config file (from the dump, or read from disk)."""
        if path in self.texts:
            return self.texts[path]
        try:
            return Path(path).read_text(encoding="utf-8", errors="surrogateescape")
        except OSError:
            return None

    def all_locations(self) -> list[Location]:
        return [loc for s in self.servers for loc in s.all_locations()]

    def location_of(self, target: Target) -> Location | None:
        for server in self.servers:
            if target.server_index is not None and server.index != target.server_index:
                continue
            for loc in server.all_locations():
                if any(d.file == target.file and d.line == target.line for d in loc.directives):
                    return loc
        return None


# --------------------------------------------------------------------------------------------
# targets


_URL = re.compile(r"^(?P<scheme>[A-Za-z$][\w${}]*)://(?P<rest>.*)$")


def split_host_port(text: str, default_port: int | None) -> tuple[str | None, int | None, bool]:
    """``host:port`` / ``[v6]:port`` / ``host`` -> (host, port, port_given)."""
    if text.startswith("["):
        end = text.find("]")
        host = text[1:end] if end > 0 else text
        rest = text[end + 1:] if end > 0 else ""
        if rest.startswith(":") and rest[1:].isdigit():
            return host, int(rest[1:]), True
        return host, default_port, False
    if text.count(":") == 1:
        host, _, port = text.partition(":")
        if port.isdigit():
            return host or None, int(port), True
        return host or None, None, True
    if text.count(":") > 1:  # bare IPv6 is not valid nginx syntax, keep it as host
        return text, default_port, False
    return text or None, default_port, False


def make_target(d: Directive, kind: str, upstreams: dict[str, UpstreamGroup],
                server: Server | None, location: str | None, context: str = "http") -> Target:
    """Decode one ``*_pass`` argument (``ngx_parse_url``, src/core/ngx_inet.c)."""
    raw = d.args[0]
    uses_vars = "$" in raw
    scheme: str | None = None
    rest = raw
    m = _URL.match(raw)
    if m:
        scheme = m.group("scheme").lower() if "$" not in m.group("scheme") else m.group("scheme")
        rest = m.group("rest")
    elif kind == "grpc":
        scheme = "grpc"
    uri: str | None = None
    unix_path: str | None = None
    host: str | None = None
    port: int | None = None
    group: str | None = None
    if rest.startswith("unix:"):
        # http://unix:/path:/uri ; fastcgi_pass unix:/path
        body = rest[5:]
        if scheme is not None and ":" in body:
            unix_path, _, tail = body.partition(":")
            uri = tail or None
        else:
            unix_path = body.rstrip(":") if scheme is not None else body
    else:
        hostport, slash, path = rest.partition("/")
        uri = f"/{path}" if slash else None
        defaults = {"http": 80, "https": 443, "grpc": 80, "grpcs": 443, "uwsgi": None, "suwsgi": None}
        default_port = defaults.get(scheme or "")
        h, p, given = split_host_port(hostport, default_port)
        host, port = h, p
        if host and host in upstreams and not given and "$" not in host:
            group, host, port = host, None, None
        elif host and "$" in host:
            port = p if given else None
    sname = server.name if server else None
    return Target(kind=kind, scheme=scheme, host=host, port=port, unix_path=unix_path, group=group,
                  uses_variables=uses_vars, file=d.file, line=d.line, server=sname, location=location,
                  raw=raw, uri=uri, context=context, server_index=server.index if server else None)


def parse_upstream_server(d: Directive) -> UpstreamServer:
    """Decode ``server ADDRESS [weight=N] [max_fails=N] [fail_timeout=T] [backup] [down] ...``."""
    addr = d.args[0] if d.args else ""
    kw: dict[str, Any] = {}
    for p in d.args[1:]:
        key, eq, val = p.partition("=")
        if not eq:
            if key in ("backup", "down", "resolve"):
                kw[key] = True
            continue
        if key in ("weight", "max_fails", "max_conns") and val.isdigit():
            kw[key] = int(val)
        elif key == "fail_timeout":
            t = parse_time(val)
            if t is not None:
                kw["fail_timeout"] = t
        elif key == "service":
            kw["service"] = val
    if addr.startswith("unix:"):
        return UpstreamServer(address=addr, host=None, port=None, unix_path=addr[5:].rstrip(":"),
                              params=d.args[1:], file=d.file, line=d.line, **kw)
    host, port, _ = split_host_port(addr, 80)
    return UpstreamServer(address=addr, host=host, port=port, unix_path=None, params=d.args[1:],
                          file=d.file, line=d.line, **kw)


def _upstream(d: Directive, context: str) -> UpstreamGroup:
    name = d.args[0] if d.args else ""
    block = d.block or ()
    servers = tuple(parse_upstream_server(c) for c in block if c.name == "server")
    balancing = "round-robin"
    for c in block:
        if c.name in ("least_conn", "ip_hash", "hash", "random", "least_time", "sticky", "ntlm"):
            balancing = c.name
    keepalive = None
    keepalive_line = None
    keepalive_timeout = 60.0
    zone = None
    for c in block:
        if c.name == "keepalive" and c.args and c.args[0].isdigit():
            keepalive, keepalive_line = int(c.args[0]), c.line
        elif c.name == "keepalive_timeout" and c.args:
            keepalive_timeout = parse_time(c.args[0]) or keepalive_timeout
        elif c.name == "zone" and c.args:
            zone = c.args[0]
    return UpstreamGroup(name=name, servers=servers, file=d.file, line=d.line, directives=block,
                         balancing=balancing, keepalive=keepalive, keepalive_timeout=keepalive_timeout,
                         keepalive_line=keepalive_line, zone=zone, context=context)


# --------------------------------------------------------------------------------------------
# reading files and dumps


def split_dump(text: str) -> list[tuple[str, str]]:
    """Split ``nginx -T`` output into ``(path, text)`` pieces, in dump order (main file first).

    Text before the first marker (``nginx: the configuration file ... syntax is ok``) is dropped.
    The blank line nginx writes after each file is kept, which does not change line numbers.
    """
    matches = list(DUMP_MARKER.finditer(text))
    pieces: list[tuple[str, str]] = []
    for i, m in enumerate(matches):
        start = m.end() + 1  # skip the newline after the marker
        end = matches[i + 1].start() if i + 1 < len(matches) else len(text)
        pieces.append((m.group(1).strip(), text[start:end]))
    return pieces


def is_dump(text: str) -> bool:
    return DUMP_MARKER.search(text) is not None


class _FileSet:
    """Where included files come from: the real file system, or the files of a dump."""

    def __init__(self, virtual: dict[str, str] | None) -> None:
        self.virtual = virtual

    def expand(self, pattern: str) -> tuple[list[str], bool]:
        """Files an include pattern names, and whether it is a glob."""
        magic = glob.has_magic(pattern)
        if self.virtual is not None:
            if magic:
                return sorted(p for p in self.virtual if fnmatch.fnmatchcase(p, pattern)
                              and "/" not in p[len(os.path.dirname(pattern)) + 1:]), True
            return ([pattern] if pattern in self.virtual else []), False
        if magic:
            return sorted(glob.glob(pattern)), True
        return [pattern], False


def _crossplane_parse(path: str, display: str, problems: list[ParseProblem]) -> list[dict[str, Any]]:
    import crossplane

    try:
        payload = crossplane.parse(path, single=True, catch_errors=True, check_ctx=False,
                                   check_args=True, comments=False)
    except Exception as err:
        problems.append(ParseProblem("error", f"cannot parse: {err}", display, getattr(err, "lineno", None)))
        return []
    out: list[dict[str, Any]] = []
    for entry in payload.get("config", []):
        for e in entry.get("errors", []):
            msg = str(e.get("error", "")).replace(path, display)
            if not msg.strip():  # crossplane reports a bare end of input as an empty error
                msg = 'unexpected end of file (a statement without ";" or a block without "}")'
            problems.append(ParseProblem("error", msg, display, e.get("line")))
        out = entry.get("parsed", [])
    return out


class _Builder:
    def __init__(self, prefix: str, files: _FileSet, realpaths: dict[str, str],
                 root: str | None = None, aliases: dict[str, str] | None = None) -> None:
        self.prefix = prefix
        self.root = root
        self.aliases = aliases or {}
        self.files = files
        self.realpaths = realpaths  # display path -> path on disk (temp copies for dumps)
        self.problems: list[ParseProblem] = []
        self.read: list[str] = []
        self.stack: list[str] = []

    def load(self, display: str) -> tuple[Directive, ...]:
        if display in self.stack:
            self.problems.append(ParseProblem("error", f"include loop on {display}", display))
            return ()
        real = self.realpaths.get(display, display)
        if self.files.virtual is None:
            try:
                with open(real, "rb"):
                    pass
            except OSError as err:
                reason = err.strerror or str(err)
                self.problems.append(ParseProblem("error", f"cannot read {display}: {reason}", display))
                return ()
        if display not in self.read:
            self.read.append(display)
        self.stack.append(display)
        try:
            raw = _crossplane_parse(real, display, self.problems)
            return self.convert(raw, display)
        finally:
            self.stack.pop()

    def convert(self, raw: list[dict[str, Any]], display: str) -> tuple[Directive, ...]:
        out: list[Directive] = []
        for stmt in raw:
            name = str(stmt.get("directive", ""))
            args = tuple(str(a) for a in stmt.get("args", []))
            line = int(stmt.get("line", 0))
            if name == "include" and args:
                out.extend(self.include(args[0], display, line))
                continue
            block = None
            if "block" in stmt:
                block = self.convert(stmt["block"], display)
            out.append(Directive(name, args, display, line, block))
        return tuple(out)

    def include(self, pattern: str, display: str, line: int) -> list[Directive]:
        alias = next((a for a in self.aliases if pattern.startswith(a.rstrip("/") + "/")), None)
        if os.path.isabs(pattern) and alias is not None:
            full = os.path.normpath(os.path.join(self.aliases[alias], pattern[len(alias.rstrip("/")) + 1:]))
        elif os.path.isabs(pattern):
            full = os.path.normpath(self.root + pattern) if self.root else pattern
        else:
            full = os.path.normpath(os.path.join(self.prefix, pattern))
        names, magic = self.files.expand(full)
        if not names and not magic:
            self.problems.append(ParseProblem(
                "error", f'include "{pattern}" not found ({full})', display, line))
            return []
        out: list[Directive] = []
        for name in names:
            if self.files.virtual is None and os.path.isdir(name):
                continue
            if self.files.virtual is None and not os.path.exists(name):
                self.problems.append(ParseProblem(
                    "error", f'include "{pattern}": {name} does not exist', display, line))
                continue
            out.extend(self.load(name))
        return out


def parse_nginx(path_or_dump: str | os.PathLike[str], *, text: str | None = None,
                root: str | None = None, aliases: dict[str, str] | None = None) -> NginxConfig:
    """Parse a config file (following includes), or an ``nginx -T`` dump.

    ``path_or_dump`` is a file path; when its text (or ``text``, for stdin) carries the dump
    markers it is read as a dump.  ``root`` makes absolute include paths resolve under that
    directory (a config tree copied from another machine, like the test corpus); ``aliases``
    maps absolute prefixes to directories (``{"/etc/nginx": "./copy"}``) first.  Unreadable
    files raise ``OSError`` only for the main file;
    everything else becomes a ``ParseProblem`` in ``config.problems``.
    """
    path = os.fspath(path_or_dump)
    if text is None:
        with open(path, "rb") as fh:
            head = fh.read(1 << 16).decode("utf-8", errors="replace")
        if is_dump(head):
            text = Path(path).read_text(encoding="utf-8", errors="surrogateescape")
    if text is not None and is_dump(text):
        return parse_dump(text, source=path)
    if text is not None:
        return _parse_texts({path: text}, path, source="file")
    main = os.path.abspath(path)
    builder = _Builder(os.path.dirname(main), _FileSet(None), {},
                       os.path.abspath(root) if root else None,
                       {k: os.path.abspath(v) for k, v in (aliases or {}).items()})
    directives = builder.load(main)
    if not builder.read:
        raise OSError(f"cannot read {main}")
    return build_model(main, directives, builder.read, builder.problems, "file", {})


def parse_dump(text: str, source: str = "nginx -T") -> NginxConfig:
    """Parse ``nginx -T`` output: each ``# configuration file PATH:`` piece is one file."""
    pieces = split_dump(text)
    if not pieces:
        raise ValueError("not an nginx -T dump: no '# configuration file' marker")
    files: dict[str, str] = {}
    for p, t in pieces:
        files.setdefault(p, t)
    return _parse_texts(files, pieces[0][0], source=source if source else "dump")


def _parse_texts(files: dict[str, str], main: str, source: str) -> NginxConfig:
    with tempfile.TemporaryDirectory(prefix="why502-conf-") as tmp:
        realpaths: dict[str, str] = {}
        for i, (p, t) in enumerate(files.items()):
            real = os.path.join(tmp, f"{i}.conf")
            with open(real, "w", encoding="utf-8", errors="surrogateescape") as fh:
                fh.write(t)
            realpaths[p] = real
        builder = _Builder(os.path.dirname(main), _FileSet(files), realpaths)
        directives = builder.load(main)
        read = list(builder.read)
        for p in files:  # files in the dump that no include reached (nginx dumps only what it read)
            if p not in read:
                read.append(p)
        return build_model(main, directives, read, builder.problems, source, dict(files))


# --------------------------------------------------------------------------------------------
# building the model


def _listen(d: Directive) -> Listen:
    arg = d.args[0] if d.args else "80"
    if arg.startswith("unix:"):
        return Listen(arg, None, d.args[1:], d.file, d.line)
    if arg.isdigit():
        return Listen("*", int(arg), d.args[1:], d.file, d.line)
    host, port, given = split_host_port(arg, 80)
    return Listen(host or "*", port if given or port else 80, d.args[1:], d.file, d.line)


class _ModelBuilder:
    def __init__(self) -> None:
        self.servers: list[Server] = []
        self.stream_servers: list[Server] = []
        self.upstreams: dict[str, UpstreamGroup] = {}
        self.stream_upstreams: dict[str, UpstreamGroup] = {}
        self.error_logs: list[LogTarget] = []
        self.access_logs: list[LogTarget] = []
        self.log_formats: dict[str, LogFormat] = {
            "combined": LogFormat("combined", "default", COMBINED_FORMAT)}

    def logs(self, scope: Scope, context: str, server: str | None) -> None:
        for d in scope.directives:
            if d.name == "error_log" and d.args:
                level = d.args[1] if len(d.args) > 1 else "error"
                self.error_logs.append(LogTarget(d.args[0], None, level, d.file, d.line, context, server,
                                                 d.args[1:]))
            elif d.name == "access_log" and d.args:
                fmt = None if d.args[0] == "off" else (d.args[1] if len(d.args) > 1 and "=" not in d.args[1]
                                                       else "combined")
                self.access_logs.append(LogTarget(d.args[0], fmt, None, d.file, d.line, context, server,
                                                  d.args[1:]))
            elif d.name == "log_format" and d.args:
                rest = list(d.args[1:])
                escape = "default"
                if rest and rest[0].startswith("escape="):
                    escape = rest.pop(0).split("=", 1)[1]
                self.log_formats[d.args[0]] = LogFormat(d.args[0], escape, "".join(rest), d.file, d.line)

    def location(self, d: Directive, parents: tuple[Scope, ...], server_index: int, depth: int,
                 server_name: str) -> Location:
        modifier: str | None
        if d.name == "if":
            modifier, path = "if", "(" + " ".join(d.args) + ")"
        elif len(d.args) >= 2:
            modifier, path = d.args[0], d.args[1]
        else:
            path = d.args[0] if d.args else ""
            modifier = "@" if path.startswith("@") else None
        scope = Scope("if" if d.name == "if" else "location", d.block or (), d.file, d.line)
        self.logs(scope, "location", server_name)
        scopes = (*parents, scope)
        children = tuple(self.location(c, scopes, server_index, depth + 1, server_name)
                         for c in d.block or () if c.name in ("location", "if"))
        return Location(modifier, path, d.file, d.line, scopes, children, server_index, depth)

    def server(self, d: Directive, parents: tuple[Scope, ...], context: str, index: int) -> Server:
        scope = Scope("server", d.block or (), d.file, d.line)
        names = tuple(n for c in d.children("server_name") for n in c.args)
        name = names[0] if names else ""
        self.logs(scope, "server", name)
        scopes = (*parents, scope)
        locations = tuple(self.location(c, scopes, index, 0, name)
                          for c in d.block or () if c.name in ("location", "if"))
        listens = tuple(_listen(c) for c in d.children("listen"))
        return Server(listens, names, d.file, d.line, scopes, locations, context, index)


def build_model(main_file: str, directives: tuple[Directive, ...], files: list[str],
                problems: list[ParseProblem], source: str, texts: dict[str, str]) -> NginxConfig:
    """Turn the directive tree into an ``NginxConfig``.

    A file without ``http``/``events`` blocks but with ``server``/``location`` at top level is a
    fragment (a ``conf.d`` file or a server snippet): it is read as if wrapped in ``http {}``
    (or ``server {}``), which is how nginx would see it once included.
    """
    main = Scope("main", directives, main_file, 1)
    mb = _ModelBuilder()
    mb.logs(main, "main", None)
    http_blocks = [d for d in directives if d.name == "http"]
    top_servers = [d for d in directives if d.name == "server" and d.block is not None]
    top_locations = [d for d in directives if d.name == "location"]
    http_scope: Scope | None = None
    http_dirs: tuple[Directive, ...]
    if http_blocks:
        http_dirs = tuple(c for h in http_blocks for c in h.block or ())
        http_scope = Scope("http", http_dirs, http_blocks[0].file, http_blocks[0].line)
    elif top_locations and not top_servers:
        # server-level fragment: wrap it in a pseudo server
        pseudo = Directive("server", (), main_file, 1, directives)
        http_dirs = (pseudo,)
        http_scope = Scope("http", (), main_file, 1)
        problems.append(ParseProblem("info", "no http block: read as a server-level fragment", main_file))
    else:
        http_dirs = directives if top_servers or any(d.name == "upstream" for d in directives) else ()
        if http_dirs and not http_blocks:
            http_scope = Scope("http", tuple(d for d in directives if d.name != "server"), main_file, 1)
            problems.append(ParseProblem("info", "no http block: read as an http-level fragment", main_file))
    if http_scope is not None and http_blocks:
        mb.logs(http_scope, "http", None)
    parents = (main,) + ((http_scope,) if http_scope is not None else ())
    for d in http_dirs:
        if d.name == "upstream" and d.block is not None and d.args:
            mb.upstreams[d.args[0]] = _upstream(d, "http")
    for d in http_dirs:
        if d.name == "server" and d.block is not None:
            mb.servers.append(mb.server(d, parents, "http", len(mb.servers)))
    for s in (d for d in directives if d.name == "stream"):
        stream_scope = Scope("stream", s.block or (), s.file, s.line)
        mb.logs(stream_scope, "stream", None)
        for c in s.block or ():
            if c.name == "upstream" and c.block is not None and c.args:
                mb.stream_upstreams[c.args[0]] = _upstream(c, "stream")
        for c in s.block or ():
            if c.name == "server" and c.block is not None:
                mb.stream_servers.append(mb.server(c, (main, stream_scope), "stream", len(mb.stream_servers)))

    user = group = None
    user_is_default = True
    u = main.get("user")
    if u and u[-1].args:
        user = u[-1].args[0]
        group = u[-1].args[1] if len(u[-1].args) > 1 else None
        user_is_default = False
    wc_dir: Directive | None = None
    worker_connections = 512
    for ev in (d for d in directives if d.name == "events"):
        for c in ev.children("worker_connections"):
            if c.args and c.args[0].isdigit():
                wc_dir, worker_connections = c, int(c.args[0])
    rl = main.get("worker_rlimit_nofile")
    rlimit = int(rl[-1].args[0]) if rl and rl[-1].args and rl[-1].args[0].isdigit() else None
    wp = main.get("worker_processes")
    worker_processes = wp[-1].value if wp else "1"
    return NginxConfig(
        main_file=main_file, files=files, main=main, http=http_scope, servers=mb.servers,
        upstreams=mb.upstreams, user=user, group=group, user_is_default=user_is_default,
        worker_connections=worker_connections, worker_connections_line=wc_dir,
        worker_rlimit_nofile=rlimit, worker_processes=worker_processes, error_logs=mb.error_logs,
        access_logs=mb.access_logs, log_formats=mb.log_formats, problems=problems, source=source,
        texts=texts, stream_servers=mb.stream_servers, stream_upstreams=mb.stream_upstreams,
    )


# --------------------------------------------------------------------------------------------
# fixes as unified diffs


def _statement_re(directive: str) -> re.Pattern[str]:
    return re.compile(rf"(?P<indent>^|(?<=[;{{}}\s])){re.escape(directive)}\s[^;]*;")


def set_directive_text(text: str, *, directive: str, value: str, block_line: int,
                       existing_line: int | None = None, path: str = "config") -> str:
    """Return ``text`` with ``directive value;`` set in the block opened at ``block_line``.

    With ``existing_line`` the statement on that line is replaced in place (other statements on
    the line are kept); otherwise a new line is inserted right after the line holding the
    block's ``{``, indented like the block's first statement (or one level deeper than the
    block, with the file's tab/space style).  Raises ``ValueError`` when the line numbers do not
    fit the text.
    """
    lines = text.splitlines(keepends=True)
    new = list(lines)
    stmt = f"{directive} {value};"
    if existing_line is not None:
        if not 1 <= existing_line <= len(lines):
            raise ValueError(f"line {existing_line} is outside {path}")
        old = lines[existing_line - 1]
        replaced, n = _statement_re(directive).subn(lambda _m: stmt, old, count=1)
        if n == 0:
            raise ValueError(f"{path}:{existing_line} has no complete '{directive}' statement")
        new[existing_line - 1] = replaced
        return "".join(new)
    if not 1 <= block_line <= len(lines):
        raise ValueError(f"line {block_line} is outside {path}")
    idx = block_line - 1
    while idx < len(lines) and "{" not in _strip_comment(lines[idx]):
        idx += 1
    if idx >= len(lines):
        raise ValueError(f"no '{{' at or after {path}:{block_line}")
    opener = lines[idx]
    block_indent = re.match(r"[ \t]*", lines[block_line - 1])
    base = block_indent.group(0) if block_indent else ""
    indent = None
    for follow in lines[idx + 1:]:
        if follow.strip() and not follow.strip().startswith("}"):
            lead = re.match(r"[ \t]*", follow)
            cand = lead.group(0) if lead else ""
            if len(cand) > len(base):
                indent = cand
            break
    if indent is None:
        indent = base + ("\t" if "\t" in base else "    ")
    newline = "\r\n" if opener.endswith("\r\n") else "\n"
    if not opener.endswith("\n"):
        new[idx] = opener + newline
    new.insert(idx + 1, f"{indent}{stmt}{newline}")
    return "".join(new)


def unified_diff(old: str, new: str, path: str) -> str:
    """``diff -u`` of two versions of ``path`` with ``a/``/``b/`` labels (``patch -p1`` applies it)."""
    label = path.lstrip("/")
    return "".join(difflib.unified_diff(old.splitlines(keepends=True), new.splitlines(keepends=True),
                                        fromfile=f"a/{label}", tofile=f"b/{label}"))


def make_directive_diff(text: str, path: str, *, directive: str, value: str, block_line: int,
                        existing_line: int | None = None) -> str:
    """A unified diff that sets ``directive value;`` in the block opened at ``block_line``.

    Pure: works on ``text`` (the real file's content); ``path`` labels the diff.  See
    ``set_directive_text`` for where the line goes.  Raises ``ValueError`` on bad line numbers.
    """
    new = set_directive_text(text, directive=directive, value=value, block_line=block_line,
                             existing_line=existing_line, path=path)
    return unified_diff(text, new, path)


def _strip_comment(line: str) -> str:
    out = []
    quote = ""
    for ch in line:
        if quote:
            if ch == quote:
                quote = ""
        elif ch in "\"'":
            quote = ch
        elif ch == "#":
            break
        out.append(ch)
    return "".join(out)
