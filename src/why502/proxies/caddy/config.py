"""Caddy's config as the cause model needs it, read from its JSON (what ``caddy adapt`` prints
for a Caddyfile, a JSON config file, or a saved admin ``GET /config/`` answer: the same shape,
https://caddyserver.com/docs/json/).

Each ``reverse_proxy`` handler of ``apps.http.servers.*.routes`` (``subroute`` handlers walked,
so ``handle``/``route``/``handle_path`` blocks count) is one upstream group; its ``upstreams``'
``dial`` addresses are the targets.  The settings are named as the Caddyfile names them, each a
``Setting`` with file:line (the Caddyfile's subdirective when the config came from one, joined
by the handler's upstream list: :func:`join_lines`), or Caddy's default with ``is_default``.
The defaults, from Caddy's source (modules/caddyhttp/reverseproxy/, v2.10):

- ``dial_timeout`` 3s: httptransport.go ``NewTransport``: ``if h.DialTimeout == 0 {
  h.DialTimeout = caddy.Duration(3 * time.Second) }``;
- ``response_header_timeout``, ``read_timeout``, ``write_timeout``: none (0: Go's
  ``http.Transport`` waits without limit), httptransport.go ``ResponseHeaderTimeout``,
  ``ReadTimeout``, ``WriteTimeout`` have no default;
- ``keepalive`` (the idle time of a kept upstream connection) 2m: httptransport.go ``if
  h.KeepAlive.IdleConnTimeout == 0 { ... 2 * time.Minute }``; ``keepalive_idle_conns_per_host``
  32;
- ``lb_try_duration`` 0 and ``lb_retries`` 0: "By default, retries are disabled"
  (reverseproxy.go ``LoadBalancing``); ``lb_try_interval`` 250ms when ``lb_try_duration`` is
  set (``Provision``: ``h.LoadBalancing.TryInterval = caddy.Duration(250 * time.Millisecond)``);
- passive health checks are off unless ``fail_duration`` > 0 (healthchecks.go
  ``PassiveHealthChecks.FailDuration``: "enables passive health checking. Default is 0"),
  ``max_fails`` 1; active checks run only with a ``health_uri``/``health_port``, every
  ``health_interval`` 30s with a ``health_timeout`` of 5s (healthchecks.go
  ``ActiveHealthChecks``).

Caddy answers 502 for a proxy error, 504 when the error is a timeout and 503 ``no upstreams
available`` (reverseproxy.go ``statusError``, ``errNoUpstream``).
"""

from __future__ import annotations

import fnmatch
import json
import re
from dataclasses import dataclass, field
from typing import Any

from why502.facts.net import hostport
from why502.facts.setting import Setting
from why502.proxies.caddy.caddyfile import ProxyDirective, proxy_directives

# Caddyfile name -> (JSON path inside the handler, default as Caddy's source gives it or None)
SETTINGS: dict[str, tuple[tuple[str, ...], str | None]] = {
    "dial_timeout": (("transport", "dial_timeout"), "3s"),
    "response_header_timeout": (("transport", "response_header_timeout"), None),
    "read_timeout": (("transport", "read_timeout"), None),
    "write_timeout": (("transport", "write_timeout"), None),
    "keepalive": (("transport", "keep_alive", "idle_timeout"), "2m"),
    "lb_try_duration": (("load_balancing", "try_duration"), "0s"),
    "lb_retries": (("load_balancing", "retries"), "0"),
    "lb_try_interval": (("load_balancing", "try_interval"), "250ms"),
    "fail_duration": (("health_checks", "passive", "fail_duration"), "0s"),
    "max_fails": (("health_checks", "passive", "max_fails"), "1"),
    "health_uri": (("health_checks", "active", "uri"), None),
    "health_interval": (("health_checks", "active", "interval"), "30s"),
    "health_timeout": (("health_checks", "active", "timeout"), "5s"),
}
TRANSPORT_SETTINGS = frozenset({"dial_timeout", "response_header_timeout", "read_timeout",
                                "write_timeout", "keepalive"})

# a number starts a run of digits (a start inside one finds what the run's first does, and each
# read the run to its end: 46 s for 32 KB of digits); tests/project/test_linear_regexes.py
_GO_DURATION = re.compile(r"(?<!\d)(\d+(?:\.\d+)?)(ns|us|µs|ms|s|m|h|d)")
_UNIT = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}


