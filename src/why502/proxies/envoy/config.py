"""Envoy's config -- a bootstrap (YAML or JSON) or a saved admin ``/config_dump`` -- to typed
listeners, routes, clusters and endpoints, each value with the file and line it is set on.

Pure text in, records out (the file is read through the one bounded reader,
``parsers.configread``), so it is tested on recorded configs without Envoy installed.  What is
read (Envoy's v3 API, ``api/envoy/config/...`` in envoyproxy/envoy):

- a bootstrap's ``static_resources``: ``listeners`` (their ``http_connection_manager`` filters:
  ``route_config`` inline, or ``rds`` naming a route configuration a config dump holds) and
  ``clusters`` (``load_assignment`` endpoints);
- a ``/config_dump``: ``{"configs": [{"@type": "...BootstrapConfigDump", "bootstrap": ...},
  {"@type": "...ClustersConfigDump", "static_clusters"/"dynamic_active_clusters": [{"cluster":
  ...}]}, {"@type": "...ListenersConfigDump", ...}, {"@type": "...RoutesConfigDump", ...},
  {"@type": "...EndpointsConfigDump", ...}]}`` (admin/v3/config_dump_shared.proto): what the
  running Envoy has, static and from xDS alike;
- per cluster: ``connect_timeout``, the upstream ``idle_timeout``
  (``common_http_protocol_options``, in the cluster itself -- deprecated -- or in
  ``typed_extension_protocol_options["envoy.extensions.upstreams.http.v3.HttpProtocolOptions"]``),
  ``circuit_breakers`` thresholds, ``outlier_detection`` present or not, ``health_checks``,
  upstream TLS (``transport_socket``); per route: ``timeout``, ``idle_timeout``,
  ``retry_policy`` (the route's, else its virtual host's).

Defaults are data (``DEFAULTS``) with the proto comment that states them.  YAML is read with
PyYAML's safe loader (no tags that build objects); JSON through the same loader (JSON is YAML's
flow style) so that its keys have lines too, or ``json`` when the YAML reader refuses it (then
without lines).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from why502.errors import InputError
from why502.facts.setting import Setting
from why502.parsers.configread import ConfigBudget

# name -> (default, where Envoy states it)
DEFAULTS: dict[str, tuple[str, str]] = {
    # cluster.proto, Cluster.connect_timeout: "The timeout for new network connections to hosts
    # in the cluster. If not set, a default value of 5s will be used."
    "connect_timeout": ("5s", "api/envoy/config/cluster/v3/cluster.proto Cluster.connect_timeout"),
    # route_components.proto, RouteAction.timeout: "Specifies the upstream timeout for the route.
    # If not specified, the default is 15s. ... A value of 0 will disable the route's timeout."
    "timeout": ("15s", "api/envoy/config/route/v3/route_components.proto RouteAction.timeout"),
    # protocol.proto, HttpProtocolOptions.idle_timeout: "The idle timeout for connections ... If
    # not specified, this defaults to 1 hour. To disable idle timeouts explicitly set this to 0."
    # (docs/root/faq/configuration/timeouts.rst: the same message serves upstream connections
    # through the cluster's common_http_protocol_options)
    "idle_timeout": ("1h", "api/envoy/config/core/v3/protocol.proto HttpProtocolOptions.idle_timeout"),
    # protocol.proto, HttpProtocolOptions.max_response_headers_kb: the most response-header
    # kilobytes the upstream codec takes; "If unconfigured, the default maximum response headers
    # allowed is 60 KiB" (a larger one is an upstream codec error: 502 UPE)
    "max_response_headers_kb": ("60", "api/envoy/config/core/v3/protocol.proto "
                                      "HttpProtocolOptions.max_response_headers_kb"),
    # circuit_breaker.proto, CircuitBreakers.Thresholds: "If not specified, the default is 1024"
    # (max_connections, max_pending_requests, max_requests), "... the default is 3" (max_retries)
    "max_connections": ("1024", "api/envoy/config/cluster/v3/circuit_breaker.proto "
                                "Thresholds.max_connections"),
    "max_pending_requests": ("1024", "api/envoy/config/cluster/v3/circuit_breaker.proto "
                                     "Thresholds.max_pending_requests"),
    "max_requests": ("1024", "api/envoy/config/cluster/v3/circuit_breaker.proto Thresholds.max_requests"),
    "max_retries": ("3", "api/envoy/config/cluster/v3/circuit_breaker.proto Thresholds.max_retries"),
    # route_components.proto, RetryPolicy.num_retries: "Specifies the allowed number of retries.
    # This parameter is optional and defaults to 1."
    "num_retries": ("1", "api/envoy/config/route/v3/route_components.proto RetryPolicy.num_retries"),
}

HTTP_OPTIONS = "envoy.extensions.upstreams.http.v3.HttpProtocolOptions"
HCM = "envoy.filters.network.http_connection_manager"
MAX_NODES = 500_000  # a YAML of aliases can describe far more than its bytes: bounded


class Map(dict[str, Any]):
    """A mapping of the config with where it is: its first line and column, and per key the
    line and column of the key and the span of its value (``(line, col, end_line, end_col)``,
    1-based lines, 0-based columns)."""

    line: int = 0
    col: int = 0

    def __init__(self) -> None:
        super().__init__()
        self.keys_at: dict[str, tuple[int, int]] = {}
        self.values_at: dict[str, tuple[int, int, int, int]] = {}

    def at(self, key: str) -> tuple[int | None, int | None]:
        return self.keys_at.get(key, (None, None))


def _loader() -> type:
    import yaml

    class Loader(yaml.SafeLoader):
        pass

    def mapping(loader: Loader, node: yaml.MappingNode) -> Map:
        loader.flatten_mapping(node)
        m = Map()
        m.line, m.col = node.start_mark.line + 1, node.start_mark.column
        for k_node, v_node in node.value:
            key = str(loader.construct_object(k_node, deep=True))
            m[key] = loader.construct_object(v_node, deep=True)
            m.keys_at[key] = (k_node.start_mark.line + 1, k_node.start_mark.column)
            m.values_at[key] = (v_node.start_mark.line + 1, v_node.start_mark.column,
                                v_node.end_mark.line + 1, v_node.end_mark.column)
        return m

    Loader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, mapping)
    return Loader


def parse_document(text: str, path: str) -> Any:
    """The document of ``text`` (YAML or JSON) with lines (``Map``), or plain ``json`` values
    when only the JSON reader takes it; ``InputError`` when neither does."""
    import yaml

    try:
        return yaml.load(text, Loader=_loader())  # noqa: S506 (a SafeLoader subclass)
    except yaml.YAMLError as err:
        try:
            return json.loads(text)
        except ValueError:
            mark = getattr(err, "problem_mark", None)
            where = f":{mark.line + 1}" if mark is not None else ""
            problem = getattr(err, "problem", None) or str(err).splitlines()[0]
            raise InputError(f"{path}{where}: not a readable Envoy config (YAML/JSON): {problem}") from None


@dataclass(frozen=True)
class Endpoint:
    """One host of a cluster's ``load_assignment`` (endpoint/v3/endpoint_components.proto)."""

    address: str  # host:port, or the pipe path
    host: str | None
    port: int | None
    unix_path: str | None
    file: str | None
    line: int | None


