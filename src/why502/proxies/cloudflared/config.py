"""A cloudflared ``config.yml`` (a locally managed Cloudflare Tunnel) read as a file: the tunnel,
its ingress rules (``hostname``/``path`` -> ``service``) and the ``originRequest`` settings each
rule's requests get, each with its file:line.

Sources (cloudflare/cloudflared at d1df798, Apache-2.0):

- The file's keys (``config/configuration.go``): ``tunnel``, ``credentials-file``, ``ingress``
  (a list of ``UnvalidatedIngressRule``: ``hostname``, ``path``, ``service``, ``originRequest``),
  a top-level ``originRequest`` and ``warp-routing``.  cloudflared looks for ``config.yml`` /
  ``config.yaml`` in ``~/.cloudflared``, ``~/.cloudflare-warp``, ``~/cloudflare-warp``,
  ``/etc/cloudflared`` and ``/usr/local/etc/cloudflared`` (``DefaultConfigFiles``,
  ``DefaultConfigSearchDirectories``).
- A rule's settings (``ingress/ingress.go`` ``validateIngress``: ``cfg := setConfig(defaults,
  r.OriginRequest)``; ``ingress/config.go`` ``setConfig``): the rule's own ``originRequest`` key
  by key over the top-level one, over cloudflared's defaults (``ingress/config.go``, lines 15-24):
  ``connectTimeout`` 30s, ``tlsTimeout`` 10s, ``tcpKeepAlive`` 30s, ``keepAliveTimeout`` 1m30s,
  ``keepAliveConnections`` 100.  They become the origin's Go ``http.Transport``
  (``ingress/origin_service.go`` ``newHTTPTransport``): ``IdleConnTimeout`` = keepAliveTimeout,
  ``MaxIdleConnsPerHost`` = keepAliveConnections, ``TLSHandshakeTimeout`` = tlsTimeout, the
  dialer's ``Timeout`` = connectTimeout, ``InsecureSkipVerify`` = noTLSVerify; no
  ``ResponseHeaderTimeout`` is set, so cloudflared waits for a slow origin's answer as long as
  Cloudflare's edge keeps the request (its 524 after 100 s).
- A service (``validateIngress``): ``unix:PATH`` / ``unix+tls:PATH``, ``http_status:NNN`` (the
  rule answers that status itself), ``hello_world``, ``bastion``, ``socks-proxy``, or a URL with a
  scheme and a host and no path (http/https/ws/wss proxied as HTTP; tcp/ssh/rdp/... carried over a
  WebSocket).  The last rule must match every request (no ``hostname`` other than ``*``, no
  ``path``) and only the last may (``validateHostname``: ``errLastRuleNotCatchAll``,
  ``ruleShouldNotBeCatchAllError``): otherwise cloudflared refuses the file.
- Durations are Go's (``CustomDuration`` unmarshals with ``time.ParseDuration``: ``30s``,
  ``1m30s``, ``500ms``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from why502.errors import InputError
from why502.facts.setting import Setting
from why502.parsers.configread import ConfigBudget
from why502.parsers.yamlmap import Map, load_positioned
from why502.parsers.yamlmap import as_dict as _dict
from why502.parsers.yamlmap import as_list as _list
from why502.parsers.yamlmap import line_of as _line

DEFAULTS: dict[str, str] = {
    "connectTimeout": "30s", "tlsTimeout": "10s", "tcpKeepAlive": "30s",
    "keepAliveTimeout": "1m30s", "keepAliveConnections": "100"}
"""``originRequest`` unset: cloudflared's defaults (ingress/config.go, lines 15-24)."""
SETTINGS = (*DEFAULTS, "noTLSVerify", "originServerName", "caPool", "noHappyEyeballs", "httpHostHeader")
"""The ``originRequest`` keys read here (config/configuration.go ``OriginRequestConfig``)."""

