"""A Kong declarative configuration (``kong.yml`` of DB-less mode, or a decK state file) read as
a file: its services, their routes, the upstreams and targets a service's ``host`` names, each
with its file:line.

Structure (Kong's declarative format, ``kong/db/schema/others/declarative_config.lua``; the file
``kong config init`` writes, ``kong/templates/kong_yml.lua``; decK's state files): top-level
arrays ``services``, ``routes``, ``upstreams``, ``targets``; a route or a target may be nested in
its service or upstream, or stand at the top level naming it (``service: NAME`` /
``upstream: NAME``, or ``{name: NAME}``).  A service's ``url`` is shorthand for ``protocol``,
``host``, ``port`` and ``path`` (``kong/db/schema/entities/services.lua`` ``shorthands``).  When a
service's ``host`` is the name of an upstream, Kong's ring balancer sends its requests to that
upstream's targets (https://developer.konghq.com/gateway/entities/upstream/); otherwise ``host``
is resolved by DNS and ``port`` used.

Defaults (Kong/kong ``kong/db/schema/entities/services.lua``): ``connect_timeout``,
``write_timeout``, ``read_timeout`` 60000 (milliseconds), ``retries`` 5, ``protocol`` http,
``port`` 80; a target's port is 8000 when it has none (``kong/db/dao/targets.lua``
``DEFAULT_PORT``).  Health checks are off unless set (``kong/db/schema/entities/upstreams.lua``:
``active.healthy.interval`` and ``active.unhealthy.interval`` 0, "probing disabled by default";
``passive.unhealthy.tcp_failures``, ``timeouts``, ``http_failures`` 0, "circuit-breaker
disabled by default").
"""

from __future__ import annotations

import contextlib
import re
from dataclasses import dataclass, field
from typing import Any

from why502.facts.setting import Setting
from why502.parsers.configread import ConfigBudget
from why502.parsers.yamlmap import Map, load_positioned
from why502.parsers.yamlmap import as_dict as _dict
from why502.parsers.yamlmap import as_list as _list
from why502.parsers.yamlmap import line_of as _line
from why502.parsers.yamlmap import positive as _positive

DEFAULTS: dict[str, str] = {"connect_timeout": "60000", "write_timeout": "60000",
                            "read_timeout": "60000", "retries": "5"}
"""A service's timers (ms) and retries when the file does not set them (services.lua)."""
TIMEOUTS = ("connect_timeout", "write_timeout", "read_timeout")
TARGET_PORT = 8000  # kong/db/dao/targets.lua DEFAULT_PORT
SERVICE_PORTS = {"http": 80, "https": 443, "grpc": 80, "grpcs": 443}  # services.lua url shorthand


def _load(text: str, path: str) -> object:
    """The document, every mapping a :class:`Map` with its positions; a one-line ``InputError``
    when it is not YAML (JSON is YAML): ``parsers.yamlmap``, shared with APISIX's reader."""
    return load_positioned(text, path, "Kong declarative config")


@dataclass(frozen=True)
class Target:
    """A target of an upstream (``target: host:port``, ``weight``)."""

    target: str
    line: int | None
    weight: int = 100

    @property
    def host_port(self) -> tuple[str, int]:
        m = re.fullmatch(r"\[?([^\]]+?)\]?(?::(\d+))?", self.target.strip())
        host, port = (m.group(1), m.group(2)) if m else (self.target, None)
        if port is None and self.target.count(":") > 1 and not self.target.startswith("["):
            return self.target, TARGET_PORT  # a bare IPv6 address
        return host, int(port) if port else TARGET_PORT

    @property
    def key(self) -> str:
        host, port = self.host_port
        return f"{host}:{port}"


@dataclass(frozen=True)
class Upstream:
    name: str
    line: int | None
    targets: tuple[Target, ...]
    active_checks: bool  # an active probe interval > 0 (healthy or unhealthy)
    passive_checks: bool  # a passive unhealthy counter > 0
    node: Map | None = None


@dataclass(frozen=True)
class Route:
    name: str
    line: int | None
    paths: tuple[str, ...]
    hosts: tuple[str, ...]


@dataclass(frozen=True)
class Service:
    name: str
    line: int | None
    protocol: str
    host: str
    port: int
    settings: dict[str, Setting]  # connect/write/read_timeout (ms) and retries, defaults marked
    routes: tuple[Route, ...]
    node: Map | None = None


@dataclass
class KongConfig:
    path: str
    text: str
    services: list[Service] = field(default_factory=list)
    upstreams: dict[str, Upstream] = field(default_factory=dict)
    format_version: str | None = None
    problems: list[str] = field(default_factory=list)

    @property
    def files(self) -> list[str]:
        """The files read (``app.lint`` lists them): the one file."""
        return [self.path]

    def upstream_of(self, service: Service) -> Upstream | None:
        """The upstream whose name is the service's ``host`` (its ring balancer), else None."""
        return self.upstreams.get(service.host)