def duration_seconds(value: object) -> float | None:
    """A ``caddy.Duration`` in seconds: a JSON integer of nanoseconds, or a Go duration string
    (``1m30s``, ``500ms``) with Caddy's extra ``d`` unit (caddy.go ``ParseDuration``)."""
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        return float(value) / 1e9
    if not isinstance(value, str) or not value:
        return None
    text = value.strip()
    if text.isdigit():
        return int(text) / 1e9 if len(text) > 3 else float(text)
    parts = _GO_DURATION.findall(text)
    if not parts or "".join(a + b for a, b in parts) != text.lstrip("+"):
        return None
    return sum(float(n) * _UNIT[u] for n, u in parts)


def show_duration(value: object) -> str:
    """A JSON duration as the Caddyfile writes it (``30s``, ``2m``, ``1.5s``)."""
    sec = duration_seconds(value)
    if sec is None:
        return str(value)
    for unit, size in (("h", 3600), ("m", 60), ("s", 1)):
        if sec >= size and sec % size == 0:
            return f"{int(sec // size)}{unit}"
    return f"{round(sec * 1000)}ms"


@dataclass(frozen=True)
class Upstream:
    dial: str
    file: str | None = None
    line: int | None = None

    @property
    def unix_path(self) -> str | None:
        return self.dial[len("unix/"):] if self.dial.startswith("unix/") else None

    @property
    def host_port(self) -> tuple[str | None, int | None]:
        if self.unix_path is not None:
            return None, None
        host, _, port = self.dial.rpartition(":")
        return host.strip("[]") or None, int(port) if port.isdigit() else None

    @property
    def key(self) -> str:
        """The identity key of the cause model: ``host:port``, ``unix:/path``."""
        if self.unix_path is not None:
            return f"unix:{self.unix_path}"
        host, port = self.host_port
        return hostport(host, port) if port else self.dial


MatchSet = dict[str, Any]


@dataclass
class Handler:
    """One ``reverse_proxy`` handler: an upstream group."""

    server: str
    listen: tuple[str, ...]
    chain: tuple[tuple[MatchSet, ...], ...]  # the match lists of the routes enclosing it
    upstreams: tuple[Upstream, ...]
    raw: dict[str, Any]
    kind: str = "proxy"  # proxy | fastcgi (transport protocol)
    scheme: str = "http"
    file: str | None = None
    line: int | None = None
    settings: dict[str, Setting] = field(default_factory=dict)
    name: str = ""

    @property
    def directive(self) -> str:
        """The Caddyfile directive that made it: ``php_fastcgi`` proxies with the fastcgi
        transport, ``reverse_proxy`` otherwise."""
        return "php_fastcgi" if self.kind == "fastcgi" else "reverse_proxy"

    @property
    def hosts(self) -> tuple[str, ...]:
        return tuple(h for ms in self.chain for m in ms for h in m.get("host", ()) if isinstance(h, str))

    @property
    def paths(self) -> tuple[str, ...]:
        return tuple(p for ms in self.chain for m in ms for p in m.get("path", ()) if isinstance(p, str))

    def raw_value(self, name: str) -> object:
        obj: object = self.raw
        for part in SETTINGS[name][0]:
            if not isinstance(obj, dict):
                return None
            obj = obj.get(part)
        return obj

    def seconds(self, name: str) -> float | None:
        """The setting's value in seconds (None: no limit, or not a time)."""
        s = self.settings.get(name)
        return duration_seconds(s.value) if s is not None else None


@dataclass
class CaddyConfig:
    main_file: str
    source: str  # caddyfile (adapted by caddy), json, admin
    handlers: list[Handler]
    servers: dict[str, tuple[str, ...]]  # server name -> listen addresses
    texts: dict[str, str]
    admin: str | None = "localhost:2019"  # the admin endpoint, None when disabled
    access_logs: list[str] = field(default_factory=list)
    error_logs: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)

    @property
    def files(self) -> list[str]:
        return list(self.texts)

    def listens(self) -> tuple[str, ...]:
        out = []
        for addrs in self.servers.values():
            for a in addrs:
                host, _, port = a.rpartition(":")
                if port.isdigit():
                    out.append(hostport(host.strip("[]") or "0.0.0.0", int(port)))  # noqa: S104
        return tuple(out)

    def route(self, host: str | None, uri: str | None) -> Handler | None:
        """The handler a request for ``host`` (the Host header, with its port) and ``uri`` goes
        to: the servers listening on that port, their routes in order, the first handler whose
        enclosing routes all match (host and path matchers; any other matcher is taken as
        matching)."""
        port = None
        name = host or ""
        if name and not name.endswith("]") and ":" in name:
            name, _, p = name.rpartition(":")
            port = p if p.isdigit() else None
        name = name.strip("[]").lower()
        path = (uri or "/").split("?", 1)[0]
        candidates = [h for h in self.handlers if _listens_on(h.listen, port)]
        for h in candidates or self.handlers:
            if all(_route_matches(ms, name, path) for ms in h.chain):
                return h
        return None


