"""Which proxy diagnose is about, and HAProxy's inputs in the shape nginx's take.

``--config FILE`` takes an nginx config or ``nginx -T`` dump, an Apache config or a
``haproxy.cfg``; the kind is detected from the content (``why502.proxies``, the one detector)
unless ``--proxy`` forces it; ``--nginx-conf`` is the same as ``--config FILE --proxy nginx``.  With no
config named, nginx is diagnosed (as before) unless ``--proxy`` names another one.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from why502.app.diagnose.options import DiagnoseOptions
from why502.errors import InputError
from why502.evidence.apache_facts import apache_facts
from why502.evidence.haproxy_facts import haproxy_facts, listens
from why502.evidence.model import GroupFact, TargetFact
from why502.facts.haproxy import ServerState
from why502.findings.model import Diagnostic
from why502.proxies import DEFAULT, DEFAULT_FLAG, PROXIES, choose, get
from why502.proxies.base import resolve
from why502.proxies.haproxy.config import HaproxyConfig
from why502.sources import haproxy as haproxy_source
from why502.sources.apache import apache_config
from why502.sources.nginx import DEFAULT_CONF as NGINX_CONF
from why502.sources.nginx import find_nginx

DEBIAN_LOG = "/var/log/haproxy.log"
APACHE_CONF = "/etc/apache2/apache2.conf"  # Debian's; httpd.conf elsewhere


def which_proxy(options: DiagnoseOptions) -> str:
    """A name of ``why502.proxies.PROXIES``: ``--proxy``, else detected from ``--config``
    (``--nginx-conf`` names the default proxy's), else :func:`discovered`."""
    if options.proxy is not None:
        get(options.proxy)  # a one-line UsageError for an unknown name
    if options.nginx_conf is not None:
        # a Caddyfile or a haproxy.cfg is never read as nginx: the registry's one check
        return choose(options.proxy, options.nginx_conf, DEFAULT_FLAG)
    if options.proxy is None and options.config is None and not options.logs_only():
        return discovered()
    # logs only: read as the default proxy's (its readers know every proxy's lines), no config
    # looked for on this host (a log-only run reads no host config)
    return choose(options.proxy, options.config)


def discovered() -> str:
    """With no config named: the default proxy (nginx) when it is installed or configured (as
    before), else the proxy whose config is at its packaged path (HAProxy's, then Apache's:
    ``Detection.priority`` order)."""
    if find_nginx() is not None or os.path.exists(NGINX_CONF):
        return DEFAULT
    others = sorted((p for p in PROXIES.values() if p.name != DEFAULT),
                    key=lambda p: -p.detection.priority)
    for proxy in others:
        if os.path.exists(proxy.vocabulary.default_config):
            return proxy.name
    return DEFAULT


@dataclass
class ProxyView:
    """Another proxy's config (HAProxy, Apache) joined into the cause model's types."""

    kind: str
    main_file: str
    targets: list[TargetFact]
    groups: dict[str, GroupFact]
    files: dict[str, tuple[str, ...]]
    aliases: dict[str, str]
    listens: tuple[str, ...] = ()
    user: str | None = None
    group: str | None = None
    runtime_socket: str | None = None
    error_logs: list[str] = field(default_factory=list)
    haproxy: HaproxyConfig | None = None  # the parsed haproxy.cfg (its runtime API is read live)
    # (host, request line) -> the peer key a log line that names no upstream is about (the
    # proxy's routing: Caddy's timeouts and EOFs name no upstream)
    route: Callable[[str | None, str | None], str | None] | None = None
    access_logs: list[str] = field(default_factory=list)

    @property
    def user_directive(self) -> str | None:
        """``USER [GROUP]`` (who connects to unix sockets), in nginx's ``user`` form."""
        if not self.user:
            return None
        return f"{self.user} {self.group}" if self.group else self.user


def read_apache(options: DiagnoseOptions, diags: list[Diagnostic],
                inputs: dict[str, Any]) -> ProxyView:
    """Apache's config (``--config``, else Debian's /etc/apache2/apache2.conf) and its ErrorLog."""
    path = options.config or APACHE_CONF
    try:
        cfg = apache_config(path)
    except OSError as err:
        raise InputError(f"cannot read {path}: {err.strerror or err}") from None
    if not cfg.directives:
        raise InputError(f"{path}: not a readable Apache config (no directive found)")
    diags += [Diagnostic("warning", p) for p in cfg.problems]
    targets, groups, files, aliases = apache_facts(cfg)
    inputs["proxy"] = "apache"
    inputs["config"] = cfg.main_file
    inputs["config_files"] = cfg.files
    view = ProxyView("apache", cfg.main_file, targets, groups, files, aliases, user=cfg.user,
                     group=cfg.group)
    if not options.error_logs:
        logs = [p for p in cfg.error_logs if os.path.exists(p)]
        missing = [p for p in cfg.error_logs if p not in logs]
        diags += [Diagnostic("info", f"ErrorLog {p} not found") for p in missing]
        view.error_logs = logs
    return view


def read_with_hooks(options: DiagnoseOptions, diags: list[Diagnostic], inputs: dict[str, Any],
                    name: str) -> ProxyView:
    """A proxy's config read by its own hooks (``load_config``, then ``config_facts``): the
    path of any proxy whose ``Hooks.config_facts`` is set, with no branch here."""
    proxy = get(name)
    path = options.config or proxy.vocabulary.default_config
    try:
        cfg = resolve(proxy.hooks.load_config)(path)  # type: ignore[operator]
    except OSError as err:
        raise InputError(f"cannot read {path}: {err.strerror or err}") from None
    assert proxy.hooks.config_facts is not None
    targets, groups, files, listens_, notes = resolve(proxy.hooks.config_facts)(cfg)  # type: ignore[operator]
    diags += [Diagnostic("info", n) for n in notes]
    inputs["proxy"] = name
    inputs["config"] = path
    inputs["config_files"] = list(files)
    return ProxyView(name, path, targets, groups, files, {}, tuple(listens_))


def read_haproxy(options: DiagnoseOptions, diags: list[Diagnostic],
                 inputs: dict[str, Any]) -> ProxyView:
    """The ``haproxy.cfg`` (``--config`` or /etc/haproxy/haproxy.cfg) and, live, ``show stat``."""
    cfg = haproxy_source.load_config(options.config)
    if not cfg.sections:
        raise InputError(f"{cfg.main_file}: not a readable haproxy.cfg (no section found)")
    for p in cfg.problems:
        diags.append(Diagnostic("warning" if p.severity != "error" else "error", p.message,
                                f"{p.file}:{p.line}" if p.file else None))
    targets, groups, files, aliases = haproxy_facts(cfg)
    view = ProxyView("haproxy", cfg.main_file, targets, groups, files, aliases, listens(cfg),
                     user=cfg.user, group=cfg.group,
                     runtime_socket=cfg.stats_sockets[0] if cfg.stats_sockets else None,
                     haproxy=cfg)
    inputs["proxy"] = "haproxy"
    inputs["config"] = cfg.main_file
    inputs["config_files"] = cfg.files
    if not options.error_logs:
        if os.path.exists(DEBIAN_LOG):
            # Debian's package ships /etc/rsyslog.d/49-haproxy.conf writing here
            view.error_logs = [DEBIAN_LOG]
            return view
        targets_ = cfg.log_targets
        diags.append(Diagnostic("info", "HAProxy logs through syslog (" + (", ".join(targets_) or
                                "no 'log' line") + "): pass its log file with --error-log "
                                "(e.g. /var/log/haproxy.log)"))
    return view


def server_states(view: ProxyView, timeout: float, diags: list[Diagnostic],
                  inputs: dict[str, Any]) -> dict[str, ServerState] | None:
    """HAProxy's runtime API (``show stat``), by target key: each server's state now (None:
    not read: not HAProxy, or no ``stats socket``)."""
    cfg = view.haproxy
    if cfg is None:
        return None
    if not cfg.stats_sockets:
        diags.append(Diagnostic("info", "no 'stats socket' in the HAProxy config: live server "
                                "states (runtime API) not read"))
        return None
    states, notes = haproxy_source.server_states(cfg, timeout)
    diags += [Diagnostic("info", n) for n in notes]
    by_key = {}
    for st in states:
        key = view.aliases.get(st.name)
        if key is not None:
            by_key[key] = st
    inputs["runtime_api"] = bool(states)
    return by_key if states else None


def read_caddy(options: DiagnoseOptions, diags: list[Diagnostic],
               inputs: dict[str, Any]) -> ProxyView:
    """Caddy's config (``--config``: a Caddyfile through ``caddy adapt``, a JSON config or a
    saved admin ``/config/`` answer; else /etc/caddy/Caddyfile), the log files it names and,
    live, the admin API's ``/reverse_proxy/upstreams``."""
    from why502.evidence.caddy_facts import caddy_facts, peer_of_request
    from why502.sources import caddy as caddy_source

    try:
        cfg = caddy_source.load_config(options.config)
    except OSError as err:
        raise InputError(f"cannot read {options.config or caddy_source.DEFAULT_CONF}: "
                         f"{err.strerror or err}") from None
    if not cfg.handlers:
        diags.append(Diagnostic("warning", f"{cfg.main_file}: no reverse_proxy in this Caddy config"))
    diags += [Diagnostic("warning", p) for p in cfg.problems]
    targets, groups, files, aliases = caddy_facts(cfg)
    view = ProxyView("caddy", cfg.main_file, targets, groups, files, aliases, cfg.listens(),
                     route=peer_of_request(cfg))
    inputs["proxy"] = "caddy"
    inputs["config"] = cfg.main_file
    inputs["config_source"] = cfg.source
    inputs["config_files"] = cfg.files
    if not options.error_logs:
        view.error_logs = [p for p in cfg.error_logs if os.path.exists(p)]
        if not view.error_logs:
            why = ("Caddy writes its error lines to stderr unless a log names a file: pass them "
                   "with --error-log (journalctl -u caddy -o cat > caddy.log)")
            if options.offline and not (options.access_logs or view.access_logs):
                # nothing would be read: never "healthy" for a proxy whose logs were not seen
                raise InputError(f"{cfg.main_file}: {why}")
            diags.append(Diagnostic("info", why))
    if not options.access_logs:
        view.access_logs = [p for p in cfg.access_logs if os.path.exists(p)]
    if not options.offline:
        states, notes = caddy_source.upstream_states(cfg)
        diags += [Diagnostic("info", n) for n in notes]
        if states:
            inputs["admin_upstreams"] = [f"{s.address} num_requests={s.num_requests} fails={s.fails}"
                                         for s in states]
    return view