@dataclass
class Cluster:
    name: str
    file: str | None
    line: int | None
    kind: str  # STATIC, STRICT_DNS, LOGICAL_DNS, EDS, ORIGINAL_DST (cluster.proto DiscoveryType)
    endpoints: list[Endpoint] = field(default_factory=list)
    settings: dict[str, Setting] = field(default_factory=dict)  # the names of DEFAULTS
    outlier_detection: Setting | None = None  # where it is set; None: absent (no ejection)
    health_checks: int = 0
    tls: bool = False  # a transport_socket (upstream TLS)
    node: Map | None = None  # the cluster's own mapping (where edits go)
    http_options: Map | None = None  # the mapping holding common_http_protocol_options, if any

    def setting(self, name: str) -> Setting:
        return self.settings.get(name) or Setting(DEFAULTS[name][0], None, None, True)


@dataclass
class Route:
    """One route of a virtual host whose action sends to a cluster (route_components.proto)."""

    match: str  # "prefix /api", "path /x", "regex ^/a", "any"
    clusters: tuple[str, ...]  # its cluster, or the weighted clusters
    virtual_host: str
    route_config: str
    file: str | None
    line: int | None
    settings: dict[str, Setting] = field(default_factory=dict)  # timeout, idle_timeout, per_try_timeout
    retry_on: Setting | None = None  # the route's retry_policy, else its virtual host's
    num_retries: Setting | None = None
    action: Map | None = None  # the ``route:`` mapping (where a timeout goes)
    prefix: str | None = None
    path: str | None = None

    def setting(self, name: str) -> Setting:
        return self.settings.get(name) or Setting(DEFAULTS[name][0], None, None, True)

    def matches(self, path: str) -> bool:
        if self.path is not None:
            return path.split("?", 1)[0] == self.path
        if self.prefix is not None:
            return path.startswith(self.prefix)
        return False