def _listens_on(listen: tuple[str, ...], port: str | None) -> bool:
    if port is None:
        return True
    return any(a.rpartition(":")[2] == port for a in listen)


def _route_matches(match_sets: tuple[MatchSet, ...], host: str, path: str) -> bool:
    """A route's ``match``: a list of matcher sets, any of which may match (OR), each set's
    matchers all (AND) (caddyhttp/routes.go ``MatcherSets.AnyMatch``)."""
    if not match_sets:
        return True
    return any(_set_matches(m, host, path) for m in match_sets)


def _set_matches(m: MatchSet, host: str, path: str) -> bool:
    hosts = m.get("host")
    if isinstance(hosts, list) and host and not any(_host_matches(str(h), host) for h in hosts):
        return False
    paths = m.get("path")
    return not (isinstance(paths, list) and not any(_path_matches(str(p), path) for p in paths))


def _host_matches(pattern: str, host: str) -> bool:
    """``MatchHost``: case-insensitive, ``*`` one label (caddyhttp/matchers.go)."""
    p = pattern.lower()
    if "*" not in p:
        return p == host
    pl, hl = p.split("."), host.split(".")
    return len(pl) == len(hl) and all(a in ("*", b) for a, b in zip(pl, hl, strict=True))


def _path_matches(pattern: str, path: str) -> bool:
    """``MatchPath``: case-insensitive; ``/x*`` a prefix, ``*x`` a suffix, ``*x*`` a substring,
    else ``path.Match`` globbing, which is exact for a pattern without ``*`` (caddyhttp/
    matchers.go ``MatchPath.Match``)."""
    p, s = pattern.lower(), path.lower()
    if p == "*":
        return True
    if p.startswith("*") and p.endswith("*") and len(p) > 1:
        return p[1:-1] in s
    if p.endswith("*") and "*" not in p[:-1]:
        return s.startswith(p[:-1])
    if p.startswith("*") and "*" not in p[1:]:
        return s.endswith(p[1:])
    return fnmatch.fnmatchcase(s, p)


def _walk_routes(routes: object, chain: tuple[tuple[MatchSet, ...], ...], server: str,
                 listen: tuple[str, ...], out: list[Handler]) -> None:
    if not isinstance(routes, list):
        return
    for route in routes:
        if not isinstance(route, dict):
            continue
        match = route.get("match")
        sets = tuple(m for m in match if isinstance(m, dict)) if isinstance(match, list) else ()
        here = (*chain, sets)
        for h in route.get("handle") or ():
            if not isinstance(h, dict):
                continue
            if h.get("handler") == "subroute":
                _walk_routes(h.get("routes"), here, server, listen, out)
            elif h.get("handler") == "reverse_proxy":
                ups = tuple(Upstream(str(u["dial"])) for u in h.get("upstreams") or ()
                            if isinstance(u, dict) and isinstance(u.get("dial"), str))
                transport = h.get("transport") if isinstance(h.get("transport"), dict) else {}
                protocol = transport.get("protocol", "http") if transport else "http"
                scheme = "https" if transport and transport.get("tls") is not None else "http"
                out.append(Handler(server, listen, here, ups, h,
                                   kind="fastcgi" if protocol == "fastcgi" else "proxy", scheme=scheme))


def from_json(doc: object, main_file: str, source: str, texts: dict[str, str]) -> CaddyConfig:
    """The model of a Caddy JSON config (``caddy adapt``'s output, a JSON file, ``/config/``)."""
    handlers: list[Handler] = []
    servers: dict[str, tuple[str, ...]] = {}
    problems: list[str] = []
    if not isinstance(doc, dict):
        return CaddyConfig(main_file, source, [], {}, texts, problems=["not a Caddy JSON config"])
    apps = doc.get("apps") if isinstance(doc.get("apps"), dict) else {}
    http = apps.get("http") if isinstance(apps, dict) and isinstance(apps.get("http"), dict) else {}
    for name, srv in (http.get("servers") or {}).items() if isinstance(http, dict) else ():
        if not isinstance(srv, dict):
            continue
        listen = tuple(str(a) for a in srv.get("listen") or () if isinstance(a, str))
        servers[str(name)] = listen
        _walk_routes(srv.get("routes"), (), str(name), listen, handlers)
    admin: dict[str, Any] = doc["admin"] if isinstance(doc.get("admin"), dict) else {}
    admin_addr = None if admin.get("disabled") else str(admin.get("listen") or "localhost:2019")
    cfg = CaddyConfig(main_file, source, handlers, servers, texts, admin=admin_addr,
                      problems=problems)
    _logs(doc, cfg)
    for h in handlers:
        h.settings = _settings(h, None)
    _names(handlers)
    return cfg