def _ref(value: object) -> str:
    """A foreign key as written: a name, or ``{name: ...}`` / ``{id: ...}``."""
    if isinstance(value, dict):
        return str(value.get("name") or value.get("id") or "")
    return str(value or "")


def _checks(hc: dict[str, Any]) -> tuple[bool, bool]:
    """(active, passive) health checks switched on in an upstream's ``healthchecks``."""
    active = _dict(hc.get("active"))
    passive_unhealthy = _dict(_dict(hc.get("passive")).get("unhealthy"))
    on = any(_positive(_dict(active.get(s)).get("interval")) for s in ("healthy", "unhealthy"))
    passive = any(_positive(passive_unhealthy.get(k)) for k in ("tcp_failures", "timeouts", "http_failures"))
    return on, passive


def _route(r: dict[str, Any], n: int) -> Route:
    return Route(name=str(r.get("name") or r.get("id") or f"route #{n}"), line=_line(r),
                 paths=tuple(str(p) for p in _list(r.get("paths"))),
                 hosts=tuple(str(h) for h in _list(r.get("hosts"))))


def _service(s: Map | dict[str, Any], n: int, path: str, routes: list[Route]) -> Service:
    proto, host, port = str(s.get("protocol") or ""), str(s.get("host") or ""), s.get("port")
    if s.get("url"):
        from urllib.parse import urlsplit

        u = urlsplit(str(s["url"]))
        proto = proto or u.scheme
        host = host or (u.hostname or "")
        with contextlib.suppress(ValueError):  # a port that is no number: the protocol's
            port = port or u.port
    proto = proto or "http"
    try:
        port_n = int(port) if port else SERVICE_PORTS.get(proto, 80)
    except (TypeError, ValueError):
        port_n = SERVICE_PORTS.get(proto, 80)
    settings: dict[str, Setting] = {}
    for key, default in DEFAULTS.items():
        if key in s and s[key] is not None:
            at = s.values_at[key][0] if isinstance(s, Map) else None
            settings[key] = Setting(str(s[key]), path, at, False)
        else:
            settings[key] = Setting(default, None, None, True)
    nested = [_route(r, i) for i, r in enumerate(_list(s.get("routes")), 1) if isinstance(r, dict)]
    return Service(name=str(s.get("name") or s.get("id") or f"service #{n}"), line=_line(s),
                   protocol=proto, host=host, port=port_n, settings=settings,
                   routes=tuple(nested + routes), node=s if isinstance(s, Map) else None)


def build(doc: object, path: str, text: str) -> KongConfig:
    cfg = KongConfig(path=path, text=text)
    top = _dict(doc)
    if not top:
        cfg.problems.append(f"{path}: not a mapping: not a Kong declarative config")
        return cfg
    fv = top.get("_format_version")
    cfg.format_version = str(fv) if fv is not None else None
    loose_targets: dict[str, list[Target]] = {}
    for t in _list(top.get("targets")):
        if isinstance(t, dict) and t.get("target"):
            loose_targets.setdefault(_ref(t.get("upstream")), []).append(
                Target(str(t["target"]), _line(t), int(t.get("weight", 100) or 0)))
    for u in _list(top.get("upstreams")):
        if not isinstance(u, dict) or not u.get("name"):
            continue
        name = str(u["name"])
        targets = [Target(str(t["target"]), _line(t), int(t.get("weight", 100) or 0))
                   for t in _list(u.get("targets")) if isinstance(t, dict) and t.get("target")]
        active, passive = _checks(_dict(u.get("healthchecks")))
        cfg.upstreams[name] = Upstream(name, _line(u), tuple(targets + loose_targets.get(name, [])),
                                       active, passive, u if isinstance(u, Map) else None)
    loose_routes: dict[str, list[Route]] = {}
    for i, r in enumerate(_list(top.get("routes")), 1):
        if isinstance(r, dict):
            loose_routes.setdefault(_ref(r.get("service")), []).append(_route(r, i))
    for i, s in enumerate(_list(top.get("services")), 1):
        if isinstance(s, dict):
            name = str(s.get("name") or s.get("id") or "")
            cfg.services.append(_service(s, i, path, loose_routes.get(name, [])))
    if not cfg.services and not cfg.upstreams:
        cfg.problems.append(f"{path}: no services or upstreams in it")
    return cfg


def parse_kong_text(text: str, path: str = "kong.yml") -> KongConfig:
    """A declarative config from its text (YAML; JSON is YAML)."""
    return build(_load(text, path), path, text)


def load_kong(path: str) -> KongConfig:
    """``Hooks.load_config``: the file at ``path`` read through the one config bound every
    proxy's reader uses (``parsers.configread``), or a one-line ``InputError``."""
    return parse_kong_text(ConfigBudget().read(path), path)


def seconds_of_ms(value: str | None) -> float | None:
    """A Kong timeout (integer milliseconds) in seconds; None when not a number."""
    try:
        return int(str(value).strip()) / 1000.0 if value is not None else None
    except ValueError:
        return None
