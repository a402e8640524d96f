"""A Caddy config's facts in the one cause model: a target per upstream ``dial`` address, a
group per ``reverse_proxy`` handler, the effective settings at each upstream (named as the
Caddyfile names them, with Caddy's defaults: ``proxies.caddy.config``), the config's lines.

Caddy's error lines name the upstream of a refused or reset connection (``dial tcp
127.0.0.1:9000: connect: connection refused``) but not of a timeout or an ``EOF``: those are tied
to the group the request's host and path route to (:func:`peer_of_request`).
"""

from __future__ import annotations

from collections.abc import Callable

from why502.evidence.model import GroupFact, TargetFact
from why502.facts.setting import Setting
from why502.proxies.caddy.config import CaddyConfig, Handler


def caddy_facts(cfg: CaddyConfig) -> tuple[list[TargetFact], dict[str, GroupFact],
                                          dict[str, tuple[str, ...]], dict[str, str]]:
    """Targets (one per upstream of each handler), groups (one per handler), the files' lines
    and the aliases (each dial address -> its key)."""
    targets: list[TargetFact] = []
    groups: dict[str, GroupFact] = {}
    aliases: dict[str, str] = {}
    for h in cfg.handlers:
        keys = []
        settings = dict(h.settings)
        settings["directive"] = Setting(h.directive, h.file, h.line, False)  # the evidence names it
        for u in h.upstreams:
            host, port = u.host_port
            keys.append(u.key)
            aliases[u.dial] = u.key
            targets.append(TargetFact(
                key=u.key, kind=h.kind, scheme=h.scheme if h.kind == "proxy" else None, host=host,
                port=port, unix_path=u.unix_path, group=h.name if len(h.upstreams) > 1 else None,
                file=u.file, line=u.line, server=(h.hosts[0] if h.hosts else None),
                location=(h.paths[0] if h.paths else None), settings=settings,
                pass_file=h.file, pass_line=h.line))
        idle, timeout = keepalive_of(h)
        groups[h.name] = GroupFact(name=h.name, servers=tuple(keys), file=h.file, line=h.line,
                                   server_lines={u.key: (u.file or "", u.line or 0) for u in h.upstreams},
                                   keepalive=idle, keepalive_timeout=timeout)
    files = {path: tuple(text.splitlines()) for path, text in cfg.texts.items()}
    return targets, groups, files, aliases


# Caddy's http transport keeps idle upstream connections unless ``keepalive off``: 32 per host
# for 2 minutes (reverseproxy/httptransport.go ``NewTransport``: ``if h.KeepAlive.IdleConnTimeout
# == 0 { ... 2 * time.Minute }``, ``if h.KeepAlive.MaxIdleConnsPerHost == 0 { ... = 32 }``).
KEEPALIVE_IDLE_CONNS = 32


def keepalive_of(h: Handler) -> tuple[int | None, Setting | None]:
    """How many idle connections per upstream host the handler keeps, and for how long (the
    ``keepalive`` setting, Caddy's default 2m when unset); ``(None, None)`` when it keeps none:
    ``keepalive off`` (``keep_alive.enabled: false``), or the fastcgi transport (``php_fastcgi``),
    which dials each request anew (reverseproxy/fastcgi/fastcgi.go ``RoundTrip``)."""
    if h.kind != "proxy":
        return None, None
    transport = h.raw.get("transport")
    ka = transport.get("keep_alive") if isinstance(transport, dict) else None
    ka = ka if isinstance(ka, dict) else {}
    if ka.get("enabled") is False:
        return None, None
    n = ka.get("max_idle_conns_per_host")
    return (n if isinstance(n, int) and n > 0 else KEEPALIVE_IDLE_CONNS), h.settings.get("keepalive")


def peer_of_request(cfg: CaddyConfig) -> Callable[[str | None, str | None], str | None]:
    """``(host, request) -> peer``: the upstream (or, for several, the group) a request line
    (``GET /slow``) for ``host`` is routed to, or None."""
    def peer(host: str | None, request: str | None) -> str | None:
        if not request and not host:
            return None
        parts = (request or "").split()
        uri = parts[1] if len(parts) > 1 else (parts[0] if parts else "/")
        h = cfg.route(host, uri)
        if h is None or not h.upstreams:
            return None
        return h.upstreams[0].key if len(h.upstreams) == 1 else h.name
    return peer


def edge_facts(cfg: CaddyConfig) -> tuple[list[TargetFact], dict[str, GroupFact],
                                          dict[str, tuple[str, ...]], tuple[str, ...], list[str]]:
    """``Hooks.config_facts``: the facts an edge log's findings are joined to (``app.diagnose.lb.
    edge_config``) -- targets, groups, files, listens, notes."""
    targets, groups, files, _aliases = caddy_facts(cfg)
    return targets, groups, files, cfg.listens(), list(cfg.problems)
