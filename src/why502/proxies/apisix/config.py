"""An Apache APISIX config read as a file: a standalone ``apisix.yaml`` (or ``apisix.json``), an
Admin API dump, or the node's ``conf/config.yaml`` pointing at its ``apisix.yaml``.

Sources (apache/apisix at f519a0f, Apache-2.0):

- **Standalone** (docs/en/latest/deployment-modes.md, "file-driven" standalone mode):
  ``conf/apisix.yaml`` holds top-level arrays ``routes``, ``services``, ``upstreams`` (and
  ``ssls``, ``plugin_configs``, ...); APISIX loads it only when it ends with ``#END``
  (``apisix/core/config_yaml.lua``: ``re_find(end_flag, [[#END\\s*$]])``, else "missing valid end
  flag in file"); ``conf/apisix.json`` is the same document in JSON, without ``#END``.
- **Admin API dump** (docs/en/latest/admin-api.md; the 2.x shape in
  docs/en/latest/upgrade/upgrade-guide-from-2.15.x-to-3.0.0.md): ``GET /apisix/admin/routes``
  answers ``{"list": [{"key": "/apisix/routes/1", "value": {...}}], "total": N}`` in 3.x and
  ``{"action": "get", "node": {"dir": true, "nodes": [{"key": ..., "value": ...}]}}`` in 2.x; one
  resource is ``{"key": ..., "value": ...}`` (2.x: inside ``node``).  A file may hold several such
  answers one after the other (routes, then upstreams, then services).
- **Node config** (``conf/config.yaml``, keys ``apisix:`` / ``deployment:``): with
  ``deployment.role_data_plane.config_provider: yaml`` (or ``json``) the routes are in the
  ``apisix.yaml`` (``apisix.json``) beside it, which is read instead.

How a route reaches its upstream (``apisix/init.lua`` ``http_access_phase``,
``apisix/plugin.lua`` ``merge_service_route``): the route's ``service_id`` names a service (none
found: "failed to fetch service configuration by id: ID", **404**); the route's ``upstream``
replaces the service's (and its ``upstream_id``), the route's ``upstream_id`` wins over both; an
``upstream_id`` that names no upstream is "failed to find upstream by id: ID" and a **502**
(``apisix/upstream.lua`` ``get_by_id``); no upstream at all is "missing upstream configuration in
Route or Service", a **503** (``upstream.lua`` ``set_by_route``), and an upstream with no node "no
valid upstream node", a 503 too.

An upstream (``apisix/schema_def.lua`` ``upstream_schema``): ``nodes`` as a hash
``{"host:port": weight}`` or an array of ``{host, port, weight}``, a node without a port gets the
scheme's (``upstream.lua`` ``scheme_to_port``: http 80, https 443, grpc 80, grpcs 443);
``scheme`` (http), ``pass_host`` (pass), ``retries`` (unset: the number of nodes minus one,
``apisix/balancer.lua`` ``set_balancer_opts``), ``timeout: {connect, send, read}`` in seconds,
all three required by the schema (``timeout_def``); ``checks.active`` / ``checks.passive``
(lua-resty-healthcheck).  The timeout a request gets is the route's ``timeout``, else its
upstream's (``balancer.lua`` ``set_balancer_opts``: "If the matched route has timeout config,
prefer to use the route config"), else nginx's own 60 s: the location APISIX generates sets no
``proxy_*_timeout`` (``apisix/cli/ngx_tpl.lua``).  A service has no ``timeout``.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass, field
from typing import Any

from why502.errors import InputError
from why502.facts.setting import Setting
from why502.parsers.configread import ConfigBudget
from why502.parsers.yamlmap import Map, load_positioned
from why502.parsers.yamlmap import as_dict as _dict
from why502.parsers.yamlmap import as_list as _list
from why502.parsers.yamlmap import line_of as _line
from why502.parsers.yamlmap import positive as _positive

TIMEOUTS = ("connect", "send", "read")
DEFAULT_TIMEOUT = "60"  # seconds: nginx's proxy_connect/send/read_timeout defaults (ngx_tpl.lua sets none)
SCHEME_PORTS = {"http": 80, "https": 443, "grpc": 80, "grpcs": 443}  # upstream.lua scheme_to_port
WHAT = "APISIX config"
KINDS = ("routes", "services", "upstreams")


@dataclass(frozen=True)
class Node:
    """A node of an upstream (``host``, ``port``, ``weight``)."""

    host: str
    port: int
    weight: int
    line: int | None

    @property
    def key(self) -> str:
        host = f"[{self.host}]" if ":" in self.host and not self.host.startswith("[") else self.host
        return f"{host}:{self.port}"


@dataclass(frozen=True)
class Upstream:
    """An upstream: one in ``upstreams`` (``id``) or written inside a route or a service."""

    id: str
    name: str  # how a report names it: its ``name``, else its id, else where it is written
    line: int | None
    nodes: tuple[Node, ...]
    scheme: str
    pass_host: str
    retries: int | None  # as written; None: unset (nodes - 1)
    timeout: dict[str, Setting] | None  # connect/send/read as written (seconds); None: unset
    active_checks: bool
    passive_checks: bool
    discovery: str | None = None  # ``service_name`` + ``discovery_type``: nodes found at run time
    node: Map | None = None

    @property
    def live_nodes(self) -> tuple[Node, ...]:
        return tuple(n for n in self.nodes if n.weight > 0)

    @property
    def effective_retries(self) -> int:
        """``balancer.lua``: unset or negative, the number of nodes minus one."""
        if self.retries is None or self.retries < 0:
            return max(len(self.nodes) - 1, 0)
        return self.retries


@dataclass(frozen=True)
class Service:
    id: str
    name: str
    line: int | None
    upstream: Upstream | None
    upstream_id: str | None
    node: Map | None = None


@dataclass(frozen=True)
class Route:
    id: str
    name: str
    line: int | None
    uris: tuple[str, ...]
    hosts: tuple[str, ...]
    upstream: Upstream | None
    upstream_id: str | None
    service_id: str | None
    timeout: dict[str, Setting] | None
    node: Map | None = None


@dataclass(frozen=True)
class Resolved:
    """Where a route's requests go, as ``init.lua`` resolves it: the upstream, and the mapping
    whose ``timeout`` they get (the route's, else the upstream's, else None: nginx's 60 s); or
    the status and log line APISIX answers with when it cannot."""

    upstream: Upstream | None
    status: int | None = None
    error: str | None = None
    ref: tuple[str, str] | None = None  # ("upstream_id" | "service_id", id) that names nothing


@dataclass
class ApisixConfig:
    path: str
    text: str
    routes: list[Route] = field(default_factory=list)
    services: dict[str, Service] = field(default_factory=dict)
    upstreams: dict[str, Upstream] = field(default_factory=dict)
    admin_api: bool = False  # read from an Admin API dump (etcd holds it; no file to edit)
    end_flag: bool = True  # a standalone YAML ends with #END (config_yaml.lua)
    node_config: str | None = None  # the conf/config.yaml that named this file
    problems: list[str] = field(default_factory=list)

    @property
    def files(self) -> list[str]:
        """The files read (``app.lint`` lists them)."""
        return [p for p in (self.node_config, self.path) if p]

    @property
    def empty(self) -> bool:
        return not (self.routes or self.services or self.upstreams)

    def resolve(self, route: Route) -> Resolved:
        """The upstream of ``route`` (module docstring: init.lua, plugin.lua, upstream.lua)."""
        service = None
        if route.service_id is not None:
            service = self.services.get(route.service_id)
            if service is None:
                return Resolved(None, 404, f"failed to fetch service configuration by id: {route.service_id}",
                                ("service_id", route.service_id))
        up_id = route.upstream_id
        if up_id is None and route.upstream is None and service is not None:
            up_id = service.upstream_id
        if up_id is not None:
            up = self.upstreams.get(up_id)
            if up is None:
                return Resolved(None, 502, f"failed to find upstream by id: {up_id}", ("upstream_id", up_id))
            return Resolved(up)
        up = route.upstream or (service.upstream if service is not None else None)
        if up is None:
            return Resolved(None, 503, "missing upstream configuration in Route or Service")
        if not up.nodes and up.discovery is None:
            return Resolved(up, 503, "no valid upstream node")
        return Resolved(up)


def _id(value: object) -> str | None:
    return None if value is None or isinstance(value, (dict, list)) else str(value)


def _int(value: object, default: int) -> int:
    try:
        return int(value)  # type: ignore[call-overload, no-any-return]
    except (TypeError, ValueError):
        return default


def _timeout(obj: dict[str, Any], path: str) -> dict[str, Setting] | None:
    t = obj.get("timeout")
    if not isinstance(t, dict):
        return None
    out: dict[str, Setting] = {}
    for k in TIMEOUTS:
        if k in t and t[k] is not None:
            at = t.values_at[k][0] if isinstance(t, Map) else None
            out[k] = Setting(str(t[k]), path, at, False)
    return out


def _checks(checks: dict[str, Any]) -> tuple[bool, bool]:
    """(active, passive) health checks in an upstream's ``checks``: ``active`` is on when
    written (the schema's ``anyOf`` requires it; its intervals default to 1 s), ``passive`` when
    one of its ``unhealthy`` counters is above 0 (defaults 2 TCP failures, 7 timeouts, 5 HTTP
    failures: schema_def.lua ``health_checker_passive``), written or not."""
    active = isinstance(checks.get("active"), dict)
    passive = checks.get("passive")
    if not isinstance(passive, dict):
        return active, False
    unhealthy = _dict(passive.get("unhealthy"))
    defaults = {"tcp_failures": 2, "timeouts": 7, "http_failures": 5}
    on = any(_positive(unhealthy.get(k, d)) for k, d in defaults.items())
    return active, on


def _nodes(raw: object, scheme: str) -> list[Node]:
    port = SCHEME_PORTS.get(scheme, 80)
    out: list[Node] = []
    if isinstance(raw, dict):  # {"host:port": weight}
        for addr, weight in raw.items():
            m = re.fullmatch(r"\[?([^\]]+?)\]?(?::(\d+))?", str(addr).strip())
            host, p = (m.group(1), m.group(2)) if m else (str(addr), None)
            if p is None and str(addr).count(":") > 1 and not str(addr).startswith("["):
                host = str(addr)  # a bare IPv6 address
            at = raw.keys_at[addr][0] if isinstance(raw, Map) else None
            out.append(Node(host, int(p) if p else port, _int(weight, 1), at))
    for n in _list(raw):
        if isinstance(n, dict) and n.get("host"):
            out.append(Node(str(n["host"]).strip("[]"), _int(n.get("port"), port),
                            _int(n.get("weight", 1), 1), _line(n)))
    return out


def _upstream(u: dict[str, Any], path: str, where: str) -> Upstream:
    scheme = str(u.get("scheme") or "http")
    retries = u.get("retries")
    uid = _id(u.get("id")) or where
    active, passive = _checks(_dict(u.get("checks")))
    discovery = str(u["service_name"]) if u.get("service_name") else None
    return Upstream(id=uid, name=str(u.get("name") or uid), line=_line(u),
                    nodes=tuple(_nodes(u.get("nodes"), scheme)), scheme=scheme,
                    pass_host=str(u.get("pass_host") or "pass"),
                    retries=_int(retries, 0) if retries is not None else None,
                    timeout=_timeout(u, path), active_checks=active, passive_checks=passive,
                    discovery=discovery, node=u if isinstance(u, Map) else None)


def _inline(obj: dict[str, Any], path: str, where: str) -> Upstream | None:
    u = obj.get("upstream")
    return _upstream(u, path, where) if isinstance(u, dict) else None


def _strings(obj: dict[str, Any], one: str, many: str) -> tuple[str, ...]:
    return tuple(str(x) for x in ([obj[one]] if obj.get(one) else []) + _list(obj.get(many)))


def add(cfg: ApisixConfig, kind: str, items: list[Any]) -> None:
    """The items of one kind (``routes``, ``services``, ``upstreams``) into ``cfg``."""
    path = cfg.path
    for n, item in enumerate(items, 1):
        if not isinstance(item, dict):
            continue
        iid = _id(item.get("id")) or str(n)
        if kind == "upstreams":
            up = _upstream(item, path, iid)
            cfg.upstreams[up.id] = up
        elif kind == "services":
            cfg.services[iid] = Service(iid, str(item.get("name") or f"service {iid}"), _line(item),
                                        _inline(item, path, f"service {iid}"), _id(item.get("upstream_id")),
                                        item if isinstance(item, Map) else None)
        elif kind == "routes":
            cfg.routes.append(Route(
                id=iid, name=str(item.get("name") or f"route {iid}"), line=_line(item),
                uris=_strings(item, "uri", "uris"), hosts=_strings(item, "host", "hosts"),
                upstream=_inline(item, path, f"route {iid}"), upstream_id=_id(item.get("upstream_id")),
                service_id=_id(item.get("service_id")), timeout=_timeout(item, path),
                node=item if isinstance(item, Map) else None))


_ADMIN_KEY = re.compile(r"^/apisix/(routes|services|upstreams)(?:/|$)")


def _admin_items(doc: dict[str, Any]) -> list[tuple[str, Any]] | None:
    """``(kind, value)`` of an Admin API answer (3.x ``list``/single, 2.x ``node``), or None
    when ``doc`` is no such answer."""
    node = doc.get("node")
    if isinstance(node, dict) and ("key" in node or "nodes" in node):  # 2.x
        entries = _list(node.get("nodes")) if "nodes" in node else [node]
    elif "list" in doc and ("total" in doc or isinstance(doc.get("list"), list)):  # 3.x list
        entries = _list(doc.get("list"))
    elif "key" in doc and "value" in doc:  # 3.x single resource
        entries = [doc]
    else:
        return None
    out: list[tuple[str, Any]] = []
    for e in entries:
        m = _ADMIN_KEY.match(str(_dict(e).get("key") or ""))
        if m and isinstance(_dict(e).get("value"), dict):
            value = e["value"]
            if "id" not in value:
                value["id"] = str(e["key"]).rsplit("/", 1)[-1]
            out.append((m.group(1), value))
    return out


def _documents(text: str, path: str) -> list[object]:
    """The JSON documents of a file holding one or several Admin API answers one after the
    other; each parsed with positions (its lines are the file's)."""
    decoder = json.JSONDecoder()
    out: list[object] = []
    i = 0
    while True:
        while i < len(text) and text[i].isspace():
            i += 1
        if i >= len(text):
            return out
        try:
            _obj, end = decoder.raw_decode(text, i)
        except ValueError as err:
            line = text.count("\n", 0, i) + 1
            raise InputError(f"{path}:{line}: not a readable {WHAT} (JSON): {err}") from None
        pad = "\n" * text.count("\n", 0, i)  # positions stay the file's own
        out.append(load_positioned(pad + " " * (i - (text.rfind("\n", 0, i) + 1)) + text[i:end], path, WHAT))
        i = end


def _node_config(doc: dict[str, Any]) -> bool:
    return "deployment" in doc or isinstance(doc.get("apisix"), dict)


def build(doc: object, path: str, text: str) -> ApisixConfig:
    cfg = ApisixConfig(path=path, text=text)
    top = _dict(doc)
    if not top:
        cfg.problems.append(f"{path}: not a mapping: not an {WHAT}")
        return cfg
    admin = _admin_items(top)
    if admin is not None:
        cfg.admin_api = True
        for kind in KINDS:
            add(cfg, kind, [v for k, v in admin if k == kind])
        return cfg
    for kind in KINDS:
        add(cfg, kind, _list(top.get(kind)))
    if not text.lstrip().startswith("{"):
        cfg.end_flag = re.search(r"#END\s*$", text[-10:]) is not None
        if not cfg.end_flag and not cfg.empty:
            cfg.problems.append(f"{path} does not end with #END: APISIX does not load it (\"missing valid "
                                "end flag in file\", apisix/core/config_yaml.lua) and keeps its "
                                "previous rules")
    return cfg


def parse_apisix_text(text: str, path: str = "apisix.yaml") -> ApisixConfig:
    """A standalone ``apisix.yaml``/``apisix.json`` or an Admin API dump, from its text."""
    if text.lstrip().startswith("{"):
        docs = _documents(text, path)
        if len(docs) > 1:
            cfg = ApisixConfig(path=path, text=text, admin_api=True)
            for d in docs:
                for kind, value in _admin_items(_dict(d)) or []:
                    add(cfg, kind, [value])
            return cfg
        return build(docs[0] if docs else None, path, text)
    return build(load_positioned(text, path, WHAT), path, text)


def load_apisix(path: str) -> ApisixConfig:
    """``Hooks.load_config``: the file at ``path`` read through the one config bound every
    proxy's reader uses (``parsers.configread``); a node config (``conf/config.yaml``) whose
    ``config_provider`` is ``yaml``/``json`` is followed to the ``apisix.yaml``/``.json`` beside
    it.  A file that is no YAML/JSON is a one-line ``InputError``."""
    text = ConfigBudget().read(path)
    doc = load_positioned(text, path, WHAT) if not text.lstrip().startswith("{") else None
    if isinstance(doc, dict) and _node_config(doc):
        deployment = _dict(doc.get("deployment"))
        role = str(deployment.get("role") or "traditional")
        provider = str(_dict(deployment.get("role_data_plane")).get("config_provider") or "")
        if role == "data_plane" and provider in ("yaml", "json"):
            rules = os.path.join(os.path.dirname(path), f"apisix.{provider}")
            cfg = load_apisix(rules) if os.path.isfile(rules) else ApisixConfig(path=path, text=text)
            cfg.node_config = path
            if cfg.path == path:
                cfg.problems.append(f"{path} is APISIX's node config (standalone, config_provider "
                                    f"{provider}); its routes are in {rules}, which cannot be read")
            return cfg
        cfg = ApisixConfig(path=path, text=text, node_config=path)
        cfg.problems.append(f"{path} is APISIX's node config (role {role}): its routes and upstreams "
                            "are in etcd; pass an Admin API dump "
                            "(curl http://127.0.0.1:9180/apisix/admin/routes, "
                            "/upstreams, /services) or the standalone apisix.yaml")
        return cfg
    return parse_apisix_text(text, path) if doc is None else build(doc, path, text)


def seconds_of(value: str | None) -> float | None:
    """An APISIX timeout (a number of seconds, fractions allowed) in seconds."""
    try:
        return float(str(value).strip()) if value is not None else None
    except ValueError:
        return None