@dataclass
class Listener:
    name: str
    address: str
    file: str | None
    line: int | None
    route_configs: list[str] = field(default_factory=list)


@dataclass
class EnvoyConfig:
    """A parsed Envoy config: what it proxies and the text of the file read."""

    main_file: str
    source: str = "bootstrap"  # bootstrap | config_dump
    texts: dict[str, str] = field(default_factory=dict)
    listeners: list[Listener] = field(default_factory=list)
    routes: list[Route] = field(default_factory=list)
    clusters: list[Cluster] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    admin: str | None = None  # the admin listener's address (its API: /clusters, /stats)
    json: bool = False  # the file is JSON (edits are written in JSON)

    @property
    def files(self) -> list[str]:
        return list(self.texts)

    def cluster(self, name: str) -> Cluster | None:
        return next((c for c in self.clusters if c.name == name), None)

    def route_for(self, path: str) -> Route | None:
        """The first route whose prefix/path matches ``path`` (Envoy takes the first match of
        the virtual host: route_components.proto VirtualHost.routes)."""
        return next((r for r in self.routes if r.matches(path)), None)


# -- durations ---------------------------------------------------------------------------------

_DURATION = re.compile(r"^(-?\d+(?:\.\d+)?)(ms|s|m|h)?$")


def duration_seconds(value: object) -> float | None:
    """A protobuf Duration as the config spells it: ``"5s"``, ``"0.25s"`` (the JSON mapping:
    seconds with an ``s``), the YAML shorthands Envoy's loader also takes are not guessed beyond
    ``ms``/``m``/``h``; ``{seconds: 5, nanos: 0}`` (the message form).  None: not a duration."""
    if isinstance(value, dict):
        try:
            return float(value.get("seconds", 0) or 0) + float(value.get("nanos", 0) or 0) / 1e9
        except (TypeError, ValueError):
            return None
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    if not isinstance(value, str):
        return None
    m = _DURATION.match(value.strip())
    if not m:
        return None
    return float(m.group(1)) * {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, None: 1.0}[m.group(2)]


def _text(value: object) -> str:
    if isinstance(value, dict):
        secs = duration_seconds(value)
        return f"{secs:g}s" if secs is not None else json.dumps(value)
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _setting(m: Map | dict[str, Any] | None, key: str, path: str) -> Setting | None:
    if not isinstance(m, dict) or key not in m or m[key] is None:
        return None
    line = m.at(key)[0] if isinstance(m, Map) else None
    return Setting(_text(m[key]), path if line else None, line, False)


def _where(m: object, path: str) -> tuple[str | None, int | None]:
    return (path, m.line) if isinstance(m, Map) and m.line else (None, None)


def _maps(value: object) -> Iterator[Any]:
    """The mappings of a repeated field; one mapping where a list is expected is read as a list
    of one (Envoy's YAML loader takes it: configs/google-vrp/envoy-edge.yaml writes its
    ``clusters:`` so)."""
    if isinstance(value, dict):
        yield value
    elif isinstance(value, list):
        for item in value:
            if isinstance(item, dict):
                yield item


# -- what the document holds -------------------------------------------------------------------

