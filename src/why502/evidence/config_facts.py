"""The config's facts for the analyzers: every target nginx passes to (one per server of an
upstream group), the groups, the effective timeouts and buffers at each ``*_pass``, nginx's own
listen addresses and its ``limit_req``/``limit_conn`` lines, with file:line for diffs.

Effective values follow nginx's inheritance (``parsers.nginx``: a level that sets a
directive replaces the levels above; ``ngx_http_proxy_merge_loc_conf()`` and its siblings).
"""

from __future__ import annotations

from dataclasses import replace

from why502.evidence.model import GroupFact, TargetFact
from why502.facts.net import hostport
from why502.facts.setting import Setting
from why502.parsers.nginx import NginxConfig, UpstreamGroup, UpstreamServer
from why502.parsers.nginx.tree import Setting as EffectiveSetting

# directives whose effective value the analyzers need, per pass kind
_SETTINGS = ("read_timeout", "send_timeout", "connect_timeout", "buffer_size", "buffers",
             "busy_buffers_size")
_EXTRA = ("proxy_http_version", "fastcgi_keep_conn", "resolver", "proxy_ssl_server_name",
          "proxy_ssl_verify")


def _setting(s: EffectiveSetting) -> Setting:
    return Setting(value=s.value if s.value is not None else "", file=s.file, line=s.line,
                   is_default=s.is_default)


def _peer_key(unix_path: str | None, host: str | None, port: int | None) -> str:
    """``unix:/path`` or ``host:port``: a peer as the error log's ``upstream:`` field names it."""
    return f"unix:{unix_path}" if unix_path else hostport(host, port)


def _server_key(s: UpstreamServer) -> str:
    return _peer_key(s.unix_path, s.host, s.port)


def config_facts(cfg: NginxConfig) -> tuple[list[TargetFact], dict[str, GroupFact],
                                             dict[str, tuple[str, ...]]]:
    """Targets (one per group server), upstream groups and the config files' lines."""
    targets: list[TargetFact] = []
    for t in cfg.targets():
        loc = cfg.location_of(t)
        settings: dict[str, Setting] = {}
        if loc is not None:
            for name in (*(f"{t.kind}_{suffix}" for suffix in _SETTINGS), *_EXTRA):
                try:
                    settings[name] = _setting(loc.effective(name))
                except (KeyError, ValueError):
                    continue
            conn = loc.header(f"{t.kind}_set_header", "Connection")
            if conn is not None:
                settings["proxy_set_header:Connection"] = Setting(
                    " ".join(conn.args[1:]), conn.file, conn.line, False)
        at_pass = TargetFact(key=t.address, kind=t.kind, scheme=t.scheme, host=t.host, port=t.port,
                             unix_path=t.unix_path, group=t.group,
                             uses_variables=t.uses_variables, file=t.file, line=t.line,
                             server=t.server, location=t.location, settings=settings,
                             pass_file=t.file, pass_line=t.line)
        # the servers of the upstream group it names (of its own context), else the target itself
        peers = cfg.peers(t) if t.group else []
        targets += [replace(at_pass, key=_peer_key(p.unix_path, p.host, p.port), host=p.host,
                            port=p.port, unix_path=p.unix_path, group=t.group, file=p.file,
                            line=p.line)
                    for p in peers]
        if not peers:
            targets.append(at_pass)
    groups = {
        name: GroupFact(
            name=name, servers=tuple(_server_key(s) for s in g.servers),
            keepalive=g.keepalive, file=g.file, line=g.line, keepalive_line=g.keepalive_line,
            keepalive_timeout=_group_setting(g, "keepalive_timeout"),
            max_fails={_server_key(s): s.max_fails for s in g.servers},
            fail_timeout={_server_key(s): s.fail_timeout for s in g.servers},
            down=frozenset(_server_key(s) for s in g.servers if s.down),
            server_lines={_server_key(s): (s.file, s.line) for s in g.servers})
        for name, g in cfg.upstreams.items()}
    files: dict[str, tuple[str, ...]] = {}
    for path in cfg.files:
        text = cfg.file_text(path)
        if text is not None:
            files[path] = tuple(text.splitlines())
    return targets, groups, files


def _group_setting(g: UpstreamGroup, name: str) -> Setting | None:
    for d in g.directives:
        if d.name == name and d.args:
            return Setting(" ".join(d.args), d.file, d.line, False)
    return None


def nginx_listens(cfg: NginxConfig) -> tuple[str, ...]:
    out = []
    for s in cfg.servers:
        for lst in s.listens:
            if lst.port:
                addr = lst.address if lst.address not in ("", "*") else "0.0.0.0"  # noqa: S104
                out.append(hostport(addr, lst.port))
    return tuple(out)


def limit_settings(cfg: NginxConfig) -> tuple[Setting, ...]:
    out = []
    for loc in cfg.all_locations():
        for d in loc.directives:
            if d.name in ("limit_req", "limit_conn"):
                out.append(Setting(f"{d.name} {d.value}", d.file, d.line))
    for s in cfg.servers:
        for d in s.scopes[-1].directives:
            if d.name in ("limit_req", "limit_conn"):
                out.append(Setting(f"{d.name} {d.value}", d.file, d.line))
    return tuple(out)
