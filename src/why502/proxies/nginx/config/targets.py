"""Where nginx sends requests and where it listens: ``*_pass`` targets, ``upstream`` groups and
their servers, ``listen`` addresses, decoded the way nginx decodes them.

``make_target`` follows ``ngx_parse_url()`` (``src/core/ngx_inet.c``) and the ``*_pass``
handlers; ``parse_upstream_server`` follows ``ngx_http_upstream_server()`` (parameter
defaults); :func:`group_peers` is the one place a target naming an upstream group becomes its
servers, for lint and diagnose alike.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Protocol

from why502.proxies.nginx.config.tree import Directive, Scope, Setting, effective_setting
from why502.proxies.nginx.config.units import parse_time


class ServerRef(Protocol):
    """What a target records of the ``server`` block it is written in."""

    @property
    def name(self) -> str: ...

    @property
    def index(self) -> int: ...


@dataclass(frozen=True)
class Listen:
    address: str
    port: int | None
    params: tuple[str, ...]
    file: str
    line: int


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
        return effective_setting(name, [Scope("upstream", self.directives, self.file, self.line)], "upstream")

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



_URL = re.compile(r"^(?P<scheme>[A-Za-z$][\w${}]*)://(?P<rest>.*)$")


def number(text: str, digits: int = 9) -> int | None:
    """``text`` as a count or a port when it is one: ASCII digits, at most ``digits`` of them.

    ``str.isdigit()`` is true for ``"²"`` (which ``int()`` refuses) and for 5000 digits (which
    CPython refuses to convert): a config holding either was an internal error (found by the
    fuzz tests); such a value is no number, as ``nginx -t`` would refuse it."""
    return int(text) if text.isascii() and text.isdigit() and len(text) <= digits else None


def split_host_port(text: str, default_port: int | None) -> tuple[str | None, int | None, bool]:
    """``host:port`` / ``[v6]:port`` / ``host`` -> (host, port, port_given)."""
    if text.startswith("["):
        end = text.find("]")
        host = text[1:end] if end > 0 else text
        rest = text[end + 1:] if end > 0 else ""
        if rest.startswith(":") and number(rest[1:]) is not None:
            return host, number(rest[1:]), True
        return host, default_port, False
    if text.count(":") == 1:
        host, _, port = text.partition(":")
        if number(port) is not None:
            return host or None, number(port), True
        return host or None, None, True
    if text.count(":") > 1:  # bare IPv6 is not valid nginx syntax, keep it as host
        return text, default_port, False
    return text or None, default_port, False


def make_target(d: Directive, kind: str, upstreams: dict[str, UpstreamGroup],
                server: ServerRef | None, location: str | None, context: str = "http") -> Target:
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
        if key in ("weight", "max_fails", "max_conns") and number(val) is not None:
            kw[key] = number(val)
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


def upstream_group(d: Directive, context: str) -> UpstreamGroup:
    """Decode an ``upstream NAME { ... }`` block: its servers, balancing method, ``keepalive``
    (``ngx_http_upstream_keepalive_module``) and ``zone``."""
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
        if c.name == "keepalive" and c.args and (n := number(c.args[0])) is not None:
            keepalive, keepalive_line = n, c.line
        elif c.name == "keepalive_timeout" and c.args:
            keepalive_timeout = parse_time(c.args[0]) or keepalive_timeout
        elif c.name == "zone" and c.args:
            zone = c.args[0]
    return UpstreamGroup(name=name, servers=servers, file=d.file, line=d.line, directives=block,
                         balancing=balancing, keepalive=keepalive, keepalive_timeout=keepalive_timeout,
                         keepalive_line=keepalive_line, zone=zone, context=context)



def parse_listen(d: Directive) -> Listen:
    """Decode ``listen ADDRESS[:PORT] [params]`` (``ngx_http_core_listen()``: a bare port listens
    on every address, no port means 80)."""
    arg = d.args[0] if d.args else "80"
    if arg.startswith("unix:"):
        return Listen(arg, None, d.args[1:], d.file, d.line)
    if (port := number(arg)) is not None:
        return Listen("*", port, d.args[1:], d.file, d.line)
    host, port, given = split_host_port(arg, 80)
    return Listen(host or "*", port if given or port else 80, d.args[1:], d.file, d.line)


def group_peers(t: Target, upstreams: dict[str, UpstreamGroup]) -> list[Target]:
    """A target naming an upstream group, as one target per server of the group (the group's
    ``server`` lines are where nginx connects); any other target as itself."""
    if not t.group or t.group not in upstreams:
        return [t]
    return [Target(t.kind, t.scheme, s.host, s.port, s.unix_path, None, False, s.file, s.line,
                   t.server, t.location, s.address)
            for s in upstreams[t.group].servers]