def _socket_address(addr: object) -> tuple[str, str | None, int | None, str | None]:
    if not isinstance(addr, dict):
        return "?", None, None, None
    pipe = addr.get("pipe")
    if isinstance(pipe, dict) and pipe.get("path"):
        return str(pipe["path"]), None, None, str(pipe["path"])
    sa = addr.get("socket_address") or addr.get("socketAddress")
    if not isinstance(sa, dict):
        return "?", None, None, None
    host = str(sa.get("address", ""))
    port = sa.get("port_value", sa.get("portValue"))
    try:
        p = int(port) if port is not None else None
    except (TypeError, ValueError):
        p = None
    shown = f"[{host}]" if ":" in host else host
    return (f"{shown}:{p}" if p is not None else shown), host, p, None


def _endpoints(assignment: object, path: str) -> list[Endpoint]:
    out: list[Endpoint] = []
    if not isinstance(assignment, dict):
        return out
    for locality in _maps(assignment.get("endpoints")):
        for lb in _maps(locality.get("lb_endpoints")):
            ep = lb.get("endpoint")
            if not isinstance(ep, dict):
                continue
            address, host, port, unix = _socket_address(ep.get("address"))
            # the line of the address itself (socket_address / pipe), else the endpoint's
            addr = ep.get("address")
            inner = next((addr[k] for k in ("socket_address", "socketAddress", "pipe")
                          if isinstance(addr, dict) and isinstance(addr.get(k), dict)), ep)
            file, line = _where(inner, path)
            if line is None:
                file, line = _where(ep, path)
            out.append(Endpoint(address, host, port, unix, file, line))
    return out


def _http_options(c: Map | dict[str, Any]) -> Map | dict[str, Any] | None:
    """The mapping whose ``common_http_protocol_options`` applies to the cluster's upstream
    connections: the typed extension options (cluster.proto typed_extension_protocol_options,
    keyed ``envoy.extensions.upstreams.http.v3.HttpProtocolOptions``), else the deprecated field
    of the cluster itself."""
    typed = c.get("typed_extension_protocol_options")
    options = typed.get(HTTP_OPTIONS) if isinstance(typed, dict) else None
    if isinstance(options, dict):
        return options
    return c if "common_http_protocol_options" in c else None


def _cluster(c: Map | dict[str, Any], path: str, eds: dict[str, object]) -> Cluster:
    name = str(c.get("name", "?"))
    file, line = _where(c, path)
    kind = str(c.get("type", "EDS" if "eds_cluster_config" in c else "STATIC"))
    assignment = c.get("load_assignment") or eds.get(name) or eds.get(
        str((c.get("eds_cluster_config") or {}).get("service_name", "")) if isinstance(
            c.get("eds_cluster_config"), dict) else "")
    cl = Cluster(name, file, line, kind, _endpoints(assignment, path),
                 node=c if isinstance(c, Map) else None)
    if (s := _setting(c, "connect_timeout", path)) is not None:
        cl.settings["connect_timeout"] = s
    holder = _http_options(c)
    if holder is not None:
        cl.http_options = holder if isinstance(holder, Map) else None
        common = holder.get("common_http_protocol_options")
        if (s := _setting(common, "idle_timeout", path)) is not None:
            cl.settings["idle_timeout"] = s
        if (s := _setting(common, "max_response_headers_kb", path)) is not None:
            cl.settings["max_response_headers_kb"] = s
    breakers = c.get("circuit_breakers")
    if isinstance(breakers, dict):
        for th in _maps(breakers.get("thresholds")):
            if str(th.get("priority", "DEFAULT")) != "DEFAULT":
                continue  # the first DEFAULT thresholds apply (circuit_breaker.proto)
            for key in ("max_connections", "max_pending_requests", "max_requests", "max_retries"):
                if (s := _setting(th, key, path)) is not None:
                    cl.settings[key] = s
            break
    if "outlier_detection" in c:
        od_line = c.at("outlier_detection")[0] if isinstance(c, Map) else None
        cl.outlier_detection = Setting("present", path if od_line else None, od_line, False)
    cl.health_checks = len(list(_maps(c.get("health_checks"))))
    cl.tls = isinstance(c.get("transport_socket"), dict) or bool(c.get("transport_socket_matches"))
    return cl


