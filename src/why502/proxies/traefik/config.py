"""A Traefik v2/v3 dynamic configuration (file provider, YAML or TOML) read as a file: its
routers, the services they name, each service's ``loadBalancer`` servers, health check and
``serversTransport`` timeouts, each with its file:line.

Structure (https://doc.traefik.io/traefik/routing/routers/, .../routing/services/, and
``pkg/config/dynamic/http_config.go`` in traefik/traefik): ``http.routers.<name>`` has ``rule``,
``service`` and ``entryPoints``; ``http.services.<name>.loadBalancer`` has ``servers`` (each a
``url``), ``healthCheck`` and ``serversTransport`` (a name in ``http.serversTransports``).  A
service name may carry a provider suffix (``svc@file``): the suffix is dropped to find it here.

Defaults of a ``serversTransport``'s ``forwardingTimeouts`` (docs routing/services/index.md,
"ServersTransport"; ``ForwardingTimeouts.SetDefaults`` in http_config.go): ``dialTimeout`` 30s,
``responseHeaderTimeout`` 0s -- no limit: Traefik waits for the response header as long as the
backend takes -- and ``idleConnTimeout`` 90s.  Without ``healthCheck`` a service's servers are
never taken out: a dead one keeps its share of the requests (routing/services/index.md,
"Health Check": "servers are removed from the load balancer rotation as long as they are
unhealthy" only when it is configured).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from why502.errors import InputError
from why502.facts.setting import Setting
from why502.parsers.configread import ConfigBudget
from why502.proxies.traefik.detect import looks_like_toml

DEFAULTS: dict[str, str] = {
    "dialTimeout": "30s", "responseHeaderTimeout": "0s", "idleConnTimeout": "90s"}
"""``forwardingTimeouts`` unset: their values (Traefik docs, ServersTransport)."""
TIMEOUTS = tuple(DEFAULTS)


@dataclass(frozen=True)
class Server:
    url: str
    line: int | None

    @property
    def host_port(self) -> tuple[str | None, int | None]:
        parts = urlsplit(self.url)
        try:
            port = parts.port
        except ValueError:
            port = None
        if port is None and parts.scheme in ("http", "https", "h2c"):
            port = 443 if parts.scheme == "https" else 80
        return parts.hostname, port

    @property
    def key(self) -> str:
        host, port = self.host_port
        return f"{host}:{port}" if host else self.url


@dataclass(frozen=True)
class Service:
    name: str
    line: int | None
    servers: tuple[Server, ...]
    health_check: bool
    transport: str | None  # the serversTransport it names (without @provider), None: default


@dataclass(frozen=True)
class Router:
    name: str
    line: int | None
    rule: str
    service: str  # without @provider
    entry_points: tuple[str, ...]


@dataclass
class TraefikConfig:
    path: str
    text: str
    routers: list[Router] = field(default_factory=list)
    services: dict[str, Service] = field(default_factory=dict)
    transports: dict[str, dict[str, Setting]] = field(default_factory=dict)  # name -> timeouts
    problems: list[str] = field(default_factory=list)

    @property
    def files(self) -> list[str]:
        """The files read (``app.lint`` lists them): the one file; the file provider's
        ``directory`` is not followed here."""
        return [self.path]

    def timeouts(self, service: Service) -> dict[str, Setting]:
        """The effective ``forwardingTimeouts`` of ``service``: its transport's, else Traefik's
        defaults (``Setting.is_default``)."""
        own = self.transports.get(service.transport or "", {})
        return {k: own.get(k) or Setting(DEFAULTS[k], None, None, True) for k in TIMEOUTS}

    def routers_of(self, service: str) -> list[Router]:
        return [r for r in self.routers if r.service == service]


# a Go duration's parts (``1m30s``); a number starts a run of digits, as in
# ``proxies/caddy/config.py``'s ``_GO_DURATION`` (a start inside one read the run to its end)
_GO_DURATION = re.compile(r"(?<!\d)(\d+(?:\.\d+)?)(ns|us|µs|ms|s|m|h)")


def duration_seconds(value: str | None) -> float | None:
    """A Traefik duration (``30s``, ``1m30s``, ``500ms``, or a bare number of seconds) in
    seconds; None for 0 (no limit) or what is not a duration."""
    if value is None:
        return None
    text = str(value).strip()
    if re.fullmatch(r"\d+(?:\.\d+)?", text):
        secs = float(text)
        return secs or None
    units = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0}
    parts = _GO_DURATION.findall(text)
    if not parts or "".join(n + u for n, u in parts) != text:
        return None
    secs = sum(float(n) * units[u] for n, u in parts)
    return secs or None


def _bare(name: object) -> str:
    return str(name).split("@", 1)[0]


def _yaml_lines(text: str, path: str) -> tuple[Any, dict[int, int]]:
    """The YAML document, and the line (1-based) of each mapping by ``id``: the line of its key
    for a mapping under a key (``my-service:``), its own first line in a list (``- url: ...``)."""
    import yaml

    lines: dict[int, int] = {}

    class Loader(yaml.SafeLoader):
        pass

    def mapping(loader: Loader, node: yaml.MappingNode) -> dict[str, Any]:
        loader.flatten_mapping(node)
        m: dict[str, Any] = {}
        lines.setdefault(id(m), node.start_mark.line + 1)
        for k, v in node.value:
            value = loader.construct_object(v, deep=True)
            m[str(loader.construct_object(k, deep=True))] = value
            if isinstance(value, dict):  # a named block: the line of its name
                lines[id(value)] = k.start_mark.line + 1
        return m

    Loader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, mapping)
    try:
        doc = yaml.load(text, Loader=Loader)  # noqa: S506 (a SafeLoader subclass)
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        where = f":{mark.line + 1}" if mark is not None else ""
        problem = getattr(err, "problem", None) or str(err).splitlines()[0]
        raise InputError(f"{path}{where}: not a readable Traefik dynamic config (YAML): {problem}") from None
    return doc, lines


def _toml_lines(text: str, path: str) -> tuple[Any, dict[int, int]]:
    """The TOML document, and the line of each table found by its header (tomllib keeps no
    positions): ``[http.services.NAME...]`` and each ``url = "..."`` line."""
    try:
        import tomllib
    except ModuleNotFoundError:  # pragma: no cover - Python 3.10
        import tomli as tomllib  # type: ignore[no-redef]
    try:
        doc = tomllib.loads(text)
    except tomllib.TOMLDecodeError as err:
        raise InputError(f"{path}: not a readable Traefik dynamic config (TOML): {err}") from None
    return doc, {}


def _toml_line(text: str, pattern: str) -> int | None:
    m = re.search(pattern, text, re.M)
    return text.count("\n", 0, m.start()) + 1 if m else None


def _dict(value: object) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def build(doc: object, lines: dict[int, int], path: str, text: str) -> TraefikConfig:
    cfg = TraefikConfig(path=path, text=text)
    toml = not lines

    def line(obj: object, kind: str = "", name: str = "") -> int | None:
        if not toml:
            return lines.get(id(obj))
        if kind == "url":
            return _toml_line(text, r'^[^\S\n]*url\s*=\s*["\']' + re.escape(name) + r'["\']')
        return _toml_line(text, r"^[^\S\n]*\[\[?http\." + kind + r"\.[\"']?" + re.escape(name) + r"\b")

    http = _dict(_dict(doc).get("http"))
    if not http:
        cfg.problems.append(f"{path}: no http section: not a Traefik dynamic config of HTTP routers")
    for name, t in _dict(http.get("serversTransports")).items():
        ft = _dict(_dict(t).get("forwardingTimeouts"))
        at = line(ft, "serversTransports", str(name)) if ft else None
        cfg.transports[str(name)] = {k: Setting(str(ft[k]), path, at, False) for k in TIMEOUTS if k in ft}
    for name, s in _dict(http.get("services")).items():
        lb = _dict(_dict(s).get("loadBalancer"))
        if not lb:
            continue  # weighted / mirroring / failover services: no servers of their own
        servers = []
        for srv in lb.get("servers") or []:
            if isinstance(srv, dict) and srv.get("url"):
                url = str(srv["url"])
                servers.append(Server(url, line(srv, "url", url)))
        transport = lb.get("serversTransport")
        cfg.services[str(name)] = Service(
            name=str(name), line=line(s, "services", str(name)), servers=tuple(servers),
            health_check=bool(lb.get("healthCheck") or lb.get("passiveHealthCheck")),
            transport=_bare(transport) if transport else None)
    for name, r in _dict(http.get("routers")).items():
        r = _dict(r)
        eps = r.get("entryPoints") or []
        cfg.routers.append(Router(
            name=str(name), line=line(r, "routers", str(name)), rule=str(r.get("rule") or ""),
            service=_bare(r.get("service") or ""),
            entry_points=tuple(str(e) for e in eps) if isinstance(eps, list) else ()))
    return cfg


def parse_traefik_text(text: str, path: str = "dynamic.yml") -> TraefikConfig:
    """A dynamic config from its text: TOML when its tables say so (or the file ends ``.toml``),
    else YAML (JSON is YAML)."""
    if path.endswith(".toml") or looks_like_toml(text):
        doc, lines = _toml_lines(text, path)
    else:
        doc, lines = _yaml_lines(text, path)
    return build(doc, lines, path, text)


def load_traefik(path: str) -> TraefikConfig:
    """``Hooks.load_config``: the file at ``path`` read through the one config bound every
    proxy's reader uses (``parsers.configread``: its size, the memory left, and a FIFO or a
    device refused before it is opened for reading), or a one-line ``InputError``."""
    return parse_traefik_text(ConfigBudget().read(path), path)
