"""nginx's ``facts`` plug-in (``Hooks.facts``): its config in the cause model's proxy-neutral
types -- every target nginx passes to (one per server of an upstream group), the groups, the
effective timeouts and buffers at each ``*_pass``, nginx's own listen addresses, its
``limit_req``/``limit_conn`` lines and its worker limits, with file:line for diffs.

Effective values follow nginx's inheritance (``proxies.nginx.config``: a level that sets a
directive replaces the levels above; ``ngx_http_proxy_merge_loc_conf()`` and its siblings).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from functools import lru_cache
from typing import Any

from why502.evidence.model import GroupFact, TargetFact
from why502.facts.net import hostport
from why502.facts.setting import Setting
from why502.proxies.nginx.config import Location, NginxConfig, UpstreamGroup, UpstreamServer
from why502.proxies.nginx.config.tree import Setting as EffectiveSetting

# directives whose effective value the analyzers need, per pass kind
_SETTINGS = ("read_timeout", "send_timeout", "connect_timeout", "buffer_size", "buffers",
             "busy_buffers_size")
_EXTRA = ("proxy_http_version", "fastcgi_keep_conn", "resolver", "proxy_ssl_server_name",
          "proxy_ssl_verify")
_CONNECTION = "proxy_set_header:Connection"  # the Connection header sent (whatever the pass kind)


def _setting(s: EffectiveSetting) -> Setting:
    return Setting(value=s.value if s.value is not None else "", file=s.file, line=s.line,
                   is_default=s.is_default)


@lru_cache(maxsize=64)
def _pass_names(kind: str) -> tuple[tuple[str, ...], str]:
    """The setting names a ``kind`` pass has (``proxy_read_timeout`` ...) and its header directive."""
    return (*(f"{kind}_{suffix}" for suffix in _SETTINGS), *_EXTRA, _CONNECTION), f"{kind}_set_header"


class _PassSettings(Mapping[str, Setting]):
    """The effective settings at one ``*_pass`` (``TargetFact.settings``), each worked out when
    an analyzer first reads it.

    Why lazy: a config of 5000 virtual hosts has 10,000 passes and the analyzers read two or
    three of the dozen names at most of them (keep-alive at the passes to a ``keepalive``
    group, the read timeout where a symptom points); computing all of them up front was a
    third of ``diagnose --offline`` on such a config.  The location is frozen, so the value is
    the same whenever it is read; iterating yields the names that have a value, as the eager
    dict did."""

    __slots__ = ("_done", "_header", "_loc", "_names")

    def __init__(self, loc: Location, kind: str) -> None:
        self._loc = loc
        self._names, self._header = _pass_names(kind)  # shared: 10,000 passes, a few kinds
        self._done: dict[str, Setting | None] = {}

    def _value(self, name: str) -> Setting | None:
        if name in self._done:
            return self._done[name]
        value: Setting | None = None
        if name == _CONNECTION:
            conn = self._loc.header(self._header, "Connection")
            if conn is not None:
                value = Setting(" ".join(conn.args[1:]), conn.file, conn.line, False)
        elif name in self._names:
            try:
                value = _setting(self._loc.effective(name))
            except (KeyError, ValueError):
                value = None
        self._done[name] = value
        return value

    def __getitem__(self, name: str) -> Setting:
        value = self._value(name)
        if value is None:
            raise KeyError(name)
        return value

    def get(self, name: str, default: Any = None) -> Any:
        """``Mapping.get`` without its ``KeyError``: most names asked are not set at a pass."""
        value = self._value(name)
        return default if value is None else value

    def __iter__(self) -> Iterator[str]:
        return (n for n in self._names if self._value(n) is not None)

    def __len__(self) -> int:
        return sum(1 for _ in self)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({dict(self)!r})"


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
        settings: Mapping[str, Setting] = _PassSettings(loc, t.kind) if loc is not None else {}
        # the servers of the upstream group it names (of its own context), else the target itself
        # (built directly: dataclasses.replace costs several times more per server)
        peers = cfg.peers(t) if t.group else []
        targets += [TargetFact(key=_peer_key(p.unix_path, p.host, p.port), kind=t.kind, scheme=t.scheme,
                               host=p.host, port=p.port, unix_path=p.unix_path, group=t.group,
                               uses_variables=t.uses_variables, file=p.file, line=p.line,
                               server=t.server, location=t.location, settings=settings,
                               pass_file=t.file, pass_line=t.line)
                    for p in peers]
        if not peers:
            targets.append(TargetFact(key=t.address, kind=t.kind, scheme=t.scheme, host=t.host, port=t.port,
                                      unix_path=t.unix_path, group=t.group,
                                      uses_variables=t.uses_variables, file=t.file, line=t.line,
                                      server=t.server, location=t.location, settings=settings,
                                      pass_file=t.file, pass_line=t.line))
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


def worker_connections(cfg: NginxConfig) -> Setting:
    """``worker_connections`` and its line (nginx's default 512 when unset)."""
    d = cfg.worker_connections_line
    return Setting(str(cfg.worker_connections), d.file if d else None, d.line if d else None,
                   d is None)


def worker_rlimit_nofile(cfg: NginxConfig) -> Setting | None:
    """``worker_rlimit_nofile`` (None: unset, the workers keep the master's limit)."""
    if cfg.worker_rlimit_nofile is None:
        return None
    return Setting(str(cfg.worker_rlimit_nofile), None, None, False)


def worker_user(cfg: NginxConfig) -> tuple[str | None, str | None, str | None]:
    """``(user, group, USER [GROUP])`` of the ``user`` directive: the group defaults to the
    user's name (``ngx_set_user()``, src/core/nginx.c: ``NginxConfig.worker_identity``); the
    directive as written is what ``sources.accounts.nginx_worker_identity`` resolves.  All None
    when the config has no ``user``."""
    if not cfg.user:
        return None, None, None
    line = f"{cfg.user} {cfg.group}" if cfg.group else cfg.user
    return cfg.user.split()[0], cfg.worker_identity()[1], line

