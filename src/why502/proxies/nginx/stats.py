"""nginx's stats plug-in (``Hooks.stats``): facts from its config that the access log cannot
tell -- the read timeout each upstream address and each location works under, the locations
passing to an address, and the config's servers and locations for the by-location breakdown.

Why: "p99 is 58 s" means little on its own; next to ``proxy_read_timeout 60s`` it says the
backend is about to time out.  The timeout is the one nginx applies (``proxy_read_timeout`` and
the fastcgi/uwsgi/scgi/grpc equivalents of the location that passes to the address, nginx
default 60s, ``ngx_http_proxy_module``).  ``app.stats`` reaches this module through the
registry (``proxies.base.resolve``), and the engine takes the locations as a proxy-neutral
``facts.routes.RouteModel``, never as nginx's types (issue 23 item 2).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, TypeAlias

from why502.facts.routes import RouteModel
from why502.proxies.nginx.config.locations import LocationModel

if TYPE_CHECKING:
    from why502.proxies.nginx.config import NginxConfig, Target

_TIMEOUT_DIRECTIVE = {
    "proxy": "proxy_read_timeout",
    "fastcgi": "fastcgi_read_timeout",
    "uwsgi": "uwsgi_read_timeout",
    "scgi": "scgi_read_timeout",
    "grpc": "grpc_read_timeout",
}


def _peer(host: str | None, port: int | None, unix_path: str | None) -> str | None:
    """An address the way ``$upstream_addr`` writes it: ``10.0.0.1:80``, ``[::1]:8080``,
    ``unix:/run/x.sock`` (nginx prints the resolved address, so host names cannot be matched)."""
    if unix_path:
        return f"unix:{unix_path}"
    if host is None:
        return None
    h = f"[{host}]" if ":" in host and not host.startswith("[") else host
    return f"{h}:{port or 80}"


ReadTimeout: TypeAlias = "tuple[Target, str, float, str]"
"""(target, ``"server location"``, effective read timeout s, where it is set)."""


def read_timeouts(cfg: NginxConfig | None) -> list[ReadTimeout]:
    """The :data:`ReadTimeout` of each ``*_pass`` in a location of the http block whose read
    timeout is known, worked out once per run (both tables below are made from it).  A config
    whose targets cannot be worked out gives none (the facts are extras, not the answer)."""
    if cfg is None:
        return []
    try:
        targets = cfg.targets()
    except Exception:
        return []
    out: list[ReadTimeout] = []
    for t in targets:
        directive = _TIMEOUT_DIRECTIVE.get(t.kind)
        if directive is None or t.context != "http":
            continue
        loc = cfg.location_of(t)
        if loc is None:
            continue
        setting = loc.effective(directive)
        secs = setting.seconds
        if secs is None:
            continue
        where = f"{directive} {setting.value} ({setting.where or 'nginx default'})"
        out.append((t, f"{t.server or '_'} {loc.label}", secs, where))
    return out


def upstream_facts(cfg: NginxConfig, reads: list[ReadTimeout]) -> dict[str, tuple[float, str, list[str]]]:
    """Upstream address -> (shortest read timeout s, where it is set, locations passing to it).

    For an upstream group every member gets the location's timeout.  When several locations
    pass to the same address, the shortest timeout is kept (the first to produce 504s).
    """
    out: dict[str, tuple[float, str, list[str]]] = {}
    for t, label, secs, where in reads:
        addrs: list[str | None] = []
        if t.group and t.group in cfg.upstreams:
            addrs = [_peer(s.host, s.port, s.unix_path) for s in cfg.upstreams[t.group].servers]
            addrs.append(t.group)  # "no live upstreams" shows the group name
        else:
            addrs = [_peer(t.host, t.port, t.unix_path) or t.address]
        for a in addrs:
            if a is None:
                continue
            prev = out.get(a)
            locs = [*(prev[2] if prev else []), *([label] if not prev or label not in prev[2] else [])]
            if prev is None or secs < prev[0]:
                out[a] = (secs, where, locs)
            else:
                out[a] = (prev[0], prev[1], locs)
    return out


def location_timeouts(reads: list[ReadTimeout]) -> dict[str, tuple[float, str]]:
    """``"server location"`` -> (effective read timeout s, where) for each location that passes
    requests upstream (``proxy_read_timeout``, ``fastcgi_read_timeout``, ...)."""
    return {label: (secs, where) for _t, label, secs, where in reads}


def locations_from_config(cfg: NginxConfig) -> RouteModel:
    """The config's servers and locations, for the by-location breakdown (nginx's own
    matching order, ``proxies.nginx.config.locations``)."""
    return LocationModel.from_config(cfg)