def _routes(rc: Map | dict[str, Any], path: str) -> list[Route]:
    out: list[Route] = []
    rc_name = str(rc.get("name", ""))
    for vh in _maps(rc.get("virtual_hosts")):
        vh_retry = vh.get("retry_policy")
        for r in _maps(vh.get("routes")):
            action = r.get("route")
            if not isinstance(action, dict):
                continue  # a redirect or a direct response: no cluster
            match = r.get("match") if isinstance(r.get("match"), dict) else {}
            prefix = match.get("prefix")
            exact = match.get("path")
            spelled = (f"prefix {prefix}" if prefix is not None else f"path {exact}" if exact is not None
                       else next((f"{k} {v}" for k, v in match.items() if isinstance(v, str)), "any"))
            if isinstance(action.get("weighted_clusters"), dict):
                weighted = action["weighted_clusters"].get("clusters")
                clusters = tuple(str(w.get("name")) for w in _maps(weighted))
            elif action.get("cluster") is not None:
                clusters = (str(action["cluster"]),)
            else:
                clusters = ()  # cluster_header / cluster_specifier_plugin: chosen per request
            file, line = _where(r, path)
            route = Route(spelled, clusters, str(vh.get("name", "")), rc_name, file, line,
                          action=action if isinstance(action, Map) else None,
                          prefix=str(prefix) if prefix is not None else None,
                          path=str(exact) if exact is not None else None)
            for key in ("timeout", "idle_timeout"):
                if (s := _setting(action, key, path)) is not None:
                    route.settings[key] = s
            retry = action.get("retry_policy") if isinstance(action.get("retry_policy"), dict) else vh_retry
            if isinstance(retry, dict):
                route.retry_on = _setting(retry, "retry_on", path) or Setting("", *_where(retry, path))
                route.num_retries = _setting(retry, "num_retries", path) or Setting(
                    DEFAULTS["num_retries"][0], None, None, True)
                if (s := _setting(retry, "per_try_timeout", path)) is not None:
                    route.settings["per_try_timeout"] = s
            out.append(route)
    return out


def _hcms(listener: dict[str, Any]) -> Iterator[dict[str, Any]]:
    chains = list(_maps(listener.get("filter_chains")))
    if isinstance(listener.get("default_filter_chain"), dict):
        chains.append(listener["default_filter_chain"])
    for chain in chains:
        for flt in _maps(chain.get("filters")):
            typed = flt.get("typed_config")
            kind = str(typed.get("@type", "")) if isinstance(typed, dict) else ""
            if (flt.get("name") == HCM or kind.endswith("HttpConnectionManager")) and isinstance(typed, dict):
                yield typed


def looks_like_dump(doc: object) -> bool:
    """An admin ``/config_dump``: ``configs`` whose entries are typed ``...ConfigDump``."""
    return isinstance(doc, dict) and isinstance(doc.get("configs"), list) and any(
        isinstance(c, dict) and str(c.get("@type", "")).endswith("ConfigDump") for c in doc["configs"])


def _unwrap(items: object, key: str) -> list[dict[str, Any]]:
    """The resources of a dump's list (``static_clusters: [{cluster: ...}]``,
    ``dynamic_listeners: [{active_state: {listener: ...}}]``)."""
    out = []
    for item in _maps(items):
        inner = item.get(key)
        if inner is None and isinstance(item.get("active_state"), dict):
            inner = item["active_state"].get(key)
        if isinstance(inner, dict):
            out.append(inner)
    return out


