"""A config's servers and locations as match rules: what nginx's server and location search
(``ngx_http_find_virtual_server()``, ``ngx_http_core_find_location()``) looks at, nesting kept.

:mod:`why502.proxies.nginx.config.servers` picks the server of a request from these rules,
:mod:`why502.proxies.nginx.config.locations` the location.
"""

from __future__ import annotations

from dataclasses import dataclass

from why502.proxies.nginx.config.model import Location, NginxConfig, Server
from why502.proxies.nginx.config.pcre import Regex, compile_regex
from why502.proxies.nginx.config.uri import byte_text

NO_LOCATION = "(no location matched)"

#: Directives that set ``clcf->auto_redirect`` when the location name ends with ``/``
#: (``ngx_http_proxy_pass()`` in ``ngx_http_proxy_module.c`` and the fastcgi, uwsgi, scgi,
#: memcached and grpc twins).
AUTO_REDIRECT_DIRECTIVES = frozenset(
    {"proxy_pass", "fastcgi_pass", "uwsgi_pass", "scgi_pass", "memcached_pass", "grpc_pass"}
)

_KINDS = {"=": "exact", "^~": "prefix_stop", "~": "regex", "~*": "regex_ci"}


@dataclass(frozen=True, slots=True)
class MatchRule:
    """One ``server`` (``kind == "server"``) or one ``location`` of it, with its nesting.

    ``rules_from_config()`` emits each server's rule first, then its locations in config order
    (depth first), so a rule's ``parent`` always comes before it.  Named (``@``) locations and
    ``if`` blocks are left out: nginx never picks them by URI.
    """

    id: int
    kind: str  # server | exact | prefix | prefix_stop (^~) | regex (~) | regex_ci (~*)
    pattern: str  # the location's name ("" for a server)
    label: str  # what the breakdown shows: f"{server name or '_'} {loc.label}"
    server: int  # id of the server's rule
    parent: int | None  # id of the enclosing location; None: directly in the server
    server_names: tuple[str, ...]  # the server's server_name values, as written
    ports: tuple[str, ...]  # the server's listen ports ("80", "unix:/run/x.sock")
    default_ports: tuple[str, ...]  # the ports where it is ``default_server``
    auto_redirect: bool = False  # passes to a backend and the name ends with "/"
    file: str = ""
    line: int = 0

    @property
    def is_static(self) -> bool:
        return self.kind in ("exact", "prefix", "prefix_stop")

    @property
    def is_regex(self) -> bool:
        return self.kind in ("regex", "regex_ci")


def _kind_and_name(loc: Location) -> tuple[str, str] | None:
    """``location = /a``, ``location =/a`` (one argument) and so on -> (kind, name); nginx
    reads the one-argument forms too (``ngx_http_core_location()``)."""
    if loc.modifier in ("if", "@") or loc.is_named:
        return None
    if loc.modifier:
        kind = _KINDS.get(loc.modifier)
        return (kind, loc.path) if kind else None
    p = loc.path
    for mod in ("~*", "^~", "=", "~"):  # longest modifier first
        if p.startswith(mod) and len(p) > len(mod):
            return _KINDS[mod], p[len(mod):]
    return "prefix", p


def _listen_key(address: str, port: int | None) -> str:
    return address if port is None else str(port)


def rules_from_config(cfg: NginxConfig) -> list[MatchRule]:
    """Every http ``server`` and its name-matchable locations, nesting kept (see the module
    docstring for how nginx searches them)."""
    out: list[MatchRule] = []
    for server in cfg.servers:
        if server.context != "http":
            continue
        out.extend(_server_rules(server, len(out)))
    return out


def _server_rules(server: Server, first_id: int) -> list[MatchRule]:
    ports: list[str] = []
    defaults: list[str] = []
    for ln in server.listens:
        key = _listen_key(ln.address, ln.port)
        if key not in ports:
            ports.append(key)
        if ("default_server" in ln.params or "default" in ln.params) and key not in defaults:
            defaults.append(key)
    if not server.listens:
        ports.append("80")  # ngx_http_core_merge_srv_conf(): *:80 (8000 when not root)
    names = server.server_names or ("",)  # no server_name: the empty name (nginx >= 0.8.48)
    sname = server.name or "_"
    sid = first_id

    def rule(rid: int, kind: str, pattern: str, label: str, parent: int | None, file: str, line: int,
             auto_redirect: bool = False) -> MatchRule:
        return MatchRule(rid, kind, pattern, label, sid, parent, tuple(names), tuple(ports),
                         tuple(defaults), auto_redirect, file, line)

    out = [rule(sid, "server", "", sname, None, server.file, server.line)]

    def add(loc: Location, parent: int | None) -> None:
        kn = _kind_and_name(loc)
        if kn is None:
            return
        kind, name = kn
        passes = any(d.name in AUTO_REDIRECT_DIRECTIVES for d in loc.directives)
        rid = first_id + len(out)
        out.append(rule(rid, kind, name, f"{sname} {loc.label}", parent, loc.file, loc.line,
                        passes and name.endswith("/")))
        for child in loc.locations:
            add(child, rid)

    for top in server.locations:
        add(top, None)
    return out



def regex_of(rule: MatchRule) -> Regex:
    """The compiled regex of a ``~``/``~*`` location (matched on :func:`byte_text`)."""
    return compile_regex(byte_text(rule.pattern), rule.kind == "regex_ci")


def server_name_regex(name: str) -> Regex:
    """The compiled regex of a ``~regex`` server name: caseless when the regex holds an
    upper-case letter (``ngx_http_core_server_name()``)."""
    pattern = name[1:]
    return compile_regex(pattern, any("A" <= ch <= "Z" for ch in pattern))