#: the keys of a rule cloudflared reads (config/configuration.go ``UnvalidatedIngressRule``); any
#: other is dropped by its YAML decoder, which only warns on a strict second read (``ReadConfigFile``)
RULE_KEYS = ("hostname", "path", "service", "originRequest")
#: the TLS settings of ``originRequest`` by every spelling people write beside a rule's keys: the
#: key itself, and the command-line flag of the same setting (ingress/config.go ``NoTLSVerifyFlag``
#: "no-tls-verify", ``OriginServerNameFlag``, ``MatchSNIToHostFlag``; tlsconfig ``OriginCAPoolFlag``)
TLS_KEYS = {"noTLSVerify": "noTLSVerify", "no-tls-verify": "noTLSVerify",
            "originServerName": "originServerName", "origin-server-name": "originServerName",
            "matchSNItoHost": "matchSNItoHost", "match-sni-to-host": "matchSNItoHost",
            "caPool": "caPool", "origin-ca-pool": "caPool"}

#: the services that are no origin address (ingress.go ``validateIngress``)
BUILT_IN = ("hello_world", "hello-world", "bastion", "socks-proxy")
_SCHEME_PORTS = {"http": 80, "ws": 80, "https": 443, "wss": 443, "ssh": 22, "rdp": 3389, "smb": 445}


@dataclass(frozen=True)
class Rule:
    """One ingress rule, ``index`` counted from 0 as cloudflared's log says it (``ingressRule=``)."""

    index: int
    hostname: str
    path: str
    service: str
    line: int | None
    node: Map | None
    settings: dict[str, Setting]  # the effective originRequest (Setting.is_default: cloudflared's)
    own: Map | None  # the rule's own originRequest mapping, if written

    @property
    def catch_all(self) -> bool:
        """Matches every request (``validateHostname``: no hostname or ``*``, and no path)."""
        return self.hostname in ("", "*") and not self.path

    @property
    def service_line(self) -> int | None:
        """The line of its ``service:`` (the rule's own line when not written on one)."""
        if self.node is not None and "service" in self.node.values_at:
            return self.node.values_at["service"][0]
        return self.line

    @property
    def status(self) -> int | None:
        """The status an ``http_status:NNN`` rule answers itself."""
        m = re.fullmatch(r"http_status:(\d{3})", self.service.strip())
        return int(m.group(1)) if m else None

    @property
    def unix_path(self) -> str | None:
        m = re.fullmatch(r"unix(?:\+tls)?:(.+)", self.service.strip())
        return m.group(1) if m else None

    @property
    def scheme(self) -> str | None:
        if self.unix_path is not None:
            return "https" if self.service.startswith("unix+tls:") else "http"
        return urlsplit(self.service).scheme or None if "://" in self.service else None

    @property
    def host_port(self) -> tuple[str | None, int | None]:
        """The origin's host and port (the scheme's port when none is written)."""
        if "://" not in self.service:
            return None, None
        parts = urlsplit(self.service)
        try:
            port = parts.port
        except ValueError:
            return parts.hostname, None
        return parts.hostname, port or _SCHEME_PORTS.get(parts.scheme)

    @property
    def key(self) -> str | None:
        """The origin as the Go errors of cloudflared's log name it (``host:port``, ``[v6]:port``),
        ``unix:PATH`` for a socket; None for a rule that reaches no origin."""
        if (path := self.unix_path) is not None:
            return f"unix:{path}"
        host, port = self.host_port
        if not host:
            return None
        host = f"[{host}]" if ":" in host else host
        return f"{host}:{port}" if port else host

    @property
    def route(self) -> str:
        """How a report names the rule: its hostname and path, or ``catch-all``."""
        if self.catch_all:
            return "catch-all"
        return (self.hostname or "*") + (self.path if self.path else "")


@dataclass
class CloudflaredConfig:
    path: str
    text: str
    tunnel: str | None = None
    credentials: str | None = None
    rules: list[Rule] = field(default_factory=list)
    defaults: Map | None = None  # the top-level originRequest, if written
    root: Map | None = None
    problems: list[str] = field(default_factory=list)

    @property
    def files(self) -> list[str]:
        return [self.path]

    def origins(self) -> list[Rule]:
        """The rules that send requests to an origin (not ``http_status:``, ``hello_world``...)."""
        return [r for r in self.rules if r.key is not None]