def build(doc: object, path: str, text: str) -> EnvoyConfig:
    """The config of a parsed document (a bootstrap or a config dump)."""
    cfg = EnvoyConfig(main_file=path, texts={path: text}, json=text.lstrip().startswith("{"))
    listeners: list[dict[str, Any]] = []
    clusters: list[dict[str, Any]] = []
    route_configs: list[dict[str, Any]] = []
    eds: dict[str, object] = {}
    bootstraps: list[dict[str, Any]] = []
    if looks_like_dump(doc):
        assert isinstance(doc, dict)
        cfg.source = "config_dump"
        for part in _maps(doc["configs"]):
            kind = str(part.get("@type", "")).rsplit(".", 1)[-1]
            if kind == "BootstrapConfigDump" and isinstance(part.get("bootstrap"), dict):
                bootstraps.append(part["bootstrap"])
            elif kind == "ClustersConfigDump":
                for key in ("static_clusters", "dynamic_active_clusters"):
                    clusters += _unwrap(part.get(key), "cluster")
            elif kind == "ListenersConfigDump":
                for key in ("static_listeners", "dynamic_listeners"):
                    listeners += _unwrap(part.get(key), "listener")
            elif kind == "RoutesConfigDump":
                for key in ("static_route_configs", "dynamic_route_configs"):
                    route_configs += _unwrap(part.get(key), "route_config")
            elif kind == "EndpointsConfigDump":
                for key in ("static_endpoint_configs", "dynamic_endpoint_configs"):
                    for ep in _unwrap(part.get(key), "endpoint_config"):
                        eds[str(ep.get("cluster_name", ""))] = ep
    elif isinstance(doc, dict):
        bootstraps.append(doc)
    else:
        raise InputError(f"{path}: not an Envoy bootstrap or /config_dump (no mapping at the top)")
    for boot in bootstraps:
        static = boot.get("static_resources")
        if isinstance(static, dict):
            if not listeners:
                listeners += list(_maps(static.get("listeners")))
            if not clusters:
                clusters += list(_maps(static.get("clusters")))
        admin = boot.get("admin")
        if isinstance(admin, dict) and cfg.admin is None:
            cfg.admin = _socket_address(admin.get("address"))[0]
        if boot.get("dynamic_resources"):
            cfg.problems.append("dynamic_resources (xDS): what the control plane sends is not in this "
                                "file; a saved /config_dump holds it (curl -s ADMIN/config_dump)")
    by_name = {str(rc.get("name", "")): rc for rc in route_configs}
    seen_rc: set[int] = set()
    for lst in listeners:
        address = _socket_address(lst.get("address"))[0]
        file, line = _where(lst, path)
        li = Listener(str(lst.get("name", address)), address, file, line)
        for hcm in _hcms(lst):
            rc = hcm.get("route_config")
            if not isinstance(rc, dict) and isinstance(hcm.get("rds"), dict):
                rc = by_name.get(str(hcm["rds"].get("route_config_name", "")))
                if rc is None:
                    cfg.problems.append(f"listener {li.name}: routes from RDS "
                                        f"({hcm['rds'].get('route_config_name')}) are not in this file")
            if isinstance(rc, dict) and id(rc) not in seen_rc:
                seen_rc.add(id(rc))
                li.route_configs.append(str(rc.get("name", "")))
                cfg.routes += _routes(rc, path)
        cfg.listeners.append(li)
    for rc in route_configs:  # route configurations no listener of the dump names
        if id(rc) not in seen_rc:
            cfg.routes += _routes(rc, path)
    cfg.clusters = [_cluster(c, path, eds) for c in clusters]
    return cfg


def _count(doc: object) -> int:
    """Nodes of the document, up to ``MAX_NODES`` + 1 (a YAML alias is walked each time)."""
    n, todo = 0, [doc]
    while todo and n <= MAX_NODES:
        item = todo.pop()
        n += 1
        if isinstance(item, dict):
            todo += item.values()
        elif isinstance(item, list):
            todo += item
    return n


def parse_envoy_text(text: str, path: str = "envoy.yaml") -> EnvoyConfig:
    doc = parse_document(text, path)
    if _count(doc) > MAX_NODES:
        raise InputError(f"{path}: more than {MAX_NODES:,} values once its YAML aliases are expanded: "
                         "not read")
    return build(doc, path, text)


def load_envoy(path: str) -> EnvoyConfig:
    """Read (through the config bound: ``parsers.configread``) and parse ``path``; an
    ``OSError`` is the caller's to report."""
    return parse_envoy_text(ConfigBudget().read(path), path)