def _logs(doc: dict[str, Any], cfg: CaddyConfig) -> None:
    """The files ``logging.logs`` writes: a log that includes ``http.log.access*`` is an access
    log, any other (the default logger: the error lines) an error log
    (https://caddyserver.com/docs/json/logging/logs/)."""
    logging = doc.get("logging") if isinstance(doc.get("logging"), dict) else {}
    logs = logging.get("logs") if isinstance(logging, dict) else None
    for log in (logs or {}).values() if isinstance(logs, dict) else ():
        if not isinstance(log, dict):
            continue
        writer = log.get("writer") if isinstance(log.get("writer"), dict) else {}
        if not writer or writer.get("output") != "file" or not isinstance(writer.get("filename"), str):
            continue
        include = log.get("include") or []
        access = any(isinstance(i, str) and i.startswith("http.log.access") for i in include)
        (cfg.access_logs if access else cfg.error_logs).append(writer["filename"])


def _names(handlers: list[Handler]) -> None:
    """Each group's name: its site and path (``example.com/api/*``), unique in the config."""
    seen: dict[str, int] = {}
    for h in handlers:
        base = (h.hosts[0] if h.hosts else (h.listen[0] if h.listen else h.server)) + (
            h.paths[0] if h.paths else "")
        seen[base] = seen.get(base, 0) + 1
        h.name = base if seen[base] == 1 else f"{base}#{seen[base]}"


def _settings(h: Handler, d: ProxyDirective | None) -> dict[str, Setting]:
    out: dict[str, Setting] = {}
    for name, (_, default) in SETTINGS.items():
        value = h.raw_value(name)
        where = d.settings.get(name) if d is not None else None
        file, line = (d.file, where[1]) if d is not None and where else (None, None)
        if value is None or (value == 0 and name != "lb_retries"):
            if name == "lb_try_interval" and not duration_seconds(h.raw_value("lb_try_duration")):
                default = "0s"
            if default is not None:
                out[name] = Setting(default, None, None, True)
            continue
        if isinstance(value, (int, float)) and name not in ("lb_retries", "max_fails"):
            shown = show_duration(value)
        else:
            shown = str(value)
        out[name] = Setting(shown, file or h.file, line or h.line, False)
    return out


def join_lines(cfg: CaddyConfig, text: str, file: str) -> None:
    """Each handler's Caddyfile ``reverse_proxy`` line and its settings' lines: a handler is the
    directive with the same list of dial addresses (one directive of a site with several
    addresses becomes one handler per server: all point at it)."""
    directives = proxy_directives(text, file)
    by_dials: dict[tuple[str, ...], list[ProxyDirective]] = {}
    for d in directives:
        by_dials.setdefault(d.dials, []).append(d)
    used: dict[tuple[str, ...], int] = {}
    for h in cfg.handlers:
        dials = tuple(u.dial for u in h.upstreams)
        same = by_dials.get(dials)
        if not same:
            continue
        i = used.get(dials, 0)
        used[dials] = i + 1
        d = same[i % len(same)]
        h.file, h.line = file, d.line
        lines = dict(d.upstreams)
        h.upstreams = tuple(Upstream(u.dial, file, lines.get(u.dial, d.line)) for u in h.upstreams)
        h.settings = _settings(h, d)


def json_lines(cfg: CaddyConfig, text: str, file: str) -> None:
    """For a JSON config: each upstream's line is the line of its ``"dial"``."""
    lines = text.splitlines()
    for h in cfg.handlers:
        ups = []
        for u in h.upstreams:
            needle = json.dumps(u.dial)
            ln = next((i + 1 for i, t in enumerate(lines) if '"dial"' in t and needle in t), None)
            ups.append(Upstream(u.dial, file, ln))
        h.upstreams = tuple(ups)
        h.file, h.line = file, ups[0].line if ups else None
        h.settings = _settings(h, None)