# a Go duration's parts (``1m30s``); a number starts a run of digits, as in
# ``proxies/caddy/config.py``'s ``_GO_DURATION`` (a start inside one read the run to its end)
_GO_DURATION = re.compile(r"(?<!\d)(\d+(?:\.\d+)?)(ns|us|µs|ms|s|m|h)")


def duration_seconds(value: str | None) -> float | None:
    """A Go duration (``30s``, ``1m30s``, ``500ms``, ``0``) in seconds; None for what
    ``time.ParseDuration`` would refuse (a bare number other than 0 has no unit)."""
    if value is None:
        return None
    text = str(value).strip()
    if text == "0":
        return 0.0
    units = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0}
    parts = _GO_DURATION.findall(text)
    if not parts or "".join(n + u for n, u in parts) != text:
        return None
    return sum(float(n) * units[u] for n, u in parts)


def go_duration(seconds: float) -> str:
    """``seconds`` as cloudflared's config writes a duration (``90s``, ``500ms``)."""
    return f"{int(seconds)}s" if seconds == int(seconds) else f"{int(seconds * 1000)}ms"


def _settings(node: Map | None, path: str) -> dict[str, Setting]:
    out: dict[str, Setting] = {}
    for key in SETTINGS:
        if node is not None and key in node and not isinstance(node[key], (dict, list)):
            value = node[key]
            text = str(value).lower() if isinstance(value, bool) else str(value)
            out[key] = Setting(text, path, node.values_at[key][0], False)
    return out


def _effective(top: dict[str, Setting], own: dict[str, Setting]) -> dict[str, Setting]:
    """``setConfig``: the rule's keys over the top-level ones over cloudflared's defaults."""
    out = {k: Setting(v, None, None, True) for k, v in DEFAULTS.items()}
    out.update(top)
    out.update(own)
    return out


def build(doc: object, path: str, text: str) -> CloudflaredConfig:
    root = doc if isinstance(doc, Map) else None
    cfg = CloudflaredConfig(path=path, text=text, root=root)
    top = _dict(doc)
    if not top:
        cfg.problems.append(f"{path}: not a YAML mapping: not a cloudflared config")
        return cfg
    cfg.tunnel = str(top["tunnel"]) if top.get("tunnel") is not None else None
    cfg.credentials = str(top["credentials-file"]) if top.get("credentials-file") is not None else None
    defaults = top.get("originRequest")
    cfg.defaults = defaults if isinstance(defaults, Map) else None
    top_settings = _settings(cfg.defaults, path)
    for i, raw in enumerate(_list(top.get("ingress"))):
        r = _dict(raw)
        own = r.get("originRequest")
        own_map = own if isinstance(own, Map) else None
        cfg.rules.append(Rule(
            index=i, hostname=str(r.get("hostname") or ""), path=str(r.get("path") or ""),
            service=str(r.get("service") or ""), line=_line(raw), node=raw if isinstance(raw, Map) else None,
            settings=_effective(top_settings, _settings(own_map, path)), own=own_map))
    if not cfg.rules:
        cfg.problems.append(f"{path}: no ingress rules: cloudflared routes every request by the "
                            "--url flag, or answers 503 (ingress.go ErrNoIngressRulesCLI)")
    return cfg


def parse_cloudflared_text(text: str, path: str = "config.yml") -> CloudflaredConfig:
    return build(load_positioned(text, path, "cloudflared config"), path, text)


def load_cloudflared(path: str) -> CloudflaredConfig:
    """``Hooks.load_config``: the file read through the one config bound every proxy's reader
    uses (``parsers.configread``), or a one-line ``InputError``."""
    cfg = parse_cloudflared_text(ConfigBudget().read(path), path)
    if not cfg.rules and cfg.tunnel is None and cfg.credentials is None:
        raise InputError(f"{path}: not a readable cloudflared config: no tunnel, credentials-file "
                         "or ingress rules in it")
    return cfg


def localhost(host: str | None) -> bool:
    return host is not None and host.lower() in ("localhost", "localhost.")
